"""Readable PyTorch reference of the masked-difference op: the test oracle for every native kernel.

For original images `x`, images with the linked axes perturbed `x1`, images with the complement perturbed `x2`
and soft region masks `M` in [0, 1], per sample b and link l:

    L_in [b, l] = sum_{c,h,w}      M[b, l, h, w]  * (x2[b, l, c, h, w] - x[b, c, h, w])^2
    L_out[b, l] = sum_{c,h,w} (1 - M[b, l, h, w]) * (x1[b, l, c, h, w] - x[b, c, h, w])^2

Sums, not means: normalisation is the caller's business (see `regularizer.py`).
"""

import torch

#----------------------------------------------------------------------------

def canonical_shapes(x, x1, x2, mask):
    """Checks the op's arguments and returns (batch, links, channels, height, width).

    Args:
        x:    [batch, channels, height, width] original images.
        x1:   [batch, links, channels, height, width], or [batch, channels, height, width] shared by all links.
        x2:   same layout rules as `x1`.
        mask: [batch or 1, links or 1, height, width], values in [0, 1].
    Raises:
        ValueError naming the offending argument.
    """
    if not all(isinstance(t, torch.Tensor) for t in (x, x1, x2, mask)):
        raise TypeError('masked_diff: x, x1, x2 and mask must all be tensors')
    if x.ndim != 4:
        raise ValueError(f'masked_diff: x must be [batch, channels, height, width], got shape {list(x.shape)}')
    B, C, H, W = x.shape
    if mask.ndim != 4 or mask.shape[0] not in (1, B) or mask.shape[2:] != (H, W):
        raise ValueError(f'masked_diff: mask must be [batch or 1, links or 1, {H}, {W}], got shape {list(mask.shape)}')
    links = {mask.shape[1]}
    for name, t in (('x1', x1), ('x2', x2)):
        if t.ndim == 4 and t.shape == x.shape:
            continue
        if t.ndim == 5 and t.shape[0] == B and t.shape[2:] == x.shape[1:]:
            links.add(t.shape[1])
            continue
        raise ValueError(f'masked_diff: {name} must be [{B}, links, {C}, {H}, {W}] or [{B}, {C}, {H}, {W}], got shape {list(t.shape)}')
    links.discard(1)
    if len(links) > 1:
        raise ValueError(f'masked_diff: x1, x2 and mask disagree on the number of links: {sorted(links)}')
    L = links.pop() if links else 1
    for name, t in (('x1', x1), ('x2', x2), ('mask', mask)):
        if t.device != x.device:
            raise ValueError(f'masked_diff: {name} is on {t.device} but x is on {x.device}')
        if t.dtype != x.dtype and name != 'mask':
            raise ValueError(f'masked_diff: {name} has dtype {t.dtype} but x has {x.dtype}')
    return B, L, C, H, W


def accumulation_dtype(dtype):
    """fp64 stays fp64 (for gradcheck); everything else accumulates and returns fp32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def masked_diff_reference(x, x1, x2, mask):
    """Returns (L_in, L_out), each [batch, links], in fp32 (fp64 for fp64 inputs). Differentiable in x, x1, x2."""
    B, L, C, H, W = canonical_shapes(x, x1, x2, mask)
    acc = accumulation_dtype(x.dtype)
    x = x.to(acc).unsqueeze(1)                                  # [B, 1, C, H, W]
    x1 = (x1 if x1.ndim == 5 else x1.unsqueeze(1)).to(acc)      # [B, L|1, C, H, W]
    x2 = (x2 if x2.ndim == 5 else x2.unsqueeze(1)).to(acc)
    m = mask.to(acc).unsqueeze(2)                               # [B|1, L|1, 1, H, W]
    l_in = (m * (x2 - x).square()).sum(dim=[2, 3, 4])
    l_out = ((1 - m) * (x1 - x).square()).sum(dim=[2, 3, 4])
    return l_in.expand(B, L), l_out.expand(B, L)

#----------------------------------------------------------------------------
