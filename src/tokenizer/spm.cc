#include "tokenizer/spm.h"

#include <cstdio>
#include <queue>
#include <string_view>
#include <unordered_map>

#include "tokenizer/utf8.h"

namespace septet::tok {
namespace {

constexpr std::string_view kSpace = "\xE2\x96\x81";  // "▁"

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using PieceMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

// Parses "<0xXX>" (upper- or lower-case hex); returns -1 if `p` is not a byte piece.
int ParseBytePiece(std::string_view p) {
  if (p.size() != 6 || p.substr(0, 3) != "<0x" || p[5] != '>') return -1;
  int v = 0;
  for (int k = 3; k < 5; ++k) {
    const char c = p[k];
    int d;
    if (c >= '0' && c <= '9')
      d = c - '0';
    else if (c >= 'A' && c <= 'F')
      d = c - 'A' + 10;
    else if (c >= 'a' && c <= 'f')
      d = c - 'a' + 10;
    else
      return -1;
    v = v * 16 + d;
  }
  return v;
}

class SpmTokenizer final : public Tokenizer {
 public:
  explicit SpmTokenizer(SpmVocab v) : v_(std::move(v)) {}

  Status Init() {
    const size_t n = v_.pieces.size();
    if (n == 0) return Corrupt("%s: empty vocabulary", v_.source.c_str());
    if (v_.scores.size() != n || v_.types.size() != n) {
      return Corrupt("%s: %zu pieces but %zu scores and %zu token types", v_.source.c_str(), n,
                     v_.scores.size(), v_.types.size());
    }
    if (n > static_cast<size_t>(INT32_MAX)) return Corrupt("%s: vocabulary too large", v_.source.c_str());
    for (const int32_t id : {v_.bos_id, v_.eos_id, v_.unk_id}) {
      if (id < -1 || id >= static_cast<int32_t>(n)) {
        return Corrupt("%s: special token id %d outside the vocabulary of %zu", v_.source.c_str(), id, n);
      }
    }
    byte_id_.assign(256, -1);
    for (size_t i = 0; i < n; ++i) {
      const int32_t id = static_cast<int32_t>(i);
      const std::string& p = v_.pieces[i];
      switch (v_.types[i]) {
        case TokenType::kNormal:
        case TokenType::kUserDefined:
          piece_id_.emplace(p, id);  // first wins on duplicates
          if (v_.types[i] == TokenType::kUserDefined) splitter_.Add({p, id, /*always=*/true});
          if (!v_.escape_whitespace && p.size() == 1 && byte_id_[static_cast<uint8_t>(p[0])] < 0) {
            byte_id_[static_cast<uint8_t>(p[0])] = id;  // raw-byte vocabularies
          }
          break;
        case TokenType::kByte: {
          const int b = ParseBytePiece(p);
          if (b < 0) {
            return Corrupt("%s: token %d has type byte but piece '%s' is not <0xXX>", v_.source.c_str(), id,
                           p.c_str());
          }
          if (byte_id_[b] < 0) byte_id_[b] = id;
          break;
        }
        case TokenType::kControl:
        case TokenType::kUnknown:
          splitter_.Add({p, id, /*always=*/false});
          break;
        case TokenType::kUnused:
          break;
      }
    }
    for (int b = 0; b < 256; ++b) {
      if (byte_id_[b] < 0 && v_.unk_id < 0) {
        return Corrupt("%s: no token for byte 0x%02X (no <0x%02X> piece) and no unknown token",
                       v_.source.c_str(), b, b);
      }
    }
    if (v_.eos_id >= 0) stop_ids_.push_back(v_.eos_id);
    for (const int32_t id : v_.extra_stop_ids) {
      if (id < 0 || id >= static_cast<int32_t>(n)) {
        return Corrupt("%s: stop token id %d outside the vocabulary of %zu", v_.source.c_str(), id, n);
      }
      if (id != v_.eos_id) stop_ids_.push_back(id);
    }
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
    bool prev_special = true;
    std::string buf;
    for (const auto& frag : splitter_.Split(text, parse_special, only_in)) {
      if (frag.id >= 0) {
        out.push_back(frag.id);
        prev_special = true;
        continue;
      }
      buf.clear();
      std::string_view raw = frag.text;
      std::string collapsed;
      if (v_.remove_extra_whitespaces) {
        collapsed = CollapseSpaces(raw);
        raw = collapsed;
        if (raw.empty()) continue;
      }
      if (v_.add_dummy_prefix && prev_special) buf.append(v_.escape_whitespace ? kSpace : " ");
      if (v_.escape_whitespace) {
        for (const char c : raw) {
          if (c == ' ')
            buf.append(kSpace);
          else
            buf.push_back(c);
        }
      } else {
        buf.append(raw);
      }
      EncodeFragment(buf, &out);
      prev_special = false;
    }
    return out;
  }

 public:
  std::string TokenBytes(int32_t id, int32_t prev) const override {
    if (id < 0 || id >= vocab_size()) return {};
    const std::string& p = v_.pieces[id];
    switch (v_.types[id]) {
      case TokenType::kControl:
        return {};
      case TokenType::kUnknown:
        return " \xE2\x81\x87 ";  // sentencepiece's unk surface " ⁇ "
      case TokenType::kByte:
        return std::string(1, static_cast<char>(ParseBytePiece(p)));
      default:
        break;
    }
    std::string out;
    if (v_.escape_whitespace) {
      for (size_t i = 0; i < p.size();) {
        if (p.compare(i, kSpace.size(), kSpace) == 0) {
          out.push_back(' ');
          i += kSpace.size();
        } else {
          out.push_back(p[i++]);
        }
      }
    } else {
      out = p;
    }
    // The dummy prefix the encoder added at the start (or after a control token) is dropped.
    const bool at_start = prev < 0 || (prev < vocab_size() && v_.types[prev] == TokenType::kControl);
    if (v_.add_dummy_prefix && at_start && !out.empty() && out[0] == ' ') out.erase(0, 1);
    return out;
  }

  int32_t vocab_size() const override { return static_cast<int32_t>(v_.pieces.size()); }
  int32_t bos_id() const override { return v_.bos_id; }
  int32_t eos_id() const override { return v_.eos_id; }
  std::vector<int32_t> stop_ids() const override { return stop_ids_; }
  std::string_view piece(int32_t id) const override {
    return id >= 0 && id < vocab_size() ? std::string_view(v_.pieces[id]) : std::string_view();
  }
  std::string chat_template() const override { return v_.chat_template; }

 private:
  struct Symbol {
    int32_t prev, next;
    uint32_t start, len;  // byte span in the fragment; len == 0 once merged away
  };
  struct Candidate {
    float score;
    int32_t left, right;
    uint32_t len;  // left.len + right.len when pushed (stale check)
  };
  struct Worse {
    bool operator()(const Candidate& a, const Candidate& b) const {
      if (a.score != b.score) return a.score < b.score;
      return a.left > b.left;  // equal scores: leftmost first
    }
  };

  static std::string CollapseSpaces(std::string_view s) {
    std::string r;
    bool pending_space = false;
    for (const char c : s) {
      if (c == ' ') {
        pending_space = !r.empty();
      } else {
        if (pending_space) r.push_back(' ');
        pending_space = false;
        r.push_back(c);
      }
    }
    return r;
  }

  int32_t Lookup(std::string_view s) const {
    const auto it = piece_id_.find(s);
    return it == piece_id_.end() ? -1 : it->second;
  }

  // Greedy highest-score pair merging on a linked list of symbols with a lazily
  // invalidated priority queue: O(n log n) in the fragment length.
  void EncodeFragment(std::string_view s, std::vector<int32_t>* out) const {
    std::vector<Symbol> sym;
    sym.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
      const size_t n = Utf8StepAt(s, i);
      const int32_t idx = static_cast<int32_t>(sym.size());
      sym.push_back({idx - 1, idx + 1, static_cast<uint32_t>(i), static_cast<uint32_t>(n)});
      i += n;
    }
    if (sym.empty()) return;
    sym.back().next = -1;

    std::priority_queue<Candidate, std::vector<Candidate>, Worse> queue;
    const auto try_pair = [&](int32_t left, int32_t right) {
      if (left < 0 || right < 0) return;
      const uint32_t len = sym[left].len + sym[right].len;
      const int32_t id = Lookup(s.substr(sym[left].start, len));
      if (id < 0) return;
      queue.push({v_.scores[id], left, right, len});
    };
    for (size_t i = 1; i < sym.size(); ++i) try_pair(static_cast<int32_t>(i - 1), static_cast<int32_t>(i));

    while (!queue.empty()) {
      const Candidate c = queue.top();
      queue.pop();
      Symbol& l = sym[c.left];
      Symbol& r = sym[c.right];
      if (l.len == 0 || r.len == 0 || l.next != c.right || l.len + r.len != c.len) continue;  // stale
      l.len += r.len;
      r.len = 0;
      l.next = r.next;
      if (r.next >= 0) sym[r.next].prev = c.left;
      try_pair(l.prev, c.left);
      try_pair(c.left, l.next);
    }

    for (int32_t i = 0; i >= 0; i = sym[i].next) {
      const std::string_view text = s.substr(sym[i].start, sym[i].len);
      const int32_t id = Lookup(text);
      if (id >= 0) {
        out->push_back(id);
        continue;
      }
      // Byte fallback when every byte has a token; otherwise one <unk> for the symbol
      // (sentencepiece without byte_fallback). Init guarantees unk exists then.
      bool all_bytes = true;
      for (const char c : text) all_bytes = all_bytes && byte_id_[static_cast<uint8_t>(c)] >= 0;
      if (!all_bytes) {
        out->push_back(v_.unk_id);
        continue;
      }
      for (const char c : text) out->push_back(byte_id_[static_cast<uint8_t>(c)]);
    }
  }

  SpmVocab v_;
  PieceMap piece_id_;             // normal + user-defined pieces
  std::vector<int32_t> byte_id_;  // byte -> token (<0xXX>, or the 1-byte piece)
  SpecialSplitter splitter_;
  std::vector<int32_t> stop_ids_;
};

}  // namespace

Result<std::unique_ptr<Tokenizer>> MakeSpmTokenizer(SpmVocab vocab) {
  auto t = std::make_unique<SpmTokenizer>(std::move(vocab));
  SEPTET_RETURN_IF_ERROR(t->Init());
  return std::unique_ptr<Tokenizer>(std::move(t));
}

}  // namespace septet::tok
