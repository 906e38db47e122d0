// Interface between the CUDA kernels (masked_diff_kernel.cu: raw pointers, no torch headers, so nvcc alone can
// compile it) and their torch binding (masked_diff_cuda.cpp). The arguments are MaskedDiffArgs
// (masked_diff_args.h), shared with the CPU twin.

#pragma once

#include "masked_diff_args.h"

#include <cstdint>
#include <cuda_runtime_api.h>

namespace linkgan {

enum class MaskedDiffDtype : int { kFloat32 = 0, kFloat64 = 1, kFloat16 = 2, kBFloat16 = 3 };

// Elements of the accumulation dtype (fp64 for fp64 images, else fp32) the caller allocates as the forward's
// scratch `partial`: B * ceil(HW / kPixelTile) * L * 2 (one partial sum per sample, pixel tile, link and output).
int64_t masked_diff_fwd_partial_elements(const MaskedDiffArgs& a);

// Forward: out_in / out_out are [B, L] contiguous in the accumulation dtype. Enqueued on `stream`, no host sync
// (CUDA-graph capturable). Any batch size (launched in slices of at most 65535 samples).
cudaError_t masked_diff_fwd_cuda(const MaskedDiffArgs& a, MaskedDiffDtype dtype, void* partial, void* out_in,
                                 void* out_out, cudaStream_t stream);

// Backward: reads a.grad_in / a.grad_out, writes a.gx, a.gx1, a.gx2 (null = not needed); every element of a
// non-null output is written exactly once. Enqueued on `stream`, no host sync.
cudaError_t masked_diff_bwd_cuda(const MaskedDiffArgs& a, MaskedDiffDtype dtype, cudaStream_t stream);

} // namespace linkgan
