// The tokenizer as GGUF tokenizer.ggml.* metadata, so a quantized file is self-contained.
//   GGUF input:      its tokenizer.* keys are copied as they are (done by the quantizer).
//   llama2.c input:  the SentencePiece-flavoured tokenizer.bin / tok<N>.bin (pieces with
//                    ' ' for "▁", "<0xXX>" byte tokens, "\n<s>\n"/"\n</s>\n") becomes
//                    tokenizer.ggml.model = "llama" with tokens, scores and token types
//                    (1 normal, 2 unknown, 3 control, 6 byte), bos/eos/unk ids.
// The result is checked: the tokenizer built from the new metadata must encode a probe
// text to the same ids as the original tokenizer.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "io/model_file.h"

namespace septet::quantize {

// Metadata entries for the llama2.c tokenizer file at `path` (vocab_size tokens).
// kUnsupported for the raw-byte (Llama-3) flavour, which GGUF "llama" cannot express.
Result<std::vector<std::pair<std::string, MetaValue>>> Llama2cTokenizerMeta(const std::string& path,
                                                                            int64_t vocab_size);

// The tokenizer file LoadTokenizer would use for a llama2.c model (explicit path first,
// then tokenizer.bin and tok<vocab>.bin beside the model); empty when none exists.
std::string FindLlama2cTokenizerFile(const ModelFile& model, const std::string& explicit_path, int64_t vocab);

}  // namespace septet::quantize
