"""inversion_study: link resampling on projected codes, paired with sampled codes.

- W+ per-row resampling offsets set every row's linked axes to the new w's (hand-checked tiny case, offsets and
  metric values), and equal metrics.resample_offsets on W codes;
- on an analytic perfectly linked generator whose rows drive different pixels, codes projected in W and W+ score
  locality 0, as sampled codes do; the same generator with leakage scores > 0 on both;
- the sampled half equals metrics.evaluate_links on the same seed;
- `linkgan-research project-study` writes study.json / .md / .png on tiny toy demo checkpoints and refuses bad input.
"""

import json
import os

import pytest
import torch
from click.testing import CliRunner

from linkgan_research.cli import main
from linkgan_plugin.analysis.generator import GeneratorAdapter
from linkgan_research.inversion_study import inversion_locality, resampling_metrics_batch, row_variant_offsets
from linkgan_plugin.analysis.metrics import evaluate_links, resample_offsets
from linkgan_plugin.editing.project import project_images
from linkgan_plugin.regularizer import BoundSpec
from linkgan_plugin.spec import load_spec
from conftest import toy_G
from linkgan_plugin.toy.checkpoint import save_checkpoint as save_demo_checkpoint

pytestmark = pytest.mark.usefixtures('one_thread')

LEFT = {'links': [{'name': 'left', 'axes': '0:2', 'region': {'box': [0, 0, 0.5, 1]}}]}

#----------------------------------------------------------------------------

class RowsG(torch.nn.Module):
    """w = z on 2 rows; 1 channel, 4x4. Column j shows row j % 2: columns 0-1 (the left half, the link's region)
    u_r = sum of row r's linked axes 0-1 (+ eps * v_r), columns 2-3 v_r = sum of its other axes (+ eps * u_r).
    eps = 0 is perfectly linked however the rows differ; W+ codes fitting columns that differ have rows that differ."""

    def __init__(self, eps=0.0):
        super().__init__()
        self.z_dim = self.w_dim = 4
        self.c_dim, self.num_ws, self.img_resolution, self.img_channels = 0, 2, 4, 1
        self.eps = eps

    def mapping(self, z, c, truncation_psi=1, **_):
        return (z * truncation_psi)[:, None].repeat(1, 2, 1)

    def synthesis(self, ws, noise_mode='const', **_):
        u, v = ws[:, :, :2].sum(dim=2), ws[:, :, 2:].sum(dim=2)                 # [N, 2]
        inside, outside = u + self.eps * v, v + self.eps * u
        cols = torch.stack([inside[:, 0], inside[:, 1], outside[:, 0], outside[:, 1]], dim=1)   # [N, 4]
        return cols[:, None, None, :].expand(-1, 1, 4, -1).contiguous()

#----------------------------------------------------------------------------
# Per-row offsets.

def test_wplus_offsets_set_every_rows_linked_axes_hand_checked():
    bound = BoundSpec(load_spec(LEFT), 4)
    ws = torch.tensor([[[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]]])          # [1, 2 rows, 4]
    ws_new = torch.tensor([[[10.0, 20.0, 30.0, 40.0]]]).repeat(1, 2, 1)
    d = resample_offsets(ws, ws_new, bound)
    assert d.shape == (1, 1, 2, 4)
    assert torch.equal(d[0, 0], torch.tensor([[9.0, 18.0, 0.0, 0.0], [5.0, 14.0, 0.0, 0.0]]))
    linked, complement = row_variant_offsets(bound, ws, ws_new)
    assert torch.equal(ws + linked, torch.tensor([[[10.0, 20.0, 3.0, 4.0], [10.0, 20.0, 7.0, 8.0]]]))
    assert torch.equal(ws + complement, torch.tensor([[[1.0, 2.0, 30.0, 40.0], [5.0, 6.0, 30.0, 40.0]]]))
    # W codes (equal rows): every row carries the same offset, row 0's (ws_new[:, 0] - w[:, 0]) on the linked axes.
    w = ws[:, :1].repeat(1, 2, 1)
    d = resample_offsets(w, ws_new, bound)
    assert torch.equal(d[:, :, 0], d[:, :, 1])
    assert torch.equal(d[0, 0, 0], torch.tensor([9.0, 18.0, 0.0, 0.0]))


def test_wplus_metrics_hand_checked():
    # Rows: u = (1, 3), v = (2, -1); the new w has u' = 4, v' = 5. Linked resampling: column 0 changes by 3,
    # column 1 by 1 (row 0's offset on every row would give 3 and 3: edit_i 4.5); 4 pixels per column, 16 in all.
    gen = GeneratorAdapter(RowsG())
    bound = BoundSpec(load_spec(LEFT), 4)
    ws = torch.tensor([[[1.0, 0.0, 2.0, 0.0], [3.0, 0.0, -1.0, 0.0]]])
    ws_new = torch.tensor([[[4.0, 0.0, 5.0, 0.0]]]).repeat(1, 2, 1)
    out = resampling_metrics_batch(gen, bound, ws, ws_new)['image']
    expected = {'edit_i': 4 * (9 + 1) / 16, 'edit_i_region': 4 * (9 + 1) / 8, 'edit_o': 0.0, 'edit_o_region': 0.0,
                'keep_o': 4 * (9 + 36) / 16, 'keep_o_region': 4 * (9 + 36) / 8}
    assert set(out) == set(expected)
    for key, value in expected.items():
        assert out[key].item() == pytest.approx(value, abs=1e-6), key

#----------------------------------------------------------------------------
# Projected vs sampled codes.

@pytest.mark.parametrize('space', ['w', 'wplus'])
def test_projected_codes_of_a_perfectly_linked_generator_have_locality_zero(space):
    spec = load_spec(LEFT)
    g = torch.Generator().manual_seed(0)
    targets = (torch.rand([4, 1, 1, 4], generator=g) * 1.6 - 0.8).expand(-1, -1, 4, -1).contiguous()
    for eps in (0.0, 0.3):
        gen = GeneratorAdapter(RowsG(eps))
        projected = project_images(gen, targets, space=space, steps=60, starts=8, w_avg_samples=256)
        if space == 'wplus':                                  # W+ reaches these images (W cannot: equal rows).
            assert projected['psnr'].min() > 25
        ws = projected['ws']
        rows_differ = float((ws[:, 1] - ws[:, 0]).abs().max())
        assert rows_differ > 0.05 if space == 'wplus' else rows_differ == 0
        res = inversion_locality(gen, spec, None, ws, seed=3, batch=3)
        codes, samples = res['codes']['image']['left'], res['samples']['image']['left']
        for r in (codes, samples):
            assert r['edit_i'] > 0.1 and r['keep_o'] > 0.1
            if eps == 0:
                assert r['locality'] == 0 and r['edit_o'] == 0
            else:
                assert r['locality'] > 0.01
        assert res['values']['codes']['image']['edit_i'].shape == (4, 1)


def test_sampled_half_equals_evaluate_links():
    G = toy_G('sg2ada')
    gen = GeneratorAdapter(G)
    spec = load_spec({'links': [{'name': 'tl', 'axes': '0:8', 'region': {'box': [0, 0, 0.5, 0.5]}},
                                {'name': 'br', 'axes': '8:16', 'region': {'box': [0.5, 0.5, 1, 1]}}]})
    ref = evaluate_links(gen, spec, samples=6, batch=4, seed=5)['results']['image']
    codes = gen.map(torch.randn(6, gen.z_dim), None)
    res = inversion_locality(gen, spec, ['br'], codes, seed=5, batch=6)
    assert res['links'] == ['br'] and list(res['samples']['image']) == ['br']
    for key in ('edit_i', 'edit_o', 'keep_o', 'edit_i_region', 'locality'):
        assert res['samples']['image']['br'][key] == pytest.approx(ref['br'][key], rel=1e-5), key
    with pytest.raises(ValueError, match='link_names'):
        inversion_locality(gen, spec, ['nope'], codes)
    with pytest.raises(ValueError, match='codes_ws'):
        inversion_locality(gen, spec, None, codes[:, :1, :5])

#----------------------------------------------------------------------------
# The CLI.

SPEC = {'links': [{'name': 'tl', 'axes': '0:8', 'region': {'box': [0, 0, 0.5, 0.5]}},
                  {'name': 'br', 'axes': '8:16', 'region': {'box': [0.5, 0.5, 1, 1]}}]}
SETTINGS = {'resolution': 16, 'cells': 2, 'seed': 0, 'samples': 4}


def _demo_dir(path, settings=True):
    os.makedirs(path, exist_ok=True)
    for role, seed in (('control', 0), ('linked', 1)):
        file = os.path.join(path, f'{role}.pt')
        save_demo_checkpoint(file, toy_G('sg2ada', seed=seed), 'sg2ada', SPEC if role == 'linked' else None)
        if settings:
            data = torch.load(file, weights_only=False)
            torch.save({**data, 'eval_spec': SPEC, 'settings': SETTINGS, 'role': role}, file)
    return path


def test_cli_writes_json_markdown_and_png(tmp_path):
    demo = _demo_dir(str(tmp_path / 'demo'))
    out = tmp_path / 'study'
    r = CliRunner().invoke(main, ['project-study', '--demo', demo, '--images', '3', '--steps', '4', '--starts', '2',
                                  '--show', '2', '--out', str(out), '--device', 'cpu'])
    assert r.exit_code == 0, r.output
    report = json.loads((out / 'study.json').read_text())
    assert report['links'] == ['tl', 'br'] and report['spaces'] == ['w', 'wplus'] and report['images'] == 3
    for role in ('control', 'linked'):
        m = report['models'][role]
        assert set(m['sampled']) == {'tl', 'br'}
        for space in ('w', 'wplus'):
            s = m['spaces'][space]
            assert len(s['psnr']['per_image']) == 3 and s['psnr']['min'] <= s['psnr']['mean']
            for link in ('tl', 'br'):
                assert s['projected'][link]['edit_i'] > 0 and s['projected'][link]['locality'] > 0
    assert set(report['ratios']['tl']) == {'sampled', 'w', 'wplus'}
    md = (out / 'study.md').read_text()
    assert '| tl | linked | projected W+ |' in md and '| br | control | sampled |' in md
    from PIL import Image
    with Image.open(out / 'study.png') as im:
        # Two spaces side by side; rows: real, then per model recon + 2 links x (edit, heatmap): 11 rows of 48 px.
        assert im.width > 2 * 2 * 48 and im.height > 11 * 48


def test_cli_refuses_bad_input(tmp_path):
    demo = str(tmp_path / 'demo')
    os.makedirs(demo)
    runner = CliRunner()
    args = ['project-study', '--demo', demo, '--out', str(tmp_path / 'o'), '--images', '1', '--steps', '1']
    r = runner.invoke(main, args + ['--spaces', 'w,zplus'])
    assert r.exit_code == 2 and '--spaces' in r.output and 'zplus' in r.output
    r = runner.invoke(main, args)
    assert r.exit_code == 2 and '--demo' in r.output and 'no control.pt' in r.output
    _demo_dir(demo, settings=False)
    r = runner.invoke(main, args)
    assert r.exit_code == 2 and 'control.pt' in r.output and "'eval_spec'" in r.output and 'Traceback' not in r.output
