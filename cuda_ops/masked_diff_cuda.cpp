// Torch binding of the CUDA masked-difference kernels (masked_diff_kernel.cu). Built only with a CUDA torch;
// registered as torch.ops.linkgan_cuda.masked_diff_fwd / masked_diff_bwd, with the signatures of the CPU twin
// (masked_diff_cpu.cpp). Minimal ATen headers, no <torch/extension.h>.

#include "masked_diff.h"
#include "masked_diff_shapes.h"

#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <algorithm>
#include <tuple>

namespace {

using linkgan::MaskedDiffDtype;
using linkgan::MaskedDiffGeometry;

MaskedDiffGeometry check_and_describe(const at::Tensor& x, const at::Tensor& x1, const at::Tensor& x2, const at::Tensor& mask) {
    const linkgan::MaskedDiffShape s = linkgan::check_masked_diff_shapes(x, x1, x2, mask);
    TORCH_CHECK(x.is_cuda(), "masked_diff (cuda): x must be a CUDA tensor");
    TORCH_CHECK(x1.device() == x.device(), "masked_diff (cuda): x1 must be on the device of x");
    TORCH_CHECK(x2.device() == x.device(), "masked_diff (cuda): x2 must be on the device of x");
    TORCH_CHECK(mask.device() == x.device(), "masked_diff (cuda): mask must be on the device of x");
    MaskedDiffGeometry g{s.B, s.L, s.C, s.HW, s.L1, s.L2, s.Bm, s.Lm};
    TORCH_CHECK(g.B <= 65535, "masked_diff (cuda): batch must be at most 65535, got ", g.B);
    return g;
}

MaskedDiffDtype dtype_of(const at::Tensor& x) {
    switch (x.scalar_type()) {
        case at::kFloat:    return MaskedDiffDtype::kFloat32;
        case at::kDouble:   return MaskedDiffDtype::kFloat64;
        case at::kHalf:     return MaskedDiffDtype::kFloat16;
        case at::kBFloat16: return MaskedDiffDtype::kBFloat16;
        default: TORCH_CHECK(false, "masked_diff: x must be float32, float64, float16 or bfloat16, got ", x.scalar_type());
    }
}

std::tuple<at::Tensor, at::Tensor> masked_diff_fwd_cuda(const at::Tensor& x_, const at::Tensor& x1_, const at::Tensor& x2_, const at::Tensor& mask_) {
    const MaskedDiffGeometry g = check_and_describe(x_, x1_, x2_, mask_);
    const c10::cuda::CUDAGuard guard(x_.device());
    const linkgan::MaskedDiffInputs in = linkgan::contiguous_inputs(x_, x1_, x2_, mask_);
    const at::Tensor &x = in.x, &x1 = in.x1, &x2 = in.x2, &mask = in.mask;
    const auto acc_options = x.options().dtype(mask.scalar_type());
    at::Tensor out_in = at::empty({g.B, g.L}, acc_options), out_out = at::empty({g.B, g.L}, acc_options);
    const int64_t blocks = linkgan::masked_diff_fwd_cuda_blocks(g, x.device().index());
    at::Tensor partial = at::empty({std::max<int64_t>(1, g.B * blocks * g.L * 2)}, acc_options);
    const cudaError_t err = linkgan::masked_diff_fwd_cuda(g, dtype_of(x), x.const_data_ptr(), x1.const_data_ptr(), x2.const_data_ptr(),
                                                          mask.const_data_ptr(), partial.mutable_data_ptr(), blocks,
                                                          out_in.mutable_data_ptr(), out_out.mutable_data_ptr(),
                                                          c10::cuda::getCurrentCUDAStream(x.device().index()).stream());
    TORCH_CHECK(err == cudaSuccess, "masked_diff (cuda) forward launch failed: ", cudaGetErrorString(err));
    return {out_in, out_out};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> masked_diff_bwd_cuda(
        const at::Tensor& grad_in_, const at::Tensor& grad_out_, const at::Tensor& x_, const at::Tensor& x1_, const at::Tensor& x2_,
        const at::Tensor& mask_, bool need_x, bool need_x1, bool need_x2) {
    const MaskedDiffGeometry g = check_and_describe(x_, x1_, x2_, mask_);
    const auto grads = linkgan::check_incoming_grads(grad_in_, grad_out_, g.B, g.L, mask_.scalar_type(), x_.device(),
                                                     " tensor on the device of x");
    const c10::cuda::CUDAGuard guard(x_.device());
    const at::Tensor &grad_in = grads.first, &grad_out = grads.second;
    const linkgan::MaskedDiffInputs in = linkgan::contiguous_inputs(x_, x1_, x2_, mask_);
    const at::Tensor &x = in.x, &x1 = in.x1, &x2 = in.x2, &mask = in.mask;
    // torch.empty, not zeros: the kernel writes every element once.
    at::Tensor gx, gx1, gx2;
    std::tie(gx, gx1, gx2) = linkgan::grad_outputs(
        [](at::IntArrayRef sizes, const at::TensorOptions& options) { return at::empty(sizes, options); }, in, need_x, need_x1, need_x2);
    const cudaError_t err = linkgan::masked_diff_bwd_cuda(g, dtype_of(x), grad_in.const_data_ptr(), grad_out.const_data_ptr(),
                                                          x.const_data_ptr(), x1.const_data_ptr(), x2.const_data_ptr(), mask.const_data_ptr(),
                                                          need_x ? gx.mutable_data_ptr() : nullptr,
                                                          need_x1 ? gx1.mutable_data_ptr() : nullptr,
                                                          need_x2 ? gx2.mutable_data_ptr() : nullptr,
                                                          c10::cuda::getCurrentCUDAStream(x.device().index()).stream());
    TORCH_CHECK(err == cudaSuccess, "masked_diff (cuda) backward launch failed: ", cudaGetErrorString(err));
    return {gx, gx1, gx2};
}

} // namespace

//----------------------------------------------------------------------------

LINKGAN_REGISTER_MASKED_DIFF(linkgan_cuda, CUDA, &masked_diff_fwd_cuda, &masked_diff_bwd_cuda)
