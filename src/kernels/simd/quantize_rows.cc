// simd::FromFloat: the registry's from_float with its searches run by their SIMD
// twins (each tested bit for bit against its scalar reference on every target), so
// the bytes are the registry's. The weight types without such a twin get the
// registry's own from_float.
#include <iterator>

#include "kernels/simd/simd_ops.h"
#include "quant/affine_fit.h"
#include "quant/nl_codebook.h"
#include "quant/q3p5.h"
#include "quant/q3p5_nl.h"
#include "quant/q4_g.h"
#include "quant/q4_nl.h"
#include "quant/q4_t.h"
#include "quant/q8_0.h"
#include "quant/registry.h"

namespace septet::simd {
namespace {

constexpr quant::NlSearchFns kNlFns{&NlScaleErrors, &NlStoredErrors};
constexpr quant::AffineSearchFns kAffineFns{&AffineCodeSums, &AffineErrors};

void Q3P5Row(const float* src, void* dst, int64_t n, const float* imp) {
  quant::Q3P5QuantizeRowWith(src, dst, n, imp, kAffineFns);
}
void Q4GRow(const float* src, void* dst, int64_t n, const float* imp) {
  quant::Q4GQuantizeRowWith(src, dst, n, imp, kAffineFns);
}

void Q3P5NLRow(const float* src, void* dst, int64_t n, const float* imp) {
  quant::Q3P5NLQuantizeRowWith(src, dst, n, imp, kNlFns);
}
void Q4NLRow(const float* src, void* dst, int64_t n, const float* imp) {
  quant::Q4NLQuantizeRowWith(src, dst, n, imp, kNlFns);
}
void Q4TRow(const float* src, void* dst, int64_t n, const float* imp) {
  quant::Q4TQuantizeRowWith(src, dst, n, imp, quant::Q4TSearchFns{&Q4TFreeStartCosts, &Q4TViterbi});
}
void Q8_0Row(const float* src, void* dst, int64_t n, const float* imp) {
  quant::Q8_0QuantizeRowWith(src, dst, n, imp, &Q8_0CandidateErrors);
}

struct FastRow {
  DType type;
  FromFloatFn fn;
};
constexpr FastRow kFastRows[] = {
    {DType::kQ3P5, &Q3P5Row},
    {DType::kQ3P5_NL, &Q3P5NLRow},
    {DType::kQ4_G, &Q4GRow},
    {DType::kQ4_NL, &Q4NLRow},
    {DType::kQ4_T, &Q4TRow},
    {DType::kQ8_0, &Q8_0Row},
};

}  // namespace

FromFloatFn FromFloat(DType type) {
  for (const FastRow& r : kFastRows) {
    if (r.type == type) return r.fn;
  }
  return GetTypeTraits(type).from_float;
}

}  // namespace septet::simd
