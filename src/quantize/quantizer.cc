#include "quantize/quantizer.h"

#include <cblas.h>

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

#include "core/ascii.h"
#include "io/gguf_writer.h"
#include "io/model_file.h"
#include "kernels/cpu/hadamard.h"
#include "kernels/simd/simd_ops.h"
#include "model/llama_model.h"
#include "quant/int3_rtn.h"
#include "quant/registry.h"
#include "quantize/calibration.h"
#include "io/gguf_file_type.h"
#include "quantize/gptq.h"
#include "quantize/input_prep.h"
#include "quantize/parallel_rows.h"
#include "quantize/grid.h"
#include "quantize/refit.h"
#include "quantize/tokenizer_meta.h"
#include "tokenizer/tokenizer.h"

#ifndef SEPTET_VERSION
#define SEPTET_VERSION "unknown"
#endif

namespace septet::quantize {
namespace {
namespace fs = std::filesystem;

struct TypeChoice {
  DType dtype = DType::kF32;  // storage type
  bool rtn = false;           // RTN3_G64 baseline (stored as F32)
  std::string Name() const { return rtn ? kRtnInt3Name : std::string(DTypeName(dtype)); }
  double NominalBitsPerWeight(int64_t cols) const {
    return rtn ? quant::Int3RtnRowBitsPerWeight(cols) : RowBitsPerWeight(dtype, cols);
  }
};

Result<TypeChoice> ParseType(const std::string& name, const std::string& what) {
  TypeChoice t;
  const std::string upper = AsciiUpper(name);
  if (upper == kRtnInt3Name) {
    t.rtn = true;
    return t;
  }
  const std::optional<DType> d = ParseDType(name);
  if (d && GetTypeTraits(*d).is_input_only) {
    return InvalidArgument("%s: %s is input-only (septet reads it from GGUF files but cannot write it); "
                           "expected one of %s",
                           what.c_str(), name.c_str(), QuantizeTypeList());
  }
  if (!d || !CanQuantizeTo(*d)) {
    return InvalidArgument("%s: unknown type '%s'; expected one of %s", what.c_str(), name.c_str(), QuantizeTypeList());
  }
  t.dtype = *d;
  return t;
}

bool IsMatmulWeight(const std::string& name, int64_t* layer, model::MatMulInput* input) {
  static const std::pair<const char*, model::MatMulInput> kRoles[] = {
      {"attn_q", model::MatMulInput::kAttnQkv},     {"attn_k", model::MatMulInput::kAttnQkv},
      {"attn_v", model::MatMulInput::kAttnQkv},     {"attn_output", model::MatMulInput::kAttnOut},
      {"ffn_gate", model::MatMulInput::kFfnGateUp}, {"ffn_up", model::MatMulInput::kFfnGateUp},
      {"ffn_down", model::MatMulInput::kFfnDown},
  };
  if (name.rfind("blk.", 0) != 0) return false;
  const size_t dot = name.find('.', 4);
  if (dot == std::string::npos) return false;
  const std::string idx = name.substr(4, dot - 4);
  if (idx.empty() || idx.find_first_not_of("0123456789") != std::string::npos) return false;
  for (const auto& [role, in] : kRoles) {
    if (name.compare(dot + 1, std::string::npos, std::string(role) + ".weight") == 0) {
      *layer = std::stoll(idx);
      *input = in;
      return true;
    }
  }
  return false;
}

struct Plan {
  const TensorInfo* t = nullptr;
  TypeChoice type;
  bool target = false;
  // Calibration statistics of the tensor's input (null: none / not a matmul input).
  const InputStats* stats = nullptr;
  std::string rule;  // why this type ("default", "--keep PATTERN")
  bool mixable = false;  // --mix-bpw may store it in a wider type than the target
  bool rotate = false;   // --rotate: a layer's matmul weight, its input dimension rotated
  // --mix-bpw: the scale of the tensor's relative output error, its block's share of the
  // residual stream (Calibration::UpdateShare; 1 when unknown).
  double mix_weight = 1.0;
};

Result<std::string> ReadTextFile(const std::string& path, const char* flag) {
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    return NotFound("%s %s: no such file; give a UTF-8 text file", flag, path.c_str());
  }
  if (fs::is_directory(path, ec)) return InvalidArgument("%s %s: is a directory; give a text file", flag, path.c_str());
  std::ifstream f(path, std::ios::binary);
  if (!f) return IoError("%s %s: cannot open for reading", flag, path.c_str());
  std::stringstream ss;
  ss << f.rdbuf();
  std::string s = ss.str();
  if (s.empty()) return InvalidArgument("%s %s: the file is empty; give a non-empty text file", flag, path.c_str());
  return s;
}

// tr(A H Aᵀ) = sum_ij H_ij (AᵀA)_ij with A = a - b (b null: A = a), rows x cols. Per tile
// of rows, AᵀA's lower triangle by BLAS in float, a panel of 256 of its rows at a time
// (A[:, panel]ᵀ A[:, :panel end]: about half the work of the product A H, and a panel's
// scratch of 256 x cols floats where the whole AᵀA would be cols² per worker), each
// row's sum with H (the off-diagonal terms twice) in double. Tiles on `threads` workers,
// their sums added in tile order: the same bits for any thread count.
double HessianTrace(const float* a, const float* b, int64_t rows, int64_t cols, const std::vector<float>& hf,
                    int threads) {
  constexpr int64_t kTile = 512, kPanel = 256;
  const int64_t tiles = (rows + kTile - 1) / kTile;
  std::vector<double> tile_sum(static_cast<size_t>(tiles));
  ParallelRows(tiles, threads, [&](int64_t t0, int64_t t1) {
    std::vector<float> d(b != nullptr ? static_cast<size_t>(std::min(rows, kTile) * cols) : 0);
    std::vector<float> panel(static_cast<size_t>(std::min(cols, kPanel) * cols));
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t r0 = t * kTile, n = std::min(kTile, rows - r0);
      const float* at = a + r0 * cols;
      if (b != nullptr) {
        for (int64_t i = 0; i < n * cols; ++i) d[static_cast<size_t>(i)] = at[i] - b[r0 * cols + i];
        at = d.data();
      }
      double s = 0;
      for (int64_t c0 = 0; c0 < cols; c0 += kPanel) {
        const int64_t pw = std::min(kPanel, cols - c0), c1 = c0 + pw;
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<blasint>(pw), static_cast<blasint>(c1),
                    static_cast<blasint>(n), 1.0f, at + c0, static_cast<blasint>(cols), at, static_cast<blasint>(cols),
                    0.0f, panel.data(), static_cast<blasint>(c1));
        for (int64_t i = c0; i < c1; ++i) {
          const float* hr = hf.data() + i * cols;
          const float* cr = panel.data() + (i - c0) * c1;
          double off = 0;
          for (int64_t j = 0; j < i; ++j) off += static_cast<double>(hr[j]) * cr[j];
          s += 2.0 * off + static_cast<double>(hr[i]) * cr[i];
        }
      }
      tile_sum[static_cast<size_t>(t)] = s;
    }
  });
  double sum = 0;
  for (double v : tile_sum) sum += v;
  return sum;
}

// tr(E H Eᵀ) / tr(W H Wᵀ) with E = W - Q: the layer-output error relative to the output
// (H = (1/N) XᵀX), each trace by HessianTrace; a diagnostic and the sensitivity measure of
// --mix-bpw, not part of the output bytes. *wh caches tr(W H Wᵀ) across the candidates
// of one tensor (negative: not yet computed).
double RelativeOutputError(const float* w, const float* q, int64_t rows, int64_t cols, const std::vector<double>& h,
                           int threads, double* wh) {
  const std::vector<float> hf(h.begin(), h.end());
  if (*wh < 0) *wh = HessianTrace(w, nullptr, rows, cols, hf, threads);
  const double eh = HessianTrace(w, q, rows, cols, hf, threads);
  return *wh > 0 ? eh / *wh : 0.0;
}

// `rounds` of RefitRows on rows already quantized by GPTQ (dst); from the second
// round on, GPTQ first re-rounds the codes on the current grids. Each row keeps the
// round with the lowest output error f (quantize/refit.h; RefitRows reports f less a term
// of the row that no round changes, so the comparison is the same).
void RefitRounds(const float* w, int64_t rows, int64_t cols, const std::vector<double>& h, const GptqFactor& f,
                 DType store, int rounds, float* q, uint8_t* dst, size_t dst_row) {
  std::vector<double> obj(static_cast<size_t>(rows)), best(obj.size());
  RefitRows(w, rows, cols, h, store, dst, dst_row, best.data());
  std::vector<uint8_t> kept;
  for (int round = 1; round < rounds; ++round) {
    kept.assign(dst, dst + static_cast<size_t>(rows) * dst_row);
    GptqQuantizeRows(w, rows, f, store, false, q, dst, dst_row, /*preset=*/dst);
    RefitRows(w, rows, cols, h, store, dst, dst_row, obj.data());
    for (int64_t r = 0; r < rows; ++r) {
      const size_t i = static_cast<size_t>(r);
      if (obj[i] < best[i]) {
        best[i] = obj[i];
      } else {
        std::copy(kept.begin() + static_cast<std::ptrdiff_t>(i * dst_row),
                  kept.begin() + static_cast<std::ptrdiff_t>((i + 1) * dst_row), dst + i * dst_row);
      }
    }
  }
}

int64_t Numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string Hex64(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "%016" PRIx64, v);
  return buf;
}

}  // namespace

const char* QuantizeTypeList() {
  static const std::string list = std::string(WritableTypeNames()) + ", RTN3_G64 (baseline)";
  return list.c_str();
}

// The best single change of one tensor's option: over every tensor t (in index
// order) and option k (widest first or narrowest first), the largest value(cur, o)
// above `floor` among those value accepts (it returns false to skip); a tie keeps
// the first met, so the choice is deterministic. k < 0: no move.
struct MixMove {
  size_t t = 0;
  int k = -1;
};
template <class Value>
MixMove BestMixMove(const std::vector<std::vector<MixOption>>& options, const std::vector<int>& choice,
                    bool widest_first, double floor, const Value& value) {
  MixMove m;
  double best = floor;
  for (size_t t = 0; t < options.size(); ++t) {
    if (options[t].empty()) continue;
    const MixOption& cur = options[t][static_cast<size_t>(choice[t])];
    const size_t n = options[t].size();
    for (size_t i = 0; i < n; ++i) {
      const size_t k = widest_first ? n - 1 - i : i;
      double v = 0;
      if (!value(cur, options[t][k], &v) || !(v > best)) continue;
      best = v;
      m = {t, static_cast<int>(k)};
    }
  }
  return m;
}

std::vector<int> ChooseMix(const std::vector<std::vector<MixOption>>& options, const std::vector<int>& start,
                           double budget_bits) {
  std::vector<int> choice = start;
  choice.resize(options.size(), 0);
  double total = 0;
  for (size_t t = 0; t < options.size(); ++t) {
    if (!options[t].empty()) total += options[t][static_cast<size_t>(choice[t])].bits;
  }
  const auto apply = [&](const MixMove& m) {
    total += options[m.t][static_cast<size_t>(m.k)].bits - options[m.t][static_cast<size_t>(choice[m.t])].bits;
    choice[m.t] = m.k;
  };
  // Phase 1: over budget, give up bits where it costs the least error per saved bit
  // (widest first: ties keep more bits).
  while (total > budget_bits) {
    const MixMove m = BestMixMove(options, choice, /*widest_first=*/true, -HUGE_VAL,
                                  [](const MixOption& cur, const MixOption& o, double* v) {
                                    const double saved = cur.bits - o.bits;
                                    if (!(saved > 0)) return false;
                                    *v = -(o.error - cur.error) / saved;
                                    return true;
                                  });
    if (m.k < 0) break;  // everything at its narrowest: the caller checks the budget
    apply(m);
  }
  // Phase 2: spend what is left where it buys the most error per added bit (only
  // upgrades that reduce the error and fit; ties: the lower tensor index, then the
  // cheaper option).
  for (;;) {
    const MixMove m = BestMixMove(options, choice, /*widest_first=*/false, 0.0,
                                  [&](const MixOption& cur, const MixOption& o, double* v) {
                                    const double add = o.bits - cur.bits;
                                    if (!(add > 0) || total + add > budget_bits) return false;
                                    *v = (cur.error - o.error) / add;
                                    return true;
                                  });
    if (m.k < 0) return choice;
    apply(m);
  }
}

std::vector<int> ChooseMix(const std::vector<std::vector<MixOption>>& options, double budget_bits) {
  return ChooseMix(options, std::vector<int>(options.size(), 0), budget_bits);
}

bool MixNeverMovesDown(const std::vector<std::vector<MixOption>>& seen, size_t t, double start_bits,
                       double budget_bits) {
  // Phase 1's value of moving tensor u down, as ChooseMix computes it.
  const auto value = [&](size_t u) {
    const MixOption& cur = seen[u][1];
    const MixOption& o = seen[u][0];
    return -(o.error - cur.error) / (cur.bits - o.bits);
  };
  if (!(seen[t][1].bits > seen[t][0].bits)) return true;
  const double vt = value(t);
  double total = start_bits;
  for (size_t u = 0; u < seen.size(); ++u) {
    if (u == t || !(seen[u][1].bits > seen[u][0].bits)) continue;
    const double vu = value(u);
    if (vu > vt || (vu == vt && u < t)) total += seen[u][0].bits - seen[u][1].bits;
  }
  return !(total > budget_bits);
}

bool GlobMatch(const std::string& p, const std::string& s) {
  size_t pi = 0, si = 0, star = std::string::npos, mark = 0;
  while (si < s.size()) {
    if (pi < p.size() && (p[pi] == '?' || p[pi] == s[si])) {
      ++pi;
      ++si;
    } else if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = si;
    } else if (star != std::string::npos) {
      pi = star + 1;
      si = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

namespace {

// --calib-passes 2: pass 1 (importance rounding) into a temporary file, pass 2 calibrated
// on it. The temporary file is removed whatever happens.
Result<QuantizeReport> QuantizeTwoPass(const QuantizeOptions& o) {
  if (o.calib_path.empty() || !o.gptq) {
    return InvalidArgument("--calib-passes 2 needs --calib with GPTQ: pass 2 is GPTQ on the first pass's statistics");
  }
  std::error_code ec;
  if (!o.force && fs::exists(o.output, ec)) {
    return InvalidArgument("%s already exists; pass --force to overwrite it", o.output.c_str());
  }
  QuantizeOptions p1 = o;
  p1.calib_passes = 1;
  p1.gptq = false;
  p1.mix_bpw = 0;
  p1.refit = 0;
  p1.output = o.output + ".pass1.tmp";
  p1.force = true;
  p1.log = [&o](const std::string& s) {
    if (o.log) o.log("pass 1: " + s);
  };
  struct Remove {
    std::string path;
    ~Remove() {
      std::error_code e;
      fs::remove(path, e);
    }
  } remove{p1.output};
  SEPTET_RETURN_IF_ERROR(QuantizeModel(p1).status());
  QuantizeOptions p2 = o;
  p2.calib_passes = 1;
  p2.calib_model = p1.output;
  return QuantizeModel(p2);
}

}  // namespace

Result<QuantizeReport> QuantizeModel(const QuantizeOptions& o) {
  auto log = [&](const std::string& s) {
    if (o.log) o.log(s);
  };
  if (o.calib_passes == 2 && o.rotate) {
    return InvalidArgument("--rotate with --calib-passes 2 is not supported: use one of them");
  }
  if (o.calib_passes == 2) return QuantizeTwoPass(o);
  if (o.calib_passes != 1) return InvalidArgument("--calib-passes %d: expected 1 or 2", o.calib_passes);
  if (o.threads < 1) return InvalidArgument("--threads %d: expected >= 1", o.threads);
  SEPTET_ASSIGN_OR_RETURN(const TypeChoice target, ParseType(o.type, "--type"));
  struct Keep {
    std::string pattern;
    TypeChoice type;
    bool used = false;
  };
  std::vector<Keep> keeps;
  for (const std::string& k : o.keep) {
    const size_t eq = k.rfind('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == k.size()) {
      return InvalidArgument("--keep '%s': expected PATTERN=TYPE, e.g. --keep 'token_embd.weight=F16'", k.c_str());
    }
    SEPTET_ASSIGN_OR_RETURN(TypeChoice t, ParseType(k.substr(eq + 1), "--keep " + k));
    keeps.push_back({k.substr(0, eq), t});
  }
  std::error_code ec;
  if (!o.force && fs::exists(o.output, ec)) {
    return InvalidArgument("%s already exists; pass --force to overwrite it", o.output.c_str());
  }
  const bool mix = o.mix_bpw > 0;
  if (o.mix_bpw < 0 || (mix && o.mix_bpw > 16)) return InvalidArgument("--mix-bpw %g: expected 0 < bpw <= 16", o.mix_bpw);
  if (mix && o.calib_path.empty()) {
    return InvalidArgument("--mix-bpw needs --calib: the tensors are chosen by their output error on the calibration text");
  }
  if (mix && (target.rtn || !GetTypeTraits(target.dtype).is_quantized ||
              GetTypeTraits(target.dtype).bits_per_weight >= GetTypeTraits(DType::kQ8_0).bits_per_weight)) {
    return InvalidArgument("--mix-bpw with --type %s: expected a quantized target below 8.5 bpw (Q3P5, Q3P5_NL, Q4_G, Q4_NL, Q3P5_SEED)",
                           target.Name().c_str());
  }
  if (o.refit < 0) return InvalidArgument("--refit %d: expected >= 0", o.refit);
  if (o.gptq_act_order) {
    bool trellis = target.dtype == DType::kQ4_T && !target.rtn;
    for (const Keep& k : keeps) trellis = trellis || (k.type.dtype == DType::kQ4_T && !k.type.rtn);
    if (trellis) {
      return InvalidArgument(
          "--act-order does not apply to Q4_T: its trellis codes each row's weights in column order; drop "
          "--act-order (Q4_T gains more from --rotate)");
    }
  }
  if (!o.calib_path.empty() && o.gptq && !(o.gptq_damp > 0.0 && o.gptq_damp <= 1.0)) {
    return InvalidArgument("--damp %g: expected 0 < damp <= 1", o.gptq_damp);
  }

  // BLAS and LAPACK (calibration statistics, GPTQ factors, output errors) run
  // single-threaded inside septet's own workers: OpenBLAS's spinning threads cost more
  // than they give on these sizes, and far more on a busy machine.
  openblas_set_num_threads(1);

  // ---- load ----
  std::error_code ec2;
  if (!fs::exists(o.input, ec2)) {
    return NotFound(
        "%s: no such file or directory (the model to quantize: GGUF, llama2.c .bin or a Hugging Face "
        "directory)",
        o.input.c_str());
  }
  SEPTET_ASSIGN_OR_RETURN(std::unique_ptr<ModelFile> file, ModelFile::Open(o.input));
  SEPTET_ASSIGN_OR_RETURN(std::unique_ptr<model::LlamaModel> model,
                          model::LlamaModel::FromFile(std::move(file), model::ModelOptions{}));
  const ModelFile& mf = model->file();
  const model::LlamaHParams& hp = model->hparams();
  const bool tied = mf.FindTensor("output.weight") == nullptr;
  if (o.rotate && hp.rotation != model::InputRotationKind::kNone) {
    return InvalidArgument("--rotate: %s is already rotated (metadata '%s'); quantize it without --rotate (its "
                           "rotation is kept)",
                           o.input.c_str(), model::kRotationKey);
  }
  {  // A quantized source (a llama.cpp GGUF, say) is requantized: say so, and what it costs.
    std::map<std::string, int> quantized;  // stored type -> matrices
    for (const TensorInfo& t : mf.tensors()) {
      if (t.shape.size() == 2 && GetTypeTraits(t.dtype).is_quantized) ++quantized[std::string(DTypeName(t.dtype))];
    }
    if (!quantized.empty()) {
      std::string types;
      for (const auto& [name, n] : quantized) types += (types.empty() ? "" : ", ") + std::to_string(n) + " " + name;
      log("requantizing from a quantized source (" + types +
          " matrices): the output carries both rounding errors; quantize from an F32/F16/BF16 file when you have one");
    }
  }

  // ---- calibration ----
  Calibration cal;
  std::string calib_meta;
  bool have_cal = false;
  std::unique_ptr<Tokenizer> tokenizer;
  if (!o.calib_path.empty()) {
    SEPTET_ASSIGN_OR_RETURN(const std::string text, ReadTextFile(o.calib_path, "--calib"));
    SEPTET_ASSIGN_OR_RETURN(tokenizer, LoadTokenizer(mf, o.tokenizer_path));
    const std::vector<int32_t> ids = tokenizer->Encode(text, /*add_bos=*/false);
    if (ids.empty()) return InvalidArgument("--calib %s: the text gives no tokens", o.calib_path.c_str());
    CalibrationOptions co;
    co.n_ctx = o.calib_ctx > 0 ? o.calib_ctx : std::min<int64_t>(512, std::max<int64_t>(hp.context_length, 2));
    co.max_tokens = o.calib_max_tokens;
    co.hessian = true;
    co.threads = o.threads;
    co.progress = [&](int64_t done, int64_t total) {
      if (o.progress) o.progress(done, total, "calibration");
    };
    if (o.calib_model.empty()) {
      SEPTET_ASSIGN_OR_RETURN(cal, Calibration::Collect(*model, ids, tokenizer->bos_id(), co));
    } else {  // the inputs a (partly) quantized model gives each layer
      SEPTET_ASSIGN_OR_RETURN(std::unique_ptr<ModelFile> cf, ModelFile::Open(o.calib_model));
      SEPTET_ASSIGN_OR_RETURN(std::unique_ptr<model::LlamaModel> cm,
                              model::LlamaModel::FromFile(std::move(cf), model::ModelOptions{}));
      if (cm->hparams().n_layers != hp.n_layers || cm->hparams().dim != hp.dim) {
        return InvalidArgument("calibration model %s: its shape differs from %s", o.calib_model.c_str(),
                               o.input.c_str());
      }
      SEPTET_ASSIGN_OR_RETURN(cal, Calibration::Collect(*cm, ids, tokenizer->bos_id(), co));
      log("calibration statistics from " + fs::path(o.calib_model).filename().string());
    }
    have_cal = true;
    const uint64_t h = Fnv1a64(text.data(), text.size());
    calib_meta = "file=" + fs::path(o.calib_path).filename().string() + "; bytes=" + std::to_string(text.size()) +
                 "; fnv1a64=" + Hex64(h) + "; tokens=" + std::to_string(cal.tokens()) +
                 "; ctx=" + std::to_string(co.n_ctx) + "; windows=" + std::to_string(cal.windows());
    log("calibration: " + calib_meta);
  }

  // ---- plan ----
  const double kQ8Bits = GetTypeTraits(DType::kQ8_0).bits_per_weight;
  std::vector<Plan> plan;
  for (const TensorInfo& t : mf.tensors()) {
    Plan p;
    p.t = &t;
    int64_t layer = 0;
    model::MatMulInput input{};
    const bool matmul = t.shape.size() == 2 && IsMatmulWeight(t.name, &layer, &input);
    const bool embd = t.name == "token_embd.weight" || t.name == "output.weight";
    if (t.shape.size() < 2) {
      p.type = TypeChoice{DType::kF32, false};
    } else if (matmul) {
      p.type = target;
      p.target = true;
      p.rotate = o.rotate;
      if (have_cal) {
        p.stats = cal.Find(layer, input);
        const bool attn = input == model::MatMulInput::kAttnQkv || input == model::MatMulInput::kAttnOut;
        const double share = cal.UpdateShare(layer, attn ? model::ResidualBlock::kAttention : model::ResidualBlock::kFfn);
        if (share > 0 && std::isfinite(share)) p.mix_weight = share;
      }
    } else if (embd) {
      const bool high = !target.rtn && GetTypeTraits(target.dtype).bits_per_weight >= kQ8Bits &&
                        !GetTypeTraits(target.dtype).is_quantized;
      // Beside a narrower target, Q6_K as llama.cpp writes its heads (6.5625 bpw, read
      // by both), where the rows are whole 256-weight blocks; else Q8_0.
      const double target_bits = target.rtn ? 0.0 : GetTypeTraits(target.dtype).bits_per_weight;
      const TypeTraits& q6 = GetTypeTraits(DType::kQ6_K);
      const bool six = target_bits < q6.bits_per_weight && RowLengthFits(q6, t.cols());
      p.type = high ? target : TypeChoice{six ? DType::kQ6_K : DType::kQ8_0, false};
      // The classifier's input statistics (token_embd is the classifier when tied).
      if (have_cal && (t.name == "output.weight" || tied)) p.stats = cal.Find(-1, model::MatMulInput::kOutput);
    } else {
      p.type = TypeChoice{DType::kF32, false};
    }
    p.rule = "default";
    for (Keep& k : keeps) {
      if (!GlobMatch(k.pattern, t.name)) continue;
      k.used = true;
      if (t.shape.size() < 2 && (k.type.rtn || GetTypeTraits(k.type.dtype).is_quantized)) {
        // A wildcard pattern ("blk.0.*") passes over the vectors it cannot quantize; a
        // pattern naming one vector exactly is a mistake worth reporting.
        if (k.pattern.find_first_of("*?") != std::string::npos) continue;
        return InvalidArgument("--keep %s=%s: '%s' is a vector; only F32, F16 or BF16 can hold it", k.pattern.c_str(),
                               k.type.Name().c_str(), t.name.c_str());
      }
      p.type = k.type;
      p.rule = "--keep " + k.pattern;
      break;
    }
    // ggml's block types (ids < 200, Q8_0) are only written with whole blocks per row, so
    // ggml readers can read the file: such a row (stories260K ffn_down, K = 172) falls back to F16.
    if (!p.type.rtn && t.shape.size() >= 2) {
      const TypeTraits& tt = GetTypeTraits(p.type.dtype);
      if (static_cast<uint32_t>(p.type.dtype) < 200 && tt.block_size > 1 && t.cols() % tt.block_size != 0) {
        log(t.name + ": " + std::to_string(t.cols()) + " columns are not a multiple of the " +
            std::string(DTypeName(p.type.dtype)) + " block (" + std::to_string(tt.block_size) +
            "); stored as F16 instead");
        p.type = TypeChoice{DType::kF16, false};
        p.rule = "fallback";
      }
    }
    // "Quantized tensors" (bpw_quantized): the 2-D tensors stored in the target type.
    p.target = t.shape.size() >= 2 && p.type.rtn == target.rtn && (target.rtn || p.type.dtype == target.dtype);
    p.mixable = mix && matmul && p.target && p.rule == "default" && p.stats != nullptr;
    plan.push_back(p);
  }
  for (const Keep& k : keeps) {
    if (!k.used) {
      return InvalidArgument(
          "--keep %s=%s matches no tensor of %s (names look like 'blk.0.attn_q.weight'; "
          "see septet inspect)",
          k.pattern.c_str(), k.type.Name().c_str(), o.input.c_str());
    }
  }

  int64_t total_weights = 0;
  for (const Plan& p : plan) total_weights += p.t->numel();

  // ---- convert ----
  QuantizeReport rep;
  rep.type = target.Name();
  rep.calib_tokens = have_cal ? cal.tokens() : 0;
  const bool target_quantized = target.rtn || GetTypeTraits(target.dtype).is_quantized;
  rep.method = !target_quantized ? "convert"
               : !have_cal       ? (target.rtn ? "round" : "search")
                                 : (o.gptq ? "gptq" : "importance");
  std::vector<std::vector<uint8_t>> storage(plan.size());
  struct Converted {
    DType store = DType::kF32;
    std::vector<uint8_t> bytes;  // empty while predicted
    TensorReport report;
    bool predicted = false;  // a --mix-bpw candidate not yet quantized: bits exact, error predicted
  };
  std::vector<DType> stored(plan.size(), DType::kF32);
  // Each input's H and GPTQ factor, prepared ahead on a helper thread while the
  // tensors before it quantize (quantize/input_prep.h).
  std::vector<InputPrepRequest> requests;
  for (const Plan& p : plan) {
    if (p.stats == nullptr || p.stats->cols != p.t->cols()) continue;
    const bool quantized = p.type.rtn || GetTypeTraits(p.type.dtype).is_quantized || p.mixable;
    requests.push_back(InputPrepRequest{p.stats, p.rotate, o.gptq && quantized, o.gptq && quantized});
  }
  auto inputs = std::make_unique<InputPrep>(std::move(requests), o.gptq_damp, o.gptq_act_order, o.threads,
                                            /*lookahead=*/2);
  // One tensor (its values w) converted to one type; errors measured on the decoded values.
  // w: the tensor's rows x cols values (rotated when p.rotate); *wh: RelativeOutputError's
  // cache of tr(W H Wᵀ) for this tensor.
  auto convert = [&](const Plan& p, const TypeChoice& type, const float* w, double* wh) -> Result<Converted> {
    const TensorInfo& t = *p.t;
    const int64_t rows = t.rows(), cols = t.cols();
    const DType store = type.rtn ? DType::kF32 : type.dtype;
    const TypeTraits& dst_tr = GetTypeTraits(store);
    const size_t dst_row = dst_tr.row_bytes(cols);
    Converted c;
    c.store = store;
    std::vector<uint8_t>& out = c.bytes;
    out.assign(dst_row * static_cast<size_t>(rows), 0);
    std::vector<float> deq(static_cast<size_t>(rows * cols));  // what the decoder will see

    const bool quantized = type.rtn || dst_tr.is_quantized;
    std::vector<float> imp;
    const std::vector<double>* hess = nullptr;
    if (p.stats != nullptr && p.stats->cols == cols) {
      const std::vector<double>* h = inputs->Hessian(p.stats);  // q/k/v (gate/up) share one input
      if (h != nullptr && !h->empty()) hess = h;
      if (!p.rotate) {
        imp = p.stats->Importance();
      } else if (hess != nullptr) {  // mean T(x)² = diag of the rotated H
        imp.resize(static_cast<size_t>(cols));
        for (int64_t j = 0; j < cols; ++j) imp[static_cast<size_t>(j)] = static_cast<float>((*hess)[static_cast<size_t>(j * cols + j)]);
      }
    }
    const bool use_gptq = quantized && hess != nullptr && o.gptq;
    std::string method = !quantized ? "convert" : (use_gptq ? "gptq" : (imp.empty() ? "search" : "importance"));
    if (type.rtn && !use_gptq) method = "round";
    const GptqFactor* factor = nullptr;
    if (use_gptq) {
      SEPTET_ASSIGN_OR_RETURN(factor, inputs->Factor(p.stats));
    }

    // The refit's objective is the one GPTQ minimised: H dampened as in GptqPrepare.
    std::vector<double> refit_h;
    if (use_gptq && o.refit > 0 && !type.rtn && CanRefit(store)) {
      refit_h = *hess;
      double mean_diag = 0;
      for (int64_t j = 0; j < cols; ++j) mean_diag += refit_h[static_cast<size_t>(j * cols + j)];
      mean_diag = mean_diag > 0 ? mean_diag / static_cast<double>(cols) : 1.0;
      for (int64_t j = 0; j < cols; ++j) refit_h[static_cast<size_t>(j * cols + j)] += factor->damp_used * mean_diag;
    }
    if (use_gptq) {
      // Rows in chunks of 32 (whole kChunkRows groups of the searches), taken by
      // whichever worker is free; every row's result depends on that row only.
      ParallelChunks(rows, o.threads, 32, [&](int64_t r0, int64_t r1) {
        // GPTQ's values go where the decoded ones will (decoding overwrites them).
        float* q = deq.data() + r0 * cols;
        uint8_t* rows_dst = out.data() + static_cast<size_t>(r0) * dst_row;
        GptqQuantizeRows(w + r0 * cols, r1 - r0, *factor, store, type.rtn, q, rows_dst, dst_row);
        if (!refit_h.empty()) {
          RefitRounds(w + r0 * cols, r1 - r0, cols, refit_h, *factor, store, o.refit, q, rows_dst, dst_row);
        }
        for (int64_t r = r0; r < r1; ++r) {
          dst_tr.to_float(out.data() + static_cast<size_t>(r) * dst_row, deq.data() + r * cols, cols);
        }
      });
    } else {
      // The registry's from_float with its searches in SIMD (the same bytes).
      const simd::FromFloatFn from_float = simd::FromFloat(store);
      ParallelRows(rows, o.threads, [&](int64_t r0, int64_t r1) {
        std::unique_ptr<RowGrid> grid = quantized ? MakeRowGrid(store, type.rtn) : nullptr;
        std::vector<float> q(static_cast<size_t>(cols));
        for (int64_t r = r0; r < r1; ++r) {
          const float* wr = w + r * cols;
          uint8_t* dst = out.data() + static_cast<size_t>(r) * dst_row;
          if (type.rtn) {
            GridQuantizeRow(wr, cols, nullptr, grid.get(), q.data(), dst);
          } else {
            from_float(wr, dst, cols, imp.empty() ? nullptr : imp.data());
          }
          dst_tr.to_float(dst, deq.data() + r * cols, cols);
        }
      });
    }

    TensorReport& tr = c.report;
    tr.name = t.name;
    tr.type = type.rtn ? std::string(kRtnInt3Name) + "(F32)" : std::string(DTypeName(store));
    tr.shape = t.shape;
    tr.bytes = out.size();
    tr.bits = type.rtn ? static_cast<double>(quant::Int3RtnRowBits(cols) * rows) : 8.0 * static_cast<double>(out.size());
    tr.target = p.target;
    tr.method = method;
    double e2 = 0, w2 = 0;
    for (size_t i = 0; i < deq.size(); ++i) {
      const double e = static_cast<double>(w[i]) - deq[i];
      e2 += e * e;
      w2 += static_cast<double>(w[i]) * w[i];
    }
    tr.rel_err = w2 > 0 ? std::sqrt(e2 / w2) : 0.0;
    if (hess != nullptr && quantized) tr.rel_out_err = RelativeOutputError(w, deq.data(), rows, cols, *hess, o.threads, wh);
    return c;
  };
  auto log_tensor = [&](const TensorReport& tr, const char* prefix) {
    char line[360];
    std::snprintf(line, sizeof(line), "%s%-28s %-14s %5.3f bpw  %-10s rel.err %.4f%s", prefix, tr.name.c_str(),
                  tr.type.c_str(), tr.bits / static_cast<double>(std::max<int64_t>(Numel(tr.shape), 1)), tr.method.c_str(), tr.rel_err,
                  tr.rel_out_err >= 0 ? (" out.err " + std::to_string(tr.rel_out_err)).c_str() : "");
    log(line);
  };

  // A tensor's values as float: F32 rows straight from the file (the head of a 135M
  // model is 113 MB: a copy is 28k fresh pages), others decoded into *buf; rotated
  // under p.rotate.
  auto load_weights = [&](const Plan& p, std::vector<float>* buf) -> Result<const float*> {
    const TensorInfo& t = *p.t;
    const int64_t rows = t.rows(), cols = t.cols();
    const TypeTraits& src_tr = GetTypeTraits(t.dtype);
    const size_t src_row = src_tr.row_bytes(cols);
    std::vector<float>& w_buf = *buf;
    const float* w = reinterpret_cast<const float*>(t.data);
    if (t.dtype != DType::kF32 || p.rotate || reinterpret_cast<uintptr_t>(t.data) % alignof(float) != 0) {
      w_buf.resize(static_cast<size_t>(rows * cols));
      for (int64_t r = 0; r < rows; ++r) src_tr.to_float(t.data + r * src_row, w_buf.data() + r * cols, cols);
      w = w_buf.data();
    }
    for (int64_t i = 0; i < rows * cols; ++i) {
      if (!std::isfinite(w[i]))
        return Corrupt("%s: tensor '%s' holds a non-finite value", o.input.c_str(), t.name.c_str());
    }
    if (p.rotate) {  // each row w' = T(w), in double, rounded once
      const cpu::InputRotation rot(cols);
      ParallelRows(rows, o.threads, [&](int64_t r0, int64_t r1) {
        std::vector<double> row(static_cast<size_t>(cols));
        for (int64_t r = r0; r < r1; ++r) {
          float* wr = w_buf.data() + r * cols;
          for (int64_t j = 0; j < cols; ++j) row[static_cast<size_t>(j)] = wr[j];
          simd::RotateInput(rot, row.data());  // rot.Apply's bits
          for (int64_t j = 0; j < cols; ++j) wr[j] = static_cast<float>(row[static_cast<size_t>(j)]);
        }
      });
    }
    return w;
  };

  // --mix-bpw: every matmul weight the default policy gives the target type is converted
  // to each candidate type; the choice is made once all are measured. When the target
  // alone fits the budget, the candidates are the wider types (tensors move up from it);
  // when it does not, the narrower Q3P5_NL (tensors move down from it; at 3.5 bpw its
  // error is ~0.7x Q3P5's, docs/formats.md). Candidates in increasing bits. Moving down
  // (unless mix_measure_all), Q3P5_NL's error is predicted from the target's
  // (kMixNarrowErrorRatio) and only the tensors the choice moves down are quantized in it,
  // after the choice: their inputs' XᵀX are kept until then.
  std::vector<TypeChoice> mix_types;
  bool predict_narrow = false;  // mix_types[0] (Q3P5_NL) predicted, quantized only when chosen
  // Over the mixable tensors: their weights, and their bits in the target type (exactly,
  // as the stored rows: ChooseMix's starting total).
  int64_t mixable_params = 0;
  double start_bits = 0;
  if (mix) {
    double target_bits = 0;
    for (const Plan& p : plan) {
      if (!p.mixable) continue;
      target_bits += RowBitsPerWeight(target.dtype, p.t->cols()) * static_cast<double>(p.t->numel());
      start_bits += 8.0 * static_cast<double>(GetTypeTraits(target.dtype).row_bytes(p.t->cols()) *
                                              static_cast<size_t>(p.t->rows()));
      mixable_params += p.t->numel();
    }
    const bool down = target_bits > o.mix_bpw * static_cast<double>(mixable_params);
    const double target_bpw = GetTypeTraits(target.dtype).bits_per_weight;
    if (down && GetTypeTraits(DType::kQ3P5_NL).bits_per_weight < target_bpw) {
      mix_types.push_back(TypeChoice{DType::kQ3P5_NL, false});
      predict_narrow = !o.mix_measure_all;
    }
    mix_types.push_back(target);
    for (DType d : {DType::kQ4_G, DType::kQ8_0}) {
      if (!down && GetTypeTraits(d).bits_per_weight > target_bpw) mix_types.push_back(TypeChoice{d, false});
    }
  }
  // The last tensor that reads each input's statistics: after it, that input's XᵀX,
  // Hessian and GPTQ factor are freed, so that the next layer's reuse their memory
  // (peak memory: one layer's instead of the model's; and every fresh page costs a
  // page fault, 10 % of the CPU time of a SmolLM2 quantize when all were kept).
  std::map<const InputStats*, size_t> last_use;
  for (size_t ti = 0; ti < plan.size(); ++ti) {
    if (plan[ti].stats != nullptr) last_use[plan[ti].stats] = ti;
  }
  std::vector<std::vector<Converted>> mix_options(plan.size());
  std::vector<TensorReport> reports(plan.size());
  std::vector<double> wh_of(plan.size(), -1.0);  // tr(W H Wᵀ) per tensor, once
  // Moving down with predictions: an input's XᵀX is kept for the choice until none of its
  // tensors can be moved down any more (MixNeverMovesDown).
  struct KeptInput {
    std::vector<size_t> seen;   // its tensors' positions in `seen`
    bool read = false;          // the first pass is done with it
    size_t last = SIZE_MAX;     // its last tensor quantized after the choice
  };
  std::map<const InputStats*, KeptInput> kept_xtx;
  std::vector<std::vector<MixOption>> seen;  // the predicted tensors' {narrow, target} so far
  const double mix_budget = o.mix_bpw * static_cast<double>(mixable_params);  // as ChooseMix's below
  const auto free_unchoosable = [&] {
    for (auto it = kept_xtx.begin(); it != kept_xtx.end();) {
      bool never = it->second.read;
      for (size_t k : it->second.seen) never = never && MixNeverMovesDown(seen, k, start_bits, mix_budget);
      if (never) {
        cal.ReleaseHessian(it->first);
        it = kept_xtx.erase(it);
      } else {
        ++it;
      }
    }
  };
  int64_t done_weights = 0;
  for (size_t ti = 0; ti < plan.size(); ++ti) {
    const Plan& p = plan[ti];
    const TensorInfo& t = *p.t;
    const int64_t rows = t.rows(), cols = t.cols();
    if (o.progress) o.progress(done_weights, total_weights, t.name);
    std::vector<float> w_buf;
    SEPTET_ASSIGN_OR_RETURN(const float* w, load_weights(p, &w_buf));
    double& wh = wh_of[ti];
    if (mix && p.mixable) {
      const std::string prefix = "mix candidate (x" + std::to_string(p.mix_weight) + ") ";
      for (size_t k = 0; k < mix_types.size(); ++k) {
        const TypeChoice& ty = mix_types[k];
        const TypeTraits& tt = GetTypeTraits(ty.dtype);
        // A ggml block type only on whole blocks (as the plan's fallback rule).
        if (static_cast<uint32_t>(ty.dtype) < 200 && tt.block_size > 1 && cols % tt.block_size != 0) continue;
        if (k == 0 && predict_narrow) {  // its error is known once the target's is
          Converted c;
          c.store = ty.dtype;
          c.predicted = true;
          c.report.name = t.name;
          c.report.type = ty.Name();
          c.report.shape = t.shape;
          c.report.bytes = tt.row_bytes(cols) * static_cast<size_t>(rows);
          c.report.bits = 8.0 * static_cast<double>(c.report.bytes);
          c.report.target = p.target;
          mix_options[ti].push_back(std::move(c));
          continue;
        }
        SEPTET_ASSIGN_OR_RETURN(Converted c, convert(p, ty, w, &wh));
        if (c.report.rel_out_err < 0) {
          return Internal("--mix-bpw: %s has no calibration statistics to measure", t.name.c_str());
        }
        log_tensor(c.report, prefix.c_str());
        mix_options[ti].push_back(std::move(c));
      }
      std::vector<Converted>& v = mix_options[ti];
      if (v.size() > 1 && v[0].predicted) {
        TensorReport& pr = v[0].report;
        pr.rel_out_err = kMixNarrowErrorRatio * v[1].report.rel_out_err;
        char line[200];
        std::snprintf(line, sizeof(line), "%s%-28s %-14s %5.3f bpw  predicted  out.err %f (%.1f x %s's)",
                      prefix.c_str(), t.name.c_str(), pr.type.c_str(),
                      pr.bits / static_cast<double>(std::max<int64_t>(t.numel(), 1)), pr.rel_out_err,
                      kMixNarrowErrorRatio, v[1].report.type.c_str());
        log(line);
        kept_xtx[p.stats].seen.push_back(seen.size());
        seen.push_back({{pr.bits, pr.rel_out_err * p.mix_weight},
                        {v[1].report.bits, v[1].report.rel_out_err * p.mix_weight}});
      }
    } else {
      SEPTET_ASSIGN_OR_RETURN(Converted c, convert(p, p.type, w, &wh));
      log_tensor(c.report, "");
      stored[ti] = c.store;
      storage[ti] = std::move(c.bytes);
      reports[ti] = std::move(c.report);
    }
    if (p.stats != nullptr && last_use[p.stats] == ti) {
      inputs->Release(p.stats);
      auto kept = kept_xtx.find(p.stats);
      if (kept == kept_xtx.end()) {
        cal.ReleaseHessian(p.stats);
      } else {
        kept->second.read = true;
      }
    }
    if (!kept_xtx.empty()) free_unchoosable();
    done_weights += t.numel();
  }
  std::string mix_summary;
  if (mix) {
    double base_bits = 0;
    int64_t mix_params = 0;
    std::vector<size_t> idx;
    std::vector<std::vector<MixOption>> opts;
    std::vector<int> start;
    for (size_t ti = 0; ti < plan.size(); ++ti) {
      if (mix_options[ti].empty()) continue;
      idx.push_back(ti);
      std::vector<MixOption> v;
      int s = 0;
      for (const Converted& c : mix_options[ti]) {
        if (c.store == target.dtype) s = static_cast<int>(v.size());
        v.push_back({c.report.bits, c.report.rel_out_err * plan[ti].mix_weight});
      }
      base_bits += v[0].bits;
      mix_params += plan[ti].t->numel();
      opts.push_back(std::move(v));
      start.push_back(s);
    }
    const double budget = o.mix_bpw * static_cast<double>(mix_params);
    if (budget < base_bits) {
      return InvalidArgument("--mix-bpw %g: below the %.4f bpw of the mixed tensors in %s, the narrowest candidate",
                             o.mix_bpw, base_bits / static_cast<double>(std::max<int64_t>(mix_params, 1)),
                             mix_types[0].Name().c_str());
    }
    const std::vector<int> choice = ChooseMix(opts, start, budget);
    // The tensors moved to a predicted candidate are quantized in it now, in file order,
    // each input's H and factor prepared again (ahead, as above); the other kept XᵀX go.
    std::vector<size_t> requant;
    int64_t requant_weights = 0;
    for (size_t k = 0; k < idx.size(); ++k) {
      if (!mix_options[idx[k]][static_cast<size_t>(choice[k])].predicted) continue;
      requant.push_back(k);
      requant_weights += plan[idx[k]].t->numel();
      auto kept = kept_xtx.find(plan[idx[k]].stats);
      if (kept == kept_xtx.end()) {
        return Internal("--mix-bpw: %s was chosen after its statistics were freed", plan[idx[k]].t->name.c_str());
      }
      kept->second.last = idx[k];
    }
    if (predict_narrow) {
      double kept_mb = 0;
      for (const auto& [s, in] : kept_xtx) kept_mb += 8.0 * static_cast<double>(s->cols * s->cols) / 1e6;
      char line[200];
      std::snprintf(line, sizeof(line),
                    "mix: %zu tensors moved down, quantized in %s now (the statistics of %zu inputs, %.0f MB, "
                    "were kept for them)",
                    requant.size(), mix_types[0].Name().c_str(), kept_xtx.size(), kept_mb);
      log(line);
    }
    for (const auto& [s, in] : kept_xtx) {
      if (in.last == SIZE_MAX) cal.ReleaseHessian(s);
    }
    std::vector<InputPrepRequest> again;
    for (size_t k : requant) {
      again.push_back(InputPrepRequest{plan[idx[k]].stats, plan[idx[k]].rotate, o.gptq, o.gptq});
    }
    inputs = std::make_unique<InputPrep>(std::move(again), o.gptq_damp, o.gptq_act_order, o.threads, /*lookahead=*/2);
    int64_t requant_done = 0;
    for (size_t k : requant) {
      const size_t ti = idx[k];
      const Plan& p = plan[ti];
      if (o.progress) o.progress(requant_done, requant_weights, "mix: " + p.t->name);
      Converted& slot = mix_options[ti][static_cast<size_t>(choice[k])];
      std::vector<float> w_buf;
      SEPTET_ASSIGN_OR_RETURN(const float* w, load_weights(p, &w_buf));
      SEPTET_ASSIGN_OR_RETURN(Converted c, convert(p, TypeChoice{slot.store, false}, w, &wh_of[ti]));
      slot = std::move(c);
      if (kept_xtx.at(p.stats).last == ti) {
        inputs->Release(p.stats);
        cal.ReleaseHessian(p.stats);
      }
      requant_done += p.t->numel();
    }
    std::map<std::string, int> counts;
    double chosen_bits = 0;
    for (size_t k = 0; k < idx.size(); ++k) {
      Converted& c = mix_options[idx[k]][static_cast<size_t>(choice[k])];
      c.report.target = true;
      c.report.mix_weight = plan[idx[k]].mix_weight;
      chosen_bits += c.report.bits;
      ++counts[c.report.type];
      log_tensor(c.report, "");
      stored[idx[k]] = c.store;
      storage[idx[k]] = std::move(c.bytes);
      reports[idx[k]] = std::move(c.report);
      mix_options[idx[k]].clear();
    }
    char buf[160];
    std::snprintf(buf, sizeof(buf), "mix-bpw %g: %.4f bpw over %" PRId64 " matmul weights:", o.mix_bpw,
                  chosen_bits / static_cast<double>(std::max<int64_t>(mix_params, 1)), mix_params);
    mix_summary = buf;
    for (const auto& [name, n] : counts) mix_summary += " " + std::to_string(n) + " " + name;
    mix_summary += " (from " + target.Name() +
                   ", chosen per bit by the measured output error tr(E H E^T)/tr(W H W^T) times the block's share "
                   "of the residual stream)";
    log(mix_summary);
  }
  for (size_t ti = 0; ti < plan.size(); ++ti) {
    const TensorReport& tr = reports[ti];
    rep.params_all += plan[ti].t->numel();
    rep.bits_all += tr.bits;
    if (tr.target) {
      rep.params_target += plan[ti].t->numel();
      rep.bits_target += tr.bits;
    }
    rep.tensors.push_back(tr);
  }
  if (o.progress) o.progress(total_weights, total_weights, "done");

  // ---- metadata ----
  GgufWriter wr;
  const bool copy_tokenizer = mf.metadata().Has("tokenizer.ggml.model");
  for (const auto& [key, value] : mf.metadata().entries()) {
    if (key.rfind("septet.quantize.", 0) == 0 || key == "septet.version") continue;
    if (!copy_tokenizer && key.rfind("tokenizer.", 0) == 0) continue;
    if (key == io::kGgufFileTypeKey) continue;  // the source's type, not the output's: set below
    SEPTET_RETURN_IF_ERROR(wr.SetMeta(key, value));
  }
  // llama.cpp reads general.file_type as the model's type; only types it shares have one.
  if (const std::optional<uint32_t> ftype = target.rtn ? std::nullopt : io::LlamaCppFileType(target.dtype)) {
    SEPTET_RETURN_IF_ERROR(wr.SetMeta(io::kGgufFileTypeKey, MetaValue::U32(*ftype)));
  }
  if (!copy_tokenizer) {
    if (mf.format() == "llama2c") {
      const std::string tok_path = FindLlama2cTokenizerFile(mf, o.tokenizer_path, hp.vocab);
      if (tok_path.empty()) {
        return NotFound(
            "%s: no tokenizer.bin or tok%lld.bin beside the model to embed in the output; pass "
            "--tokenizer FILE",
            o.input.c_str(), static_cast<long long>(hp.vocab));
      }
      SEPTET_ASSIGN_OR_RETURN(auto tmeta, Llama2cTokenizerMeta(tok_path, hp.vocab));
      // Check: the embedded tokenizer encodes like the original one.
      ModelFile probe(o.output, "gguf");
      for (const auto& [k, v] : tmeta) probe.mutable_metadata().Set(k, v);
      SEPTET_ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> mine, LoadTokenizer(probe));
      SEPTET_ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> orig,
                              LoadLlama2cTokenizer(tok_path, static_cast<int32_t>(hp.vocab)));
      const std::string sample =
          "Once upon a time, there was a little girl named Lily.\nShe said: \"Hi!\" 123 \xC3\xA9";
      if (mine->Encode(sample, true) != orig->Encode(sample, true)) {
        return Internal("%s: the tokenizer converted to GGUF metadata encodes differently from the original",
                        tok_path.c_str());
      }
      for (auto& [k, v] : tmeta) SEPTET_RETURN_IF_ERROR(wr.SetMeta(k, std::move(v)));
      log("tokenizer: embedded " + fs::path(tok_path).filename().string());
    } else {
      log("warning: " + o.input + " has no GGUF tokenizer metadata to copy; load the output with --tokenizer");
    }
  }
  SEPTET_RETURN_IF_ERROR(wr.SetMeta("septet.version", MetaValue::String(SEPTET_VERSION)));
  if (o.rotate) SEPTET_RETURN_IF_ERROR(wr.SetMeta(model::kRotationKey, MetaValue::String(model::kRotationHadamardV1)));
  SEPTET_RETURN_IF_ERROR(wr.SetMeta("septet.quantize.type", MetaValue::String(rep.type)));
  SEPTET_RETURN_IF_ERROR(wr.SetMeta(
      "septet.quantize.source", MetaValue::String(fs::path(o.input).filename().string() + " (" + mf.format() + ")")));
  std::string method = rep.method;
  if (rep.method == "gptq") {
    char buf[96];
    std::snprintf(buf, sizeof(buf), "gptq(damp=%g%s%s%s)", o.gptq_damp, o.gptq_act_order ? ", act-order" : "",
                  o.refit > 0 ? (", refit=" + std::to_string(o.refit)).c_str() : "",
                  o.calib_model.empty() ? "" : ", statistics of a first pass");
    method = buf;
  }
  SEPTET_RETURN_IF_ERROR(wr.SetMeta("septet.quantize.method", MetaValue::String(method)));
  SEPTET_RETURN_IF_ERROR(wr.SetMeta("septet.quantize.bpw_all", MetaValue::F32(static_cast<float>(rep.bpw_all()))));
  SEPTET_RETURN_IF_ERROR(
      wr.SetMeta("septet.quantize.bpw_quantized", MetaValue::F32(static_cast<float>(rep.bpw_target()))));
  if (have_cal) SEPTET_RETURN_IF_ERROR(wr.SetMeta("septet.quantize.calibration", MetaValue::String(calib_meta)));
  std::string policy = "norms F32; token_embd/output Q8_0 (or the target type when >= 8.5 bpw and not quantized)";
  for (const Keep& k : keeps) policy += "; --keep " + k.pattern + "=" + k.type.Name();
  if (mix) policy += "; " + mix_summary;
  SEPTET_RETURN_IF_ERROR(wr.SetMeta("septet.quantize.policy", MetaValue::String(policy)));
  if (target.rtn) {
    SEPTET_RETURN_IF_ERROR(wr.SetMeta(
        "septet.quantize.simulated",
        MetaValue::String("RTN3_G64 baseline: matmul weights hold the dequantized values of a 3-bit g64 min/max "
                          "round-to-nearest code, stored as F32; bpw keys give the nominal 3-bit format")));
  }
  for (size_t ti = 0; ti < plan.size(); ++ti) {
    const Plan& p = plan[ti];
    SEPTET_RETURN_IF_ERROR(wr.AddTensor(p.t->name, stored[ti], p.t->shape, storage[ti].data(), storage[ti].size()));
  }
  SEPTET_RETURN_IF_ERROR(wr.Write(o.output, o.force));
  rep.file_bytes = fs::file_size(o.output, ec);
  return rep;
}

}  // namespace septet::quantize
