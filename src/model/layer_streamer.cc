#include "model/layer_streamer.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>

#include "core/mapped_file.h"
#include "io/model_file.h"
#include "model/memory_plan.h"
#include "model/weights.h"

namespace septet::model {

static_assert(LayerStreamer::kRingSlots == kStreamRingLayers, "the memory plan counts the streamer's ring");

namespace {

// O_DIRECT wants offsets, lengths and buffers aligned to the device's logical
// block (512 B or 4 KiB); 4 KiB satisfies both and is the page size.
constexpr uint64_t kAlign = 4096;
// Two tensors of a layer closer than this in the file are read as one extent
// (the gap is read and ignored); farther apart (llama2.c files store each kind of
// tensor for every layer in a row), as two.
constexpr uint64_t kMergeGap = 64 * 1024;

// The file whose mapping holds [p, p + n), or null.
const MappedFile* MappedOwner(const ModelFile& file, const uint8_t* p, size_t n) {
  for (const auto& f : file.files()) {
    if (f->mapped() && p >= f->data() && p + n <= f->data() + f->size()) return f.get();
  }
  return nullptr;
}

}  // namespace

Result<std::unique_ptr<LayerStreamer>> LayerStreamer::Create(const LlamaModel& model, int64_t first) {
  const int64_t n_layers = model.hparams().n_layers;
  if (first < 0 || first >= n_layers) {
    return InvalidArgument("layer streaming: first streamed layer %" PRId64 " outside [0, %" PRId64 ")", first,
                           n_layers);
  }
  std::vector<int64_t> layers;
  for (int64_t l = first; l < n_layers; ++l) layers.push_back(l);
  return Create(model, layers);
}

Result<std::unique_ptr<LayerStreamer>> LayerStreamer::Create(const LlamaModel& model,
                                                             const std::vector<int64_t>& layers) {
  const int64_t n_layers = model.hparams().n_layers;
  if (layers.empty()) return InvalidArgument("layer streaming: no layer to stream");
  for (size_t i = 0; i < layers.size(); ++i) {
    if (layers[i] < 0 || layers[i] >= n_layers || (i > 0 && layers[i] <= layers[i - 1])) {
      return InvalidArgument("layer streaming: layer %" PRId64 " (entry %zu) is outside [0, %" PRId64
                             ") or out of order",
                             layers[i], i, n_layers);
    }
  }
  std::unique_ptr<LayerStreamer> s(new LayerStreamer());
  s->model_ = &model;
  s->first_ = layers.front();
  s->n_layers_ = n_layers;
  s->extents_.resize(static_cast<size_t>(n_layers));
  s->parts_.resize(static_cast<size_t>(n_layers));
  s->streamed_.assign(static_cast<size_t>(n_layers), false);
  for (int64_t l : layers) s->streamed_[static_cast<size_t>(l)] = true;
  s->next_.assign(static_cast<size_t>(n_layers), -1);
  for (int64_t l = 0; l < n_layers; ++l) {
    for (int64_t k = 1; k <= n_layers; ++k) {
      const int64_t c = (l + k) % n_layers;
      if (s->streamed_[static_cast<size_t>(c)]) {
        s->next_[static_cast<size_t>(l)] = c;
        break;
      }
    }
  }
  std::vector<const MappedFile*> owners;  // parallel to s->files_
  for (int64_t l : layers) {
    // Each tensor's (file, offset, size), sorted by where it lies in the file.
    struct Span {
      int file = 0;
      uint64_t offset = 0, size = 0;
      size_t part = 0;
    };
    std::vector<Span> spans;
    const std::vector<ByteSpan> bytes = LayerSpans(model.weights().layers[static_cast<size_t>(l)], model.hparams().dim);
    for (size_t i = 0; i < bytes.size(); ++i) {
      const MappedFile* owner = MappedOwner(model.file(), bytes[i].data, bytes[i].size);
      if (owner == nullptr) {
        return Unsupported("layer streaming: layer %" PRId64 " of %s is not read from a file mapping (converted "
                           "or repacked at load, or the file was read into memory); only mapped weights can be "
                           "streamed",
                           l, model.file().path().c_str());
      }
      size_t f = 0;
      while (f < owners.size() && owners[f] != owner) ++f;
      if (f == owners.size()) {
        owners.push_back(owner);
        File file;
        file.path = owner->path();
        const char* no_direct = std::getenv("SEPTET_NO_DIRECT_IO");
        if (no_direct == nullptr || std::string(no_direct) != "1") {
          file.direct_fd = ::open(file.path.c_str(), O_RDONLY | O_CLOEXEC | O_DIRECT);
        }
        file.buffered_fd = ::open(file.path.c_str(), O_RDONLY | O_CLOEXEC);
        if (file.buffered_fd < 0) {
          if (file.direct_fd >= 0) ::close(file.direct_fd);
          return IoError("layer streaming: cannot open %s for reading: %s", file.path.c_str(), std::strerror(errno));
        }
        s->files_.push_back(file);
      }
      spans.push_back({static_cast<int>(f), static_cast<uint64_t>(bytes[i].data - owner->data()), bytes[i].size, i});
    }
    std::sort(spans.begin(), spans.end(),
              [](const Span& a, const Span& b) { return a.file != b.file ? a.file < b.file : a.offset < b.offset; });
    std::vector<Extent>& ext = s->extents_[static_cast<size_t>(l)];
    std::vector<Part>& parts = s->parts_[static_cast<size_t>(l)];
    parts.resize(bytes.size());
    std::vector<std::pair<size_t, uint64_t>> placed;  // (part, extent index)
    for (const Span& sp : spans) {
      const uint64_t begin = sp.offset / kAlign * kAlign, end = (sp.offset + sp.size + kAlign - 1) / kAlign * kAlign;
      if (ext.empty() || ext.back().file != sp.file ||
          begin > static_cast<uint64_t>(ext.back().offset) + ext.back().length + kMergeGap) {
        ext.push_back({sp.file, static_cast<off_t>(begin), static_cast<size_t>(end - begin), 0});
      } else {
        const uint64_t e = std::max<uint64_t>(end, static_cast<uint64_t>(ext.back().offset) + ext.back().length);
        ext.back().length = static_cast<size_t>(e - static_cast<uint64_t>(ext.back().offset));
      }
      placed.emplace_back(sp.part, ext.size() - 1);
    }
    size_t at = 0;
    for (Extent& e : ext) {
      e.buf_offset = at;
      at += e.length;
    }
    for (size_t k = 0; k < spans.size(); ++k) {
      const Extent& e = ext[placed[k].second];
      parts[placed[k].first].buf_offset = e.buf_offset + (spans[k].offset - static_cast<uint64_t>(e.offset));
    }
    s->slot_bytes_ = std::max(s->slot_bytes_, at);
  }
  // The descriptors belong to the reader thread from here on; direct_io() reads only these flags.
  s->direct_opened_ = std::all_of(s->files_.begin(), s->files_.end(), [](const File& f) { return f.direct_fd >= 0; });
  for (Slot& slot : s->slots_) {
    void* p = ::mmap(nullptr, s->slot_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      return IoError("layer streaming: cannot allocate a %zu-byte layer buffer: %s", s->slot_bytes_,
                     std::strerror(errno));
    }
    slot.data = static_cast<uint8_t*>(p);
  }
  s->worker_ = std::thread([raw = s.get()] { raw->Worker(); });
  return s;
}

LayerStreamer::~LayerStreamer() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  work_cv_.notify_one();
  if (worker_.joinable()) worker_.join();
  for (Slot& slot : slots_) {
    if (slot.data != nullptr) ::munmap(slot.data, slot_bytes_);
  }
  for (File& f : files_) {
    if (f.direct_fd >= 0) ::close(f.direct_fd);
    if (f.buffered_fd >= 0) ::close(f.buffered_fd);
  }
}

uint64_t LayerStreamer::bytes_read() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_read_;
}

bool LayerStreamer::direct_io() const {
  std::lock_guard<std::mutex> lock(mu_);
  return direct_opened_ && !direct_refused_;
}

Status LayerStreamer::ReadLayer(int64_t layer, uint8_t* dst) {
  for (const Extent& e : extents_[static_cast<size_t>(layer)]) {
    File& f = files_[static_cast<size_t>(e.file)];
    size_t got = 0;
    while (got < e.length) {
      const bool direct = f.direct_fd >= 0;
      const ssize_t n = ::pread(direct ? f.direct_fd : f.buffered_fd, dst + e.buf_offset + got, e.length - got,
                                e.offset + static_cast<off_t>(got));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EINVAL && direct) {  // the filesystem refuses O_DIRECT: buffered from now on
        ::close(f.direct_fd);
        f.direct_fd = -1;
        std::lock_guard<std::mutex> lock(mu_);
        direct_refused_ = true;
        continue;
      }
      if (n < 0) {
        return IoError("layer streaming: reading layer %" PRId64 " of %s at byte %" PRIu64 ": %s", layer,
                       f.path.c_str(), static_cast<uint64_t>(e.offset) + got, std::strerror(errno));
      }
      if (n == 0) break;  // end of file: the extent was rounded up past it
      got += static_cast<size_t>(n);
    }
    // The bytes the tensors need end at most kAlign - 1 bytes before the rounded end.
    if (got + kAlign <= e.length) {
      return IoError("layer streaming: %s ended at byte %" PRIu64 " while reading layer %" PRId64
                     " (the file is shorter than its tensor directory says)",
                     f.path.c_str(), static_cast<uint64_t>(e.offset) + got, layer);
    }
    // Buffered: keep the page cache for the resident layers (advice; failure harmless).
    if (f.direct_fd < 0) ::posix_fadvise(f.buffered_fd, e.offset, static_cast<off_t>(e.length), POSIX_FADV_DONTNEED);
    std::lock_guard<std::mutex> lock(mu_);
    bytes_read_ += got;
  }
  return Status::Ok();
}

void LayerStreamer::Worker() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    work_cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    if (stop_) return;
    const int s = queue_.front();
    queue_.erase(queue_.begin());
    // While queued, the slot's layer and buffer belong to this thread.
    const int64_t layer = slots_[s].layer;
    uint8_t* dst = slots_[s].data;
    lock.unlock();
    const Status st = ReadLayer(layer, dst);
    lock.lock();
    slots_[s].state = st.ok() ? SlotState::kReady : SlotState::kFailed;
    slots_[s].error = st.ok() ? "" : st.message();
    done_cv_.notify_all();
  }
}

int LayerStreamer::SlotFor(int64_t l) const {
  for (int s = 0; s < kRingSlots; ++s) {
    if (slots_[s].layer == l && slots_[s].state != SlotState::kFree) return s;
  }
  return -1;
}

int LayerStreamer::FreeSlot(int avoid) const {
  for (int s = 0; s < kRingSlots; ++s) {
    if (s != avoid && slots_[s].state == SlotState::kFree) return s;
  }
  return -1;
}

void LayerStreamer::Queue(int64_t l, int s) {
  Slot& slot = slots_[s];
  slot.layer = l;
  slot.state = SlotState::kQueued;
  slot.bound = model_->weights().layers[static_cast<size_t>(l)];
  const std::vector<Part>& parts = parts_[static_cast<size_t>(l)];
  const std::vector<cpu::WeightView*> views = LayerMatrices(slot.bound);
  for (size_t i = 0; i < views.size(); ++i) views[i]->data = slot.data + parts[i].buf_offset;
  slot.bound.attn_norm = reinterpret_cast<const float*>(slot.data + parts[views.size()].buf_offset);
  slot.bound.ffn_norm = reinterpret_cast<const float*>(slot.data + parts[views.size() + 1].buf_offset);
  queue_.push_back(s);
  ++prefetches_;
  work_cv_.notify_one();
}

Result<const LayerWeights*> LayerStreamer::BeforeLayer(int64_t l) {
  const LayerWeights* w = &model_->weights().layers[static_cast<size_t>(l)];
  std::unique_lock<std::mutex> lock(mu_);
  int mine = -1;
  if (streamed_[static_cast<size_t>(l)]) {
    mine = SlotFor(l);
    if (mine < 0) {  // not read ahead (the first pass, or a ring taken by other layers)
      mine = FreeSlot(-1);
      if (mine < 0) {
        mine = 0;  // reclaim a read-ahead of another layer once its read is done
        done_cv_.wait(lock, [&] { return slots_[mine].state != SlotState::kQueued; });
      }
      Queue(l, mine);
    }
    done_cv_.wait(lock, [&] { return slots_[mine].state != SlotState::kQueued; });
    if (slots_[mine].state == SlotState::kFailed) {
      const std::string error = slots_[mine].error;
      slots_[mine].state = SlotState::kFree;
      slots_[mine].layer = -1;
      return IoError("%s", error.c_str());
    }
    w = &slots_[mine].bound;
  }
  const int64_t next = next_[static_cast<size_t>(l)];
  if (next != l && SlotFor(next) < 0) {
    const int s = FreeSlot(mine);
    if (s >= 0) Queue(next, s);
  }
  return w;
}

void LayerStreamer::AfterLayer(int64_t l) {
  if (!streamed_[static_cast<size_t>(l)]) return;
  std::lock_guard<std::mutex> lock(mu_);
  const int s = SlotFor(l);
  if (s >= 0) {
    slots_[s].state = SlotState::kFree;
    slots_[s].layer = -1;
  }
  ++evictions_;
  // The buffer is free: read the next streamed layer into it now (with one
  // streamed layer that is l itself, for the next pass).
  const int64_t next = next_[static_cast<size_t>(l)];
  if (SlotFor(next) < 0) {
    const int f = FreeSlot(-1);
    if (f >= 0) Queue(next, f);
  }
}

}  // namespace septet::model
