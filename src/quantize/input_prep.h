// What GPTQ needs of a weight matrix's input before the matrix's rows: H = XᵀX / N
// from the calibration (quantize/calibration.h), in the rotated basis under --rotate,
// and H's factor (quantize/gptq.h). The factor is three single-threaded LAPACK
// calls: on SmolLM2-135M (inputs 576 and 1536 wide) they and H's assembly were the
// quantize phase's serial part, about 5 of its 26 wall seconds with the other core
// idle. InputPrep computes them ahead, on a helper thread per input, `lookahead`
// inputs beyond the one the current tensor reads, while that tensor's rows run on
// every core. Each input's H and factor are the same operations in the same order
// as when computed on demand, so the quantized bytes do not change.
#pragma once

#include <cstdint>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "core/status.h"
#include "quantize/calibration.h"
#include "quantize/gptq.h"

namespace septet::quantize {

// H in the rotated basis (cpu::InputRotation T), in place: T H Tᵀ; the row passes on
// `threads` workers (the same bits for any count).
void RotateHessian(std::vector<double>* h, int64_t cols, int threads);

struct InputPrepRequest {
  const InputStats* stats = nullptr;
  bool rotate = false;  // H in the rotated basis
  bool factor = false;  // the GPTQ factor too
  bool float_u = false; // and its U in float (what GPTQ reads)
};

class InputPrep {
 public:
  // `requests`: each input once, in the order the tensors will ask for them.
  // `threads`: the workers for work done on demand (an input asked for before it was
  // computed ahead, or lookahead 0).
  InputPrep(std::vector<InputPrepRequest> requests, double damp, bool act_order, int threads, int lookahead);
  ~InputPrep();
  InputPrep(const InputPrep&) = delete;
  InputPrep& operator=(const InputPrep&) = delete;

  // The input's H, waiting for (or doing) its preparation; starts the next inputs'.
  // Null when `stats` was not requested.
  const std::vector<double>* Hessian(const InputStats* stats);
  // Its GPTQ factor (computed now when it was not requested ahead).
  Result<const GptqFactor*> Factor(const InputStats* stats);
  // Frees the input's H and factor (after its last tensor).
  void Release(const InputStats* stats);

 private:
  struct Entry {
    InputPrepRequest req;
    std::vector<double> h;                     // empty: the input has no XᵀX
    std::optional<Result<GptqFactor>> factor;  // unset until computed
    std::future<void> done;  // valid while a helper runs or until waited for
    bool started = false;
  };
  void Prepare(Entry* e, int threads) const;
  void MakeFactor(Entry* e) const;  // GptqPrepare (+ the float U when asked)
  void Start(size_t i);
  Entry* Ready(const InputStats* stats);

  std::vector<std::unique_ptr<Entry>> entries_;
  std::map<const InputStats*, size_t> index_;
  double damp_;
  bool act_order_;
  int threads_;
  int lookahead_;
};

}  // namespace septet::quantize
