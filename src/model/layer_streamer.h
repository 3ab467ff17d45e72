// Layer streaming: layers [first, n_layers) of a model whose weights are memory-
// mapped are not kept resident. Before layer l runs, the next streamed layer is
// handed to a helper thread that asks the kernel to read it ahead
// (madvise MADV_WILLNEED over its pages); after a streamed layer has run, its pages
// are dropped from this process (MADV_DONTNEED: the mapping is read-only and
// file-backed, so the next touch faults the file's bytes back in). The weights
// the forward pass reads are the same bytes either way, so the output is
// bit-identical to the all-resident run.
//
// Only mapped bytes can be streamed: a layer whose weights were converted or
// repacked at load (owned copies) or whose file was read into memory (the mmap
// fallback) is refused -- MADV_DONTNEED on private memory would zero it.
#pragma once

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
  // first: the first streamed layer (0 <= first < n_layers).
  static Result<std::unique_ptr<LayerStreamer>> Create(const LlamaModel& model, int64_t first);
  ~LayerStreamer();
  LayerStreamer(const LayerStreamer&) = delete;
  LayerStreamer& operator=(const LayerStreamer&) = delete;

  // Called by the forward pass around each layer.
  void BeforeLayer(int64_t l);
  void AfterLayer(int64_t l);

  int64_t first() const { return first_; }
  uint64_t prefetches() const { return prefetches_; }
  uint64_t evictions() const { return evictions_; }

 private:
  using Range = std::pair<uintptr_t, uintptr_t>;  // page-aligned [begin, end)
  LayerStreamer() = default;
  void Worker();

  int64_t first_ = 0, n_layers_ = 0;
  std::vector<std::vector<Range>> ranges_;  // [n_layers]: the layer's pages (streamed layers only)
  uint64_t prefetches_ = 0, evictions_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<int64_t> queue_;  // layers to read ahead
  bool stop_ = false;
  std::thread worker_;
};

}  // namespace septet::model
