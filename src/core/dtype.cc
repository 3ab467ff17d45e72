#include "core/dtype.h"

#include <array>
#include <string>

#include "core/ascii.h"

namespace septet {
namespace {

struct NameRow {
  DType type;
  std::string_view name;
};
constexpr std::array<NameRow, 24> kNames = {{
    {DType::kF32, "F32"},
    {DType::kF16, "F16"},
    {DType::kBF16, "BF16"},
    {DType::kQ8_0, "Q8_0"},
    {DType::kQ4_0, "Q4_0"},
    {DType::kQ4_1, "Q4_1"},
    {DType::kQ5_0, "Q5_0"},
    {DType::kQ5_1, "Q5_1"},
    {DType::kQ2_K, "Q2_K"},
    {DType::kQ3_K, "Q3_K"},
    {DType::kQ4_K, "Q4_K"},
    {DType::kQ5_K, "Q5_K"},
    {DType::kQ6_K, "Q6_K"},
    {DType::kIQ4_NL, "IQ4_NL"},
    {DType::kIQ4_XS, "IQ4_XS"},
    {DType::kQ3P5, "Q3P5"},
    {DType::kQ3P5_NL, "Q3P5_NL"},
    {DType::kQ4_NL, "Q4_NL"},
    {DType::kQ4_T, "Q4_T"},
    {DType::kQ3P5_SEED, "Q3P5_SEED"},
    {DType::kQ4_G, "Q4_G"},
    {DType::kQ8_A, "Q8_A"},
    {DType::kQ8_R, "Q8_R"},
    {DType::kQ8_B, "Q8_B"},
}};

}  // namespace

std::string_view DTypeName(DType t) {
  for (const auto& row : kNames) {
    if (row.type == t) return row.name;
  }
  return "UNKNOWN";
}

std::optional<DType> ParseDType(std::string_view name) {
  const std::string upper = AsciiUpper(name);
  for (const auto& row : kNames) {
    if (row.name == upper) return row.type;
  }
  return std::nullopt;
}

bool IsKnownDType(uint32_t raw) {
  for (const auto& row : kNames) {
    if (static_cast<uint32_t>(row.type) == raw) return true;
  }
  return false;
}

}  // namespace septet
