// Fused masked-difference op, CPU twin of masked_diff_kernel.cu (OpenMP, one pass forward, one pass backward).
//
// Per sample b and link l (see linkgan_plugin/ops/reference.py, the test oracle):
//   L_in [b, l] = sum_{c,p}          M_in[b, l, p]  * (x2[b, l, c, p] - x[b, c, p])^2
//   L_out[b, l] = sum_{c,p} (1 - M_out[b, l, p])    * (x1[b, l, c, p] - x[b, c, p])^2
// with p running over height * width. The operands and their layouts are those of masked_diff_shapes.h (read in
// place: a list of renders, a channel slice, an expanded mask); the masks are in the accumulation dtype (fp32, or
// fp64 for fp64 inputs).
//
// Only minimal ATen headers (no <torch/extension.h>) and a TORCH_LIBRARY registration: a cold build takes
// seconds, not half a minute. Registered as torch.ops.linkgan_cpu.masked_diff_fwd / masked_diff_bwd.

#include "grad_buffer_pool.h"
#include "masked_diff_shapes.h"

#include <ATen/core/Tensor.h>
#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>
#include <torch/library.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <tuple>
#include <utility>
#include <vector>

namespace {

using linkgan::kPixelTile;
using linkgan::MaskedDiffArgs;
using linkgan::MaskRows;

// Below this many image elements (batch * links * channels * pixels) one thread is faster than waking a team.
// The thread count never changes a result (see masked_diff_cpu_kernels.h).
constexpr int64_t kParallelGrain = 1 << 16;

inline int64_t num_chunks(const MaskedDiffArgs& a) { return (a.HW + kPixelTile - 1) / kPixelTile; }
inline int num_threads_for(const MaskedDiffArgs& a) {
    return a.B * a.L * a.C * a.HW < kParallelGrain ? 1 : at::get_num_threads();
}
// Channel c of the sample that starts `sample_offset` elements after `base`.
template <typename T> inline const T* rows_of(const void* base, int64_t sample_offset, int64_t c, int64_t HW) {
    return static_cast<const T*>(base) + sample_offset + c * HW;
}
template <typename T> inline const T* mask_row(const MaskRows& m, int64_t b, int64_t l) {
    return static_cast<const T*>(m.base) + b * m.batch_stride + l * m.link_stride;
}

//----------------------------------------------------------------------------
// The loops, twice: for any x86-64 / other CPU, and with AVX2 + FMA (chosen at run time, see dispatch below).

namespace generic {
#include "masked_diff_cpu_kernels.h"
} // namespace generic

#if defined(__x86_64__) && defined(__GNUC__)
#define LINKGAN_HAVE_AVX2_BUILD 1
#pragma GCC push_options
#pragma GCC target("avx2,fma")
namespace avx2 {
#include "masked_diff_cpu_kernels.h"
} // namespace avx2
#pragma GCC pop_options
#endif

bool cpu_has_avx2() {
#ifdef LINKGAN_HAVE_AVX2_BUILD
    static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return has;
#else
    return false;
#endif
}

template <typename scalar_t, typename acc_t>
void forward(const MaskedDiffArgs& a, acc_t* out_in, acc_t* out_out) {
#ifdef LINKGAN_HAVE_AVX2_BUILD
    if (cpu_has_avx2()) return avx2::forward_kernel<scalar_t, acc_t>(a, out_in, out_out);
#endif
    generic::forward_kernel<scalar_t, acc_t>(a, out_in, out_out);
}

template <typename scalar_t, typename acc_t>
void backward(const MaskedDiffArgs& a) {
#ifdef LINKGAN_HAVE_AVX2_BUILD
    if (cpu_has_avx2()) return avx2::backward_kernel<scalar_t, acc_t>(a);
#endif
    generic::backward_kernel<scalar_t, acc_t>(a);
}

//----------------------------------------------------------------------------
// Dtype dispatch without <ATen/Dispatch.h>: fp32, fp64, and fp16 / bf16 accumulated in fp32.

template <typename F> void dispatch(at::ScalarType t, F&& f) {
    switch (t) {
        case at::kFloat:    f(float{}, float{}); break;
        case at::kDouble:   f(double{}, double{}); break;
        case at::kHalf:     f(c10::Half{}, float{}); break;
        case at::kBFloat16: f(c10::BFloat16{}, float{}); break;
        default: TORCH_CHECK(false, "masked_diff: x must be float32, float64, float16 or bfloat16, got ", t);
    }
}

MaskedDiffArgs describe_cpu(const at::Tensor& x, at::TensorList x1, at::TensorList x2, const at::Tensor& mask_in,
                            const c10::optional<at::Tensor>& mask_out) {
    TORCH_CHECK(x.device().is_cpu(), "masked_diff (cpu): x must be a CPU tensor");
    dispatch(x.scalar_type(), [](auto, auto) {});
    return linkgan::describe(x, x1, x2, mask_in, mask_out);
}

linkgan::ForwardResult masked_diff_fwd_cpu(const at::Tensor& x, at::TensorList x1, at::TensorList x2,
                                           const at::Tensor& mask_in, const c10::optional<at::Tensor>& mask_out) {
    const MaskedDiffArgs a = describe_cpu(x, x1, x2, mask_in, mask_out);
    const auto acc = mask_in.scalar_type();
    at::Tensor out_in = at::empty({a.B, a.L}, x.options().dtype(acc));
    at::Tensor out_out = at::empty({a.B, a.L}, x.options().dtype(acc));
    dispatch(x.scalar_type(), [&](auto s, auto c) {
        using acc_t = decltype(c);
        forward<decltype(s), acc_t>(a, out_in.mutable_data_ptr<acc_t>(), out_out.mutable_data_ptr<acc_t>());
    });
    return {out_in, out_out};
}

linkgan::BackwardResult masked_diff_bwd_cpu(const c10::optional<at::Tensor>& grad_in_, const c10::optional<at::Tensor>& grad_out_,
                                            const at::Tensor& x, at::TensorList x1, at::TensorList x2, const at::Tensor& mask_in,
                                            const c10::optional<at::Tensor>& mask_out, bool need_x, bool need_x1, bool need_x2) {
    MaskedDiffArgs a = describe_cpu(x, x1, x2, mask_in, mask_out);
    const auto grads = linkgan::check_incoming_grads(grad_in_, grad_out_, a, mask_in.scalar_type(), x.device());
    const at::Tensor &grad_in = grads.first, &grad_out = grads.second;
    a.grad_in = grad_in.defined() ? grad_in.const_data_ptr() : nullptr;
    a.grad_out = grad_out.defined() ? grad_out.const_data_ptr() : nullptr;
    // From the pool, so that steady-state calls write to pages already mapped (see grad_buffer_pool.h).
    static linkgan::GradBufferPool pool;
    linkgan::BackwardResult out = linkgan::grad_outputs(
        [](at::IntArrayRef sizes, const at::TensorOptions& options) { return pool.empty(sizes, options); },
        [](at::IntArrayRef sizes, const at::TensorOptions& options) { return at::zeros(sizes, options); },
        a, x, x1, x2, need_x, need_x1, need_x2);
    if (!a.grad_in && !a.grad_out) return out;
    dispatch(x.scalar_type(), [&](auto s, auto c) { backward<decltype(s), decltype(c)>(a); });
    return out;
}

} // namespace

//----------------------------------------------------------------------------

LINKGAN_REGISTER_MASKED_DIFF(linkgan_cpu, CPU, &masked_diff_fwd_cpu, &masked_diff_bwd_cpu)
