"""A sample's L_in / L_out and gradients do not depend on the batch it sits in, nor on the CPU thread count: bit
for bit, alone against in a batch of 64, at training sizes (256x256 and 1024x1024), on the CPU twin and (with a
GPU) the CUDA kernel.

Both kernels sum a sample's terms in fixed tiles of pixels (cuda_ops/masked_diff_args.h: kPixelTile), in an order
written out in the source. The CUDA kernel used to split a sample into as many blocks as its batch and SM count
gave (H*W*B / (SMs*16) pixels a block): at 256x256 a sample alone took 256 blocks and one of a batch of 32 took 64
on an H100, so these tests fail on that split; a 70x61 image needed 17 blocks whatever the batch, which is why the
older per-sample test in test_ops_masked_diff.py passed anyway. Each size runs in fp64 too: there every partial
sum keeps its bits to the end, so any change in how a sample is split shows (in fp32 the final rounding of an
fp64 total hides most; a CPU twin whose chunks followed the batch passed 4 of its 5 fp32 / bf16 cases). At
1024x1024 the batch is 64 overlapping windows of one buffer (a batch stride smaller than a sample, read in place),
so it costs megabytes, not gigabytes; an odd stride also takes the element-wise load path against the sample
alone's vector path.
"""

import pytest
import torch

from linkgan_plugin.ops import masked_diff

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA GPU')
DEVICES = ['cpu', pytest.param('cuda', marks=CUDA)]
SAMPLES = (0, 17, 63)


def _outputs(x, x1, x2, mask, mask_out, w_in, w_out, device):
    """(L_in, L_out, grad x, grad x1 (5-D), grad x2 (list, stacked)) for weights w_in, w_out of the outputs."""
    leaves = [t.detach().requires_grad_(True) for t in (x, x1, *x2)]
    l_in, l_out = masked_diff(leaves[0], leaves[1], leaves[2:], mask, impl=device, mask_out=mask_out)
    grads = torch.autograd.grad((l_in * w_in).sum() + (l_out * w_out).sum(), leaves)
    return [l_in.detach(), l_out.detach(), grads[0], grads[1], torch.stack(grads[2:], dim=1)]


def _batch(B, L, C, H, W, dtype, device, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, C, H, W, generator=g)
    x1 = x.unsqueeze(1) + 0.5 * torch.randn(B, L, C, H, W, generator=g)
    x2 = [x + 0.5 * torch.randn(B, C, H, W, generator=g) for _ in range(L)]
    mask, mask_out = torch.rand(B, L, H, W, generator=g), torch.rand(1, L, H, W, generator=g)
    w_in, w_out = torch.randn(B, L, generator=g), torch.randn(B, L, generator=g)
    move = lambda t: t.to(device=device, dtype=dtype)  # noqa: E731
    acc = lambda t: t.to(device=device, dtype=torch.float64 if dtype == torch.float64 else torch.float32)  # noqa: E731
    return move(x), move(x1), [move(t) for t in x2], acc(mask), acc(mask_out), acc(w_in), acc(w_out)


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('dtype, channels', [(torch.float32, 3), (torch.float64, 1)], ids=['fp32', 'fp64'])
def test_sample_alone_equals_sample_in_a_batch_of_64_at_256px(device, dtype, channels):
    x, x1, x2, mask, mask_out, w_in, w_out = _batch(64, 2, channels, 256, 256, dtype, device)
    full = _outputs(x, x1, x2, mask, mask_out, w_in, w_out, device)
    for b in SAMPLES:
        s = slice(b, b + 1)
        alone = _outputs(x[s].clone(), x1[s].clone(), [t[s].clone() for t in x2], mask[s].clone(), mask_out,
                         w_in[s], w_out[s], device)
        for name, f, a in zip(['L_in', 'L_out', 'grad_x', 'grad_x1', 'grad_x2'], full, alone):
            assert torch.equal(f[s], a), (name, b, (f[s].double() - a.double()).abs().max().item())


def _windows(B, C, H, W, stride, dtype, device, seed):
    """[B, C, H, W]: sample b is the window at b * stride of one random buffer (samples overlap; dense each)."""
    g = torch.Generator().manual_seed(seed)
    buffer = torch.randn((B - 1) * stride + C * H * W, generator=g).to(device=device, dtype=dtype)
    return buffer.as_strided((B, C, H, W), (stride, H * W, W, 1))


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64, torch.bfloat16], ids=['fp32', 'fp64', 'bf16'])
@pytest.mark.parametrize('stride', [12_344, 12_345], ids=['aligned', 'odd'])
def test_sample_alone_equals_sample_in_a_batch_of_64_at_1024px(device, dtype, stride):
    B, C, H, W = 64, 1, 1024, 1024
    x = _windows(B, C, H, W, stride, dtype, device, seed=0)
    x1 = _windows(B, C, H, W, stride, dtype, device, seed=1).unsqueeze(1)      # [B, 1, C, H, W], read in place
    x2 = _windows(B, C, H, W, stride, dtype, device, seed=2).unsqueeze(1)
    g = torch.Generator().manual_seed(3)
    acc = torch.float64 if dtype == torch.float64 else torch.float32
    mask = torch.rand(1, 1, H, W, generator=g).to(device=device, dtype=acc)
    w = torch.randn(B, 1, generator=g).to(device=device, dtype=acc)
    xg = x.detach().requires_grad_(True)
    l_in, l_out = masked_diff(xg, x1, x2, mask, impl=device)
    (gx,) = torch.autograd.grad((l_in * w).sum() + (l_out * w).sum(), [xg])
    assert torch.isfinite(l_in).all() and (l_in > 0).all()
    for b in SAMPLES:
        s = slice(b, b + 1)
        xa = x[s].contiguous().requires_grad_(True)
        a_in, a_out = masked_diff(xa, x1[s].contiguous(), x2[s].contiguous(), mask, impl=device)
        (ga,) = torch.autograd.grad((a_in * w[s]).sum() + (a_out * w[s]).sum(), [xa])
        assert torch.equal(l_in[s], a_in) and torch.equal(l_out[s], a_out), b
        assert torch.equal(gx[s], ga), b


@pytest.mark.parametrize('threads', [2, 3])
def test_cpu_results_do_not_depend_on_the_thread_count(threads):
    x, x1, x2, mask, mask_out, w_in, w_out = _batch(64, 2, 3, 128, 128, torch.float32, 'cpu', seed=4)
    saved = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = _outputs(x, x1, x2, mask, mask_out, w_in, w_out, 'cpu')
        torch.set_num_threads(threads)
        many = _outputs(x, x1, x2, mask, mask_out, w_in, w_out, 'cpu')
    finally:
        torch.set_num_threads(saved)
    for name, a, b in zip(['L_in', 'L_out', 'grad_x', 'grad_x1', 'grad_x2'], one, many):
        assert torch.equal(a, b), name
