// Tokenizers: SentencePiece-style BPE with byte fallback (LLaMA-1/2, TinyLlama,
// tok512) and byte-level BPE with pre-tokenizer rules read from the model
// (LLaMA-3, SmolLM2 tokenizer.json). Sources: GGUF tokenizer.ggml.* metadata,
// llama2.c tokenizer.bin, HF tokenizer.json.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace septet {

class ModelFile;

// A byte range [begin, end) of a text.
struct TextRange {
  size_t begin = 0, end = 0;
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Text -> ids. add_bos prepends bos_id() when the model has one. Special
  // tokens written in the text (e.g. "<|im_start|>") are matched only when
  // parse_special is true.
  virtual std::vector<int32_t> Encode(std::string_view text, bool add_bos,
                                      bool parse_special = false) const = 0;
  // Encode with parse_special, except that a special token is matched only where
  // it lies wholly inside one of `special_ranges` (sorted, disjoint): the text a
  // chat template wrote. Everything else (message content) is plain text, so a
  // message containing "<|im_end|>" cannot end its turn or open another.
  virtual std::vector<int32_t> EncodeMarked(std::string_view text, bool add_bos,
                                            std::span<const TextRange> special_ranges) const = 0;
  // The raw bytes one token stands for, with the model's space marker and byte
  // tokens resolved ("▁the" -> " the", "<0x0A>" -> "\n", byte-level "Ġ" -> " ").
  // `prev` is the previous id (or -1): SentencePiece drops the leading space of
  // the first piece after BOS, as the reference decoders do.
  virtual std::string TokenBytes(int32_t id, int32_t prev) const = 0;
  // Whole sequence -> text (no BOS/EOS text).
  std::string Decode(const std::vector<int32_t>& ids) const;

  virtual int32_t vocab_size() const = 0;
  // The id Encode(add_bos=true) prepends; -1 when the model has none or its tokenizer
  // adds none (SmolLM2: config.json names <|im_start|> but no post-processor adds it).
  virtual int32_t bos_id() const = 0;  // -1 when none
  virtual int32_t eos_id() const = 0;  // -1 when none
  // Extra ids that end a turn (e.g. <|eot_id|>, <|im_end|>); includes eos.
  virtual std::vector<int32_t> stop_ids() const = 0;
  virtual std::string_view piece(int32_t id) const = 0;  // the stored piece text
  // Chat template (Jinja source) from the model, empty when none.
  virtual std::string chat_template() const { return {}; }
};

// Streams token bytes out as whole UTF-8 characters: bytes of a character split
// across tokens are held until the character completes; invalid sequences are
// emitted as U+FFFD.
class Utf8Streamer {
 public:
  std::string Push(std::string_view bytes);
  std::string Flush();

 private:
  std::string pending_;
};

// Finds the tokenizer for a loaded model:
//   GGUF        -> tokenizer.ggml.* metadata
//   llama2.c    -> `tokenizer_path` if given, else tokenizer.bin / tok<vocab>.bin beside the model
//   safetensors -> tokenizer.json in the model directory (tokenizer.model as fallback)
// The tokenizer may not have more tokens than the model's embedding has rows (an
// embedding padded past the vocabulary is accepted); llama.2c files must match exactly.
Result<std::unique_ptr<Tokenizer>> LoadTokenizer(const ModelFile& model,
                                                 const std::string& tokenizer_path = "");

// Stand-alone loaders (tests use them on ../shared/tokenizers).
// vocab_size 0 reads every token in the file; otherwise the file must hold exactly that many.
Result<std::unique_ptr<Tokenizer>> LoadLlama2cTokenizer(const std::string& path, int32_t vocab_size);
Result<std::unique_ptr<Tokenizer>> LoadHfTokenizerJson(const std::string& path);
Result<std::unique_ptr<Tokenizer>> LoadSentencePieceModel(const std::string& path);  // tokenizer.model

}  // namespace septet
