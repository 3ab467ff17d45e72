#include "model/layer_streamer.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstddef>

#include "core/mapped_file.h"
#include "io/model_file.h"

namespace septet::model {
namespace {

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
  s->first_ = layers.front();
  s->n_layers_ = n_layers;
  s->ranges_.resize(static_cast<size_t>(n_layers));
  s->streamed_.assign(static_cast<size_t>(n_layers), false);
  s->pending_.assign(static_cast<size_t>(n_layers), false);
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
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  std::vector<const MappedFile*> opened;  // parallel to s->fds_
  const int64_t dim = model.hparams().dim;
  for (int64_t l : layers) {
    const LayerWeights& w = model.weights().layers[static_cast<size_t>(l)];
    std::vector<std::pair<const uint8_t*, size_t>> parts;
    for (const cpu::WeightView* v : {&w.wq, &w.wk, &w.wv, &w.wo, &w.w_gate, &w.w_up, &w.w_down}) {
      parts.emplace_back(v->data, static_cast<size_t>(v->rows) * v->row_bytes);
    }
    parts.emplace_back(reinterpret_cast<const uint8_t*>(w.attn_norm), static_cast<size_t>(dim) * sizeof(float));
    parts.emplace_back(reinterpret_cast<const uint8_t*>(w.ffn_norm), static_cast<size_t>(dim) * sizeof(float));
    for (const auto& [p, n] : parts) {
      const MappedFile* owner = MappedOwner(model.file(), p, n);
      if (owner == nullptr) {
        return Unsupported("layer streaming: layer %" PRId64 " of %s is not read from a file mapping (converted "
                           "or repacked at load, or the file was read into memory); only mapped weights can be "
                           "streamed",
                           l, model.file().path().c_str());
      }
      Range r;
      r.begin = reinterpret_cast<uintptr_t>(p) / page * page;
      r.end = (reinterpret_cast<uintptr_t>(p) + n + page - 1) / page * page;
      // The mapping starts at file offset 0 on a page boundary.
      r.offset = static_cast<off_t>(r.begin - reinterpret_cast<uintptr_t>(owner->data()));
      size_t i = 0;
      while (i < opened.size() && opened[i] != owner) ++i;
      if (i == opened.size()) {
        // Advice only: without a descriptor the page-cache drop is skipped.
        opened.push_back(owner);
        s->fds_.push_back(::open(owner->path().c_str(), O_RDONLY | O_CLOEXEC));
      }
      r.fd = s->fds_[i];
      s->ranges_[static_cast<size_t>(l)].push_back(r);
    }
  }
  s->worker_ = std::thread([raw = s.get()] { raw->Worker(); });
  return s;
}

LayerStreamer::~LayerStreamer() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  if (worker_.joinable()) worker_.join();
  for (int fd : fds_) {
    if (fd >= 0) ::close(fd);
  }
}

void LayerStreamer::Worker() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    if (stop_) return;
    const Job job = queue_.front();
    queue_.erase(queue_.begin());
    lock.unlock();
    // Advice: a failure only loses read-ahead or leaves pages cached.
    for (const Range& r : ranges_[static_cast<size_t>(job.layer)]) {
      if (!job.drop) {
        ::madvise(reinterpret_cast<void*>(r.begin), r.end - r.begin, MADV_WILLNEED);
      } else if (r.fd >= 0) {
        ::posix_fadvise(r.fd, r.offset, static_cast<off_t>(r.end - r.begin), POSIX_FADV_DONTNEED);
      }
    }
    lock.lock();
  }
}

void LayerStreamer::BeforeLayer(int64_t l) {
  // The next streamed layer to run after l (in this pass or the next), once
  // between two of its evictions.
  const int64_t next = next_[static_cast<size_t>(l)];
  if (next == l || pending_[static_cast<size_t>(next)]) return;
  pending_[static_cast<size_t>(next)] = true;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Ahead of any pending drop: the disk read is what the next layer waits for.
    // A pending drop of the same layer would undo this read: cancel it.
    for (size_t k = 0; k < queue_.size(); ++k) {
      if (queue_[k].drop && queue_[k].layer == next) queue_.erase(queue_.begin() + static_cast<std::ptrdiff_t>(k--));
    }
    size_t i = 0;
    while (i < queue_.size() && !queue_[i].drop) ++i;
    queue_.insert(queue_.begin() + static_cast<std::ptrdiff_t>(i), Job{next, false});
    ++prefetches_;
  }
  cv_.notify_one();
}

void LayerStreamer::AfterLayer(int64_t l) {
  if (!streamed_[static_cast<size_t>(l)]) return;
  pending_[static_cast<size_t>(l)] = false;
  for (const Range& r : ranges_[static_cast<size_t>(l)]) {
    ::madvise(reinterpret_cast<void*>(r.begin), r.end - r.begin, MADV_DONTNEED);
  }
  ++evictions_;
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(Job{l, true});
  }
  cv_.notify_one();
}

}  // namespace septet::model
