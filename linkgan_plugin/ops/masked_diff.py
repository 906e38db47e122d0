"""Public entry point of the masked-difference op.

`masked_diff` is the single function the regularizer calls; the fused native kernels (issue: kernel) plug in
behind its `impl` switch. Until they exist every `impl` runs the PyTorch reference.
"""

from linkgan_plugin.ops.reference import masked_diff_reference

IMPLS = ('auto', 'cuda', 'cpu', 'ref')


def masked_diff(x, x1, x2, mask, impl='auto'):
    """Per-sample, per-link masked squared differences.

    Args:
        x:    [batch, channels, height, width] original images.
        x1:   [batch, links, channels, height, width] (or [batch, channels, height, width]) linked axes perturbed.
        x2:   like `x1`, complement axes perturbed.
        mask: [batch or 1, links or 1, height, width] in [0, 1].
        impl: 'auto' | 'cuda' | 'cpu' | 'ref'.
    Returns:
        (L_in, L_out), each [batch, links], fp32 (fp64 for fp64 inputs):
        L_in = sum(M * (x2 - x)^2), L_out = sum((1 - M) * (x1 - x)^2) over channels and pixels.
    """
    if impl not in IMPLS:
        raise ValueError(f'masked_diff: impl must be one of {IMPLS}, got {impl!r}')
    return masked_diff_reference(x, x1, x2, mask)
