#include "model/layer_streamer.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cinttypes>

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
  std::unique_ptr<LayerStreamer> s(new LayerStreamer());
  s->first_ = first;
  s->n_layers_ = n_layers;
  s->ranges_.resize(static_cast<size_t>(n_layers));
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const int64_t dim = model.hparams().dim;
  for (int64_t l = first; l < n_layers; ++l) {
    const LayerWeights& w = model.weights().layers[static_cast<size_t>(l)];
    std::vector<std::pair<const uint8_t*, size_t>> parts;
    for (const cpu::WeightView* v : {&w.wq, &w.wk, &w.wv, &w.wo, &w.w_gate, &w.w_up, &w.w_down}) {
      parts.emplace_back(v->data, static_cast<size_t>(v->rows) * v->row_bytes);
    }
    parts.emplace_back(reinterpret_cast<const uint8_t*>(w.attn_norm), static_cast<size_t>(dim) * sizeof(float));
    parts.emplace_back(reinterpret_cast<const uint8_t*>(w.ffn_norm), static_cast<size_t>(dim) * sizeof(float));
    for (const auto& [p, n] : parts) {
      if (MappedOwner(model.file(), p, n) == nullptr) {
        return Unsupported("layer streaming: layer %" PRId64 " of %s is not read from a file mapping (converted "
                           "or repacked at load, or the file was read into memory); only mapped weights can be "
                           "streamed",
                           l, model.file().path().c_str());
      }
      const uintptr_t b = reinterpret_cast<uintptr_t>(p) / page * page;
      const uintptr_t e = (reinterpret_cast<uintptr_t>(p) + n + page - 1) / page * page;
      s->ranges_[static_cast<size_t>(l)].emplace_back(b, e);
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
}

void LayerStreamer::Worker() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    if (stop_) return;
    const int64_t l = queue_.front();
    queue_.erase(queue_.begin());
    lock.unlock();
    for (const auto& [b, e] : ranges_[static_cast<size_t>(l)]) {
      ::madvise(reinterpret_cast<void*>(b), e - b, MADV_WILLNEED);  // advice: a failure only loses read-ahead
    }
    lock.lock();
  }
}

void LayerStreamer::BeforeLayer(int64_t l) {
  // The next streamed layer to run: l + 1, or the first one of the next pass.
  const int64_t next = l + 1 < n_layers_ ? l + 1 : first_;
  if (next < first_ || next == l) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(next);
    ++prefetches_;
  }
  cv_.notify_one();
}

void LayerStreamer::AfterLayer(int64_t l) {
  if (l < first_) return;
  for (const auto& [b, e] : ranges_[static_cast<size_t>(l)]) {
    ::madvise(reinterpret_cast<void*>(b), e - b, MADV_DONTNEED);
  }
  ++evictions_;
}

}  // namespace septet::model
