// Metadata fuzzing above the container (io/fuzz_test.cc mutates bytes under
// ModelFile::Open; this mutates values that parse fine): every hyper-parameter key of a
// valid in-memory tiny llama is replaced by hostile values -- huge, zero, negative,
// past int32/int64, non-finite, of a wrong type, or removed -- and the model goes through
// ReadLlamaHParams, BindLlamaWeights and, when both succeed, one Forward. Nothing may
// crash or throw (this runs under ASan+UBSan in CI), and every error names the file and
// the key that was changed (quoted, so 'head_count' is not found inside 'head_count_kv').
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <exception>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "model/hparams.h"
#include "model/llama_context.h"
#include "model/llama_model.h"
#include "model/testing_model.h"
#include "model/weights.h"

namespace septet::model {
namespace {

using testing::MakeTinyLlama;
using testing::SetMeta;

const char* const kKeys[] = {
    "general.architecture",        "llama.embedding_length",         "llama.feed_forward_length",
    "llama.block_count",           "llama.attention.head_count",     "llama.attention.head_count_kv",
    "llama.attention.key_length",  "llama.attention.value_length",   "llama.context_length",
    "llama.rope.dimension_count",  "llama.rope.freq_base",           "llama.attention.layer_norm_rms_epsilon",
    "llama.vocab_size",            "septet.rope.pairing",            "llama.rope.scaling.type",
};

// nullopt: the key is removed.
std::vector<std::optional<MetaValue>> HostileValues() {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  return {
      std::nullopt,
      MetaValue::U32(0),
      MetaValue::U32(1),
      MetaValue::U32(2),
      MetaValue::U32(3),
      MetaValue::U32(8),
      MetaValue::U32(16),
      MetaValue::U32(64),
      MetaValue::U32(UINT32_MAX),
      MetaValue::U64(uint64_t{1} << 40),
      MetaValue::U64(uint64_t{1} << 62),
      MetaValue::U64(UINT64_MAX),
      MetaValue::I32(-1),
      MetaValue::I32(INT32_MIN),
      MetaValue::I64(-(int64_t{1} << 40)),
      MetaValue::I64(INT64_MIN),
      MetaValue::I64(INT64_MAX),
      MetaValue::Integer(MetaType::kU8, 4),
      MetaValue::Integer(MetaType::kI16, -4),
      MetaValue::F32(std::nanf("")),
      MetaValue::F64(kInf),
      MetaValue::F32(-1.0f),
      MetaValue::F32(0.0f),
      MetaValue::F64(1e300),
      MetaValue::F64(1e-300),
      MetaValue::Bool(true),
      MetaValue::String(""),
      MetaValue::String("llama"),
      MetaValue::String("half"),
      MetaValue::String("llama3"),
      MetaValue::String("linear"),
      MetaValue::StringArray({"a"}),
      MetaValue::I32Array({1, 2}),
  };
}

// The integer a message should show for an integer-typed value ("" otherwise).
std::string IntegerText(const MetaValue& v) {
  if (v.type == MetaType::kU64) return std::to_string(v.u);
  if (IsIntegerMetaType(v.type)) return std::to_string(v.i);
  return "";
}

void ExpectNamed(const Status& s, const std::string& path, const std::string& key, const std::optional<MetaValue>& v,
                 const char* stage) {
  const std::string& msg = s.message();
  EXPECT_NE(msg.find(path), std::string::npos) << stage << ": " << msg;
  EXPECT_NE(msg.find("'" + key + "'"), std::string::npos) << stage << ": " << msg;
  if (v.has_value() && !IntegerText(*v).empty()) {
    EXPECT_NE(msg.find(IntegerText(*v)), std::string::npos) << stage << ": " << msg;
  }
}

// One mutated model through the whole load path; returns true when it loaded and ran.
bool RunOne(const std::string& key, const std::optional<MetaValue>& v) {
  auto f = MakeTinyLlama({});
  SetMeta(f.get(), key, v.has_value() ? &*v : nullptr);
  const std::string path = f->path();
  auto hp = ReadLlamaHParams(*f);
  if (!hp.ok()) {
    ExpectNamed(hp.status(), path, key, v, "ReadLlamaHParams");
    return false;
  }
  // Whatever ReadLlamaHParams accepts must bind: it has checked hp against the tensors.
  auto w = BindLlamaWeights(*f, *hp, {});
  EXPECT_TRUE(w.ok()) << w.status().ToString();
  if (!w.ok()) return false;
  auto m = LlamaModel::FromFile(std::move(f), {});
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  if (!m.ok()) return false;
  auto ctx = LlamaContext::Create(*m.value(), 8);
  if (!ctx.ok()) {
    ExpectNamed(ctx.status(), path, key, v, "LlamaContext::Create");
    return false;
  }
  const std::vector<int32_t> tokens = {1, 2, 3};
  std::vector<float> logits;
  const Status st = ctx.value()->Forward(tokens, LogitsMode::kAll, &logits);
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(logits.size(), 3u * static_cast<size_t>(hp->vocab));
  for (const float x : logits) {
    if (!std::isfinite(x)) {
      ADD_FAILURE() << "non-finite logit " << x;
      break;
    }
  }
  return st.ok();
}

TEST(HParamsFuzzTest, HostileValuesNeverCrashOrThrowAndErrorsNameTheKey) {
  const std::vector<std::optional<MetaValue>> values = HostileValues();
  int loaded = 0, refused = 0;
  for (const char* key : kKeys) {
    for (const auto& v : values) {
      SCOPED_TRACE(std::string(key) + " = " + (v.has_value() ? v->DebugString() : "(removed)"));
      try {
        (RunOne(key, v) ? loaded : refused)++;
      } catch (const std::exception& e) {
        ADD_FAILURE() << "threw " << e.what();
      } catch (...) {
        ADD_FAILURE() << "threw a non-std exception";
      }
    }
  }
  std::printf("[hparams-fuzz] %d mutations loaded and ran, %d refused with the key named\n", loaded, refused);
  EXPECT_GT(loaded, 0);  // some mutations are harmless (block_count 1, pairing "half", ...)
}

}  // namespace
}  // namespace septet::model
