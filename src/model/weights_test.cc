#include "model/weights.h"

#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "kernels/simd/repack.h"
#include "kernels/simd/simd_ops.h"
#include "quant/registry.h"
#include "model/hparams.h"
#include "model/testing_model.h"

namespace septet::model {
namespace {

using testing::MakeTinyLlama;
using testing::TinyLlamaSpec;

// A view of `f` (whose buffers must outlive it) with one tensor reshaped or dropped.
std::unique_ptr<ModelFile> Edited(const ModelFile& f, const std::string& name, const std::vector<int64_t>* shape) {
  auto copy = std::make_unique<ModelFile>(f.path(), f.format());
  copy->mutable_metadata() = f.metadata();
  for (TensorInfo t : f.tensors()) {
    if (t.name == name) {
      if (shape == nullptr) continue;
      t.shape = *shape;
    }
    copy->AddTensor(t);
  }
  return copy;
}

// With the repack off (as for streamed layers), stored types are used straight
// from the mapping; the repacks are tested below.
TEST(WeightsTest, StoredTypesAreMappedWithoutCopy) {
  auto f = MakeTinyLlama({});
  auto hp = ReadLlamaHParams(*f);
  ASSERT_TRUE(hp.ok());
  auto w = BindLlamaWeights(*f, *hp, BindOptions{std::nullopt, false});
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(w->owned_bytes, 0u);
  EXPECT_EQ(w->layers[1].wq.data, f->FindTensor("blk.1.attn_q.weight")->data);
  EXPECT_EQ(w->output.data, f->FindTensor("output.weight")->data);
  EXPECT_FALSE(w->tied_output);
  EXPECT_EQ(w->mapped_bytes, f->TensorBytes());
}

TEST(WeightsTest, TiedOutputUsesTokenEmbedding) {
  TinyLlamaSpec s;
  s.tied = true;
  auto f = MakeTinyLlama(s);
  auto hp = ReadLlamaHParams(*f);
  ASSERT_TRUE(hp.ok());
  auto w = BindLlamaWeights(*f, *hp, {});
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_TRUE(w->tied_output);
  EXPECT_EQ(w->output.data, w->token_embd.data);

  // With a compute type the classifier is a converted copy; the lookup table is not.
  auto wq = BindLlamaWeights(*f, *hp, BindOptions{DType::kF16});
  ASSERT_TRUE(wq.ok()) << wq.status().ToString();
  EXPECT_EQ(wq->output.type, DType::kF16);
  EXPECT_EQ(wq->token_embd.type, DType::kF32);
  EXPECT_NE(wq->output.data, wq->token_embd.data);
}

TEST(WeightsTest, ComputeTypeConvertsEveryMatrixAndOwnsIt) {
  auto f = MakeTinyLlama({});
  auto hp = ReadLlamaHParams(*f);
  ASSERT_TRUE(hp.ok());
  auto w = BindLlamaWeights(*f, *hp, BindOptions{DType::kBF16, false});  // the conversion alone
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  for (const LayerWeights& L : w->layers) {
    for (const cpu::WeightView* v : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down}) {
      EXPECT_EQ(v->type, DType::kBF16);
      EXPECT_EQ(v->row_bytes, static_cast<size_t>(v->cols) * 2);
    }
  }
  // Per layer: q 32x32, k 16x32, v 16x32, o 32x32, gate/up 44x32, down 32x44 = 7296
  // weights; 2 layers + the 40x32 classifier = 15872 weights at 2 bytes.
  EXPECT_EQ(w->owned_bytes, 15872u * 2);
}

TEST(WeightsTest, ShapeMismatchNamesTensorAndShapes) {
  auto f = MakeTinyLlama({});
  auto hp = ReadLlamaHParams(*f);
  ASSERT_TRUE(hp.ok());
  const std::vector<int64_t> wrong = {44, 32};
  auto g = Edited(*f, "blk.1.ffn_down.weight", &wrong);
  auto w = BindLlamaWeights(*g, *hp, {});
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().code(), StatusCode::kCorrupt);
  EXPECT_NE(w.status().message().find("'blk.1.ffn_down.weight' has shape [44, 32]; expected [32, 44]"),
            std::string::npos)
      << w.status().message();
}

TEST(WeightsTest, MissingTensorIsNamed) {
  auto f = MakeTinyLlama({});
  auto hp = ReadLlamaHParams(*f);
  ASSERT_TRUE(hp.ok());
  auto copy = Edited(*f, "blk.0.attn_v.weight", nullptr);
  auto w = BindLlamaWeights(*copy, *hp, {});
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().code(), StatusCode::kNotFound);
  EXPECT_NE(w.status().message().find("blk.0.attn_v.weight"), std::string::npos) << w.status().message();
}

// A weight the compute type cannot hold (here NaN) is an error naming the file, the
// tensor, the types and the row, not a failed CHECK inside the quantizer; also when
// the rows are converted in ranges on several workers (row 40 is in the third of 3).
TEST(WeightsTest, UnconvertibleWeightNamesTensorAndRow) {
  auto f = MakeTinyLlama({});
  auto hp = ReadLlamaHParams(*f);
  ASSERT_TRUE(hp.ok());
  for (const int64_t row : {int64_t{3}, int64_t{40}}) {
    auto copy = std::make_unique<ModelFile>(f->path(), f->format());
    copy->mutable_metadata() = f->metadata();
    std::vector<uint8_t> bad;
    for (TensorInfo t : f->tensors()) {
      if (t.name == "blk.1.ffn_up.weight") {
        ASSERT_EQ(t.dtype, DType::kF32);
        bad.assign(t.data, t.data + t.nbytes);
        const float nan = std::numeric_limits<float>::quiet_NaN();
        std::memcpy(bad.data() + (row * t.cols() + 5) * sizeof(float), &nan, sizeof(float));
        t.data = bad.data();
      }
      copy->AddTensor(t);
    }
    for (DType type : {DType::kQ8_0, DType::kQ3P5}) {
      for (const int32_t threads : {1, 3}) {
        SCOPED_TRACE(std::string(DTypeName(type)) + " row " + std::to_string(row) + " threads " +
                     std::to_string(threads));
        BindOptions o{type, false};
        o.threads = threads;
        auto w = BindLlamaWeights(*copy, *hp, o);
        ASSERT_FALSE(w.ok());
        EXPECT_EQ(w.status().code(), StatusCode::kInvalidArgument);
        const std::string& msg = w.status().message();
        EXPECT_NE(msg.find("tensor 'blk.1.ffn_up.weight' (F32) cannot be converted to " +
                           std::string(DTypeName(type)) + ", row " + std::to_string(row) + ": "),
                  std::string::npos)
            << msg;
        EXPECT_NE(msg.find("src[5] = nan"), std::string::npos) << msg;
      }
    }
  }
  EXPECT_TRUE(BindLlamaWeights(*f, *hp, BindOptions{DType::kQ8_0, false}).ok());  // the file as it was
}

// The conversion's bytes do not depend on how many workers convert the rows.
TEST(WeightsTest, ComputeTypeBytesDoNotDependOnThreads) {
  auto f = MakeTinyLlama({});
  auto hp = ReadLlamaHParams(*f);
  ASSERT_TRUE(hp.ok());
  for (DType type : {DType::kQ3P5, DType::kQ4_G, DType::kQ8_0}) {
    std::vector<std::vector<uint8_t>> first;
    for (const int32_t threads : {1, 3, 7, 64}) {
      BindOptions o{type, false};
      o.threads = threads;
      auto w = BindLlamaWeights(*f, *hp, o);
      ASSERT_TRUE(w.ok()) << w.status().ToString();
      std::vector<std::vector<uint8_t>> bytes;
      for (const LayerWeights& L : w->layers) {
        for (const cpu::WeightView* v : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down}) {
          bytes.emplace_back(v->data, v->data + v->row_bytes * static_cast<size_t>(v->rows));
        }
      }
      if (first.empty()) {
        first = bytes;
      } else {
        EXPECT_EQ(bytes, first) << DTypeName(type) << " with " << threads << " workers";
      }
    }
  }
}

TEST(WeightsTest, ActivationOnlyComputeTypeIsRejected) {
  auto f = MakeTinyLlama({});
  auto hp = ReadLlamaHParams(*f);
  ASSERT_TRUE(hp.ok());
  auto w = BindLlamaWeights(*f, *hp, BindOptions{DType::kQ8_A});
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().code(), StatusCode::kInvalidArgument);
}

TEST(WeightsTest, Q3P5AndQ3P5NLMatmulWeightsAreRepackedOnX86Simd) {
  for (DType type : {DType::kQ3P5, DType::kQ3P5_NL}) {
    SCOPED_TRACE(GetTypeTraits(type).name);
    TinyLlamaSpec s;
    s.dim = 128;
    s.ffn = 300;  // w_down: 2 full blocks + a short tail block
    s.n_rot = 16;
    s.tied = true;
    auto f = MakeTinyLlama(s);
    auto hp = ReadLlamaHParams(*f);
    ASSERT_TRUE(hp.ok());
    BindOptions o{type};
    auto w = BindLlamaWeights(*f, *hp, o);
    o.repack = false;
    auto plain = BindLlamaWeights(*f, *hp, o);
    ASSERT_TRUE(w.ok() && plain.ok());
    const std::string target = simd::TargetName();
    const bool x86 = target == "AVX2" || target == "AVX3" || target == "AVX3_DL";
    const bool dl = target == "AVX3_DL";
    const auto q3p5 = dl ? cpu::WeightLayout::kQ3P5Rows16 : cpu::WeightLayout::kQ3P5Slots;
    const auto q3p5nl = dl ? cpu::WeightLayout::kQ3P5NLRows16 : cpu::WeightLayout::kQ3P5NLPlanes;
    const auto packed = type == DType::kQ3P5 ? q3p5 : q3p5nl;
    const auto want = x86 ? packed : cpu::WeightLayout::kFile;
    // Rows of 16 pad each matrix's last group with zero rows.
    size_t padding = 0;
    const auto pad = [&](const cpu::WeightView& v) {
      if (v.layout == cpu::WeightLayout::kQ3P5Rows16 || v.layout == cpu::WeightLayout::kQ3P5NLRows16) {
        padding += static_cast<size_t>((-v.rows) & 15) * v.row_bytes;
      }
    };
    for (const LayerWeights& L : w->layers) {
      for (const cpu::WeightView* v : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down}) {
        EXPECT_EQ(v->layout, want);
        pad(*v);
      }
    }
    EXPECT_EQ(w->output.layout, want);  // tied: an own converted copy, matmul only
    pad(w->output);
    EXPECT_EQ(w->token_embd.layout, cpu::WeightLayout::kFile);
    EXPECT_EQ(plain->layers[0].wq.layout, cpu::WeightLayout::kFile);
    // The repacked copy replaces the conversion buffer: the same owned bytes, and
    // the padding rows.
    EXPECT_EQ(w->owned_bytes, plain->owned_bytes + padding);
    EXPECT_EQ(w->owned.size(), plain->owned.size());
  }
}

// Stored F32 / F16 / BF16 matrices go into float panels on x86 SIMD targets: an
// owned copy of ceil(rows / 16) * 16 rows replaces the mapping.
TEST(WeightsTest, FloatMatmulWeightsAreRepackedIntoPanelsOnX86Simd) {
  auto f = MakeTinyLlama({});
  auto hp = ReadLlamaHParams(*f);
  ASSERT_TRUE(hp.ok());
  auto w = BindLlamaWeights(*f, *hp, BindOptions{});
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  const std::string target = simd::TargetName();
  const bool x86 = target == "AVX2" || target == "AVX3" || target == "AVX3_DL";
  size_t padded = 0;
  for (const LayerWeights& L : w->layers) {
    for (const cpu::WeightView* v : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down}) {
      EXPECT_EQ(v->layout, x86 ? cpu::WeightLayout::kFloatPanels : cpu::WeightLayout::kFile);
      padded += static_cast<size_t>((v->rows + 15) / 16 * 16) * v->row_bytes;
    }
  }
  EXPECT_EQ(w->output.layout, x86 ? cpu::WeightLayout::kFloatPanels : cpu::WeightLayout::kFile);
  padded += static_cast<size_t>((w->output.rows + 15) / 16 * 16) * w->output.row_bytes;
  EXPECT_EQ(w->owned_bytes, x86 ? padded : 0u);
}

// A tied head stored in a repackable type: the head is repacked, and the lookup
// table is the same repacked copy (no second copy, the mapping is not read).
TEST(WeightsTest, TiedRepackableHeadSharesOneRepackedCopyWithTheLookup) {
  for (DType type : {DType::kQ3P5, DType::kQ3P5_NL, DType::kF32, DType::kF16}) {
    const TypeTraits& t = GetTypeTraits(type);
    SCOPED_TRACE(t.name);
    TinyLlamaSpec s;
    s.dim = 160;  // Q3P5, Q3P5_NL: one full block + a short block of 32
    s.vocab = 37;  // float panels: 2 whole panels and a padded one
    s.n_rot = 16;
    s.tied = true;
    s.matrix_type = type;
    s.embd_type = type;
    auto f = MakeTinyLlama(s);
    auto hp = ReadLlamaHParams(*f);
    ASSERT_TRUE(hp.ok());
    auto w = BindLlamaWeights(*f, *hp, BindOptions{});
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    EXPECT_EQ(w->token_embd.data, w->output.data);
    EXPECT_EQ(w->token_embd.layout, w->output.layout);
    const std::string target = simd::TargetName();
    if (target == "AVX2" || target == "AVX3" || target == "AVX3_DL") {
      const bool dl = target == "AVX3_DL";
      const auto q3p5 = dl ? cpu::WeightLayout::kQ3P5Rows16 : cpu::WeightLayout::kQ3P5Slots;
      const auto q3p5nl = dl ? cpu::WeightLayout::kQ3P5NLRows16 : cpu::WeightLayout::kQ3P5NLPlanes;
      EXPECT_EQ(w->output.layout, type == DType::kQ3P5      ? q3p5
                                  : type == DType::kQ3P5_NL ? q3p5nl
                                                            : cpu::WeightLayout::kFloatPanels);
    }
    const TensorInfo* embd = f->FindTensor("token_embd.weight");
    ASSERT_NE(embd, nullptr);
    const size_t row_bytes = t.row_bytes(s.dim);
    std::vector<float> a(static_cast<size_t>(s.dim)), b(a.size());
    for (int64_t r = 0; r < s.vocab; ++r) {
      t.to_float(embd->data + static_cast<size_t>(r) * row_bytes, a.data(), s.dim);
      simd::RowToFloat(w->token_embd, r, b.data());
      ASSERT_EQ(a, b) << "row " << r;
    }
  }
}

}  // namespace
}  // namespace septet::model
