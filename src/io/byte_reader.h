// Bounds-checked little-endian reading of an in-memory file image, plus
// overflow-checked size arithmetic. Every loader reads through this so that no
// field is ever read past the end of the mapping: each Read* returns false
// (and leaves the cursor where it was) when fewer bytes remain than requested.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

namespace septet::io {

static_assert(std::endian::native == std::endian::little,
              "septet's loaders read little-endian files with memcpy");

// a * b and a + b on unsigned 64-bit values; false on overflow.
inline bool CheckedMul(uint64_t a, uint64_t b, uint64_t* out) { return !__builtin_mul_overflow(a, b, out); }
inline bool CheckedAdd(uint64_t a, uint64_t b, uint64_t* out) { return !__builtin_add_overflow(a, b, out); }

// Rounds x up to a multiple of `align` (a power of two); false on overflow.
inline bool AlignUp(uint64_t x, uint64_t align, uint64_t* out) {
  uint64_t sum = 0;
  if (!CheckedAdd(x, align - 1, &sum)) return false;
  *out = sum & ~(align - 1);
  return true;
}

inline bool IsPowerOfTwo(uint64_t x) { return x != 0 && (x & (x - 1)) == 0; }

class ByteReader {
 public:
  ByteReader(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  size_t pos() const { return pos_; }
  size_t size() const { return size_; }
  size_t remaining() const { return size_ - pos_; }
  const uint8_t* here() const { return data_ + pos_; }

  template <typename T>
  bool Read(T* out) {
    static_assert(std::is_trivially_copyable_v<T>);
    if (remaining() < sizeof(T)) return false;
    std::memcpy(out, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }

  bool ReadBytes(size_t n, std::string* out) {
    if (remaining() < n) return false;
    out->assign(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return true;
  }

  bool Skip(uint64_t n) {
    if (remaining() < n) return false;
    pos_ += static_cast<size_t>(n);
    return true;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

}  // namespace septet::io
