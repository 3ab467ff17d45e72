// The number of tokens a forward pass processes at once (the CPU context's chunk,
// and the GPU front's, model/layer_split.h). A prompt longer than this runs in
// chunks. Larger chunks read every weight matrix fewer times per prompt token
// (prefill of F32 SmolLM2-135M: 195 -> 320 tok/s from 64 to 256 on 2 cores);
// the cost is scratch memory that grows with the chunk (LlamaContext::ScratchBytes).
#pragma once

#include <cstdint>

namespace septet::model {

inline constexpr int64_t kForwardChunkTokens = 256;

}  // namespace septet::model
