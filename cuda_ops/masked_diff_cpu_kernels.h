// CPU kernels of the masked-difference op: the loops only. masked_diff_cpu.cpp includes this file twice, inside
// namespace `generic` (baseline x86-64 / any CPU) and inside namespace `avx2` under
// `#pragma GCC target("avx2,fma")`, and picks one at run time: wide vectors without -march=native, so a
// shared build cache stays valid on any CPU. No #includes here (they would land inside those namespaces);
// needs Geometry, mask_row, image_row and num_threads_for from masked_diff_cpu.cpp.

//----------------------------------------------------------------------------
// Forward: one read of x, x1, x2, mask. Each work item (sample, pixel chunk) writes its own partial sums,
// reduced afterwards in a fixed order: the result depends neither on the thread count nor on which thread
// ran which item, so items are handed out dynamically (robust when other processes share the cores).

template <typename scalar_t, typename acc_t>
void forward_kernel(const Geometry& g, const scalar_t* x, const scalar_t* x1, const scalar_t* x2, const acc_t* mask,
                    acc_t* out_in, acc_t* out_out) {
    const int64_t items = g.B * g.nchunks;
    std::vector<double> partial(std::max<int64_t>(1, items * g.L * 2));
    #pragma omp parallel for schedule(dynamic, 1) num_threads(num_threads_for(g))
    for (int64_t item = 0; item < items; item++) {
        const int64_t b = item / g.nchunks, p0 = (item % g.nchunks) * g.chunk;
        const int64_t n = std::min(g.chunk, g.HW - p0);
        for (int64_t l = 0; l < g.L; l++) {
            const acc_t* __restrict__ m = mask + mask_row(g, b, l) + p0;
            double sum_in = 0, sum_out = 0;
            for (int64_t c = 0; c < g.C; c++) {
                const scalar_t* __restrict__ xr = x + (b * g.C + c) * g.HW + p0;
                const scalar_t* __restrict__ x1r = x1 + image_row(g, g.L1, b, l, c) + p0;
                const scalar_t* __restrict__ x2r = x2 + image_row(g, g.L2, b, l, c) + p0;
                acc_t a_in = 0, a_out = 0;
                #pragma omp simd reduction(+:a_in, a_out)
                for (int64_t i = 0; i < n; i++) {
                    const acc_t xv = static_cast<acc_t>(xr[i]), mv = m[i];
                    const acc_t d1 = static_cast<acc_t>(x1r[i]) - xv, d2 = static_cast<acc_t>(x2r[i]) - xv;
                    a_in += mv * d2 * d2;
                    a_out += (acc_t(1) - mv) * d1 * d1;
                }
                sum_in += a_in; sum_out += a_out;
            }
            partial[(item * g.L + l) * 2 + 0] = sum_in;
            partial[(item * g.L + l) * 2 + 1] = sum_out;
        }
    }
    for (int64_t b = 0; b < g.B; b++)
        for (int64_t l = 0; l < g.L; l++) {
            double s_in = 0, s_out = 0;
            for (int64_t k = 0; k < g.nchunks; k++) {
                s_in += partial[((b * g.nchunks + k) * g.L + l) * 2 + 0];
                s_out += partial[((b * g.nchunks + k) * g.L + l) * 2 + 1];
            }
            out_in[b * g.L + l] = static_cast<acc_t>(s_in);
            out_out[b * g.L + l] = static_cast<acc_t>(s_out);
        }
}

//----------------------------------------------------------------------------
// Backward: with g_in = dLoss/dL_in[b, l], g_out = dLoss/dL_out[b, l],
//   grad_x2[b, l] = 2 g_in  *      M   * (x2 - x)
//   grad_x1[b, l] = 2 g_out * (1 - M)  * (x1 - x)
//   grad_x[b]     = -sum_l (grad_x1[b, l] + grad_x2[b, l])
// (a shared x1 / x2 gets the sum over links). Every output element is written exactly once, by the thread that
// owns its chunk: no zero-fill, no second pass over memory, and the pages of the fresh outputs are first touched
// by the worker threads. Sums over links go through per-thread chunk buffers in the accumulation dtype (an fp16
// running sum would lose bits); the buffers stay in L1/L2.

// One (channel, link) row. kWrite1 / kWrite2: store this link's grad_x1 / grad_x2 straight to memory; otherwise
// add it into b1 / b2 (shared x1 / x2, or a gradient nobody asked for, whose buffer is then dropped).
// On the first link the buffers start from zero. Branch-free (selects), so the compiler vectorises it.
// kWriteX (single link only): store grad_x straight to memory too, through `gxr`, instead of into bx.
template <typename scalar_t, typename acc_t, bool kWrite1, bool kWrite2, bool kWriteX>
void backward_row(int64_t n, bool first, acc_t s_in, acc_t s_out, const scalar_t* __restrict__ xr, const acc_t* __restrict__ m,
                  const scalar_t* __restrict__ x1r, const scalar_t* __restrict__ x2r, acc_t* __restrict__ bx,
                  acc_t* __restrict__ b1, acc_t* __restrict__ b2, scalar_t* __restrict__ gxr, scalar_t* __restrict__ g1r,
                  scalar_t* __restrict__ g2r) {
    #pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        const acc_t xv = static_cast<acc_t>(xr[i]), mv = m[i];
        const acc_t a1 = s_out * (acc_t(1) - mv) * (static_cast<acc_t>(x1r[i]) - xv);
        const acc_t a2 = s_in * mv * (static_cast<acc_t>(x2r[i]) - xv);
        if constexpr (kWriteX) gxr[i] = static_cast<scalar_t>(-(a1 + a2));
        else bx[i] = (first ? acc_t(0) : bx[i]) - (a1 + a2);
        if constexpr (kWrite1) g1r[i] = static_cast<scalar_t>(a1);
        else b1[i] = (first ? acc_t(0) : b1[i]) + a1;
        if constexpr (kWrite2) g2r[i] = static_cast<scalar_t>(a2);
        else b2[i] = (first ? acc_t(0) : b2[i]) + a2;
    }
}

template <typename scalar_t, typename acc_t>
void backward_kernel(const Geometry& g, const acc_t* grad_in, const acc_t* grad_out,
                     const scalar_t* x, const scalar_t* x1, const scalar_t* x2, const acc_t* mask,
                     scalar_t* gx, scalar_t* gx1, scalar_t* gx2) {
    using Row = void (*)(int64_t, bool, acc_t, acc_t, const scalar_t*, const acc_t*, const scalar_t*, const scalar_t*,
                         acc_t*, acc_t*, acc_t*, scalar_t*, scalar_t*, scalar_t*);
    const bool write1 = gx1 && (g.L1 > 1 || g.L == 1), write2 = gx2 && (g.L2 > 1 || g.L == 1);
    const bool write_x = gx && write1 && write2 && g.L == 1;  // The common single-link case: no buffer at all.
    const Row row = write_x ? &backward_row<scalar_t, acc_t, true, true, true>
                  : write1 ? (write2 ? &backward_row<scalar_t, acc_t, true, true, false> : &backward_row<scalar_t, acc_t, true, false, false>)
                           : (write2 ? &backward_row<scalar_t, acc_t, false, true, false> : &backward_row<scalar_t, acc_t, false, false, false>);
    const int64_t items = g.B * g.nchunks;
    #pragma omp parallel num_threads(num_threads_for(g))
    {
        std::vector<acc_t> buf(3 * g.chunk);
        acc_t* bx = buf.data();
        acc_t* b1 = bx + g.chunk;
        acc_t* b2 = b1 + g.chunk;
        #pragma omp for schedule(dynamic, 1)
        for (int64_t item = 0; item < items; item++) {
            const int64_t b = item / g.nchunks, p0 = (item % g.nchunks) * g.chunk;
            const int64_t n = std::min(g.chunk, g.HW - p0);
            for (int64_t c = 0; c < g.C; c++) {
                for (int64_t l = 0; l < g.L; l++)
                    row(n, l == 0, 2 * grad_in[b * g.L + l], 2 * grad_out[b * g.L + l],
                        x + (b * g.C + c) * g.HW + p0, mask + mask_row(g, b, l) + p0,
                        x1 + image_row(g, g.L1, b, l, c) + p0, x2 + image_row(g, g.L2, b, l, c) + p0, bx, b1, b2,
                        write_x ? gx + (b * g.C + c) * g.HW + p0 : nullptr,
                        write1 ? gx1 + image_row(g, g.L1, b, l, c) + p0 : nullptr,
                        write2 ? gx2 + image_row(g, g.L2, b, l, c) + p0 : nullptr);
                // Outputs summed over links, leaving the buffers.
                const std::pair<scalar_t*, const acc_t*> sums[3] = {
                    {gx && !write_x ? gx + (b * g.C + c) * g.HW + p0 : nullptr, bx},
                    {gx1 && !write1 ? gx1 + image_row(g, 1, b, 0, c) + p0 : nullptr, b1},
                    {gx2 && !write2 ? gx2 + image_row(g, 1, b, 0, c) + p0 : nullptr, b2}};
                for (const auto& [out, from] : sums) {
                    if (!out) continue;
                    scalar_t* __restrict__ o = out;
                    #pragma omp simd
                    for (int64_t i = 0; i < n; i++) o[i] = static_cast<scalar_t>(from[i]);
                }
            }
        }
    }
}

//----------------------------------------------------------------------------
