// Fused masked-difference op, CUDA kernels (raw pointers; the torch binding is masked_diff_cuda.cpp).
//
// Per sample b and link l (see linkgan_plugin/ops/reference.py, the test oracle):
//   L_in [b, l] = sum_{c,p}      M[b, l, p]  * (x2[b, l, c, p] - x[b, c, p])^2
//   L_out[b, l] = sum_{c,p} (1 - M[b, l, p]) * (x1[b, l, c, p] - x[b, c, p])^2
// fp32 and fp64 images accumulate in their own precision; fp16 / bf16 images accumulate in fp32.
//
// Forward: grid (pixel blocks, batch). A block owns one contiguous range of pixels of one sample and walks all
// links over it, so x is fetched from memory once and re-read per link from L1/L2; per-block partial sums go
// to `partial`, reduced in a fixed order by a second tiny kernel (deterministic, no atomics).
// Backward: one thread per (sample, pixel), looping over channels and links; every gradient element is written
// exactly once, sums over links (grad_x, shared x1 / x2) are kept in registers.

#include "masked_diff.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>

namespace linkgan {
namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ float to_acc(float v) { return v; }
__device__ __forceinline__ double to_acc(double v) { return v; }
__device__ __forceinline__ float to_acc(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_acc(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename T> __device__ __forceinline__ T from_acc(float v);
template <> __device__ __forceinline__ float from_acc<float>(float v) { return v; }
template <> __device__ __forceinline__ __half from_acc<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 from_acc<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }
template <typename T> __device__ __forceinline__ T from_acc(double v);
template <> __device__ __forceinline__ double from_acc<double>(double v) { return v; }

__device__ __forceinline__ int64_t mask_row(const MaskedDiffGeometry& g, int64_t b, int64_t l) {
    return ((g.Bm == 1 ? 0 : b) * g.Lm + (g.Lm == 1 ? 0 : l)) * g.HW;
}
__device__ __forceinline__ int64_t image_row(const MaskedDiffGeometry& g, int64_t links, int64_t b, int64_t l, int64_t c) {
    return ((b * links + (links == 1 ? 0 : l)) * g.C + c) * g.HW;
}

template <typename acc_t> __device__ __forceinline__ acc_t warp_sum(acc_t v) {
    #pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
    return v;
}

//----------------------------------------------------------------------------

template <typename scalar_t, typename acc_t>
__global__ void __launch_bounds__(kThreads) masked_diff_fwd_kernel(
        MaskedDiffGeometry g, int64_t pixels_per_block, const scalar_t* __restrict__ x, const scalar_t* __restrict__ x1,
        const scalar_t* __restrict__ x2, const acc_t* __restrict__ mask, acc_t* __restrict__ partial) {
    __shared__ acc_t shared_sums[2][kThreads / 32];
    const int64_t b = blockIdx.y, block = blockIdx.x, blocks = gridDim.x;
    const int64_t p_begin = block * pixels_per_block;
    const int64_t p_end = min(g.HW, p_begin + pixels_per_block);
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    for (int64_t l = 0; l < g.L; l++) {
        const acc_t* m = mask + mask_row(g, b, l);
        acc_t a_in = 0, a_out = 0;
        for (int64_t c = 0; c < g.C; c++) {
            const scalar_t* xr = x + (b * g.C + c) * g.HW;
            const scalar_t* x1r = x1 + image_row(g, g.L1, b, l, c);
            const scalar_t* x2r = x2 + image_row(g, g.L2, b, l, c);
            #pragma unroll 4
            for (int64_t p = p_begin + threadIdx.x; p < p_end; p += kThreads) {
                const acc_t xv = to_acc(__ldg(xr + p)), mv = __ldg(m + p);
                const acc_t d1 = to_acc(__ldg(x1r + p)) - xv, d2 = to_acc(__ldg(x2r + p)) - xv;
                a_in += mv * d2 * d2;
                a_out += (acc_t(1) - mv) * d1 * d1;
            }
        }
        a_in = warp_sum(a_in);
        a_out = warp_sum(a_out);
        if (lane == 0) { shared_sums[0][warp] = a_in; shared_sums[1][warp] = a_out; }
        __syncthreads();
        if (warp == 0) {
            a_in = lane < kThreads / 32 ? shared_sums[0][lane] : acc_t(0);
            a_out = lane < kThreads / 32 ? shared_sums[1][lane] : acc_t(0);
            a_in = warp_sum(a_in);
            a_out = warp_sum(a_out);
            if (lane == 0) {
                partial[((b * blocks + block) * g.L + l) * 2 + 0] = a_in;
                partial[((b * blocks + block) * g.L + l) * 2 + 1] = a_out;
            }
        }
        __syncthreads();  // shared_sums is reused by the next link.
    }
}

template <typename acc_t>
__global__ void masked_diff_reduce_kernel(MaskedDiffGeometry g, int64_t blocks, const acc_t* __restrict__ partial,
                                          acc_t* __restrict__ out_in, acc_t* __restrict__ out_out) {
    const int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;  // i = b * L + l
    if (i >= g.B * g.L) return;
    const int64_t b = i / g.L, l = i % g.L;
    double s_in = 0, s_out = 0;
    for (int64_t k = 0; k < blocks; k++) {
        s_in += partial[((b * blocks + k) * g.L + l) * 2 + 0];
        s_out += partial[((b * blocks + k) * g.L + l) * 2 + 1];
    }
    out_in[i] = static_cast<acc_t>(s_in);
    out_out[i] = static_cast<acc_t>(s_out);
}

//----------------------------------------------------------------------------

template <typename scalar_t, typename acc_t>
__global__ void __launch_bounds__(kThreads) masked_diff_bwd_kernel(
        MaskedDiffGeometry g, const acc_t* __restrict__ grad_in, const acc_t* __restrict__ grad_out,
        const scalar_t* __restrict__ x, const scalar_t* __restrict__ x1, const scalar_t* __restrict__ x2,
        const acc_t* __restrict__ mask, scalar_t* __restrict__ gx, scalar_t* __restrict__ gx1, scalar_t* __restrict__ gx2) {
    const int64_t b = blockIdx.y;
    const bool sum1 = g.L1 == 1, sum2 = g.L2 == 1;  // Shared x1 / x2: gradient summed over links.
    for (int64_t p = blockIdx.x * (int64_t)kThreads + threadIdx.x; p < g.HW; p += (int64_t)gridDim.x * kThreads) {
        for (int64_t c = 0; c < g.C; c++) {
            const acc_t xv = to_acc(__ldg(x + (b * g.C + c) * g.HW + p));
            acc_t sx = 0, s1 = 0, s2 = 0;
            for (int64_t l = 0; l < g.L; l++) {
                const acc_t mv = __ldg(mask + mask_row(g, b, l) + p);
                const int64_t r1 = image_row(g, g.L1, b, l, c) + p, r2 = image_row(g, g.L2, b, l, c) + p;
                const acc_t a1 = 2 * __ldg(grad_out + b * g.L + l) * (acc_t(1) - mv) * (to_acc(__ldg(x1 + r1)) - xv);
                const acc_t a2 = 2 * __ldg(grad_in + b * g.L + l) * mv * (to_acc(__ldg(x2 + r2)) - xv);
                sx -= a1 + a2;
                if (gx1) { if (sum1) s1 += a1; else gx1[r1] = from_acc<scalar_t>(a1); }
                if (gx2) { if (sum2) s2 += a2; else gx2[r2] = from_acc<scalar_t>(a2); }
            }
            if (gx) gx[(b * g.C + c) * g.HW + p] = from_acc<scalar_t>(sx);
            if (gx1 && sum1) gx1[image_row(g, 1, b, 0, c) + p] = from_acc<scalar_t>(s1);
            if (gx2 && sum2) gx2[image_row(g, 1, b, 0, c) + p] = from_acc<scalar_t>(s2);
        }
    }
}

//----------------------------------------------------------------------------

// About two waves of 256-thread blocks over the whole GPU, split between the samples.
int64_t target_blocks_per_sample(const MaskedDiffGeometry& g, int device) {
    int sms = 0;
    if (cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess || sms <= 0) sms = 80;
    const int64_t per_sample = std::max<int64_t>(1, (int64_t)sms * 16 / std::max<int64_t>(1, g.B));
    return std::max<int64_t>(1, std::min<int64_t>(per_sample, (g.HW + kThreads - 1) / kThreads));
}

template <typename scalar_t, typename acc_t>
cudaError_t launch_fwd(const MaskedDiffGeometry& g, const void* x, const void* x1, const void* x2, const void* mask,
                       void* partial, int64_t blocks, void* out_in, void* out_out, cudaStream_t stream) {
    if (g.B == 0 || g.L == 0) return cudaSuccess;
    if (g.HW == 0 || g.C == 0) {
        cudaError_t e = cudaMemsetAsync(out_in, 0, sizeof(acc_t) * g.B * g.L, stream);
        return e != cudaSuccess ? e : cudaMemsetAsync(out_out, 0, sizeof(acc_t) * g.B * g.L, stream);
    }
    // Pixel ranges are whole multiples of the block size, so each block's loads stay aligned and coalesced.
    int64_t pixels = (g.HW + blocks - 1) / blocks;
    pixels = (pixels + kThreads - 1) / kThreads * kThreads;
    blocks = (g.HW + pixels - 1) / pixels;
    if (g.B > 65535) return cudaErrorInvalidConfiguration;
    masked_diff_fwd_kernel<scalar_t, acc_t><<<dim3((unsigned)blocks, (unsigned)g.B), kThreads, 0, stream>>>(
        g, pixels, static_cast<const scalar_t*>(x), static_cast<const scalar_t*>(x1), static_cast<const scalar_t*>(x2),
        static_cast<const acc_t*>(mask), static_cast<acc_t*>(partial));
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return e;
    const int64_t outputs = g.B * g.L;
    masked_diff_reduce_kernel<acc_t><<<(unsigned)((outputs + 127) / 128), 128, 0, stream>>>(
        g, blocks, static_cast<const acc_t*>(partial), static_cast<acc_t*>(out_in), static_cast<acc_t*>(out_out));
    return cudaGetLastError();
}

template <typename scalar_t, typename acc_t>
cudaError_t launch_bwd(const MaskedDiffGeometry& g, const void* grad_in, const void* grad_out, const void* x, const void* x1,
                       const void* x2, const void* mask, void* gx, void* gx1, void* gx2, cudaStream_t stream) {
    if (g.B == 0 || g.HW == 0 || g.C == 0) return cudaSuccess;
    if (g.B > 65535) return cudaErrorInvalidConfiguration;
    int device = 0;
    cudaGetDevice(&device);
    int sms = 0;
    if (cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess || sms <= 0) sms = 80;
    const int64_t needed = (g.HW + kThreads - 1) / kThreads;
    const int64_t blocks = std::max<int64_t>(1, std::min<int64_t>(needed, (int64_t)sms * 32 / std::max<int64_t>(1, g.B) + 1));
    masked_diff_bwd_kernel<scalar_t, acc_t><<<dim3((unsigned)blocks, (unsigned)g.B), kThreads, 0, stream>>>(
        g, static_cast<const acc_t*>(grad_in), static_cast<const acc_t*>(grad_out), static_cast<const scalar_t*>(x),
        static_cast<const scalar_t*>(x1), static_cast<const scalar_t*>(x2), static_cast<const acc_t*>(mask),
        static_cast<scalar_t*>(gx), static_cast<scalar_t*>(gx1), static_cast<scalar_t*>(gx2));
    return cudaGetLastError();
}

} // namespace

//----------------------------------------------------------------------------

int64_t masked_diff_fwd_cuda_blocks(const MaskedDiffGeometry& g, int device) {
    return target_blocks_per_sample(g, device);
}

cudaError_t masked_diff_fwd_cuda(const MaskedDiffGeometry& g, MaskedDiffDtype dtype, const void* x, const void* x1,
                                 const void* x2, const void* mask, void* partial, int64_t blocks,
                                 void* out_in, void* out_out, cudaStream_t stream) {
    switch (dtype) {
        case MaskedDiffDtype::kFloat32:  return launch_fwd<float, float>(g, x, x1, x2, mask, partial, blocks, out_in, out_out, stream);
        case MaskedDiffDtype::kFloat64:  return launch_fwd<double, double>(g, x, x1, x2, mask, partial, blocks, out_in, out_out, stream);
        case MaskedDiffDtype::kFloat16:  return launch_fwd<__half, float>(g, x, x1, x2, mask, partial, blocks, out_in, out_out, stream);
        case MaskedDiffDtype::kBFloat16: return launch_fwd<__nv_bfloat16, float>(g, x, x1, x2, mask, partial, blocks, out_in, out_out, stream);
    }
    return cudaErrorInvalidValue;
}

cudaError_t masked_diff_bwd_cuda(const MaskedDiffGeometry& g, MaskedDiffDtype dtype, const void* grad_in,
                                 const void* grad_out, const void* x, const void* x1, const void* x2,
                                 const void* mask, void* gx, void* gx1, void* gx2, cudaStream_t stream) {
    switch (dtype) {
        case MaskedDiffDtype::kFloat32:  return launch_bwd<float, float>(g, grad_in, grad_out, x, x1, x2, mask, gx, gx1, gx2, stream);
        case MaskedDiffDtype::kFloat64:  return launch_bwd<double, double>(g, grad_in, grad_out, x, x1, x2, mask, gx, gx1, gx2, stream);
        case MaskedDiffDtype::kFloat16:  return launch_bwd<__half, float>(g, grad_in, grad_out, x, x1, x2, mask, gx, gx1, gx2, stream);
        case MaskedDiffDtype::kBFloat16: return launch_bwd<__nv_bfloat16, float>(g, grad_in, grad_out, x, x1, x2, mask, gx, gx1, gx2, stream);
    }
    return cudaErrorInvalidValue;
}

} // namespace linkgan
