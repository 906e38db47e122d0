// Torch binding of the CUDA masked-difference kernels (masked_diff_kernel.cu). Built only with a CUDA torch;
// registered as torch.ops.linkgan_cuda.masked_diff_fwd / masked_diff_bwd, with the signatures of the CPU twin
// (masked_diff_cpu.cpp) and the operand layouts of masked_diff_shapes.h. Minimal ATen headers, no
// <torch/extension.h>. Everything is enqueued on the current stream of x's device, with no host synchronisation
// and only caching-allocator allocations, so a CUDA graph can capture it (on a side stream too).

#include "masked_diff.h"
#include "masked_diff_shapes.h"

#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <algorithm>
#include <tuple>

namespace {

using linkgan::MaskedDiffArgs;
using linkgan::MaskedDiffDtype;

MaskedDiffDtype dtype_of(const at::Tensor& x) {
    switch (x.scalar_type()) {
        case at::kFloat:    return MaskedDiffDtype::kFloat32;
        case at::kDouble:   return MaskedDiffDtype::kFloat64;
        case at::kHalf:     return MaskedDiffDtype::kFloat16;
        case at::kBFloat16: return MaskedDiffDtype::kBFloat16;
        default: TORCH_CHECK(false, "masked_diff: x must be float32, float64, float16 or bfloat16, got ", x.scalar_type());
    }
}

MaskedDiffArgs describe_cuda(const at::Tensor& x, at::TensorList x1, at::TensorList x2, const at::Tensor& mask_in,
                             const c10::optional<at::Tensor>& mask_out) {
    TORCH_CHECK(x.is_cuda(), "masked_diff (cuda): x must be a CUDA tensor");
    dtype_of(x);
    return linkgan::describe(x, x1, x2, mask_in, mask_out);
}

cudaStream_t stream_of(const at::Tensor& x) { return c10::cuda::getCurrentCUDAStream(x.device().index()).stream(); }

linkgan::ForwardResult masked_diff_fwd_cuda(const at::Tensor& x, at::TensorList x1, at::TensorList x2,
                                            const at::Tensor& mask_in, const c10::optional<at::Tensor>& mask_out) {
    const MaskedDiffArgs a = describe_cuda(x, x1, x2, mask_in, mask_out);
    const c10::cuda::CUDAGuard guard(x.device());
    const auto acc_options = x.options().dtype(mask_in.scalar_type());
    at::Tensor out_in = at::empty({a.B, a.L}, acc_options), out_out = at::empty({a.B, a.L}, acc_options);
    at::Tensor partial = at::empty({std::max<int64_t>(1, linkgan::masked_diff_fwd_partial_elements(a))}, acc_options);
    const cudaError_t err = linkgan::masked_diff_fwd_cuda(a, dtype_of(x), partial.mutable_data_ptr(), out_in.mutable_data_ptr(),
                                                          out_out.mutable_data_ptr(), stream_of(x));
    TORCH_CHECK(err == cudaSuccess, "masked_diff (cuda) forward launch failed: ", cudaGetErrorString(err));
    return {out_in, out_out};
}

linkgan::BackwardResult masked_diff_bwd_cuda(const c10::optional<at::Tensor>& grad_in_, const c10::optional<at::Tensor>& grad_out_,
                                             const at::Tensor& x, at::TensorList x1, at::TensorList x2, const at::Tensor& mask_in,
                                             const c10::optional<at::Tensor>& mask_out, bool need_x, bool need_x1, bool need_x2) {
    MaskedDiffArgs a = describe_cuda(x, x1, x2, mask_in, mask_out);
    const c10::cuda::CUDAGuard guard(x.device());
    const auto grads = linkgan::check_incoming_grads(grad_in_, grad_out_, a, mask_in.scalar_type(), x.device());
    a.grad_in = grads.first.defined() ? grads.first.const_data_ptr() : nullptr;
    a.grad_out = grads.second.defined() ? grads.second.const_data_ptr() : nullptr;
    linkgan::BackwardResult out = linkgan::grad_outputs(
        [](at::IntArrayRef sizes, const at::TensorOptions& options) { return at::empty(sizes, options); },
        [](at::IntArrayRef sizes, const at::TensorOptions& options) { return at::zeros(sizes, options); },
        a, x, x1, x2, need_x, need_x1, need_x2);
    const cudaError_t err = linkgan::masked_diff_bwd_cuda(a, dtype_of(x), stream_of(x));
    TORCH_CHECK(err == cudaSuccess, "masked_diff (cuda) backward launch failed: ", cudaGetErrorString(err));
    return out;
}

} // namespace

//----------------------------------------------------------------------------

LINKGAN_REGISTER_MASKED_DIFF(linkgan_cuda, CUDA, &masked_diff_fwd_cuda, &masked_diff_bwd_cuda)
