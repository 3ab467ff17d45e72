#include "io/gguf_writer.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>

#include "core/half.h"
#include "io/gguf_reader.h"
#include "io/testing_files.h"
#include "util/test_util.h"

namespace septet {
namespace {

std::vector<uint8_t> ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

using testing::AllTypesMeta;

TEST(GgufWriterTest, RoundTripEveryMetaTypeAndTensorBytes) {
  auto rng = testing::MakeRng(1);
  GgufWriter w;
  const auto meta = AllTypesMeta();
  for (const auto& [k, v] : meta) ASSERT_TRUE(w.SetMeta(k, v).ok()) << k;

  const std::vector<float> a = testing::RandomWeights(rng, 3 * 5);
  std::vector<uint16_t> h(7);
  for (size_t i = 0; i < h.size(); ++i) h[i] = FloatToFp16(static_cast<float>(i) * 0.25f);
  std::vector<uint16_t> bf(2 * 3 * 4);
  for (size_t i = 0; i < bf.size(); ++i) bf[i] = FloatToBf16(static_cast<float>(i) - 3.0f);
  ASSERT_TRUE(w.AddTensor("blk.0.attn_q.weight", DType::kF32, {3, 5}, a.data(), a.size() * 4).ok());
  ASSERT_TRUE(w.AddTensor("vec", DType::kF16, {7}, h.data(), h.size() * 2).ok());
  ASSERT_TRUE(w.AddTensor("cube", DType::kBF16, {2, 3, 4}, bf.data(), bf.size() * 2).ok());

  const std::string path = testing::TempDir() + "/roundtrip.gguf";
  ::unlink(path.c_str());
  ASSERT_TRUE(w.Write(path, false).ok());
  EXPECT_EQ(ReadAll(path), w.Serialize());

  auto r = OpenGguf(path);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const ModelFile& f = **r;
  for (const auto& [k, v] : meta) {
    const MetaValue* got = f.metadata().Find(k);
    ASSERT_NE(got, nullptr) << k;
    MetaValue want = v;
    if (want.type == MetaType::kF32) want.f = static_cast<float>(want.f);
    if (want.type == MetaType::kArray && want.array_type == MetaType::kF32) {
      for (double& x : want.reals) x = static_cast<float>(x);
    }
    EXPECT_EQ(*got, want) << k << ": got " << got->DebugString() << ", want " << want.DebugString();
  }
  EXPECT_EQ(f.metadata().entries().size(), meta.size() + 1);  // + septet.rope.pairing
  ASSERT_EQ(f.tensors().size(), 3u);
  EXPECT_EQ(f.tensors()[0].shape, (std::vector<int64_t>{3, 5}));
  EXPECT_EQ(std::memcmp(f.tensors()[0].data, a.data(), a.size() * 4), 0);
  EXPECT_EQ(f.tensors()[1].dtype, DType::kF16);
  EXPECT_EQ(std::memcmp(f.tensors()[1].data, h.data(), h.size() * 2), 0);
  EXPECT_EQ(f.tensors()[2].dtype, DType::kBF16);
  EXPECT_EQ(f.tensors()[2].shape, (std::vector<int64_t>{2, 3, 4}));
  EXPECT_EQ(std::memcmp(f.tensors()[2].data, bf.data(), bf.size() * 2), 0);
  for (const TensorInfo& t : f.tensors()) EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data) % 32, 0u);
}

TEST(GgufWriterTest, DeterministicInsertionOrderAndZeroPadding) {
  const float x[3] = {1, 2, 3};
  auto build = [&] {
    GgufWriter w;
    EXPECT_TRUE(w.SetMeta("z.first", MetaValue::U32(1)).ok());
    EXPECT_TRUE(w.SetMeta("a.second", MetaValue::String("s")).ok());
    EXPECT_TRUE(w.SetMeta("z.first", MetaValue::U32(2)).ok());  // replaced in place
    EXPECT_TRUE(w.AddTensor("t", DType::kF32, {3}, x, sizeof x).ok());
    return w;
  };
  const std::vector<uint8_t> b1 = build().Serialize(), b2 = build().Serialize();
  EXPECT_EQ(b1, b2);
  ASSERT_EQ(b1.size() % 32, 0u);
  // Header: magic, version 3, 1 tensor, 2 kv; first key is the first inserted.
  uint32_t version;
  uint64_t n_tensors, n_kv, klen;
  std::memcpy(&version, &b1[4], 4);
  std::memcpy(&n_tensors, &b1[8], 8);
  std::memcpy(&n_kv, &b1[16], 8);
  std::memcpy(&klen, &b1[24], 8);
  EXPECT_EQ(std::memcmp(b1.data(), "GGUF", 4), 0);
  EXPECT_EQ(version, 3u);
  EXPECT_EQ(n_tensors, 1u);
  EXPECT_EQ(n_kv, 2u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(&b1[32]), klen), "z.first");
  // The 12 tensor bytes are the last 32-byte block, zero-padded.
  EXPECT_EQ(std::memcmp(&b1[b1.size() - 32], x, 12), 0);
  for (size_t i = b1.size() - 20; i < b1.size(); ++i) EXPECT_EQ(b1[i], 0) << i;
  auto r = OpenGguf(testing::WriteTempFile("order.gguf", b1));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)->metadata().GetInt("z.first").value(), 2);
}

TEST(GgufWriterTest, RefusesToOverwriteWithoutForce) {
  const std::string path = testing::TempDir() + "/exists.gguf";
  testing::WriteFile(path, std::string("old"));
  GgufWriter w;
  ASSERT_TRUE(w.SetMeta("k", MetaValue::U32(1)).ok());
  const Status st = w.Write(path, false);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find(path), std::string::npos);
  EXPECT_NE(st.message().find("--force"), std::string::npos);
  EXPECT_EQ(ReadAll(path), (std::vector<uint8_t>{'o', 'l', 'd'}));
  ASSERT_TRUE(w.Write(path, true).ok());
  EXPECT_EQ(ReadAll(path), w.Serialize());
  // No temp file is left behind.
  struct stat st_buf {};
  EXPECT_NE(::stat((path + ".tmp." + std::to_string(::getpid())).c_str(), &st_buf), 0);
}

TEST(GgufWriterTest, WriteIntoMissingDirectoryFailsCleanly) {
  GgufWriter w;
  const Status st = w.Write(testing::TempDir() + "/no/such/dir/x.gguf", false);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), StatusCode::kIoError);
  EXPECT_NE(st.message().find("no/such/dir/x.gguf.tmp."), std::string::npos);
}

TEST(GgufWriterTest, RejectsBadTensors) {
  GgufWriter w;
  const float x[8] = {};
  Status st = w.AddTensor("t", DType::kF32, {2, 4}, x, 31);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("tensor 't': got 31 bytes; 2 rows of 4 F32 values need 32"), std::string::npos)
      << st.message();
  EXPECT_TRUE(w.AddTensor("t", DType::kF32, {2, 4}, x, 32).ok());
  st = w.AddTensor("t", DType::kF32, {8}, x, 32);
  EXPECT_NE(st.message().find("added twice"), std::string::npos);
  st = w.AddTensor("u", DType::kF32, {1, 1, 1, 1, 8}, x, 32);
  EXPECT_NE(st.message().find("5 dims; expected 1..4"), std::string::npos);
  st = w.AddTensor("u", DType::kF32, {0, 8}, x, 0);
  EXPECT_NE(st.message().find("dim 0 = 0"), std::string::npos);
  st = w.AddTensor("u", DType::kQ8_A, {8}, x, 32);
  EXPECT_NE(st.message().find("cannot be stored"), std::string::npos);
  st = w.AddTensor(std::string(64, 'n'), DType::kF32, {8}, x, 32);
  EXPECT_NE(st.message().find("name must be 1..63 bytes"), std::string::npos);
  st = w.AddTensor("u", DType::kF32, {INT64_C(1) << 40, INT64_C(1) << 40, 8}, x, 32);
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(w.num_tensors(), 1u);
}

TEST(GgufWriterTest, RejectsValuesTheirTypeCannotHold) {
  GgufWriter w;
  EXPECT_FALSE(w.SetMeta("a", MetaValue::Integer(MetaType::kU8, 256)).ok());
  EXPECT_FALSE(w.SetMeta("a", MetaValue::Integer(MetaType::kI8, -129)).ok());
  EXPECT_FALSE(w.SetMeta("a", MetaValue::Integer(MetaType::kU32, -1)).ok());
  EXPECT_FALSE(w.SetMeta("a", MetaValue::Integer(MetaType::kBool, 2)).ok());
  EXPECT_FALSE(w.SetMeta("a", MetaValue::IntArray(MetaType::kU16, {1, 70000})).ok());
  EXPECT_FALSE(w.SetMeta("a", MetaValue::IntArray(MetaType::kArray, {})).ok());
  EXPECT_FALSE(w.SetMeta("", MetaValue::U32(1)).ok());
  MetaValue wrong_member = MetaValue::F32Array({1.0});
  wrong_member.ints = {1};
  EXPECT_FALSE(w.SetMeta("a", wrong_member).ok());
  wrong_member = MetaValue::I32Array({});
  wrong_member.strings = {"x"};
  EXPECT_FALSE(w.SetMeta("a", wrong_member).ok());
  const Status st = w.SetMeta("general.alignment", MetaValue::U32(48));
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("power of two"), std::string::npos);
  EXPECT_EQ(w.num_meta(), 0u);
}

TEST(GgufWriterTest, HonoursGeneralAlignment) {
  GgufWriter w;
  ASSERT_TRUE(w.SetMeta("general.alignment", MetaValue::U32(128)).ok());
  const float x[3] = {1, 2, 3};
  ASSERT_TRUE(w.AddTensor("a", DType::kF32, {3}, x, sizeof x).ok());
  ASSERT_TRUE(w.AddTensor("b", DType::kF32, {3}, x, sizeof x).ok());
  const std::string path = testing::WriteTempFile("align128.gguf", w.Serialize());
  auto r = OpenGguf(path);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)->tensors()[1].data - (*r)->tensors()[0].data, 128);
}

}  // namespace
}  // namespace septet
