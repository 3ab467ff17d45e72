// Byte-level BPE (GPT-2 style: LLaMA-3, SmolLM2). Encoding:
//   1. added tokens are cut out of the text (special ones only with parse_special);
//   2. each remaining fragment is normalized (optional literal replacements / prepend),
//      pre-tokenized into words (see pretokenizer.h), and every word's bytes are mapped
//      to GPT-2's printable stand-ins (byte_unicode.h);
//   3. a word that is itself a vocab entry is emitted as is when ignore_merges is set;
//      otherwise it starts as one symbol per character and the adjacent pair with the
//      lowest merge rank is merged (ties: leftmost) until no pair has a merge.
// Decoding maps the stand-ins back to bytes; special (control) tokens produce no text,
// other added tokens their literal content.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/special_tokens.h"
#include "tokenizer/tokenizer.h"

namespace septet::tok {

struct BpeVocab {
  std::string source;               // file name, for messages
  std::vector<std::string> tokens;  // id -> vocab string (byte-level stand-ins)
  std::vector<TokenType> types;     // kControl = special added token, kUserDefined = other added token
  std::vector<std::pair<std::string, std::string>> merges;  // in rank order
  std::vector<PreTokStep> pre;
  // Normalizer: literal edits applied in order (HF Replace with a String pattern, Prepend).
  struct NormOp {
    bool prepend = false;  // true: prefix `to` to non-empty text; false: replace `from` by `to`
    std::string from, to;
  };
  std::vector<NormOp> normalizer;
  bool ignore_merges = false;
  // Added tokens whose surrounding whitespace is swallowed (HF lstrip / rstrip).
  std::vector<int32_t> lstrip_ids, rstrip_ids;
  int32_t bos_id = -1;  // prepended by Encode(add_bos); -1 when the model adds none
  int32_t eos_id = -1;
  int32_t unk_id = -1;
  std::vector<int32_t> extra_stop_ids;
  std::string chat_template;
};

Result<std::unique_ptr<Tokenizer>> MakeBpeTokenizer(BpeVocab vocab);

}  // namespace septet::tok
