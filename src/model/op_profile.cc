#include "model/op_profile.h"

namespace septet::model {

const char* OpName(Op op) {
  switch (op) {
    case Op::kMatQkv: return "matmul q/k/v";
    case Op::kMatOut: return "matmul attn out";
    case Op::kMatGateUp: return "matmul ffn gate/up";
    case Op::kMatDown: return "matmul ffn down";
    case Op::kMatLogits: return "matmul output head";
    case Op::kActQuant: return "activation quantization";
    case Op::kAttention: return "attention";
    case Op::kNorm: return "rmsnorm";
    case Op::kRope: return "rope";
    case Op::kSwiGlu: return "swiglu";
    case Op::kRotate: return "input rotation";
    case Op::kPoolWait: return "thread-pool wait";
    case Op::kOther: return "other";
    case Op::kCount: break;
  }
  return "?";
}

}  // namespace septet::model
