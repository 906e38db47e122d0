"""LELSD (`linkgan_plugin.editing.lelsd`, its search's scales in `lelsd_scale`; `linkgan directions --method lelsd` is
`linkgan directions --method lelsd`): recovery of a known local direction, the localization score by hand, the correlation
penalty, the plateau stop, the lr in units of W's spread, edits at the strengths compare sweeps, W / W+ / row subsets,
batch independence, synthesis-layer discovery, file I/O, CLI (with the training curve)."""

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from linkgan_plugin.editing import directions_file, lelsd, lelsd_scale, masking
from linkgan_plugin.cli.directions import directions_command
from linkgan_plugin.analysis.generator import GeneratorAdapter
from linkgan_plugin.upstream.synthesis_layers import SynthesisLayersNotFound, synthesis_layers
from toy_checkpoints import read_image, save_demo_checkpoint, toy_G

pytestmark = pytest.mark.usefixtures('one_thread')

TOP_LEFT = {'box': [0, 0, 0.5, 0.5]}

#----------------------------------------------------------------------------
# Analytic generators: every synthesis layer is a fixed linear map of its ws row to a feature map.

class LinearLayer(torch.nn.Module):
    """w [N, w_dim] -> sum_d w[:, d] * basis[d]: features [N, C, R, R]."""

    def __init__(self, basis):
        super().__init__()
        self.register_buffer('basis', basis)

    def forward(self, w):
        return torch.einsum('nd,dchw->nchw', w, self.basis)


class LinearSynthesis(torch.nn.Module):
    def __init__(self, bases):
        super().__init__()
        self.layers = torch.nn.ModuleList([LinearLayer(b) for b in bases])

    def forward(self, ws, noise_mode='const', **_):
        feats = [layer(ws[:, i]) for i, layer in enumerate(self.layers)]
        return feats[-1][:, :1].expand(-1, 3, -1, -1)          # The image: the last layer's first channel, gray.


class AnalyticG(torch.nn.Module):
    """w = w_scale * z (times psi) on every row; layer i reads row i. The bases are divided by w_scale, so the images
    and features do not depend on it: only W's spread does."""

    def __init__(self, bases, resolution, w_scale=1.0):
        super().__init__()
        self.z_dim = self.w_dim = bases[0].shape[0]
        self.c_dim, self.img_resolution, self.img_channels = 0, resolution, 3
        self.num_ws, self.w_scale = len(bases), w_scale
        self.synthesis = LinearSynthesis([b / w_scale for b in bases])

    def mapping(self, z, c, truncation_psi=1, truncation_cutoff=None, **_):
        return (self.w_scale * z * truncation_psi)[:, None].repeat(1, self.num_ws, 1)


def known_direction_G(w_dim=6, channels=2, seed=0, w_scale=1.0):
    """Direction v (a random unit vector) changes the top-left quadrant only; every direction orthogonal to it
    changes the whole image. Two layers (4x4 and 8x8); W scaled by w_scale. Returns (G, v)."""
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(w_dim, w_dim, generator=g))
    v, others = q[:, 0], q[:, 1:].T                                     # [w_dim], [w_dim - 1, w_dim]
    bases = []
    for res in (4, 8):
        inside = torch.zeros(res, res)
        inside[:res // 2, :res // 2] = 1
        local = (torch.rand(channels, res, res, generator=g) + 0.5) * inside          # Only in the region.
        spread = torch.randn(len(others), channels, res, res, generator=g)            # Everywhere.
        basis = v[:, None, None, None] * local[None] + torch.einsum('jd,jchw->dchw', others, spread)
        bases.append(basis)
    return AnalyticG(bases, 8, w_scale).eval(), v

#----------------------------------------------------------------------------
# The score.

def test_localization_score_hand_computed_tiny_case():
    # One channel. Layer 0 (2x2): w0 lights the top-left pixel, w1 every pixel. Layer 1 (4x4): only w1, everywhere.
    b0 = torch.zeros(2, 1, 2, 2)
    b0[0, 0, 0, 0] = 1
    b0[1] = 1
    b1 = torch.zeros(2, 1, 4, 4)
    b1[1] = 1
    gen = GeneratorAdapter(AnalyticG([b0, b1], 4))
    layers = synthesis_layers(gen.G)
    masker = masking.RegionMasker(masking.region_spec(TOP_LEFT))
    ws = torch.randn(3, 2, 2)
    scores = lelsd.batch_scores(gen, layers, masker, ws, torch.tensor([1.0, 1.0]), 1.0, eps=0)
    # Layer 0: change [[2, 1], [1, 1]], squared [[4, 1], [1, 1]], mask [[1, 0], [0, 0]] -> 4 / 7.
    # Layer 1: change 1 everywhere, the mask covers 4 of 16 pixels -> 1 / 4.
    assert scores.shape == (3, 2)
    torch.testing.assert_close(scores, torch.tensor([[4 / 7, 1 / 4]] * 3))
    # The score does not depend on the strength's sign or size (the change is linear here).
    torch.testing.assert_close(lelsd.batch_scores(gen, layers, masker, ws, torch.tensor([1.0, 1.0]), -2.5, eps=0), scores)


def test_known_direction_scores_one_and_is_recovered():
    G, v = known_direction_G()
    gen = GeneratorAdapter(G)
    region = masking.region_spec(TOP_LEFT)
    ws = torch.randn(4, 2, 6)
    masker = masking.RegionMasker(region)
    score_v = lelsd.batch_scores(gen, synthesis_layers(G), masker, ws, v, 1.0)
    torch.testing.assert_close(score_v, torch.ones(4, 2))
    res = lelsd.find_directions(gen, region, max_steps=100, plateau_window=0, eval_samples=8, seed=3)
    u = torch.from_numpy(res.directions[0])
    cos = float(torch.dot(u, v) / u.norm())
    assert abs(cos) > 0.9, cos
    assert res.scores[0] > 0.95 and res.history[0][0] < 0.6
    assert res.stop == {'reason': 'max_steps', 'steps': 100, 'halved_at': [], 'lr': lelsd.DEFAULTS['lr']}
    # The saved direction has norm D (strengths in units of D): W = z here, so D ~ E|z1 - z2| ~ sqrt(2 * 6).
    assert float(u.norm()) == pytest.approx(res.scale['distance'], rel=1e-5)
    assert res.scale['distance'] == pytest.approx(np.sqrt(12), rel=0.08)
    assert res.scale['w_rms'] == pytest.approx(1, rel=0.05)


def test_correlation_penalty_decorrelates_two_directions():
    eye = torch.eye(3)
    assert float(lelsd.correlation_penalty(eye[:2])) == 0.0
    assert float(lelsd.correlation_penalty(torch.stack([eye[0], 2 * eye[0]]))) == pytest.approx(0.5)

    G, v = known_direction_G()
    gen = GeneratorAdapter(G)
    region = masking.region_spec(TOP_LEFT)
    cosine = lambda r: float(torch.nn.functional.cosine_similarity(*torch.from_numpy(r.directions), dim=0))
    common = dict(num_directions=2, max_steps=100, plateau_window=0, eval_samples=0, seed=3)
    free = lelsd.find_directions(gen, region, gamma=0.0, **common)
    tied = lelsd.find_directions(gen, region, gamma=5.0, **common)
    assert abs(cosine(free)) > 0.9          # Without the penalty both directions find v.
    assert abs(cosine(tied)) < 0.2          # With it they are pushed apart.

#----------------------------------------------------------------------------
# The search's settings: plateau stop, lr in units of W's spread, strengths, truncation.

def test_plateau_rule_halves_then_stops():
    rule = lelsd_scale.Plateau(window=2, tol=0.01, halvings=1)
    actions = [rule.update(s) for s in [0.1, 0.2, 0.5, 0.6, 0.6, 0.6, 0.604, 0.6, 0.9, 0.9]]
    # Windows: 0.15, 0.55 (up), 0.6 (up 9%), 0.602 (< 1%: halve), 0.75 (up)... but the rule stops at its next plateau.
    assert actions == [None, None, None, None, None, None, None, 'halve', None, None]
    assert rule.update(0.75) is None and rule.update(0.75) == 'stop'       # Window mean 0.75: no gain over 0.9.
    with pytest.raises(ValueError, match='window >= 1'):
        lelsd_scale.Plateau(window=0, tol=0.01, halvings=1)


def test_plateau_stops_a_converging_search_before_max_steps():
    G, v = known_direction_G()
    gen = GeneratorAdapter(G)
    res = lelsd.find_directions(gen, masking.region_spec(TOP_LEFT), max_steps=1000, plateau_window=20, eval_samples=0,
                                seed=3)
    assert res.stop['reason'] == 'plateau' and res.stop['steps'] < 300, res.stop
    assert len(res.stop['halved_at']) == lelsd.DEFAULTS['plateau_halvings']
    assert res.stop['lr'] == lelsd.DEFAULTS['lr'] * 0.5 ** lelsd.DEFAULTS['plateau_halvings']
    assert len(res.history[0]) == res.stop['steps'] and np.mean(res.history[0][-20:]) > 0.99
    u = torch.from_numpy(res.directions[0])
    assert abs(float(torch.dot(u, v) / u.norm())) > 0.99


def test_lr_is_in_units_of_w_spread():
    """A generator whose W is 10x larger (same images) takes 10x larger steps: the same search, scaled."""
    region = masking.region_spec(TOP_LEFT)
    runs = {}
    for scale in (1.0, 10.0):
        gen = GeneratorAdapter(known_direction_G(w_scale=scale)[0])
        runs[scale] = [lelsd.find_directions(gen, region, max_steps=n, plateau_window=0, eval_samples=0, seed=1)
                       for n in (1, 2)]
    small, large = runs[1.0], runs[10.0]
    assert large[0].scale['w_rms'] == pytest.approx(10 * small[0].scale['w_rms'], rel=1e-6)
    assert large[0].scale['distance'] == pytest.approx(10 * small[0].scale['distance'], rel=1e-6)
    step = lambda r: np.linalg.norm(r[1].directions[0] - r[0].directions[0])
    assert step(small) > 0 and step(large) == pytest.approx(10 * step(small), rel=1e-3)
    np.testing.assert_allclose(large[1].directions, 10 * small[1].directions, rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(large[1].history, small[1].history, rtol=1e-4)


def test_search_edits_cover_the_strength_range_at_its_truncation():
    """Every edit of the search is a * D * u/|u| with |a| in [lo, hi] (both signs, the whole range drawn), on latents
    mapped at the search's truncation."""
    G, _ = known_direction_G()
    seen_psi = []
    mapping = G.mapping
    G.mapping = lambda z, c, truncation_psi=1, **kw: seen_psi.append(truncation_psi) or mapping(z, c, truncation_psi,
                                                                                                **kw)
    gen = GeneratorAdapter(G)
    renders = []
    synthesize = gen.synthesize
    gen.synthesize = lambda ws, c=None: renders.append(ws.detach().clone()) or synthesize(ws, c)
    res = lelsd.find_directions(gen, masking.region_spec(TOP_LEFT), max_steps=100, plateau_window=0, batch=4,
                                strengths=(0.25, 1.5), truncation=0.6, eval_samples=0, seed=0)
    assert set(seen_psi) == {0.6} and res.settings['truncation'] == 0.6 and res.scale['truncation'] == 0.6
    D = res.scale['distance']
    a = torch.cat([(edit[:, 0] - orig[:, 0]).norm(dim=1) / D for orig, edit in zip(renders[0::2], renders[1::2])])
    assert len(a) == 400 and float(a.min()) >= 0.25 * (1 - 1e-4) and float(a.max()) <= 1.5 * (1 + 1e-4)
    assert float(a.min()) < 0.27 and float(a.max()) > 1.4
    assert float(a.median()) == pytest.approx(np.sqrt(0.25 * 1.5), rel=0.15)      # Log-uniform: the geometric mean.
    draws = lelsd_scale.draw_strengths(10000, 0.125, 2.0, torch.Generator().manual_seed(0))
    assert 0.45 < float((draws > 0).float().mean()) < 0.55
    assert lelsd_scale.strength_grid(0.125, 2.0) == [0.125, 0.25, 0.5, 1.0, 2.0]
    assert lelsd_scale.strength_grid(0.3, 1.0) == [0.3, 0.6, 1.0]
    with pytest.raises(ValueError, match='0 < lo <= hi'):
        lelsd.find_directions(gen, masking.region_spec(TOP_LEFT), strengths=(2.0, 1.0))


def test_held_out_latents_are_their_own_stream():
    gen = GeneratorAdapter(known_direction_G()[0])
    held, _ = lelsd_scale.held_out_latents(gen, 32, 0, 1.0)
    others = [lelsd_scale.sample_latents(gen, 32, 0, s, 1.0)[0] for s in (0, 1, 2)]        # compare's streams
    others += [lelsd_scale.search_latents(gen, 32, 0, i, 1.0)[0] for i in range(3)]
    for o in others:
        assert not torch.isclose(held[:, None, 0], o[None, :, 0]).all(dim=2).any()
    assert torch.equal(held, lelsd_scale.held_out_latents(gen, 32, 0, 1.0)[0])
    assert not torch.equal(held, lelsd_scale.held_out_latents(gen, 32, 1, 1.0)[0])

#----------------------------------------------------------------------------
# Spaces and rows.

def test_wplus_has_one_row_per_ws_and_row_subsets_stay_zero():
    gen = GeneratorAdapter(toy_G('sg2ada'))
    region = masking.region_spec(TOP_LEFT)
    res = lelsd.find_directions(gen, region, num_directions=2, space='wplus', max_steps=3, eval_samples=0)
    assert res.directions.shape == (2, gen.num_ws, gen.w_dim)
    sub = lelsd.find_directions(gen, region, space='wplus', rows=[1, 2], max_steps=3, eval_samples=0)
    d = sub.directions[0]
    assert np.all(d[[0, 3, 4, 5]] == 0) and np.all(np.abs(d[[1, 2]]).sum(axis=1) > 0)
    rms = np.sqrt(np.mean(np.linalg.norm(d[[1, 2]], axis=1) ** 2))         # W+ norm: RMS over the used rows.
    assert rms == pytest.approx(sub.scale['distance'], rel=1e-5)
    axes = lelsd.find_directions(gen, region, axes=[0, 1, 2], max_steps=3, eval_samples=0)
    assert np.all(axes.directions[0][3:] == 0) and np.any(axes.directions[0][:3] != 0)


def test_edit_on_a_row_subset_leaves_other_rows_and_earlier_layers_untouched():
    G = toy_G('sg2ada')
    gen = GeneratorAdapter(G)
    ws = gen.map(torch.randn(2, gen.z_dim))
    rows = lelsd.row_mask(gen.num_ws, [2, 3])
    edited = lelsd.edit_ws(ws, torch.randn(gen.w_dim), torch.tensor([1.0, -2.0]), rows)
    assert torch.equal(edited[:, [0, 1, 4, 5]], ws[:, [0, 1, 4, 5]])
    assert not torch.equal(edited[:, [2, 3]], ws[:, [2, 3]])
    layers = synthesis_layers(G)
    reached = lelsd.layers_reached(layers, rows)
    assert [l.ws_index for l in reached] == [2, 3, 4]
    with lelsd.FeatureTap(layers) as a:
        gen.synthesize(ws)
    with lelsd.FeatureTap(layers) as b:
        gen.synthesize(edited)
    assert torch.equal(a.features[1], b.features[1]) and not torch.equal(a.features[2], b.features[2])


def test_scores_do_not_depend_on_the_evaluation_batch_size():
    gen = GeneratorAdapter(toy_G('sg3'))
    region = masking.region_spec(TOP_LEFT)
    res = lelsd.find_directions(gen, region, num_directions=2, max_steps=2, eval_samples=0)
    a = lelsd.evaluate_directions(gen, region, res, samples=7, batch=3)
    b = lelsd.evaluate_directions(gen, region, res, samples=7, batch=7)
    np.testing.assert_allclose(a, b, rtol=1e-5)
    assert a.shape == (2,) and np.all((a > 0) & (a < 1))

#----------------------------------------------------------------------------
# Semantic masks: per sample, from the original and the edited image.

SEGMENTER = '''
import torch
def bright(images):
    """Label 1 where the first channel is positive."""
    return (images[:, 0] > 0).long()
'''


def test_semantic_masks_combine_original_and_edit_per_sample(tmp_path):
    path = tmp_path / 'seg.py'
    path.write_text(SEGMENTER)
    region = masking.region_spec({'segmenter': f'{path}:bright', 'classes': [1]})
    x0 = -torch.ones(2, 3, 4, 4)
    x1 = -torch.ones(2, 3, 4, 4)
    x0[0, 0, :2] = 1            # Sample 0: top half bright in the original,
    x1[0, 0, :, :2] = 1         # left half bright in the edit. Sample 1: bright nowhere.
    expect = {'mean': 0.5 * ((x0[:, 0] > 0).float() + (x1[:, 0] > 0).float()),
              'union': ((x0[:, 0] > 0) | (x1[:, 0] > 0)).float(),
              'intersection': ((x0[:, 0] > 0) & (x1[:, 0] > 0)).float(),
              'source': (x0[:, 0] > 0).float()}
    for mode, m in expect.items():
        got = masking.RegionMasker(region, mode).segment(x0, x1)
        torch.testing.assert_close(got, m)
    half = masking.RegionMasker(region).at(2, 2, 'cpu', expect['mean'])
    torch.testing.assert_close(half, torch.tensor([[[1.0, 0.5], [0.5, 0.0]], [[0.0, 0.0], [0.0, 0.0]]]))

#----------------------------------------------------------------------------
# Synthesis layers.

@pytest.mark.parametrize('flavour', ['sg2ada', 'sg3', 'eg3d'])
def test_hooks_find_the_synthesis_layers_of_each_toy_flavour(flavour):
    G = toy_G(flavour)
    layers = synthesis_layers(G)
    inner = G.backbone.synthesis if flavour == 'eg3d' else G.synthesis
    assert [l.module for l in layers] == list(inner.layers)
    assert [l.ws_index for l in layers] == list(range(len(inner.layers)))
    gen = GeneratorAdapter(G)
    with lelsd.FeatureTap(layers) as tap:
        gen.synthesize(gen.map(torch.randn(2, gen.z_dim)))
    assert [f.shape[2] for f in tap.features] == [4, 8, 8, 16, 16]
    assert all(f.shape[:2] == (2, 8) for f in tap.features)


class _Conv(torch.nn.Module):
    pass


class _Block(torch.nn.Module):
    def __init__(self, first):
        super().__init__()
        if first:
            self.const = torch.nn.Parameter(torch.zeros(1))
        else:
            self.conv0 = _Conv()
        self.conv1, self.torgb = _Conv(), _Conv()
        self.num_conv = 1 if first else 2


class _SG2Synthesis(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.block_resolutions = [4, 8, 16]
        for r in self.block_resolutions:
            setattr(self, f'b{r}', _Block(r == 4))


class _SG3Layer(torch.nn.Module):
    def __init__(self, size, rate):
        super().__init__()
        self.out_size, self.out_sampling_rate = np.array([size, size]), rate


class _SG3Synthesis(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.input = torch.nn.Linear(1, 1)
        self.layer_names = ['L0_36_512', 'L1_36_512', 'L2_16_3']
        for name, (size, rate) in zip(self.layer_names, [(36, 16), (36, 16), (16, 16)]):
            setattr(self, name, _SG3Layer(size, rate))


class _Holder(torch.nn.Module):
    def __init__(self, **modules):
        super().__init__()
        for k, v in modules.items():
            setattr(self, k, v)


def test_synthesis_layers_of_real_structures_and_a_clear_error():
    sg2 = synthesis_layers(_Holder(synthesis=_SG2Synthesis()))
    assert [(l.name, l.ws_index) for l in sg2] == [('synthesis.b4.conv1', 0), ('synthesis.b8.conv0', 1),
                                                   ('synthesis.b8.conv1', 2), ('synthesis.b16.conv0', 3),
                                                   ('synthesis.b16.conv1', 4)]
    sg3 = synthesis_layers(_Holder(synthesis=_SG3Synthesis()))
    assert [(l.name, l.ws_index, l.margin) for l in sg3] == [('synthesis.L0_36_512', 1, 10), ('synthesis.L1_36_512', 2, 10),
                                                             ('synthesis.L2_16_3', 3, 0)]
    backbone = _Holder(synthesis=_Holder(), num_ws=14)
    sr = _Holder(block0=_Block(False), block1=_Block(False))
    eg3d = synthesis_layers(_Holder(backbone=backbone, superresolution=sr))
    assert [(l.name, l.ws_index) for l in eg3d] == [('superresolution.block0.conv0', 13), ('superresolution.block0.conv1', 13),
                                                    ('superresolution.block1.conv0', 13), ('superresolution.block1.conv1', 13)]
    with pytest.raises(SynthesisLayersNotFound, match=r'_Holder.*torch.nn.modules.linear.Linear.*looked for'):
        synthesis_layers(_Holder(synthesis=torch.nn.Linear(2, 2)))

#----------------------------------------------------------------------------
# Files and the command line.

def test_save_and_load_round_trip_and_checks(tmp_path):
    G = toy_G('sg2ada')
    gen = GeneratorAdapter(G)
    res = lelsd.find_directions(gen, masking.region_spec(TOP_LEFT), space='wplus', rows=[0, 1], max_steps=2,
                                eval_samples=4)
    path = str(tmp_path / 'd.npz')
    directions_file.save(path, res)
    back = directions_file.load(path, gen)
    np.testing.assert_array_equal(back.directions, res.directions)
    assert (back.space, back.rows, back.region, back.network_hash) == ('wplus', [0, 1], {'boxes': [[0.0, 0.0, 0.5, 0.5]]},
                                                                       lelsd.network_hash(G))
    assert back.settings['max_steps'] == 2 and len(back.scores) == 1 and back.stop == res.stop
    assert back.scale == res.scale and back.history == res.history
    assert lelsd.network_hash(toy_G('sg2ada', seed=1)) != back.network_hash
    other = GeneratorAdapter(toy_G('sg3'))
    other.num_ws = 7
    with pytest.raises(ValueError, match='num_ws=6.*num_ws=7'):
        directions_file.load(path, other)
    np.savez(str(tmp_path / 'bad.npz'), ws=np.zeros(3))
    with pytest.raises(ValueError, match='not a directions file'):
        directions_file.load(str(tmp_path / 'bad.npz'))
    old = json.loads(str(np.load(path)['meta']))
    old['format'] = 1
    np.savez(str(tmp_path / 'old.npz'), directions=res.directions, meta=np.array(json.dumps(old)))
    with pytest.raises(ValueError, match='format 1.*truncation 0.7.*search again'):
        directions_file.load(str(tmp_path / 'old.npz'))


SPEC = {'links': [{'name': 'tl', 'axes': '0:8', 'region': TOP_LEFT}]}


def test_cli_writes_directions_and_rejects_bad_options(tmp_path):
    net = str(tmp_path / 'linked.pt')
    save_demo_checkpoint(net, toy_G('sg2ada'), 'sg2ada', SPEC)
    out = str(tmp_path / 'dirs.npz')
    run = lambda *args: CliRunner().invoke(directions_command, ['--method', 'lelsd', '--network', net, '--device', 'cpu',
                                                                *args])
    curve = tmp_path / 'curve.png'
    r = run('--count', '2', '--within-link', 'tl', '--layers', '1-3', '--max-steps', '6', '--plateau-window',
            '2', '--samples', '4', '--strengths', '0.25,1', '--truncation', '0.8', '--curve', str(curve),
            '--out', out)
    assert r.exit_code == 0, r.output
    res = directions_file.load(out)
    assert res.directions.shape == (2, 32) and res.axes == list(range(8)) and res.rows == [1, 2, 3]
    assert np.all(res.directions[:, 8:] == 0) and 'held-out LS' in r.output
    assert res.settings['strengths'] == [0.25, 1.0] and res.settings['truncation'] == 0.8
    assert res.scale['truncation'] == 0.8 and res.settings['plateau_window'] == 2
    summary = json.loads((tmp_path / 'curve.json').read_text())
    assert summary['history'] == res.history and summary['stop'] == res.stop and summary['block'] == 2
    assert len(summary['block_means'][0]) == len(summary['block_ends']) == -(-res.stop['steps'] // 2)
    assert read_image(curve).size == (760, 440)
    r = run('--strengths', '2,1', '--out', out)
    assert r.exit_code == 2 and '--strengths' in r.output
    r = run('--curve', str(tmp_path / 'curve.jpg'), '--out', out)
    assert r.exit_code == 2 and '--curve' in r.output
    r = run('--region', '{"box": [0, 0, 2, 1]}', '--out', out)
    assert r.exit_code == 2 and '--region' in r.output and 'links[0].region.box' in r.output
    r = run('--layers', '7', '--out', out)
    assert r.exit_code == 2 and '--layers' in r.output and '0..5' in r.output
    r = run('--link', 'nope', '--out', out)
    assert r.exit_code == 2 and "'nope'" in r.output
    r = run('--out', str(tmp_path / 'dirs.txt'))
    assert r.exit_code == 2 and '.npz' in r.output
    base = str(tmp_path / 'base.pt')
    save_demo_checkpoint(base, toy_G('sg2ada', seed=1), 'sg2ada', None)
    r = CliRunner().invoke(directions_command, ['--method', 'lelsd', '--network', base, '--region', '{"preset": "eyes"}',
                                                '--max-steps', '2', '--samples', '0', '--out', out])
    assert r.exit_code == 0, r.output
    assert directions_file.load(out).region == {'preset': 'eyes'}


def test_edit_draws_a_direction_with_the_fig3_grid(tmp_path):
    from linkgan_plugin.cli.edit import edit_command
    G, v = known_direction_G()
    net = str(tmp_path / 'analytic.pt')
    torch.save({'G_ema': G, 'spec': {'links': [{'name': 'tl', 'axes': '0:2', 'region': TOP_LEFT}]}}, net)
    region = masking.region_spec(TOP_LEFT)
    res = lelsd.LelsdResult(directions=np.stack([v.numpy(), np.ones(6, np.float32)]), space='w', rows=None, axes=None,
                            region=region.links[0].region.to_dict(), link='tl', num_ws=2, w_dim=6,
                            network_hash=lelsd.network_hash(G))
    dirs = str(tmp_path / 'dirs.npz')
    directions_file.save(dirs, res)
    out = tmp_path / 'grid.png'
    r = CliRunner().invoke(edit_command, ['--network', net, '--direction', dirs, '--strengths', '2,-0.5', '--seeds', '0-2',
                                          '--out', str(out), '--device', 'cpu'])
    assert r.exit_code == 0, r.output
    summary = json.loads((tmp_path / 'grid.json').read_text())
    assert summary['num'] == 2 and summary['mode'] == 'LELSD dirs.npz #0 a=0.5,2'
    for key in ('linked', 'complement'):            # +s and -s: the known direction never leaves the region.
        assert max(summary[f'{key}_change_out']) < 1e-10 and min(summary[f'{key}_change_in']) > 0
    r = CliRunner().invoke(edit_command, ['--network', net, '--direction', dirs, '--index', '1', '--out', str(out)])
    assert r.exit_code == 0 and max(json.loads((tmp_path / 'grid.json').read_text())['linked_change_out']) > 0
    assert read_image(out).size[0] > 7 * 64
    r = CliRunner().invoke(edit_command, ['--network', net, '--direction', dirs, '--index', '2', '--out', str(out)])
    assert r.exit_code == 2 and '--index' in r.output

#----------------------------------------------------------------------------
