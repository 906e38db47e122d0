"""The operand layouts masked_diff reads in place, its one copy for the others, a separate L_out mask in one call,
unused outputs that write no zero gradient, and calls of more than 32 links; all against the reference.

Copies and op calls are counted with a TorchDispatchMode, which sees every ATen op of the forward and backward
(the kernels' own allocations happen below it and are not counted).
"""

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from linkgan_plugin.ops import masked_diff
from linkgan_plugin.ops.reference import masked_diff_reference

COPIES = ('clone', 'copy_', '_to_copy', 'stack', 'cat', 'contiguous')


class OpLog(TorchDispatchMode):
    """Records the name of every op dispatched inside (e.g. 'clone', 'masked_diff_fwd') and its arguments."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.calls.append((func._schema.name.split('::')[-1], args))
        return func(*args, **(kwargs or {}))

    def copies(self):
        return [name for name, _ in self.calls if name in COPIES]

    def args_of(self, name):
        return [args for op, args in self.calls if op == name]


def _grads(fn, x, x1, x2, mask, mask_out=None, uses=(1.0, 1.0)):
    """L_in, L_out and the gradients of uses[0] * L_in.sum() + uses[1] * L_out.sum() (0: that output unused) with
    respect to x and the x1 / x2 leaves (None where a leaf gets none)."""
    leaves = [t for t in [x, *(x1 if isinstance(x1, list) else [x1]), *(x2 if isinstance(x2, list) else [x2])]
              if t.requires_grad]
    l_in, l_out = fn(x, x1, x2, mask, mask_out=mask_out)
    loss = sum(w * t.sum() for w, t in zip(uses, (l_in, l_out)) if w)
    return [l_in.detach(), l_out.detach(), *torch.autograd.grad(loss, leaves, allow_unused=True)]


def _close(got, want):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert (g is None) == (w is None)
        if g is not None:
            torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-10)


def _leaf(*shape, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64).requires_grad_(True)


@pytest.mark.parametrize('layout', ['list', '5d', 'shared-x1', 'channel-slice'])
@pytest.mark.parametrize('separate_out_mask', [False, True], ids=['one-mask', 'mask_out'])
def test_layouts_read_in_place_match_the_reference(cpu_kernel, layout, separate_out_mask):
    B, L, C, H, W = 2, 3, 3, 11, 13
    x = _leaf(B, C, H, W, seed=0)
    if layout == 'list':
        x1, x2 = [_leaf(B, C, H, W, seed=i) for i in (1, 2, 3)], [_leaf(B, C, H, W, seed=i) for i in (4, 5, 6)]
    elif layout == '5d':
        x1, x2 = _leaf(B, L, C, H, W, seed=1), _leaf(B, L, C, H, W, seed=2)
    elif layout == 'shared-x1':
        x1, x2 = _leaf(B, C, H, W, seed=1), [_leaf(B, C, H, W, seed=i) for i in (4, 5, 6)]
    else:       # EG3D's image_raw: the first 3 of 4 channels of a render; dense per sample, batch stride 4*H*W.
        raw = [_leaf(B, C + 1, H, W, seed=i) for i in range(1, 7)]
        x1, x2 = [r[:, :C] for r in raw[:3]], [r[:, :C] for r in raw[3:]]
    g = torch.Generator().manual_seed(9)
    mask = torch.rand(1, L, H, W, generator=g, dtype=torch.float64)
    mask_out = torch.rand(B, L, H, W, generator=g, dtype=torch.float64) if separate_out_mask else None
    with OpLog() as log:
        got = _grads(lambda *a, **k: masked_diff(*a, impl='cpu', **k), x, x1, x2, mask, mask_out)
    _close(got, _grads(masked_diff_reference, x, x1, x2, mask, mask_out))
    assert log.copies() == []                                   # No stack, no contiguous copy: read in place.
    assert len(log.args_of('masked_diff_fwd')) == len(log.args_of('masked_diff_bwd')) == 1   # One call each way.


def test_a_non_dense_input_is_copied_once_and_backward_reads_that_copy(cpu_kernel):
    x = _leaf(2, 3, 8, 10, seed=0).detach().contiguous(memory_format=torch.channels_last).requires_grad_(True)
    x1 = [_leaf(2, 3, 8, 10, seed=i) for i in (1, 2)]
    x2 = [_leaf(2, 3, 8, 10, seed=i) for i in (3, 4)]
    mask = torch.rand(2, 2, 8, 10, dtype=torch.float64)
    with OpLog() as log:
        got = _grads(lambda *a, **k: masked_diff(*a, impl='cpu', **k), x, x1, x2, mask)
    _close(got, _grads(masked_diff_reference, x, x1, x2, mask))
    assert log.copies() == ['clone']                            # x, once, in the forward.
    (fwd,), (bwd,) = log.args_of('masked_diff_fwd'), log.args_of('masked_diff_bwd')
    assert fwd[0].data_ptr() == bwd[2].data_ptr() and fwd[0].is_contiguous()    # Backward reads the forward's copy.


@pytest.mark.parametrize('uses', [(1.0, 0.0), (0.0, 2.0)], ids=['L_in-only', 'L_out-only'])
def test_an_unused_output_writes_no_zero_gradient(cpu_kernel, uses):
    x, x1, x2 = _leaf(2, 3, 9, 7, seed=0), _leaf(2, 2, 3, 9, 7, seed=1), _leaf(2, 2, 3, 9, 7, seed=2)
    mask = torch.rand(1, 2, 9, 7, dtype=torch.float64)
    with OpLog() as log:
        got = _grads(lambda *a, **k: masked_diff(*a, impl='cpu', **k), x, x1, x2, mask, uses=uses)
    _close(got, _grads(masked_diff_reference, x, x1, x2, mask, uses=uses))
    (args,) = log.args_of('masked_diff_bwd')
    grad_in, grad_out, need = args[0], args[1], args[-3:]
    if uses[1] == 0:
        assert grad_out is None and need == (True, False, True) and got[3] is None     # No gradient for x1 at all.
    else:
        assert grad_in is None and need == (True, True, False) and got[4] is None


def test_more_than_32_links_run_as_several_calls(cpu_kernel):
    B, L, C, H, W = 2, 35, 2, 5, 7
    x, x1 = _leaf(B, C, H, W, seed=0), _leaf(B, C, H, W, seed=1)        # x1 shared by all 35 links
    x2 = [_leaf(B, C, H, W, seed=2 + i) for i in range(L)]
    mask = torch.rand(B, L, H, W, dtype=torch.float64)
    with OpLog() as log:
        got = _grads(lambda *a, **k: masked_diff(*a, impl='cpu', **k), x, x1, x2, mask)
    _close(got, _grads(masked_diff_reference, x, x1, x2, mask))
    assert [len(args[2]) for args in log.args_of('masked_diff_fwd')] == [32, 3]
