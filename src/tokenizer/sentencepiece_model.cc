// SentencePiece tokenizer.model: a serialized sentencepiece.ModelProto, read with a
// minimal bounds-checked protobuf wire-format parser. Fields used (sentencepiece_model.proto):
//   ModelProto       1: repeated SentencePiece pieces   2: TrainerSpec   3: NormalizerSpec
//   SentencePiece    1: string piece   2: float score   3: Type enum (NORMAL=1 ... BYTE=6)
//   TrainerSpec      3: model_type (UNIGRAM=1, BPE=2, WORD=3, CHAR=4)
//                    41: bos_id  42: eos_id (int32; -1 = none); unk is the UNKNOWN-type piece
//   NormalizerSpec   1: name   3: add_dummy_prefix   4: remove_extra_whitespaces
//                    5: escape_whitespaces
// Only BPE models (LLaMA, TinyLlama, llama2.c's tok*.model) are supported; unigram
// models need Viterbi segmentation and are reported Unsupported.
#include <cstring>

#include "core/mapped_file.h"
#include "tokenizer/spm.h"
#include "tokenizer/tokenizer.h"

namespace septet {
namespace {

// One length-delimited message: [begin, end) of the file bytes.
class ProtoReader {
 public:
  ProtoReader(const uint8_t* data, size_t begin, size_t end, const std::string* name)
      : data_(data), pos_(begin), end_(end), name_(name) {}

  bool done() const { return pos_ >= end_; }
  size_t pos() const { return pos_; }

  Status Varint(uint64_t* v) {
    const size_t start = pos_;
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= end_) return Corrupt("%s: truncated varint at offset %zu", name_->c_str(), start);
      const uint8_t b = data_[pos_++];
      *v |= static_cast<uint64_t>(b & 0x7F) << shift;
      if ((b & 0x80) == 0) return Status::Ok();
    }
    return Corrupt("%s: varint longer than 10 bytes at offset %zu", name_->c_str(), start);
  }

  // Reads a field key; *wire is the wire type.
  Status Key(uint32_t* field, uint32_t* wire) {
    const size_t start = pos_;
    uint64_t k;
    SEPTET_RETURN_IF_ERROR(Varint(&k));
    *field = static_cast<uint32_t>(k >> 3);
    *wire = static_cast<uint32_t>(k & 7);
    if (*field == 0 || (k >> 3) > 0x1FFFFFFF) {
      return Corrupt("%s: invalid protobuf field number %llu at offset %zu", name_->c_str(),
                     static_cast<unsigned long long>(k >> 3), start);
    }
    return Status::Ok();
  }

  // A length-delimited payload: returns its [begin, end).
  Status Bytes(size_t* begin, size_t* end) {
    const size_t start = pos_;
    uint64_t n;
    SEPTET_RETURN_IF_ERROR(Varint(&n));
    if (n > end_ - pos_) {
      return Corrupt("%s: field at offset %zu declares %llu bytes but its message has %zu left",
                     name_->c_str(), start, static_cast<unsigned long long>(n), end_ - pos_);
    }
    *begin = pos_;
    pos_ += static_cast<size_t>(n);
    *end = pos_;
    return Status::Ok();
  }

  Status Fixed32(uint32_t* v) {
    if (end_ - pos_ < 4) return Corrupt("%s: truncated fixed32 at offset %zu", name_->c_str(), pos_);
    std::memcpy(v, data_ + pos_, 4);
    pos_ += 4;
    return Status::Ok();
  }

  Status Skip(uint32_t wire) {
    const size_t start = pos_;
    uint64_t v;
    size_t b, e;
    switch (wire) {
      case 0:
        return Varint(&v);
      case 1:
        if (end_ - pos_ < 8) return Corrupt("%s: truncated fixed64 at offset %zu", name_->c_str(), pos_);
        pos_ += 8;
        return Status::Ok();
      case 2:
        return Bytes(&b, &e);
      case 5: {
        uint32_t f;
        return Fixed32(&f);
      }
      default:
        return Corrupt("%s: unsupported protobuf wire type %u at offset %zu", name_->c_str(), wire, start);
    }
  }

  // Checks the wire type of a known field.
  Status Expect(uint32_t field, uint32_t wire, uint32_t want, const char* what) {
    if (wire == want) return Status::Ok();
    return Corrupt("%s: %s (field %u) has wire type %u at offset %zu; expected %u", name_->c_str(), what,
                   field, wire, pos_, want);
  }

 private:
  const uint8_t* data_;
  size_t pos_, end_;
  const std::string* name_;
};

struct ParsedModel {
  tok::SpmVocab vocab;
  int64_t model_type = 1;          // proto default: UNIGRAM
  int64_t bos_id = 1, eos_id = 2;  // TrainerSpec defaults
};

Status ParsePiece(ProtoReader r, const std::string& name, size_t index, ParsedModel* m, const uint8_t* data) {
  std::string piece;
  float score = 0.0f;
  int64_t type = 1;
  bool has_piece = false;
  while (!r.done()) {
    uint32_t field, wire;
    SEPTET_RETURN_IF_ERROR(r.Key(&field, &wire));
    if (field == 1) {
      SEPTET_RETURN_IF_ERROR(r.Expect(field, wire, 2, "SentencePiece.piece"));
      size_t b, e;
      SEPTET_RETURN_IF_ERROR(r.Bytes(&b, &e));
      piece.assign(reinterpret_cast<const char*>(data + b), e - b);
      has_piece = true;
    } else if (field == 2) {
      SEPTET_RETURN_IF_ERROR(r.Expect(field, wire, 5, "SentencePiece.score"));
      uint32_t bits;
      SEPTET_RETURN_IF_ERROR(r.Fixed32(&bits));
      std::memcpy(&score, &bits, 4);
      if (score != score) return Corrupt("%s: piece %zu has a NaN score", name.c_str(), index);
    } else if (field == 3) {
      SEPTET_RETURN_IF_ERROR(r.Expect(field, wire, 0, "SentencePiece.type"));
      uint64_t t;
      SEPTET_RETURN_IF_ERROR(r.Varint(&t));
      type = static_cast<int64_t>(t);
    } else {
      SEPTET_RETURN_IF_ERROR(r.Skip(wire));
    }
  }
  if (!has_piece) return Corrupt("%s: piece %zu has no text (field 1)", name.c_str(), index);
  tok::TokenType tt;
  if (!tok::TokenTypeFromInt(type, &tt)) {
    return Corrupt("%s: piece %zu ('%s') has type %lld; expected 1..6", name.c_str(), index, piece.c_str(),
                   static_cast<long long>(type));
  }
  m->vocab.pieces.push_back(std::move(piece));
  m->vocab.scores.push_back(score);
  m->vocab.types.push_back(tt);
  return Status::Ok();
}

// Proto int32 fields are varints holding the two's-complement 64-bit value.
int64_t AsInt32(uint64_t v) { return static_cast<int32_t>(static_cast<uint32_t>(v)); }

Status ParseTrainerSpec(ProtoReader r, ParsedModel* m) {
  while (!r.done()) {
    uint32_t field, wire;
    SEPTET_RETURN_IF_ERROR(r.Key(&field, &wire));
    if (wire == 0 && (field == 3 || field == 41 || field == 42)) {
      uint64_t v;
      SEPTET_RETURN_IF_ERROR(r.Varint(&v));
      if (field == 3) m->model_type = AsInt32(v);
      if (field == 41) m->bos_id = AsInt32(v);
      if (field == 42) m->eos_id = AsInt32(v);
    } else {
      SEPTET_RETURN_IF_ERROR(r.Skip(wire));
    }
  }
  return Status::Ok();
}

Status ParseNormalizerSpec(ProtoReader r, const std::string& name, const uint8_t* data, ParsedModel* m) {
  while (!r.done()) {
    uint32_t field, wire;
    SEPTET_RETURN_IF_ERROR(r.Key(&field, &wire));
    if (wire == 0 && (field == 3 || field == 4 || field == 5)) {
      uint64_t v;
      SEPTET_RETURN_IF_ERROR(r.Varint(&v));
      if (field == 3) m->vocab.add_dummy_prefix = v != 0;
      if (field == 4) m->vocab.remove_extra_whitespaces = v != 0;
      if (field == 5) m->vocab.escape_whitespace = v != 0;
    } else if (field == 1 && wire == 2) {
      size_t b, e;
      SEPTET_RETURN_IF_ERROR(r.Bytes(&b, &e));
      const std::string rule(reinterpret_cast<const char*>(data + b), e - b);
      // nmt_nfkc etc. rewrite the text with a precompiled char map we do not implement;
      // LLaMA models use "identity".
      if (!rule.empty() && rule != "identity") {
        return Unsupported("%s: normalizer '%s' is not supported (only 'identity')", name.c_str(),
                           rule.c_str());
      }
    } else {
      SEPTET_RETURN_IF_ERROR(r.Skip(wire));
    }
  }
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> LoadSentencePieceModel(const std::string& path) {
  SEPTET_ASSIGN_OR_RETURN(std::shared_ptr<MappedFile> file, MappedFile::Open(path));
  const uint8_t* data = file->data();
  ParsedModel m;
  m.vocab.source = path;
  // Proto defaults: add_dummy_prefix, remove_extra_whitespaces and escape_whitespaces are true.
  m.vocab.add_dummy_prefix = true;
  m.vocab.remove_extra_whitespaces = true;
  m.vocab.escape_whitespace = true;
  bool has_normalizer = false;
  ProtoReader r(data, 0, file->size(), &path);
  while (!r.done()) {
    uint32_t field, wire;
    SEPTET_RETURN_IF_ERROR(r.Key(&field, &wire));
    if (field == 1 || field == 2 || field == 3) {
      static constexpr const char* kNames[] = {"", "ModelProto.pieces", "ModelProto.trainer_spec",
                                               "ModelProto.normalizer_spec"};
      SEPTET_RETURN_IF_ERROR(r.Expect(field, wire, 2, kNames[field]));
      size_t b, e;
      SEPTET_RETURN_IF_ERROR(r.Bytes(&b, &e));
      ProtoReader sub(data, b, e, &path);
      if (field == 1) {
        SEPTET_RETURN_IF_ERROR(ParsePiece(sub, path, m.vocab.pieces.size(), &m, data));
      } else if (field == 2) {
        SEPTET_RETURN_IF_ERROR(ParseTrainerSpec(sub, &m));
      } else {
        has_normalizer = true;
        SEPTET_RETURN_IF_ERROR(ParseNormalizerSpec(sub, path, data, &m));
      }
    } else {
      SEPTET_RETURN_IF_ERROR(r.Skip(wire));
    }
  }
  if (m.vocab.pieces.empty()) return Corrupt("%s: no pieces (ModelProto field 1)", path.c_str());
  if (!has_normalizer) {
    // sentencepiece treats a missing spec as all defaults; say so rather than guess silently.
    return Corrupt("%s: no normalizer_spec (ModelProto field 3)", path.c_str());
  }
  if (m.model_type != 2) {
    static constexpr const char* kTypes[] = {"?", "UNIGRAM", "BPE", "WORD", "CHAR"};
    const char* t = m.model_type >= 1 && m.model_type <= 4 ? kTypes[m.model_type] : "?";
    return Unsupported("%s: sentencepiece model_type %lld (%s); only BPE is supported", path.c_str(),
                       static_cast<long long>(m.model_type), t);
  }
  const int64_t n = static_cast<int64_t>(m.vocab.pieces.size());
  const auto id_or_none = [&](int64_t id) -> int32_t {
    return id >= 0 && id < n ? static_cast<int32_t>(id) : -1;
  };
  m.vocab.bos_id = id_or_none(m.bos_id);
  m.vocab.eos_id = id_or_none(m.eos_id);
  // The unknown token is the piece of type UNKNOWN (sentencepiece requires exactly one).
  for (size_t i = 0; i < m.vocab.types.size() && m.vocab.unk_id < 0; ++i) {
    if (m.vocab.types[i] == tok::TokenType::kUnknown) m.vocab.unk_id = static_cast<int32_t>(i);
  }
  return tok::MakeSpmTokenizer(std::move(m.vocab));
}

}  // namespace septet
