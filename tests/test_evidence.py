"""Tests that guard the evidence: faults that used to pass every test now fail one.

- alpha_mode='w_std' must change the perturbation LinkLoss applies;
- the perturbed-fake terms have the GAN signs (G: softplus(-D), D: softplus(D));
- keep_o exposes a generator whose complement axes do nothing;
- EG3D metrics replay the renderer's random numbers (ray jitter): perfect linkage scores 0, every output;
- a semantic region measured on image_depth is segmented from the RGB image.
"""

import pytest
import torch

from linkgan_plugin.analysis.generator import GeneratorAdapter
from linkgan_plugin.loss import LinkLoss
from linkgan_plugin.analysis.metrics import evaluate_links
from linkgan_plugin.spec import load_spec
from linkgan_plugin.toy.losses import TOY_LOSSES
from linkgan_plugin.toy.networks import make_toy_networks
from toy_checkpoints import AnalyticG, recording

pytestmark = pytest.mark.usefixtures('one_thread')

SPEC = {'links': [{'name': 'tl', 'axes': '0:8', 'region': {'box': [0, 0, 0.5, 0.5]}}], 'interval': 1}
SMALL = dict(w_dim=32, z_dim=16, img_resolution=16, channels=8, mapping_layers=2)
HALF = {'links': [{'name': 'left', 'axes': '0:2', 'region': {'box': [0, 0, 0.5, 1]}}]}

#----------------------------------------------------------------------------
# LinkLoss.

def _sg3_loss(spec):
    G, D = make_toy_networks('sg3', **SMALL)
    G.requires_grad_(False), D.requires_grad_(False)
    return G, D, LinkLoss(device='cpu', G=G, D=D, spec=spec, base=TOY_LOSSES['sg3'], pl_weight=0, r1_gamma=0)


def _offsets_seen(loss, G, z):
    """The w offsets (row 0) the link pass renders, relative to the unperturbed render."""
    seen, G.synthesis.forward = recording(G.synthesis.forward, keep=lambda ws: ws[:, 0])
    loss.link_noise = lambda z_: torch.ones([z_.shape[0], 1, 32])       # p = 1 on every axis.
    G.requires_grad_(True)
    loss._accumulate_link(z, torch.zeros(z.shape[0], 0), True, 0)
    del G.synthesis.forward
    return [s - seen[0] for s in seen[1:]]


def test_w_std_mode_scales_the_perturbation_by_the_spread_of_w():
    z = torch.randn(4, 16)
    G, _, absolute = _sg3_loss({**SPEC, 'alpha': 0.5, 'fake_to_D': False})
    d_abs = _offsets_seen(absolute, G, z)[0]       # 2 samples (batch_shrink 2); linked: alpha on axes 0..7
    assert torch.allclose(d_abs[:, :8], torch.full([2, 8], 0.5)) and d_abs[:, 8:].abs().max() == 0
    G, _, scaled = _sg3_loss({**SPEC, 'alpha': 0.5, 'alpha_mode': 'w_std', 'fake_to_D': False})
    d_std = _offsets_seen(scaled, G, z)[0]
    std = scaled._alpha_scale
    assert std is not None and std.shape == (32,)
    assert torch.allclose(d_std[:, :8], 0.5 * std[:8].expand(2, 8), atol=1e-6)
    assert not torch.allclose(d_std, d_abs)                        # w_std differs from absolute on this G.


def test_perturbed_fake_terms_have_the_gan_signs():
    # G's term on perturbed fakes pushes D's score up (softplus(-l): d/dl < 0); D's term pushes it down.
    G, D, loss = _sg3_loss({**SPEC, 'fake_to_D': True})
    grads = []

    def discriminate(base, img, c, cur_nimg, sync):
        logits = torch.zeros([img.shape[0], 1], requires_grad=True)
        logits.register_hook(lambda g: grads.append(g.clone()))
        return logits + 0 * img.sum()
    loss.flavour.discriminate = discriminate
    z = torch.randn(4, 16)
    G.requires_grad_(True)
    loss.accumulate_gradients('Gmain', torch.zeros(4, 3, 16, 16), torch.zeros(4, 0), z, torch.zeros(4, 0), 1, 0)
    G.requires_grad_(False), D.requires_grad_(True)
    loss.accumulate_gradients('Dmain', torch.zeros(4, 3, 16, 16), torch.zeros(4, 0), z, torch.zeros(4, 0), 1, 0)
    assert len(grads) == 2
    assert (grads[0] < 0).all(), 'G term on perturbed fakes must raise their score'
    assert (grads[1] > 0).all(), 'D term on perturbed fakes must lower their score'

#----------------------------------------------------------------------------
# Metrics.

def DeadComplementG(keep):
    """w = z; inside the left half the image is u (sum of the linked axes); outside it is `keep` * v: keep = 0 is a
    generator whose non-linked axes do nothing (it scores perfect leakage with full edit_i)."""
    return AnalyticG(linked=(0, 1), w_dim=4, resolution=4, channels=1, keep=keep)


def test_keep_o_exposes_dead_complement_axes():
    spec = load_spec(HALF)
    dead = evaluate_links(GeneratorAdapter(DeadComplementG(keep=0.0)), spec, samples=16, batch=8)['results']['image']['left']
    live = evaluate_links(GeneratorAdapter(DeadComplementG(keep=1.0)), spec, samples=16, batch=8)['results']['image']['left']
    for g in (dead, live):      # Both look perfectly linked to the leakage metrics.
        assert g['mse_i'] == 0 and g['mse_o'] == 0 and g['edit_o'] == 0 and g['edit_i'] > 0.5
    assert dead['keep_o'] == 0 and live['keep_o'] > 0.5


class JitteryEG3D(torch.nn.Module):
    """EG3D-shaped and perfectly linked: left half <- axes 0-1, right half <- the rest; every render draws ray
    jitter from the RNG (as EG3D's stratified sampling), scaling image, image_raw and depth."""

    def __init__(self):
        super().__init__()
        self.z_dim = self.w_dim = 4
        self.c_dim, self.img_resolution, self.img_channels = 25, 8, 3
        self.backbone = torch.nn.Module()
        self.backbone.num_ws = 2
        self.rendering_kwargs = {}

    def mapping(self, z, c, truncation_psi=1, **_):
        return z[:, None].repeat(1, 2, 1)

    def synthesis(self, ws, c, noise_mode='const', **_):
        u = ws[:, 0, :2].sum(1)[:, None, None, None]
        v = ws[:, 0, 2:].sum(1)[:, None, None, None]
        left = torch.zeros(8, 8)
        left[:, :4] = 1
        jitter = 1 + 0.1 * torch.rand([ws.shape[0], 1, 8, 8])
        image = ((left * u + (1 - left) * v) * jitter).tanh().expand(-1, 3, -1, -1)
        raw = torch.nn.functional.avg_pool2d(image, 2)
        depth = 2 + 0.1 * raw.mean(1, keepdim=True)
        return {'image': image, 'image_raw': raw, 'image_depth': depth}


def left_half_segmenter(images):
    """Labels [N, h, w]: class 1 in the left half (a stand-in for a real segmenter; expects RGB images)."""
    assert images.shape[1] == 3, 'segmenters take RGB images'
    labels = torch.zeros(images.shape[0], *images.shape[2:], dtype=torch.long)
    labels[:, :, :images.shape[3] // 2] = 1
    return labels


@pytest.mark.parametrize('region', [{'box': [0, 0, 0.5, 1]},
                                    {'segmenter': 'test_evidence:left_half_segmenter', 'classes': [1]}])
def test_eg3d_metrics_replay_ray_jitter(region):
    spec = load_spec({'links': [{'name': 'left', 'axes': '0:2', 'region': region}]})
    gen = GeneratorAdapter(JitteryEG3D())
    results = evaluate_links(gen, spec, samples=6, batch=3, outputs=('image', 'image_raw', 'image_depth'))['results']
    for output in ('image', 'image_raw', 'image_depth'):
        r = results[output]['left']
        assert r['mse_i'] == 0 and r['mse_o'] == 0 and r['edit_o'] == 0, output
        assert r['edit_i'] > 0 and r['keep_o'] > 0, output

#----------------------------------------------------------------------------


def test_resample_perturbation_uses_the_offset_to_a_fresh_mapping():
    # perturbation 'resample': the linked variant's w equals w with its linked axes taken from another w.
    G, _, loss = _sg3_loss({**SPEC, 'perturbation': 'resample', 'fake_to_D': False})
    seen, G.synthesis.forward = recording(G.synthesis.forward, keep=lambda ws: ws[:, 0])
    G.requires_grad_(True)
    loss._accumulate_link(torch.randn(4, 16), torch.zeros(4, 0), True, 0)
    w, linked, complement = seen[0], seen[1], seen[2]
    assert torch.equal(linked[:, 8:], w[:, 8:]) and torch.equal(complement[:, :8], w[:, :8])
    w_new = torch.cat([linked[:, :8], complement[:, 8:]], dim=1)      # a whole mapped w, not noise
    assert not torch.allclose(w_new, w)
    with torch.no_grad():
        samples = G.mapping(torch.randn(4096, 16), torch.zeros(4096, 0))[:, 0]
    # It lies where the mapping's outputs lie: within the range of W on every axis.
    assert ((w_new >= samples.min(0).values - 1e-4) & (w_new <= samples.max(0).values + 1e-4)).all()


def test_eg3d_gpc_reg_prob_zero_conditions_on_the_camera():
    # Upstream conditions the mapping on the real camera whenever gpc_reg_prob is not None; 0.0 is not "off".
    from types import SimpleNamespace
    from linkgan_plugin.upstream.cameras import random_cameras
    from linkgan_plugin.toy.losses import ToyEG3DLoss
    from linkgan_plugin.upstream.flavours import EG3D
    c = random_cameras(3)
    flavour = EG3D()
    assert torch.equal(flavour.mapping_condition(c, SimpleNamespace(gpc_reg_prob=0.0)), c)
    assert torch.equal(flavour.mapping_condition(c, SimpleNamespace(gpc_reg_prob=None)), torch.zeros_like(c))
    G, D = make_toy_networks('eg3d', **SMALL)
    assert ToyEG3DLoss('cpu', G, D, gpc_reg_prob=0.0, gpc_reg_fade_kimg=0).swapping_prob(0) == 0.0
    assert ToyEG3DLoss('cpu', G, D, gpc_reg_prob=None).swapping_prob(0) is None
