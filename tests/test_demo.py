"""`linkgan demo` end to end at a tiny size, the synthetic dataset, and the picture helpers."""

import json
import math
import os

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from linkgan_plugin.cli import main
from linkgan_plugin.demo.data import scenes
from linkgan_plugin.demo.scenes import scene_stream
from linkgan_plugin.toy.checkpoint import CHECKPOINT_FORMAT, networks_from_checkpoint

#----------------------------------------------------------------------------
# Dataset.

def test_scenes_shape_range_and_reproducibility():
    a = scenes(8, 32, generator=torch.Generator().manual_seed(3))
    b = scenes(8, 32, generator=torch.Generator().manual_seed(3))
    assert a.shape == (8, 3, 32, 32) and a.dtype == torch.float32
    assert a.min() >= -1 and a.max() <= 1
    assert torch.equal(a, b)
    s1, s2 = (scene_stream({'scene': 'cells', 'resolution': 32, 'cells': 2}, 4, seed=5) for _ in range(2))
    assert torch.equal(next(s1)[0], next(s2)[0])
    assert next(s1)[1].shape == (4, 0)


@pytest.mark.parametrize('cells', [2, 4])
def test_scenes_cells_vary_strongly_and_independently(cells):
    N, R = 2048, 32
    s = R // cells
    x = scenes(N, R, cells=cells, generator=torch.Generator().manual_seed(0))
    # Mean colour of each cell: [N, 3, cells, cells] -> [N, 3 * cells^2] features.
    feats = x.reshape(N, 3, cells, s, cells, s).mean(dim=[3, 5]).reshape(N, -1)
    # Every cell varies strongly (uniform colours in [-1, 1] have std ~0.58; patterns mix two of them).
    assert feats.std(dim=0).min() > 0.3
    # Independence: features of different cells are uncorrelated (|r| < 0.1 with 2048 samples, ~4.5 sigma).
    corr = torch.corrcoef(feats.T)
    cell_of = torch.arange(feats.shape[1]) % (cells * cells)
    other_cell = cell_of[:, None] != cell_of[None, :]
    assert corr[other_cell].abs().max() < 0.1
    # ... while channels within one cell are not required to be independent, pixels within a cell are related:
    # a cell's pixels agree far more often than pixels of two different cells.
    same = (x[:, :, 0, 0] - x[:, :, s - 1, s - 1]).abs().mean()
    diff = (x[:, :, 0, 0] - x[:, :, 0, s]).abs().mean()
    assert same < 0.8 * diff


def test_scenes_default_grid_is_the_quadrants():
    # The demo's default: each quadrant is one independent cell (see demo_data's docstring for why).
    x = scenes(512, 32, generator=torch.Generator().manual_seed(1))
    quad = x.reshape(512, 3, 2, 16, 2, 16)
    corners = quad[:, :, :, 0, :, 0]                    # top-left pixel of each quadrant
    centres = quad[:, :, :, 8, :, 8]
    # A quadrant's corner is its background: it differs from the neighbouring quadrant's corner like two
    # independent uniform colours (E|a - b| = 2/3 for a, b ~ U[-1, 1]).
    assert abs((corners[:, :, 0, 0] - corners[:, :, 0, 1]).abs().mean().item() - 2 / 3) < 0.05
    # ... and the centre and corner of one quadrant agree more often (blank cells, splits).
    assert (centres - corners).abs().mean() < 0.9 * (corners[:, :, 0, 0] - corners[:, :, 0, 1]).abs().mean()


def test_scenes_reject_bad_resolution():
    with pytest.raises(ValueError, match='multiple of cells'):
        scenes(1, 30, cells=4)

#----------------------------------------------------------------------------
# The demo's discriminator feature.

def test_minibatch_stddev_sees_a_region_that_stopped_varying():
    from linkgan_plugin.toy.networks import minibatch_stddev
    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, 5, 4, 4, generator=g)
    x[:, :, :2, :2] = 0.3                                   # the top-left 2x2 positions are the same in every sample
    local = minibatch_stddev(x, group_size=4, per_location=True)
    assert local.shape == (8, 1, 4, 4)
    assert local[:, :, :2, :2].max() < 1e-3 and local[:, :, 2:, 2:].min() > 0.3
    # Upstream's feature: one number per group, the dead region only dents it.
    overall = minibatch_stddev(x, group_size=4, per_location=False)
    assert overall.shape == (8, 1, 4, 4) and torch.equal(overall, overall[:, :, :1, :1].expand(8, 1, 4, 4))
    assert overall.min() > 0.5
    # Groups: sample n is in group n % (N / group_size); members of one group share their map.
    y = torch.randn(8, 5, 4, 4, generator=g)
    y[1::2] *= 10                                           # group 1 = samples 1, 3, 5, 7
    m = minibatch_stddev(y, group_size=4)
    assert torch.equal(m[1], m[3]) and torch.equal(m[0], m[2]) and m[1].mean() > 5 * m[0].mean()


#----------------------------------------------------------------------------
# Pictures.

def test_heatmap_and_grid():
    from linkgan_plugin.analysis.pictures import heatmap, leakage_grid, outline, to_uint8
    hm = heatmap(torch.tensor([[0.0, 0.5], [1.0, 2.0]]), vmax=1.0)
    assert hm.shape == (2, 2, 3) and hm.dtype == np.uint8
    assert hm[0, 0].sum() < hm[0, 1].sum() < hm[1, 0].sum() and (hm[1, 0] == hm[1, 1]).all()  # Clipped at vmax.
    img = to_uint8(torch.zeros(3, 8, 8))
    assert img.shape == (8, 8, 3) and (img == 128).all()
    box = torch.zeros(8, 8)
    box[:4, :4] = 1
    boxed = outline(img, box)
    assert (boxed[0, 0] == [0, 255, 0]).all() and (boxed[3, 1] == [0, 255, 0]).all()
    assert (boxed[1, 1] == 128).all() and (boxed[5, 5] == 128).all()       # inside and outside stay
    pic = leakage_grid([[img, img], [hm, hm, hm]][:1] + [[boxed]], row_labels=['a', 'b'], title='t', scale=2)
    assert pic.mode == 'RGB' and pic.width > 2 * 16 and pic.height > 2 * 16

#----------------------------------------------------------------------------
# The command.

def test_demo_tiny_run(tmp_path):
    spec = tmp_path / 'spec.json'
    spec.write_text(json.dumps({'links': [
        {'name': 'left', 'axes': '0:8', 'region': {'box': [0, 0, 0.5, 1]}},
        {'name': 'corner', 'axes': [40, 41, 42], 'region': {'box': [0.75, 0.75, 1, 1]}}]}))
    out = tmp_path / 'out'
    result = CliRunner().invoke(main, ['demo', '--outdir', str(out), '--spec', str(spec), '--seed', '1',
                                       '--baseline', 'train', '--baseline-kimg', '0.096', '--finetune-kimg', '0.048',
                                       '--samples', '16', '--batch', '16', '--resolution', '16'])
    assert result.exit_code == 0, result.output
    # The summary says what the link term did and what to run for more, not a list of missed research targets.
    assert 'keep_o' in result.output and '## What the link term did' in result.output
    assert 'linkgan demo --from-scratch 160' in result.output
    assert 'Targets missed' not in result.output and 'MISSED' not in result.output

    report = json.loads((out / 'report.json').read_text())
    assert set(report) >= {'models', 'quality', 'ratios', 'targets', 'targets_met', 'details', 'seconds'}
    for model in ('baseline', 'control', 'linked'):
        assert set(report['models'][model]) == {'left', 'corner'}
        for link in ('left', 'corner'):
            values = report['models'][model][link]
            assert set(values) == {'mse_i', 'mse_o', 'edit_i', 'edit_o', 'keep_o', 'locality'}
            assert all(math.isfinite(v) and v >= 0 for v in values.values())
        assert report['quality'][model] > 0
    # Every ratio is linked / control.
    m = report['models']
    assert report['ratios']['left']['mse_o'] == pytest.approx(m['linked']['left']['mse_o'] / m['control']['left']['mse_o'])
    assert report['quality_ratio'] == pytest.approx(report['quality']['linked'] / report['quality']['control'])
    rows = {r['metric']: r for r in report['targets']['left']}
    assert rows['mse_i']['value'] == pytest.approx(report['ratios']['left']['mse_i'])
    assert rows['locality']['value'] == pytest.approx(m['linked']['left']['locality'])
    assert report['targets_met'] == all(r['met'] for rs in report['targets'].values() for r in rs)
    # Quality beside its floors: SWD and coverage (16 px scenes: no shipped factor regressor, the generic features).
    assert report['quality_floor'] == report['details']['linked']['quality']['swd_floor']['mean'] > 0
    assert report['coverage_space']['features'].startswith('random-conv') and report['coverage_space']['k'] == 3
    assert set(report['coverage']) == {'baseline', 'control', 'linked'}
    assert set(report['coverage_floor']) == {'recall', 'precision'}
    cov = report['coverage']
    for model in cov:
        assert cov[model]['recall'] == report['details'][model]['quality']['coverage']['recall']
    assert report['recall_ratio'] == (pytest.approx(cov['linked']['recall'] / cov['control']['recall'])
                                      if cov['control']['recall'] else None)
    assert report['baseline']['source'] == 'train'
    # The user's spec keeps its axes and regions; the demo's recipe fills the fields it left out.
    assert report['spec']['links'][1]['axes'] == [40, 41, 42]
    assert report['spec']['interval'] == 8 and report['spec']['lambda_in'] == 5.0
    md = (out / 'report.md').read_text()
    assert '| left | mse_i |' in md and 'linked / control' in md and '## Targets' not in md
    assert '| SWD (x1e3, lower is better) |' in md and '| recall (joint, higher is better) |' in md
    assert 'real vs real' in md and 'LinkGAN: eyes 0.016, nose 0.036, mouth 0.024' in md
    assert 'linkgan demo --from-scratch 160' in md and 'Targets missed' not in md and not md.rstrip().endswith('MISSED')
    assert md in result.output                                      # The terminal summary is the report.

    from PIL import Image
    for name in ('leakage.png', 'samples.png'):
        with Image.open(out / name) as pic:
            assert pic.mode == 'RGB' and pic.width > 100

    ckpt = {role: torch.load(out / f'{role}.pt', map_location='cpu', weights_only=True)     # Nothing pickled.
            for role in ('baseline', 'control', 'linked')}
    assert all(c['flavour'] == 'sg2ada' and c['format'] == CHECKPOINT_FORMAT for c in ckpt.values())
    assert [c['role'] for c in ckpt.values()] == ['baseline', 'control', 'linked']
    assert [c['linked'] for c in ckpt.values()] == [False, False, True]
    assert ckpt['linked']['spec']['links'][0]['name'] == 'left'
    assert ckpt['baseline']['spec'] is None and ckpt['control']['spec'] is None
    assert ckpt['control']['eval_spec'] == ckpt['linked']['spec']
    # The checkpoint keeps the training networks, and the evaluation tools load the G_ema it holds.
    from linkgan_plugin.analysis.network_loading import load_network
    G, D, G_ema = networks_from_checkpoint(ckpt['linked'])
    loaded = load_network(out / 'linked.pt')
    assert loaded.info['role'] == 'linked' and D.init_kwargs['mbstd_per_location']
    ws = G_ema.mapping(torch.randn(2, G_ema.z_dim), torch.zeros(2, 0))
    assert torch.equal(G_ema.synthesis(ws, noise_mode='const'), loaded.G.synthesis(ws, noise_mode='const'))
    # Both fine-tunes started from the baseline, ran equally long, and differ from it and from each other.
    assert ckpt['linked']['kimg'] == ckpt['control']['kimg'] > ckpt['baseline']['kimg']
    const = {r: c['G_ema_state']['synthesis.const'] for r, c in ckpt.items()}
    assert not torch.equal(const['linked'], const['baseline']) and not torch.equal(const['linked'], const['control'])


def test_demo_from_scratch_trains_both_runs_from_fresh_networks(tmp_path):
    out = tmp_path / 'out'
    result = CliRunner().invoke(main, ['demo', '--outdir', str(out), '--baseline', 'train', '--baseline-kimg', '0.032',
                                       '--from-scratch', '0.064', '--samples', '16', '--batch', '16',
                                       '--resolution', '16', '--serial'])
    assert result.exit_code == 0, result.output
    report = json.loads((out / 'report.json').read_text())
    assert report['settings']['scratch_kimg'] == 0.064
    md = (out / 'report.md').read_text()
    assert 'training from scratch at batch 16' in md and '"perturbation": "resample"' in md
    ckpt = {role: torch.load(out / f'{role}.pt', map_location='cpu', weights_only=True)
            for role in ('baseline', 'control', 'linked')}
    # Both ran 64 images from zero (the baseline saw 32, so they did not continue it) and differ.
    assert ckpt['control']['kimg'] == ckpt['linked']['kimg'] == 0.064 and ckpt['baseline']['kimg'] == 0.032
    const = {r: c['G_ema_state']['synthesis.const'] for r, c in ckpt.items()}
    assert not torch.equal(const['linked'], const['control'])


def test_control_and_linked_see_the_same_data_and_latents(monkeypatch):
    # The control differs from the linked run only by the link term: both see the same real images and the same
    # latents in the same order, although LinkLoss draws extra random numbers at link steps.
    from linkgan_plugin.demo import training as demo_training
    from linkgan_plugin.demo.settings import DEMO_DEFAULTS, demo_spec, make_networks
    from linkgan_plugin.toy.loop import ToyTrainer, build_loss
    settings = {**DEMO_DEFAULTS, 'resolution': 16, 'finetune_kimg': 0.048, 'finetune_batch': 8}
    torch.manual_seed(0)
    G, D = make_networks(settings)
    trainer = ToyTrainer('sg2ada', G, D, build_loss('sg2ada', G, D, r1_gamma=1.0), batch=8)
    baseline = {'flavour': 'sg2ada', 'G_init_kwargs': G.init_kwargs, 'D_init_kwargs': D.init_kwargs, 'G_state': G.state_dict(),
                'D_state': D.state_dict(), 'G_ema_state': trainer.G_ema.state_dict(), 'kimg': 0.0}
    spec = demo_spec({'links': [{'name': 'a', 'axes': '0:8', 'region': {'box': [0, 0, 0.5, 0.5]}}], 'interval': 2},
                     w_dim=64)
    seen = {}
    original_step = ToyTrainer.step

    def recording_step(self, real_img, real_c):
        gen = self.latents.get_state().clone()
        seen.setdefault(self.loss.__class__.__name__, []).append((real_img.clone(), gen))
        return original_step(self, real_img, real_c)
    monkeypatch.setattr(ToyTrainer, 'step', recording_step)
    demo_training.finetune(baseline, spec, settings, linked=False)
    demo_training.finetune(baseline, spec, settings, linked=True)
    control, linked = seen['ToySG2ADALoss'], seen['LinkLoss']
    assert len(control) == len(linked) == 6
    for (img_c, z_c), (img_l, z_l) in zip(control, linked):
        assert torch.equal(img_c, img_l) and torch.equal(z_c, z_l)


def test_demo_rejects_bad_spec(tmp_path):
    spec = tmp_path / 'bad.json'
    spec.write_text(json.dumps({'links': [{'name': 'x', 'axes': '0:80', 'region': {'box': [0, 0, 1, 1]}}]}))
    result = CliRunner().invoke(main, ['demo', '--outdir', str(tmp_path / 'o'), '--spec', str(spec)])
    assert result.exit_code != 0
    assert 'links[0].axes' in result.output and not os.path.exists(tmp_path / 'o')

#----------------------------------------------------------------------------


@pytest.mark.parametrize('scene', ['landscape', 'skies'])
def test_landscape_demo_semantic_link(tmp_path, scene):
    # The semantic demo end to end at a tiny size: a segmenter trained at demo time, saved as TorchScript and named
    # in the spec by file; the sky region recomputed per sample; the GIF and the segmenter's accuracy reported.
    # Under varied skies too: the scene, its baseline and its segmenter's data are the skies'.
    out = tmp_path / 'land'
    result = CliRunner().invoke(main, ['demo', '--scene', scene, '--outdir', str(out), '--baseline', 'train',
                                       '--baseline-kimg', '0.032', '--finetune-kimg', '0.032', '--samples', '16',
                                       '--batch', '16', '--resolution', '16', '--serial'])
    assert result.exit_code == 0, result.output
    report = json.loads((out / 'report.json').read_text())
    region = report['spec']['links'][0]['region']
    assert region['segmenter'] == str(out / 'segmenter.pt2') and region['classes'] == [0] and region['mode'] == 'source'
    assert report['settings']['scene'] == scene and report['baseline']['scene'] == scene
    assert report['segmenter']['accuracy']['real']['pixel_accuracy'] > 0.9
    assert set(report['segmenter']['generated_accuracy']) == {'control', 'linked'}
    assert set(report['models']['linked']['sky']) >= {'mse_i', 'keep_o', 'locality'}
    from PIL import Image
    with Image.open(out / 'sky.gif') as gif:
        assert gif.n_frames == 16


def test_shared_light_crosses_every_cell_and_leaves_unlit_scenes_unchanged():
    # light 0 draws exactly the scenes it drew before; light 1 adds one factor every cell shares, so the quadrants'
    # mean brightness becomes correlated across images (independent cells: near 0).
    from linkgan_plugin.demo.data import scenes
    plain = scenes(512, 32, 2, generator=torch.Generator().manual_seed(3))
    assert torch.equal(plain, scenes(512, 32, 2, generator=torch.Generator().manual_seed(3), light=0.0))
    lit = scenes(512, 32, 2, generator=torch.Generator().manual_seed(3), light=1.0)
    assert lit.min() >= -1 and lit.max() <= 1

    def quadrant_correlation(images):
        """Mean correlation, over colour channels and pairs of quadrants, of the quadrants' mean colours."""
        means = [images[:, :, r:r + 16, c:c + 16].mean(dim=(2, 3)) for r in (0, 16) for c in (0, 16)]     # 4 x [N, 3]
        pairs = [torch.corrcoef(torch.stack([m[:, ch] for m in means]))[torch.triu_indices(4, 4, 1).unbind()]
                 for ch in range(3)]
        return float(torch.cat(pairs).mean())
    assert abs(quadrant_correlation(plain)) < 0.05
    assert quadrant_correlation(lit) > 0.25


#----------------------------------------------------------------------------
# The faces scene: the paper's eyes, nose and mouth as boxes.

FACES_TINY = ['--scene', 'faces', '--baseline-kimg', '0.032', '--samples', '16', '--batch', '16', '--serial']


@pytest.fixture
def demo_on_one_thread(one_thread, monkeypatch):
    """The demo in this process on one torch thread: run_demo asks for 2 for its own evaluation and pictures, which
    on a busy 2-core machine makes a tiny run ~5x slower (46 s against 8 s); the numbers are the same code's."""
    monkeypatch.setattr(torch, 'set_num_threads', lambda n: None)


@pytest.mark.parametrize('resolution', [32, 64])
def test_faces_builtin_spec_links_the_papers_three_regions(resolution):
    from linkgan_plugin.demo.settings import DEMO_SPEC_DEFAULTS, demo_spec
    from linkgan_plugin.regions import preset_box
    spec = demo_spec(w_dim=64, resolution=resolution, scene='faces')
    assert spec.names == ['eyes', 'nose', 'mouth']
    assert [link.axes for link in spec.links] == [list(range(0, 16)), list(range(16, 32)), list(range(32, 48))]
    for link in spec.links:
        assert link.region.preset == link.name and link.region.boxes == [preset_box(link.name)]
        assert link.region.rasterise(resolution, resolution).sum() >= 1.0      # Each box covers pixels.
    assert all(spec.to_dict()[k] == v for k, v in DEMO_SPEC_DEFAULTS.items())  # The demo's recipe.
    assert demo_spec(w_dim=64).names == ['top_left', 'bottom_right']          # The cells' stays the default.
    with pytest.raises(ValueError, match='no built-in spec'):
        demo_spec(w_dim=64, scene='landscape')                                 # Its spec names a segmenter.


def test_faces_demo_links_eyes_nose_and_mouth(tmp_path, demo_on_one_thread):
    out = tmp_path / 'faces'
    result = CliRunner().invoke(main, ['demo', '--outdir', str(out), '--baseline', 'train', '--resolution', '32',
                                       '--finetune-kimg', '0.032', *FACES_TINY])
    assert result.exit_code == 0, result.output
    report = json.loads((out / 'report.json').read_text())
    assert report['settings']['scene'] == report['baseline']['scene'] == 'faces'
    assert report['spec_names'] == ['eyes', 'nose', 'mouth'] and report['segmenter'] is None
    assert [link['region'] for link in report['spec']['links']] == [{'preset': n} for n in ('eyes', 'nose', 'mouth')]
    for model in ('baseline', 'control', 'linked'):
        assert set(report['models'][model]) == {'eyes', 'nose', 'mouth'}
        assert all(math.isfinite(v) for link in report['models'][model].values() for v in link.values())
    # Coverage in the faces' factor space, part by part.
    assert report['coverage_space'] == {'features': 'factors:faces', 'measure': 'worst part', 'k': 3}
    assert set(report['details']['linked']['quality']['coverage']['parts']) == {'shared', 'eyes', 'nose', 'mouth'}
    # The report: each link beside the paper's LinkGAN locality of its region, and how to get stronger linkage on
    # this scene (its baseline ships: no --baseline FILE needed).
    md = (out / 'report.md').read_text()
    for name, anchor in (('eyes', '0.016'), ('nose', '0.036'), ('mouth', '0.024')):
        assert f'- **{name}**: mse_i' in md and f"(the paper's LinkGAN on the {name}: {anchor})" in md
        assert f'| {name} | locality |' in md
    assert 'linkgan demo --from-scratch 160 --scene faces` trains' in md and '--baseline FILE' not in md
    assert 'top_left' not in md and md in result.output
    from PIL import Image
    with Image.open(out / 'leakage.png') as pic:
        assert pic.width > 100


def test_faces_demo_from_scratch_takes_only_the_baselines_sizes(tmp_path, demo_on_one_thread):
    # With --from-scratch a baseline file of another scene (the cells' shipped one) only gives the networks' sizes:
    # the runs train on faces.
    from linkgan_plugin.demo.baseline import BASELINE_FILE
    out = tmp_path / 'scratch'
    result = CliRunner().invoke(main, ['demo', '--outdir', str(out), '--baseline', BASELINE_FILE,
                                       '--from-scratch', '0.016', *FACES_TINY])
    assert result.exit_code == 0, result.output
    report = json.loads((out / 'report.json').read_text())
    assert report['settings']['scene'] == 'faces' and report['baseline']['scene'] == 'cells'
    assert report['spec_names'] == ['eyes', 'nose', 'mouth']
    assert report['coverage_space']['features'] == 'factors:faces'


def test_stronger_linkage_names_a_baseline_file_only_where_none_ships(tmp_path, monkeypatch):
    from linkgan_plugin.demo.run import stronger_linkage_line
    from linkgan_plugin.demo.scenes import scene_of
    assert '--baseline FILE' not in stronger_linkage_line({'scene': 'faces', 'finetune_kimg': 16.0})
    monkeypatch.setattr(scene_of('faces'), 'baseline_path', lambda: str(tmp_path / 'missing.pt'))
    line = stronger_linkage_line({'scene': 'faces', 'finetune_kimg': 16.0})
    assert 'linkgan demo --from-scratch 160 --scene faces --baseline FILE' in line and 'no faces baseline ships' in line


@pytest.mark.parametrize('entry', ['file missing', 'no entry'])
def test_faces_demo_without_a_shipped_baseline_says_how_to_get_one(tmp_path, monkeypatch, entry):
    from linkgan_plugin.demo.scenes import scene_of
    if entry == 'no entry':
        monkeypatch.setattr(scene_of('faces'), 'baseline', None)
    else:       # The entry stays, the file is gone (a checkout without the asset).
        monkeypatch.setattr(scene_of('faces'), 'baseline_path', lambda: str(tmp_path / 'faces_baseline.pt'))
    out = tmp_path / 'o'
    result = CliRunner().invoke(main, ['demo', '--scene', 'faces', '--outdir', str(out)])
    assert result.exit_code != 0 and 'Traceback' not in result.output
    assert 'no shipped baseline for the faces scene' in result.output
    assert '`linkgan-research baseline --scene faces --kimg 320 --out FILE`' in result.output
    assert '--baseline FILE' in result.output and '--baseline train' in result.output
    assert not os.path.exists(out)                                  # Nothing written.


@pytest.mark.parametrize('links, resolution, message', [
    ([{'name': 'x', 'axes': '0:80', 'region': {'preset': 'eyes'}}], None, 'links[0].axes'),
    ([{'name': 'brow', 'axes': '0:8', 'region': {'preset': 'eyebrow'}}], '16', 'smaller than one pixel'),
])
def test_faces_demo_rejects_a_bad_spec(tmp_path, links, resolution, message):
    spec = tmp_path / 'bad.json'
    spec.write_text(json.dumps({'links': links}))
    args = ['demo', '--scene', 'faces', '--outdir', str(tmp_path / 'o'), '--spec', str(spec)]
    args += ['--baseline', 'train', '--resolution', resolution] if resolution else []
    result = CliRunner().invoke(main, args)
    assert result.exit_code != 0 and 'Traceback' not in result.output
    assert message in result.output and not os.path.exists(tmp_path / 'o')
