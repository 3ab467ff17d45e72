#include "quantize/input_prep.h"

#include <algorithm>
#include <utility>

#include "kernels/cpu/hadamard.h"
#include "kernels/simd/simd_ops.h"
#include "quantize/parallel_rows.h"

namespace septet::quantize {

// H' = E[T(x) T(x)ᵀ] = T H Tᵀ. Transforming every row of a matrix X gives X Tᵀ, so with
// H symmetric: rows of H → H Tᵀ, transposed → T H, rows again → T H Tᵀ (row passes and
// a blocked transpose instead of strided columns: for an 11008-wide input H is 0.97 GB).
void RotateHessian(std::vector<double>* h, int64_t cols, int threads) {
  const cpu::InputRotation t(cols);
  double* a = h->data();
  const auto rows = [&](int64_t r0, int64_t r1) {
    for (int64_t i = r0; i < r1; ++i) simd::RotateInput(t, a + i * cols);  // t.Apply's bits
  };
  ParallelRows(cols, threads, rows);
  constexpr int64_t kTile = 64;
  for (int64_t i0 = 0; i0 < cols; i0 += kTile) {
    for (int64_t j0 = i0; j0 < cols; j0 += kTile) {
      for (int64_t i = i0; i < std::min(i0 + kTile, cols); ++i) {
        for (int64_t j = std::max(j0, i + 1); j < std::min(j0 + kTile, cols); ++j) {
          std::swap(a[i * cols + j], a[j * cols + i]);
        }
      }
    }
  }
  ParallelRows(cols, threads, rows);
}

InputPrep::InputPrep(std::vector<InputPrepRequest> requests, double damp, bool act_order, int threads,
                     int lookahead)
    : damp_(damp), act_order_(act_order), threads_(std::max(1, threads)), lookahead_(std::max(0, lookahead)) {
  for (const InputPrepRequest& r : requests) {
    if (r.stats == nullptr || index_.count(r.stats) != 0) continue;
    index_[r.stats] = entries_.size();
    auto e = std::make_unique<Entry>();
    e->req = r;
    entries_.push_back(std::move(e));
  }
  for (size_t i = 0; i < entries_.size() && static_cast<int>(i) < lookahead_; ++i) Start(i);
}

InputPrep::~InputPrep() {
  for (auto& e : entries_) {
    if (e->done.valid()) e->done.wait();
  }
}

void InputPrep::Prepare(Entry* e, int threads) const {
  const InputStats& s = *e->req.stats;
  e->h = s.Hessian();
  if (e->req.rotate && !e->h.empty()) RotateHessian(&e->h, s.cols, threads);
  if (e->req.factor && !e->h.empty()) MakeFactor(e);
}

void InputPrep::MakeFactor(Entry* e) const {
  e->factor = GptqPrepare(e->h, e->req.stats->cols, damp_, act_order_);
  if (e->req.float_u && e->factor->ok()) AddFloatFactor(&e->factor->value());
}

void InputPrep::Start(size_t i) {
  Entry* e = entries_[i].get();
  if (e->started) return;
  e->started = true;
  // One worker: the tensor being quantized has the cores; this fills their gaps.
  e->done = std::async(std::launch::async, [this, e] { Prepare(e, 1); });
}

InputPrep::Entry* InputPrep::Ready(const InputStats* stats) {
  auto it = index_.find(stats);
  if (it == index_.end()) return nullptr;
  const size_t i = it->second;
  for (size_t j = i + 1; j < entries_.size() && j <= i + static_cast<size_t>(lookahead_); ++j) Start(j);
  Entry* e = entries_[i].get();
  if (!e->started) {
    e->started = true;
    Prepare(e, threads_);
  }
  if (e->done.valid()) e->done.get();  // rethrows what the helper threw (bad_alloc)
  return e;
}

const std::vector<double>* InputPrep::Hessian(const InputStats* stats) {
  Entry* e = Ready(stats);
  return e == nullptr ? nullptr : &e->h;
}

Result<const GptqFactor*> InputPrep::Factor(const InputStats* stats) {
  Entry* e = Ready(stats);
  if (e == nullptr || e->h.empty()) return Internal("GPTQ factor asked for an input without statistics");
  if (!e->factor.has_value()) MakeFactor(e);
  if (!e->factor->ok()) return e->factor->status();
  return &e->factor->value();
}

void InputPrep::Release(const InputStats* stats) {
  auto it = index_.find(stats);
  if (it == index_.end()) return;
  Entry* e = entries_[it->second].get();
  if (e->done.valid()) e->done.get();
  std::vector<double>().swap(e->h);
  e->factor.reset();
}

}  // namespace septet::quantize
