#include "tokenizer/pretokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

namespace septet::tok {

Result<std::shared_ptr<const Regex>> Regex::Compile(const std::string& pattern, const std::string& where) {
  int err = 0;
  PCRE2_SIZE err_off = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &err, &err_off, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof(msg));
    return InvalidArgument("%s: regex /%s/ does not compile at offset %zu: %s", where.c_str(),
                           pattern.c_str(), static_cast<size_t>(err_off), reinterpret_cast<const char*>(msg));
  }
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // optional speed-up; interpretation still works if it fails
  std::shared_ptr<Regex> r(new Regex());
  r->code_ = code;
  r->pattern_ = pattern;
  return std::shared_ptr<const Regex>(std::move(r));
}

Regex::~Regex() { pcre2_code_free(static_cast<pcre2_code*>(code_)); }

std::vector<std::pair<size_t, size_t>> Regex::FindAll(std::string_view s) const {
  std::vector<std::pair<size_t, size_t>> out;
  auto* code = static_cast<pcre2_code*>(code_);
  pcre2_match_data* md = pcre2_match_data_create_from_pattern(code, nullptr);
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(s.data());
  size_t pos = 0;
  while (pos <= s.size()) {
    const int rc = pcre2_match(code, subject, s.size(), pos, 0, md, nullptr);
    if (rc < 0) break;  // PCRE2_ERROR_NOMATCH, or a resource limit: the rest is one gap
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    const size_t b = ov[0], e = ov[1];
    if (e > b) {
      out.emplace_back(b, e);
      pos = e;
    } else {
      // Empty match: step over one character (one byte where the input is not UTF-8).
      pos = b + 1;
      while (pos < s.size() && (static_cast<uint8_t>(s[pos]) & 0xC0) == 0x80) ++pos;
    }
  }
  pcre2_match_data_free(md);
  return out;
}

std::string RegexQuote(std::string_view s) {
  std::string out = "\\Q";
  for (size_t i = 0; i < s.size(); ++i) {
    if (s.compare(i, 2, "\\E") == 0) {
      out += "\\E\\\\E\\Q";
      ++i;
    } else {
      out.push_back(s[i]);
    }
  }
  return out + "\\E";
}

namespace {

// Splits one piece per HF's NormalizedString::split semantics.
void SplitPiece(const PreTokStep& step, const std::string& piece, std::vector<std::string>* out) {
  const auto matches = step.regex->FindAll(piece);
  // Intervals covering the piece: (begin, end, is_delimiter).
  struct Span {
    size_t b, e;
    bool delim;
  };
  std::vector<Span> spans;
  size_t pos = 0;
  for (const auto& [b, e] : matches) {
    if (b > pos) spans.push_back({pos, b, step.invert});
    spans.push_back({b, e, !step.invert});
    pos = e;
  }
  if (pos < piece.size()) spans.push_back({pos, piece.size(), step.invert});

  const auto emit = [&](size_t b, size_t e) {
    if (e > b) out->emplace_back(piece, b, e - b);
  };
  switch (step.behavior) {
    case SplitBehavior::kRemoved:
      for (const Span& s : spans) {
        if (!s.delim) emit(s.b, s.e);
      }
      break;
    case SplitBehavior::kIsolated:
      for (const Span& s : spans) emit(s.b, s.e);
      break;
    case SplitBehavior::kContiguous: {
      size_t i = 0;
      while (i < spans.size()) {
        size_t j = i + 1;
        if (spans[i].delim) {
          while (j < spans.size() && spans[j].delim) ++j;
        }
        emit(spans[i].b, spans[j - 1].e);
        i = j;
      }
      break;
    }
    case SplitBehavior::kMergedWithPrevious: {
      size_t start = 0;
      for (const Span& s : spans) {
        if (s.delim) {
          emit(start, s.e);
          start = s.e;
        }
      }
      emit(start, piece.size());
      break;
    }
    case SplitBehavior::kMergedWithNext: {
      size_t start = 0;
      for (const Span& s : spans) {
        if (s.delim) {
          emit(start, s.b);
          start = s.b;
        }
      }
      emit(start, piece.size());
      break;
    }
  }
}

}  // namespace

std::vector<std::string> PreTokenize(const std::vector<PreTokStep>& steps, std::string_view text) {
  std::vector<std::string> pieces;
  if (text.empty()) return pieces;
  pieces.emplace_back(text);
  std::vector<std::string> next;
  for (const PreTokStep& step : steps) {
    if (step.kind == PreTokStep::Kind::kPrefixSpace) {
      for (std::string& p : pieces) {
        if (p.empty() || p[0] != ' ') p.insert(p.begin(), ' ');
      }
      continue;
    }
    next.clear();
    for (const std::string& p : pieces) SplitPiece(step, p, &next);
    pieces.swap(next);
  }
  return pieces;
}

}  // namespace septet::tok
