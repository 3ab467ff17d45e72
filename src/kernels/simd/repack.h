// Load-time repacks of weight matrices into layouts the SIMD kernels read
// faster. Same row_bytes, same information (the inverse restores the file
// bytes exactly); the view's `layout` says which one a matrix is in.
//
// WeightLayout::kQ3P5Slots (Q3P5, quant/q3p5.h). Each FULL 128-weight block
// keeps its 56 bytes and its header word (d, sel, m unchanged, bytes 0..3);
// the 52 code bytes are rearranged by "slot": slot k (k = 0..3) holds
// sub-block (sel + k) mod 4, so slot 0 is always the upgraded sub-block with
// its 4-bit half-step code v = 2u + e, and slots 1..3 hold 3-bit codes u.
// For weight j (0..31) of each slot:
//   bytes  4..35  P[j]  = u1[j] | u2[j] << 3 | (u3[j] >> 1) << 6
//   bytes 36..51  Q[j % 16], nibble j / 16 = v0[j]
//   bytes 52..55  R, bit 8 (j % 4) + j / 4   = u3[j] & 1
// AVX2 decode (Decode in kernels/simd/q3p5_slots-inl.h): three loads and 10 vector operations,
// one 32-byte load of P (u1 = P & 7, u2 = (P >> 3) & 7), one 16-byte broadcast
// of Q and a vpsrlvd by (0 | 4) per 128-bit lane (v0 = & 15), and one 4-byte
// broadcast of R with a vpsrlvd by (0..7) (u3 = ((P >> 5) & 6) | (R & 1)); every
// code lands on the byte of its weight in weight order, so the activation needs
// no shuffle. The 3-bit codes stay undoubled: the dot doubles the sum of their
// three products once (Dot4) instead of each code. The activation block of
// slot k is sub-block (sel + k) mod 4: one base pointer per block.
// A row's final SHORT block (cols % 128 != 0: ns = ceil(r / 32) <= 4 sub-blocks
// of 3-bit codes u, no ext plane, hdr + 12 ns bytes) keeps its header; sub-block s
// (12 bytes at 4 + 12 s) is rearranged so that the decode needs no shuffle:
//   bytes 0..7   L[i], bits 2t..2t+1 = u[i + 8t] & 3           (i = 0..7, t = 0..3)
//   bytes 8..11  H,    bit 8 (j % 4) + j / 4   = u[j] >> 2      (j = 0..31)
// AVX2 decode: one 8-byte broadcast of L with a vpsrlvq by (0, 2, 4, 6) per
// 64-bit lane (& 3), one 4-byte broadcast of H with a vpsrlvd by (0..7) (& 1,
// << 2): u of weight j lands on byte j. Padding codes stay 0.
//
// WeightLayout::kQ3P5Rows16 (Q3P5, AVX3_DL only). Rows interleaved in groups
// of kQ3P5GroupRows = 16; group g (rows 16 g .. 16 g + 15, 16 row_bytes bytes)
// holds, block after block, 16 x 56 = 896 bytes per full 128-weight block (a
// row's final short block of ns sub-blocks: 16 (4 + 12 ns) bytes, no ext plane):
//   bytes   0..31   the low half of row r's header word at 2 r: d (bits 0..14,
//                   an fp16 with bit 15 read as 0) and sel bit 0 in bit 15
//   bytes  32..63   the high half at 32 + 2 r: m (bits 1..15, an fp16 with bit 0
//                   read as 0) and sel bit 1 in bit 0
//   byte   64 + 192 s + 64 p + 4 r + j  (sub-block s < ns, plane p = 0..2, row r,
//          j = 0..3): with u_q the 3-bit code of weight 4 q + j of sub-block s
//          (in sub-block sel the upper 3 bits of v = 2 u + e):
//            P0 = u_0 | u_1 << 3 | (u_6 & 3) << 6
//            P1 = u_2 | u_3 << 3 | (u_7 & 3) << 6
//            P2 = u_4 | (u_6 >> 2) << 3 | (u_7 >> 2) << 4 | u_5 << 5
//   bytes 832 + 4 r + j (full blocks)   bit q = e of weight 4 q + j of row r's
//                   sub-block sel.
// So one 64-byte load of a plane holds the same weights of 16 rows (an int32 lane
// per row) and every code of a quad decodes with shifts and masks to 2 u (+ e in
// the lanes whose sel is the sub-block: a mask from the two sel bits), in natural
// sub-block order, against one broadcast activation quad. The last group is padded
// with zero rows. Kernels: kernels/simd/dot_q3p5_rows16.cc.
//
// WeightLayout::kQ3P5NLPlanes (Q3P5_NL, quant/q3p5_nl.h). Each FULL block keeps
// its 56 bytes and its fields (D and the scales, bytes 48..55); the 48 code bytes
// are rearranged. With u_s[j] the code of weight j (0..31) of sub-block s:
//   bytes  0..31  A[j]  = u0[j] | u1[j] << 3 | (u2[j] & 3) << 6
//   bytes 32..47  B[i], nibble h (i = 0..15, h = 0, 1) for weight j = i + 16 h:
//                 bits 0-1 = u3[j] & 3, bit 2 = u2[j] >> 2, bit 3 = u3[j] >> 2
// AVX2 decode (dot_q3p5nl.cc): one 32-byte load of A, one 16-byte broadcast of B
// and a vpsrlvd by (0 | 4) per 128-bit lane (Bs: weight j's nibble in the low 4
// bits of byte j), then i0 = A & 15, i1 = (A >> 3) & 15, i3 = Bs & 15,
// i2 = ((A >> 6) & 3) | (Bs & 4): nine vector operations for 128 level indices in
// weight order (vpshufb reads bits 0-3 of an index and zeroes on bit 7, so the
// level tables are 16 entries that ignore the bits not masked away: bit 3 of i0,
// i1 and bit 2 of i3). A row's final SHORT block keeps the file layout.
//
// WeightLayout::kQ4GRows8 (Q4_G, quant/q4_g.h). Rows are interleaved in groups
// of kQ4GGroupRows = 8; group g (rows 8 g .. 8 g + 7, 8 row_bytes bytes) holds,
// block after block, 8 x 68 = 544 bytes per full 128-weight block (a row's final
// short block of ns sub-blocks: 8 (4 + 16 ns) bytes):
//   bytes  0..15  d of rows 0..7 (fp16)      bytes 16..31  m of rows 0..7
//   byte   32 + 128 s + 32 c + 4 r + i  (sub-block s < ns, c, i = 0..3, row r):
//          low nibble  = code of weight 4 c + i of sub-block s of row r,
//          high nibble = code of weight 16 + 4 c + i.
// So one 32-byte load holds the same 4 + 4 weights of the 8 rows (an int32 lane
// per row): & 15 and (>> 4) & 15 give two vectors of codes, each dotted with one
// broadcast quad of activations (vpdpbusd, or vpmaddubsw + vpmaddwd), and the
// per-row sums of a sub-block land in 8 lanes with no horizontal reduction. The
// last group is padded with zero rows, so the buffer holds ceil(rows / 8) * 8 *
// row_bytes bytes. Kernels: kernels/simd/dot_q4g_rows8.cc.
//
// WeightLayout::kLegacy4Rows8 (Q4_0, Q4_1: ggml's blocks of 32, quant/ggml_legacy.h).
// Rows interleaved in groups of 8 as kQ4GRows8, one 32-weight block at a time:
// group g holds, block after block, 8 blocks' bytes (144 for Q4_0, 160 for Q4_1):
//   bytes  0..15  d of rows 0..7 (fp16)      Q4_1: bytes 16..31  m of rows 0..7
//   byte   H + 32 c + 4 r + i  (H = 16 for Q4_0, 32 for Q4_1; c, i = 0..3, row r):
//          byte 4 c + i of row r's qs, i.e. low nibble = code of weight 4 c + i,
//          high nibble = code of weight 16 + 4 c + i.
// So a Q4_1 group block is a one-sub-block kQ4GRows8 block, and the kernels are
// the same (kernels/simd/dot_legacy_rows8.cc, shared helpers in
// nibble_rows8-inl.h). The last group is padded with zero rows.
//
// WeightLayout::kQ4KRows8 (Q4_K, quant/ggml_kquants.h). Rows interleaved in
// groups of 8, a 256-weight super-block at a time: 8 x 144 = 1152 bytes, the
// same 4-bit codes as above with each field of the 8 rows side by side:
//   bytes   0..15  d of rows 0..7 (fp16)      bytes 16..31  dmin of rows 0..7
//   byte    32 + 8 k + r       byte k (0..11) of row r's packed scales[12]
//   byte   128 + 256 p + 32 c + 4 r + i  (p = 0..3, c = 0..7, i = 0..3):
//          qs[32 p + 4 c + i] of row r: low nibble = code of weight 4 c + i of
//          sub-block 2 p, high nibble = of sub-block 2 p + 1.
// An 8-byte load of scale byte k zero-extends to 8 int32 lanes (one per row), so
// the 6-bit scales and mins unpack lane-wise; a 32-byte code load is 4 weights of
// two sub-blocks of the 8 rows. Kernels: kernels/simd/dot_q4k_rows8.cc.
//
// WeightLayout::kFloatPanels (F32, F16, BF16). Rows are grouped in panels of
// kFloatPanelRows = 16; panel p holds rows 16 p .. 16 p + 15, k-major: the
// element of row 16 p + j, column k sits at element (p * cols + k) * 16 + j of the
// buffer (each element in the weight's own 4- or 2-byte type). The last panel is
// padded with zero rows, so the buffer holds ceil(rows / 16) * 16 * row_bytes
// bytes. Kernels: kernels/simd/dot_float_panels.cc (one vector load = weight k
// of 16 rows, the activation broadcast).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "kernels/cpu/weight_view.h"

namespace septet::simd {

// Repacks `w` (file layout) when the dispatched SIMD target has a faster kernel
// for a repacked layout of w.type: fills *out (row-major, w.row_bytes per row)
// and *repacked (pointing into *out), returns true. Returns false (nothing
// written) otherwise: types without a repacked layout (all but Q3P5, Q3P5_NL, Q4_G,
// Q4_NL, Q4_0, Q4_1, Q4_K, Q5_K, Q6_K, Q8_0 and the float types), targets without the
// fast kernel (anything below AVX2; Q4_NL, Q5_K, Q6_K and Q8_0 below AVX3_DL), or w
// already repacked. Where a type has two layouts the target picks one: AVX3_DL the
// rows of 16 (Q3P5, Q3P5_NL, Q4_0, Q4_1, Q4_K), AVX2 / AVX3 the other.
bool RepackRows(const cpu::WeightView& w, std::vector<uint8_t>* out, cpu::WeightView* repacked);

// Unconditional Q3P5 -> kQ3P5Slots repack (w: Q3P5, file layout). Every target
// has a kernel for the result (the portable ones are not faster); tests use it
// to run the repacked kernels on every compiled target.
void RepackQ3P5Slots(const cpu::WeightView& w, std::vector<uint8_t>* out, cpu::WeightView* repacked);

// Unconditional Q3P5_NL -> kQ3P5NLPlanes repack (w: Q3P5_NL, file layout). Every
// target has a kernel for the result; tests use it on every compiled target.
void RepackQ3P5NLPlanes(const cpu::WeightView& w, std::vector<uint8_t>* out, cpu::WeightView* repacked);
// Its inverse into *out (the file-layout bytes of every row).
void UnpackQ3P5NLPlanes(const cpu::WeightView& w, std::vector<uint8_t>* out);

// Runs f(r0, r1) over [0, n) cut into contiguous ranges, one per thread (up to
// the hardware threads, one per 16 MiB of `bytes`), and returns when all are
// done. The repacks convert each row on its own, so the cut changes no byte.
void ParallelRanges(int64_t n, size_t bytes, const std::function<void(int64_t, int64_t)>& f);

inline constexpr int64_t kQ3P5GroupRows = 16;
// Byte of a kQ3P5Rows16 group block: plane p of sub-block s, row (lane) r, byte j
// of the quad; and the ext byte j of lane r.
constexpr size_t Q3P5Rows16PlaneByte(int s, int p, int r, int j) {
  return static_cast<size_t>(64 + 192 * s + 64 * p + 4 * r + j);
}
constexpr size_t Q3P5Rows16ExtByte(int r, int j) { return static_cast<size_t>(832 + 4 * r + j); }
// Unconditional Q3P5 -> kQ3P5Rows16 repack (w in the file layout). Every target
// has a kernel for the result; tests use it on every compiled target.
void RepackQ3P5Rows16(const cpu::WeightView& w, std::vector<uint8_t>* out, cpu::WeightView* repacked);
// Row r of a kQ3P5Rows16 view, in the file layout (w.row_bytes bytes to dst).
void Q3P5Rows16Row(const cpu::WeightView& w, int64_t r, uint8_t* dst);

// WeightLayout::kQ3P5NLRows16 (Q3P5_NL, AVX3_DL only). Rows interleaved in
// groups of 16 as kQ3P5Rows16: 16 x 56 = 896 bytes per full block (a row's
// final short block of ns sub-blocks: 16 Q3P5NLShortBlockBytes(32 ns) bytes):
//   bytes   0..31   row r's D (fp16) at 2 r
//   bytes  32..63   bytes 0, 1 of row r's scale field (bits 0..15) at 32 + 2 r
//   byte   64 + 192 s + 64 p + 4 r + j   the code planes of kQ3P5Rows16 (the
//                   file's code bytes are Q3P5's sub-blocks)
//   bytes  Q3P5NLRows16ScaleByte(ns, r, i)  the rest of the scale field, byte
//                   2 + i (i < Q3P5NLRows16ScaleExtra(ns): 4 in a full block,
//                   where they are bits 16..47 of row r's int32 lane at 832 + 4 r).
// So D and the scales of 16 rows are two or three loads, each scale a shift pair
// per lane (sign-extended 6-bit fields), and the codes decode as Q3P5's, to
// level indices 2 u; the last group is padded with zero rows.
constexpr int Q3P5NLRows16ScaleExtra(int ns) { return (12 * ns + 7) / 8 - 2; }
constexpr size_t Q3P5NLRows16ScaleByte(int ns, int r, int i) {
  return static_cast<size_t>(64 + 192 * ns + Q3P5NLRows16ScaleExtra(ns) * r + i);
}
static_assert(Q3P5NLRows16ScaleByte(4, 0, 0) == 832 && Q3P5NLRows16ScaleByte(4, 16, 0) == 896 &&
              Q3P5NLRows16ScaleByte(2, 16, 0) == 16 * (12 * 2 + 2 + 3) && Q3P5NLRows16ScaleExtra(1) == 0);
// Unconditional Q3P5_NL -> kQ3P5NLRows16 repack (w in the file layout); every
// target has a kernel for the result (tests use it on every compiled target).
void RepackQ3P5NLRows16(const cpu::WeightView& w, std::vector<uint8_t>* out, cpu::WeightView* repacked);
// Row r of a kQ3P5NLRows16 view, in the file layout (w.row_bytes bytes to dst).
void Q3P5NLRows16Row(const cpu::WeightView& w, int64_t r, uint8_t* dst);

// WeightLayout::kQ4NLRows16 (Q4_NL, quant/q4_nl.h; AVX3_DL only). Rows
// interleaved in groups of 16 (the last padded with zero rows): 16 x 68 = 1088
// bytes per full block, 16 Q4NLShortBlockBytes(32 ns) for a row's final short
// block of ns sub-blocks; with nsc = ceil(ns / 2) scale bytes a row:
//   bytes  0..31                 row r's D (fp16) at 2 r
//   bytes  32 + nsc r + i        byte i of row r's scale field (4 bits a sub-block)
//   byte   Q4NLRows16CodeByte(ns, s, c, r, j)   (sub-block s < ns, c = 0..3,
//          j = 0..3): low nibble = code of weight 32 s + 4 c + j of row r, high
//          nibble = code of weight 32 s + 16 + 4 c + j.
// So one 64-byte load holds quads c and c + 4 of a sub-block of the 16 rows (an
// int32 lane per row): & 15 and (>> 4) & 15, then one vpshufb into the levels.
constexpr size_t Q4NLRows16CodeByte(int ns, int s, int c, int r, int j) {
  return static_cast<size_t>(32 + 16 * ((ns + 1) / 2) + 256 * s + 64 * c + 4 * r + j);
}
static_assert(Q4NLRows16CodeByte(4, 4, 0, 0, 0) == 1088 && Q4NLRows16CodeByte(1, 1, 0, 0, 0) == 16 * 19 &&
              Q4NLRows16CodeByte(3, 3, 0, 0, 0) == 16 * 52);
// Unconditional Q4_NL -> kQ4NLRows16 repack (w in the file layout); every target
// has a kernel for the result (tests use it on every compiled target).
void RepackQ4NLRows16(const cpu::WeightView& w, std::vector<uint8_t>* out, cpu::WeightView* repacked);
// Row r of a kQ4NLRows16 view, in the file layout (w.row_bytes bytes to dst).
void Q4NLRows16Row(const cpu::WeightView& w, int64_t r, uint8_t* dst);

// WeightLayout::kQ4TRows16 (Q4_T, quant/q4_t.h; AVX3_DL only): Q4_T has Q4_NL's
// container, and its rows of 16 are kQ4NLRows16's bytes exactly (the codes at
// Q4NLRows16CodeByte); only the kernels differ (dot_q4t_rows16.cc: a lane is a
// row, so the trellis neighbours of a weight are earlier bytes of its own lane).
void RepackQ4TRows16(const cpu::WeightView& w, std::vector<uint8_t>* out, cpu::WeightView* repacked);
// Row r of a kQ4TRows16 view, in the file layout (w.row_bytes bytes to dst).
void Q4TRows16Row(const cpu::WeightView& w, int64_t r, uint8_t* dst);

// WeightLayout::kQ6KRows16 (Q6_K, quant/ggml_kquants.h; AVX3_DL only). Rows
// interleaved in groups of 16 (the last padded with zero rows), 16 x 210 = 3360
// bytes per 256-weight super-block (Q6_K rows hold whole super-blocks only):
//   bytes  0..31                  row r's d (fp16) at 2 r
//   bytes  32 + 16 i + r          row r's int8 scale of 16-weight sub-block i
//   byte   Q6KRows16LowByte(j, c, r, i)   (activation block j = 0..7 of 32
//          weights, c = 0..3, i = 0..3): low nibble = bits 0..3 of the code u
//          (q = u - 32) of weight 32 j + 4 c + i of row r, high nibble = of
//          weight 32 j + 16 + 4 c + i
//   byte   Q6KRows16HighByte(j, h, r, i)  (h = 0..1): bits 2 k, 2 k + 1 = bits
//          4, 5 of u of weight 32 j + 16 h + 4 k + i (k = 0..3)
// So one 64-byte load holds quads c and c + 4 of a block's low nibbles for the
// 16 rows (an int32 lane per row), another the high bits of four quads.
constexpr size_t Q6KRows16LowByte(int j, int c, int r, int i) {
  return static_cast<size_t>(288 + 384 * j + 64 * c + 4 * r + i);
}
constexpr size_t Q6KRows16HighByte(int j, int h, int r, int i) {
  return static_cast<size_t>(288 + 384 * j + 256 + 64 * h + 4 * r + i);
}
static_assert(Q6KRows16LowByte(8, 0, 0, 0) == 16 * 210 && Q6KRows16HighByte(0, 2, 0, 0) == Q6KRows16LowByte(1, 0, 0, 0));
// Unconditional Q6_K -> kQ6KRows16 repack (w in the file layout); every target
// has a kernel for the result (tests use it on every compiled target).
void RepackQ6KRows16(const cpu::WeightView& w, std::vector<uint8_t>* out, cpu::WeightView* repacked);
// Row r of a kQ6KRows16 view, in the file layout (w.row_bytes bytes to dst).
void Q6KRows16Row(const cpu::WeightView& w, int64_t r, uint8_t* dst);

// WeightLayout::kQ8_0Rows16 (Q8_0, quant/q8_0.h; AVX3_DL only). Rows
// interleaved in groups of 16 (the last padded with zero rows), 16 x 34 = 544
// bytes per 32-weight block (a row's final partial block is zero-padded in the
// file, so every block is whole):
//   bytes  0..31                 row r's d (fp16) at 2 r
//   byte   Q8_0Rows16CodeByte(q, r, i)   (q = 0..7, i = 0..3): weight 4 q + i of
//          row r plus 128 (its int8 bits with the sign bit flipped)
// So one 64-byte load is a quad of the 16 rows (an int32 lane per row), the
// unsigned operand of vpdpbusd as it is.
constexpr size_t Q8_0Rows16CodeByte(int q, int r, int i) { return static_cast<size_t>(32 + 64 * q + 4 * r + i); }
static_assert(Q8_0Rows16CodeByte(8, 0, 0) == 16 * 34);
// Unconditional Q8_0 -> kQ8_0Rows16 repack (w in the file layout); every target
// has a kernel for the result (tests use it on every compiled target).
void RepackQ8_0Rows16(const cpu::WeightView& w, std::vector<uint8_t>* out, cpu::WeightView* repacked);
// Row r of a kQ8_0Rows16 view, in the file layout (w.row_bytes bytes to dst).
void Q8_0Rows16Row(const cpu::WeightView& w, int64_t r, uint8_t* dst);

// WeightLayout::kLegacy4Rows16 (Q4_0, Q4_1, quant/ggml_legacy.h; AVX3_DL only).
// kLegacy4Rows8 with 16 rows a group (the last padded with zero rows): per
// 32-weight block 16 x 18 (Q4_0) or 16 x 20 (Q4_1) bytes:
//   bytes  0..31  d of row r at 2 r (fp16)     Q4_1: bytes 32..63  m of row r at 32 + 2 r
//   byte   Legacy4Rows16CodeByte(type, c, r, i)  (c, i = 0..3): byte 4 c + i of
//          row r's qs (low nibble: code of weight 4 c + i, high: of 16 + 4 c + i)
// So one 64-byte load holds quads c and c + 4 of the 16 rows, an int32 lane per row.
constexpr size_t Legacy4Rows16CodeByte(DType type, int c, int r, int i) {
  return static_cast<size_t>((type == DType::kQ4_1 ? 64 : 32) + 64 * c + 4 * r + i);
}
static_assert(Legacy4Rows16CodeByte(DType::kQ4_0, 4, 0, 0) == 16 * 18 &&
              Legacy4Rows16CodeByte(DType::kQ4_1, 4, 0, 0) == 16 * 20);
// Unconditional Q4_0 / Q4_1 -> kLegacy4Rows16 repack (w in the file layout); every
// target has a kernel for the result (tests use it on every compiled target).
void RepackLegacy4Rows16(const cpu::WeightView& w, std::vector<uint8_t>* out, cpu::WeightView* repacked);
// Row r of a kLegacy4Rows16 view, in the file layout (w.row_bytes bytes to dst).
void Legacy4Rows16Row(const cpu::WeightView& w, int64_t r, uint8_t* dst);

// WeightLayout::kQ4KRows16 and kQ5KRows16 (Q4_K, Q5_K, quant/ggml_kquants.h;
// AVX3_DL only). Rows interleaved in groups of 16 (the last padded with zero
// rows), a 256-weight super-block at a time (rows hold whole super-blocks only):
// 16 x 144 = 2304 (Q4_K) or 16 x 176 = 2816 (Q5_K) bytes, each field of the file
// block as its 4-byte words side by side:
//   bytes  0..31                 row r's d (fp16) at 2 r
//   bytes  32..63                row r's dmin (fp16) at 32 + 2 r
//   byte   Q4KRows16ScaleByte(k, r, i)   (k = 0..2, i = 0..3): scales[4 k + i]
//          of row r (the packed 6-bit scales and mins)
//   byte   Q5KRows16HighByte(c, r, i)    (Q5_K; c = 0..7): qh[4 c + i] of row r:
//          bit j = bit 4 of the code of weight 4 c + i of sub-block j
//   byte   Q4KRows16CodeByte(type, p, c, r, i)   (p = 0..3, c = 0..7):
//          qs[32 p + 4 c + i] of row r: low nibble = (low 4 bits of the) code of
//          weight 4 c + i of sub-block 2 p, high nibble = of sub-block 2 p + 1
// So one 64-byte load is one word of the 16 rows, an int32 lane per row: a scale
// word (the 6-bit scales and mins unpack lane-wise by shifts and masks), the high
// bits of quad c of every sub-block, or quad c of two sub-blocks' codes.
constexpr size_t Q4KRows16ScaleByte(int k, int r, int i) { return static_cast<size_t>(64 + 64 * k + 4 * r + i); }
constexpr size_t Q5KRows16HighByte(int c, int r, int i) { return static_cast<size_t>(256 + 64 * c + 4 * r + i); }
constexpr size_t Q4KRows16CodeByte(DType type, int p, int c, int r, int i) {
  return static_cast<size_t>((type == DType::kQ5_K ? 768 : 256) + 512 * p + 64 * c + 4 * r + i);
}
static_assert(Q4KRows16ScaleByte(3, 0, 0) == Q5KRows16HighByte(0, 0, 0) &&
              Q5KRows16HighByte(8, 0, 0) == Q4KRows16CodeByte(DType::kQ5_K, 0, 0, 0, 0) &&
              Q4KRows16CodeByte(DType::kQ4_K, 4, 0, 0, 0) == 16 * 144 &&
              Q4KRows16CodeByte(DType::kQ5_K, 4, 0, 0, 0) == 16 * 176);
// Unconditional Q4_K -> kQ4KRows16 and Q5_K -> kQ5KRows16 repacks (w in the file
// layout); every target has a kernel for the result (tests use it on every
// compiled target).
void RepackQ4KRows16(const cpu::WeightView& w, std::vector<uint8_t>* out, cpu::WeightView* repacked);
void RepackQ5KRows16(const cpu::WeightView& w, std::vector<uint8_t>* out, cpu::WeightView* repacked);
// Row r of a kQ4KRows16 / kQ5KRows16 view, in the file layout (w.row_bytes bytes to dst).
void Q4KRows16Row(const cpu::WeightView& w, int64_t r, uint8_t* dst);
void Q5KRows16Row(const cpu::WeightView& w, int64_t r, uint8_t* dst);

inline constexpr int64_t kQ4GGroupRows = 8;
// Byte of the kQ4GRows8 group block that holds weights 4 c + i (low nibble) and
// 16 + 4 c + i (high) of sub-block s of lane (row) r.
constexpr size_t Q4GRows8CodeByte(int s, int c, int r, int i) {
  return static_cast<size_t>(32 + 128 * s + 32 * c + 4 * r + i);
}
// Unconditional Q4_G -> kQ4GRows8 repack (w in the file layout). Every target
// has a kernel for the result; tests use it on every compiled target.
void RepackQ4GRows8(const cpu::WeightView& w, std::vector<uint8_t>* out, cpu::WeightView* repacked);
// Row r of a kQ4GRows8 view, in the file layout (w.row_bytes bytes to dst).
void Q4GRows8Row(const cpu::WeightView& w, int64_t r, uint8_t* dst);

// Byte of the kLegacy4Rows8 group block of type `type` (Q4_0 or Q4_1) that holds
// byte 4 c + i of row (lane) r's qs.
constexpr size_t Legacy4Rows8CodeByte(DType type, int c, int r, int i) {
  return static_cast<size_t>((type == DType::kQ4_1 ? 32 : 16) + 32 * c + 4 * r + i);
}
// Unconditional Q4_0 / Q4_1 -> kLegacy4Rows8 repack (w in the file layout). Every
// target has a kernel for the result; tests use it on every compiled target.
void RepackLegacy4Rows8(const cpu::WeightView& w, std::vector<uint8_t>* out, cpu::WeightView* repacked);
// Row r of a kLegacy4Rows8 view, in the file layout (w.row_bytes bytes to dst).
void Legacy4Rows8Row(const cpu::WeightView& w, int64_t r, uint8_t* dst);

// Unconditional Q4_K -> kQ4KRows8 repack (w in the file layout). Every target
// has a kernel for the result; tests use it on every compiled target.
void RepackQ4KRows8(const cpu::WeightView& w, std::vector<uint8_t>* out, cpu::WeightView* repacked);
// Row r of a kQ4KRows8 view, in the file layout (w.row_bytes bytes to dst).
void Q4KRows8Row(const cpu::WeightView& w, int64_t r, uint8_t* dst);

inline constexpr int64_t kFloatPanelRows = 16;
// Bytes of one panel of w (kFloatPanels layout): 16 rows of w.row_bytes.
inline size_t FloatPanelBytes(const cpu::WeightView& w) { return static_cast<size_t>(kFloatPanelRows) * w.row_bytes; }

// Unconditional F32/F16/BF16 -> kFloatPanels repack (w in the file layout). Every
// target has a kernel for the result; tests use it on every compiled target.
void RepackFloatPanels(const cpu::WeightView& w, std::vector<uint8_t>* out, cpu::WeightView* repacked);
// Row r of a kFloatPanels view, in the file layout (w.row_bytes bytes to dst).
void FloatPanelRow(const cpu::WeightView& w, int64_t r, uint8_t* dst);

// Inverse of any repack: the file-layout bytes (identical to the original) in
// *out and a kFile view of them in *file_view. A kFile view is copied as is.
void UnpackRows(const cpu::WeightView& w, std::vector<uint8_t>* out, cpu::WeightView* file_view);
// Rows [r0, r1) of a view whose layout interleaves rows (the rows of 8 and 16,
// float panels), in the file layout: *out and a kFile view of its r1 - r0 rows.
void UnpackRowRange(const cpu::WeightView& w, int64_t r0, int64_t r1, std::vector<uint8_t>* out,
                    cpu::WeightView* file_view);

// Row r of w dequantized to floats (registry to_float semantics), any layout.
void RowToFloat(const cpu::WeightView& w, int64_t r, float* out);

// Single-block conversions (56 bytes each; exposed for tests).
void Q3P5BlockToSlots(const uint8_t* file_block, uint8_t* slots_block);
void Q3P5SlotsToBlock(const uint8_t* slots_block, uint8_t* file_block);
// The same for a short block of ns (1..4) sub-blocks (4 + 12 ns bytes).
void Q3P5ShortToSlots(const uint8_t* file_block, int ns, uint8_t* slots_block);
void Q3P5SlotsToShort(const uint8_t* slots_block, int ns, uint8_t* file_block);
// Q3P5_NL full blocks (56 bytes) to and from kQ3P5NLPlanes (short blocks are not converted).
void Q3P5NLBlockToPlanes(const uint8_t* file_block, uint8_t* planes_block);
void Q3P5NLPlanesToBlock(const uint8_t* planes_block, uint8_t* file_block);

}  // namespace septet::simd
