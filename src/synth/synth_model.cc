#include "synth/synth_model.h"

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <thread>

#include "io/gguf_stream_writer.h"
#include "io/model_file.h"
#include "quant/registry.h"
#include "io/gguf_file_type.h"

namespace septet::synth {
namespace {

constexpr float kWeightStd = 0.02f;     // LLaMA init scale
constexpr uint64_t kOutlierPerMille = 10;  // 1% of weights ...
constexpr float kOutlierScale = 8.0f;      // ... scaled x8
constexpr float kNormStd = 0.05f;
constexpr size_t kBlockPool = 4096;     // full blocks per pool
constexpr size_t kTailPool = 1024;      // short blocks per tail length
constexpr size_t kRowPool = 32;         // rows per pool for whole-row formats
constexpr size_t kChunkBytes = size_t{64} << 20;
// Stream tags keep the pools' random streams apart from the tensors'.
constexpr uint64_t kPoolTag = 0xB10C'B10C'0000'0000ull;

uint64_t SplitMix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// One independent stream per (seed, a, b): the same bytes whatever the thread count.
uint64_t StreamSeed(uint64_t seed, uint64_t a, uint64_t b) {
  return SplitMix(SplitMix(seed) ^ SplitMix(a * 0x100000001B3ull + SplitMix(b)));
}

// xoshiro256** (public-domain algorithm by Blackman and Vigna).
class Rng {
 public:
  explicit Rng(uint64_t seed) {
    for (uint64_t& s : s_) s = seed = SplitMix(seed);
  }
  uint64_t Next() {
    const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = Rotl(s_[3], 45);
    return result;
  }
  // Standard normal (Box-Muller, both values used).
  float Gauss() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const uint64_t r = Next();
    const float u1 = (static_cast<float>(r >> 40) + 1.0f) * 0x1p-24f;  // (0, 1]
    const float u2 = static_cast<float>((r >> 16) & 0xFFFFFF) * 0x1p-24f;
    const float rad = std::sqrt(-2.0f * std::log(u1));
    const float th = 6.2831853f * u2;
    spare_ = rad * std::sin(th);
    has_spare_ = true;
    return rad * std::cos(th);
  }
  // A weight of a 2-D matrix: N(0, 0.02^2), 1% of them x8.
  float Weight() {
    float w = kWeightStd * Gauss();
    if (Next() % 1000 < kOutlierPerMille) w *= kOutlierScale;
    return w;
  }

 private:
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
  float spare_ = 0;
  bool has_spare_ = false;
};

// Runs fn(begin, end) over [0, n) split into n_threads contiguous ranges.
template <typename Fn>
void ParallelFor(size_t n, int32_t n_threads, const Fn& fn) {
  const size_t t = std::min<size_t>(static_cast<size_t>(std::max(1, n_threads)), n);
  if (t <= 1) {
    if (n > 0) fn(size_t{0}, n);
    return;
  }
  std::vector<std::thread> threads;
  threads.reserve(t);
  for (size_t i = 0; i < t; ++i) {
    const size_t b = n * i / t, e = n * (i + 1) / t;
    threads.emplace_back([&fn, b, e] { fn(b, e); });
  }
  for (std::thread& th : threads) th.join();
}

struct TensorPlan {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  bool is_norm;
  int64_t rows() const { return shape.size() == 1 ? 1 : shape[0]; }
  int64_t cols() const { return shape.back(); }
};

std::vector<TensorPlan> PlanTensors(const ModelShape& s, int64_t n_layers, DType type) {
  const int64_t q_dim = s.n_heads * s.head_dim(), kv_dim = s.n_kv_heads * s.head_dim();
  std::vector<TensorPlan> out;
  for (const std::string& name : LlamaTensorNames(static_cast<int>(n_layers), !s.tied_output)) {
    const auto ends = [&](const char* suffix) {
      const size_t n = std::strlen(suffix);
      return name.size() >= n && name.compare(name.size() - n, n, suffix) == 0;
    };
    TensorPlan t{name, type, {}, false};
    if (ends("norm.weight")) {
      t = TensorPlan{name, DType::kF32, {s.dim}, true};
    } else if (name == "token_embd.weight" || name == "output.weight") {
      t.shape = {s.vocab, s.dim};
    } else if (ends("attn_q.weight")) {
      t.shape = {q_dim, s.dim};
    } else if (ends("attn_k.weight") || ends("attn_v.weight")) {
      t.shape = {kv_dim, s.dim};
    } else if (ends("attn_output.weight")) {
      t.shape = {s.dim, q_dim};
    } else if (ends("ffn_gate.weight") || ends("ffn_up.weight")) {
      t.shape = {s.ffn_dim, s.dim};
    } else if (ends("ffn_down.weight")) {
      t.shape = {s.dim, s.ffn_dim};
    }
    out.push_back(std::move(t));
  }
  return out;
}

// Quantized blocks (or rows) to assemble rows from; see synth_model.h.
class Pools {
 public:
  Pools(DType type, uint64_t seed, int32_t n_threads)
      : tr_(GetTypeTraits(type)), seed_(seed), n_threads_(n_threads) {}

  // Builds whatever a row of `cols` values needs (idempotent).
  Status Prepare(int64_t cols) {
    if (tr_.block_size == 0) {
      if (!rows_.count(cols)) rows_[cols] = Quantize(kRowPool, cols, 1000000 + static_cast<uint64_t>(cols));
      return Status::Ok();
    }
    const int64_t bs = tr_.block_size;
    if (tr_.row_bytes(bs) != tr_.block_bytes) {
      return Internal("%s: row_bytes(%d) != block_bytes", tr_.name, tr_.block_size);
    }
    if (full_.empty()) full_ = Quantize(kBlockPool, bs, 0);
    const int64_t tail = cols % bs;
    if (tail != 0 && !tails_.count(tail)) tails_[tail] = Quantize(kTailPool, tail, static_cast<uint64_t>(tail));
    if ((cols / bs) * tr_.block_bytes + (tail ? tr_.row_bytes(tail) : 0) != tr_.row_bytes(cols)) {
      return Internal("%s: a row of %" PRId64 " is not whole blocks plus one short block", tr_.name, cols);
    }
    return Status::Ok();
  }

  // Row `row` of tensor `tensor`: random draws from the pools.
  void AssembleRow(size_t tensor, int64_t row, int64_t cols, uint8_t* dst) const {
    Rng rng(StreamSeed(seed_, tensor, static_cast<uint64_t>(row)));
    if (tr_.block_size == 0) {
      const size_t rb = tr_.row_bytes(cols);
      std::memcpy(dst, rows_.at(cols).data() + (rng.Next() % kRowPool) * rb, rb);
      return;
    }
    const int64_t bs = tr_.block_size, nfull = cols / bs, tail = cols % bs;
    const size_t bb = tr_.block_bytes;
    for (int64_t b = 0; b < nfull; ++b, dst += bb) std::memcpy(dst, full_.data() + (rng.Next() % kBlockPool) * bb, bb);
    if (tail != 0) {
      const size_t tb = tr_.row_bytes(tail);
      std::memcpy(dst, tails_.at(tail).data() + (rng.Next() % kTailPool) * tb, tb);
    }
  }

 private:
  // `count` rows of n values, each drawn from its own stream and quantized.
  std::vector<uint8_t> Quantize(size_t count, int64_t n, uint64_t pool_id) const {
    const size_t rb = tr_.row_bytes(n);
    std::vector<uint8_t> out(count * rb);
    ParallelFor(count, n_threads_, [&](size_t b, size_t e) {
      std::vector<float> w(static_cast<size_t>(n));
      for (size_t i = b; i < e; ++i) {
        Rng rng(StreamSeed(seed_, kPoolTag + pool_id, i));
        for (float& x : w) x = rng.Weight();
        tr_.from_float(w.data(), out.data() + i * rb, n, nullptr);
      }
    });
    return out;
  }

  const TypeTraits& tr_;
  uint64_t seed_;
  int32_t n_threads_;
  std::vector<uint8_t> full_;
  std::map<int64_t, std::vector<uint8_t>> tails_, rows_;
};

Status SetModelMeta(GgufStreamWriter& w, const ModelShape& s, int64_t n_layers, const SynthOptions& o) {
  const auto u32 = [](int64_t v) { return MetaValue::U32(static_cast<uint32_t>(v)); };
  SEPTET_RETURN_IF_ERROR(w.SetMeta("general.architecture", MetaValue::String("llama")));
  SEPTET_RETURN_IF_ERROR(w.SetMeta("general.name", MetaValue::String(std::string("synthetic ") + s.name)));
  SEPTET_RETURN_IF_ERROR(w.SetMeta("general.description", MetaValue::String(kSyntheticDescription)));
  // What llama.cpp shows as the model's type (F16, Q8_0, ...); none for septet-only types.
  if (const std::optional<uint32_t> ftype = io::LlamaCppFileType(o.type)) {
    SEPTET_RETURN_IF_ERROR(w.SetMeta(io::kGgufFileTypeKey, MetaValue::U32(*ftype)));
  }
  SEPTET_RETURN_IF_ERROR(w.SetMeta("septet.synthetic", MetaValue::Bool(true)));
  SEPTET_RETURN_IF_ERROR(w.SetMeta("septet.synthetic.shape", MetaValue::String(s.name)));
  SEPTET_RETURN_IF_ERROR(w.SetMeta("septet.synthetic.shape_of", MetaValue::String(s.real_model)));
  SEPTET_RETURN_IF_ERROR(w.SetMeta("septet.synthetic.seed", MetaValue::U64(o.seed)));
  SEPTET_RETURN_IF_ERROR(
      w.SetMeta("septet.synthetic.weights", MetaValue::String(o.exact ? "exact" : "block-pool")));
  SEPTET_RETURN_IF_ERROR(w.SetMeta("llama.context_length", u32(s.context_length)));
  SEPTET_RETURN_IF_ERROR(w.SetMeta("llama.embedding_length", u32(s.dim)));
  SEPTET_RETURN_IF_ERROR(w.SetMeta("llama.block_count", u32(n_layers)));
  SEPTET_RETURN_IF_ERROR(w.SetMeta("llama.feed_forward_length", u32(s.ffn_dim)));
  SEPTET_RETURN_IF_ERROR(w.SetMeta("llama.attention.head_count", u32(s.n_heads)));
  SEPTET_RETURN_IF_ERROR(w.SetMeta("llama.attention.head_count_kv", u32(s.n_kv_heads)));
  SEPTET_RETURN_IF_ERROR(w.SetMeta("llama.rope.dimension_count", u32(s.head_dim())));
  SEPTET_RETURN_IF_ERROR(w.SetMeta("llama.rope.freq_base", MetaValue::F32(static_cast<float>(s.rope_theta))));
  SEPTET_RETURN_IF_ERROR(
      w.SetMeta("llama.attention.layer_norm_rms_epsilon", MetaValue::F32(static_cast<float>(s.rms_eps))));
  SEPTET_RETURN_IF_ERROR(w.SetMeta("llama.vocab_size", u32(s.vocab)));
  SynthVocab v = MakeSyntheticVocab(s.vocab);
  SEPTET_RETURN_IF_ERROR(w.SetMeta("tokenizer.ggml.model", MetaValue::String("llama")));
  SEPTET_RETURN_IF_ERROR(w.SetMeta("tokenizer.ggml.tokens", MetaValue::StringArray(std::move(v.pieces))));
  SEPTET_RETURN_IF_ERROR(w.SetMeta("tokenizer.ggml.scores", MetaValue::F32Array(std::move(v.scores))));
  SEPTET_RETURN_IF_ERROR(w.SetMeta("tokenizer.ggml.token_type", MetaValue::I32Array(std::move(v.types))));
  SEPTET_RETURN_IF_ERROR(w.SetMeta("tokenizer.ggml.unknown_token_id", MetaValue::U32(0)));
  SEPTET_RETURN_IF_ERROR(w.SetMeta("tokenizer.ggml.bos_token_id", MetaValue::U32(1)));
  SEPTET_RETURN_IF_ERROR(w.SetMeta("tokenizer.ggml.eos_token_id", MetaValue::U32(2)));
  SEPTET_RETURN_IF_ERROR(w.SetMeta("tokenizer.ggml.add_bos_token", MetaValue::Bool(true)));
  return Status::Ok();
}

}  // namespace

SynthVocab MakeSyntheticVocab(int64_t n) {
  SynthVocab v;
  const auto add = [&](std::string piece, int64_t type) {
    if (static_cast<int64_t>(v.pieces.size()) >= n) return;
    v.scores.push_back(-static_cast<double>(v.pieces.size()));
    v.pieces.push_back(std::move(piece));
    v.types.push_back(type);
  };
  add("<unk>", 2);
  add("<s>", 3);
  add("</s>", 3);
  for (int b = 0; b < 256; ++b) {
    char buf[8];
    std::snprintf(buf, sizeof(buf), "<0x%02X>", b);
    add(buf, 6);
  }
  // Letter strings of length 1, 2, 3, ..., each with and without the SentencePiece
  // word-start mark U+2581, until the vocabulary is full.
  for (int len = 1; static_cast<int64_t>(v.pieces.size()) < n; ++len) {
    std::string s(static_cast<size_t>(len), 'a');
    while (static_cast<int64_t>(v.pieces.size()) < n) {
      add("\xE2\x96\x81" + s, 1);
      add(s, 1);
      int i = len - 1;  // odometer increment over a..z
      while (i >= 0 && s[static_cast<size_t>(i)] == 'z') s[static_cast<size_t>(i--)] = 'a';
      if (i < 0) break;
      ++s[static_cast<size_t>(i)];
    }
  }
  return v;
}

Result<SynthSummary> WriteSyntheticModel(const std::string& path, const SynthOptions& o) {
  const ModelShape& s = o.shape;
  const int64_t n_layers = o.n_layers.value_or(s.n_layers);
  if (n_layers < 1) return InvalidArgument("--layers: %" PRId64 " layers; expected at least 1", n_layers);
  if (s.vocab < 300) return InvalidArgument("shape '%s': vocab %" PRId64 " < 300", s.name, s.vocab);
  const TypeTraits& tr = GetTypeTraits(o.type);
  if (!CanQuantizeTo(o.type)) {
    return InvalidArgument("--type %s: not a weight type septet can write", tr.name);
  }
  const int32_t n_threads =
      o.n_threads > 0 ? o.n_threads : std::max(1, static_cast<int32_t>(std::thread::hardware_concurrency()));

  GgufStreamWriter w;
  SEPTET_RETURN_IF_ERROR(SetModelMeta(w, s, n_layers, o));
  const std::vector<TensorPlan> plan = PlanTensors(s, n_layers, o.type);
  for (const TensorPlan& t : plan) {
    if (!t.is_norm && !RowLengthFits(tr, t.cols())) {
      return InvalidArgument("--type %s stores rows of whole %d-weight blocks; shape '%s' has %s with %" PRId64
                             " columns (choose Q8_0 or a septet type)",
                             tr.name, tr.block_size, s.name, t.name.c_str(), t.cols());
    }
  }
  SynthSummary summary;
  for (const TensorPlan& t : plan) {
    SEPTET_RETURN_IF_ERROR(w.AddTensor(t.name, t.dtype, t.shape));
    summary.n_params += static_cast<uint64_t>(t.rows() * t.cols());
  }
  summary.n_tensors = plan.size();
  summary.file_bytes = w.file_bytes();

  Pools pools(o.type, o.seed, n_threads);
  const bool use_pool = tr.is_quantized && !o.exact;
  if (use_pool) {
    for (const TensorPlan& t : plan) {
      if (!t.is_norm) SEPTET_RETURN_IF_ERROR(pools.Prepare(t.cols()));
    }
  }
  SEPTET_RETURN_IF_ERROR(w.Begin(path, o.overwrite));
  std::vector<uint8_t> chunk;
  uint64_t written = 0;
  for (size_t ti = 0; ti < plan.size(); ++ti) {
    const TensorPlan& t = plan[ti];
    const TypeTraits& tt = GetTypeTraits(t.dtype);
    const int64_t rows = t.rows(), cols = t.cols();
    const size_t rb = tt.row_bytes(cols);
    const int64_t chunk_rows = std::max<int64_t>(1, static_cast<int64_t>(kChunkBytes / rb));
    for (int64_t r0 = 0; r0 < rows; r0 += chunk_rows) {
      const int64_t nr = std::min(chunk_rows, rows - r0);
      chunk.resize(static_cast<size_t>(nr) * rb);
      ParallelFor(static_cast<size_t>(nr), n_threads, [&](size_t b, size_t e) {
        std::vector<float> x;
        for (size_t i = b; i < e; ++i) {
          const int64_t row = r0 + static_cast<int64_t>(i);
          uint8_t* dst = chunk.data() + i * rb;
          if (use_pool && !t.is_norm) {
            pools.AssembleRow(ti, row, cols, dst);
            continue;
          }
          Rng rng(StreamSeed(o.seed, ti, static_cast<uint64_t>(row)));
          x.resize(static_cast<size_t>(cols));
          if (t.is_norm) {
            for (float& v : x) v = 1.0f + kNormStd * rng.Gauss();
          } else {
            for (float& v : x) v = rng.Weight();
          }
          tt.from_float(x.data(), dst, cols, nullptr);
        }
      });
      SEPTET_RETURN_IF_ERROR(w.Append(chunk.data(), chunk.size()));
      written += chunk.size();
    }
    if (o.progress) o.progress(ti, plan.size(), written, summary.file_bytes);
  }
  SEPTET_RETURN_IF_ERROR(w.Finish());
  return summary;
}

}  // namespace septet::synth

namespace septet::synth {

Result<model::PlanInput> ShapePlanInput(const ModelShape& s, DType type) {
  if (!CanQuantizeTo(type)) {
    return InvalidArgument("--type %s: not a type gen-weights writes", std::string(DTypeName(type)).c_str());
  }
  model::PlanInput in;
  in.label = std::string("shape ") + s.name + " " + std::string(DTypeName(type));
  model::LlamaHParams& hp = in.hp;
  hp.dim = s.dim;
  hp.ffn_dim = s.ffn_dim;
  hp.n_layers = s.n_layers;
  hp.n_heads = s.n_heads;
  hp.n_kv_heads = s.n_kv_heads;
  hp.head_dim = s.head_dim();
  hp.n_rot = hp.head_dim;
  hp.vocab = s.vocab;
  hp.context_length = s.context_length;
  const TypeTraits& tr = GetTypeTraits(type);
  for (const TensorPlan& t : PlanTensors(s, s.n_layers, type)) {
    const uint64_t row = t.is_norm ? sizeof(float) * static_cast<uint64_t>(t.cols()) : tr.row_bytes(t.cols());
    in.tensors.push_back({t.name, row * static_cast<uint64_t>(t.rows())});
  }
  return in;
}

}  // namespace septet::synth
