// Layer streaming: the streamed layers of a model whose weights are memory-mapped
// are never read through the mapping. Each is read from the file with pread into
// one of two layer buffers (a ring) on a reader thread, and the forward pass runs
// that layer on a copy of its LayerWeights whose pointers are bound to the buffer.
// Before layer l runs, the next streamed layer after l (in this pass or the next)
// is queued for reading into the free buffer, so the disk reads it while l (and the
// resident layers before it) compute; a streamed layer waits only for its own read.
// After it has run, its buffer is free again.
//
// The file is opened with O_DIRECT (buffers and extents 4 KiB-aligned), so the
// bytes go from the disk to the buffer without the page cache: no page faults on
// the mapping (a 70B pass faulted in 22 GB in 4 KiB pages) and no page-cache
// round trips (madvise / fadvise per layer), and the streamed layers cannot push
// the resident layers' pages out of the cache. Where O_DIRECT is refused (tmpfs,
// some network filesystems: open or the first read fails with EINVAL) the reads
// are buffered and each extent is dropped from the page cache after it was read
// (posix_fadvise DONTNEED), as before. SEPTET_NO_DIRECT_IO=1 forces buffered reads.
//
// The buffers hold the file's bytes at the same offsets modulo 4 KiB as the
// mapping, so alignment is unchanged, and the forward pass reads the same bytes:
// the output is bit-identical to the all-resident run.
//
// Only mapped weights are streamed: a layer whose weights were converted or
// repacked at load (owned copies), or whose file was read into memory (the mmap
// fallback), is refused -- its bytes are not the file's, or streaming saves nothing.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"
#include "model/llama_model.h"

namespace septet::model {

class LayerStreamer {
 public:
  // Buffers in the ring: the layer computing and the next one being read.
  static constexpr int kRingSlots = 2;

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

  // Called by the forward pass around each layer: the weights layer l runs on (the
  // model's for a resident layer; bound to a ring buffer, once read, for a streamed
  // one). kIoError when the read failed or the file ended early.
  Result<const LayerWeights*> BeforeLayer(int64_t l);
  void AfterLayer(int64_t l);

  // The first streamed layer.
  int64_t first() const { return first_; }
  uint64_t prefetches() const { return prefetches_; }  // layer reads queued
  uint64_t evictions() const { return evictions_; }    // buffers released after a streamed layer ran
  uint64_t bytes_read() const;                         // from the file, all reads so far
  bool direct_io() const;                              // O_DIRECT in use (not refused by the filesystem)
  uint64_t buffer_bytes() const { return slot_bytes_ * kRingSlots; }

 private:
  struct Extent {
    int file = 0;           // index into files_
    off_t offset = 0;       // 4 KiB-aligned file offset
    size_t length = 0;      // 4 KiB-aligned
    size_t buf_offset = 0;  // where it lands in the layer's buffer
  };
  struct Part {
    size_t buf_offset = 0;  // where the tensor's first byte lands in the buffer
  };
  struct File {
    std::string path;
    int direct_fd = -1;  // O_DIRECT; -1 once refused
    int buffered_fd = -1;
  };
  enum class SlotState { kFree, kQueued, kReady, kFailed };
  struct Slot {
    uint8_t* data = nullptr;
    int64_t layer = -1;
    SlotState state = SlotState::kFree;
    std::string error;
    LayerWeights bound;  // the layer's views, rebound to data
  };
  LayerStreamer() = default;
  void Worker();
  Status ReadLayer(int64_t layer, uint8_t* dst);
  // A slot for layer l: its own if queued or read already, else a free one (-1: none).
  int SlotFor(int64_t l) const;
  int FreeSlot(int avoid) const;
  void Queue(int64_t l, int slot);  // mu_ held

  const LlamaModel* model_ = nullptr;
  int64_t first_ = 0, n_layers_ = 0;
  std::vector<int64_t> next_;   // [n_layers]: the next streamed layer after l, cyclically
  std::vector<bool> streamed_;  // [n_layers]
  std::vector<std::vector<Extent>> extents_;  // [n_layers]: what to read (streamed layers only)
  std::vector<std::vector<Part>> parts_;      // [n_layers]: LayerSpans order
  std::vector<File> files_;
  size_t slot_bytes_ = 0;
  uint64_t prefetches_ = 0, evictions_ = 0, bytes_read_ = 0;
  bool direct_opened_ = false;   // every file opened with O_DIRECT
  bool direct_refused_ = false;  // a read with O_DIRECT failed with EINVAL: buffered since
  mutable std::mutex mu_;
  std::condition_variable work_cv_, done_cv_;
  Slot slots_[kRingSlots];
  std::vector<int> queue_;  // slots to read, in order
  bool stop_ = false;
  std::thread worker_;
};

}  // namespace septet::model
