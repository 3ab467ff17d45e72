#include "io/gguf_stream_writer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "io/gguf_reader.h"
#include "io/gguf_writer.h"
#include "io/testing_files.h"
#include "quant/registry.h"

namespace septet {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// A small model-like file: every metadata kind and a few tensor types.
template <typename W>
void Declare(W& w, const std::vector<uint8_t>& a, const std::vector<uint8_t>& b, bool with_data) {
  ASSERT_TRUE(w.SetMeta("general.architecture", MetaValue::String("llama")).ok());
  ASSERT_TRUE(w.SetMeta("llama.block_count", MetaValue::U32(3)).ok());
  ASSERT_TRUE(w.SetMeta("x.f", MetaValue::F32(0.25f)).ok());
  ASSERT_TRUE(w.SetMeta("x.b", MetaValue::Bool(true)).ok());
  ASSERT_TRUE(w.SetMeta("x.u64", MetaValue::U64(~uint64_t{0})).ok());
  ASSERT_TRUE(w.SetMeta("x.strs", MetaValue::StringArray({"a", "bc", ""})).ok());
  ASSERT_TRUE(w.SetMeta("x.reals", MetaValue::F32Array({1.5, -2})).ok());
  ASSERT_TRUE(w.SetMeta("x.ints", MetaValue::I32Array({1, -7, 3})).ok());
  if constexpr (std::is_same_v<W, GgufWriter>) {
    ASSERT_TRUE(w.AddTensor("a", DType::kF32, {3, 5}, a.data(), a.size()).ok());
    ASSERT_TRUE(w.AddTensor("b", DType::kQ3P5, {2, 200}, b.data(), b.size()).ok());
  } else {
    (void)with_data;
    ASSERT_TRUE(w.AddTensor("a", DType::kF32, {3, 5}).ok());
    ASSERT_TRUE(w.AddTensor("b", DType::kQ3P5, {2, 200}).ok());
  }
}

TEST(GgufStreamWriter, SameBytesAsGgufWriterAnyChunking) {
  std::vector<uint8_t> a(3 * 5 * 4), b(2 * GetTypeTraits(DType::kQ3P5).row_bytes(200));
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<uint8_t>(i * 7 + 1);
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(i * 13 + 5);
  GgufWriter ref;
  Declare(ref, a, b, true);
  const std::vector<uint8_t> want = ref.Serialize();
  ASSERT_FALSE(want.empty());

  for (size_t chunk : {size_t{1}, size_t{7}, size_t{1000}}) {
    const std::string path = testing::TempDir() + "/stream_" + std::to_string(chunk) + ".gguf";
    ::unlink(path.c_str());
    GgufStreamWriter w;
    Declare(w, a, b, false);
    EXPECT_EQ(w.file_bytes(), want.size());
    ASSERT_TRUE(w.Begin(path, false).ok());
    for (const auto* t : {&a, &b}) {
      for (size_t off = 0; off < t->size(); off += chunk) {
        ASSERT_TRUE(w.Append(t->data() + off, std::min(chunk, t->size() - off)).ok());
      }
    }
    ASSERT_TRUE(w.Finish().ok());
    const std::string got = ReadAll(path);
    EXPECT_EQ(got, std::string(want.begin(), want.end())) << "chunk " << chunk;
    auto f = OpenGguf(path);
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    EXPECT_EQ((*f)->tensors().size(), 2u);
  }
}

// Both writers serialize the header through gguf_header.h: every metadata type, a
// non-default alignment and several tensors give the same file either way.
TEST(GgufStreamWriter, SameFileAsGgufWriterEveryMetaTypeAndAlignment) {
  std::vector<std::pair<std::string, MetaValue>> meta = testing::AllTypesMeta();
  meta.insert(meta.begin() + 3, {"general.alignment", MetaValue::U32(64)});
  meta.emplace_back("t.u8", MetaValue::Integer(MetaType::kU8, 7));  // replaced in place
  struct T {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
    std::vector<uint8_t> bytes;
  };
  std::vector<T> tensors = {{"blk.0.attn_q.weight", DType::kF32, {3, 5}, {}},
                            {"vec", DType::kF16, {7}, {}},
                            {"q", DType::kQ3P5, {2, 200}, {}},
                            {"cube", DType::kBF16, {2, 3, 4}, {}}};
  for (T& t : tensors) {
    int64_t rows = 1;
    for (size_t d = 0; d + 1 < t.shape.size(); ++d) rows *= t.shape[d];
    t.bytes.resize(static_cast<size_t>(rows) * GetTypeTraits(t.dtype).row_bytes(t.shape.back()));
    for (size_t i = 0; i < t.bytes.size(); ++i) t.bytes[i] = static_cast<uint8_t>(i * 31 + t.name.size());
  }

  GgufWriter ref;
  GgufStreamWriter w;
  for (const auto& [k, v] : meta) {
    ASSERT_TRUE(ref.SetMeta(k, v).ok()) << k;
    ASSERT_TRUE(w.SetMeta(k, v).ok()) << k;
  }
  for (const T& t : tensors) {
    ASSERT_TRUE(ref.AddTensor(t.name, t.dtype, t.shape, t.bytes.data(), t.bytes.size()).ok()) << t.name;
    ASSERT_TRUE(w.AddTensor(t.name, t.dtype, t.shape).ok()) << t.name;
  }
  const std::string ref_path = testing::TempDir() + "/same_file_ref.gguf";
  const std::string path = testing::TempDir() + "/same_file_stream.gguf";
  ::unlink(ref_path.c_str());
  ::unlink(path.c_str());
  ASSERT_TRUE(ref.Write(ref_path, false).ok());
  ASSERT_TRUE(w.Begin(path, false).ok());
  for (const T& t : tensors) ASSERT_TRUE(w.Append(t.bytes.data(), t.bytes.size()).ok()) << t.name;
  ASSERT_TRUE(w.Finish().ok());

  const std::string want = ReadAll(ref_path), got = ReadAll(path);
  ASSERT_FALSE(want.empty());
  EXPECT_EQ(want.size() % 64, 0u);
  EXPECT_EQ(got.size(), w.file_bytes());
  EXPECT_EQ(got, want);
  const std::vector<uint8_t> header = w.SerializeHeader();
  EXPECT_EQ(want.compare(0, header.size(), std::string(header.begin(), header.end())), 0);
  auto f = OpenGguf(path);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ((*f)->tensors().size(), tensors.size());
  EXPECT_EQ((*f)->tensors()[1].data - (*f)->tensors()[0].data, 64);
}

TEST(GgufStreamWriter, RefusesOverwriteAndBadAppends) {
  const std::string path = testing::TempDir() + "/stream_exists.gguf";
  std::ofstream(path) << "x";
  GgufStreamWriter w;
  ASSERT_TRUE(w.AddTensor("a", DType::kF32, {4}).ok());
  const Status st = w.Begin(path, false);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("--force"), std::string::npos) << st.message();
  EXPECT_EQ(ReadAll(path), "x");

  GgufStreamWriter v;
  ASSERT_TRUE(v.AddTensor("a", DType::kF32, {4}).ok());
  EXPECT_FALSE(v.AddTensor("a", DType::kF32, {4}).ok());  // duplicate name
  EXPECT_FALSE(v.AddTensor("q", DType::kQ8_0, {4, 33}).ok());  // not a block multiple
  ASSERT_TRUE(v.Begin(path, true).ok());
  const float x[5] = {};
  EXPECT_FALSE(v.Append(x, sizeof(x)).ok());  // 20 bytes into a 16-byte tensor
  EXPECT_EQ(ReadAll(path), "x");               // nothing renamed
}

TEST(GgufStreamWriter, IncompleteFinishLeavesNoFile) {
  const std::string path = testing::TempDir() + "/stream_incomplete.gguf";
  ::unlink(path.c_str());
  {
    GgufStreamWriter w;
    ASSERT_TRUE(w.AddTensor("a", DType::kF32, {4}).ok());
    ASSERT_TRUE(w.Begin(path, false).ok());
    const float x[2] = {};
    ASSERT_TRUE(w.Append(x, sizeof(x)).ok());
    const Status st = w.Finish();
    EXPECT_FALSE(st.ok());
    EXPECT_NE(st.message().find("'a'"), std::string::npos) << st.message();
  }
  EXPECT_NE(::access(path.c_str(), F_OK), 0);
  EXPECT_NE(::access((path + ".tmp." + std::to_string(::getpid())).c_str(), F_OK), 0);
}

TEST(GgufStreamWriter, DataPast2To64BytesIsRefusedBeforeAnyFileExists) {
  const std::string path = testing::TempDir() + "/stream_huge.gguf";
  ::unlink(path.c_str());
  GgufStreamWriter w;
  // 2^31 rows of 2^30 floats: 2^63 bytes each, so tensor 'b' ends past 2^64.
  ASSERT_TRUE(w.AddTensor("a", DType::kF32, {int64_t{1} << 31, int64_t{1} << 30}).ok());
  ASSERT_TRUE(w.AddTensor("b", DType::kF32, {int64_t{1} << 31, int64_t{1} << 30}).ok());
  const Status st = w.Begin(path, false);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("tensor 'b'"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("overflows"), std::string::npos) << st.message();
  EXPECT_NE(::access(path.c_str(), F_OK), 0);
  EXPECT_NE(::access((path + ".tmp." + std::to_string(::getpid())).c_str(), F_OK), 0);
}

}  // namespace
}  // namespace septet
