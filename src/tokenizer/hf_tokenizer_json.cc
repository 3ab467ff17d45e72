// Hugging Face tokenizer.json with a byte-level BPE model (GPT-2, LLaMA-3, SmolLM2).
// Read: model {type BPE, vocab, merges ("a b" or ["a","b"]), ignore_merges, unk_token},
// added_tokens, normalizer (null / Sequence / Replace(String) / Prepend), pre_tokenizer
// (ByteLevel / Split / Digits / Sequence), decoder (ByteLevel), post_processor
// (TemplateProcessing gives the BOS the model adds; ByteLevel; Sequence). Anything
// else is reported Unsupported by name. Beside the file, tokenizer_config.json
// supplies chat_template / bos / eos and config.json eos_token_id when present.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "tokenizer/bpe.h"
#include "tokenizer/tokenizer.h"

namespace septet {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

struct Ctx {
  std::string path;
  tok::BpeVocab* v;
  bool byte_level = false;
};

Result<json> ReadJson(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("%s: cannot open", path.c_str());
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    return Corrupt("%s: invalid JSON at byte %zu: %s", path.c_str(), e.byte, e.what());
  }
}

std::string TypeOf(const json& j) {
  if (!j.is_object()) return "";
  const auto it = j.find("type");
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

bool BoolOr(const json& j, const char* key, bool fallback) {
  const auto it = j.find(key);
  return it != j.end() && it->is_boolean() ? it->get<bool>() : fallback;
}

Status AddSplit(Ctx& c, const std::string& pattern, tok::SplitBehavior behavior, bool invert,
                const char* what) {
  SEPTET_ASSIGN_OR_RETURN(auto re, tok::Regex::Compile(pattern, c.path + ": " + what));
  c.v->pre.push_back({tok::PreTokStep::Kind::kSplit, std::move(re), behavior, invert});
  return Status::Ok();
}

Status ParsePreTokenizer(Ctx& c, const json& j) {
  if (j.is_null()) return Status::Ok();
  const std::string type = TypeOf(j);
  const char* p = c.path.c_str();
  if (type == "Sequence") {
    const auto it = j.find("pretokenizers");
    if (it == j.end() || !it->is_array())
      return Corrupt("%s: pre_tokenizer Sequence without 'pretokenizers'", p);
    for (const json& sub : *it) SEPTET_RETURN_IF_ERROR(ParsePreTokenizer(c, sub));
    return Status::Ok();
  }
  if (type == "ByteLevel") {
    c.byte_level = true;
    if (BoolOr(j, "add_prefix_space", false))
      c.v->pre.push_back({tok::PreTokStep::Kind::kPrefixSpace, {}, {}, false});
    if (BoolOr(j, "use_regex", true)) {
      return AddSplit(c, tok::kGpt2Pattern, tok::SplitBehavior::kIsolated, false, "ByteLevel regex");
    }
    return Status::Ok();
  }
  if (type == "Digits") {
    // HF splits on char::is_numeric, i.e. Unicode N*.
    const bool individual = BoolOr(j, "individual_digits", false);
    return AddSplit(c, individual ? "\\p{N}" : "\\p{N}+", tok::SplitBehavior::kIsolated, false, "Digits");
  }
  if (type == "Split") {
    const auto pat = j.find("pattern");
    std::string pattern;
    if (pat != j.end() && pat->is_object() && pat->contains("Regex") && (*pat)["Regex"].is_string()) {
      pattern = (*pat)["Regex"].get<std::string>();
    } else if (pat != j.end() && pat->is_object() && pat->contains("String") &&
               (*pat)["String"].is_string()) {
      pattern = tok::RegexQuote((*pat)["String"].get<std::string>());
    } else {
      return Corrupt("%s: pre_tokenizer Split needs pattern {\"Regex\": ...} or {\"String\": ...}", p);
    }
    const std::string b = j.value("behavior", std::string("Isolated"));
    tok::SplitBehavior behavior;
    if (b == "Removed")
      behavior = tok::SplitBehavior::kRemoved;
    else if (b == "Isolated")
      behavior = tok::SplitBehavior::kIsolated;
    else if (b == "MergedWithPrevious")
      behavior = tok::SplitBehavior::kMergedWithPrevious;
    else if (b == "MergedWithNext")
      behavior = tok::SplitBehavior::kMergedWithNext;
    else if (b == "Contiguous")
      behavior = tok::SplitBehavior::kContiguous;
    else
      return Unsupported("%s: pre_tokenizer Split behavior '%s' is not supported", p, b.c_str());
    return AddSplit(c, pattern, behavior, BoolOr(j, "invert", false), "pre_tokenizer Split");
  }
  return Unsupported("%s: pre_tokenizer type '%s' is not supported (ByteLevel, Split, Digits, Sequence are)",
                     p, type.empty() ? "?" : type.c_str());
}

Status ParseNormalizer(Ctx& c, const json& j) {
  if (j.is_null()) return Status::Ok();
  const std::string type = TypeOf(j);
  const char* p = c.path.c_str();
  if (type == "Sequence") {
    const auto it = j.find("normalizers");
    if (it == j.end() || !it->is_array()) return Corrupt("%s: normalizer Sequence without 'normalizers'", p);
    for (const json& sub : *it) SEPTET_RETURN_IF_ERROR(ParseNormalizer(c, sub));
    return Status::Ok();
  }
  if (type == "Replace") {
    const auto pat = j.find("pattern");
    if (pat == j.end() || !pat->is_object() || !pat->contains("String") || !(*pat)["String"].is_string() ||
        !j.contains("content") || !j["content"].is_string()) {
      return Unsupported("%s: normalizer Replace is supported only with a String pattern and content", p);
    }
    c.v->normalizer.push_back({false, (*pat)["String"].get<std::string>(), j["content"].get<std::string>()});
    return Status::Ok();
  }
  if (type == "Prepend") {
    if (!j.contains("prepend") || !j["prepend"].is_string())
      return Corrupt("%s: normalizer Prepend without 'prepend'", p);
    c.v->normalizer.push_back({true, "", j["prepend"].get<std::string>()});
    return Status::Ok();
  }
  return Unsupported("%s: normalizer type '%s' is not supported (null, Sequence, Replace, Prepend are)", p,
                     type.empty() ? "?" : type.c_str());
}

Status ParseDecoder(Ctx& c, const json& j) {
  if (j.is_null()) return Status::Ok();
  const std::string type = TypeOf(j);
  if (type == "ByteLevel") return Status::Ok();
  if (type == "Sequence" && j.contains("decoders") && j["decoders"].is_array()) {
    for (const json& sub : j["decoders"]) SEPTET_RETURN_IF_ERROR(ParseDecoder(c, sub));
    return Status::Ok();
  }
  return Unsupported("%s: decoder type '%s' is not supported (only ByteLevel)", c.path.c_str(),
                     type.empty() ? "?" : type.c_str());
}

Result<int32_t> TokenId(const Ctx& c, const std::string& content) {
  for (size_t i = 0; i < c.v->tokens.size(); ++i) {
    if (c.v->tokens[i] == content) return static_cast<int32_t>(i);
  }
  return Corrupt("%s: token '%s' is not in the vocabulary", c.path.c_str(), content.c_str());
}

// The token ids a TemplateProcessing "single" template puts before $A.
Status ParsePostProcessor(Ctx& c, const json& j) {
  if (j.is_null()) return Status::Ok();
  const std::string type = TypeOf(j);
  const char* p = c.path.c_str();
  if (type == "ByteLevel") return Status::Ok();  // offsets only
  if (type == "Sequence") {
    const auto it = j.find("processors");
    if (it == j.end() || !it->is_array())
      return Corrupt("%s: post_processor Sequence without 'processors'", p);
    for (const json& sub : *it) SEPTET_RETURN_IF_ERROR(ParsePostProcessor(c, sub));
    return Status::Ok();
  }
  if (type != "TemplateProcessing") {
    return Unsupported("%s: post_processor type '%s' is not supported", p, type.empty() ? "?" : type.c_str());
  }
  const auto single = j.find("single");
  if (single == j.end() || !single->is_array()) return Corrupt("%s: TemplateProcessing without 'single'", p);
  std::vector<int32_t> before;
  for (const json& item : *single) {
    if (item.contains("Sequence")) break;
    if (!item.contains("SpecialToken") || !item["SpecialToken"].contains("id")) {
      return Corrupt("%s: TemplateProcessing item is neither Sequence nor SpecialToken", p);
    }
    const std::string name = item["SpecialToken"]["id"].get<std::string>();
    const json& st = j.value("special_tokens", json::object());
    if (st.contains(name) && st[name].contains("ids") && st[name]["ids"].is_array() &&
        st[name]["ids"].size() == 1) {
      before.push_back(st[name]["ids"][0].get<int32_t>());
    } else {
      SEPTET_ASSIGN_OR_RETURN(const int32_t id, TokenId(c, name));
      before.push_back(id);
    }
  }
  if (before.size() > 1) {
    return Unsupported(
        "%s: TemplateProcessing adds %zu tokens before the text; only a single BOS is supported", p,
        before.size());
  }
  if (before.size() == 1) c.v->bos_id = before[0];
  return Status::Ok();
}

// "<s>" or {"content": "<s>", ...}.
std::string TokenText(const json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_object() && j.contains("content") && j["content"].is_string())
    return j["content"].get<std::string>();
  return "";
}

Status ReadSideFiles(Ctx& c, bool post_processor_bos) {
  const fs::path dir = fs::path(c.path).parent_path();
  tok::BpeVocab& v = *c.v;
  const fs::path tc = dir / "tokenizer_config.json";
  std::error_code ec;
  if (fs::exists(tc, ec)) {
    SEPTET_ASSIGN_OR_RETURN(const json j, ReadJson(tc.string()));
    if (j.contains("chat_template")) {
      const json& t = j["chat_template"];
      if (t.is_string()) {
        v.chat_template = t.get<std::string>();
      } else if (t.is_array()) {  // [{"name": "default", "template": ...}, ...]
        for (const json& e : t) {
          if (e.value("name", "") == "default" && e.contains("template"))
            v.chat_template = e["template"].get<std::string>();
        }
      }
    }
    if (!post_processor_bos && BoolOr(j, "add_bos_token", false) && j.contains("bos_token")) {
      SEPTET_ASSIGN_OR_RETURN(v.bos_id, TokenId(c, TokenText(j["bos_token"])));
    }
    if (j.contains("eos_token") && !TokenText(j["eos_token"]).empty()) {
      SEPTET_ASSIGN_OR_RETURN(v.eos_id, TokenId(c, TokenText(j["eos_token"])));
    }
  }
  const fs::path cfg = dir / "config.json";
  if (v.eos_id < 0 && fs::exists(cfg, ec)) {
    SEPTET_ASSIGN_OR_RETURN(const json j, ReadJson(cfg.string()));
    const auto it = j.find("eos_token_id");
    // An id or a list of ids. get<int32_t>() would wrap 2^40 to some other token; an
    // entry that is no id is named rather than skipped.
    const auto to_id = [&](const json& e) -> Result<int32_t> {
      if (!e.is_number_unsigned() || e.get<uint64_t>() > static_cast<uint64_t>(INT32_MAX)) {
        return Corrupt("%s: field 'eos_token_id' holds %s; expected token ids (integers in [0, %d])",
                       cfg.string().c_str(), e.dump().c_str(), INT32_MAX);
      }
      return static_cast<int32_t>(e.get<uint64_t>());
    };
    if (it != j.end() && !it->is_null() && !it->is_array()) {
      SEPTET_ASSIGN_OR_RETURN(v.eos_id, to_id(*it));
    } else if (it != j.end() && it->is_array()) {
      for (const json& e : *it) {
        SEPTET_ASSIGN_OR_RETURN(const int32_t id, to_id(e));
        if (v.eos_id < 0)
          v.eos_id = id;
        else
          v.extra_stop_ids.push_back(id);
      }
    }
  }
  return Status::Ok();
}

Result<std::unique_ptr<Tokenizer>> LoadFromJson(const std::string& path, const json& root) {
  const char* p = path.c_str();
  if (!root.is_object() || !root.contains("model") || !root["model"].is_object()) {
    return Corrupt("%s: no 'model' object", p);
  }
  tok::BpeVocab v;
  v.source = path;
  Ctx c{path, &v};
  const json& model = root["model"];
  const std::string mtype = TypeOf(model);
  if (mtype != "BPE" && !(mtype.empty() && model.contains("merges"))) {
    return Unsupported("%s: model type '%s' is not supported (only BPE)", p, mtype.c_str());
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (model.contains(key) && !model[key].is_null() &&
        !(model[key].is_string() && model[key].get<std::string>().empty())) {
      return Unsupported("%s: BPE %s is not supported", p, key);
    }
  }
  if (model.contains("dropout") && model["dropout"].is_number() && model["dropout"].get<double>() > 0.0) {
    return Unsupported("%s: BPE dropout is not supported at inference", p);
  }
  v.ignore_merges = BoolOr(model, "ignore_merges", false);

  // Vocabulary: model.vocab plus added_tokens; ids must be dense.
  const auto vocab = model.find("vocab");
  if (vocab == model.end() || !vocab->is_object()) return Corrupt("%s: model.vocab is not an object", p);
  const auto set_token = [&](int64_t id, const std::string& text, tok::TokenType type) -> Status {
    if (id < 0 || id >= (1 << 24))
      return Corrupt("%s: token '%s' has id %lld", p, text.c_str(), static_cast<long long>(id));
    if (static_cast<size_t>(id) >= v.tokens.size()) {
      v.tokens.resize(static_cast<size_t>(id) + 1);
      v.types.resize(static_cast<size_t>(id) + 1, tok::TokenType::kUnused);
    }
    v.tokens[id] = text;
    v.types[id] = type;
    return Status::Ok();
  };
  for (const auto& [text, id] : vocab->items()) {
    if (!id.is_number_integer()) return Corrupt("%s: model.vocab['%s'] is not an integer", p, text.c_str());
    SEPTET_RETURN_IF_ERROR(set_token(id.get<int64_t>(), text, tok::TokenType::kNormal));
  }
  if (root.contains("added_tokens") && root["added_tokens"].is_array()) {
    for (const json& a : root["added_tokens"]) {
      if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() || !a.contains("content") ||
          !a["content"].is_string()) {
        return Corrupt("%s: added_tokens entry needs integer 'id' and string 'content'", p);
      }
      const std::string content = a["content"].get<std::string>();
      if (BoolOr(a, "single_word", false)) {
        return Unsupported("%s: added token '%s' has single_word, which is not supported", p,
                           content.c_str());
      }
      const int64_t id64 = a["id"].get<int64_t>();
      SEPTET_RETURN_IF_ERROR(
          set_token(id64, content,
                    BoolOr(a, "special", false) ? tok::TokenType::kControl : tok::TokenType::kUserDefined));
      const int32_t id = static_cast<int32_t>(id64);
      if (BoolOr(a, "lstrip", false)) v.lstrip_ids.push_back(id);
      if (BoolOr(a, "rstrip", false)) v.rstrip_ids.push_back(id);
    }
  }

  const auto merges = model.find("merges");
  if (merges == model.end() || !merges->is_array()) return Corrupt("%s: model.merges is not an array", p);
  v.merges.reserve(merges->size());
  for (const json& m : *merges) {
    if (m.is_string()) {
      const std::string s = m.get<std::string>();
      const size_t sp = s.find(' ');
      if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos) {
        return Corrupt("%s: merge %zu '%s' is not two space-separated tokens", p, v.merges.size(), s.c_str());
      }
      v.merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      v.merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
    } else {
      return Corrupt("%s: merge %zu is neither \"a b\" nor [\"a\", \"b\"]", p, v.merges.size());
    }
  }
  if (model.contains("unk_token") && model["unk_token"].is_string()) {
    SEPTET_ASSIGN_OR_RETURN(v.unk_id, TokenId(c, model["unk_token"].get<std::string>()));
  }

  SEPTET_RETURN_IF_ERROR(ParseNormalizer(c, root.value("normalizer", json())));
  SEPTET_RETURN_IF_ERROR(ParsePreTokenizer(c, root.value("pre_tokenizer", json())));
  if (!c.byte_level) {
    return Unsupported(
        "%s: only byte-level BPE is supported (the pre_tokenizer has no ByteLevel step); "
        "for SentencePiece-style models use tokenizer.model",
        p);
  }
  SEPTET_RETURN_IF_ERROR(ParseDecoder(c, root.value("decoder", json())));
  SEPTET_RETURN_IF_ERROR(ParsePostProcessor(c, root.value("post_processor", json())));
  SEPTET_RETURN_IF_ERROR(ReadSideFiles(c, /*post_processor_bos=*/v.bos_id >= 0));

  // End-of-turn markers of common chat formats, when the vocabulary has them as specials.
  for (const char* name : {"<|eot_id|>", "<|eom_id|>", "<|im_end|>", "<|endoftext|>", "<|end_of_text|>",
                           "<end_of_turn>", "<|end|>"}) {
    for (size_t i = 0; i < v.tokens.size(); ++i) {
      if (v.types[i] == tok::TokenType::kControl && v.tokens[i] == name)
        v.extra_stop_ids.push_back(static_cast<int32_t>(i));
    }
  }
  if (v.eos_id < 0) {
    for (const char* name : {"<|endoftext|>", "<|end_of_text|>", "</s>"}) {
      for (size_t i = 0; i < v.tokens.size() && v.eos_id < 0; ++i) {
        if (v.types[i] == tok::TokenType::kControl && v.tokens[i] == name) v.eos_id = static_cast<int32_t>(i);
      }
    }
  }
  return tok::MakeBpeTokenizer(std::move(v));
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> LoadHfTokenizerJson(const std::string& path) {
  SEPTET_ASSIGN_OR_RETURN(const json root, ReadJson(path));
  try {
    return LoadFromJson(path, root);
  } catch (const json::exception& e) {  // a field of an unexpected JSON type
    return Corrupt("%s: unexpected JSON structure: %s", path.c_str(), e.what());
  }
}

}  // namespace septet
