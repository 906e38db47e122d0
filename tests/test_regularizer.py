"""The regularizer maths against hand-computed values and analytic generators."""

import pytest
import torch

from linkgan_plugin.regularizer import BoundSpec, link_penalty, perturbation_offsets
from linkgan_plugin.render import render_variants
from linkgan_plugin.spec import load_spec
from toy_checkpoints import recording

W_DIM = 4
LEFT_RIGHT = {'links': [{'name': 'left', 'axes': '0:2', 'region': {'box': [0, 0, 0.5, 1]}}]}


def bound_of(data, w_dim=W_DIM):
    return BoundSpec(load_spec(data), w_dim)


class AnalyticGenerator:
    """[N, num_ws, 4] -> [N, 1, 2, 2]: the left column depends on axes 0-1 only, the right column on axes 2-3.
    With `leak`, the right column also sees axis 0."""

    def __init__(self, leak=0.0, noise=0.0):
        self.leak, self.noise = leak, noise

    def __call__(self, ws):
        w = ws[:, 0]
        left = (w[:, 0] * 2 + w[:, 1].square())[:, None]
        right = (w[:, 2] - 3 * w[:, 3] + self.leak * w[:, 0])[:, None]
        img = torch.stack([torch.cat([left, right], 1), torch.cat([left, right], 1)], 1)[:, None]
        if self.noise:
            img = img + self.noise * torch.randn_like(img)  # A noise input: must cancel between renders.
        return img


def test_hand_computed_value():
    bound = bound_of({**LEFT_RIGHT, 'reduction': 'sum', 'lambda_in': 2.0, 'lambda_out': 0.5, 'alpha': 0.5})
    A = torch.arange(16, dtype=torch.float32).reshape(4, 4) / 10
    synth = lambda ws: (ws[:, 0] @ A).reshape(-1, 1, 2, 2)
    w = torch.tensor([[1.0, -1.0, 0.5, 2.0]])
    p = torch.tensor([[[1.0, 2.0, -1.0, 0.5]]])
    terms = link_penalty(synth, w[:, None].repeat(1, 3, 1), bound, noise=p)
    # By hand: x1 perturbs axes 0-1 by 0.5 * p, x2 perturbs axes 2-3 by 0.5 * p.
    d1 = (torch.tensor([0.5, 1.0, 0, 0]) @ A).reshape(2, 2)
    d2 = (torch.tensor([0, 0, -0.5, 0.25]) @ A).reshape(2, 2)
    l_in = d2[:, 0].square().sum()     # Region = left column.
    l_out = d1[:, 1].square().sum()
    assert terms.l_in['image'].item() == pytest.approx(l_in.item(), rel=1e-5)
    assert terms.l_out['image'].item() == pytest.approx(l_out.item(), rel=1e-5)
    assert terms.loss.item() == pytest.approx(2.0 * l_in.item() + 0.5 * l_out.item(), rel=1e-5)


def test_mean_reduction_divides_by_all_values():
    ws = torch.randn(3, 2, W_DIM)
    p = torch.randn(3, 1, W_DIM)
    g = AnalyticGenerator(leak=1.0)
    s = link_penalty(g, ws, bound_of({**LEFT_RIGHT, 'reduction': 'sum'}), noise=p)
    m = link_penalty(g, ws, bound_of({**LEFT_RIGHT, 'reduction': 'mean'}), noise=p)
    assert torch.allclose(m.loss * 4, s.loss)


@pytest.mark.parametrize('channels', [1, 3])
def test_mean_reduction_divides_each_output_by_its_channels_and_pixels(channels):
    # EG3D-like dict outputs of different channel counts and sizes: 'mean' divides each output's masked sums by
    # its own C*H*W, so an RGB output and a one-channel depth map weigh alike per value.
    def synth(ws):
        img = AnalyticGenerator(leak=1.0)(ws)
        colours = torch.linspace(0.5, 1.5, channels).view(1, channels, 1, 1)
        return {'image': (img * colours).repeat_interleave(2, -1).repeat_interleave(2, -2), 'image_depth': img}
    ws, p = torch.randn(3, 2, W_DIM), torch.randn(3, 1, W_DIM)
    s = link_penalty(synth, ws, bound_of({**LEFT_RIGHT, 'reduction': 'sum'}), noise=p)
    m = link_penalty(synth, ws, bound_of({**LEFT_RIGHT, 'reduction': 'mean'}), noise=p)
    for key, values in (('image', channels * 4 * 4), ('image_depth', 1 * 2 * 2)):
        assert torch.allclose(m.l_in[key] * values, s.l_in[key]), key
        assert torch.allclose(m.l_out[key] * values, s.l_out[key]), key


def test_linked_generator_has_zero_penalty_and_unlinked_does_not():
    ws = torch.randn(8, 3, W_DIM)
    bound = bound_of(LEFT_RIGHT)
    assert link_penalty(AnalyticGenerator(), ws, bound).loss.abs().max().item() == 0
    leaky = link_penalty(AnalyticGenerator(leak=1.0), ws, bound)
    assert (leaky.loss > 0).all()
    assert leaky.l_in['image'].abs().max() == 0          # The left column still ignores axes 2-3 ...
    assert (leaky.l_out['image'] > 0).all()              # ... but axis 0 leaks into the right column.


def test_generator_noise_cancels_between_renders():
    torch.manual_seed(1)
    ws = torch.randn(4, 2, W_DIM)
    terms = link_penalty(AnalyticGenerator(noise=0.3), ws, bound_of(LEFT_RIGHT))
    assert terms.loss.abs().max().item() < 1e-10


def test_same_offset_on_every_ws_row():
    seen, synth = recording(lambda ws: ws[:, :1, :, None].expand(-1, 1, W_DIM, 2).reshape(-1, 1, W_DIM, 2))
    ws = torch.randn(2, 5, W_DIM)
    bound = bound_of(LEFT_RIGHT)
    d1, d2 = perturbation_offsets(torch.randn(2, 1, W_DIM), bound, 1.0)
    render_variants(synth, ws, [d1[:, 0], d2[:, 0]])
    for variant in seen[1:]:
        delta = variant - ws
        assert torch.allclose(delta, delta[:, :1].expand_as(delta))
    assert torch.equal((seen[1] - ws)[:, 0, 2:], torch.zeros(2, 2))   # x1 touches the linked axes only
    assert torch.equal((seen[2] - ws)[:, 0, :2], torch.zeros(2, 2))   # x2 touches the complement only


def test_batch_penalty_is_mean_of_single_sample_penalties():
    torch.manual_seed(0)
    A = torch.randn(W_DIM, 16)
    synth = lambda ws: torch.tanh(ws.mean(1) @ A).reshape(-1, 1, 4, 4)
    bound = bound_of({'links': [{'name': 'a', 'axes': '0:1', 'region': {'box': [0, 0, 0.5, 0.5]}},
                                {'name': 'b', 'axes': '1:3', 'region': {'box': [0.5, 0.25, 1, 1]}}]})
    ws, p = torch.randn(5, 2, W_DIM), torch.randn(5, 2, W_DIM)
    batch = link_penalty(synth, ws, bound, noise=p).loss
    singles = torch.cat([link_penalty(synth, ws[i:i + 1], bound, noise=p[i:i + 1]).loss for i in range(5)])
    assert torch.allclose(batch, singles, rtol=1e-5, atol=1e-7)
    assert batch.mean().item() == pytest.approx(singles.mean().item(), rel=1e-5)


def test_gradient_flows_to_the_generator_only_through_images():
    A = torch.randn(W_DIM, 4, requires_grad=True)
    synth = lambda ws: (ws[:, 0] @ A).reshape(-1, 1, 2, 2)
    link_penalty(synth, torch.randn(3, 1, W_DIM), bound_of(LEFT_RIGHT)).loss.mean().backward()
    assert A.grad is not None and torch.isfinite(A.grad).all() and A.grad.abs().sum() > 0


def test_dict_outputs_mask_each_target_at_its_resolution():
    def synth(ws):
        img = AnalyticGenerator(leak=1.0)(ws)
        return {'image': img.repeat(1, 1, 2, 2).repeat_interleave(1, 0), 'image_raw': img, 'image_depth': img[:, :1]}
    ws, p = torch.randn(2, 1, W_DIM), torch.randn(2, 1, W_DIM)
    bound = bound_of(LEFT_RIGHT)
    both = link_penalty(synth, ws, bound, targets=['image', 'image_raw'], noise=p)
    raw = link_penalty(synth, ws, bound, targets=['image_raw'], noise=p)
    assert set(both.l_in) == {'image', 'image_raw'}
    assert torch.allclose(both.l_out['image_raw'], raw.l_out['image_raw'])
    with pytest.raises(KeyError, match='normals'):
        link_penalty(synth, ws, bound, targets=['normals'])


def test_semantic_modes(tmp_path):
    (tmp_path / 'seg.py').write_text(
        'import torch\ndef segment(x):\n    return (x[:, 0] > 0).long()\n')
    def synth(ws):  # Every pixel is "class 1" when w0 > 0; image = w0 everywhere.
        return ws[:, 0, :1, None, None].expand(-1, 1, 2, 2).repeat(1, 3, 1, 1)
    ws = torch.tensor([[[-0.5, 0.0, 0.0, 0.0]]])
    data = lambda mode: {'links': [{'name': 's', 'axes': '0:2', 'region': {'segmenter': str(tmp_path / 'seg.py') + ':segment',
                                                                          'classes': [1], 'mode': mode}}], 'reduction': 'sum'}
    # Linked perturbation: w0 -> 0.5, so class 1 everywhere; the complement perturbation (axis 0 of p is 0
    # outside the link) changes nothing.
    p_linked = torch.tensor([[[1.0, 0.0, 0.0, 0.0]]])
    src = link_penalty(synth, ws, bound_of(data('source')), noise=p_linked)
    uni = link_penalty(synth, ws, bound_of(data('union')), noise=p_linked)
    mean = link_penalty(synth, ws, bound_of(data('mean')), noise=p_linked)
    # Source mask is empty (w0 < 0), so all change counts as outside; union with the perturbed mask covers all.
    assert src.l_out['image'].item() == pytest.approx(12.0)
    assert uni.l_out['image'].item() == pytest.approx(0.0)
    assert mean.l_out['image'].item() == pytest.approx(6.0)
    assert src.l_in['image'].item() == 0


def test_the_call_site_reads_renders_in_place_in_one_call_per_output(tmp_path, monkeypatch):
    # EG3D-like outputs: 'image' contiguous, 'image_raw' a channel slice of a feature render; a semantic 'union'
    # link, whose L_out mask differs from its L_in mask. The link term must not stack (copy) the renders, must not
    # copy the slice, and must make one forward and one backward op call per output, with L_out's mask in it.
    from test_ops_layouts import OpLog
    monkeypatch.delenv('LINKGAN_KERNEL', raising=False)
    (tmp_path / 'seg.py').write_text('def segment(x):\n    return (x[:, 0] > 0).long()\n')
    A = torch.randn(W_DIM, 4 * 6 * 5, dtype=torch.float64, requires_grad=True)

    def synth(ws):
        feat = (ws[:, 0] @ A).reshape(-1, 4, 6, 5)
        return {'image': feat[:, 1:] * 2, 'image_raw': feat[:, :3]}
    spec = {'links': [{'name': 'l', 'axes': '0:2', 'region': {'box': [0, 0, 0.5, 1]}},
                      {'name': 's', 'axes': '2:3', 'region': {'segmenter': f'{tmp_path}/seg.py:segment', 'classes': [1],
                                                             'mode': 'union'}}]}
    ws, p = torch.randn(3, 1, W_DIM, dtype=torch.float64), torch.randn(3, 2, W_DIM, dtype=torch.float64)
    with OpLog() as log:
        terms = link_penalty(synth, ws, bound_of(spec), targets=['image', 'image_raw'], noise=p)
        terms.loss.sum().backward()
    names = [name for name, _ in log.calls]
    assert names.count('masked_diff_fwd') == names.count('masked_diff_bwd') == 2
    tensors = lambda arg: [t for t in (arg if isinstance(arg, (list, tuple)) else [arg]) if torch.is_tensor(t)]  # noqa: E731
    renders = [name for name, args in log.calls if name in ('stack', 'cat', 'clone', 'contiguous', 'copy_')
               and any(t.ndim == 4 and t.shape[0] == 3 for t in tensors(args[0]))]
    assert renders == []                # (RegionMasks stacks its fixed [H, W] masks once: not renders.)
    for args in log.args_of('masked_diff_fwd'):
        x, x1, x2, mask_in, mask_out = args
        assert len(x1) == len(x2) == 2 and mask_out is not None and not torch.equal(mask_in, mask_out)
    with monkeypatch.context() as m:
        m.setenv('LINKGAN_KERNEL', 'ref')
        A.grad, kernel_grad = None, A.grad.clone()
        want = link_penalty(synth, ws, bound_of(spec), targets=['image', 'image_raw'], noise=p)
        want.loss.sum().backward()
    assert torch.allclose(terms.loss, want.loss, rtol=1e-12) and torch.allclose(kernel_grad, A.grad, rtol=1e-10)
