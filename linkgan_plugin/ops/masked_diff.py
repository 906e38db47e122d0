"""Public entry point of the masked-difference op: `masked_diff(x, x1, x2, mask, impl='auto', mask_out=None)`.

The regularizer's inner loop, fused: one pass over `x, x1, x2` and the masks forward, one pass writing the three
gradients backward, on GPU (`cuda_ops/masked_diff_kernel.cu`) and CPU (`cuda_ops/masked_diff_cpu.cpp`, OpenMP).
The readable PyTorch version in `reference.py` is both the fallback and the test oracle.

Choosing the implementation (`impl`):
    'auto'  honour $LINKGAN_KERNEL (auto|cuda|cpu|ref) when set; else the CUDA kernel for CUDA tensors, the CPU
            kernel for CPU tensors, the reference for anything else (other devices or dtypes, or a mask that
            requires grad: the kernels treat the masks as constants, the reference differentiates them). When the
            kernel cannot be built, one warning per kernel, then the reference.
    'cuda'  the CUDA kernel; the tensors must be on a CUDA device.
    'cpu'   the CPU kernel; the tensors must be on the CPU.
    'ref'   the PyTorch reference.
An explicit 'cuda' / 'cpu' (argument or $LINKGAN_KERNEL) is a promise: a kernel that cannot be built raises
RuntimeError with the build's error, and a mask that requires grad raises ValueError, rather than silently running
something else. Double backward through a kernel raises a clear RuntimeError; use impl='ref' for higher-order
gradients. `paths_run()` says which path ran how often, and why.

Layout and copies: the kernels read every operand in place when each sample of it is dense ([C, H, W] contiguous
for images, [H, W] for masks), whatever its batch stride: a [B, L, C, H, W] tensor, a list of L renders
[B, C, H, W] (no torch.stack), a channel slice such as EG3D's image_raw, an expanded mask. Anything else
(channels_last, a transposed view) is made contiguous once, and that copy is what backward reads. Calls of more
than 32 links run as several calls of at most 32 (the gradients of x and of a shared x1 / x2 are then summed over
them by autograd, in x's dtype).

Gradients: an unused output (its incoming gradient None) drops its terms: no zero gradient is written, and its
images are not read. Memory: the CPU backward takes its gradient buffers (those of 1 MiB or more) from a small pool
and gets them back once nothing holds them any more, so steady-state calls write to pages already mapped instead of
paying a page fault per 4 KiB (CPU torch has no caching allocator; see `cuda_ops/grad_buffer_pool.h`). The pool
keeps at most 8 buffers and 2 GiB; LINKGAN_CPU_GRAD_POOL=0 turns it off.
"""

import os
import warnings

import torch

from linkgan_plugin.ops import build
from linkgan_plugin.ops.reference import accumulation_dtype, canonical_shapes, masked_diff_reference

IMPLS = ('auto', 'cuda', 'cpu', 'ref')
KERNEL_DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)
MAX_LINKS_PER_CALL = 32     # cuda_ops/masked_diff_args.h: kMaxLinksPerCall.

_paths = {}                 # (device type, path, reason) -> calls in this process
_warned = set()             # kernels whose failed build 'auto' has warned about

#----------------------------------------------------------------------------

def masked_diff(x, x1, x2, mask, impl='auto', mask_out=None):
    """Per-sample, per-link masked squared differences.

    Args:
        x:        [batch, channels, height, width] original images.
        x1:       [batch, links, channels, height, width], a list of `links` tensors [batch, channels, height,
                  width] (one per link), or [batch, channels, height, width] shared by all links: linked axes
                  perturbed.
        x2:       like `x1`, complement axes perturbed.
        mask:     [batch or 1, links or 1, height, width] in [0, 1]: M_in (and M_out unless `mask_out`).
        impl:     'auto' | 'cuda' | 'cpu' | 'ref' (see the module docstring; $LINKGAN_KERNEL overrides 'auto').
        mask_out: None, or like `mask`: M_out, when L_out's mask differs from L_in's (one call either way).
    Returns:
        (L_in, L_out), each [batch, links], fp32 (fp64 for fp64 inputs):
        L_in = sum(M_in * (x2 - x)^2), L_out = sum((1 - M_out) * (x1 - x)^2) over channels and pixels.
    """
    B, L, C, H, W = canonical_shapes(x, x1, x2, mask, mask_out)
    path, reason, explicit = _decide(x, mask, mask_out, impl)
    ops = None
    if path != 'ref':
        ops = build.load_extension(path)
        if ops is None:
            path, reason = _build_failed(path, explicit)
    _paths[(x.device.type, path, reason)] = _paths.get((x.device.type, path, reason), 0) + 1
    if ops is None:
        return masked_diff_reference(x, x1, x2, mask, mask_out)
    acc = accumulation_dtype(x.dtype)
    masks = [_dense(m.detach().to(acc), 2) for m in (mask, mask if mask_out is None else mask_out)]
    if mask_out is None:
        masks[1] = None
    x1s, x2s, x = _link_operands(x1), _link_operands(x2), _dense(x, 1)
    if L <= MAX_LINKS_PER_CALL:
        return _MaskedDiff.apply(ops, len(x1s), masks[0], masks[1], x, *x1s, *x2s)
    parts = [_MaskedDiff.apply(ops, len(p1), *pm, x, *p1, *p2)
             for p1, p2, pm in _link_chunks(x1s, x2s, masks, L, MAX_LINKS_PER_CALL)]
    return torch.cat([p[0] for p in parts], dim=1), torch.cat([p[1] for p in parts], dim=1)


def paths_run(since=None):
    """{(device type, path, reason): calls} of the masked_diff calls in this process so far, or, given an earlier
    paths_run() as `since`, of those made after it (paths with new calls only). path is 'cuda', 'cpu' or 'ref' (the
    PyTorch reference), reason one readable sentence (why that path)."""
    since = since or {}
    return {key: calls - since.get(key, 0) for key, calls in _paths.items() if calls != since.get(key, 0)}

#----------------------------------------------------------------------------

def _requested_impl(impl):
    """The requested path and where it came from ('impl' argument or 'LINKGAN_KERNEL')."""
    if impl not in IMPLS:
        raise ValueError(f'masked_diff: impl must be one of {IMPLS}, got {impl!r}')
    if impl == 'auto':
        env = os.environ.get('LINKGAN_KERNEL', '').strip().lower()
        if env:
            if env not in IMPLS:
                raise ValueError(f'masked_diff: LINKGAN_KERNEL must be one of {IMPLS}, got {env!r}')
            return env, 'LINKGAN_KERNEL'
    return impl, 'impl'


def select_impl(x, mask, impl='auto', mask_out=None):
    """Decides which path `masked_diff` takes, without building anything.

    Returns (path, reason): path is 'cuda', 'cpu' or 'ref' (a native path may still fall back to the reference
    under 'auto' if its build fails); reason is one readable sentence, used by `linkgan doctor`.
    """
    path, reason, _ = _decide(x, mask, mask_out, impl)
    return path, reason


def _decide(x, mask, mask_out, impl):
    """(path, reason, explicit): explicit is the setting that asked for 'cuda' / 'cpu' by name (argument or
    environment, e.g. "impl='cuda'"), else None."""
    requested, origin = _requested_impl(impl)
    setting = f"{origin}={requested!r}" if origin == 'impl' else f'LINKGAN_KERNEL={requested}'
    if requested == 'ref':
        return 'ref', f'{setting} asks for the PyTorch reference', None
    mask_grad = torch.is_grad_enabled() and any(m is not None and m.requires_grad for m in (mask, mask_out))
    device = x.device.type
    if requested == 'auto':
        if x.dtype not in KERNEL_DTYPES:
            return 'ref', f'dtype {x.dtype} has no kernel', None
        if mask_grad:
            return 'ref', 'mask requires grad (the kernels treat the mask as a constant; the reference differentiates it)', None
        if device in ('cuda', 'cpu'):
            return device, f'tensors are on {device}', None
        return 'ref', f'no kernel for device {device!r}', None
    if device != requested:
        raise ValueError(f'masked_diff: {setting} needs {requested} tensors, but x is on {x.device}')
    if x.dtype not in KERNEL_DTYPES:
        raise ValueError(f'masked_diff: {setting}: x must be one of {[str(d) for d in KERNEL_DTYPES]}, got {x.dtype}')
    if mask_grad:
        raise ValueError(f'masked_diff: {setting}: mask requires grad, but the kernels treat the mask as a constant; '
                         "pass mask.detach(), or impl='ref' to differentiate it")
    return requested, f'{setting} forces it', setting


def _build_failed(kind, explicit):
    """A failed build: RuntimeError for an explicit request (`explicit`: its setting); else one warning per kernel,
    then (path 'ref', the reason)."""
    error = build.build_error(kind)
    if explicit:
        raise RuntimeError(f'masked_diff: {explicit} asks for the {kind} kernel, but it could not be '
                           f"built: {error}. Use impl='auto' (and no LINKGAN_KERNEL) to fall back to the PyTorch "
                           "reference, or impl='ref'")
    if kind not in _warned:
        _warned.add(kind)
        warnings.warn(f'masked_diff: could not build the {kind} kernel, falling back to the PyTorch reference '
                      f'(slower, same results). Cause: {error}', RuntimeWarning, stacklevel=3)
    return 'ref', f'the {kind} kernel could not be built ({error})'

#----------------------------------------------------------------------------
# Operands as the kernels read them.

def _dense(t, first):
    """`t` if dimensions first.. are dense (strides of size-1 dimensions free; cuda_ops/masked_diff_shapes.h:
    dense_from), else a contiguous copy."""
    expected = 1
    for d in range(t.ndim - 1, first - 1, -1):
        if t.shape[d] != 1 and t.stride(d) != expected:
            return t.contiguous()
        expected *= t.shape[d]
    return t


def _link_operands(t):
    """An x1 / x2 argument as the list of sample-dense [B, Lk, C, H, W] tensors the op takes (views, no copy, for
    dense samples): a shared [B, C, H, W] tensor gives one tensor of one link."""
    if isinstance(t, (list, tuple)):
        return [_dense(v.unsqueeze(1), 2) for v in t]
    return [_dense(t if t.ndim == 5 else t.unsqueeze(1), 2)]


def _link_chunks(x1s, x2s, masks, L, size):
    """[(x1 part, x2 part, (mask_in part, mask_out part))] of links [0, size), [size, 2 size), ...: views."""
    def part(tensors, a, b):
        if len(tensors) == 1 and tensors[0].shape[1] == 1:
            return tensors                                      # Shared by every link.
        out, start = [], 0
        for t in tensors:
            lo, hi = max(a - start, 0), min(b - start, t.shape[1])
            if lo < hi:
                out.append(t[:, lo:hi])
            start += t.shape[1]
        return out
    mask_part = lambda m, a, b: m if m is None or m.shape[1] == 1 else m[:, a:b]  # noqa: E731
    return [(part(x1s, a, a + size), part(x2s, a, a + size), tuple(mask_part(m, a, a + size) for m in masks))
            for a in range(0, L, size)]

#----------------------------------------------------------------------------

class _MaskedDiff(torch.autograd.Function):
    """Fused forward; backward through `_MaskedDiffGrad` (itself not differentiable). Inputs: ops, n1 (x1 tensors),
    mask_in, mask_out (None: mask_in), x, the n1 x1 tensors, the x2 tensors."""

    @staticmethod
    def forward(ctx, ops, n1, mask_in, mask_out, x, *links):
        ctx.set_materialize_grads(False)
        l_in, l_out = ops.masked_diff_fwd(x, list(links[:n1]), list(links[n1:]), mask_in, mask_out)
        ctx.save_for_backward(mask_in, mask_out, x, *links)
        ctx.ops, ctx.n1 = ops, n1
        return l_in, l_out

    @staticmethod
    def backward(ctx, grad_in, grad_out):
        mask_in, mask_out, x, *links = ctx.saved_tensors
        n1, need = ctx.n1, ctx.needs_input_grad
        need_x = need[4] and (grad_in is not None or grad_out is not None)
        need_x1 = any(need[5:5 + n1]) and grad_out is not None
        need_x2 = any(need[5 + n1:]) and grad_in is not None
        grads = [None] * (5 + len(links))
        if not (need_x or need_x1 or need_x2):
            return tuple(grads)
        outs = list(_MaskedDiffGrad.apply(grad_in, grad_out, ctx.ops, n1, (need_x, need_x1, need_x2), mask_in,
                                          mask_out, x, *links))
        if need_x:
            grads[4] = outs.pop(0)
        if need_x1:
            grads[5:5 + n1] = outs[:n1]
            outs = outs[n1:]
        if need_x2:
            grads[5 + n1:] = outs
        return tuple(grads)


class _MaskedDiffGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, grad_in, grad_out, ops, n1, need, mask_in, mask_out, x, *links):
        gx, gx1, gx2 = ops.masked_diff_bwd(grad_in, grad_out, x, list(links[:n1]), list(links[n1:]), mask_in, mask_out,
                                           *need)
        return tuple(([gx] if need[0] else []) + list(gx1) + list(gx2))

    @staticmethod
    def backward(ctx, *grads):
        raise RuntimeError("masked_diff: double backward is not supported by the fused kernels; "
                           "use masked_diff(..., impl='ref') (or LINKGAN_KERNEL=ref) for higher-order gradients")

#----------------------------------------------------------------------------
