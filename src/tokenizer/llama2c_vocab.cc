// llama.2c tokenizer.bin:
//   int32 max_token_length
//   vocab_size x { float32 score; int32 len; len bytes of piece }
// Two flavours exist:
//   * SentencePiece exports (tokenizer.bin, tok512.bin): "▁" stored as ' ', byte
//     tokens "<0xXX>", ids 0/1/2 = <unk>, "\n<s>\n", "\n</s>\n". Encoded as SPM
//     (dummy prefix, byte fallback); types are inferred since the file has none.
//   * Raw-byte exports (trholding's tokenizer_l3.bin, Llama-3): pieces are the token's
//     bytes, the score is the token id, specials are "<|...|>". Encoded the way that
//     format's reference (run.c) does: highest-score pair merging over UTF-8 characters,
//     no dummy prefix, 1-byte pieces as byte fallback. This is not tiktoken's ranked BPE,
//     so ids can differ from Meta's tokenizer; decode(encode(s)) == s holds.
#include <cinttypes>
#include <cstring>

#include "core/mapped_file.h"
#include "tokenizer/spm.h"
#include "tokenizer/tokenizer.h"

namespace septet {
namespace {

// "<|name_0|>": the Llama-3 special-token spelling.
bool IsLlama3Special(const std::string& p) {
  if (p.size() < 5 || p.compare(0, 2, "<|") != 0 || p.compare(p.size() - 2, 2, "|>") != 0) return false;
  for (size_t i = 2; i + 2 < p.size(); ++i) {
    const char c = p[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> LoadLlama2cTokenizer(const std::string& path, int32_t vocab_size) {
  SEPTET_ASSIGN_OR_RETURN(std::shared_ptr<MappedFile> file, MappedFile::Open(path));
  const uint8_t* data = file->data();
  const size_t size = file->size();
  const char* name = path.c_str();
  if (vocab_size < 0) return InvalidArgument("%s: vocab_size %d must be >= 0", name, vocab_size);
  if (size < 4) return Corrupt("%s: %zu bytes; too short for the llama2.c tokenizer header", name, size);
  int32_t max_len = 0;
  std::memcpy(&max_len, data, 4);
  if (max_len <= 0 || max_len > (1 << 20)) {
    return Corrupt("%s: max_token_length = %d at offset 0; expected 1..2^20", name, max_len);
  }

  tok::SpmVocab v;
  v.source = path;
  size_t off = 4;
  // vocab_size == 0: take every token in the file.
  while (vocab_size == 0 ? off < size : v.pieces.size() < static_cast<size_t>(vocab_size)) {
    const size_t index = v.pieces.size();
    if (size - off < 8) {
      return Corrupt("%s: truncated at offset %zu: token %zu of %d needs a score and a length", name, off,
                     index, vocab_size);
    }
    float score;
    int32_t len;
    std::memcpy(&score, data + off, 4);
    std::memcpy(&len, data + off + 4, 4);
    if (len < 0 || len > max_len) {
      return Corrupt("%s: token %zu at offset %zu has length %d; expected 0..max_token_length (%d)", name,
                     index, off + 4, len, max_len);
    }
    if (score != score) return Corrupt("%s: token %zu at offset %zu has a NaN score", name, index, off);
    off += 8;
    if (size - off < static_cast<size_t>(len)) {
      return Corrupt("%s: truncated at offset %zu: token %zu needs %d bytes, %zu left", name, off, index, len,
                     size - off);
    }
    v.pieces.emplace_back(reinterpret_cast<const char*>(data + off), static_cast<size_t>(len));
    v.scores.push_back(score);
    off += static_cast<size_t>(len);
  }
  if (off != size) {
    return InvalidArgument(
        "%s: %zu bytes remain after %d tokens; the model's vocab_size (%d) does not match "
        "this tokenizer",
        name, size - off, vocab_size, vocab_size);
  }
  if (v.pieces.empty()) return Corrupt("%s: no tokens", name);

  // Infer the flavour and the token types the file does not store.
  bool has_byte_tokens = false;
  for (const auto& p : v.pieces) {
    if (p.size() == 6 && p.compare(0, 3, "<0x") == 0 && p[5] == '>') has_byte_tokens = true;
  }
  v.types.assign(v.pieces.size(), tok::TokenType::kNormal);
  if (has_byte_tokens) {
    v.add_dummy_prefix = true;
    v.escape_whitespace = true;
    for (size_t i = 0; i < v.pieces.size(); ++i) {
      std::string& p = v.pieces[i];
      const int32_t id = static_cast<int32_t>(i);
      if (p == "\n<s>\n" || p == "<s>") {
        p = "<s>";
        v.types[i] = tok::TokenType::kControl;
        v.bos_id = id;
      } else if (p == "\n</s>\n" || p == "</s>") {
        p = "</s>";
        v.types[i] = tok::TokenType::kControl;
        v.eos_id = id;
      } else if (p == "<unk>" && v.unk_id < 0) {
        v.types[i] = tok::TokenType::kUnknown;
        v.unk_id = id;
      } else if (p.size() == 6 && p.compare(0, 3, "<0x") == 0 && p[5] == '>') {
        v.types[i] = tok::TokenType::kByte;
      } else {
        // The export wrote "▁" as ' '; restore the SentencePiece form.
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
  } else {
    v.add_dummy_prefix = false;
    v.escape_whitespace = false;
    for (size_t i = 0; i < v.pieces.size(); ++i) {
      const std::string& p = v.pieces[i];
      if (!IsLlama3Special(p)) continue;
      v.types[i] = tok::TokenType::kControl;
      const int32_t id = static_cast<int32_t>(i);
      if (p == "<|begin_of_text|>") v.bos_id = id;
      if (p == "<|end_of_text|>") v.eos_id = id;
      if (p == "<|eot_id|>" || p == "<|eom_id|>") v.extra_stop_ids.push_back(id);
    }
  }
  return tok::MakeSpmTokenizer(std::move(v));
}

}  // namespace septet
