// Layer streaming: layers [first, n_layers) of a model whose weights are memory-
// mapped are not kept resident. Before layer l runs, the next streamed layer is
// handed to a helper thread that asks the kernel to read it ahead
// (madvise MADV_WILLNEED over its pages); after a streamed layer has run, its pages
// are dropped from this process (MADV_DONTNEED: the mapping is read-only and
// file-backed, so the next touch faults the file's bytes back in) and then, on the
// helper thread, from the page cache (posix_fadvise POSIX_FADV_DONTNEED over its
// file range). The second drop matters when the model is larger than RAM: the
// streamed layers pass through the page cache once per token, and left there
// they would push the resident layers' pages out (a cyclic scan larger than the
// cache defeats LRU: measured on the 70B file, every layer was re-read from disk
// every token). The weights the forward pass reads are the same bytes either
// way, so the output is bit-identical to the all-resident run.
//
// Only mapped bytes can be streamed: a layer whose weights were converted or
// repacked at load (owned copies) or whose file was read into memory (the mmap
// fallback) is refused -- MADV_DONTNEED on private memory would zero it.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "core/status.h"
#include "model/llama_model.h"

namespace septet::model {

class LayerStreamer {
 public:
  // first: the first streamed layer (0 <= first < n_layers); layers [first, n_layers) stream.
  static Result<std::unique_ptr<LayerStreamer>> Create(const LlamaModel& model, int64_t first);
  // Any set of streamed layers (ascending, distinct, each in [0, n_layers)). Spread
  // among resident layers (model/memory_plan.h SpreadStreamedLayers), the read of the next streamed
  // layer overlaps the compute of the resident layers before it, which a
  // contiguous tail cannot: there the disk idles while the resident layers run.
  static Result<std::unique_ptr<LayerStreamer>> Create(const LlamaModel& model, const std::vector<int64_t>& layers);
  ~LayerStreamer();
  LayerStreamer(const LayerStreamer&) = delete;
  LayerStreamer& operator=(const LayerStreamer&) = delete;

  // Called by the forward pass around each layer.
  void BeforeLayer(int64_t l);
  void AfterLayer(int64_t l);

  // The first streamed layer.
  int64_t first() const { return first_; }
  uint64_t prefetches() const { return prefetches_; }
  uint64_t evictions() const { return evictions_; }

 private:
  struct Range {
    uintptr_t begin = 0, end = 0;  // page-aligned addresses in the mapping
    int fd = -1;                   // the file (for the page-cache drop); -1: none
    off_t offset = 0;              // file offset of `begin`
  };
  struct Job {
    int64_t layer = 0;
    bool drop = false;  // false: read ahead; true: drop from the page cache
  };
  LayerStreamer() = default;
  void Worker();

  int64_t first_ = 0, n_layers_ = 0;
  std::vector<int64_t> next_;   // [n_layers]: the next streamed layer after l, cyclically
  std::vector<bool> streamed_;  // [n_layers]
  std::vector<bool> pending_;   // [n_layers]: read-ahead queued since the layer's last eviction
  std::vector<std::vector<Range>> ranges_;  // [n_layers]: the layer's pages (streamed layers only)
  std::vector<int> fds_;                    // read-only descriptors of the mapped files, for fadvise
  uint64_t prefetches_ = 0, evictions_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Job> queue_;  // read-aheads first, then drops
  bool stop_ = false;
  std::thread worker_;
};

}  // namespace septet::model
