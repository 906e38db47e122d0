"""The fused masked-difference kernels against the PyTorch reference (the oracle), forward and every gradient.

CPU cases run everywhere (one cold build per session, then the on-disk cache); the same cases run on CUDA
whenever a GPU is present. Tolerances: fp64 agrees to ~1e-12 relative (only summation order differs); fp32
to 1e-5 relative on the sums (the reference sums ~10^5 terms in a different order) and 1e-5 absolute on the
element-wise gradients.
"""

import pytest
import torch

from linkgan_plugin.ops import build, masked_diff
from linkgan_plugin.ops.masked_diff import select_impl
from linkgan_plugin.ops.reference import masked_diff_reference

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA GPU')
DEVICES = ['cpu', pytest.param('cuda', marks=CUDA)]

# name: (batch, links, channels, height, width, x1 own per link?, x2 own per link?, mask batch, mask links)
CASES = {
    '1x1x1x1':          (1, 1, 1, 1, 1, True, True, 1, 1),
    'odd-7x13':         (3, 1, 3, 7, 13, True, True, 3, 1),
    '4x3x64x64':        (4, 1, 3, 64, 64, True, True, 4, 1),
    'links-3':          (2, 3, 3, 17, 19, True, True, 2, 3),
    'shared-x1-x2':     (2, 3, 3, 9, 11, False, False, 2, 3),
    'mask-over-batch':  (3, 2, 3, 15, 8, True, True, 1, 2),
    'mask-over-links':  (2, 4, 3, 10, 6, True, True, 2, 1),
    'two-chunks-mixed': (2, 2, 3, 67, 71, False, True, 1, 2),  # 4757 pixels: three tiles of up to 2048 (kPixelTile)
    'big-parallel':     (2, 2, 4, 130, 129, True, False, 2, 2),  # above the CPU kernel's serial threshold
}


@pytest.fixture(scope='module')
def kernels(cpu_kernel):
    """The CPU kernel (conftest.cpu_kernel) and, when a GPU exists, the CUDA one, each built once per module."""
    ops = {'cpu': cpu_kernel}
    if torch.cuda.is_available():
        ops['cuda'] = build.load_extension('cuda')
        assert ops['cuda'] is not None, f'CUDA kernel build failed: {build.build_error("cuda")}'
    return ops


def make_case(case, dtype=torch.float32, device='cpu', seed=0):
    B, L, C, H, W, own1, own2, Bm, Lm = case
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, C, H, W, generator=g, dtype=torch.float64)
    x1 = torch.randn(*((B, L) if own1 else (B,)), C, H, W, generator=g, dtype=torch.float64)
    x2 = torch.randn(*((B, L) if own2 else (B,)), C, H, W, generator=g, dtype=torch.float64)
    mask = torch.rand(Bm, Lm, H, W, generator=g, dtype=torch.float64)
    return [t.to(device=device, dtype=dtype) for t in (x, x1, x2, mask)]


def forward_and_grads(fn, x, x1, x2, mask, seed=1):
    """(L_in, L_out, grad_x, grad_x1, grad_x2) for random upstream gradients of L_in and L_out."""
    xs = [t.detach().clone().requires_grad_(True) for t in (x, x1, x2)]
    l_in, l_out = fn(*xs, mask)
    g = torch.Generator().manual_seed(seed)
    w_in = torch.randn(l_in.shape, generator=g, dtype=torch.float64).to(l_in)
    w_out = torch.randn(l_out.shape, generator=g, dtype=torch.float64).to(l_out)
    grads = torch.autograd.grad((l_in * w_in).sum() + (l_out * w_out).sum(), xs)
    return (l_in.detach(), l_out.detach(), *grads)


def tolerances(dtype):
    return dict(rtol=1e-10, atol=1e-10) if dtype == torch.float64 else dict(rtol=1e-5, atol=1e-5)


def assert_all_close(got, want, dtype=torch.float32):
    """Every tensor of `got` is close to the one of `want` at the tolerances of `dtype`."""
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, **tolerances(dtype))

#----------------------------------------------------------------------------

@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64], ids=['fp32', 'fp64'])
@pytest.mark.parametrize('case', list(CASES.values()), ids=list(CASES))
def test_kernel_matches_reference(kernels, case, dtype, device):
    inputs = make_case(case, dtype, device)
    got = forward_and_grads(lambda *a: masked_diff(*a, impl=device), *inputs)
    want = forward_and_grads(masked_diff_reference, *inputs)
    B, L = case[0], case[1]
    for name, g, w in zip(['L_in', 'L_out', 'grad_x', 'grad_x1', 'grad_x2'], got, want):
        assert g.shape == w.shape, name
        assert g.dtype == w.dtype, name
        if name.startswith('L_'):
            assert g.shape == (B, L)
            torch.testing.assert_close(g, w, rtol=tolerances(dtype)['rtol'], atol=0, msg=name)
        else:
            torch.testing.assert_close(g, w, **tolerances(dtype), msg=name)


@pytest.mark.parametrize('device', DEVICES)
def test_gradcheck_fp64(kernels, device):
    x, x1, x2, mask = make_case((2, 2, 3, 5, 7, True, False, 1, 2), torch.float64, device)
    xs = [t.requires_grad_(True) for t in (x, x1, x2)]
    assert torch.autograd.gradcheck(lambda a, b, c: masked_diff(a, b, c, mask, impl=device), xs)


def _same_dtype_reference(x, x1, x2, mask):
    """The formula run entirely in the inputs' dtype (what eager fp16/bf16 code would do)."""
    x1 = x1 if x1.ndim == 5 else x1.unsqueeze(1)
    x2 = x2 if x2.ndim == 5 else x2.unsqueeze(1)
    m = mask.to(x.dtype).unsqueeze(2)
    x = x.unsqueeze(1)
    return (m * (x2 - x).square()).sum(dim=[2, 3, 4]), ((1 - m) * (x1 - x).square()).sum(dim=[2, 3, 4])


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16], ids=['fp16', 'bf16'])
def test_low_precision_error_at_most_twice_same_dtype_reference(kernels, dtype, device):
    # Small sums (~10^3) so the same-dtype reference does not overflow; both are judged against fp64 on the
    # very same (already rounded) inputs.
    inputs = make_case((2, 3, 3, 13, 11, True, False, 2, 3), dtype, device)
    exact = forward_and_grads(masked_diff_reference, *[t.double() for t in inputs])
    got = forward_and_grads(lambda *a: masked_diff(*a, impl=device), *inputs)
    ref = forward_and_grads(_same_dtype_reference, *inputs)
    assert got[0].dtype == torch.float32 and got[2].dtype == dtype
    for name, g, r, e in zip(['L_in', 'L_out', 'grad_x', 'grad_x1', 'grad_x2'], got, ref, exact):
        err_kernel = (g.double() - e).abs().max().item()
        err_ref = (r.double() - e).abs().max().item()
        assert err_kernel <= 2 * err_ref, f'{name}: kernel error {err_kernel:.3g} > 2 x same-dtype reference error {err_ref:.3g}'


def test_fp16_large_sums_do_not_overflow(kernels):
    # 3 x 256 x 256 squared differences of ~N(0, 2): the sum (~4e5) is far above the fp16 maximum (65504).
    x, x1, x2, mask = make_case((1, 1, 3, 256, 256, True, True, 1, 1), torch.float16)
    l_in, l_out = masked_diff(x, x1, x2, mask, impl='cpu')
    want_in, want_out = masked_diff_reference(*(t.double() for t in (x, x1, x2, mask)))
    assert torch.isfinite(l_in).all() and l_in.item() > 65504
    torch.testing.assert_close(l_in.double(), want_in, rtol=1e-5, atol=0)
    torch.testing.assert_close(l_out.double(), want_out, rtol=1e-5, atol=0)


@pytest.mark.parametrize('device', DEVICES)
def test_per_sample_independence(kernels, device):
    # Each sample's result must not depend on the rest of the batch (bit-for-bit: the kernels' summation order
    # within a sample depends only on that sample's size).
    x, x1, x2, mask = make_case((5, 2, 3, 70, 61, True, True, 5, 2), torch.float32, device)
    full = masked_diff(x, x1, x2, mask, impl=device)
    perm = torch.tensor([3, 0, 4, 1, 2], device=device)
    permuted = masked_diff(x[perm], x1[perm], x2[perm], mask[perm], impl=device)
    for b in range(5):
        alone = masked_diff(x[b:b + 1], x1[b:b + 1], x2[b:b + 1], mask[b:b + 1], impl=device)
        for f, a in zip(full, alone):
            assert torch.equal(f[b:b + 1], a)
    for f, p in zip(full, permuted):
        assert torch.equal(f[perm], p)


@pytest.mark.parametrize('device', DEVICES)
def test_non_contiguous_inputs(kernels, device):
    x, x1, x2, mask = make_case((2, 2, 3, 40, 30, True, True, 2, 2), torch.float32, device)
    x_cl = x.contiguous(memory_format=torch.channels_last)                       # permuted strides
    x1_t = x1.transpose(3, 4).contiguous().transpose(3, 4)                       # transposed storage
    x2_s = torch.cat([x2, x2], dim=4)[..., ::2]                                  # strided slice (values differ from x2)
    mask_e = mask[:1].expand(2, 2, 40, 30)                                       # zero batch stride
    assert not (x_cl.is_contiguous() or x1_t.is_contiguous() or x2_s.is_contiguous() or mask_e.is_contiguous())
    got = forward_and_grads(lambda *a: masked_diff(*a, impl=device), x_cl, x1_t, x2_s, mask_e)
    want = forward_and_grads(masked_diff_reference, x_cl.contiguous(), x1_t.contiguous(), x2_s.contiguous(), mask_e.contiguous())
    assert_all_close(got, want, torch.float32)


def test_mask_dtype_is_converted(kernels):
    x, x1, x2, mask = make_case(CASES['links-3'], torch.float64)
    for m in (mask.float(), (mask > 0.5)):
        assert_all_close(masked_diff(x, x1, x2, m, impl='cpu'), masked_diff_reference(x, x1, x2, m.double()), torch.float64)

#----------------------------------------------------------------------------
# Autograd contract.

def test_only_requested_gradients_are_computed(kernels):
    x, x1, x2, mask = make_case(CASES['links-3'], torch.float64)
    grads = []
    for fn in (lambda *a: masked_diff(*a, impl='cpu'), masked_diff_reference):
        x1g = x1.clone().requires_grad_(True)
        l_in, l_out = fn(x, x1g, x2, mask)
        grads += torch.autograd.grad(l_in.sum() + 3 * l_out.sum(), [x1g])
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-10, atol=1e-10)
    ones = torch.ones(2, 3, dtype=torch.float64)
    gx, gx1, gx2 = kernels['cpu'].masked_diff_bwd(ones, ones, x, [x1], [x2], mask, None, False, True, False)
    assert gx.numel() == 0 and gx2 == [] and [g.shape for g in gx1] == [x1.shape]


def test_cpu_gradient_buffers_are_reused_only_when_free(kernels):
    # The CPU backward keeps its gradient buffers (>= 1 MiB) in a pool (cuda_ops/grad_buffer_pool.h): a buffer
    # comes back only once nothing (tensor, view, .grad) holds the previous call's gradient.
    case = (4, 2, 3, 128, 128, True, True, 4, 2)           # x1 / x2: 1.5 MiB each, x: 768 KiB (not pooled)
    run = lambda inputs: forward_and_grads(lambda *a: masked_diff(*a, impl='cpu'), *inputs)
    first_inputs, second_inputs = make_case(case, seed=0), make_case(case, seed=1)

    kept = run(first_inputs)                                # Held: the next call must not write into these.
    kept_copy = [t.clone() for t in kept]
    view_of_gx2 = run(first_inputs)[4][1:]                   # Only a view of this call's grad_x2 survives.
    second = run(second_inputs)
    for k, c in zip(kept, kept_copy):
        assert torch.equal(k, c)
    assert second[3].data_ptr() not in (kept[3].data_ptr(), kept[4].data_ptr())
    assert view_of_gx2.untyped_storage().data_ptr() not in (second[3].data_ptr(), second[4].data_ptr())
    want = forward_and_grads(masked_diff_reference, *second_inputs)
    assert_all_close(second, want)

    # Once released, the same buffers serve the next call, and the results are still right.
    ptrs = {second[3].data_ptr(), second[4].data_ptr()}
    del second
    again = run(second_inputs)
    assert {again[3].data_ptr(), again[4].data_ptr()} == ptrs
    assert_all_close(again, want)


def test_double_backward_raises_clearly(kernels):
    x, x1, x2, mask = make_case(CASES['odd-7x13'], torch.float64)
    x.requires_grad_(True)
    l_in, l_out = masked_diff(x, x1, x2, mask, impl='cpu')
    (gx,) = torch.autograd.grad(l_in.sum() + l_out.sum(), [x], create_graph=True)
    with pytest.raises(RuntimeError, match='double backward'):
        gx.square().sum().backward()


def test_mask_requiring_grad(kernels):
    x, x1, x2, mask = make_case(CASES['links-3'], torch.float64)
    mask.requires_grad_(True)
    with pytest.raises(ValueError, match='mask requires grad'):
        masked_diff(x, x1, x2, mask, impl='cpu')
    # 'auto' takes the reference, which differentiates the mask.
    assert select_impl(x, mask, 'auto')[0] == 'ref'
    l_in, _ = masked_diff(x, x1, x2, mask)
    (gm,) = torch.autograd.grad(l_in.sum(), [mask])
    torch.testing.assert_close(gm, (x2 - x.unsqueeze(1)).square().sum(dim=2))
    with torch.no_grad():  # Without autograd the mask's flag does not matter: the kernel runs.
        assert select_impl(x, mask, 'cpu')[0] == 'cpu'

#----------------------------------------------------------------------------
# Errors that name the argument, in Python and in C++.

@pytest.mark.parametrize('arg, shape, match', [
    ('x1', (2, 3, 3, 9, 10), 'x1 must be'),
    ('x2', (2, 3, 4, 9, 11), 'x2 must be'),
    ('mask', (2, 3, 9, 10), 'mask must be'),
    ('mask', (2, 2, 9, 11), 'disagree on the number of links'),
])
def test_python_errors_name_the_argument(arg, shape, match):
    x, x1, x2, mask = make_case(CASES['shared-x1-x2'], torch.float32)
    x1 = x1.unsqueeze(1).expand(2, 3, 3, 9, 11)
    args = dict(x=x, x1=x1, x2=x2, mask=mask)
    args[arg] = torch.zeros(shape)
    with pytest.raises(ValueError, match=match):
        masked_diff(**args, impl='cpu')


def test_cpp_checks_name_the_tensor(kernels):
    ops = kernels['cpu']
    x, x1, x2, mask = make_case(CASES['links-3'], torch.float32)
    with pytest.raises(RuntimeError, match='mask_in must be Float'):
        ops.masked_diff_fwd(x, [x1], [x2], mask.double(), None)
    with pytest.raises(RuntimeError, match='mask_out must be'):
        ops.masked_diff_fwd(x, [x1], [x2], mask, mask[:, :, :3])
    with pytest.raises(RuntimeError, match='x2 must be'):
        ops.masked_diff_fwd(x, [x1], [x2[:, :, :2]], mask, None)
    with pytest.raises(RuntimeError, match='each sample of x1 must be dense'):
        ops.masked_diff_fwd(x, [x1.transpose(3, 4).contiguous().transpose(3, 4)], [x2], mask, None)
    with pytest.raises(RuntimeError, match='grad_out must be'):
        ops.masked_diff_bwd(torch.ones(2, 3), torch.ones(2, 2), x, [x1], [x2], mask, None, True, True, True)
    with pytest.raises(RuntimeError, match='x must be float32, float64, float16 or bfloat16'):
        ops.masked_diff_fwd(x.int(), [x1.int()], [x2.int()], mask, None)


def test_impl_argument_is_validated():
    x, x1, x2, mask = make_case(CASES['odd-7x13'])
    with pytest.raises(ValueError, match='impl must be one of'):
        masked_diff(x, x1, x2, mask, impl='fused')
    with pytest.raises(ValueError, match="impl='cuda' needs cuda tensors"):
        masked_diff(x, x1, x2, mask, impl='cuda')
    with pytest.raises(ValueError, match='must be one of'):
        masked_diff(x.int(), x1.int(), x2.int(), mask, impl='cpu')
    # Integer images are not a kernel dtype: 'auto' takes the reference.
    assert select_impl(x.int(), mask, 'auto')[0] == 'ref'

#----------------------------------------------------------------------------
# The LINKGAN_KERNEL switch.

def _path_taken(x, x1, x2, mask, impl='auto'):
    """Which implementation produced the result: the kernels' outputs carry their own autograd node."""
    x = x.detach().requires_grad_(True)
    l_in, _ = masked_diff(x, x1, x2, mask, impl=impl)
    return 'kernel' if type(l_in.grad_fn).__name__ == '_MaskedDiffBackward' else 'ref'


def test_environment_switch(kernels, monkeypatch):
    x, x1, x2, mask = make_case(CASES['links-3'])
    monkeypatch.delenv('LINKGAN_KERNEL', raising=False)
    assert _path_taken(x, x1, x2, mask) == 'kernel'
    monkeypatch.setenv('LINKGAN_KERNEL', 'ref')
    assert _path_taken(x, x1, x2, mask) == 'ref'
    assert select_impl(x, mask)[1] == 'LINKGAN_KERNEL=ref asks for the PyTorch reference'
    assert _path_taken(x, x1, x2, mask, impl='cpu') == 'kernel'  # An explicit argument wins over the environment.
    monkeypatch.setenv('LINKGAN_KERNEL', 'cpu')
    assert _path_taken(x, x1, x2, mask) == 'kernel'
    assert _path_taken(x, x1, x2, mask, impl='ref') == 'ref'
    monkeypatch.setenv('LINKGAN_KERNEL', 'cuda')
    with pytest.raises(ValueError, match='LINKGAN_KERNEL=cuda needs cuda tensors'):
        masked_diff(x, x1, x2, mask)
    monkeypatch.setenv('LINKGAN_KERNEL', 'fast')
    with pytest.raises(ValueError, match='LINKGAN_KERNEL must be one of'):
        masked_diff(x, x1, x2, mask)


def test_fake_tensor_shapes_for_tracing(kernels):
    # torch.compile traces through the ops with FakeTensors: the registered shape functions must agree with
    # the real kernels.
    from torch._subclasses.fake_tensor import FakeTensorMode
    x, x1, x2, mask = make_case(CASES['mask-over-links'], torch.float32)
    x2 = [t.unsqueeze(1) for t in x2.unbind(1)]         # A list of one-link tensors, as the regularizer passes.
    flat = lambda out: [out[0], *out[1], *out[2]] if len(out) == 3 else list(out)  # noqa: E731
    real = kernels['cpu'].masked_diff_fwd(x, [x1], x2, mask, mask)
    real_grads = kernels['cpu'].masked_diff_bwd(*real, x, [x1], x2, mask, mask, True, False, True)
    with FakeTensorMode() as mode:
        fx, fx1, fmask = (mode.from_tensor(t) for t in (x, x1, mask))
        fx2 = [mode.from_tensor(t) for t in x2]
        fake = kernels['cpu'].masked_diff_fwd(fx, [fx1], fx2, fmask, fmask)
        fake_grads = kernels['cpu'].masked_diff_bwd(*fake, fx, [fx1], fx2, fmask, fmask, True, False, True)
    assert len(flat(real_grads)) == len(flat(fake_grads)) == 1 + len(x2)
    for r, f in zip(flat(real) + flat(real_grads), flat(fake) + flat(fake_grads)):
        assert r.shape == f.shape and r.dtype == f.dtype
