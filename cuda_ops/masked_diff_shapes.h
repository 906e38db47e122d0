// What the CPU and CUDA bindings of the masked-difference op share (host code, ATen only): argument checks, the
// MaskedDiffArgs the kernels read (masked_diff_args.h), backward's gradient checks and outputs, and the op
// schemas. Each binding adds its own device checks and allocator; the messages name the argument, as the Python
// side does.
//
// The op reads its operands in place (no copy) when each sample's block is dense ("sample-dense"):
//   x           [B, C, H, W]          strides (any, H*W, W, 1)
//   x1, x2      lists of [B, Lk, C, H, W] tensors, strides (any, any, H*W, W, 1); their links, in list order,
//               are the call's links (sum of Lk = L), or one tensor with Lk = 1 shared by every link
//   mask_in     [B or 1, L or 1, H, W] in the accumulation dtype, strides (any, any, W, 1) (an expand() is fine)
//   mask_out    like mask_in, or absent (then mask_in): L_out weights by 1 - mask_out
// (strides of size-1 dimensions are not checked). The Python side makes anything else dense, once.

#pragma once

#include "masked_diff_args.h"

#include <ATen/core/Tensor.h>
#include <c10/util/Optional.h>
#include <torch/library.h>

#include <algorithm>
#include <cstdint>
#include <tuple>
#include <utility>
#include <vector>

namespace linkgan {

// Whether dimensions [first, dim) of `t` are laid out densely (strides of size-1 dimensions are free).
inline bool dense_from(const at::Tensor& t, int64_t first) {
    int64_t expected = 1;
    for (int64_t d = t.dim() - 1; d >= first; d--) {
        if (t.size(d) != 1 && t.stride(d) != expected) return false;
        expected *= t.size(d);
    }
    return true;
}

inline at::ScalarType accumulation_type(at::ScalarType t) { return t == at::kDouble ? at::kDouble : at::kFloat; }

// Checks one list (x1 or x2) against x and returns its number of links.
inline int64_t check_link_list(at::TensorList list, const at::Tensor& x, const char* name) {
    TORCH_CHECK(!list.empty(), "masked_diff: ", name, " must hold at least one tensor");
    int64_t links = 0;
    for (const at::Tensor& t : list) {
        TORCH_CHECK(t.dim() == 5 && t.size(0) == x.size(0) && t.size(2) == x.size(1) && t.size(3) == x.size(2) && t.size(4) == x.size(3),
                    "masked_diff: ", name, " must be [", x.size(0), ", links, ", x.size(1), ", ", x.size(2), ", ", x.size(3), "], got ", t.sizes());
        TORCH_CHECK(t.scalar_type() == x.scalar_type(), "masked_diff: ", name, " must have the dtype of x");
        TORCH_CHECK(t.device() == x.device(), "masked_diff: ", name, " must be on the device of x");
        TORCH_CHECK(dense_from(t, 2), "masked_diff: each sample of ", name, " must be dense ([C, H, W] contiguous), got strides ", t.strides());
        links += t.size(1);
    }
    return links;
}

inline void check_mask(const at::Tensor& m, const at::Tensor& x, const char* name) {
    const auto acc = accumulation_type(x.scalar_type());
    TORCH_CHECK(m.dim() == 4 && (m.size(0) == 1 || m.size(0) == x.size(0)) && m.size(2) == x.size(2) && m.size(3) == x.size(3),
                "masked_diff: ", name, " must be [", x.size(0), " or 1, links or 1, ", x.size(2), ", ", x.size(3), "], got ", m.sizes());
    TORCH_CHECK(m.scalar_type() == acc, "masked_diff: ", name, " must be ", acc, " for ", x.scalar_type(), " images, got ", m.scalar_type());
    TORCH_CHECK(m.device() == x.device(), "masked_diff: ", name, " must be on the device of x");
    TORCH_CHECK(dense_from(m, 2), "masked_diff: ", name, " must have dense [H, W] rows, got strides ", m.strides());
}

inline MaskRows mask_rows(const at::Tensor& m) {
    return {m.const_data_ptr(), m.size(0) == 1 ? 0 : m.stride(0), m.size(1) == 1 ? 0 : m.stride(1)};
}

// Fills `out` with link pointers of `list` (x1 or x2); returns whether it is one tensor shared by every link.
inline bool link_pointers(at::TensorList list, int64_t L, const void** ptr, int64_t* stride) {
    const bool shared = list.size() == 1 && list[0].size(1) == 1 && L > 1;
    int64_t l = 0;
    for (const at::Tensor& t : list)
        for (int64_t k = 0; k < t.size(1); k++, l++) {
            ptr[l] = static_cast<const char*>(t.const_data_ptr()) + k * t.stride(1) * t.element_size();
            stride[l] = t.stride(0);
        }
    return shared;
}

// Every check of the op's arguments, and the MaskedDiffArgs of the forward (gradient fields null).
inline MaskedDiffArgs describe(const at::Tensor& x, at::TensorList x1, at::TensorList x2, const at::Tensor& mask_in,
                               const c10::optional<at::Tensor>& mask_out_) {
    TORCH_CHECK(x.dim() == 4, "masked_diff: x must be [batch, channels, height, width], got ", x.sizes());
    TORCH_CHECK(dense_from(x, 1), "masked_diff: each sample of x must be dense ([C, H, W] contiguous), got strides ", x.strides());
    const at::Tensor& mask_out = mask_out_.has_value() ? *mask_out_ : mask_in;
    const int64_t L1 = check_link_list(x1, x, "x1"), L2 = check_link_list(x2, x, "x2");
    check_mask(mask_in, x, "mask_in");
    check_mask(mask_out, x, "mask_out");
    const int64_t L = std::max({L1, L2, mask_in.size(1), mask_out.size(1)});
    for (const auto& [name, links] : {std::pair<const char*, int64_t>{"x1", L1}, {"x2", L2}, {"mask_in", mask_in.size(1)},
                                      {"mask_out", mask_out.size(1)}})
        TORCH_CHECK(links == 1 || links == L, "masked_diff: ", name, " has ", links, " links but another argument has ", L);
    TORCH_CHECK(L <= kMaxLinksPerCall, "masked_diff: at most ", kMaxLinksPerCall, " links per call, got ", L);
    MaskedDiffArgs a{};
    a.B = x.size(0); a.L = L; a.C = x.size(1); a.HW = x.size(2) * x.size(3);
    a.x = x.const_data_ptr();
    a.x_stride = x.stride(0);
    a.shared1 = link_pointers(x1, L, a.x1, a.x1_stride);
    a.shared2 = link_pointers(x2, L, a.x2, a.x2_stride);
    for (int64_t l = 1; l < L; l++) {   // A shared x1 / x2: every link reads entry 0's rows.
        if (L1 == 1) { a.x1[l] = a.x1[0]; a.x1_stride[l] = a.x1_stride[0]; }
        if (L2 == 1) { a.x2[l] = a.x2[0]; a.x2_stride[l] = a.x2_stride[0]; }
    }
    a.mask_in = mask_rows(mask_in);
    a.mask_out = mask_rows(mask_out);
    return a;
}

// Backward's incoming gradients grad_in, grad_out: each absent (that output is unused) or [B, L] in the
// accumulation dtype `acc` on `device`; returned contiguous (undefined when absent).
inline std::pair<at::Tensor, at::Tensor> check_incoming_grads(const c10::optional<at::Tensor>& grad_in,
                                                               const c10::optional<at::Tensor>& grad_out,
                                                               const MaskedDiffArgs& a, at::ScalarType acc,
                                                               const at::Device& device) {
    at::Tensor out[2];
    for (int i = 0; i < 2; i++) {
        const c10::optional<at::Tensor>& g = i == 0 ? grad_in : grad_out;
        if (!g.has_value() || !g->defined()) continue;
        const at::Tensor& t = *g;
        TORCH_CHECK(t.dim() == 2 && t.size(0) == a.B && t.size(1) == a.L && t.scalar_type() == acc && t.device() == device,
                    "masked_diff backward: ", (i == 0 ? "grad_in" : "grad_out"), " must be a [", a.B, ", ", a.L, "] ", acc,
                    " tensor on the device of x, got ", t.sizes(), " ", t.scalar_type(), " on ", t.device());
        out[i] = t.contiguous();
    }
    return {out[0], out[1]};
}

// Backward's outputs: gx like x but contiguous, and one gradient per x1 / x2 tensor, shaped like it, contiguous;
// an output not needed is absent (gx of shape [0], an empty list). Those the kernels compute come from empty(sizes,
// options) (uninitialised: the kernels write every element once) and their pointers go into `a`; those whose
// incoming gradient is absent (a.grad_in / a.grad_out null: gx1 without grad_out, gx2 without grad_in, gx
// without either) are zero, from zeros(sizes, options), and the kernels never see them.
template <typename Empty, typename Zeros>
std::tuple<at::Tensor, std::vector<at::Tensor>, std::vector<at::Tensor>> grad_outputs(
        Empty&& empty, Zeros&& zeros, MaskedDiffArgs& a, const at::Tensor& x, at::TensorList x1, at::TensorList x2,
        bool need_x, bool need_x1, bool need_x2) {
    at::Tensor gx = empty(at::IntArrayRef{0}, x.options());
    if (need_x) {
        const bool computed = a.grad_in || a.grad_out;
        gx = computed ? empty(x.sizes(), x.options()) : zeros(x.sizes(), x.options());
        if (computed) a.gx = gx.data_ptr();
    }
    const auto grads_of = [&](at::TensorList list, bool need, bool computed, void** ptr, int64_t* stride) {
        std::vector<at::Tensor> out;
        if (!need) return out;
        int64_t l = 0;
        for (const at::Tensor& t : list) {
            out.push_back(computed ? empty(t.sizes(), t.options()) : zeros(t.sizes(), t.options()));
            const at::Tensor& g = out.back();
            for (int64_t k = 0; computed && k < t.size(1); k++, l++) {
                ptr[l] = static_cast<char*>(g.data_ptr()) + k * g.stride(1) * g.element_size();
                stride[l] = g.stride(0);
            }
        }
        return out;
    };
    std::vector<at::Tensor> gx1 = grads_of(x1, need_x1, a.grad_out != nullptr, a.gx1, a.gx1_stride);
    std::vector<at::Tensor> gx2 = grads_of(x2, need_x2, a.grad_in != nullptr, a.gx2, a.gx2_stride);
    return {gx, gx1, gx2};
}

// The op schemas both bindings register (torch.ops.linkgan_cpu.* and torch.ops.linkgan_cuda.*).
constexpr const char* kMaskedDiffFwdSchema =
    "masked_diff_fwd(Tensor x, Tensor[] x1, Tensor[] x2, Tensor mask_in, Tensor? mask_out) -> (Tensor, Tensor)";
constexpr const char* kMaskedDiffBwdSchema =
    "masked_diff_bwd(Tensor? grad_in, Tensor? grad_out, Tensor x, Tensor[] x1, Tensor[] x2, Tensor mask_in, "
    "Tensor? mask_out, bool need_x, bool need_x1, bool need_x2) -> (Tensor, Tensor[], Tensor[])";

using ForwardResult = std::tuple<at::Tensor, at::Tensor>;
using BackwardResult = std::tuple<at::Tensor, std::vector<at::Tensor>, std::vector<at::Tensor>>;

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
