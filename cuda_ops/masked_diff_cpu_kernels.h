// CPU kernels of the masked-difference op: the loops only. masked_diff_cpu.cpp includes this file twice, inside
// namespace `generic` (baseline x86-64 / any CPU) and inside namespace `avx2` under
// `#pragma GCC target("avx2,fma")`, and picks one at run time: wide vectors without -march=native, so a
// shared build cache stays valid on any CPU. No #includes here (they would land inside those namespaces);
// needs MaskedDiffArgs (masked_diff_args.h), num_chunks, num_threads_for, rows_of and mask_row from
// masked_diff_cpu.cpp.

//----------------------------------------------------------------------------
// Forward: one read of x, x1, x2 and the masks. A work item is (sample, chunk of kPixelTile pixels); it writes its
// own partial sums, reduced afterwards in chunk order. Inside a chunk the terms go into kLanes running sums, lane
// k taking pixels k, k + kLanes, ..., combined by a fixed tree: the order is written out here, not left to the
// compiler's vectoriser (whose peeling could follow the data's alignment). So a sample's sums depend only on its
// own values and its height * width: not on the batch, the thread count, nor which thread ran which item (items
// are handed out dynamically, robust when other processes share the cores).

constexpr int kLanes = 16;

template <typename scalar_t, typename acc_t>
void chunk_sums(int64_t n, const scalar_t* __restrict__ xr, const scalar_t* __restrict__ x1r, const scalar_t* __restrict__ x2r,
                const acc_t* __restrict__ mi, const acc_t* __restrict__ mo, acc_t& sum_in, acc_t& sum_out) {
    acc_t lane_in[kLanes] = {}, lane_out[kLanes] = {};
    int64_t i = 0;
    for (; i + kLanes <= n; i += kLanes) {
        #pragma omp simd
        for (int k = 0; k < kLanes; k++) {
            const acc_t xv = static_cast<acc_t>(xr[i + k]);
            const acc_t d1 = static_cast<acc_t>(x1r[i + k]) - xv, d2 = static_cast<acc_t>(x2r[i + k]) - xv;
            lane_in[k] += mi[i + k] * d2 * d2;
            lane_out[k] += (acc_t(1) - mo[i + k]) * d1 * d1;
        }
    }
    for (int k = 0; i + k < n; k++) {
        const acc_t xv = static_cast<acc_t>(xr[i + k]);
        const acc_t d1 = static_cast<acc_t>(x1r[i + k]) - xv, d2 = static_cast<acc_t>(x2r[i + k]) - xv;
        lane_in[k] += mi[i + k] * d2 * d2;
        lane_out[k] += (acc_t(1) - mo[i + k]) * d1 * d1;
    }
    for (int width = kLanes / 2; width > 0; width /= 2)
        for (int k = 0; k < width; k++) {
            lane_in[k] += lane_in[k + width];
            lane_out[k] += lane_out[k + width];
        }
    sum_in = lane_in[0];
    sum_out = lane_out[0];
}

template <typename scalar_t, typename acc_t>
void forward_kernel(const MaskedDiffArgs& a, acc_t* out_in, acc_t* out_out) {
    const int64_t chunks = num_chunks(a), items = a.B * chunks;
    std::vector<double> partial(std::max<int64_t>(1, items * a.L * 2));
    #pragma omp parallel for schedule(dynamic, 1) num_threads(num_threads_for(a))
    for (int64_t item = 0; item < items; item++) {
        const int64_t b = item / chunks, p0 = (item % chunks) * kPixelTile;
        const int64_t n = std::min(kPixelTile, a.HW - p0);
        for (int64_t l = 0; l < a.L; l++) {
            const acc_t* mi = mask_row<acc_t>(a.mask_in, b, l) + p0;
            const acc_t* mo = mask_row<acc_t>(a.mask_out, b, l) + p0;
            double sum_in = 0, sum_out = 0;
            for (int64_t c = 0; c < a.C; c++) {
                acc_t s_in, s_out;
                chunk_sums<scalar_t, acc_t>(n, rows_of<scalar_t>(a.x, b * a.x_stride, c, a.HW) + p0,
                                            rows_of<scalar_t>(a.x1[l], b * a.x1_stride[l], c, a.HW) + p0,
                                            rows_of<scalar_t>(a.x2[l], b * a.x2_stride[l], c, a.HW) + p0, mi, mo, s_in, s_out);
                sum_in += s_in;
                sum_out += s_out;
            }
            partial[(item * a.L + l) * 2 + 0] = sum_in;
            partial[(item * a.L + l) * 2 + 1] = sum_out;
        }
    }
    for (int64_t b = 0; b < a.B; b++)
        for (int64_t l = 0; l < a.L; l++) {
            double s_in = 0, s_out = 0;
            for (int64_t k = 0; k < chunks; k++) {
                s_in += partial[((b * chunks + k) * a.L + l) * 2 + 0];
                s_out += partial[((b * chunks + k) * a.L + l) * 2 + 1];
            }
            out_in[b * a.L + l] = static_cast<acc_t>(s_in);
            out_out[b * a.L + l] = static_cast<acc_t>(s_out);
        }
}

//----------------------------------------------------------------------------
// Backward: with g_in = dLoss/dL_in[b, l], g_out = dLoss/dL_out[b, l],
//   grad_x2[b, l] = 2 g_in  *      M_in    * (x2 - x)
//   grad_x1[b, l] = 2 g_out * (1 - M_out)  * (x1 - x)
//   grad_x[b]     = -sum_l (grad_x1[b, l] + grad_x2[b, l])
// (a shared x1 / x2 gets the sum over links; an absent g_in / g_out drops its terms, and x2 / x1 is not read).
// Every output element is written exactly once, by the thread that owns its chunk: no zero-fill, no second pass
// over memory, and the pages of the fresh outputs are first touched by the worker threads. Sums over links go
// through per-thread chunk buffers in the accumulation dtype (an fp16 running sum would lose bits); the buffers
// stay in L1/L2. Element-wise, in link order: the batch and the thread count cannot change a gradient's bits.

// One (channel, link) row. kIn / kOut: this pass has the L_in / L_out terms. kWrite1 / kWrite2: store the link's
// grad_x1 / grad_x2 straight to memory; otherwise add it into b1 / b2 (shared x1 / x2, or a gradient nobody asked
// for, whose buffer is then dropped). On the first link the buffers start from zero. Branch-free (selects), so
// the compiler vectorises it. kWriteX (single link only): store grad_x straight to memory through `gxr`.
template <typename scalar_t, typename acc_t, bool kIn, bool kOut, bool kWrite1, bool kWrite2, bool kWriteX>
void backward_row(int64_t n, bool first, acc_t s_in, acc_t s_out, const scalar_t* __restrict__ xr,
                  const acc_t* __restrict__ mi, const acc_t* __restrict__ mo, const scalar_t* __restrict__ x1r,
                  const scalar_t* __restrict__ x2r, acc_t* __restrict__ bx, acc_t* __restrict__ b1, acc_t* __restrict__ b2,
                  scalar_t* __restrict__ gxr, scalar_t* __restrict__ g1r, scalar_t* __restrict__ g2r) {
    #pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        const acc_t xv = static_cast<acc_t>(xr[i]);
        const acc_t a1 = kOut ? s_out * (acc_t(1) - mo[i]) * (static_cast<acc_t>(x1r[i]) - xv) : acc_t(0);
        const acc_t a2 = kIn ? s_in * mi[i] * (static_cast<acc_t>(x2r[i]) - xv) : acc_t(0);
        if constexpr (kWriteX) gxr[i] = static_cast<scalar_t>(-(a1 + a2));
        else bx[i] = (first ? acc_t(0) : bx[i]) - (a1 + a2);
        if constexpr (kOut) {
            if constexpr (kWrite1) g1r[i] = static_cast<scalar_t>(a1);
            else b1[i] = (first ? acc_t(0) : b1[i]) + a1;
        }
        if constexpr (kIn) {
            if constexpr (kWrite2) g2r[i] = static_cast<scalar_t>(a2);
            else b2[i] = (first ? acc_t(0) : b2[i]) + a2;
        }
    }
}

template <typename scalar_t, typename acc_t>
using BackwardRow = void (*)(int64_t, bool, acc_t, acc_t, const scalar_t*, const acc_t*, const acc_t*, const scalar_t*,
                             const scalar_t*, acc_t*, acc_t*, acc_t*, scalar_t*, scalar_t*, scalar_t*);

// backward_row for the flags packed in bits 0-4 of I: kIn, kOut, kWrite1, kWrite2, kWriteX.
template <typename scalar_t, typename acc_t, size_t... I>
constexpr std::array<BackwardRow<scalar_t, acc_t>, sizeof...(I)> backward_rows(std::index_sequence<I...>) {
    return {&backward_row<scalar_t, acc_t, bool(I & 1), bool(I & 2), bool(I & 4), bool(I & 8), bool(I & 16)>...};
}

template <typename scalar_t, typename acc_t>
void backward_kernel(const MaskedDiffArgs& a) {
    const acc_t* grad_in = static_cast<const acc_t*>(a.grad_in);
    const acc_t* grad_out = static_cast<const acc_t*>(a.grad_out);
    scalar_t* gx = static_cast<scalar_t*>(a.gx);
    const bool in = grad_in != nullptr, out = grad_out != nullptr;
    const bool write1 = a.gx1[0] && !a.shared1, write2 = a.gx2[0] && !a.shared2;
    const bool write_x = gx && a.L == 1;  // Single link: grad_x needs no buffer.
    static constexpr auto rows = backward_rows<scalar_t, acc_t>(std::make_index_sequence<32>());
    const BackwardRow<scalar_t, acc_t> row = rows[in | out << 1 | write1 << 2 | write2 << 3 | write_x << 4];
    const int64_t chunks = num_chunks(a), items = a.B * chunks;
    #pragma omp parallel num_threads(num_threads_for(a))
    {
        std::vector<acc_t> buf(3 * kPixelTile);
        acc_t* bx = buf.data();
        acc_t* b1 = bx + kPixelTile;
        acc_t* b2 = b1 + kPixelTile;
        #pragma omp for schedule(dynamic, 1)
        for (int64_t item = 0; item < items; item++) {
            const int64_t b = item / chunks, p0 = (item % chunks) * kPixelTile;
            const int64_t n = std::min(kPixelTile, a.HW - p0);
            for (int64_t c = 0; c < a.C; c++) {
                const int64_t gx_row = (b * a.C + c) * a.HW + p0;   // gx is contiguous.
                for (int64_t l = 0; l < a.L; l++) {
                    scalar_t* g1 = write1 ? static_cast<scalar_t*>(a.gx1[l]) + b * a.gx1_stride[l] + c * a.HW + p0 : nullptr;
                    scalar_t* g2 = write2 ? static_cast<scalar_t*>(a.gx2[l]) + b * a.gx2_stride[l] + c * a.HW + p0 : nullptr;
                    row(n, l == 0, in ? 2 * grad_in[b * a.L + l] : acc_t(0), out ? 2 * grad_out[b * a.L + l] : acc_t(0),
                        rows_of<scalar_t>(a.x, b * a.x_stride, c, a.HW) + p0, mask_row<acc_t>(a.mask_in, b, l) + p0,
                        mask_row<acc_t>(a.mask_out, b, l) + p0, rows_of<scalar_t>(a.x1[l], b * a.x1_stride[l], c, a.HW) + p0,
                        rows_of<scalar_t>(a.x2[l], b * a.x2_stride[l], c, a.HW) + p0, bx, b1, b2,
                        write_x ? gx + gx_row : nullptr, g1, g2);
                }
                // Outputs summed over links, leaving the buffers.
                const std::pair<scalar_t*, const acc_t*> sums[3] = {
                    {gx && !write_x ? gx + gx_row : nullptr, bx},
                    {out && a.gx1[0] && a.shared1 ? static_cast<scalar_t*>(a.gx1[0]) + b * a.gx1_stride[0] + c * a.HW + p0 : nullptr, b1},
                    {in && a.gx2[0] && a.shared2 ? static_cast<scalar_t*>(a.gx2[0]) + b * a.gx2_stride[0] + c * a.HW + p0 : nullptr, b2}};
                for (const auto& [to, from] : sums) {
                    if (!to) continue;
                    scalar_t* __restrict__ o = to;
                    #pragma omp simd
                    for (int64_t i = 0; i < n; i++) o[i] = static_cast<scalar_t>(from[i]);
                }
            }
        }
    }
}

//----------------------------------------------------------------------------
