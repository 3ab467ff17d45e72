#include "quantize/tokenizer_meta.h"

#include <cstring>
#include <filesystem>

#include "core/mapped_file.h"

namespace septet::quantize {
namespace fs = std::filesystem;

std::string FindLlama2cTokenizerFile(const ModelFile& model, const std::string& explicit_path, int64_t vocab) {
  if (!explicit_path.empty()) return explicit_path;
  std::error_code ec;
  const fs::path dir = fs::path(model.path()).parent_path();
  for (const fs::path& cand : {dir / "tokenizer.bin", dir / ("tok" + std::to_string(vocab) + ".bin")}) {
    if (fs::is_regular_file(cand, ec)) return cand.string();
  }
  return {};
}

Result<std::vector<std::pair<std::string, MetaValue>>> Llama2cTokenizerMeta(const std::string& path,
                                                                            int64_t vocab_size) {
  SEPTET_ASSIGN_OR_RETURN(std::shared_ptr<MappedFile> file, MappedFile::Open(path));
  const uint8_t* data = file->data();
  const size_t size = file->size();
  const char* name = path.c_str();
  if (size < 4) return Corrupt("%s: %zu bytes; too short for a llama2.c tokenizer", name, size);
  size_t off = 4;
  std::vector<std::string> pieces;
  std::vector<double> scores;
  while (static_cast<int64_t>(pieces.size()) < vocab_size) {
    if (size - off < 8) return Corrupt("%s: truncated at token %zu", name, pieces.size());
    float score;
    int32_t len;
    std::memcpy(&score, data + off, 4);
    std::memcpy(&len, data + off + 4, 4);
    off += 8;
    if (len < 0 || size - off < static_cast<size_t>(len))
      return Corrupt("%s: bad length at token %zu", name, pieces.size());
    pieces.emplace_back(reinterpret_cast<const char*>(data + off), static_cast<size_t>(len));
    scores.push_back(score);
    off += static_cast<size_t>(len);
  }
  auto is_byte = [](const std::string& p) { return p.size() == 6 && p.compare(0, 3, "<0x") == 0 && p[5] == '>'; };
  bool has_byte_tokens = false;
  for (const auto& p : pieces) has_byte_tokens |= is_byte(p);
  if (!has_byte_tokens) {
    return Unsupported(
        "%s: a raw-byte (Llama-3 style) llama2.c tokenizer cannot be stored as GGUF "
        "tokenizer.ggml.model 'llama'",
        name);
  }
  std::vector<int64_t> types(pieces.size(), 1);
  int64_t bos = -1, eos = -1, unk = -1;
  for (size_t i = 0; i < pieces.size(); ++i) {
    std::string& p = pieces[i];
    if (p == "\n<s>\n" || p == "<s>") {
      p = "<s>";
      types[i] = 3;
      bos = static_cast<int64_t>(i);
    } else if (p == "\n</s>\n" || p == "</s>") {
      p = "</s>";
      types[i] = 3;
      eos = static_cast<int64_t>(i);
    } else if (p == "<unk>" && unk < 0) {
      types[i] = 2;
      unk = static_cast<int64_t>(i);
    } else if (is_byte(p)) {
      types[i] = 6;
    } else {
      std::string q;
      for (const char c : p) {
        if (c == ' ')
          q += "\xE2\x96\x81";
        else
          q.push_back(c);
      }
      p = std::move(q);
    }
  }
  std::vector<std::pair<std::string, MetaValue>> meta;
  meta.emplace_back("tokenizer.ggml.model", MetaValue::String("llama"));
  meta.emplace_back("tokenizer.ggml.tokens", MetaValue::StringArray(std::move(pieces)));
  meta.emplace_back("tokenizer.ggml.scores", MetaValue::F32Array(std::move(scores)));
  meta.emplace_back("tokenizer.ggml.token_type", MetaValue::I32Array(std::move(types)));
  if (bos >= 0) meta.emplace_back("tokenizer.ggml.bos_token_id", MetaValue::U32(static_cast<uint32_t>(bos)));
  if (eos >= 0) meta.emplace_back("tokenizer.ggml.eos_token_id", MetaValue::U32(static_cast<uint32_t>(eos)));
  if (unk >= 0) meta.emplace_back("tokenizer.ggml.unknown_token_id", MetaValue::U32(static_cast<uint32_t>(unk)));
  return meta;
}

}  // namespace septet::quantize
