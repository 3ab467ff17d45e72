// Decode and integer dot of every weight format, per "unit" of a row, written once
// for the CUDA kernels and for the host tests (which run without a GPU and check
// these functions bit for bit against the registry's reference codecs).
//
// Units (what one lane of a matvec warp handles at a time):
//   Q8_0, Q4_G, Q3P5: unit u = weights [32u, 32u + 32): Q8_0 block u; Q4_G / Q3P5
//       block u / 4, sub-block u % 4.
//       Q8_0 / Q4_G: one Q8_A activation block per unit; UnitDot returns the float term
//       the reference vec_dot adds for that unit, with the same operations in the same
//       order (MulRn / AddRn: no FMA contraction on the device), so each term is
//       bit-identical to the reference's; only the order in which the terms are summed
//       differs.
//       Q3P5: one Q8_B activation block (128 values) per Q3P5 block, the pairing of the
//       CPU's repacked Q3P5 kernels (simd::ActivationType), whose reference is
//       quant::Q3P5VecDotQ8B: Q3P5UnitAcc is a unit's exact integer dot, the units of
//       a block add theirs (int32: exact), and Q3P5BlockTerm is the reference's float
//       term for the block, bit for bit.
//   Q3P5_SEED: chunk c = weights [16c, 16c + 16) = pairs [8c, 8c + 8) = stream bytes
//       [7c, 7c + 7). SeedChunkDot returns the int32 partial of the row's integer dot;
//       int32 addition is exact here (|acc| <= 127 * 8 * n < 2^31 for n <= K_max), so
//       the summed row and SeedCombine are bit-identical to Q3P5SeedVecDot.
//   F32 / F16 / BF16: per element (DequantAt).
//
// Preconditions (the device upload guarantees them): rows start kRowAlign-aligned;
// activation codes are DeviceAct rows (4-aligned per unit, zero-padded to a multiple
// of 32 values), so codes past n contribute 0 whatever the padding weights hold.
#pragma once

#include <cstdint>
#include <cstring>

#include "core/dtype.h"

#if defined(__CUDACC__)
#define SEPTET_HD __host__ __device__ __forceinline__
#else
#define SEPTET_HD inline
#endif

namespace septet::cuda::decode {

// ---- portable primitives (device intrinsics / exact host emulation) ----

template <typename T>
SEPTET_HD T Load(const uint8_t* p) {
#if defined(__CUDA_ARCH__)
  return *reinterpret_cast<const T*>(p);  // aligned by construction (see above)
#else
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
#endif
}

SEPTET_HD float BitsAsFloat(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, 4);
  return f;
#endif
}

// IEEE binary16 -> float, exact (same algorithm as core/half.h Fp16ToFloat).
SEPTET_HD float HalfToFloat(uint32_t h) {
  const uint32_t sign = (h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1Fu;
  const uint32_t man = h & 0x3FFu;
  if (exp == 0) {
    const float v = static_cast<float>(man) * (1.0f / 16777216.0f);  // exact: man * 2^-24
    return sign ? -v : v;
  }
  if (exp == 31) return BitsAsFloat(sign | 0x7F800000u | (man << 13));
  return BitsAsFloat(sign | ((exp + 112u) << 23) | (man << 13));
}

SEPTET_HD float Bf16ToFloat(uint32_t b) { return BitsAsFloat((b & 0xFFFFu) << 16); }

// Rounded multiply / add that the device compiler may not fuse into an FMA, so the
// device computes exactly what the host reference computes.
SEPTET_HD float MulRn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
SEPTET_HD float AddRn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}

// c + sum_i int8(a.byte i) * int8(b.byte i).
SEPTET_HD int32_t Dp4a(uint32_t a, uint32_t b, int32_t c) {
#if defined(__CUDA_ARCH__)
  return __dp4a(static_cast<int>(a), static_cast<int>(b), c);
#else
  for (int i = 0; i < 4; ++i) {
    c += static_cast<int32_t>(static_cast<int8_t>(a >> (8 * i))) * static_cast<int8_t>(b >> (8 * i));
  }
  return c;
#endif
}

// Byte i of the result = byte ((s >> 4i) & 7) of the 8 bytes {x0..x3, y0..y3}.
SEPTET_HD uint32_t BytePerm(uint32_t x, uint32_t y, uint32_t s) {
#if defined(__CUDA_ARCH__)
  return __byte_perm(x, y, s);
#else
  const uint64_t bytes = (static_cast<uint64_t>(y) << 32) | x;
  uint32_t r = 0;
  for (int i = 0; i < 4; ++i) r |= static_cast<uint32_t>((bytes >> (8 * ((s >> (4 * i)) & 7u))) & 0xFFu) << (8 * i);
  return r;
#endif
}

// Bits 0..3 of n -> bytes 0..3 as 0/1 (the four shifted copies do not overlap, so
// the multiply is an OR).
SEPTET_HD uint32_t NibbleToBytes(uint32_t n) { return ((n & 0xFu) * 0x00204081u) & 0x01010101u; }
// The four 2-bit fields of byte b -> bytes 0..3 (field i at bits 2i..2i+1 -> byte i).
SEPTET_HD uint32_t CrumbsToBytes(uint32_t b) {
  b &= 0xFFu;
  return (b | (b << 6) | (b << 12) | (b << 18)) & 0x03030303u;
}

// ---- Q8_0: 34-byte blocks {fp16 d, int8 qs[32]} ----
SEPTET_HD float Q8_0UnitDot(const uint8_t* row, int64_t u, const int8_t* xq, float xd) {
  const uint8_t* blk = row + u * 34;
  const float d = HalfToFloat(Load<uint16_t>(blk));
  const uint8_t* qs = blk + 2;  // 2-aligned: read code pairs as uint16
  const uint8_t* x = reinterpret_cast<const uint8_t*>(xq) + u * 32;
  int32_t acc = 0;
  for (int j = 0; j < 8; ++j) {
    const uint32_t w = Load<uint16_t>(qs + 4 * j) | (static_cast<uint32_t>(Load<uint16_t>(qs + 4 * j + 2)) << 16);
    acc = Dp4a(w, Load<uint32_t>(x + 4 * j), acc);
  }
  // Reference: sum += (Fp16ToFloat(wb.d) * xb.d) * static_cast<float>(acc).
  return MulRn(MulRn(d, xd), static_cast<float>(acc));
}

// ---- Q4_G: 68-byte groups {fp16 d, fp16 m, nibbles qs[64]} of 128 weights ----
SEPTET_HD float Q4GUnitDot(const uint8_t* row, int64_t u, const int8_t* xq, float xd, int32_t xsum) {
  const uint8_t* blk = row + (u >> 2) * 68;
  const int s = static_cast<int>(u & 3);
  const uint32_t hdr = Load<uint32_t>(blk);
  const float d = HalfToFloat(hdr & 0xFFFFu);
  const float m = HalfToFloat(hdr >> 16);
  const uint8_t* qs = blk + 4 + 16 * s;
  const uint8_t* x = reinterpret_cast<const uint8_t*>(xq) + u * 32;
  int32_t acc = 0;
  for (int i = 0; i < 4; ++i) {  // word i: codes 8i .. 8i + 7 (low nibble = even k)
    const uint32_t w = Load<uint32_t>(qs + 4 * i);
    const uint32_t xa = Load<uint32_t>(x + 8 * i), xb = Load<uint32_t>(x + 8 * i + 4);
    acc = Dp4a(w & 0x0F0F0F0Fu, BytePerm(xa, xb, 0x6420u), acc);          // k = 8i + 0, 2, 4, 6
    acc = Dp4a((w >> 4) & 0x0F0F0F0Fu, BytePerm(xa, xb, 0x7531u), acc);   // k = 8i + 1, 3, 5, 7
  }
  // Reference: sum += xb.d * (d * acc + m * xb.sum).
  return MulRn(xd, AddRn(MulRn(d, static_cast<float>(acc)), MulRn(m, static_cast<float>(xsum))));
}

// ---- Q3P5: 56-byte blocks {hdr, sub[4] {lo[8], hi[4]}, ext[4]}; short final block ----
struct Q3P5Header {
  float d, m;
  int sel;
};
SEPTET_HD Q3P5Header Q3P5Unpack(uint32_t hdr) {
  Q3P5Header p;
  p.d = HalfToFloat(hdr & 0x7FFFu);
  p.sel = static_cast<int>((hdr >> 15) & 3u);
  p.m = HalfToFloat(((hdr >> 17) & 0x7FFFu) << 1);
  return p;
}

// Half-step codes v of weights 4j .. 4j+3 of a sub-block, as 4 bytes.
SEPTET_HD uint32_t Q3P5CodeWord(uint32_t lo0, uint32_t lo1, uint32_t hi, uint32_t ext, bool up, int j) {
  const uint32_t lo_byte = (j < 4 ? lo0 : lo1) >> (8 * (j & 3));
  const uint32_t u = CrumbsToBytes(lo_byte) | (NibbleToBytes(hi >> (4 * j)) << 2);  // bytes in [0, 7]
  return up ? (u << 1) | NibbleToBytes(ext >> (4 * j)) : (u << 1);                 // no carries: < 16
}

// The integer dot of unit u (sub-block u % 4 of block u / 4) with the Q8_B codes.
SEPTET_HD int32_t Q3P5UnitAcc(const uint8_t* row, int64_t n, int64_t u, const int8_t* xq) {
  const int64_t b = u >> 2;
  const int s = static_cast<int>(u & 3);
  const uint8_t* blk = row + b * 56;  // every earlier block is full
  const bool is_short = b >= n / 128;  // the final partial block: no ext plane, sel 0
  const Q3P5Header p = Q3P5Unpack(Load<uint32_t>(blk));
  const bool up = !is_short && s == p.sel;
  const uint32_t lo0 = Load<uint32_t>(blk + 4 + 12 * s);
  const uint32_t lo1 = Load<uint32_t>(blk + 8 + 12 * s);
  const uint32_t hi = Load<uint32_t>(blk + 12 + 12 * s);
  const uint32_t ext = up ? Load<uint32_t>(blk + 52) : 0u;
  const uint8_t* x = reinterpret_cast<const uint8_t*>(xq) + u * 32;
  int32_t acc = 0;
  for (int j = 0; j < 8; ++j) acc = Dp4a(Q3P5CodeWord(lo0, lo1, hi, ext, up, j), Load<uint32_t>(x + 4 * j), acc);
  return acc;
}

// Block b's float term from its integer dot acc (the sum of its units' Q3P5UnitAcc)
// and its Q8_B block's d and code sum. Reference (quant::Q3P5VecDotQ8B):
// sum += xb.d * (p.d * 0.5f * acc + p.m * xb.sum).
SEPTET_HD float Q3P5BlockTerm(const uint8_t* row, int64_t b, int32_t acc, float xd, int32_t xsum) {
  const Q3P5Header p = Q3P5Unpack(Load<uint32_t>(row + b * 56));
  const float h = MulRn(p.d, 0.5f);
  return MulRn(xd, AddRn(MulRn(h, static_cast<float>(acc)), MulRn(p.m, static_cast<float>(xsum))));
}

// ---- Q3P5_SEED: {fp32 scale, fp32 offset} + LSB-first 7-bit pair stream ----
SEPTET_HD int64_t SeedStreamBytes(int64_t n) { return (7 * ((n + 1) / 2) + 7) / 8; }

SEPTET_HD int32_t SeedChunkDot(const uint8_t* row, int64_t n, int64_t c, const int8_t* xq) {
  const uint8_t* stream = row + 8;
  const int64_t nbytes = SeedStreamBytes(n);
  uint64_t bits = 0;
  for (int i = 0; i < 7; ++i) {  // never read past the row: missing bytes read as 0
    const int64_t byte = 7 * c + i;
    if (byte < nbytes) bits |= static_cast<uint64_t>(stream[byte]) << (8 * i);
  }
  const uint8_t* x = reinterpret_cast<const uint8_t*>(xq) + c * 16;
  int32_t acc = 0;
  for (int w = 0; w < 4; ++w) {  // x word w: weights 4w .. 4w+3 = pairs 2w, 2w + 1
    const uint32_t xw = Load<uint32_t>(x + 4 * w);
    for (int h = 0; h < 2; ++h) {
      const uint32_t code = static_cast<uint32_t>(bits >> (7 * (2 * w + h))) & 0x7Fu;
      const int32_t q4 = static_cast<int32_t>(code & 0x0Fu) - 8;
      const int32_t q3 = static_cast<int32_t>((code >> 4) & 0x07u) - 4;
      acc += static_cast<int32_t>(static_cast<int8_t>(xw >> (16 * h))) * q4 +
             static_cast<int32_t>(static_cast<int8_t>(xw >> (16 * h + 8))) * q3;
    }
  }
  return acc;
}

SEPTET_HD float SeedCombine(const uint8_t* row, int32_t acc, float xd, int32_t xsum) {
  const float scale = Load<float>(row), offset = Load<float>(row + 4);
  // Reference: (xh.d * wh.scale) * (acc + wh.offset * xh.sum).
  return MulRn(MulRn(xd, scale), AddRn(static_cast<float>(acc), MulRn(offset, static_cast<float>(xsum))));
}

// ---- one dequantized value (embedding rows, GEMM tiles): equals the type's to_float ----
SEPTET_HD float DequantAt(DType type, const uint8_t* row, int64_t n, int64_t k) {
  switch (type) {
    case DType::kF32:
      return Load<float>(row + 4 * k);
    case DType::kF16:
      return HalfToFloat(Load<uint16_t>(row + 2 * k));
    case DType::kBF16:
      return Bf16ToFloat(Load<uint16_t>(row + 2 * k));
    case DType::kQ8_0: {
      const uint8_t* blk = row + (k / 32) * 34;
      const float d = HalfToFloat(Load<uint16_t>(blk));
      return MulRn(d, static_cast<float>(static_cast<int8_t>(blk[2 + k % 32])));
    }
    case DType::kQ4_G: {
      const uint8_t* blk = row + (k / 128) * 68;
      const uint32_t hdr = Load<uint32_t>(blk);
      const int kk = static_cast<int>(k % 128);
      const uint32_t byte = blk[4 + kk / 2];
      const uint32_t code = (kk % 2 == 0) ? (byte & 0x0Fu) : (byte >> 4);
      return AddRn(HalfToFloat(hdr >> 16), MulRn(HalfToFloat(hdr & 0xFFFFu), static_cast<float>(code)));
    }
    case DType::kQ3P5: {
      const int64_t b = k / 128;
      const uint8_t* blk = row + b * 56;
      const int kk = static_cast<int>(k % 128), s = kk / 32, j = kk % 32;
      const Q3P5Header p = Q3P5Unpack(Load<uint32_t>(blk));
      const bool up = b < n / 128 && s == p.sel;
      const uint32_t u = ((blk[4 + 12 * s + j / 4] >> (2 * (j % 4))) & 3u) |
                         (((blk[12 + 12 * s + j / 8] >> (j % 8)) & 1u) << 2);
      const uint32_t v = up ? 2 * u + ((blk[52 + j / 8] >> (j % 8)) & 1u) : 2 * u;
      return AddRn(p.m, MulRn(MulRn(p.d, 0.5f), static_cast<float>(v)));
    }
    case DType::kQ3P5_SEED: {
      const uint8_t* stream = row + 8;
      const int64_t bit = 7 * (k / 2);
      const int shift = static_cast<int>(bit % 8);
      uint32_t v = stream[bit / 8];
      if (shift + 7 > 8) v |= static_cast<uint32_t>(stream[bit / 8 + 1]) << 8;
      const uint32_t code = (v >> shift) & 0x7Fu;
      const int q = (k % 2 == 0) ? static_cast<int>(code & 0x0Fu) - 8 : static_cast<int>((code >> 4) & 0x07u) - 4;
      return MulRn(Load<float>(row), AddRn(static_cast<float>(q), Load<float>(row + 4)));
    }
    default:
      return 0.0f;  // activation-only types are never weights (rejected at upload)
  }
}

}  // namespace septet::cuda::decode
