"""Public entry point of the masked-difference op: `masked_diff(x, x1, x2, mask, impl='auto')`.

The regularizer's inner loop, fused: one pass over `x, x1, x2, mask` forward, one pass writing the three
gradients backward, on GPU (`cuda_ops/masked_diff_kernel.cu`) and CPU (`cuda_ops/masked_diff_cpu.cpp`, OpenMP).
The readable PyTorch version in `reference.py` is both the fallback and the test oracle.

Choosing the implementation (`impl`):
    'auto'  honour $LINKGAN_KERNEL (auto|cuda|cpu|ref) when set; else the CUDA kernel for CUDA tensors, the CPU
            kernel for CPU tensors, the reference for anything else (other devices or dtypes, or a mask that
            requires grad: the kernels treat the mask as a constant, the reference differentiates it).
    'cuda'  the CUDA kernel; the tensors must be on a CUDA device.
    'cpu'   the CPU kernel; the tensors must be on the CPU.
    'ref'   the PyTorch reference.
An explicit 'cuda' / 'cpu' (argument or $LINKGAN_KERNEL) with a mask that requires grad raises ValueError
rather than silently dropping the mask's gradient. When a kernel fails to build, one warning is issued and
the reference runs instead (see `build.py`). Double backward through a kernel raises a clear RuntimeError;
use impl='ref' for higher-order gradients.

Memory: the CPU backward takes its gradient buffers (those of 1 MiB or more) from a small pool and gets them back
once nothing holds them any more, so steady-state calls write to pages already mapped instead of paying a page
fault per 4 KiB (CPU torch has no caching allocator; see `cuda_ops/grad_buffer_pool.h`). The pool keeps at most
8 buffers and 2 GiB; LINKGAN_CPU_GRAD_POOL=0 turns it off.
"""

import os

import torch

from linkgan_plugin.ops import build
from linkgan_plugin.ops.reference import accumulation_dtype, canonical_shapes, masked_diff_reference

IMPLS = ('auto', 'cuda', 'cpu', 'ref')
KERNEL_DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)

#----------------------------------------------------------------------------

def masked_diff(x, x1, x2, mask, impl='auto'):
    """Per-sample, per-link masked squared differences.

    Args:
        x:    [batch, channels, height, width] original images.
        x1:   [batch, links, channels, height, width] (or [batch, channels, height, width]) linked axes perturbed.
        x2:   like `x1`, complement axes perturbed.
        mask: [batch or 1, links or 1, height, width] in [0, 1].
        impl: 'auto' | 'cuda' | 'cpu' | 'ref' (see the module docstring; $LINKGAN_KERNEL overrides 'auto').
    Returns:
        (L_in, L_out), each [batch, links], fp32 (fp64 for fp64 inputs):
        L_in = sum(M * (x2 - x)^2), L_out = sum((1 - M) * (x1 - x)^2) over channels and pixels.
    """
    canonical_shapes(x, x1, x2, mask)
    path, _ = select_impl(x, mask, impl)
    if path == 'ref':
        return masked_diff_reference(x, x1, x2, mask)
    ops = build.load_extension(path)
    if ops is None:  # Build failed: warned once in load_extension.
        return masked_diff_reference(x, x1, x2, mask)
    # 1. Links as a dimension everywhere: a shared [B, C, H, W] x1 / x2 becomes a [B, 1, C, H, W] view; autograd
    #    sums its gradient back through the view. 2. The mask is a constant in the accumulation dtype.
    x1 = x1 if x1.ndim == 5 else x1.unsqueeze(1)
    x2 = x2 if x2.ndim == 5 else x2.unsqueeze(1)
    mask = mask.detach().to(accumulation_dtype(x.dtype))
    return _MaskedDiff.apply(x, x1, x2, mask, ops)

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


def select_impl(x, mask, impl='auto'):
    """Decides which path `masked_diff` takes, without building anything.

    Returns (path, reason): path is 'cuda', 'cpu' or 'ref' (a native path may still fall back to the reference
    if its build fails); reason is one readable sentence, used by `linkgan doctor`.
    """
    requested, origin = _requested_impl(impl)
    setting = f"{origin}={requested!r}" if origin == 'impl' else f'LINKGAN_KERNEL={requested}'
    if requested == 'ref':
        return 'ref', f'{setting} asks for the PyTorch reference'
    mask_grad = mask.requires_grad and torch.is_grad_enabled()
    device = x.device.type
    if requested == 'auto':
        if x.dtype not in KERNEL_DTYPES:
            return 'ref', f'dtype {x.dtype} has no kernel'
        if mask_grad:
            return 'ref', 'mask requires grad (the kernels treat the mask as a constant; the reference differentiates it)'
        if device in ('cuda', 'cpu'):
            return device, f'tensors are on {device}'
        return 'ref', f'no kernel for device {device!r}'
    if device != requested:
        raise ValueError(f'masked_diff: {setting} needs {requested} tensors, but x is on {x.device}')
    if x.dtype not in KERNEL_DTYPES:
        raise ValueError(f'masked_diff: {setting}: x must be one of {[str(d) for d in KERNEL_DTYPES]}, got {x.dtype}')
    if mask_grad:
        raise ValueError(f'masked_diff: {setting}: mask requires grad, but the kernels treat the mask as a constant; '
                         "pass mask.detach(), or impl='ref' to differentiate it")
    return requested, f'{setting} forces it'

#----------------------------------------------------------------------------

class _MaskedDiff(torch.autograd.Function):
    """Fused forward; backward through `_MaskedDiffGrad` (itself not differentiable)."""

    @staticmethod
    def forward(ctx, x, x1, x2, mask, ops):  # x1, x2: [B, L|1, C, H, W]; mask: [B|1, L|1, H, W], accumulation dtype.
        l_in, l_out = ops.masked_diff_fwd(x, x1, x2, mask)
        ctx.save_for_backward(x, x1, x2, mask)
        ctx.ops = ops
        return l_in, l_out

    @staticmethod
    def backward(ctx, grad_in, grad_out):
        x, x1, x2, mask = ctx.saved_tensors
        need = ctx.needs_input_grad[:3]
        if not any(need):
            return None, None, None, None, None
        gx, gx1, gx2 = _MaskedDiffGrad.apply(grad_in, grad_out, x, x1, x2, mask, ctx.ops, need)
        return (gx if need[0] else None), (gx1 if need[1] else None), (gx2 if need[2] else None), None, None


class _MaskedDiffGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, grad_in, grad_out, x, x1, x2, mask, ops, need):
        return ops.masked_diff_bwd(grad_in, grad_out, x, x1, x2, mask, *need)

    @staticmethod
    def backward(ctx, *grads):
        raise RuntimeError("masked_diff: double backward is not supported by the fused kernels; "
                           "use masked_diff(..., impl='ref') (or LINKGAN_KERNEL=ref) for higher-order gradients")

#----------------------------------------------------------------------------
