// Argument checks shared by the CPU and CUDA bindings of the masked-difference op (host code, ATen only).
// Each binding adds its own device checks; the messages name the argument, as the Python side does.

#pragma once

#include <ATen/core/Tensor.h>

#include <algorithm>
#include <cstdint>

namespace linkgan {

// [batch, links, channels, height * width]; x1 / x2 have L1 / L2 links (1 = shared by all links, else L); the
// mask has Bm samples and Lm links (1 = broadcast).
struct MaskedDiffShape {
    int64_t B, L, C, HW;
    int64_t L1, L2;
    int64_t Bm, Lm;
};

// x [B, C, H, W]; x1, x2 [B, L or 1, C, H, W] of x's dtype; mask [B or 1, L or 1, H, W] in the accumulation dtype
// (fp64 for fp64 images, else fp32).
inline MaskedDiffShape check_masked_diff_shapes(const at::Tensor& x, const at::Tensor& x1, const at::Tensor& x2,
                                                const at::Tensor& mask) {
    TORCH_CHECK(x.dim() == 4, "masked_diff: x must be [batch, channels, height, width], got ", x.sizes());
    TORCH_CHECK(x1.dim() == 5, "masked_diff: x1 must be [batch, links or 1, channels, height, width], got ", x1.sizes());
    TORCH_CHECK(x2.dim() == 5, "masked_diff: x2 must be [batch, links or 1, channels, height, width], got ", x2.sizes());
    TORCH_CHECK(mask.dim() == 4, "masked_diff: mask must be [batch or 1, links or 1, height, width], got ", mask.sizes());
    TORCH_CHECK(x1.scalar_type() == x.scalar_type(), "masked_diff: x1 must have the dtype of x");
    TORCH_CHECK(x2.scalar_type() == x.scalar_type(), "masked_diff: x2 must have the dtype of x");
    const auto acc = x.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
    TORCH_CHECK(mask.scalar_type() == acc, "masked_diff: mask must be ", acc, " for ", x.scalar_type(), " images, got ", mask.scalar_type());

    MaskedDiffShape s;
    s.B = x.size(0); s.C = x.size(1); s.HW = x.size(2) * x.size(3);
    s.L1 = x1.size(1); s.L2 = x2.size(1); s.Bm = mask.size(0); s.Lm = mask.size(1);
    s.L = std::max({s.L1, s.L2, s.Lm});
    for (const auto* t : {&x1, &x2})
        TORCH_CHECK(t->size(0) == s.B && t->size(2) == s.C && t->size(3) == x.size(2) && t->size(4) == x.size(3),
                    "masked_diff: ", (t == &x1 ? "x1" : "x2"), " must be [", s.B, ", links or 1, ", s.C, ", ", x.size(2), ", ", x.size(3), "], got ", t->sizes());
    TORCH_CHECK(s.L1 == 1 || s.L1 == s.L, "masked_diff: x1 has ", s.L1, " links but another argument has ", s.L);
    TORCH_CHECK(s.L2 == 1 || s.L2 == s.L, "masked_diff: x2 has ", s.L2, " links but another argument has ", s.L);
    TORCH_CHECK(s.Lm == 1 || s.Lm == s.L, "masked_diff: mask has ", s.Lm, " links but another argument has ", s.L);
    TORCH_CHECK((s.Bm == 1 || s.Bm == s.B) && mask.size(2) == x.size(2) && mask.size(3) == x.size(3),
                "masked_diff: mask must be [", s.B, " or 1, links or 1, ", x.size(2), ", ", x.size(3), "], got ", mask.sizes());
    return s;
}

}  // namespace linkgan
