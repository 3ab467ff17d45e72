#include "model/weights.h"

#include <algorithm>
#include <cinttypes>
#include <string>
#include <thread>
#include <vector>

#include "io/model_file.h"
#include "kernels/simd/repack.h"
#include "kernels/simd/simd_ops.h"
#include "quant/checked.h"
#include "quant/registry.h"

namespace septet::model {
namespace {

// Load-time conversion on all cores: no worker gets fewer weights than this.
constexpr int64_t kMinWeightsPerWorker = 1 << 16;

std::string ShapeString(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i != 0) out += ", ";
    out += std::to_string(s[i]);
  }
  return out + "]";
}

class Binder {
 public:
  Binder(const ModelFile& f, const BindOptions& o, LlamaWeights* w) : f_(f), opt_(o), w_(w) {}

  // Finds `name`, checks its shape and that its type has a storable registry row.
  Result<const TensorInfo*> Find(const std::string& name, const std::vector<int64_t>& shape) {
    const TensorInfo* t = f_.FindTensor(name);
    if (t == nullptr) return NotFound("%s: tensor '%s' not found", f_.path().c_str(), name.c_str());
    if (t->shape != shape) {
      return Corrupt("%s: tensor '%s' has shape %s; expected %s", f_.path().c_str(), name.c_str(),
                     ShapeString(t->shape).c_str(), ShapeString(shape).c_str());
    }
    const TypeTraits* tt = FindTypeTraits(static_cast<uint32_t>(t->dtype));
    if (tt == nullptr || tt->is_activation_only) {
      return Unsupported("%s: tensor '%s' has type %s (id %u), which septet cannot compute with",
                         f_.path().c_str(), name.c_str(), std::string(DTypeName(t->dtype)).c_str(),
                         static_cast<unsigned>(t->dtype));
    }
    const size_t want = static_cast<size_t>(t->rows()) * tt->row_bytes(t->cols());
    if (t->data == nullptr || t->nbytes != want) {
      return Corrupt("%s: tensor '%s' (%s %s) holds %zu bytes; expected %zu", f_.path().c_str(), name.c_str(),
                     tt->name, ShapeString(t->shape).c_str(), t->nbytes, want);
    }
    return t;
  }

  Result<const float*> Vector(const std::string& name, int64_t n) {
    SEPTET_ASSIGN_OR_RETURN(const TensorInfo* t, Find(name, {n}));
    if (t->dtype == DType::kF32) {
      w_->mapped_bytes += t->nbytes;
      return reinterpret_cast<const float*>(t->data);
    }
    std::vector<uint8_t>& buf = Own(static_cast<size_t>(n) * sizeof(float));
    GetTypeTraits(t->dtype).to_float(t->data, reinterpret_cast<float*>(buf.data()), n);
    return reinterpret_cast<const float*>(buf.data());
  }

  // A matrix in its stored type, mapped.
  static cpu::WeightView Mapped(const TensorInfo& t) {
    return cpu::WeightView{t.dtype, t.rows(), t.cols(), t.data, GetTypeTraits(t.dtype).row_bytes(t.cols())};
  }

  Result<cpu::WeightView> Matrix(const std::string& name, int64_t rows, int64_t cols) {
    SEPTET_ASSIGN_OR_RETURN(const TensorInfo* t, Find(name, {rows, cols}));
    SEPTET_ASSIGN_OR_RETURN(const cpu::WeightView v, ForCompute(*t));
    return Repacked(v, *t);
  }

  // `v` (a matrix used only as a matmul weight, bound from `t`) in the SIMD
  // layout when options ask for it and the kernels have one (simd::RepackRows).
  // The repacked copy replaces what v read: the mapping (never touched again)
  // or an owned conversion buffer (freed).
  cpu::WeightView Repacked(const cpu::WeightView& v, const TensorInfo& t) {
    if (!opt_.repack) return v;
    auto buf = std::make_unique<std::vector<uint8_t>>();
    cpu::WeightView out;
    if (!simd::RepackRows(v, buf.get(), &out)) return v;
    if (v.data == t.data) {
      w_->mapped_bytes -= t.nbytes;
      for (const auto& file : f_.files()) file->DropPages(t.data, t.nbytes);  // the mapping is not read again
    } else {
      for (auto& o : w_->owned) {
        if (o && o->data() == v.data) {
          w_->owned_bytes -= o->size();
          o.reset();
        }
      }
      std::erase(w_->owned, nullptr);
    }
    w_->owned_bytes += buf->size();
    w_->owned.push_back(std::move(buf));
    return out;
  }

  // `t` converted to the compute type when one is requested and differs. Weights
  // the compute type cannot hold (not finite, past its field range) are an error
  // naming the tensor and the row.
  Result<cpu::WeightView> ForCompute(const TensorInfo& t) {
    if (!opt_.compute_type.has_value() || *opt_.compute_type == t.dtype) {
      w_->mapped_bytes += t.nbytes;
      return Mapped(t);
    }
    const TypeTraits& src = GetTypeTraits(t.dtype);
    const TypeTraits& dst = GetTypeTraits(*opt_.compute_type);
    const int64_t rows = t.rows(), cols = t.cols();
    const size_t src_rb = src.row_bytes(cols), dst_rb = dst.row_bytes(cols);
    std::vector<uint8_t>& buf = Own(dst_rb * static_cast<size_t>(rows));
    // Rows are converted independently (the bytes do not depend on the split): a
    // contiguous range per worker. The reference quantizers take ~1 us per weight, a
    // minute per 100M weights on one core.
    const int64_t workers =
        opt_.threads > 0 ? std::min<int64_t>(opt_.threads, std::max<int64_t>(rows, 1))
                         : std::clamp<int64_t>(static_cast<int64_t>(std::thread::hardware_concurrency()), 1,
                                               std::max<int64_t>(1, rows * cols / kMinWeightsPerWorker));
    std::vector<Status> st(static_cast<size_t>(workers));
    std::vector<int64_t> first(static_cast<size_t>(workers) + 1);
    for (int64_t i = 0; i <= workers; ++i) first[static_cast<size_t>(i)] = rows * i / workers;
    {
      std::vector<std::jthread> pool;
      for (int64_t i = 0; i < workers; ++i) {
        const int64_t r0 = first[static_cast<size_t>(i)], r1 = first[static_cast<size_t>(i) + 1];
        auto work = [&, i, r0, r1] {
          st[static_cast<size_t>(i)] = quant::ConvertRows(t.dtype, t.data + static_cast<size_t>(r0) * src_rb, src_rb,
                                                          r1 - r0, cols, dst.type,
                                                          buf.data() + static_cast<size_t>(r0) * dst_rb, dst_rb, r0,
                                                          simd::FromFloat(dst.type));
        };
        if (i + 1 == workers) {
          work();  // this thread takes the last range
        } else {
          pool.emplace_back(work);
        }
      }
    }
    for (int64_t i = 0; i < workers; ++i) {
      const Status& e = st[static_cast<size_t>(i)];
      if (e.ok()) continue;
      return Status(e.code(), f_.path() + ": tensor '" + t.name + "' (" + src.name + ") cannot be converted to " +
                                  dst.name + ", " + e.message());
    }
    return cpu::WeightView{dst.type, rows, cols, buf.data(), dst_rb};
  }

 private:
  std::vector<uint8_t>& Own(size_t bytes) {
    w_->owned.push_back(std::make_unique<std::vector<uint8_t>>(bytes));
    w_->owned_bytes += bytes;
    return *w_->owned.back();
  }

  const ModelFile& f_;
  const BindOptions& opt_;
  LlamaWeights* w_;
};

}  // namespace

Result<LlamaWeights> BindLlamaWeights(const ModelFile& file, const LlamaHParams& hp, const BindOptions& options) {
  if (options.compute_type.has_value()) {
    if (!CanQuantizeTo(*options.compute_type)) {
      const TypeTraits* tt = FindTypeTraits(static_cast<uint32_t>(*options.compute_type));
      const char* why = tt != nullptr && tt->is_input_only ? " (it is input-only: read from GGUF files, never written)" : "";
      return InvalidArgument("compute type %s is not a weight type septet can quantize to%s",
                             std::string(DTypeName(*options.compute_type)).c_str(), why);
    }
  }
  // ReadLlamaHParams bounds hp by the tensors; a hand-built hp is checked as far as
  // the allocation of layers and the head products below need.
  int64_t q = 0, kv = 0;
  if (hp.n_layers < 0 || hp.n_layers > file.NumBlocks() || __builtin_mul_overflow(hp.n_heads, hp.head_dim, &q) ||
      __builtin_mul_overflow(hp.n_kv_heads, hp.head_dim, &kv)) {
    return InvalidArgument("%s: hyper-parameters do not fit the file: %" PRId64 " layers (the file has %" PRId64
                           " blocks), %" PRId64 " query / %" PRId64 " KV heads of dim %" PRId64,
                           file.path().c_str(), hp.n_layers, file.NumBlocks(), hp.n_heads, hp.n_kv_heads,
                           hp.head_dim);
  }
  if (options.compute_type.has_value()) {
    const TypeTraits& ct = GetTypeTraits(*options.compute_type);
    const std::pair<const char*, int64_t> row_lengths[] = {
        {"dim", hp.dim}, {"ffn_dim", hp.ffn_dim}, {"n_heads x head_dim", q}};
    for (const auto& [what, cols] : row_lengths) {
      if (!RowLengthFits(ct, cols)) {
        return InvalidArgument("compute type %s stores rows of whole %d-weight blocks; %s's %s = %" PRId64
                               " is not a multiple (choose Q8_0 or a septet type)",
                               ct.name, ct.block_size, file.path().c_str(), what, cols);
      }
    }
  }
  LlamaWeights w;
  Binder b(file, options, &w);
  const int64_t dim = hp.dim, ffn = hp.ffn_dim, vocab = hp.vocab;

  SEPTET_ASSIGN_OR_RETURN(const TensorInfo* embd, b.Find("token_embd.weight", {vocab, dim}));
  w.token_embd = Binder::Mapped(*embd);
  w.mapped_bytes += embd->nbytes;
  SEPTET_ASSIGN_OR_RETURN(w.output_norm, b.Vector("output_norm.weight", dim));
  if (file.FindTensor("output.weight") != nullptr) {
    SEPTET_ASSIGN_OR_RETURN(w.output, b.Matrix("output.weight", vocab, dim));
  } else {
    w.tied_output = true;
    if (options.compute_type.has_value() && *options.compute_type != embd->dtype) {
      SEPTET_ASSIGN_OR_RETURN(const cpu::WeightView head, b.ForCompute(*embd));
      w.output = b.Repacked(head, *embd);  // an own copy: matmul only
    } else {
      // Same bytes: repacked (if at all) for the head's matmul, and the lookup
      // reads the repacked copy too (the mapping is then never touched again).
      w.output = b.Repacked(w.token_embd, *embd);
      w.token_embd = w.output;
    }
  }
  w.layers.resize(static_cast<size_t>(hp.n_layers));
  for (int64_t l = 0; l < hp.n_layers; ++l) {
    LayerWeights& L = w.layers[static_cast<size_t>(l)];
    const std::string p = "blk." + std::to_string(l) + ".";
    SEPTET_ASSIGN_OR_RETURN(L.attn_norm, b.Vector(p + "attn_norm.weight", dim));
    SEPTET_ASSIGN_OR_RETURN(L.wq, b.Matrix(p + "attn_q.weight", q, dim));
    SEPTET_ASSIGN_OR_RETURN(L.wk, b.Matrix(p + "attn_k.weight", kv, dim));
    SEPTET_ASSIGN_OR_RETURN(L.wv, b.Matrix(p + "attn_v.weight", kv, dim));
    SEPTET_ASSIGN_OR_RETURN(L.wo, b.Matrix(p + "attn_output.weight", dim, q));
    SEPTET_ASSIGN_OR_RETURN(L.ffn_norm, b.Vector(p + "ffn_norm.weight", dim));
    SEPTET_ASSIGN_OR_RETURN(L.w_gate, b.Matrix(p + "ffn_gate.weight", ffn, dim));
    SEPTET_ASSIGN_OR_RETURN(L.w_up, b.Matrix(p + "ffn_up.weight", ffn, dim));
    SEPTET_ASSIGN_OR_RETURN(L.w_down, b.Matrix(p + "ffn_down.weight", dim, ffn));
  }
  return w;
}

std::vector<ByteSpan> LayerSpans(const LayerWeights& w, int64_t dim) {
  std::vector<ByteSpan> spans;
  for (const cpu::WeightView* v : {&w.wq, &w.wk, &w.wv, &w.wo, &w.w_gate, &w.w_up, &w.w_down}) {
    spans.push_back({v->data, static_cast<size_t>(v->rows) * v->row_bytes});
  }
  spans.push_back({reinterpret_cast<const uint8_t*>(w.attn_norm), static_cast<size_t>(dim) * sizeof(float)});
  spans.push_back({reinterpret_cast<const uint8_t*>(w.ffn_norm), static_cast<size_t>(dim) * sizeof(float)});
  return spans;
}

std::vector<cpu::WeightView*> LayerMatrices(LayerWeights& w) {
  return {&w.wq, &w.wk, &w.wv, &w.wo, &w.w_gate, &w.w_up, &w.w_down};
}

}  // namespace septet::model
