"""LinkLoss on the toy networks of every upstream flavour: phases, schedule, gain, D feeding, stats, the kernel path
recorded, errors. The README's promises about the link pass (RNG replay, EMAs, style mixing, EG3D's camera) are in
test_link_pass_promises.py."""

import json

import pytest
import torch

from linkgan_plugin import loss as loss_module
from linkgan_plugin.loss import LinkLoss
from linkgan_plugin.regularizer import link_penalty
from linkgan_plugin.checks import SpecError
from linkgan_plugin.toy.losses import TOY_LOSSES
from linkgan_plugin.upstream.cameras import frontal_camera, random_cameras
from linkgan_plugin.toy.networks import make_toy_networks
from linkgan_plugin.upstream import stats

SPEC = {'links': [{'name': 'tl', 'axes': '0:8', 'region': {'box': [0, 0, 0.5, 0.5]}},
                  {'name': 'br', 'axes': '8:24', 'region': {'box': [0.5, 0.5, 1, 1]}}], 'interval': 2}
SMALL = dict(w_dim=32, z_dim=16, img_resolution=16, channels=8, mapping_layers=2)


class NullBase:
    """A base loss that adds nothing, with the sg3 contract (records its calls)."""

    def __init__(self, device, G, D, augment_pipe=None, **kwargs):
        self.G, self.D, self.calls = G, D, []

    def run_D(self, img, c, blur_sigma=0, update_emas=False):
        return self.D(img, c)

    def accumulate_gradients(self, phase, real_img, real_c, gen_z, gen_c, gain, cur_nimg):
        self.calls.append((phase, gain, cur_nimg))


def make(flavour, spec=SPEC, base=None, **kwargs):
    G, D = make_toy_networks(flavour, **SMALL)
    G.requires_grad_(False)  # As upstream: only the module of the running phase requires grad.
    D.requires_grad_(False)
    nets = dict(G_mapping=G.mapping, G_synthesis=G.synthesis) if flavour == 'sg2ada' else dict(G=G)
    if flavour == 'eg3d':
        kwargs.setdefault('neural_rendering_resolution_initial', 8)
    loss = LinkLoss(device='cpu', D=D, spec=spec, base=base or TOY_LOSSES[flavour], **nets, **kwargs)
    return G, D, loss


def batch_for(G, flavour, n=4):
    c = random_cameras(n) if flavour == 'eg3d' else torch.zeros(n, G.c_dim)
    return dict(real_img=torch.rand(n, 3, 16, 16) * 2 - 1, real_c=c, gen_z=torch.randn(n, G.z_dim), gen_c=c)


def call(loss, flavour, phase, batch, it, gain=1, sync=True):
    G_nets = [m for m in (loss.flavour.G, loss.flavour.G_mapping, loss.flavour.G_synthesis) if m is not None]
    for m in G_nets:
        m.requires_grad_(phase[0] == 'G')     # As upstream: only the running phase's module requires grad.
    loss.flavour.D.requires_grad_(phase[0] == 'D')
    if flavour == 'sg2ada':
        loss.accumulate_gradients(phase=phase, **batch, sync=sync, gain=gain)
    else:
        loss.accumulate_gradients(phase=phase, **batch, gain=gain, cur_nimg=it * 4)


@pytest.mark.parametrize('flavour', ['sg2ada', 'sg3', 'eg3d'])
@pytest.mark.parametrize('phase', ['Gmain', 'Greg', 'Gboth', 'Dmain', 'Dreg', 'Dboth'])
def test_every_phase_of_every_flavour(flavour, phase):
    kwargs = {'pl_weight': 2} if flavour != 'eg3d' else {}
    G, D, loss = make(flavour, **kwargs)
    module = G if phase[0] == 'G' else D
    module.requires_grad_(True)
    batch = batch_for(G, flavour)
    if phase[0] == 'D':  # A link iteration's G phase first, so perturbed fakes are waiting for D.
        G.requires_grad_(True)
        call(loss, flavour, 'Gmain', batch, 0)
        G.zero_grad(set_to_none=True)
        G.requires_grad_(False)
    call(loss, flavour, phase, batch, 0)
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    other = D if module is G else G
    assert all(p.grad is None for p in other.parameters())
    if phase[0] == 'G':
        assert loss.link_steps == 1 and stats.latest['Loss/link/in'] > 0 and stats.latest['Loss/link/out'] > 0


@pytest.mark.parametrize('flavour', ['sg2ada', 'sg3'])
def test_link_term_every_interval_iterations_scaled_by_it(flavour):
    spec = dict(SPEC, interval=3, fake_to_D=False, batch_shrink=1)
    G, D, loss = make(flavour, spec=spec, base=NullBase if flavour == 'sg3' else None, pl_weight=0, style_mixing_prob=0, r1_gamma=0)
    applied = []
    original = loss._accumulate_link
    loss._accumulate_link = lambda *a: (applied.append((loss.iteration, loss._last_phase)), original(*a))
    batch = batch_for(G, flavour)
    for it in range(7):
        for phase in ('Gmain', 'Greg', 'Dmain') if it % 2 == 0 else ('Gmain', 'Dmain'):
            call(loss, flavour, phase, batch, it)
    assert applied == [(0, 'Gmain'), (3, 'Gmain'), (6, 'Gmain')]
    assert loss.link_steps == 3

    # The gradient at a link iteration is `interval` times the gradient of the mean penalty.
    loss.iteration = -1
    loss._last_phase = None
    G.requires_grad_(True)
    torch.manual_seed(5)
    G.zero_grad(set_to_none=True)
    if flavour == 'sg3':
        call(loss, flavour, 'Gmain', batch, 100)
    else:
        loss._accumulate_link(batch['gen_z'], batch['gen_c'], True, None)
    g_loss = [p.grad.clone() for p in G.parameters()]
    torch.manual_seed(5)
    G.zero_grad(set_to_none=True)
    ws = loss.flavour.map(batch['gen_z'], batch['gen_c'], True)
    noise = torch.randn(4, 2, 32)
    synth = loss.flavour.synthesizer(batch['gen_c'], 0, True)
    link_penalty(synth, ws, loss.bound, noise=noise).loss.mean().backward()
    got = torch.cat([a.flatten() for a in g_loss])
    want = 3 * torch.cat([p.grad.flatten() for p in G.parameters()])
    assert want.abs().max() > 0
    assert torch.allclose(got, want, rtol=1e-4, atol=1e-5 * want.abs().max().item())


def test_gboth_only_schedule_and_greg_remapped_away():
    # stylegan3-t: phases Gboth, Dmain, Dreg; eg3d with density_reg=0 remaps Greg to nothing.
    G, D, loss = make('sg3', spec=dict(SPEC, interval=1), pl_weight=0)
    batch = batch_for(G, 'sg3')
    G.requires_grad_(True)
    for it in range(3):
        for phase in ('Gboth', 'Dmain', 'Dreg'):
            call(loss, 'sg3', phase, batch, it)
    assert loss.link_steps == 3
    G, D, loss = make('eg3d', spec=dict(SPEC, interval=1))
    G.rendering_kwargs['density_reg'] = 0
    batch = batch_for(G, 'eg3d')
    for it in range(2):
        for phase in ('Gmain', 'Greg', 'Dmain', 'Dreg'):
            call(loss, 'eg3d', phase, batch, it)
    assert loss.link_steps == 2


@pytest.mark.parametrize('flavour', ['sg2ada', 'eg3d'])
def test_perturbed_fakes_reach_D_at_link_steps_only(flavour):
    G, D, loss = make(flavour, spec=dict(SPEC, interval=2, batch_shrink=2), pl_weight=0, r1_gamma=0)
    seen = []
    forward = D.forward
    def spy(img, c, **kw):
        seen.append(img['image'].shape[0] if isinstance(img, dict) else img.shape[0])
        return forward(img, c, **kw)
    D.forward = spy
    batch = batch_for(G, flavour)
    per_iteration = []
    for it in range(4):
        for phase in ('Gmain', 'Dmain'):
            seen.clear()
            call(loss, flavour, phase, batch, it)
            per_iteration.append((it, phase, list(seen)))
    # Link iterations (0, 2): the link pass renders 2 samples (batch_shrink 2), but G's adversarial term and D's
    # fake loss see 4 perturbed fakes, as many as D's regular fake batches: the toy D's minibatch-stddev layer
    # (group size 4, as upstream's) would otherwise average groups of 2 for perturbed fakes and of 4 for the
    # others, and tell them apart by that feature alone.
    assert per_iteration[0] == (0, 'Gmain', [4, 4])
    assert per_iteration[1] == (0, 'Dmain', [4, 4, 4])
    assert per_iteration[2] == (1, 'Gmain', [4])
    assert per_iteration[3] == (1, 'Dmain', [4, 4])
    assert per_iteration[5][2] == [4, 4, 4]


def test_fake_to_D_off_adds_no_D_pass():
    G, D, loss = make('sg3', spec=dict(SPEC, fake_to_D=False), base=NullBase)
    calls = []
    D.forward = lambda *a, **k: calls.append(1)
    batch = batch_for(G, 'sg3')
    call(loss, 'sg3', 'Gmain', batch, 0)
    call(loss, 'sg3', 'Dmain', batch, 0)
    assert calls == []


@pytest.mark.parametrize('flavour', ['sg2ada', 'sg3', 'eg3d'])
def test_the_masked_diff_path_is_reported_every_pass_and_logged_once(flavour, monkeypatch, capsys):
    # Every published figure must say what produced it: the statistic Linkgan/masked_diff/<path> (stats.jsonl)
    # at every link pass, and one log line per path and reason in the process, however many LinkLoss it makes.
    monkeypatch.delenv('LINKGAN_KERNEL', raising=False)
    monkeypatch.setattr(loss_module, '_paths_logged', set())        # As in a fresh process.
    G, D, loss = make(flavour, spec=dict(SPEC, interval=1, fake_to_D=False), pl_weight=0)
    batch = batch_for(G, flavour)
    lines = []
    for it, kernel in enumerate(['', '', 'ref', 'ref']):
        if it == 1:
            G, D, loss = make(flavour, spec=dict(SPEC, interval=1, fake_to_D=False), pl_weight=0)   # Another LinkLoss.
        if kernel:
            monkeypatch.setenv('LINKGAN_KERNEL', kernel)
        stats.latest.clear()
        call(loss, flavour, 'Gmain', batch, it)
        assert [name for name in stats.latest if name.startswith('Linkgan/')] == \
            [f'Linkgan/masked_diff/{kernel or "cpu"}'], it
        assert stats.latest[f'Linkgan/masked_diff/{kernel or "cpu"}'] == 1
        lines += [line for line in capsys.readouterr().out.splitlines() if 'masked differences run on' in line]
    assert lines == ["linkgan: the link term's masked differences run on the fused cpu kernel (cpu tensors; tensors are on cpu)",
                     "linkgan: the link term's masked differences run on the PyTorch reference (cpu tensors; "
                     "LINKGAN_KERNEL=ref asks for the PyTorch reference)"]


def test_stats_per_link_and_totals():
    G, D, loss = make('sg3', base=NullBase)
    call(loss, 'sg3', 'Gmain', batch_for(G, 'sg3'), 0)
    for name in ('Loss/link/in', 'Loss/link/out', 'Loss/link/tl/in', 'Loss/link/tl/out', 'Loss/link/br/in', 'Loss/link/br/out'):
        assert stats.latest[name] > 0, name
    assert stats.latest['Loss/link/in'] == pytest.approx(stats.latest['Loss/link/tl/in'] + stats.latest['Loss/link/br/in'], rel=1e-5)


def test_alpha_mode_w_std_uses_the_per_axis_std():
    G, D, loss = make('sg3', spec=dict(SPEC, alpha_mode='w_std'), base=NullBase)
    call(loss, 'sg3', 'Gmain', batch_for(G, 'sg3'), 0)
    assert loss._alpha_scale.shape == (32,) and (loss._alpha_scale > 0).all()


def test_spec_as_path_inline_and_errors(tmp_path):
    path = tmp_path / 'spec.json'
    path.write_text(json.dumps(SPEC))
    assert make('sg3', spec=str(path), base=NullBase)[2].spec.names == ['tl', 'br']
    G, D = make_toy_networks('sg3', **SMALL)
    inline = LinkLoss('cpu', G=G, D=D, base=NullBase, links=SPEC['links'], interval=4)
    assert inline.spec.interval == 4
    with pytest.raises(SpecError, match='needs a link spec'):
        LinkLoss('cpu', G=G, D=D, base=NullBase)
    with pytest.raises(SpecError, match='out of range for w_dim=32'):
        LinkLoss('cpu', G=G, D=D, base=NullBase, links=[{'name': 'a', 'axes': '30:40', 'region': 'eyes'}])
    with pytest.raises(ImportError, match='cannot import base loss .training.loss.StyleGAN2Loss.'):
        LinkLoss('cpu', G=G, D=D, spec=SPEC)
    with pytest.raises(TypeError, match='unexpected'):
        LinkLoss('cpu', G=G, D=D, spec=SPEC, base=TOY_LOSSES['sg3'], no_such_kwarg=1)


def test_base_is_delegated():
    G, D, loss = make('sg2ada', pl_weight=3)
    assert loss.pl_weight == 3 and loss.pl_mean is loss.base.pl_mean
    img, ws = loss.run_G(torch.randn(2, G.z_dim), torch.zeros(2, 0), sync=True)
    assert img.shape == (2, 3, 16, 16)


def test_eg3d_flavour_reads_the_layout_from_G_not_from_its_mapping_method():
    G, D, loss = make('eg3d', spec=dict(SPEC, alpha_mode='w_std'), base=None)
    assert not isinstance(G.mapping, torch.nn.Module)      # As EG3D's TriPlaneGenerator.
    assert (loss.flavour.z_dim, loss.flavour.w_dim) == (16, 32)
    call(loss, 'eg3d', 'Gmain', batch_for(G, 'eg3d'), 0)
    assert loss._alpha_scale.shape == (32,)


@pytest.mark.parametrize('targets', [['image'], ['image', 'image_raw'], ['image', 'image_raw', 'image_depth']])
def test_eg3d_link_term_masks_every_output_the_spec_names(targets, monkeypatch):
    # The link term's L_in / L_out sum over the spec's eg3d_targets: each added output adds its own masked terms.
    from linkgan_plugin import regularizer
    seen = []
    real_terms = regularizer.link_terms

    def spy(masks, spec, x, variants, targets=None, primary='image'):
        result = real_terms(masks, spec, x, variants, targets, primary)
        seen.append(sorted(result.l_in))
        return result
    G, D, loss = make('eg3d', spec=dict(SPEC, interval=1, eg3d_targets=targets, fake_to_D=False), base=NullBase)
    monkeypatch.setattr(regularizer, 'link_terms', spy)
    call(loss, 'eg3d', 'Gmain', batch_for(G, 'eg3d'), 0)
    assert seen and all(keys == sorted(targets) for keys in seen), seen


def test_sg3_link_fakes_reach_D_with_the_base_loss_blur_schedule():
    # StyleGAN3's D sees blurred images early in training (blur_init_sigma fading over blur_fade_kimg); the link
    # pass's perturbed fakes must be blurred as the base loss blurs its own fakes at the same cur_nimg.
    class BlurBase(NullBase):
        blur_init_sigma, blur_fade_kimg = 10.0, 1.0

        def run_D(self, img, c, blur_sigma=0, update_emas=False):
            sigmas.append(blur_sigma)
            return self.D(img, c)
    sigmas = []
    G, D, loss = make('sg3', spec=dict(SPEC, interval=1), base=BlurBase)
    batch = batch_for(G, 'sg3')
    for nimg, expected in ((0, 10.0), (500, 5.0), (2000, 0.0)):
        sigmas.clear()
        G.requires_grad_(True)
        loss.accumulate_gradients(phase='Gmain', **batch, gain=1, cur_nimg=nimg)
        assert sigmas and all(s == pytest.approx(expected) for s in sigmas), (nimg, sigmas)
