"""The CUDA kernel at training sizes and in the settings training uses it in; every test needs a GPU (skipped with the
reason without one) and examples/gpu_validation.sh runs them all.

- Matches the reference at 32x3x256x256 and 8x3x1024x1024, 4 links, in fp32, fp16 and bf16, for three mask shapes
  ([1, L], [B, L], [B, 1]) and channels_last images.
- Under autocast, captured in a CUDA graph on a side stream, at batch 65535 and 65536 (one launch slice and two),
  on a second GPU (device guard), and past 2^31 elements (64-bit indices) when the card has the memory.
- LinkLoss on CUDA runs the kernel (its Linkgan/masked_diff/cuda statistic) on every toy flavour.
Batch independence on CUDA: test_ops_batch_independence.py (its cuda cases).
"""

import pytest
import torch

from linkgan_plugin.ops import masked_diff
from linkgan_plugin.ops.reference import masked_diff_reference

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA GPU')
DTYPES = {'fp32': torch.float32, 'fp16': torch.float16, 'bf16': torch.bfloat16}


def _inputs(B, L, C, H, W, dtype, mask_shape=('B', 'L'), device='cuda', seed=0):
    g = torch.Generator(device=device).manual_seed(seed)
    x = torch.randn(B, C, H, W, generator=g, device=device)
    x1 = (x.unsqueeze(1) + 0.3 * torch.randn(B, L, C, H, W, generator=g, device=device)).to(dtype)
    x2 = (x.unsqueeze(1) + 0.3 * torch.randn(B, L, C, H, W, generator=g, device=device)).to(dtype)
    mb, ml = (B if mask_shape[0] == 'B' else 1), (L if mask_shape[1] == 'L' else 1)
    return x.to(dtype), x1, x2, torch.rand(mb, ml, H, W, generator=g, device=device)


def _fwd_bwd(fn, x, x1, x2, mask):
    leaves = [t.detach().requires_grad_(True) for t in (x, x1, x2)]
    l_in, l_out = fn(*leaves, mask)
    w = torch.linspace(0.5, 1.5, l_in.numel(), device=l_in.device).reshape(l_in.shape)
    return [l_in.detach(), l_out.detach(), *torch.autograd.grad((l_in * w).sum() + (l_out * w.flip(0)).sum(), leaves)]


def _assert_matches(got, want, dtype):
    """Sums to 1e-4 relative of fp64 (fp32 accumulation of ~10^7 terms); gradients within two of their own ulps."""
    for i, (g, w) in enumerate(zip(got, want)):
        if i < 2:
            torch.testing.assert_close(g.double(), w.double(), rtol=1e-4, atol=0)
        else:
            rtol = {torch.float32: 1e-5, torch.float16: 2e-3, torch.bfloat16: 1.6e-2}[dtype]
            torch.testing.assert_close(g.float(), w.float(), rtol=rtol, atol=rtol * w.float().abs().max().item())


@pytest.mark.parametrize('dtype', list(DTYPES), ids=list(DTYPES))
@pytest.mark.parametrize('mask_shape', [('1', 'L'), ('B', 'L'), ('B', '1')], ids=['1xL', 'BxL', 'Bx1'])
@pytest.mark.parametrize('size', [(32, 256), (8, 1024)], ids=['32x256', '8x1024'])
def test_training_sizes_match_the_reference(dtype, mask_shape, size):
    B, R = size
    x, x1, x2, mask = _inputs(B, 4, 3, R, R, DTYPES[dtype], mask_shape)
    want = _fwd_bwd(lambda *a: masked_diff_reference(*(t.double() for t in a[:3]), a[3].double()), x, x1, x2, mask)
    got = _fwd_bwd(lambda *a: masked_diff(*a, impl='cuda'), x, x1, x2, mask)
    assert got[0].dtype == torch.float32 and got[2].dtype == DTYPES[dtype]
    _assert_matches(got, [w.to(g.dtype) for g, w in zip(got, want)], DTYPES[dtype])


def test_channels_last_images_match_the_reference():
    x, x1, x2, mask = _inputs(16, 2, 3, 256, 256, torch.float16)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    got = _fwd_bwd(lambda *a: masked_diff(*a, impl='cuda'), x_cl, x1, x2, mask)
    want = _fwd_bwd(lambda *a: masked_diff_reference(*(t.double() for t in a[:3]), a[3].double()), x, x1, x2, mask)
    _assert_matches(got, [w.to(g.dtype) for g, w in zip(got, want)], torch.float16)


def test_autocast_renders_go_through_the_kernel_in_fp32_sums():
    conv = torch.nn.Conv2d(3, 3, 3, padding=1).cuda()
    x, x1, x2, mask = _inputs(8, 2, 3, 128, 128, torch.float32)
    with torch.autocast('cuda', dtype=torch.float16):
        renders = [conv(t) for t in (x, x1[:, 0], x1[:, 1], x2[:, 0], x2[:, 1])]
        assert renders[0].dtype == torch.float16
        l_in, l_out = masked_diff(renders[0], renders[1:3], renders[3:], mask, impl='cuda')
    want = masked_diff_reference(renders[0].double(), [r.double() for r in renders[1:3]],
                                 [r.double() for r in renders[3:]], mask.double())
    assert l_in.dtype == torch.float32
    torch.testing.assert_close(l_in.double(), want[0], rtol=1e-4, atol=0)
    torch.testing.assert_close(l_out.double(), want[1], rtol=1e-4, atol=0)


def test_cuda_graph_capture_on_a_side_stream_replays_the_eager_results():
    x, x1, x2, mask = _inputs(8, 3, 3, 256, 256, torch.float16)
    static = [t.detach().clone().requires_grad_(True) for t in (x, x1, x2)]
    eager = _fwd_bwd(lambda *a: masked_diff(*a, impl='cuda'), x, x1, x2, mask)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(2):                              # Warm up on the side stream, as graph capture requires.
            l_in, l_out = masked_diff(*static, mask, impl='cuda')
            torch.autograd.grad(l_in.sum() + l_out.sum(), static)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, stream=side):
            l_in, l_out = masked_diff(*static, mask, impl='cuda')
            w = torch.linspace(0.5, 1.5, l_in.numel(), device='cuda').reshape(l_in.shape)
            grads = torch.autograd.grad((l_in * w).sum() + (l_out * w.flip(0)).sum(), static)
    torch.cuda.current_stream().wait_stream(side)
    graph.replay()
    torch.cuda.synchronize()
    for got, want in zip([l_in, l_out, *grads], eager):
        assert torch.equal(got, want)                   # Deterministic kernels: the replay is bit for bit.


@pytest.mark.parametrize('B', [65535, 65536])
def test_batches_at_and_past_the_grid_limit(B):
    # grid.y holds at most 65535 samples: 65536 takes two launch slices, with the same per-sample results.
    x, x1, x2, mask = _inputs(B, 2, 1, 4, 8, torch.float32)
    got = _fwd_bwd(lambda *a: masked_diff(*a, impl='cuda'), x, x1, x2, mask)
    want = _fwd_bwd(masked_diff_reference, x, x1, x2, mask)
    _assert_matches(got, want, torch.float32)
    alone = masked_diff(x[-1:], x1[-1:], x2[-1:], mask[-1:], impl='cuda')
    assert torch.equal(alone[0], got[0][-1:]) and torch.equal(alone[1], got[1][-1:])


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason='needs two GPUs (device guard on cuda:1)')
def test_second_gpu_runs_on_its_own_device_and_stream():
    x, x1, x2, mask = _inputs(4, 2, 3, 64, 64, torch.float32, device='cuda:1')
    before = torch.cuda.current_device()
    got = _fwd_bwd(lambda *a: masked_diff(*a, impl='cuda'), x, x1, x2, mask)
    assert torch.cuda.current_device() == before and all(t.device == torch.device('cuda:1') for t in got)
    _assert_matches(got, _fwd_bwd(masked_diff_reference, x, x1, x2, mask), torch.float32)


def test_past_two_to_the_31_elements():
    H = W = 46_341                                      # 1 x 1 x 46341^2 = 2^31 + 37,581 elements per image.
    need = H * W * (3 * 2 + 4) * 1.3
    if torch.cuda.get_device_properties(0).total_memory < need + (4 << 30):
        pytest.skip(f'needs about {need / 2**30:.0f} GiB of GPU memory for three fp16 images and a mask past 2^31')
    g = torch.Generator(device='cuda').manual_seed(0)
    x = torch.randint(-8, 8, (1, 1, H, W), generator=g, device='cuda', dtype=torch.int16).half()  # exact in fp16
    x1, x2 = (x.unsqueeze(1) + 1).contiguous(), (x.unsqueeze(1) - 2).contiguous()   # differences 1 and -2, exactly
    mask = torch.zeros(1, 1, H, W, device='cuda')
    mask[..., -1] = 1                                   # Only the last column (up to index 2^31 + 37,580) is inside.
    l_in, l_out = masked_diff(x, x1, x2, mask, impl='cuda')
    assert l_in.item() == 4.0 * H                       # Integer partial sums: exact in fp32 tiles, fp64 totals.
    assert l_out.item() == pytest.approx(1.0 * (H * W - H), rel=1e-7)


@pytest.mark.parametrize('flavour', ['sg2ada', 'sg3', 'eg3d'])
def test_link_loss_on_cuda_runs_the_kernel(flavour, monkeypatch):
    from linkgan_plugin.loss import LinkLoss
    from linkgan_plugin.toy.losses import TOY_LOSSES
    from linkgan_plugin.toy.networks import make_toy_networks
    from linkgan_plugin.upstream import stats
    from linkgan_plugin.upstream.cameras import random_cameras
    monkeypatch.delenv('LINKGAN_KERNEL', raising=False)
    G, D = make_toy_networks(flavour, w_dim=32, z_dim=16, img_resolution=16, channels=8, mapping_layers=2)
    G, D = G.cuda(), D.cuda()
    nets = dict(G_mapping=G.mapping, G_synthesis=G.synthesis) if flavour == 'sg2ada' else dict(G=G)
    extra = {'neural_rendering_resolution_initial': 8} if flavour == 'eg3d' else {}
    spec = {'links': [{'name': 'a', 'axes': '0:8', 'region': {'box': [0, 0, 0.5, 1]}}], 'interval': 1}
    loss = LinkLoss('cuda', D=D, spec=spec, base=TOY_LOSSES[flavour], pl_weight=0, **nets, **extra)
    c = random_cameras(4).cuda() if flavour == 'eg3d' else torch.zeros(4, 0, device='cuda')
    batch = dict(real_img=torch.rand(4, 3, 16, 16, device='cuda'), real_c=c, gen_z=torch.randn(4, 16, device='cuda'), gen_c=c)
    stats.latest.clear()
    G.requires_grad_(True)
    if flavour == 'sg2ada':
        loss.accumulate_gradients(phase='Gmain', **batch, sync=True, gain=1)
    else:
        loss.accumulate_gradients(phase='Gmain', **batch, gain=1, cur_nimg=0)
    assert stats.latest['Linkgan/masked_diff/cuda'] == 1 and 'Linkgan/masked_diff/ref' not in stats.latest
    assert stats.latest['Loss/link/in'] > 0
