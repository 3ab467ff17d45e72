// LoadTokenizer(ModelFile): the tokenizer that belongs to a loaded model.
//   GGUF (any file with tokenizer.ggml.model): "llama" -> SentencePiece BPE from
//     tokens / scores / token_type; "gpt2" -> byte-level BPE from tokens / token_type /
//     merges, with the pre-tokenizer named by tokenizer.ggml.pre (llama.cpp presets:
//     GGUF stores no regex).
//   llama2.c: the explicit path, else tokenizer.bin or tok<vocab>.bin beside the model.
//   safetensors: tokenizer.json in the model directory, tokenizer.model as fallback.
#include <filesystem>

#include "io/model_file.h"
#include "tokenizer/bpe.h"
#include "tokenizer/spm.h"
#include "tokenizer/tokenizer.h"

namespace septet {
namespace {

namespace fs = std::filesystem;

bool Exists(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Pre-tokenizer regexes of llama.cpp's named presets (tokenizer.ggml.pre).
Result<std::vector<tok::PreTokStep>> PresetPreTokenizer(const std::string& pre, const std::string& where) {
  std::vector<std::string> patterns;
  if (pre.empty() || pre == "default" || pre == "gpt2" || pre == "gpt-2") {
    patterns = {tok::kGpt2Pattern};
  } else if (pre == "llama3" || pre == "llama-bpe" || pre == "llama-v3") {
    patterns = {
        "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
        "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
        "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"};
  } else if (pre == "smollm") {
    patterns = {"\\p{N}", tok::kGpt2Pattern};
  } else {
    return Unsupported(
        "%s: tokenizer.ggml.pre '%s' is not a known pre-tokenizer preset "
        "(default, gpt2, llama3/llama-bpe, smollm)",
        where.c_str(), pre.c_str());
  }
  std::vector<tok::PreTokStep> steps;
  for (const std::string& p : patterns) {
    SEPTET_ASSIGN_OR_RETURN(auto re, tok::Regex::Compile(p, where + ": tokenizer.ggml.pre " + pre));
    steps.push_back({tok::PreTokStep::Kind::kSplit, std::move(re), tok::SplitBehavior::kIsolated, false});
  }
  return steps;
}

// tokenizer.ggml.<name>_token_id: absent -> fallback; present -> an integer in [0, n_vocab).
// Any integer type whose value fits is taken (llama.cpp insists on u32: wrong types fail
// its load as well). A value outside the vocabulary is an error here, where llama.cpp
// only warns ("bad special token ... using default id") and keeps its default: septet has
// no warning channel through its API, and the default is a guess at what the file meant
// (an EOS that never stops, a BOS the model was not trained on).
Result<int32_t> SpecialId(const Metadata& m, const std::string& src, const char* key, int32_t fallback,
                          size_t n_vocab) {
  const MetaValue* mv = m.Find(key);
  if (mv == nullptr) return fallback;
  auto v = m.GetInt(key);
  if (!v.ok() || v.value() < 0 || static_cast<uint64_t>(v.value()) >= n_vocab) {
    return Corrupt("%s: metadata '%s' = %s; expected a token id, an integer in [0, %zu)", src.c_str(), key,
                   mv->DebugString(4).c_str(), n_vocab);
  }
  return static_cast<int32_t>(v.value());  // n_vocab <= INT32_MAX (checked by the caller)
}

// An optional bool key: absent -> fallback; present, it must be a bool (the file
// and the value in the error, as for the special ids).
Result<bool> OptionalBool(const Metadata& m, const std::string& src, const char* key, bool fallback) {
  const MetaValue* mv = m.Find(key);
  if (mv == nullptr) return fallback;
  auto v = m.GetBool(key);
  if (!v.ok()) return Corrupt("%s: metadata '%s' = %s; expected a bool", src.c_str(), key, mv->DebugString(4).c_str());
  return v.value();
}

Result<std::unique_ptr<Tokenizer>> FromGguf(const ModelFile& model) {
  const Metadata& m = model.metadata();
  const std::string& src = model.path();
  const char* p = src.c_str();
  SEPTET_ASSIGN_OR_RETURN(const std::string kind, m.GetString("tokenizer.ggml.model"));
  if (kind != "llama" && kind != "gpt2") {
    return Unsupported("%s: tokenizer.ggml.model '%s' is not supported (llama, gpt2)", p, kind.c_str());
  }
  const MetaValue* tokens = m.Find("tokenizer.ggml.tokens");
  if (tokens == nullptr || tokens->type != MetaType::kArray || tokens->array_type != MetaType::kString) {
    return Corrupt("%s: tokenizer.ggml.tokens missing or not an array of strings", p);
  }
  const size_t n = tokens->strings.size();
  std::vector<tok::TokenType> types(n, tok::TokenType::kNormal);
  if (const MetaValue* tt = m.Find("tokenizer.ggml.token_type"); tt != nullptr) {
    if (tt->type != MetaType::kArray || tt->ints.size() != n) {
      return Corrupt("%s: tokenizer.ggml.token_type has %zu entries; expected %zu integers", p,
                     tt->ints.size(), n);
    }
    for (size_t i = 0; i < n; ++i) {
      if (!tok::TokenTypeFromInt(tt->ints[i], &types[i])) {
        return Corrupt("%s: tokenizer.ggml.token_type[%zu] = %lld; expected 1..6", p, i,
                       static_cast<long long>(tt->ints[i]));
      }
    }
  } else if (kind == "llama") {
    // Old converters wrote no types: recognise the SentencePiece specials and byte pieces.
    for (size_t i = 0; i < n; ++i) {
      const std::string& t = tokens->strings[i];
      if (t == "<unk>")
        types[i] = tok::TokenType::kUnknown;
      else if (t == "<s>" || t == "</s>")
        types[i] = tok::TokenType::kControl;
      else if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>')
        types[i] = tok::TokenType::kByte;
    }
  }
  const bool add_bos_default = kind == "llama";
  SEPTET_ASSIGN_OR_RETURN(const bool add_bos, OptionalBool(m, src, "tokenizer.ggml.add_bos_token", add_bos_default));
  const std::string chat_template = m.GetStringOr("tokenizer.chat_template", "");
  if (n > static_cast<size_t>(INT32_MAX)) return Corrupt("%s: tokenizer.ggml.tokens has %zu entries; too many", p, n);
  // Special ids: an absent key takes llama.cpp's default for the tokenizer kind.
  const bool spm = kind == "llama";
  const auto id = [&](const char* key, int32_t fallback) { return SpecialId(m, src, key, fallback, n); };
  std::vector<int32_t> extra_stops;
  for (const char* key : {"tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"}) {
    SEPTET_ASSIGN_OR_RETURN(const int32_t stop, id(key, -1));
    if (stop >= 0) extra_stops.push_back(stop);
  }
  SEPTET_ASSIGN_OR_RETURN(const int32_t bos, id("tokenizer.ggml.bos_token_id", spm ? 1 : -1));
  SEPTET_ASSIGN_OR_RETURN(const int32_t eos, id("tokenizer.ggml.eos_token_id", spm ? 2 : -1));
  SEPTET_ASSIGN_OR_RETURN(const int32_t unk, id("tokenizer.ggml.unknown_token_id", spm ? 0 : -1));

  if (kind == "llama") {
    tok::SpmVocab v;
    v.source = src;
    v.pieces = tokens->strings;
    v.types = std::move(types);
    const MetaValue* scores = m.Find("tokenizer.ggml.scores");
    if (scores != nullptr) {
      if (scores->type != MetaType::kArray || scores->reals.size() != n) {
        return Corrupt("%s: tokenizer.ggml.scores has %zu entries; expected %zu floats", p,
                       scores->reals.size(), n);
      }
      v.scores.assign(scores->reals.begin(), scores->reals.end());
    } else {
      v.scores.assign(n, 0.0f);
    }
    for (const float s : v.scores) {
      if (s != s) return Corrupt("%s: tokenizer.ggml.scores holds a NaN", p);
    }
    SEPTET_ASSIGN_OR_RETURN(v.add_dummy_prefix,
                            OptionalBool(m, src, "tokenizer.ggml.add_space_prefix", v.add_dummy_prefix));
    v.bos_id = add_bos ? bos : -1;
    v.eos_id = eos;
    v.unk_id = unk;
    v.extra_stop_ids = std::move(extra_stops);
    v.chat_template = chat_template;
    return tok::MakeSpmTokenizer(std::move(v));
  }
  {  // gpt2
    tok::BpeVocab v;
    v.source = src;
    v.tokens = tokens->strings;
    v.types = std::move(types);
    const MetaValue* merges = m.Find("tokenizer.ggml.merges");
    if (merges == nullptr || merges->type != MetaType::kArray || merges->array_type != MetaType::kString) {
      return Corrupt("%s: tokenizer.ggml.merges missing or not an array of strings", p);
    }
    for (size_t r = 0; r < merges->strings.size(); ++r) {
      const std::string& s = merges->strings[r];
      const size_t sp = s.find(' ', 1);  // a part may itself be a lone ' ' only in non-byte-level vocabs
      if (sp == std::string::npos)
        return Corrupt("%s: tokenizer.ggml.merges[%zu] '%s' has no space", p, r, s.c_str());
      v.merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
    }
    SEPTET_ASSIGN_OR_RETURN(v.pre, PresetPreTokenizer(m.GetStringOr("tokenizer.ggml.pre", "default"), src));
    v.bos_id = add_bos ? bos : -1;
    v.eos_id = eos;
    v.unk_id = unk;
    v.extra_stop_ids = std::move(extra_stops);
    v.chat_template = chat_template;
    return tok::MakeBpeTokenizer(std::move(v));
  }
}

// The embedding rows of the model (0 when it has no embedding, e.g. a vocab-only GGUF).
int64_t ModelVocabRows(const ModelFile& model) {
  if (const TensorInfo* t = model.FindTensor("token_embd.weight"); t != nullptr && !t->shape.empty()) {
    return t->shape[0];
  }
  return model.metadata().GetIntOr("llama.vocab_size", 0);
}

Result<std::unique_ptr<Tokenizer>> LoadByPath(const std::string& path, int64_t vocab_rows) {
  if (EndsWith(path, ".json")) return LoadHfTokenizerJson(path);
  if (EndsWith(path, ".model")) return LoadSentencePieceModel(path);
  if (vocab_rows > INT32_MAX)
    return InvalidArgument("%s: model vocab size %lld too large", path.c_str(),
                           static_cast<long long>(vocab_rows));
  return LoadLlama2cTokenizer(path, static_cast<int32_t>(vocab_rows));
}

Result<std::unique_ptr<Tokenizer>> Find(const ModelFile& model, const std::string& tokenizer_path,
                                        int64_t rows) {
  if (!tokenizer_path.empty()) return LoadByPath(tokenizer_path, rows);
  if (model.metadata().Has("tokenizer.ggml.model")) return FromGguf(model);
  std::error_code ec;
  const fs::path mp(model.path());
  const fs::path dir = fs::is_directory(mp, ec) ? mp : mp.parent_path();
  const std::string& fmt = model.format();
  if (fmt == "llama2c") {
    for (const fs::path& cand : {dir / "tokenizer.bin", dir / ("tok" + std::to_string(rows) + ".bin")}) {
      if (Exists(cand)) return LoadLlama2cTokenizer(cand.string(), static_cast<int32_t>(rows));
    }
    return NotFound(
        "%s: no tokenizer: neither tokenizer.bin nor tok%lld.bin beside the model (pass one explicitly)",
        model.path().c_str(), static_cast<long long>(rows));
  }
  if (fmt == "safetensors") {
    if (Exists(dir / "tokenizer.json")) {
      auto t = LoadHfTokenizerJson((dir / "tokenizer.json").string());
      if (t.ok() || t.status().code() != StatusCode::kUnsupported || !Exists(dir / "tokenizer.model"))
        return t;
    }
    if (Exists(dir / "tokenizer.model")) return LoadSentencePieceModel((dir / "tokenizer.model").string());
    return NotFound("%s: no tokenizer.json or tokenizer.model in the model directory", dir.string().c_str());
  }
  return NotFound("%s: the %s file has no tokenizer.ggml.* metadata; pass a tokenizer path",
                  model.path().c_str(), fmt.c_str());
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> LoadTokenizer(const ModelFile& model, const std::string& tokenizer_path) {
  const int64_t rows = ModelVocabRows(model);
  if (rows < 0 || rows > INT32_MAX) {
    return Corrupt("%s: model vocabulary size %lld out of range", model.path().c_str(),
                   static_cast<long long>(rows));
  }
  SEPTET_ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tok, Find(model, tokenizer_path, rows));
  // Embedding tables may be padded past the tokenizer's vocabulary, never shorter.
  if (rows > 0 && tok->vocab_size() > rows) {
    return InvalidArgument("%s: the tokenizer has %d tokens but the model's embedding has %lld rows",
                           model.path().c_str(), tok->vocab_size(), static_cast<long long>(rows));
  }
  return tok;
}

}  // namespace septet
