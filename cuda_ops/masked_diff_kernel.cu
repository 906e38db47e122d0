// Fused masked-difference op, CUDA kernels (raw pointers; the torch binding is masked_diff_cuda.cpp).
//
// Per sample b and link l (see linkgan_plugin/ops/reference.py, the test oracle):
//   L_in [b, l] = sum_{c,p}          M_in[b, l, p]  * (x2[b, l, c, p] - x[b, c, p])^2
//   L_out[b, l] = sum_{c,p} (1 - M_out[b, l, p])    * (x1[b, l, c, p] - x[b, c, p])^2
// fp32 and fp64 images accumulate in their own precision; fp16 / bf16 images accumulate in fp32. Operand layouts:
// masked_diff_args.h (every operand read in place through per-link pointers and batch strides).
//
// Forward: grid (ceil(HW / kPixelTile), samples). A block owns one fixed tile of kPixelTile pixels of one sample,
// whatever the batch and the GPU: thread t takes pixels tile + (s * kThreads + t) * 4 + [0, 4) at steps s < kSteps,
// and for each loads x once per channel and keeps up to kGroup links' sums in registers (x is read from memory
// once per kGroup links; the masks, re-read per channel, hit L1). Per-thread sums in (step, channel, pixel) order,
// a fixed shuffle tree per warp, the warps in order, one partial per (sample, tile, link, output); a second tiny
// kernel adds a sample's tiles in order, in fp64. So a sample's L_in / L_out depend only on its values and H * W:
// bit for bit the same alone as in any batch, on any GPU model (deterministic, no atomics).
// Backward: one thread per (sample, 4 pixels), looping over channels and links; every gradient element is written
// exactly once; sums over links (grad_x, shared x1 / x2) in registers, in link order. An absent grad_in /
// grad_out drops its terms and x2 / x1 is not read.
// Loads and stores: 16 bytes (fp32, masks) or 8 bytes (fp16 / bf16, four values) per access when every row of
// every operand is aligned to that (the host checks: pointers, strides and H * W); else element by element, with
// the same arithmetic in the same order (so the bits do not depend on alignment either). fp64: element loads.

#include "masked_diff.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

namespace linkgan {
namespace {

constexpr int kThreads = 256;
constexpr int kVec = 4;             // Consecutive pixels per thread access.
constexpr int kGroup = 8;           // Links one forward launch keeps in registers.
constexpr int kSteps = int(kPixelTile / (kThreads * kVec));
constexpr int64_t kMaxGridY = 65535;
// Forward blocks resident per SM the register budget must allow: the vector kernels (the training case: aligned
// rows) at most 64 registers a thread, 50% occupancy (unbounded, ptxas takes ~90 for fp32: 25%); the element-wise
// fallbacks and fp64 (gradcheck) 128, as they spill below ~90. None spills (tests/test_ops_cuda_source.py reads
// ptxas's report).
template <typename T, bool kVecIo> constexpr int kFwdMinBlocks = (sizeof(T) == 8 || !kVecIo) ? 2 : 4;
static_assert(kPixelTile % (kThreads * kVec) == 0, "a tile is a whole number of block steps");

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

//----------------------------------------------------------------------------
// Four consecutive values in one access (callers guarantee the alignment).

template <typename T> struct Vec4;
template <> struct Vec4<float> {
    static __device__ __forceinline__ void load(const float* p, float v[4]) {
        const float4 q = __ldg(reinterpret_cast<const float4*>(p));
        v[0] = q.x; v[1] = q.y; v[2] = q.z; v[3] = q.w;
    }
    static __device__ __forceinline__ void store(float* p, const float v[4]) {
        *reinterpret_cast<float4*>(p) = make_float4(v[0], v[1], v[2], v[3]);
    }
};
template <> struct Vec4<__half> {
    static __device__ __forceinline__ float at(unsigned word, int half) {
        return __half2float(__ushort_as_half(static_cast<unsigned short>(half ? word >> 16 : word & 0xFFFFu)));
    }
    static __device__ __forceinline__ unsigned bits(float v) { return __half_as_ushort(__float2half_rn(v)); }
    static __device__ __forceinline__ void load(const __half* p, float v[4]) {
        const uint2 q = __ldg(reinterpret_cast<const uint2*>(p));
        v[0] = at(q.x, 0); v[1] = at(q.x, 1); v[2] = at(q.y, 0); v[3] = at(q.y, 1);
    }
    static __device__ __forceinline__ void store(__half* p, const float v[4]) {
        *reinterpret_cast<uint2*>(p) = make_uint2(bits(v[0]) | bits(v[1]) << 16, bits(v[2]) | bits(v[3]) << 16);
    }
};
template <> struct Vec4<__nv_bfloat16> {
    // bf16 is the top half of an fp32: widening is exact.
    static __device__ __forceinline__ void load(const __nv_bfloat16* p, float v[4]) {
        const uint2 q = __ldg(reinterpret_cast<const uint2*>(p));
        v[0] = __uint_as_float(q.x << 16); v[1] = __uint_as_float(q.x & 0xFFFF0000u);
        v[2] = __uint_as_float(q.y << 16); v[3] = __uint_as_float(q.y & 0xFFFF0000u);
    }
    static __device__ __forceinline__ unsigned bits(float v) { return __bfloat16_as_ushort(__float2bfloat16_rn(v)); }
    static __device__ __forceinline__ void store(__nv_bfloat16* p, const float v[4]) {
        *reinterpret_cast<uint2*>(p) = make_uint2(bits(v[0]) | bits(v[1]) << 16, bits(v[2]) | bits(v[3]) << 16);
    }
};

// n (1..4) values at p, zeros after them; kVecIo: one access (then n == 4).
template <bool kVecIo, typename T, typename acc_t>
__device__ __forceinline__ void load4(const T* p, int n, acc_t v[4]) {
    if constexpr (kVecIo) {
        Vec4<T>::load(p, v);
    } else {
        #pragma unroll
        for (int k = 0; k < kVec; k++) v[k] = k < n ? to_acc(__ldg(p + k)) : acc_t(0);
    }
}

template <bool kVecIo, typename T, typename acc_t>
__device__ __forceinline__ void store4(T* p, int n, const acc_t v[4]) {
    if constexpr (kVecIo) {
        Vec4<T>::store(p, v);
    } else {
        #pragma unroll
        for (int k = 0; k < kVec; k++)
            if (k < n) p[k] = from_acc<T>(v[k]);
    }
}

template <typename T>
__device__ __forceinline__ const T* row(const void* base, int64_t batch_stride, int64_t b, int64_t c, int64_t HW) {
    return static_cast<const T*>(base) + b * batch_stride + c * HW;
}
template <typename T>
__device__ __forceinline__ T* row(void* base, int64_t batch_stride, int64_t b, int64_t c, int64_t HW) {
    return static_cast<T*>(base) + b * batch_stride + c * HW;
}
template <typename T>
__device__ __forceinline__ const T* mask_row(const MaskRows& m, int64_t b, int64_t l) {
    return static_cast<const T*>(m.base) + b * m.batch_stride + l * m.link_stride;
}

template <typename acc_t> __device__ __forceinline__ acc_t warp_sum(acc_t v) {
    #pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
    return v;
}

//----------------------------------------------------------------------------

// Links [l0, l0 + kGroup) of samples b0 + blockIdx.y, tile blockIdx.x: partial[((b * tiles + tile) * L + l) * 2 + k].
template <typename scalar_t, typename acc_t, bool kVecIo>
__global__ void __launch_bounds__(kThreads, (kFwdMinBlocks<scalar_t, kVecIo>)) masked_diff_fwd_kernel(const __grid_constant__ MaskedDiffArgs a, int64_t b0,
                                                                   int l0, acc_t* __restrict__ partial) {
    const int64_t b = b0 + blockIdx.y, tile = blockIdx.x, tiles = gridDim.x;
    const int nl = static_cast<int>(min(static_cast<int64_t>(kGroup), a.L - l0));
    acc_t s_in[kGroup], s_out[kGroup];
    #pragma unroll
    for (int j = 0; j < kGroup; j++) s_in[j] = s_out[j] = acc_t(0);
    #pragma unroll 1
    for (int step = 0; step < kSteps; step++) {
        const int64_t p = tile * kPixelTile + (static_cast<int64_t>(step) * kThreads + threadIdx.x) * kVec;
        if (p >= a.HW) break;
        const int n = static_cast<int>(min(static_cast<int64_t>(kVec), a.HW - p));
        #pragma unroll 1
        for (int64_t c = 0; c < a.C; c++) {
            acc_t xv[kVec];
            load4<kVecIo>(row<scalar_t>(a.x, a.x_stride, b, c, a.HW) + p, n, xv);
            #pragma unroll
            for (int j = 0; j < kGroup; j++) {
                if (j < nl) {
                    const int l = l0 + j;
                    acc_t mi[kVec], mo[kVec], v1[kVec], v2[kVec];
                    load4<kVecIo>(mask_row<acc_t>(a.mask_in, b, l) + p, n, mi);
                    load4<kVecIo>(mask_row<acc_t>(a.mask_out, b, l) + p, n, mo);
                    load4<kVecIo>(row<scalar_t>(a.x1[l], a.x1_stride[l], b, c, a.HW) + p, n, v1);
                    load4<kVecIo>(row<scalar_t>(a.x2[l], a.x2_stride[l], b, c, a.HW) + p, n, v2);
                    #pragma unroll
                    for (int k = 0; k < kVec; k++) {
                        const acc_t d1 = v1[k] - xv[k], d2 = v2[k] - xv[k];
                        s_in[j] += mi[k] * d2 * d2;
                        s_out[j] += (acc_t(1) - mo[k]) * d1 * d1;
                    }
                }
            }
        }
    }
    __shared__ acc_t sums[kGroup][2][kThreads / 32];
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    #pragma unroll
    for (int j = 0; j < kGroup; j++) {
        const acc_t vi = warp_sum(s_in[j]), vo = warp_sum(s_out[j]);
        if (lane == 0) { sums[j][0][warp] = vi; sums[j][1][warp] = vo; }
    }
    __syncthreads();
    if (threadIdx.x < 2 * nl) {
        const int j = threadIdx.x / 2, k = threadIdx.x % 2;
        acc_t s = 0;
        #pragma unroll
        for (int w = 0; w < kThreads / 32; w++) s += sums[j][k][w];
        partial[((b * tiles + tile) * a.L + l0 + j) * 2 + k] = s;
    }
}

template <typename acc_t>
__global__ void masked_diff_reduce_kernel(int64_t outputs, int64_t L, int64_t tiles, const acc_t* __restrict__ partial,
                                          acc_t* __restrict__ out_in, acc_t* __restrict__ out_out) {
    const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;  // i = b * L + l
    if (i >= outputs) return;
    const int64_t b = i / L, l = i % L;
    double s_in = 0, s_out = 0;
    for (int64_t k = 0; k < tiles; k++) {
        s_in += partial[((b * tiles + k) * L + l) * 2 + 0];
        s_out += partial[((b * tiles + k) * L + l) * 2 + 1];
    }
    out_in[i] = static_cast<acc_t>(s_in);
    out_out[i] = static_cast<acc_t>(s_out);
}

//----------------------------------------------------------------------------

template <typename scalar_t, typename acc_t, bool kVecIo>
__global__ void __launch_bounds__(kThreads) masked_diff_bwd_kernel(const __grid_constant__ MaskedDiffArgs a, int64_t b0) {
    const int64_t b = b0 + blockIdx.y;
    const int64_t p = (static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x) * kVec;
    if (p >= a.HW) return;
    const int n = static_cast<int>(min(static_cast<int64_t>(kVec), a.HW - p));
    const acc_t* grad_in = static_cast<const acc_t*>(a.grad_in);
    const acc_t* grad_out = static_cast<const acc_t*>(a.grad_out);
    const bool write1 = a.gx1[0] && !a.shared1, write2 = a.gx2[0] && !a.shared2;
    const bool sum1 = a.gx1[0] && a.shared1, sum2 = a.gx2[0] && a.shared2;
    #pragma unroll 1
    for (int64_t c = 0; c < a.C; c++) {
        acc_t xv[kVec], sx[kVec], s1[kVec], s2[kVec];
        load4<kVecIo>(row<scalar_t>(a.x, a.x_stride, b, c, a.HW) + p, n, xv);
        #pragma unroll
        for (int k = 0; k < kVec; k++) sx[k] = s1[k] = s2[k] = acc_t(0);
        #pragma unroll 1
        for (int64_t l = 0; l < a.L; l++) {
            acc_t a1[kVec], a2[kVec], m[kVec], v[kVec];
            #pragma unroll
            for (int k = 0; k < kVec; k++) a1[k] = a2[k] = acc_t(0);
            if (grad_out) {
                const acc_t g = 2 * __ldg(grad_out + b * a.L + l);
                load4<kVecIo>(mask_row<acc_t>(a.mask_out, b, l) + p, n, m);
                load4<kVecIo>(row<scalar_t>(a.x1[l], a.x1_stride[l], b, c, a.HW) + p, n, v);
                #pragma unroll
                for (int k = 0; k < kVec; k++) a1[k] = g * (acc_t(1) - m[k]) * (v[k] - xv[k]);
            }
            if (grad_in) {
                const acc_t g = 2 * __ldg(grad_in + b * a.L + l);
                load4<kVecIo>(mask_row<acc_t>(a.mask_in, b, l) + p, n, m);
                load4<kVecIo>(row<scalar_t>(a.x2[l], a.x2_stride[l], b, c, a.HW) + p, n, v);
                #pragma unroll
                for (int k = 0; k < kVec; k++) a2[k] = g * m[k] * (v[k] - xv[k]);
            }
            #pragma unroll
            for (int k = 0; k < kVec; k++) {
                sx[k] -= a1[k] + a2[k];
                s1[k] += a1[k];
                s2[k] += a2[k];
            }
            if (write1) store4<kVecIo>(row<scalar_t>(a.gx1[l], a.gx1_stride[l], b, c, a.HW) + p, n, a1);
            if (write2) store4<kVecIo>(row<scalar_t>(a.gx2[l], a.gx2_stride[l], b, c, a.HW) + p, n, a2);
        }
        if (a.gx) store4<kVecIo>(row<scalar_t>(a.gx, a.C * a.HW, b, c, a.HW) + p, n, sx);
        if (sum1) store4<kVecIo>(row<scalar_t>(a.gx1[0], a.gx1_stride[0], b, c, a.HW) + p, n, s1);
        if (sum2) store4<kVecIo>(row<scalar_t>(a.gx2[0], a.gx2_stride[0], b, c, a.HW) + p, n, s2);
    }
}

//----------------------------------------------------------------------------
// Host side.

// Whether every row of the operands is aligned for one access of four values (vector loads and stores).
bool aligned(const void* p, int64_t stride, int64_t bytes) {
    return reinterpret_cast<uintptr_t>(p) % (kVec * bytes) == 0 && stride % kVec == 0;
}

// Image dtypes with four-value accesses (fp64 has none: element loads).
template <typename T> constexpr bool kHasVec4 = !std::is_same<T, double>::value;

template <typename scalar_t, typename acc_t>
bool vector_io(const MaskedDiffArgs& a, bool backward) {
    if (!kHasVec4<scalar_t> || a.HW % kVec != 0) return false;
    const int64_t e = sizeof(scalar_t), m = sizeof(acc_t);
    bool ok = aligned(a.x, a.x_stride, e) && aligned(a.mask_in.base, a.mask_in.batch_stride, m) &&
              aligned(a.mask_out.base, a.mask_out.batch_stride, m) && a.mask_in.link_stride % kVec == 0 &&
              a.mask_out.link_stride % kVec == 0;
    for (int64_t l = 0; l < a.L; l++) {
        ok = ok && aligned(a.x1[l], a.x1_stride[l], e) && aligned(a.x2[l], a.x2_stride[l], e);
        if (backward) {
            ok = ok && (!a.gx1[l] || aligned(a.gx1[l], a.gx1_stride[l], e)) && (!a.gx2[l] || aligned(a.gx2[l], a.gx2_stride[l], e));
        }
    }
    return ok && (!backward || !a.gx || aligned(a.gx, a.C * a.HW, e));
}

int64_t tiles_of(const MaskedDiffArgs& a) { return (a.HW + kPixelTile - 1) / kPixelTile; }

template <typename scalar_t, typename acc_t>
cudaError_t launch_fwd(const MaskedDiffArgs& a, void* partial, void* out_in, void* out_out, cudaStream_t stream) {
    if (a.B == 0 || a.L == 0) return cudaSuccess;
    if (a.HW == 0 || a.C == 0) {
        cudaError_t e = cudaMemsetAsync(out_in, 0, sizeof(acc_t) * a.B * a.L, stream);
        return e != cudaSuccess ? e : cudaMemsetAsync(out_out, 0, sizeof(acc_t) * a.B * a.L, stream);
    }
    const int64_t tiles = tiles_of(a);
    const bool vec = vector_io<scalar_t, acc_t>(a, false);
    auto* scratch = static_cast<acc_t*>(partial);
    for (int64_t b0 = 0; b0 < a.B; b0 += kMaxGridY) {
        const dim3 grid(static_cast<unsigned>(tiles), static_cast<unsigned>(std::min(kMaxGridY, a.B - b0)));
        for (int l0 = 0; l0 < a.L; l0 += kGroup) {
            if constexpr (kHasVec4<scalar_t>) {
                if (vec) masked_diff_fwd_kernel<scalar_t, acc_t, true><<<grid, kThreads, 0, stream>>>(a, b0, l0, scratch);
            }
            if (!vec) masked_diff_fwd_kernel<scalar_t, acc_t, false><<<grid, kThreads, 0, stream>>>(a, b0, l0, scratch);
            const cudaError_t e = cudaGetLastError();
            if (e != cudaSuccess) return e;
        }
    }
    const int64_t outputs = a.B * a.L;
    masked_diff_reduce_kernel<acc_t><<<static_cast<unsigned>((outputs + 127) / 128), 128, 0, stream>>>(
        outputs, a.L, tiles, scratch, static_cast<acc_t*>(out_in), static_cast<acc_t*>(out_out));
    return cudaGetLastError();
}

template <typename scalar_t, typename acc_t>
cudaError_t launch_bwd(const MaskedDiffArgs& a, cudaStream_t stream) {
    if (a.B == 0 || a.HW == 0 || a.C == 0 || (!a.grad_in && !a.grad_out)) return cudaSuccess;
    const bool vec = vector_io<scalar_t, acc_t>(a, true);
    const int64_t blocks = (a.HW + kThreads * kVec - 1) / (kThreads * kVec);
    for (int64_t b0 = 0; b0 < a.B; b0 += kMaxGridY) {
        const dim3 grid(static_cast<unsigned>(blocks), static_cast<unsigned>(std::min(kMaxGridY, a.B - b0)));
        if constexpr (kHasVec4<scalar_t>) {
            if (vec) masked_diff_bwd_kernel<scalar_t, acc_t, true><<<grid, kThreads, 0, stream>>>(a, b0);
        }
        if (!vec) masked_diff_bwd_kernel<scalar_t, acc_t, false><<<grid, kThreads, 0, stream>>>(a, b0);
        const cudaError_t e = cudaGetLastError();
        if (e != cudaSuccess) return e;
    }
    return cudaSuccess;
}

} // namespace

//----------------------------------------------------------------------------

int64_t masked_diff_fwd_partial_elements(const MaskedDiffArgs& a) { return a.B * tiles_of(a) * a.L * 2; }

cudaError_t masked_diff_fwd_cuda(const MaskedDiffArgs& a, MaskedDiffDtype dtype, void* partial, void* out_in,
                                 void* out_out, cudaStream_t stream) {
    switch (dtype) {
        case MaskedDiffDtype::kFloat32:  return launch_fwd<float, float>(a, partial, out_in, out_out, stream);
        case MaskedDiffDtype::kFloat64:  return launch_fwd<double, double>(a, partial, out_in, out_out, stream);
        case MaskedDiffDtype::kFloat16:  return launch_fwd<__half, float>(a, partial, out_in, out_out, stream);
        case MaskedDiffDtype::kBFloat16: return launch_fwd<__nv_bfloat16, float>(a, partial, out_in, out_out, stream);
    }
    return cudaErrorInvalidValue;
}

cudaError_t masked_diff_bwd_cuda(const MaskedDiffArgs& a, MaskedDiffDtype dtype, cudaStream_t stream) {
    switch (dtype) {
        case MaskedDiffDtype::kFloat32:  return launch_bwd<float, float>(a, stream);
        case MaskedDiffDtype::kFloat64:  return launch_bwd<double, double>(a, stream);
        case MaskedDiffDtype::kFloat16:  return launch_bwd<__half, float>(a, stream);
        case MaskedDiffDtype::kBFloat16: return launch_bwd<__nv_bfloat16, float>(a, stream);
    }
    return cudaErrorInvalidValue;
}

} // namespace linkgan
