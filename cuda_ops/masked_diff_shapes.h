// What the CPU and CUDA bindings of the masked-difference op share (host code, ATen only): argument checks,
// contiguous inputs, backward's gradient checks and outputs, and the op schemas. Each binding adds its own device
// checks and allocator; the messages name the argument, as the Python side does.

#pragma once

#include <ATen/core/Tensor.h>
#include <torch/library.h>

#include <algorithm>
#include <cstdint>
#include <tuple>
#include <utility>

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

// The four inputs made contiguous: the kernels index them as dense arrays.
struct MaskedDiffInputs {
    at::Tensor x, x1, x2, mask;
};

inline MaskedDiffInputs contiguous_inputs(const at::Tensor& x, const at::Tensor& x1, const at::Tensor& x2,
                                          const at::Tensor& mask) {
    return {x.contiguous(), x1.contiguous(), x2.contiguous(), mask.contiguous()};
}

// Backward's incoming gradients grad_in, grad_out: each must be [B, L] in the accumulation dtype `acc` on
// `device`; `on_device` completes the message (" CPU tensor", " tensor on the device of x"). Returned contiguous.
inline std::pair<at::Tensor, at::Tensor> check_incoming_grads(const at::Tensor& grad_in, const at::Tensor& grad_out,
                                                               int64_t B, int64_t L, at::ScalarType acc,
                                                               const at::Device& device, const char* on_device) {
    for (const auto* t : {&grad_in, &grad_out})
        TORCH_CHECK(t->dim() == 2 && t->size(0) == B && t->size(1) == L && t->scalar_type() == acc && t->device() == device,
                    "masked_diff backward: ", (t == &grad_in ? "grad_in" : "grad_out"), " must be a [", B, ", ", L, "] ", acc,
                    on_device, ", got ", t->sizes(), " ", t->scalar_type());
    return {grad_in.contiguous(), grad_out.contiguous()};
}

// Backward's outputs gx, gx1, gx2, shaped like x, x1, x2 ([0] where not needed), from empty(sizes, options):
// uninitialised, as the kernels write every element once. Allocated in that order.
template <typename Empty>
std::tuple<at::Tensor, at::Tensor, at::Tensor> grad_outputs(Empty&& empty, const MaskedDiffInputs& in, bool need_x,
                                                            bool need_x1, bool need_x2) {
    const auto one = [&](const at::Tensor& t, bool need) { return empty(need ? t.sizes() : at::IntArrayRef{0}, t.options()); };
    at::Tensor gx = one(in.x, need_x);
    at::Tensor gx1 = one(in.x1, need_x1);
    at::Tensor gx2 = one(in.x2, need_x2);
    return {gx, gx1, gx2};
}

// The op schemas both bindings register (torch.ops.linkgan_cpu.* and torch.ops.linkgan_cuda.*).
constexpr const char* kMaskedDiffFwdSchema = "masked_diff_fwd(Tensor x, Tensor x1, Tensor x2, Tensor mask) -> (Tensor, Tensor)";
constexpr const char* kMaskedDiffBwdSchema =
    "masked_diff_bwd(Tensor grad_in, Tensor grad_out, Tensor x, Tensor x1, Tensor x2, Tensor mask, bool need_x, "
    "bool need_x1, bool need_x2) -> (Tensor, Tensor, Tensor)";

// Registers the schemas in the op namespace `ns` (torch.ops.ns.masked_diff_fwd / _bwd) with `fwd` and `bwd` as
// their kernels for dispatch key `key` (CPU or CUDA). Used once per binding, at file scope.
#define LINKGAN_REGISTER_MASKED_DIFF(ns, key, fwd, bwd)     \
    TORCH_LIBRARY(ns, m) {                                  \
        m.def(linkgan::kMaskedDiffFwdSchema);               \
        m.def(linkgan::kMaskedDiffBwdSchema);               \
    }                                                       \
    TORCH_LIBRARY_IMPL(ns, key, m) {                        \
        m.impl("masked_diff_fwd", fwd);                     \
        m.impl("masked_diff_bwd", bwd);                     \
    }

}  // namespace linkgan
