#include "io/model_file.h"

#include <gtest/gtest.h>

#include "io/testing_files.h"
#include "util/test_util.h"

namespace septet {
namespace {

TEST(MetadataTest, TypedGettersAcceptCompatibleTypes) {
  Metadata m;
  m.Set("u8", MetaValue::Integer(MetaType::kU8, 200));
  m.Set("i32", MetaValue::I32(-7));
  m.Set("u64big", MetaValue::U64(uint64_t{1} << 63));
  m.Set("u64", MetaValue::U64(123));
  m.Set("f32", MetaValue::F32(0.5f));
  m.Set("str", MetaValue::String("llama"));
  m.Set("flag", MetaValue::Bool(true));

  EXPECT_EQ(m.GetInt("u8").value(), 200);
  EXPECT_EQ(m.GetInt("i32").value(), -7);
  EXPECT_EQ(m.GetInt("u64").value(), 123);
  EXPECT_DOUBLE_EQ(m.GetFloat("f32").value(), 0.5);
  EXPECT_DOUBLE_EQ(m.GetFloat("i32").value(), -7.0);  // floats accept ints
  EXPECT_EQ(m.GetString("str").value(), "llama");
  EXPECT_TRUE(m.GetBool("flag").value());
  EXPECT_EQ(m.GetIntOr("missing", 42), 42);
  EXPECT_EQ(m.GetIntOr("str", 42), 42);
  EXPECT_DOUBLE_EQ(m.GetFloatOr("missing", 1.5), 1.5);
  EXPECT_EQ(m.GetStringOr("u8", "x"), "x");
  EXPECT_EQ(m.GetStringOr("str", "x"), "llama");
}

TEST(MetadataTest, ErrorsNameTheKeyAndTheTypes) {
  Metadata m;
  m.Set("str", MetaValue::String("llama"));
  m.Set("u64big", MetaValue::U64(uint64_t{1} << 63));
  m.Set("f", MetaValue::F32(1.0f));

  auto missing = m.GetInt("llama.block_count");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("'llama.block_count'"), std::string::npos);

  auto wrong = m.GetInt("str");
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("'str' has type str; expected an integer"), std::string::npos);

  auto big = m.GetInt("u64big");
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.status().message().find("9223372036854775808"), std::string::npos);

  EXPECT_FALSE(m.GetInt("f").ok());  // a real is not an integer
  EXPECT_FALSE(m.GetString("f").ok());
  EXPECT_FALSE(m.GetBool("f").ok());
}

TEST(MetaValueTest, DebugStringAndEquality) {
  EXPECT_EQ(MetaValue::U32(5).DebugString(), "u32 5");
  EXPECT_EQ(MetaValue::String("a").DebugString(), "str \"a\"");
  EXPECT_EQ(MetaValue::StringArray({"a", "b", "c"}).DebugString(2), "arr[str] (3) [\"a\", \"b\", ...]");
  EXPECT_EQ(MetaValue::I32Array({1, -2}).DebugString(), "arr[i32] (2) [1, -2]");
  EXPECT_EQ(MetaValue::U32(5), MetaValue::U32(5));
  EXPECT_FALSE(MetaValue::U32(5) == MetaValue::I32(5));
}

TEST(TensorInfoTest, RowsColsNumel) {
  TensorInfo t;
  t.shape = {3, 4, 5};
  EXPECT_EQ(t.rows(), 12);
  EXPECT_EQ(t.cols(), 5);
  EXPECT_EQ(t.numel(), 60);
  t.shape = {7};
  EXPECT_EQ(t.rows(), 1);
  EXPECT_EQ(t.cols(), 7);
  EXPECT_EQ(t.numel(), 7);
}

TEST(ModelFileTest, FindTensorTensorBytesAndOwnBuffer) {
  ModelFile f("x", "test");
  std::vector<uint8_t>& buf = f.OwnBuffer(16);
  EXPECT_EQ(buf.size(), 16u);
  TensorInfo a;
  a.name = "a";
  a.shape = {4};
  a.data = buf.data();
  a.nbytes = 16;
  f.AddTensor(a);
  TensorInfo b = a;
  b.name = "b";
  b.nbytes = 8;
  f.AddTensor(b);
  ASSERT_NE(f.FindTensor("b"), nullptr);
  EXPECT_EQ(f.FindTensor("b")->nbytes, 8u);
  EXPECT_EQ(f.FindTensor("c"), nullptr);
  EXPECT_EQ(f.TensorBytes(), 24u);
}

TEST(ModelFileTest, LlamaTensorNamesOrder) {
  const auto names = LlamaTensorNames(2, true);
  ASSERT_EQ(names.size(), 1u + 2 * 9 + 2);
  EXPECT_EQ(names.front(), "token_embd.weight");
  EXPECT_EQ(names[1], "blk.0.attn_norm.weight");
  EXPECT_EQ(names[9], "blk.0.ffn_up.weight");
  EXPECT_EQ(names[10], "blk.1.attn_norm.weight");
  EXPECT_EQ(names[names.size() - 2], "output_norm.weight");
  EXPECT_EQ(names.back(), "output.weight");
  EXPECT_EQ(LlamaTensorNames(2, false).back(), "output_norm.weight");
}

TEST(ModelFileTest, OpenDispatchesByPathAndMagic) {
  auto missing = ModelFile::Open(testing::TempDir() + "/does-not-exist.gguf");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);

  const std::string empty = testing::WriteTempFile("empty.bin", {});
  auto e = ModelFile::Open(empty);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kCorrupt);
  EXPECT_NE(e.status().message().find(empty + ": file is empty"), std::string::npos);

  const std::string gguf = testing::WriteTempFile("dispatch.gguf", testing::SmallRawGguf().Encode());
  auto g = ModelFile::Open(gguf);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ((*g)->format(), "gguf");

  const std::string bin = testing::WriteTempFile("dispatch.bin", testing::MakeLlama2cLegacy({}, true));
  auto l = ModelFile::Open(bin);
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  EXPECT_EQ((*l)->format(), "llama2c");

  testing::HfOptions o;
  const std::string dir = testing::WriteTinyHfModel("dispatch_hf", o);
  auto h = ModelFile::Open(dir);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ((*h)->format(), "safetensors");
}

}  // namespace
}  // namespace septet
