// The base-model log-probability file of `septet perplexity --save-logits`, read back by
// `--kl-divergence`. Little-endian, fixed 64-byte header:
//
//   offset size  field
//   0      8     magic "SEPTLPR1"
//   8      4     u32 version = 1
//   12     4     u32 vocab
//   16     4     u32 n_ctx            tokens per window (BOS first)
//   20     4     u32 n_chunks         windows
//   24     4     u32 first            first scored position (n_ctx / 2 unless score_from)
//   28     4     u32 n_scored         scored positions per window = n_ctx - 1 - first
//   32     8     u64 tokens_fnv1a64   FNV-1a 64 over the token block's bytes
//   40     8     u64 payload_bytes    = 4·n_chunks·n_ctx + 4·n_chunks·n_scored·vocab
//   48     16    zero
//   64           i32 tokens[n_chunks][n_ctx]           the windows as evaluated
//   ...          f32 logprob[n_chunks][n_scored][vocab] log-softmax of the logits at
//                                                       positions first .. n_ctx-2
//
// The file is written to "<path>.tmp.<pid>" and renamed into place when complete, so an
// interrupted run leaves no partial file under the final name.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "core/mapped_file.h"
#include "core/status.h"

namespace septet::eval {

inline constexpr char kLogitsMagic[8] = {'S', 'E', 'P', 'T', 'L', 'P', 'R', '1'};
inline constexpr uint32_t kLogitsVersion = 1;
inline constexpr size_t kLogitsHeaderBytes = 64;

struct LogitsHeader {
  uint32_t vocab = 0, n_ctx = 0, n_chunks = 0, first = 0, n_scored = 0;
  uint64_t tokens_hash = 0;
  uint64_t payload_bytes() const;
};

// "<path>.tmp.<pid>": where writers put a file before renaming it (the CLI's signal
// handler removes it on Ctrl-C).
std::string TempPathFor(const std::string& path);

class LogitsWriter {
 public:
  ~LogitsWriter();  // removes the temp file unless Finish succeeded
  // Refuses an existing `path` unless overwrite (message names the file and --force).
  static Result<std::unique_ptr<LogitsWriter>> Create(const std::string& path, bool overwrite,
                                                      const LogitsHeader& header, const std::vector<int32_t>& tokens);
  // One window's n_scored x vocab log-probabilities.
  Status AppendChunk(const float* logprobs, size_t n);
  Status Finish();

 private:
  LogitsWriter() = default;
  std::string path_, tmp_;
  std::FILE* f_ = nullptr;
  bool overwrite_ = false;
  bool done_ = false;
  uint64_t expect_ = 0, written_ = 0;
};

class LogitsReader {
 public:
  static Result<LogitsReader> Open(const std::string& path);
  const LogitsHeader& header() const { return h_; }
  const int32_t* tokens() const;         // [n_chunks][n_ctx]
  const float* chunk(uint32_t c) const;  // [n_scored][vocab]

 private:
  std::string path_;
  std::shared_ptr<MappedFile> file_;
  LogitsHeader h_;
};

uint64_t TokensHash(const std::vector<int32_t>& tokens);

}  // namespace septet::eval
