// Fused masked-difference op, CPU twin of masked_diff_kernel.cu (OpenMP, one pass forward, one pass backward).
//
// Per sample b and link l (see linkgan_plugin/ops/reference.py, the test oracle):
//   L_in [b, l] = sum_{c,p}      M[b, l, p]  * (x2[b, l, c, p] - x[b, c, p])^2
//   L_out[b, l] = sum_{c,p} (1 - M[b, l, p]) * (x1[b, l, c, p] - x[b, c, p])^2
// with p running over height * width. x1 / x2 arrive as [batch, links or 1, channels, height, width]; mask as
// [batch or 1, links or 1, height, width] already in the accumulation dtype (fp32, or fp64 for fp64 inputs).
//
// Only minimal ATen headers (no <torch/extension.h>) and a TORCH_LIBRARY registration: a cold build takes
// seconds, not half a minute. Registered as torch.ops.linkgan_cpu.masked_diff_fwd / masked_diff_bwd.

#include "grad_buffer_pool.h"
#include "masked_diff_shapes.h"

#include <ATen/core/Tensor.h>
#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>
#include <torch/library.h>

#include <algorithm>
#include <cstdint>
#include <tuple>
#include <utility>
#include <vector>

namespace {

//----------------------------------------------------------------------------
// Problem geometry shared by forward and backward.

struct Geometry : linkgan::MaskedDiffShape {
    int64_t chunk, nchunks;// pixel chunking: one work item = (sample, chunk of pixels), all links, all channels
};

// Chunks of 4096 pixels keep one row of x, x1, x2 and mask in L1/L2 while all links are processed, so x is
// read from memory once per pixel however many links there are.
constexpr int64_t kChunk = 4096;
// Below this many image elements (batch * links * channels * pixels) one thread is faster than waking a team.
constexpr int64_t kParallelGrain = 1 << 16;


Geometry check_and_describe(const at::Tensor& x, const at::Tensor& x1, const at::Tensor& x2, const at::Tensor& mask) {
    Geometry g;
    static_cast<linkgan::MaskedDiffShape&>(g) = linkgan::check_masked_diff_shapes(x, x1, x2, mask);
    TORCH_CHECK(x.device().is_cpu(), "masked_diff (cpu): x must be a CPU tensor");
    TORCH_CHECK(x1.device().is_cpu(), "masked_diff (cpu): x1 must be a CPU tensor");
    TORCH_CHECK(x2.device().is_cpu(), "masked_diff (cpu): x2 must be a CPU tensor");
    TORCH_CHECK(mask.device().is_cpu(), "masked_diff (cpu): mask must be a CPU tensor");
    g.chunk = std::max<int64_t>(1, std::min(g.HW, kChunk));
    g.nchunks = g.HW == 0 ? 0 : (g.HW + g.chunk - 1) / g.chunk;
    return g;
}

inline int64_t mask_row(const Geometry& g, int64_t b, int64_t l) {
    return ((g.Bm == 1 ? 0 : b) * g.Lm + (g.Lm == 1 ? 0 : l)) * g.HW;
}
inline int64_t image_row(const Geometry& g, int64_t links, int64_t b, int64_t l, int64_t c) {
    return ((b * links + (links == 1 ? 0 : l)) * g.C + c) * g.HW;
}
inline int num_threads_for(const Geometry& g) {
    return g.B * g.L * g.C * g.HW < kParallelGrain ? 1 : at::get_num_threads();
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
void forward(const Geometry& g, const scalar_t* x, const scalar_t* x1, const scalar_t* x2, const acc_t* mask, acc_t* out_in, acc_t* out_out) {
#ifdef LINKGAN_HAVE_AVX2_BUILD
    if (cpu_has_avx2()) return avx2::forward_kernel<scalar_t, acc_t>(g, x, x1, x2, mask, out_in, out_out);
#endif
    generic::forward_kernel<scalar_t, acc_t>(g, x, x1, x2, mask, out_in, out_out);
}

template <typename scalar_t, typename acc_t>
void backward(const Geometry& g, const acc_t* grad_in, const acc_t* grad_out, const scalar_t* x, const scalar_t* x1,
              const scalar_t* x2, const acc_t* mask, scalar_t* gx, scalar_t* gx1, scalar_t* gx2) {
#ifdef LINKGAN_HAVE_AVX2_BUILD
    if (cpu_has_avx2()) return avx2::backward_kernel<scalar_t, acc_t>(g, grad_in, grad_out, x, x1, x2, mask, gx, gx1, gx2);
#endif
    generic::backward_kernel<scalar_t, acc_t>(g, grad_in, grad_out, x, x1, x2, mask, gx, gx1, gx2);
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

std::tuple<at::Tensor, at::Tensor> masked_diff_fwd_cpu(const at::Tensor& x_, const at::Tensor& x1_, const at::Tensor& x2_, const at::Tensor& mask_) {
    const Geometry g = check_and_describe(x_, x1_, x2_, mask_);
    const linkgan::MaskedDiffInputs in = linkgan::contiguous_inputs(x_, x1_, x2_, mask_);
    const at::Tensor &x = in.x, &x1 = in.x1, &x2 = in.x2, &mask = in.mask;
    const auto acc = mask.scalar_type();
    at::Tensor out_in = at::empty({g.B, g.L}, x.options().dtype(acc));
    at::Tensor out_out = at::empty({g.B, g.L}, x.options().dtype(acc));
    dispatch(x.scalar_type(), [&](auto s, auto a) {
        using scalar_t = decltype(s);
        using acc_t = decltype(a);
        forward<scalar_t, acc_t>(g, x.const_data_ptr<scalar_t>(), x1.const_data_ptr<scalar_t>(), x2.const_data_ptr<scalar_t>(),
                                        mask.const_data_ptr<acc_t>(), out_in.mutable_data_ptr<acc_t>(), out_out.mutable_data_ptr<acc_t>());
    });
    return {out_in, out_out};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> masked_diff_bwd_cpu(
        const at::Tensor& grad_in_, const at::Tensor& grad_out_, const at::Tensor& x_, const at::Tensor& x1_, const at::Tensor& x2_,
        const at::Tensor& mask_, bool need_x, bool need_x1, bool need_x2) {
    const Geometry g = check_and_describe(x_, x1_, x2_, mask_);
    const auto grads = linkgan::check_incoming_grads(grad_in_, grad_out_, g.B, g.L, mask_.scalar_type(), x_.device(), " CPU tensor");
    const at::Tensor &grad_in = grads.first, &grad_out = grads.second;
    const linkgan::MaskedDiffInputs in = linkgan::contiguous_inputs(x_, x1_, x2_, mask_);
    const at::Tensor &x = in.x, &x1 = in.x1, &x2 = in.x2, &mask = in.mask;
    // Uninitialised, not zeros: the kernel writes every element once (see backward_kernel). From the pool, so
    // that steady-state calls write to pages already mapped (see grad_buffer_pool.h).
    static linkgan::GradBufferPool pool;
    at::Tensor gx, gx1, gx2;
    std::tie(gx, gx1, gx2) = linkgan::grad_outputs(
        [](at::IntArrayRef sizes, const at::TensorOptions& options) { return pool.empty(sizes, options); }, in, need_x, need_x1, need_x2);
    dispatch(x.scalar_type(), [&](auto s, auto a) {
        using scalar_t = decltype(s);
        using acc_t = decltype(a);
        backward<scalar_t, acc_t>(g, grad_in.const_data_ptr<acc_t>(), grad_out.const_data_ptr<acc_t>(),
                                         x.const_data_ptr<scalar_t>(), x1.const_data_ptr<scalar_t>(), x2.const_data_ptr<scalar_t>(), mask.const_data_ptr<acc_t>(),
                                         need_x ? gx.mutable_data_ptr<scalar_t>() : nullptr,
                                         need_x1 ? gx1.mutable_data_ptr<scalar_t>() : nullptr,
                                         need_x2 ? gx2.mutable_data_ptr<scalar_t>() : nullptr);
    });
    return {gx, gx1, gx2};
}

} // namespace

//----------------------------------------------------------------------------

LINKGAN_REGISTER_MASKED_DIFF(linkgan_cpu, CPU, &masked_diff_fwd_cpu, &masked_diff_bwd_cpu)
