#include "eval/logits_file.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace septet::eval {
namespace {

template <typename T>
void Put(uint8_t* p, T v) {
  std::memcpy(p, &v, sizeof(T));
}
template <typename T>
T Get(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

uint64_t Fnv(const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

}  // namespace

uint64_t LogitsHeader::payload_bytes() const { return 4ull * n_chunks * n_ctx + 4ull * n_chunks * n_scored * vocab; }

std::string TempPathFor(const std::string& path) { return path + ".tmp." + std::to_string(::getpid()); }

uint64_t TokensHash(const std::vector<int32_t>& tokens) { return Fnv(tokens.data(), tokens.size() * 4); }

LogitsWriter::~LogitsWriter() {
  if (f_ != nullptr) std::fclose(f_);
  if (!done_ && !tmp_.empty()) ::unlink(tmp_.c_str());
}

Result<std::unique_ptr<LogitsWriter>> LogitsWriter::Create(const std::string& path, bool overwrite,
                                                           const LogitsHeader& h, const std::vector<int32_t>& tokens) {
  std::error_code ec;
  if (!overwrite && std::filesystem::exists(path, ec)) {
    return InvalidArgument("%s already exists; pass --force to overwrite it", path.c_str());
  }
  if (tokens.size() != static_cast<size_t>(h.n_chunks) * h.n_ctx) {
    return Internal("logits file: %zu tokens for %u windows of %u", tokens.size(), h.n_chunks, h.n_ctx);
  }
  std::unique_ptr<LogitsWriter> w(new LogitsWriter());
  w->path_ = path;
  w->tmp_ = TempPathFor(path);
  w->overwrite_ = overwrite;
  w->f_ = std::fopen(w->tmp_.c_str(), "wb");
  if (w->f_ == nullptr) {
    const std::string tmp = w->tmp_;
    w->tmp_.clear();
    return IoError("%s: cannot create: %s", tmp.c_str(), std::strerror(errno));
  }
  uint8_t hdr[kLogitsHeaderBytes] = {};
  std::memcpy(hdr, kLogitsMagic, 8);
  Put<uint32_t>(hdr + 8, kLogitsVersion);
  Put<uint32_t>(hdr + 12, h.vocab);
  Put<uint32_t>(hdr + 16, h.n_ctx);
  Put<uint32_t>(hdr + 20, h.n_chunks);
  Put<uint32_t>(hdr + 24, h.first);
  Put<uint32_t>(hdr + 28, h.n_scored);
  Put<uint64_t>(hdr + 32, TokensHash(tokens));
  Put<uint64_t>(hdr + 40, h.payload_bytes());
  if (std::fwrite(hdr, 1, sizeof(hdr), w->f_) != sizeof(hdr) ||
      std::fwrite(tokens.data(), 4, tokens.size(), w->f_) != tokens.size()) {
    return IoError("%s: write failed: %s", w->tmp_.c_str(), std::strerror(errno));
  }
  w->expect_ = 4ull * h.n_chunks * h.n_scored * h.vocab;
  return w;
}

Status LogitsWriter::AppendChunk(const float* lp, size_t n) {
  if (written_ + 4ull * n > expect_) return Internal("%s: more log-probabilities than the header says", tmp_.c_str());
  if (std::fwrite(lp, 4, n, f_) != n) return IoError("%s: write failed: %s", tmp_.c_str(), std::strerror(errno));
  written_ += 4ull * n;
  return Status::Ok();
}

Status LogitsWriter::Finish() {
  if (written_ != expect_) {
    return Internal("%s: %llu of %llu bytes of log-probabilities written", tmp_.c_str(),
                    static_cast<unsigned long long>(written_), static_cast<unsigned long long>(expect_));
  }
  const bool ok = std::fflush(f_) == 0 && ::fsync(::fileno(f_)) == 0;
  const int rc = std::fclose(f_);
  f_ = nullptr;
  if (!ok || rc != 0) return IoError("%s: write failed: %s", tmp_.c_str(), std::strerror(errno));
  std::error_code ec;
  if (!overwrite_ && std::filesystem::exists(path_, ec)) {
    return InvalidArgument("%s appeared while writing; pass --force to overwrite it", path_.c_str());
  }
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0) {
    return IoError("%s: cannot rename %s onto it: %s", path_.c_str(), tmp_.c_str(), std::strerror(errno));
  }
  done_ = true;
  return Status::Ok();
}

Result<LogitsReader> LogitsReader::Open(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return NotFound(
        "--kl-divergence %s: no such file; make it with the base model: septet perplexity -m BASE "
        "-f TEXT --save-logits %s",
        path.c_str(), path.c_str());
  }
  LogitsReader r;
  r.path_ = path;
  SEPTET_ASSIGN_OR_RETURN(r.file_, MappedFile::Open(path));
  const uint8_t* p = r.file_->data();
  const size_t size = r.file_->size();
  const char* name = path.c_str();
  if (size < kLogitsHeaderBytes || std::memcmp(p, kLogitsMagic, 8) != 0) {
    return Corrupt("%s: not a septet log-probability file (expected magic SEPTLPR1; make one with --save-logits)",
                   name);
  }
  const uint32_t version = Get<uint32_t>(p + 8);
  if (version != kLogitsVersion)
    return Unsupported("%s: version %u; this septet reads version %u", name, version, kLogitsVersion);
  LogitsHeader& h = r.h_;
  h.vocab = Get<uint32_t>(p + 12);
  h.n_ctx = Get<uint32_t>(p + 16);
  h.n_chunks = Get<uint32_t>(p + 20);
  h.first = Get<uint32_t>(p + 24);
  h.n_scored = Get<uint32_t>(p + 28);
  h.tokens_hash = Get<uint64_t>(p + 32);
  const uint64_t payload = Get<uint64_t>(p + 40);
  if (h.vocab == 0 || h.n_ctx < 4 || h.n_chunks == 0 || h.first >= h.n_ctx || h.n_scored != h.n_ctx - 1 - h.first) {
    return Corrupt("%s: inconsistent header (vocab %u, n_ctx %u, chunks %u, first %u, scored %u)", name, h.vocab,
                   h.n_ctx, h.n_chunks, h.first, h.n_scored);
  }
  if (payload != h.payload_bytes() || size != kLogitsHeaderBytes + payload) {
    return Corrupt("%s: %zu bytes; the header (vocab %u, n_ctx %u, %u windows) needs %llu: truncated or corrupt", name,
                   size, h.vocab, h.n_ctx, h.n_chunks,
                   static_cast<unsigned long long>(kLogitsHeaderBytes + h.payload_bytes()));
  }
  if (Fnv(p + kLogitsHeaderBytes, 4ull * h.n_chunks * h.n_ctx) != h.tokens_hash) {
    return Corrupt("%s: the token block does not match its checksum", name);
  }
  return r;
}

const int32_t* LogitsReader::tokens() const {
  return reinterpret_cast<const int32_t*>(file_->data() + kLogitsHeaderBytes);
}

const float* LogitsReader::chunk(uint32_t c) const {
  const uint8_t* base = file_->data() + kLogitsHeaderBytes + 4ull * h_.n_chunks * h_.n_ctx;
  return reinterpret_cast<const float*>(base + 4ull * c * h_.n_scored * h_.vocab);
}

}  // namespace septet::eval
