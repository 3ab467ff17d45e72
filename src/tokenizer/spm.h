// SentencePiece-style BPE with byte fallback (LLaMA-1/2, TinyLlama, llama2.c tok*.bin),
// encoding as llama.cpp's SPM tokenizer does:
//   1. literal user-defined tokens (always) and control tokens (parse_special) are cut out;
//   2. each remaining fragment that starts the text or follows a cut-out token gets the
//      dummy-prefix space (add_dummy_prefix); spaces become "▁" (escape_whitespace);
//   3. the fragment is split into UTF-8 characters, then the adjacent pair whose
//      concatenation is a piece with the highest score is merged (ties: leftmost),
//      until no pair is a piece;
//   4. a symbol that is not a piece becomes its bytes' <0xXX> tokens (or unk).
// The same class serves llama2.c vocabularies of raw bytes (Llama-3 in llama2.c format):
// there escape_whitespace and add_dummy_prefix are off and the 1-byte pieces stand in
// for byte tokens.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "tokenizer/special_tokens.h"
#include "tokenizer/tokenizer.h"

namespace septet::tok {

struct SpmVocab {
  std::string source;  // file name, for messages
  std::vector<std::string> pieces;
  std::vector<float> scores;
  std::vector<TokenType> types;
  bool add_dummy_prefix = true;
  bool remove_extra_whitespaces = false;  // sentencepiece normalizer: trim + collapse runs of ' '
  bool escape_whitespace = true;          // ' ' <-> "▁" (U+2581)
  int32_t bos_id = -1;                    // prepended by Encode(add_bos); -1 when none
  int32_t eos_id = -1;
  int32_t unk_id = -1;
  std::vector<int32_t> extra_stop_ids;
  std::string chat_template;
};

// Validates the vocabulary (sizes, ids in range, every byte encodable) and builds
// the tokenizer. Errors name vocab.source.
Result<std::unique_ptr<Tokenizer>> MakeSpmTokenizer(SpmVocab vocab);

}  // namespace septet::tok
