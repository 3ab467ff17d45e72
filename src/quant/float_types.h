// Float storage types: F32, F16 (IEEE binary16), BF16. One value per "block".
// Rows may start at any byte address (loads go through memcpy).
// Their vec_dot takes float activations (vec_dot_type kF32) and accumulates in
// double: the reference is the most accurate path, not the fastest.
#pragma once

#include <cstdint>

namespace septet::quant {

void F32ToFloat(const void* src, float* dst, int64_t n);
void F32FromFloat(const float* src, void* dst, int64_t n, const float* importance);
float F32VecDot(int64_t n, const void* w, const void* x);

void F16ToFloat(const void* src, float* dst, int64_t n);
void F16FromFloat(const float* src, void* dst, int64_t n, const float* importance);
float F16VecDot(int64_t n, const void* w, const void* x);

void Bf16ToFloat(const void* src, float* dst, int64_t n);
void Bf16FromFloat(const float* src, void* dst, int64_t n, const float* importance);
float Bf16VecDot(int64_t n, const void* w, const void* x);

}  // namespace septet::quant
