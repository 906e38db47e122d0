"""Readable PyTorch reference of the masked-difference op: the test oracle for every native kernel.

For original images `x`, images with the linked axes perturbed `x1`, images with the complement perturbed `x2`
and soft region masks `M_in`, `M_out` in [0, 1] (`M_out` is `M_in` unless given), per sample b and link l:

    L_in [b, l] = sum_{c,h,w}          M_in[b, l, h, w]   * (x2[b, l, c, h, w] - x[b, c, h, w])^2
    L_out[b, l] = sum_{c,h,w} (1 - M_out[b, l, h, w])     * (x1[b, l, c, h, w] - x[b, c, h, w])^2

Sums, not means: normalisation is the caller's business (see `regularizer.py`).
"""

import torch

#----------------------------------------------------------------------------

def _links_of(name, t, x):
    """Links of one x1 / x2 argument: 0 for a shared [B, C, H, W] tensor, else L; ValueError naming it."""
    B, C, H, W = x.shape
    expected = f'[{B}, links, {C}, {H}, {W}], [{B}, {C}, {H}, {W}] or a list of [{B}, {C}, {H}, {W}] (one per link)'
    if isinstance(t, (list, tuple)):
        if not t or not all(isinstance(v, torch.Tensor) and v.shape == x.shape for v in t):
            shapes = [list(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__ for v in t]
            raise ValueError(f'masked_diff: {name} must be {expected}, got a list of {shapes}')
        return len(t), t
    if not isinstance(t, torch.Tensor):
        raise TypeError(f'masked_diff: {name} must be a tensor or a list of tensors, got {type(t).__name__}')
    if t.ndim == 4 and t.shape == x.shape:
        return 0, [t]
    if t.ndim == 5 and t.shape[0] == B and t.shape[2:] == x.shape[1:]:
        return t.shape[1], [t]
    raise ValueError(f'masked_diff: {name} must be {expected}, got shape {list(t.shape)}')


def canonical_shapes(x, x1, x2, mask, mask_out=None):
    """Checks the op's arguments and returns (batch, links, channels, height, width).

    Args:
        x:        [batch, channels, height, width] original images.
        x1:       [batch, links, channels, height, width]; [batch, channels, height, width] shared by all links; or a
                  list of `links` tensors [batch, channels, height, width], one per link.
        x2:       same layout rules as `x1`.
        mask:     [batch or 1, links or 1, height, width], values in [0, 1].
        mask_out: None, or like `mask` (the L_out mask when it differs from L_in's).
    Raises:
        TypeError / ValueError naming the offending argument.
    """
    if not isinstance(x, torch.Tensor) or not isinstance(mask, torch.Tensor) or not (
            mask_out is None or isinstance(mask_out, torch.Tensor)):
        raise TypeError('masked_diff: x, mask and mask_out must be tensors (x1, x2: tensors or lists of tensors)')
    if x.ndim != 4:
        raise ValueError(f'masked_diff: x must be [batch, channels, height, width], got shape {list(x.shape)}')
    B, C, H, W = x.shape
    links, tensors = set(), {}
    for name, m in (('mask', mask), ('mask_out', mask_out)):
        if m is None:
            continue
        if m.ndim != 4 or m.shape[0] not in (1, B) or m.shape[2:] != (H, W):
            raise ValueError(f'masked_diff: {name} must be [batch or 1, links or 1, {H}, {W}], got shape {list(m.shape)}')
        links.add(m.shape[1])
        tensors[name] = [m]
    for name, t in (('x1', x1), ('x2', x2)):
        count, tensors[name] = _links_of(name, t, x)
        links.add(max(count, 1))
    links.discard(1)
    if len(links) > 1:
        raise ValueError(f'masked_diff: x1, x2 and the masks disagree on the number of links: {sorted(links)}')
    L = links.pop() if links else 1
    for name, ts in tensors.items():
        for t in ts:
            if t.device != x.device:
                raise ValueError(f'masked_diff: {name} is on {t.device} but x is on {x.device}')
            if t.dtype != x.dtype and not name.startswith('mask'):
                raise ValueError(f'masked_diff: {name} has dtype {t.dtype} but x has {x.dtype}')
    return B, L, C, H, W


def accumulation_dtype(dtype):
    """fp64 stays fp64 (for gradcheck); everything else accumulates and returns fp32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def as_link_tensor(t):
    """An x1 / x2 argument as one [batch, links or 1, channels, height, width] tensor (a list is stacked)."""
    if isinstance(t, (list, tuple)):
        return torch.stack(list(t), dim=1)
    return t if t.ndim == 5 else t.unsqueeze(1)


def masked_diff_reference(x, x1, x2, mask, mask_out=None):
    """Returns (L_in, L_out), each [batch, links], in fp32 (fp64 for fp64 inputs). Differentiable in x, x1, x2 and
    the masks. Arguments as in `canonical_shapes`."""
    B, L, C, H, W = canonical_shapes(x, x1, x2, mask, mask_out)
    acc = accumulation_dtype(x.dtype)
    x = x.to(acc).unsqueeze(1)                                  # [B, 1, C, H, W]
    x1, x2 = as_link_tensor(x1).to(acc), as_link_tensor(x2).to(acc)  # [B, L|1, C, H, W]
    m_in = mask.to(acc).unsqueeze(2)                            # [B|1, L|1, 1, H, W]
    m_out = m_in if mask_out is None else mask_out.to(acc).unsqueeze(2)
    l_in = (m_in * (x2 - x).square()).sum(dim=[2, 3, 4])
    l_out = ((1 - m_out) * (x1 - x).square()).sum(dim=[2, 3, 4])
    return l_in.expand(B, L), l_out.expand(B, L)

#----------------------------------------------------------------------------
