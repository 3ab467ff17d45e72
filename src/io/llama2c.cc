#include "io/llama2c.h"

#include <cinttypes>
#include <map>
#include <vector>

#include "io/byte_reader.h"

namespace septet {
namespace {

constexpr size_t kLegacyHeaderBytes = 7 * sizeof(int32_t);
constexpr size_t kV1HeaderBytes = 256;

struct Llama2cHeader {
  int version = 0;  // 0 = legacy header
  int32_t dim = 0, hidden_dim = 0, n_layers = 0, n_heads = 0, n_kv_heads = 0, vocab_size = 0,
          seq_len = 0;
  bool shared_classifier = true;
  size_t header_bytes = 0;
};

// Reads the 7 config ints at the reader's position.
bool ReadConfig(io::ByteReader& r, Llama2cHeader* h) {
  return r.Read(&h->dim) && r.Read(&h->hidden_dim) && r.Read(&h->n_layers) && r.Read(&h->n_heads) &&
         r.Read(&h->n_kv_heads) && r.Read(&h->vocab_size) && r.Read(&h->seq_len);
}

Result<Llama2cHeader> ReadHeader(const MappedFile& f) {
  const char* path = f.path().c_str();
  io::ByteReader r(f.data(), f.size());
  Llama2cHeader h;
  uint32_t magic = 0;
  if (r.Read(&magic) && magic == kLlama2cMagic) {
    int32_t version = 0;
    if (!r.Read(&version)) {
      return Corrupt("%s: llama2.c header truncated: the version field needs 8 bytes, file has %zu",
                     path, f.size());
    }
    if (version != 1) {
      return Unsupported("%s: llama2.c export version %d is not supported (only fp32 versions 0 and 1)",
                         path, version);
    }
    if (f.size() < kV1HeaderBytes) {
      return Corrupt("%s: llama2.c v1 header truncated: expected %zu header bytes, file has %zu", path,
                     kV1HeaderBytes, f.size());
    }
    uint8_t shared = 0;
    if (!ReadConfig(r, &h) || !r.Read(&shared)) {
      return Internal("%s: llama2.c v1 header read failed inside 256 bytes", path);
    }
    if (shared > 1) {
      return Corrupt("%s: llama2.c v1 header: shared_classifier = %u; expected 0 or 1", path, shared);
    }
    if (h.vocab_size <= 0) {
      return Corrupt("%s: llama2.c v1 header: vocab_size = %d; expected > 0", path, h.vocab_size);
    }
    h.version = 1;
    h.shared_classifier = shared != 0;
    h.header_bytes = kV1HeaderBytes;
    return h;
  }
  r = io::ByteReader(f.data(), f.size());
  if (!ReadConfig(r, &h)) {
    return Corrupt("%s: not a GGUF file, and too short for a llama2.c header: need %zu bytes, file has %zu",
                   path, kLegacyHeaderBytes, f.size());
  }
  // A negative vocab_size is llama2.c's flag for "an unshared classifier follows".
  if (h.vocab_size < 0 && h.vocab_size != INT32_MIN) {
    h.vocab_size = -h.vocab_size;
    h.shared_classifier = false;
  }
  h.header_bytes = kLegacyHeaderBytes;
  return h;
}

Status ValidateHeader(const char* path, const Llama2cHeader& h) {
  struct Field {
    const char* name;
    int32_t value;
    int32_t max;
  };
  // Generous upper bounds: anything past them is a misread header, not a model.
  const Field fields[] = {
      {"dim", h.dim, 1 << 20},          {"hidden_dim", h.hidden_dim, 1 << 22},
      {"n_layers", h.n_layers, 1 << 12}, {"n_heads", h.n_heads, 1 << 14},
      {"n_kv_heads", h.n_kv_heads, 1 << 14}, {"vocab_size", h.vocab_size, 1 << 24},
      {"seq_len", h.seq_len, 1 << 24},
  };
  for (const Field& fld : fields) {
    if (fld.value <= 0 || fld.value > fld.max) {
      return Corrupt("%s: llama2.c header: %s = %d; expected 1..%d (not a GGUF file either: no 'GGUF' magic)",
                     path, fld.name, fld.value, fld.max);
    }
  }
  if (h.dim % h.n_heads != 0) {
    return Corrupt("%s: llama2.c header: dim = %d is not divisible by n_heads = %d", path, h.dim, h.n_heads);
  }
  if (h.n_heads % h.n_kv_heads != 0) {
    return Corrupt("%s: llama2.c header: n_heads = %d is not divisible by n_kv_heads = %d", path, h.n_heads,
                   h.n_kv_heads);
  }
  if ((h.dim / h.n_heads) % 2 != 0) {
    return Corrupt("%s: llama2.c header: head size dim/n_heads = %d is odd; RoPE needs an even head size", path,
                   h.dim / h.n_heads);
  }
  return Status::Ok();
}

// One contiguous run of fp32 values in the file.
struct Segment {
  std::string name;            // canonical name, "%d" replaced by the layer for per-layer runs
  bool per_layer;
  int64_t rows, cols;          // of one tensor; rows == 0 marks a vector {cols}
  bool skip = false;           // legacy freq_cis tables
};

}  // namespace

Result<std::unique_ptr<ModelFile>> ParseLlama2c(std::shared_ptr<MappedFile> file) {
  const char* path = file->path().c_str();
  SEPTET_ASSIGN_OR_RETURN(const Llama2cHeader h, ReadHeader(*file));
  SEPTET_RETURN_IF_ERROR(ValidateHeader(path, h));

  const int64_t dim = h.dim, hidden = h.hidden_dim, vocab = h.vocab_size, L = h.n_layers;
  const int64_t head_size = dim / h.n_heads;
  const int64_t kv_dim = head_size * h.n_kv_heads;

  const Segment embd{"token_embd.weight", false, vocab, dim};
  const Segment att_norm{"blk.%d.attn_norm.weight", true, 0, dim};
  const Segment ffn_norm{"blk.%d.ffn_norm.weight", true, 0, dim};
  const Segment out_norm{"output_norm.weight", false, 0, dim};
  const Segment wq{"blk.%d.attn_q.weight", true, dim, dim};
  const Segment wk{"blk.%d.attn_k.weight", true, kv_dim, dim};
  const Segment wv{"blk.%d.attn_v.weight", true, kv_dim, dim};
  const Segment wo{"blk.%d.attn_output.weight", true, dim, dim};
  const Segment w1{"blk.%d.ffn_gate.weight", true, hidden, dim};
  const Segment w2{"blk.%d.ffn_down.weight", true, dim, hidden};
  const Segment w3{"blk.%d.ffn_up.weight", true, hidden, dim};
  const Segment freq{"freq_cis", false, h.seq_len, head_size / 2, true};
  const Segment wcls{"output.weight", false, vocab, dim};

  std::vector<Segment> order;
  if (h.version == 0) {
    order = {embd, att_norm, wq, wk, wv, wo, ffn_norm, w1, w2, w3, out_norm, freq, freq};
  } else {
    order = {att_norm, ffn_norm, out_norm, embd, wq, wk, wv, wo, w1, w2, w3};
  }
  if (!h.shared_classifier) order.push_back(wcls);

  // Lay the segments out; all products are bounded by the header limits, but the
  // running offset is still summed with overflow checks.
  struct Placed {
    TensorInfo info;  // data filled in once the file size is verified
    uint64_t offset;
  };
  std::map<std::string, Placed, std::less<>> by_name;
  uint64_t offset = h.header_bytes;
  bool overflow = false;
  for (const Segment& seg : order) {
    const int64_t numel = (seg.rows == 0 ? 1 : seg.rows) * seg.cols;
    const int64_t copies = seg.per_layer ? L : 1;
    for (int64_t l = 0; l < copies; ++l) {
      const uint64_t nbytes = static_cast<uint64_t>(numel) * sizeof(float);
      if (!seg.skip) {
        TensorInfo t;
        t.name = seg.per_layer ? StrFormat(seg.name.c_str(), static_cast<int>(l)) : seg.name;
        t.dtype = DType::kF32;
        t.shape = seg.rows == 0 ? std::vector<int64_t>{seg.cols} : std::vector<int64_t>{seg.rows, seg.cols};
        t.nbytes = static_cast<size_t>(nbytes);
        std::string name = t.name;
        by_name.emplace(std::move(name), Placed{std::move(t), offset});
      }
      overflow |= !io::CheckedAdd(offset, nbytes, &offset);
    }
  }
  const std::string dims = StrFormat("dim=%d hidden_dim=%d n_layers=%d n_heads=%d n_kv_heads=%d vocab=%d%s "
                                     "seq_len=%d",
                                     h.dim, h.hidden_dim, h.n_layers, h.n_heads, h.n_kv_heads, h.vocab_size,
                                     h.shared_classifier ? "" : " (+classifier)", h.seq_len);
  if (overflow || offset > file->size()) {
    return Corrupt("%s: llama2.c file is truncated: the header (%s) implies %" PRIu64 " bytes, the file has %zu",
                   path, dims.c_str(), offset, file->size());
  }
  if (offset < file->size()) {
    return Corrupt("%s: llama2.c file has %zu unexpected trailing bytes: the header (%s) implies %" PRIu64
                   " bytes, the file has %zu",
                   path, file->size() - static_cast<size_t>(offset), dims.c_str(), offset, file->size());
  }

  auto model = std::make_unique<ModelFile>(file->path(), "llama2c");
  auto add = [&](const std::string& name) {
    auto it = by_name.find(name);
    if (it == by_name.end()) return;
    TensorInfo t = std::move(it->second.info);
    t.data = file->data() + it->second.offset;
    model->AddTensor(std::move(t));
  };
  for (const std::string& name : LlamaTensorNames(h.n_layers, !h.shared_classifier)) add(name);

  Metadata& m = model->mutable_metadata();
  m.Set("general.architecture", MetaValue::String("llama"));
  m.Set("llama.embedding_length", MetaValue::U32(static_cast<uint32_t>(h.dim)));
  m.Set("llama.feed_forward_length", MetaValue::U32(static_cast<uint32_t>(h.hidden_dim)));
  m.Set("llama.block_count", MetaValue::U32(static_cast<uint32_t>(h.n_layers)));
  m.Set("llama.attention.head_count", MetaValue::U32(static_cast<uint32_t>(h.n_heads)));
  m.Set("llama.attention.head_count_kv", MetaValue::U32(static_cast<uint32_t>(h.n_kv_heads)));
  m.Set("llama.context_length", MetaValue::U32(static_cast<uint32_t>(h.seq_len)));
  m.Set("llama.rope.freq_base", MetaValue::F32(10000.0f));
  m.Set("llama.rope.dimension_count", MetaValue::U32(static_cast<uint32_t>(head_size)));
  m.Set("llama.attention.layer_norm_rms_epsilon", MetaValue::F32(1e-5f));
  m.Set("llama.vocab_size", MetaValue::U32(static_cast<uint32_t>(h.vocab_size)));
  m.Set("septet.rope.pairing", MetaValue::String("interleaved"));
  model->KeepAlive(std::move(file));
  return model;
}

Result<std::unique_ptr<ModelFile>> OpenLlama2c(const std::string& path) {
  SEPTET_ASSIGN_OR_RETURN(std::shared_ptr<MappedFile> file, MappedFile::Open(path));
  return ParseLlama2c(std::move(file));
}

}  // namespace septet
