// The masked-difference op's arguments as every kernel reads them: plain C++ (no torch, no CUDA headers), so the
// CUDA kernels (masked_diff_kernel.cu, compiled by nvcc alone), the CPU twin (masked_diff_cpu_kernels.h) and the
// host code that fills it (masked_diff_shapes.h) share one definition. Passed to CUDA kernels by value, as a
// __grid_constant__ parameter (about 2.2 KB, under the 4 KB kernel-parameter limit).
//
// Layout. Per sample b and link l, every operand is a dense block that starts at a base pointer plus b times a
// batch stride (in elements):
//   x                       [C, HW] at x + b * x_stride
//   x1 / x2 of link l       [C, HW] at x1[l] + b * x1_stride[l]     (shared1: x1[0] serves every link)
//   mask_in / mask_out      [HW]    at base + b * batch_stride + l * link_stride (strides 0 broadcast)
// so a [B, L, C, H, W] tensor, L separate [B, C, H, W] renders, a channel slice like EG3D's image_raw and a
// stride-0 batch are all read in place. Backward writes gx ([B, C, HW] contiguous), gx1[l] / gx2[l] (same rules as
// x1 / x2; shared: the sum over links into entry 0); a null gradient pointer means "not needed".

#pragma once

#include <cstdint>

namespace linkgan {

// Links one call handles (the Python side splits more into calls of this many).
constexpr int kMaxLinksPerCall = 32;
// Pixels per work item: a CPU chunk and a CUDA forward block. Fixed, so the order in which a sample's terms are
// summed depends on its height * width alone: never on the batch, the thread count or the GPU model.
// Why 2048: on the CPU 2048 and 4096 time the same (measured side by side, docs/kernel.md); on a GPU, 2048 makes
// twice the blocks at the smallest training size (32 x 256^2: 1024 blocks, ~2 waves of the 528 an H100 keeps
// resident at 4 blocks per SM, ~2.4 of an A100's 432; at 4096, 512 blocks fill an A100's first wave and a fifth of
// the second), for a partial sum per 2048 pixels (0.2% of the bytes read) and a block reduction per 2 steps.
constexpr int64_t kPixelTile = 2048;

struct MaskRows {
    const void* base;       // accumulation dtype (fp32, fp64 for fp64 images)
    int64_t batch_stride;   // 0: one mask for every sample
    int64_t link_stride;    // 0: one mask for every link
};

struct MaskedDiffArgs {
    int64_t B, L, C, HW;
    const void* x;
    int64_t x_stride;
    const void* x1[kMaxLinksPerCall];
    int64_t x1_stride[kMaxLinksPerCall];
    const void* x2[kMaxLinksPerCall];
    int64_t x2_stride[kMaxLinksPerCall];
    bool shared1, shared2;
    MaskRows mask_in, mask_out;
    // Backward only. grad_in / grad_out: [B, L] contiguous, accumulation dtype; null = that output is unused
    // (its terms are skipped: x1 is not read when grad_out is null, x2 not when grad_in is).
    const void* grad_in;
    const void* grad_out;
    void* gx;
    void* gx1[kMaxLinksPerCall];
    int64_t gx1_stride[kMaxLinksPerCall];
    void* gx2[kMaxLinksPerCall];
    int64_t gx2_stride[kMaxLinksPerCall];
};

}  // namespace linkgan
