"""The README's promises about the link pass, on the toy networks of every flavour and with both link passes:

- every render of a sample replays the same random numbers (noise inputs, EG3D's ray jitter), so they cancel;
- EMAs such as `w_avg` (every buffer of G and D) never move in the link pass;
- style mixing is off in the link pass, and one offset goes to every `num_ws` row (all rows of a render's ws equal);
- EG3D's link pass renders from the camera `eg3d_camera` names ('frontal' or the batch's 'sampled' ones);
  the sg2ada and sg3 toys have no camera (their labels are not cameras), so that promise is EG3D's alone.
Each test watches only the link pass (LinkLoss._accumulate_link): the base loss runs as upstream's would, style
mixing and EMA updates included, and the tests check it did mix, so they can tell the two apart.
"""

import pytest
import torch

from linkgan_plugin.loss import LinkLoss
from linkgan_plugin.toy.losses import TOY_LOSSES
from linkgan_plugin.toy.networks import make_toy_networks
from linkgan_plugin.upstream import stats
from linkgan_plugin.upstream.cameras import frontal_camera, random_cameras

pytestmark = pytest.mark.usefixtures('one_thread')

SMALL = dict(w_dim=32, z_dim=16, img_resolution=16, channels=8, mapping_layers=2)
SPEC = {'links': [{'name': 'tl', 'axes': '0:8', 'region': {'box': [0, 0, 0.5, 0.5]}},
                  {'name': 'br', 'axes': '8:24', 'region': {'box': [0.5, 0.5, 1, 1]}}], 'interval': 1}
FLAVOURS = ['sg2ada', 'sg3', 'eg3d']
PASSES = ['batched', 'per_link']


class StillLinkLoss(LinkLoss):
    """Perturbation directions of zero: every render of a sample then has the same w, so renders differ only if
    their random numbers do."""

    def link_noise(self, z):
        return torch.zeros(z.shape[0], self.bound.num_links, self.bound.w_dim, device=z.device)


def _setup(flavour, link_pass, spec=None, loss_class=LinkLoss, **base_kwargs):
    torch.manual_seed(0)
    G, D = make_toy_networks(flavour, **SMALL)
    for module in G.modules():
        if hasattr(module, 'noise_strength'):
            module.noise_strength.data.fill_(0.5)      # Noise inputs that matter.
    G.ray_jitter = 0.3                                 # EG3D toy: random numbers in every render whatever the noise mode.
    nets = dict(G_mapping=G.mapping, G_synthesis=G.synthesis) if flavour == 'sg2ada' else dict(G=G)
    extra = {'neural_rendering_resolution_initial': 8} if flavour == 'eg3d' else {}
    loss = loss_class(device='cpu', D=D, spec=spec or SPEC, base=TOY_LOSSES[flavour], link_pass=link_pass,
                      pl_weight=0, **nets, **extra, **base_kwargs)
    c = random_cameras(4) if flavour == 'eg3d' else torch.zeros(4, G.c_dim)
    batch = dict(real_img=torch.rand(4, 3, 16, 16) * 2 - 1, real_c=c, gen_z=torch.randn(4, G.z_dim), gen_c=c)
    return G, D, loss, batch


def _renders(G, flavour, loss):
    """Spies on G's synthesis: a list that gets (inside the link pass?, RNG state, ws, camera) for every render."""
    seen, inside = [], [False]
    synthesis = G.synthesis

    def spy(ws, *args, **kwargs):
        camera = args[0] if flavour == 'eg3d' else None
        seen.append((inside[0], torch.get_rng_state(), ws.detach().clone(), camera))
        return synthesis(ws, *args, **kwargs)
    if flavour == 'eg3d':
        G.synthesis = spy                               # A method of TriPlaneGenerator-like G.
    else:
        G.synthesis.forward, synthesis = spy, synthesis.forward
    link = loss._accumulate_link

    def in_link_pass(*args):
        inside[0] = True
        try:
            return link(*args)
        finally:
            inside[0] = False
    loss._accumulate_link = in_link_pass
    return seen


def _gmain(G, D, loss, flavour, batch):
    G.train().requires_grad_(True)
    D.requires_grad_(False)
    if flavour == 'sg2ada':
        loss.accumulate_gradients(phase='Gmain', **batch, sync=True, gain=1)
    else:
        loss.accumulate_gradients(phase='Gmain', **batch, gain=1, cur_nimg=0)

#----------------------------------------------------------------------------

@pytest.mark.parametrize('link_pass', PASSES)
@pytest.mark.parametrize('flavour', FLAVOURS)
def test_every_render_replays_the_random_numbers(flavour, link_pass):
    G, D, loss, batch = _setup(flavour, link_pass, loss_class=StillLinkLoss, style_mixing_prob=0)
    seen = _renders(G, flavour, loss)
    stats.latest.clear()
    _gmain(G, D, loss, flavour, batch)
    states = [state for inside, state, _, _ in seen if inside]
    assert len(states) >= 1 + 2 * 2                     # x and the 2K perturbed renders (per_link: re-renders too)
    assert all(torch.equal(s, states[0]) for s in states)
    # Same w, same random numbers: identical renders, so both terms are exactly zero despite the noise.
    assert stats.latest['Loss/link/in'] == 0 and stats.latest['Loss/link/out'] == 0


@pytest.mark.parametrize('link_pass', PASSES)
@pytest.mark.parametrize('flavour', FLAVOURS)
def test_no_ema_moves_in_the_link_pass(flavour, link_pass):
    G, D, loss, batch = _setup(flavour, link_pass)
    for name, buffer in G.named_buffers():
        if name.endswith('w_avg'):
            buffer.fill_(0.25)
    buffers = {}
    link = loss._accumulate_link

    def watched(*args):
        before = {n: b.clone() for n, b in [*G.named_buffers(), *D.named_buffers()]}
        link(*args)
        buffers.update({n: (before[n], b) for n, b in [*G.named_buffers(), *D.named_buffers()]})
    loss._accumulate_link = watched
    _gmain(G, D, loss, flavour, batch)
    assert any(n.endswith('w_avg') for n in buffers)
    for name, (before, after) in buffers.items():
        assert torch.equal(before, after), name


@pytest.mark.parametrize('link_pass', PASSES)
@pytest.mark.parametrize('flavour', FLAVOURS)
def test_style_mixing_is_off_and_every_ws_row_gets_the_same_offset(flavour, link_pass):
    G, D, loss, batch = _setup(flavour, link_pass, style_mixing_prob=1.0)
    seen = _renders(G, flavour, loss)
    _gmain(G, D, loss, flavour, batch)
    rows_equal = [(inside, bool(torch.equal(ws, ws[:, :1].expand_as(ws)))) for inside, _, ws, _ in seen]
    assert any(inside for inside, _ in rows_equal)
    assert all(equal for inside, equal in rows_equal if inside)
    assert not all(equal for inside, equal in rows_equal if not inside)     # The base loss did mix.


@pytest.mark.parametrize('link_pass', PASSES)
@pytest.mark.parametrize('mode', ['frontal', 'sampled'])
def test_eg3d_link_pass_renders_from_the_spec_camera(mode, link_pass):
    # 'frontal': every sample from the fixed frontal camera (boxes stay on the face); 'sampled': the batch's own
    # cameras. The base loss always renders the batch's cameras.
    G, D, loss, batch = _setup('eg3d', link_pass, spec=dict(SPEC, eg3d_camera=mode))
    seen = _renders(G, 'eg3d', loss)
    _gmain(G, D, loss, 'eg3d', batch)
    cameras = [camera for inside, _, _, camera in seen if inside]
    frontal = frontal_camera(1)[0]
    is_frontal = [bool(torch.allclose(c, frontal.expand_as(c))) for c in cameras]
    assert cameras and (all(is_frontal) if mode == 'frontal' else not any(is_frontal))
    if mode == 'sampled':
        n = cameras[0].shape[0]
        assert all(torch.equal(c, batch['gen_c'][:n]) for c in cameras)
