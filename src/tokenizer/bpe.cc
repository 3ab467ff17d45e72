#include "tokenizer/bpe.h"

#include <algorithm>
#include <queue>
#include <string_view>
#include <unordered_map>

#include "tokenizer/byte_unicode.h"
#include "tokenizer/utf8.h"

namespace septet::tok {
namespace {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

uint64_t PairKey(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

class BpeTokenizer final : public Tokenizer {
 public:
  explicit BpeTokenizer(BpeVocab v) : v_(std::move(v)) {}

  Status Init() {
    const char* src = v_.source.c_str();
    const size_t n = v_.tokens.size();
    if (n == 0) return Corrupt("%s: empty vocabulary", src);
    if (v_.types.size() != n) return Corrupt("%s: %zu tokens but %zu token types", src, n, v_.types.size());
    if (n > static_cast<size_t>(INT32_MAX)) return Corrupt("%s: vocabulary too large", src);
    for (const int32_t id : {v_.bos_id, v_.eos_id, v_.unk_id}) {
      if (id < -1 || id >= static_cast<int32_t>(n)) {
        return Corrupt("%s: special token id %d outside the vocabulary of %zu", src, id, n);
      }
    }
    const auto has = [](const std::vector<int32_t>& v, int32_t id) {
      return std::find(v.begin(), v.end(), id) != v.end();
    };
    for (size_t i = 0; i < n; ++i) {
      const int32_t id = static_cast<int32_t>(i);
      const TokenType t = v_.types[i];
      if (t == TokenType::kNormal) {
        token_id_.emplace(v_.tokens[i], id);  // first wins on duplicates
      } else if (t == TokenType::kControl || t == TokenType::kUserDefined) {
        splitter_.Add({v_.tokens[i], id, /*always=*/t == TokenType::kUserDefined, has(v_.lstrip_ids, id),
                       has(v_.rstrip_ids, id)});
      }
    }
    // Real vocabularies lack some bytes (SmolLM2 has no entry for 0x04, 0xC0, 0xF5.., ...).
    // Like HF tokenizers, such a byte becomes the unknown token, or is dropped without one.
    for (int b = 0; b < 256; ++b) {
      const auto it = token_id_.find(ByteToUnicodeUtf8(static_cast<uint8_t>(b)));
      byte_id_[b] = it == token_id_.end() ? v_.unk_id : it->second;
    }
    merges_.reserve(v_.merges.size());
    for (size_t r = 0; r < v_.merges.size(); ++r) {
      const auto& [a, b] = v_.merges[r];
      const auto ia = token_id_.find(a), ib = token_id_.find(b), im = token_id_.find(a + b);
      if (ia == token_id_.end() || ib == token_id_.end() || im == token_id_.end()) {
        return Corrupt("%s: merge %zu ('%s' '%s'): %s not in the vocabulary", src, r, a.c_str(), b.c_str(),
                       ia == token_id_.end()   ? "left part"
                       : ib == token_id_.end() ? "right part"
                                               : "result");
      }
      merges_.emplace(PairKey(ia->second, ib->second), Merge{static_cast<uint32_t>(r), im->second});
    }
    if (v_.eos_id >= 0) stop_ids_.push_back(v_.eos_id);
    for (const int32_t id : v_.extra_stop_ids) {
      if (id < 0 || id >= static_cast<int32_t>(n)) {
        return Corrupt("%s: stop token id %d outside the vocabulary of %zu", src, id, n);
      }
      if (!has(stop_ids_, id)) stop_ids_.push_back(id);
    }
    v_.merges.clear();
    v_.merges.shrink_to_fit();
    return Status::Ok();
  }

  std::vector<int32_t> Encode(std::string_view text, bool add_bos, bool parse_special) const override {
    return EncodeImpl(text, add_bos, parse_special, nullptr);
  }
  std::vector<int32_t> EncodeMarked(std::string_view text, bool add_bos,
                                    std::span<const TextRange> special_ranges) const override {
    return EncodeImpl(text, add_bos, true, &special_ranges);
  }

 private:
  std::vector<int32_t> EncodeImpl(std::string_view text, bool add_bos, bool parse_special,
                                  const std::span<const TextRange>* only_in) const {
    std::vector<int32_t> out;
    if (add_bos && v_.bos_id >= 0) out.push_back(v_.bos_id);
    for (const auto& frag : splitter_.Split(text, parse_special, only_in)) {
      if (frag.id >= 0) {
        out.push_back(frag.id);
        continue;
      }
      std::string norm(frag.text);
      for (const BpeVocab::NormOp& op : v_.normalizer) {
        if (!op.prepend)
          norm = ReplaceAll(norm, op.from, op.to);
        else if (!norm.empty())
          norm.insert(0, op.to);
      }
      for (const std::string& word : PreTokenize(v_.pre, norm)) EncodeWord(BytesToUnicode(word), &out);
    }
    return out;
  }

 public:
  std::string TokenBytes(int32_t id, int32_t /*prev*/) const override {
    if (id < 0 || id >= vocab_size()) return {};
    const std::string& t = v_.tokens[id];
    switch (v_.types[id]) {
      case TokenType::kControl:
      case TokenType::kUnused:
        return {};
      case TokenType::kUserDefined:
        return t;
      default:
        break;
    }
    std::string out;
    // Characters outside the byte map (none in a well-formed vocab) pass through as UTF-8.
    for (size_t i = 0; i < t.size();) {
      const size_t n = Utf8StepAt(t, i);
      if (!UnicodeToBytes(std::string_view(t).substr(i, n), &out)) out.append(t, i, n);
      i += n;
    }
    return out;
  }

  int32_t vocab_size() const override { return static_cast<int32_t>(v_.tokens.size()); }
  int32_t bos_id() const override { return v_.bos_id; }
  int32_t eos_id() const override { return v_.eos_id; }
  std::vector<int32_t> stop_ids() const override { return stop_ids_; }
  std::string_view piece(int32_t id) const override {
    return id >= 0 && id < vocab_size() ? std::string_view(v_.tokens[id]) : std::string_view();
  }
  std::string chat_template() const override { return v_.chat_template; }

 private:
  struct Merge {
    uint32_t rank;
    int32_t id;
  };
  struct Symbol {
    int32_t prev, next;
    int32_t id;  // -1 once merged away
  };
  struct Candidate {
    uint32_t rank;
    int32_t left, right;
    int32_t left_id, right_id, id;
  };
  struct Worse {
    bool operator()(const Candidate& a, const Candidate& b) const {
      if (a.rank != b.rank) return a.rank > b.rank;
      return a.left > b.left;  // equal ranks: leftmost first
    }
  };

  static std::string ReplaceAll(const std::string& s, const std::string& from, const std::string& to) {
    if (from.empty()) return s;
    std::string r;
    size_t pos = 0;
    for (size_t hit; (hit = s.find(from, pos)) != std::string::npos; pos = hit + from.size()) {
      r.append(s, pos, hit - pos).append(to);
    }
    return r.append(s, pos);
  }

  // `word` is in stand-in characters (every byte mapped), so each UTF-8 character of
  // it is a single-byte vocab entry.
  void EncodeWord(const std::string& word, std::vector<int32_t>* out) const {
    if (v_.ignore_merges) {
      const auto it = token_id_.find(word);
      if (it != token_id_.end()) {
        out->push_back(it->second);
        return;
      }
    }
    std::vector<Symbol> sym;
    sym.reserve(word.size() / 2 + 1);
    for (size_t i = 0; i < word.size();) {
      const size_t n = Utf8StepAt(word, i);
      const auto it = token_id_.find(std::string_view(word).substr(i, n));
      int32_t id = it == token_id_.end() ? -1 : it->second;
      if (id < 0) {
        std::string bytes;
        id = UnicodeToBytes(std::string_view(word).substr(i, n), &bytes) && bytes.size() == 1
                 ? byte_id_[static_cast<uint8_t>(bytes[0])]
                 : v_.unk_id;
      }
      i += n;
      if (id < 0) continue;  // no entry, no unknown token: dropped (its neighbours become adjacent)
      const int32_t idx = static_cast<int32_t>(sym.size());
      sym.push_back({idx - 1, idx + 1, id});
    }
    if (sym.empty()) return;
    sym.back().next = -1;

    std::priority_queue<Candidate, std::vector<Candidate>, Worse> queue;
    const auto try_pair = [&](int32_t left, int32_t right) {
      if (left < 0 || right < 0) return;
      const auto it = merges_.find(PairKey(sym[left].id, sym[right].id));
      if (it == merges_.end()) return;
      queue.push({it->second.rank, left, right, sym[left].id, sym[right].id, it->second.id});
    };
    for (size_t i = 1; i < sym.size(); ++i) try_pair(static_cast<int32_t>(i - 1), static_cast<int32_t>(i));

    while (!queue.empty()) {
      const Candidate c = queue.top();
      queue.pop();
      Symbol& l = sym[c.left];
      Symbol& r = sym[c.right];
      if (l.id != c.left_id || r.id != c.right_id || l.next != c.right) continue;  // stale
      l.id = c.id;
      r.id = -1;
      l.next = r.next;
      if (r.next >= 0) sym[r.next].prev = c.left;
      try_pair(l.prev, c.left);
      try_pair(c.left, l.next);
    }
    for (int32_t i = 0; i >= 0; i = sym[i].next) {
      if (sym[i].id >= 0) out->push_back(sym[i].id);
    }
  }

  BpeVocab v_;
  std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>> token_id_;  // normal tokens
  std::unordered_map<uint64_t, Merge> merges_;  // (left id, right id) -> rank, result
  int32_t byte_id_[256] = {};
  SpecialSplitter splitter_;
  std::vector<int32_t> stop_ids_;
};

}  // namespace

Result<std::unique_ptr<Tokenizer>> MakeBpeTokenizer(BpeVocab vocab) {
  auto t = std::make_unique<BpeTokenizer>(std::move(vocab));
  SEPTET_RETURN_IF_ERROR(t->Init());
  return std::unique_ptr<Tokenizer>(std::move(t));
}

}  // namespace septet::tok
