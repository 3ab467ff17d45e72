// SIMD tier of the CPU kernels (Highway, runtime dispatch). Every function here
// has a scalar reference it is tested against on every compiled target:
//   QuantizeActivation  <-> registry from_float of the activation type
//   MatVecRows/MatMulRows <-> registry vec_dot (kernels/cpu/matmul.h)
//   RmsNorm/Softmax/SiluMul <-> kernels/cpu/{rmsnorm,softmax,swiglu}.h
//   Q4TFreeStartCosts/Q4TSurvivorStep <-> quant/q4_t.h (bit for bit)
//   SubScaledRows, SegmentDots <-> their scalar loops (bit for bit)
//   NlScaleErrors, NlStoredErrors, NlBlockScales <-> quant/nl_codebook.h (bit for bit)
//   Q8_0CandidateErrors <-> quant/q8_0.h (bit for bit)
//   AffineCodeSums, AffineErrors <-> quant/affine_fit.h (bit for bit)
//   FromFloat <-> registry from_float (the same bytes)
//
// Threading: every function is reentrant and keeps no mutable global state
// (scratch lives on the stack or in buffers local to the call), so callers may
// run MatVecRows / MatMulRows on disjoint row ranges from several threads at
// once. No alignment is required of any pointer. Dispatch happens once per call
// (Highway picks the best compiled target for the CPU on first use).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/dtype.h"
#include "kernels/cpu/hadamard.h"
#include "kernels/cpu/weight_view.h"

namespace septet::quant {
struct NlBlockQuadratic;
struct NlCodebook;
struct Q4TSearchLane;
struct Q4TSurvivors;
}  // namespace septet::quant

namespace septet::simd {

// Activation row x[n] in `act_type` (ActivationType of the weights): Q8_A,
// Q8_B, Q8_R, or F32 (a plain copy). Writes GetTypeTraits(act_type).row_bytes(n)
// bytes, identical to the registry from_float of act_type.
void QuantizeActivation(DType act_type, const float* x, int64_t n, uint8_t* out);

// The activation type the kernels below expect for w: Q8_B (blocks of 128) for
// Q3P5 in the repacked kQ3P5Slots layout, the registry's vec_dot_type of w.type
// otherwise (its reference: quant::Q3P5VecDotQ8B resp. the registry vec_dot).
DType ActivationType(const cpu::WeightView& w);

// y[i] = dot(W.row(r0 + i), x) for r0 <= r0 + i < r1, where
// act = QuantizeActivation(ActivationType(W), x). Kernels per format for
// F32, F16, BF16, Q8_0, Q4_G, Q3P5, Q3P5_NL, Q4_NL, Q4_T, Q3P5_SEED and the ggml blocks Q4_0, Q4_1,
// Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS (Q8_A activations);
// CHECK-fails for a type without a kernel.
// Results agree with the registry vec_dot within the error bound documented in
// simd_matvec_test.cc (integer parts exact; the per-block float terms are
// accumulated in a different order, and with FMA); Q4_NL's and Q4_T's are bit-identical.
void MatVecRows(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act, float* y);

// Prefill: m activation rows, row t at act + t * act_stride (bytes);
// y[t * y_stride + r] for t < m and r0 <= r < r1. Weight blocks are decoded once
// per tile of rows and reused for a tile of tokens. Bit-identical to calling
// MatVecRows once per token (same target).
void MatMulRows(const cpu::WeightView& w, int64_t r0, int64_t r1, const uint8_t* act,
                size_t act_stride, int64_t m, float* y, int64_t y_stride);

// Float ops with the semantics of the scalar kernels in kernels/cpu/.
void RmsNorm(float* out, const float* x, const float* weight, int64_t n, float eps);
void Softmax(float* x, int64_t n);
void SiluMul(float* out, const float* gate, const float* up, int64_t n);
float Dot(const float* a, const float* b, int64_t n);     // attention scores
// x ← T(x) of a rotated model: bit-identical to rot.Apply(x) (same operations, same order).
void RotateInput(const cpu::InputRotation& rot, float* x);
void RotateInput(const cpu::InputRotation& rot, double* x);  // rot.Apply(double*)'s bits
void Axpy(float a, const float* x, float* y, int64_t n);  // y += a * x

// Q4_T's quantizer searches (trellis_search.cc): the same bits as the scalar
// quant::Q4TFreeStartCosts and quant::Q4TSurvivorStep (quant/q4_t.h).
void Q4TFreeStartCosts(const quant::Q4TSearchLane* lanes, int n, float* cost);
// quant::Q4TViterbi's codes and cost, bit for bit (trellis_search.cc: the 32 states in
// lanes).
double Q4TViterbi(const float* w, const float* v, const float* imp, int64_t n, uint8_t* codes);
void Q4TSurvivorStep(quant::Q4TSurvivors* sv, const float* band, float target, float v, float ujj, int slot);
// Q4TSurvivorStep for n independent rows (two at a time, interleaved): row i gets
// Q4TSurvivorStep(rows[i].sv, rows[i].band, ...)'s bits.
struct Q4TStepRow {
  quant::Q4TSurvivors* sv;
  const float* band;
  float target, v, ujj;
  int slot;
};
void Q4TSurvivorSteps(const Q4TStepRow* rows, int n);
// GPTQ's error feedback (gptq_update.cc): w[k] -= e[j] * u[j * ld + k] for
// k < n and j = 0 .. nj - 1 in that order, a multiply and then a subtract per term
// (no FMA): the bits of that scalar loop (built without contraction) on every target.
void SubScaledRows(float* w, int64_t n, const float* e, int64_t nj, const float* u, int64_t ld);
// SubScaledRows on nr rows w[i] with their own e[i][0 .. nj), sharing u: each vector of
// u is loaded once for up to four rows. Row i gets SubScaledRows(w[i], n, e[i], nj, u, ld)'s bits.
void SubScaledRowsBatch(float* const* w, const float* const* e, int nr, int64_t n, int64_t nj, const float* u,
                        int64_t ld);
// out[s] = sum over k < seg of a[s seg + k] * b[s seg + k], k ascending, a multiply
// then an add per term (gptq_update.cc): the scalar loop's bits, for s < nseg.
void SegmentDots(const double* a, const double* b, int64_t seg, int64_t nseg, double* out);
// The NL scale search's candidates (nl_search.cc), one per lane: the same bits as
// quant::NlScaleErrors (quant/nl_codebook.h; codebooks of 2 .. 16 levels).
void NlScaleErrors(const quant::NlCodebook& cb, const float* w, const float* imp, int len, const float* t, int n,
                   double* err, float* lsq);
// The NL scale choice's candidates (nl_search.cc), weights in lanes: the same bits as
// quant::NlStoredErrors (quant/nl_codebook.h; groups of at most 128 weights).
void NlStoredErrors(const quant::NlCodebook& cb, const float* w, const float* imp, int len, float d, const int* s,
                    int n, double* err, uint8_t* codes);
// The refit's block scales (nl_search.cc), one candidate step per lane: the same bits as
// quant::NlBlockScales (quant/nl_codebook.h).
void NlBlockScales(const quant::NlBlockQuadratic& p, const double* deff, int n, double* q, double* scales);
// SearchAffine's passes (affine_search.cc), one candidate (d[j], m[j]) per lane: the
// same bits as quant::AffineCodeSums and quant::AffineErrors (quant/affine_fit.h).
void AffineCodeSums(const float* w, const float* imp, int n, const float* d, const float* m, int k, int max_code,
                    double* s1, double* s2, double* t1);
void AffineErrors(const float* w, const float* imp, int n, const float* d, const float* m, int k, int max_code,
                  double* err);
// A weight type's row quantizer (quant/registry.h's from_float signature) with its
// searches in SIMD where they have a twin here (quantize_rows.cc: Q3P5, Q3P5_NL, Q4_G,
// Q4_NL, Q4_T, Q8_0): the same bytes as GetTypeTraits(type).from_float, which it returns for the
// other types (null for the input-only ones).
using FromFloatFn = void (*)(const float* src, void* dst, int64_t n, const float* importance);
FromFloatFn FromFloat(DType type);
// Q8_0's scale candidates (q8_search.cc), one per lane: the same bits as
// quant::Q8_0CandidateErrors (quant/q8_0.h).
void Q8_0CandidateErrors(const float* w, const float* imp, int len, const float* d0, int n, uint16_t* d16,
                         double* err);
// One query head over n_pos cached keys / values (cpu::AttendHead's contract):
// scores[t] = q . k_t * scale, Softmax(scores), out = sum_t scores[t] v_t, in
// one call. Its float arithmetic is its own (vec_ops.cc: on the hand-written
// x86 targets each score's lanes fold in a fixed tree, the value sum runs in
// two FMA chains), fixed per target whatever the call, so decode, prefill and
// AttendGroup give a token the same bits.
void AttendHead(const float* q, const float* k, const float* v, int64_t n_pos, int64_t head_dim, int64_t stride,
                float scale, float* scores, float* out);
// AttendHead for n_q query heads over the same keys / values (one GQA group):
// head g reads q + g q_stride and writes out + g out_stride, with the bits of
// AttendHead(q + g q_stride, ..., out + g out_stride); scores holds n_q rows of
// n_pos. Faster than n_q calls: the heads share each block of keys and values.
void AttendGroup(const float* q, int64_t q_stride, int64_t n_q, const float* k, const float* v, int64_t n_pos,
                 int64_t head_dim, int64_t stride, float scale, float* scores, float* out, int64_t out_stride);

// Name of the Highway target dispatch chose for this CPU, e.g. "AVX2".
const char* TargetName();

// Caps dispatch at the target named `name` (as TargetName spells it, any case:
// "AVX3_DL", "AVX3", "AVX2", "SSE4", "EMU128", ...) for the rest of the process:
// every better target is disabled, so one machine can measure each target's
// kernels (the CLI's SEPTET_SIMD). Call it before loading a model (the load-time
// repack depends on the target). False, with *error naming the targets this CPU
// runs, when `name` is not one of them.
bool CapTarget(const std::string& name, std::string* error);

}  // namespace septet::simd
