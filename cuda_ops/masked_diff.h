// Interface between the CUDA kernels (masked_diff_kernel.cu: raw pointers, no torch headers, so nvcc alone can
// compile it) and their torch binding (masked_diff_cuda.cpp). The CPU twin (masked_diff_cpu.cpp) does not use it.

#pragma once

#include <cstdint>
#include <cuda_runtime_api.h>

namespace linkgan {

// [batch, links, channels, height * width]; x1 / x2 have L1 / L2 links (1 = shared by all links, else L); the
// mask has Bm samples and Lm links (1 = broadcast). All tensors contiguous.
struct MaskedDiffGeometry {
    int64_t B, L, C, HW;
    int64_t L1, L2;
    int64_t Bm, Lm;
};

enum class MaskedDiffDtype : int { kFloat32 = 0, kFloat64 = 1, kFloat16 = 2, kBFloat16 = 3 };

// Pixel blocks per sample the forward uses on `device`; the caller allocates `partial` with
// B * blocks * L * 2 elements of the accumulation dtype (fp64 for fp64 images, else fp32).
int64_t masked_diff_fwd_cuda_blocks(const MaskedDiffGeometry& g, int device);

// Forward: out_in / out_out are [B, L] in the accumulation dtype; mask is in the accumulation dtype.
cudaError_t masked_diff_fwd_cuda(const MaskedDiffGeometry& g, MaskedDiffDtype dtype, const void* x, const void* x1,
                                 const void* x2, const void* mask, void* partial, int64_t blocks,
                                 void* out_in, void* out_out, cudaStream_t stream);

// Backward: grad_in / grad_out are [B, L] in the accumulation dtype; gx, gx1, gx2 (image dtype) may be null
// when not needed; every element of a non-null output is written exactly once.
cudaError_t masked_diff_bwd_cuda(const MaskedDiffGeometry& g, MaskedDiffDtype dtype, const void* grad_in,
                                 const void* grad_out, const void* x, const void* x1, const void* x2,
                                 const void* mask, void* gx, void* gx1, void* gx2, cudaStream_t stream);

} // namespace linkgan
