"""`linkgan compare`: matched-strength interpolation, the change statistics by hand, every edit kind by hand (the
StyleSpace channel edit on a generator with known affines), a perfectly linked generator against a random direction,
LELSD over direction seeds (median, range, held-out pick on latents of their own, search at compare's truncation and
strengths), ReSeFa and StyleSpace over search seeds (latents of their own, their rows on the toy checkpoints, ReSeFa
files given back), --methods, the JSON / markdown / PNG outputs of the command, and the plot kit they are drawn
with."""

import json
import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from linkgan_plugin.analysis.generator import GeneratorAdapter
from linkgan_plugin.analysis.metrics import region_change
from linkgan_plugin.analysis.network_loading import LoadedNetwork, load_network
from linkgan_plugin.analysis.plots import PALETTE, REFERENCE, xy_plot
from linkgan_plugin.editing import directions_file, lelsd, lelsd_scale, resefa, stylespace
from linkgan_plugin.cli import compare as compare_cli
from linkgan_plugin.workflows import compare, compare_inputs, compare_methods, compare_report
from linkgan_plugin.spec import load_spec
from toy_checkpoints import AnalyticG, read_image, save_demo_checkpoint, toy_G

pytestmark = pytest.mark.usefixtures('one_thread')

#----------------------------------------------------------------------------
# Interpolation at a matched in-region change.

def test_interpolate_at_on_synthetic_curves():
    ins = [1.0, 2.0, 4.0, 8.0]
    assert compare_report.interpolate_at(ins, [0.2 * x for x in ins], 3.0) == pytest.approx(0.6)    # A line through 0.
    assert compare_report.interpolate_at(ins, [0.2 * x for x in ins], 8.0) == pytest.approx(1.6)    # The last point.
    assert compare_report.interpolate_at(ins, [1.0, 3.0, 5.0, 13.0], 0.5) == pytest.approx(0.5)     # From the origin.
    assert compare_report.interpolate_at(ins, [1.0, 3.0, 5.0, 13.0], 6.0) == pytest.approx(9.0)     # Between 4 and 8.
    assert compare_report.interpolate_at(ins, [1.0, 3.0, 5.0, 13.0], 9.0) is None                   # Never reached.
    assert compare_report.interpolate_at(ins, [1.0, 2.0, 3.0, 4.0], None) is None
    # A curve that turns back: the first crossing in strength order counts.
    assert compare_report.interpolate_at([2.0, 4.0, 3.0], [1.0, 2.0, 9.0], 3.0) == pytest.approx(1.5)
    # The matched columns of a report use the same walk in both normalisations.
    points = [{'strength': s, 'in_px': i, 'out_px': 0.1 * i, 'in_all': i / 4, 'out_all': 0.3 * i, 'swd': 10 + i}
              for s, i in [(1, 1.0), (2, 3.0)]]
    m = compare_report.matched(points, {'in_px': 2.0, 'in_all': 0.5})
    assert m['out_px'] == pytest.approx(0.2) and m['out_all'] == pytest.approx(0.6)
    assert m['locality'] == pytest.approx(0.1) and m['swd'] == pytest.approx(12.0)


def test_change_stats_hand_computed():
    x = torch.zeros(1, 2, 2, 2)
    x1 = x.clone()
    x1[0, :, 0, 0] = 1.0                    # Inside: squared change 1 in both channels of one pixel.
    x1[0, 0, 1, 1] = 2.0                    # Outside: 4 in one channel of one pixel.
    mask = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
    s = region_change(x, x1, mask)
    assert float(s['in_all']) == pytest.approx(2 / 8) and float(s['out_all']) == pytest.approx(4 / 8)
    assert float(s['in_px']) == pytest.approx(2 / 2) and float(s['out_px']) == pytest.approx(4 / 6)


@pytest.mark.parametrize('kind', sorted(compare_methods.STRENGTHS))
def test_every_edit_kind_by_hand(kind):
    ws = torch.randn(2, 3, 4)
    ws_new, noise = torch.randn(2, 3, 4), torch.randn(2, 4)
    axes, signs = torch.tensor([1.0, 1.0, 0.0, 0.0]), torch.tensor([1.0, -1.0])
    u = torch.tensor([0.0, 3.0, 4.0, 0.0])
    rows = torch.tensor([0.0, 1.0, 1.0])
    method = compare_methods.Method('k', 'k', 'n', kind, compare_methods.STRENGTHS[kind], kind, lelsd_scale.unit_direction(u), rows)
    s = compare_methods.STRENGTHS[kind][1]
    got = compare_methods.edit_batch(method, s, ws, ws_new, noise, axes, 2.0, signs)
    if kind == 'resample':
        expect = ws + (s * (ws_new[:, 0] - ws[:, 0]) * axes)[:, None]
    elif kind == 'noise':
        expect = ws + (s * noise * axes)[:, None]
    else:                                   # s * D * u/|u| with sign (-1)^i, on the chosen rows only.
        expect = ws.clone()
        expect[:, 1:] += (s * 2.0 * signs)[:, None, None] * (u / 5)[None, None]
    torch.testing.assert_close(got, expect)
    with pytest.raises(ValueError, match='unknown method kind'):
        compare_methods.edit_batch(compare_methods.Method('k', 'k', 'n', 'other', (1,), 'x'), 1, ws, ws_new, noise, axes, 2.0, signs)


class PaintLayer(torch.nn.Module):
    """Style s = affine(w) = A w + b [N, C] (known A, b); output sum_c s_c basis_c [N, 3, R, R]: linear in s."""

    def __init__(self, w_dim, channels, resolution):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.affine = torch.nn.Linear(w_dim, channels)
        with torch.no_grad():
            self.affine.weight.copy_(torch.randn(channels, w_dim, generator=g))
            self.affine.bias.copy_(torch.randn(channels, generator=g))
        self.register_buffer('basis', torch.randn(channels, 3, resolution, resolution, generator=g))

    def forward(self, w):
        return torch.einsum('nc,ckhw->nkhw', self.affine(w), self.basis)


class PaintSynthesis(torch.nn.Module):
    def __init__(self, layer):
        super().__init__()
        self.layers = torch.nn.ModuleList([layer])

    def forward(self, ws, noise_mode='const', **_):
        return self.layers[0](ws[:, 0])


class PaintG(torch.nn.Module):
    """A generator with one known affine (upstream-shaped): w = z on its one ws row, image = PaintLayer(w)."""

    def __init__(self, w_dim=4, channels=3, resolution=4):
        super().__init__()
        self.z_dim = self.w_dim = w_dim
        self.c_dim, self.img_resolution, self.img_channels, self.num_ws = 0, resolution, 3, 1
        self.synthesis = PaintSynthesis(PaintLayer(w_dim, channels, resolution))

    def mapping(self, z, c, truncation_psi=1, truncation_cutoff=None, **_):
        return (z * truncation_psi)[:, None]


def test_channel_edit_by_hand():
    G = PaintG()
    gen = GeneratorAdapter(G)
    layers = stylespace.style_layers(G)
    assert [l.name for l in layers] == ['synthesis.layers.0.affine']
    channels = stylespace.StyleChannels(layers=['synthesis.layers.0.affine'], channels=[1], stds=[0.5], shares=[1.0],
                                        region={}, link='x')
    method = compare_methods.Method('k', 'k', 'n', 'channel', compare_methods.CHANNEL_STRENGTHS, 'stylespace', info={'index': 0},
                            channels=channels, layers=layers)
    ws = torch.randn(2, 1, 4)
    ws_new, noise = torch.randn(2, 1, 4), torch.randn(2, 4)
    axes, signs = torch.tensor([1.0, 1.0, 0.0, 0.0]), torch.tensor([1.0, -1.0])
    a = compare_methods.CHANNEL_STRENGTHS[2]
    assert torch.equal(compare_methods.edit_batch(method, a, ws, ws_new, noise, axes, 2.0, signs), ws)     # Codes untouched.
    got = compare_methods.render_edit(gen, method, a, ws, ws_new, noise, axes, 2.0, signs)
    layer = G.synthesis.layers[0]
    style = ws[:, 0] @ layer.affine.weight.T + layer.affine.bias
    style[:, 1] += a * 0.5 * signs                              # s_c += (-1)^i * a * std_c, the others unchanged.
    torch.testing.assert_close(got, torch.einsum('nc,ckhw->nkhw', style, layer.basis))
    # A W kind renders edit_batch's codes.
    direction = compare_methods.Method('d', 'd', 'n', 'direction', compare_methods.STRENGTHS['direction'], 'random',
                               lelsd_scale.unit_direction(torch.tensor([0.0, 3.0, 4.0, 0.0])))
    edited = compare_methods.edit_batch(direction, 0.5, ws, ws_new, noise, axes, 2.0, signs)
    torch.testing.assert_close(compare_methods.render_edit(gen, direction, 0.5, ws, ws_new, noise, axes, 2.0, signs),
                               gen.synthesize(edited)['image'])

#----------------------------------------------------------------------------
# A perfectly linked generator: LinkGAN's edits never leave the region, a random direction does.

LEFT = {'links': [{'name': 'left', 'axes': '0:2', 'region': {'box': [0, 0, 0.5, 1]}}]}


def test_perfect_linkage_leaks_nothing_and_a_random_direction_does():
    G = AnalyticG(linked=(0, 1), w_dim=4, resolution=8, scale=0.5)      # Left half: tanh(u / 2); right: tanh(v / 2).
    gen = GeneratorAdapter(G)
    net = LoadedNetwork(G=G, path='perfect', kind='demo', flavour='sg2ada', info={'linked': True})
    one = load_spec(LEFT).select(['left'])
    given = lelsd.LelsdResult(directions=np.array([[1.0, 1.0, 0.0, 0.0]], np.float32), space='w', rows=None, axes=None,
                              region=one.links[0].region.to_dict(), link='left', num_ws=2, w_dim=4,
                              settings={'truncation': 1.0})
    report = compare.run_compare([('perfect', net, gen)], one, {'perfect': [given]}, samples=16, batch=5)
    by = {m['family']: m for m in report['methods']}
    assert set(by) == {'linkgan-resample', 'linkgan-noise', 'lelsd', 'random'}
    [summary] = report['lelsd']             # One given direction: its own median and range; LELSD cannot score
    assert summary['count'] == 1 and summary['pick'] is None        # this generator (no synthesis layers): no pick.
    assert summary['matched']['out_px']['values'] == [by['lelsd']['matched']['out_px']]
    for family in ('linkgan-resample', 'linkgan-noise', 'lelsd'):
        assert all(p['out_all'] == 0 and p['in_all'] > 0 for p in by[family]['points']), family
        assert by[family]['matched']['out_px'] in (0.0, None)
    assert all(p['out_px'] > 0 for p in by['random']['points'])
    rnd = by['random']['points']
    assert compare_report.matched(rnd, {'in_px': rnd[1]['in_px'], 'in_all': None})['out_px'] == pytest.approx(rnd[1]['out_px'])
    # The target is LinkGAN resample at t = 1; its own curve matches itself exactly.
    res = by['linkgan-resample']
    assert report['match']['in_px'] == res['points'][-1]['in_px'] and res['matched']['out_px'] == 0.0
    # A different batch size gives the same numbers.
    again = compare.run_compare([('perfect', net, gen)], one, {'perfect': [given]}, samples=16, batch=16)
    for a, b in zip(report['methods'], again['methods']):
        for p, q in zip(a['points'], b['points']):
            assert p['in_px'] == pytest.approx(q['in_px'], rel=1e-5) and p['out_px'] == pytest.approx(q['out_px'], abs=1e-9)

#----------------------------------------------------------------------------
# LELSD over direction seeds.

def test_lelsd_seeds_median_range_and_held_out_pick(monkeypatch):
    G = toy_G('sg2ada')
    gen = GeneratorAdapter(G)
    psis, mapping = [], gen.map
    gen.map = lambda z, c=None, truncation_psi=1.0: psis.append(truncation_psi) or mapping(z, c, truncation_psi)
    net = LoadedNetwork(G=G, path='g', kind='demo', flavour='sg2ada', info={'linked': False})
    one = load_spec(SPEC).select(['tl'])
    held, real_held_out = [], lelsd.held_out_latents

    def recording_held_out(*args, **kwargs):            # The latents every held-out score is computed on.
        ws, c = real_held_out(*args, **kwargs)
        held.append(ws)
        return ws, c
    monkeypatch.setattr(lelsd, 'held_out_latents', recording_held_out)
    report = compare.run_compare([('g', net, gen)], one, samples=8, batch=4, seed=3, truncation=0.8, lelsd_seeds=3,
                                 lelsd_max_steps=4, held_out_samples=6)
    # Search, scale, held-out scores and measurement all at compare's truncation.
    assert set(psis) == {0.8} and report['settings']['truncation'] == 0.8
    [s] = report['lelsd']
    assert (s['network'], s['family'], s['count']) == ('g', 'lelsd', 3)
    assert [d['seed'] for d in s['directions']] == [3, 4, 5]
    lo, hi = min(compare_methods.STRENGTHS['direction']), max(compare_methods.STRENGTHS['direction'])
    for d in s['directions']:
        assert d['search']['truncation'] == 0.8 and d['search']['strengths'] == [lo, hi]
        assert d['search']['stop']['steps'] == 4
    for figure in compare_report.FIGURES:
        f = s['matched'][figure]
        assert len(f['values']) == 3
        if f['n']:
            assert f['min'] <= f['median'] <= f['max']
    assert s['matched']['locality']['n'] == 3
    assert s['matched']['locality']['values'] == [d['matched']['locality'] for d in s['directions']]
    scores = [d['held_out_score'] for d in s['directions']]
    assert s['pick']['held_out_score'] == max(scores) and s['pick']['key'] in [d['key'] for d in s['directions']]
    # The pick's latents: compare's seed and truncation, not one of the measured samples.
    assert held and all(h.shape[0] == 6 for h in held)
    measured = compare_methods.sample_inputs(gen, 8, 3, 0.8)
    for h in held:
        assert torch.equal(h, held[0])
        for w in (measured[0], measured[1]):
            assert not torch.isclose(h[:, None, 0], w[None, :, 0]).all(dim=2).any()
    assert report['settings']['held_out'] == {'samples': 6, 'seed': 3, 'stream': 'lelsd_scale.held_out_latents'}
    # The median curve: per strength, the median over the directions.
    lelsd_ms = [m for m in report['methods'] if m['family'] == 'lelsd']
    for j, p in enumerate(s['median_points']):
        assert p['out_px'] == pytest.approx(float(np.median([m['points'][j]['out_px'] for m in lelsd_ms])))
    md = compare_report.format_markdown(report)
    assert 'LELSD, median [range] of 3' in md and 'held-out pick (seed' in md and '## LELSD directions' in md


def test_post_hoc_searches_use_latents_of_their_own(monkeypatch):
    G = toy_G('sg2ada')
    gen = GeneratorAdapter(G)
    net = LoadedNetwork(G=G, path='g', kind='demo', flavour='sg2ada', info={'linked': False})
    one = load_spec(SPEC).select(['tl'])
    seen = {'resefa': [], 'stylespace': []}
    metrics, energies = resefa.averaged_metrics, stylespace.channel_energies

    def recording_metrics(gen, region, ws, *args, **kwargs):
        seen['resefa'].append(ws)
        return metrics(gen, region, ws, *args, **kwargs)

    def recording_energies(gen, layers, masker, ws, *args, **kwargs):
        seen['stylespace'].append(ws)
        return energies(gen, layers, masker, ws, *args, **kwargs)
    monkeypatch.setattr(resefa, 'averaged_metrics', recording_metrics)
    monkeypatch.setattr(stylespace, 'channel_energies', recording_energies)
    report = compare.run_compare([('g', net, gen)], one, samples=8, batch=4, seed=3, truncation=0.8,
                                 groups=('linkgan', 'resefa', 'stylespace'), post_hoc_seeds=2, post_hoc_samples=4,
                                 quality_images=0)
    assert {m['family'] for m in report['methods']} == {'control-resample', 'resefa', 'stylespace'}
    assert report['lelsd'] == [] and report['settings']['methods'] == ['linkgan', 'resefa', 'stylespace']
    # Every search: its own seed's latents (seeds 3 and 4 differ), none of them a measured sample.
    measured = compare_methods.sample_inputs(gen, 8, 3, 0.8)
    for family, batches in seen.items():
        ws = torch.cat(batches)
        assert ws.shape[0] == 8, family                         # 2 seeds x 4 samples.
        assert not torch.equal(ws[:4], ws[4:])
        for w in (measured[0], measured[1]):
            assert not torch.isclose(ws[:, None, 0], w[None, :, 0]).all(dim=2).any(), family
    by_family = {s['family']: s for s in report['post_hoc']}
    for family, label in (('resefa', 'ReSeFa'), ('stylespace', 'StyleSpace')):
        s = by_family[family]
        assert (s['network'], s['label'], s['count']) == ('g', label, 2)
        assert [d['seed'] for d in s['directions']] == [3, 4]
        assert all(d['search']['truncation'] == 0.8 and d['search']['samples'] == 4 for d in s['directions'])
        assert s['pick']['score'] == max(d['score'] for d in s['directions'])
        assert 0 <= s['pick']['score'] <= 1 + 1e-9 and 'held_out_score' not in s['pick']
    for m in report['methods']:
        if m['family'] == 'stylespace':
            assert [p['strength'] for p in m['points']] == list(compare_methods.CHANNEL_STRENGTHS)
            assert m['info']['search']['std'] > 0 and m['info']['search']['layer'].endswith('affine')


def test_spread_ignores_sweeps_that_never_reach_the_match():
    s = compare_report.spread([0.3, None, 0.1, 0.2])
    assert s == {'values': [0.3, None, 0.1, 0.2], 'n': 3, 'median': 0.2, 'min': 0.1, 'max': 0.3}
    assert compare_report.spread([None])['median'] is None

#----------------------------------------------------------------------------
# The command.

SPEC = {'links': [{'name': 'tl', 'axes': '0:8', 'region': {'box': [0, 0, 0.5, 0.5]}}]}


@pytest.fixture
def checkpoints(tmp_path):
    """(linked, control): paths of demo checkpoints linked.pt (SPEC, weights of seed 0) and control.pt (no spec,
    weights of seed 1)."""
    linked, base = str(tmp_path / 'linked.pt'), str(tmp_path / 'control.pt')
    save_demo_checkpoint(linked, toy_G('sg2ada'), 'sg2ada', SPEC)
    save_demo_checkpoint(base, toy_G('sg2ada', seed=1), 'sg2ada', None)
    return linked, base


def test_network_roles(checkpoints):
    linked, base = checkpoints
    link = load_spec(SPEC).links[0]
    assert compare_inputs.network_role(load_network(linked), link) == 'linked'
    assert compare_inputs.network_role(load_network(base), link) == 'control'
    other = load_spec({'links': [{'name': 'tl', 'axes': '8:16', 'region': {'box': [0, 0, 0.5, 0.5]}}]}).links[0]
    assert compare_inputs.network_role(load_network(linked), other) == 'control'      # Same name, other axes.


def test_cli_writes_json_markdown_and_png(tmp_path, checkpoints):
    linked, base = checkpoints
    data = tmp_path / 'real'
    data.mkdir()
    rng = np.random.RandomState(0)
    for i in range(8):
        Image.fromarray(rng.randint(0, 255, (16, 16, 3), dtype=np.uint8)).save(data / f'{i}.png')
    out = tmp_path / 'cmp'
    args = ['--network', linked, '--network', base, '--link', 'tl', '--out', str(out), '--samples', '8',
            '--batch', '4', '--lelsd-max-steps', '2', '--lelsd-seeds', '2', '--held-out-samples', '4',
            '--post-hoc-seeds', '1', '--post-hoc-samples', '2', '--within-link', '--data', str(data), '--device', 'cpu']
    r = CliRunner().invoke(compare_cli.compare_command, args)
    assert r.exit_code == 0, r.output
    report = json.loads((out / 'compare.json').read_text())
    fams = {(m['network'], m['family']) for m in report['methods']}
    assert fams == {('linked', 'linkgan-resample'), ('linked', 'linkgan-noise'), ('linked', 'lelsd'),
                    ('linked', 'lelsd-within'), ('linked', 'resefa'), ('linked', 'stylespace'), ('linked', 'random'),
                    ('control', 'control-resample'), ('control', 'lelsd'), ('control', 'resefa'),
                    ('control', 'stylespace'), ('control', 'random')}
    assert report['networks']['linked']['role'] == 'linked' and report['networks']['control']['role'] == 'control'
    for m in report['methods']:
        assert [p['strength'] for p in m['points']] == list(compare_methods.SWEEPS[m['kind']])
        assert all(p['swd'] is not None and math.isfinite(p['swd']) for p in m['points'])
        assert all(0 <= p['recall'] <= 1 and 0 <= p['precision'] <= 1 for p in m['points'])
        assert set(m['matched']) == {'out_px', 'out_all', 'locality', 'swd'}
    assert set(report['originals_quality']) == {'linked', 'control'}
    assert report['originals_swd']['linked'] == report['originals_quality']['linked']['swd']
    assert report['match']['from'].startswith('LinkGAN resample')
    md = (out / 'compare.md').read_text()
    assert '| Method | network | strength | MSE_i | MSE_o |' in md and 'LELSD within link' in md
    assert 'recall' in md and 'precision' in md
    png = read_image(out / 'compare.png')
    assert png.size == (820, 540) and len(np.unique(np.asarray(png.convert('RGB')).reshape(-1, 3), axis=0)) > 10
    assert {(s['network'], s['family'], s['count']) for s in report['lelsd']} == {
        ('linked', 'lelsd', 2), ('linked', 'lelsd-within', 2), ('control', 'lelsd', 2)}
    assert all(s['pick'] is not None for s in report['lelsd']) and 'held-out pick' in md
    assert report['settings']['lelsd_seeds'] == 2 and report['settings']['lelsd_strengths'] == [0.125, 2.0]
    files = [out / f'lelsd-linked-seed{s}.npz' for s in (0, 1)]
    assert all(f.exists() for f in files) and (out / 'lelsd-linked-within-seed1.npz').exists()
    saved = directions_file.load(str(files[1]))
    assert saved.settings['seed'] == 1 and saved.settings['truncation'] == 1.0 and len(saved.scores) == 1
    # Reusing the saved directions skips the search; a file of another network is refused.
    reuse = [a for f in files for a in ('--directions', str(f))]
    r = CliRunner().invoke(compare_cli.compare_command, args[:-5] + reuse + ['--quality-images', '0', '--device', 'cpu'])
    assert r.exit_code == 0, r.output
    assert 'linked: lelsd seed' not in r.output and 'control: lelsd seed 1' in r.output
    again = json.loads((out / 'compare.json').read_text())
    [linked_lelsd] = [s for s in again['lelsd'] if (s['network'], s['family']) == ('linked', 'lelsd')]
    assert [d['seed'] for d in linked_lelsd['directions']] == [0, 1]
    other = str(tmp_path / 'other.pt')
    save_demo_checkpoint(other, toy_G('sg2ada', seed=2), 'sg2ada', SPEC)
    r = CliRunner().invoke(compare_cli.compare_command, ['--network', other, '--out', str(out), '--directions',
                                                     str(files[0]), '--device', 'cpu'])
    assert r.exit_code == 2 and '--directions' in r.output and 'not among --network' in r.output


def test_cli_resefa_and_stylespace_rows_on_toy_checkpoints(tmp_path, checkpoints):
    linked, base = checkpoints
    out = tmp_path / 'cmp'
    args = ['--network', linked, '--network', base, '--link', 'tl', '--out', str(out), '--samples', '8', '--batch', '4',
            '--methods', 'linkgan,resefa,stylespace', '--post-hoc-seeds', '2', '--post-hoc-samples', '4',
            '--quality-images', '0', '--device', 'cpu']
    r = CliRunner().invoke(compare_cli.compare_command, args)
    assert r.exit_code == 0, r.output
    report = json.loads((out / 'compare.json').read_text())
    assert report['lelsd'] == []
    assert {(s['network'], s['family'], s['count']) for s in report['post_hoc']} == {
        ('linked', 'resefa', 2), ('linked', 'stylespace', 2), ('control', 'resefa', 2), ('control', 'stylespace', 2)}
    for s in report['post_hoc']:
        assert s['pick'] is not None and math.isfinite(s['pick']['score'])
        for p in s['median_points']:
            assert all(math.isfinite(p[k]) for k in ('in_all', 'out_all', 'in_px', 'out_px', 'locality'))
    for m in report['methods']:
        if m['family'] in ('resefa', 'stylespace'):
            assert all(math.isfinite(p[k]) and p[k] > 0 for p in m['points'] for k in ('in_px', 'out_px', 'locality'))
    assert report['settings']['strengths']['channel'] == list(compare_methods.CHANNEL_STRENGTHS)
    md = (out / 'compare.md').read_text()
    for text in ('ReSeFa, median [range] of 2', 'ReSeFa, pick by inside share (seed', 'StyleSpace, median [range] of 2',
                 'StyleSpace, pick by share (seed', '## ReSeFa and StyleSpace searches'):
        assert text in md, text
    assert read_image(out / 'compare.png').size == (820, 540)
    files = [out / f'resefa-linked-seed{s}.npz' for s in (0, 1)]
    assert all(f.exists() for f in files) and (out / 'stylespace-control-seed1.npz').exists()
    assert directions_file.load(str(out / 'stylespace-control-seed1.npz')).settings['seed'] == 1
    # ReSeFa files given back are ReSeFa rows (not LELSD) and skip that network's ReSeFa search.
    reuse = [a for f in files for a in ('--directions', str(f))]
    r = CliRunner().invoke(compare_cli.compare_command, args + reuse)
    assert r.exit_code == 0, r.output
    assert 'linked: resefa seed' not in r.output and 'control: resefa seed 1' in r.output
    again = json.loads((out / 'compare.json').read_text())
    assert again['lelsd'] == []
    [given] = [s for s in again['post_hoc'] if (s['network'], s['family']) == ('linked', 'resefa')]
    assert [d['seed'] for d in given['directions']] == [0, 1]


def test_cli_methods_option(tmp_path, checkpoints):
    linked, _ = checkpoints
    out = tmp_path / 'cmp'
    base = ['--network', linked, '--out', str(out), '--samples', '4', '--batch', '4', '--quality-images', '0',
            '--device', 'cpu']
    r = CliRunner().invoke(compare_cli.compare_command, base + ['--methods', 'random, linkgan'])
    assert r.exit_code == 0, r.output
    assert 'resefa' not in r.output and 'stylespace' not in r.output and 'lelsd seed' not in r.output
    report = json.loads((out / 'compare.json').read_text())
    assert {m['family'] for m in report['methods']} == {'linkgan-resample', 'linkgan-noise', 'random'}
    assert report['post_hoc'] == [] and report['lelsd'] == [] and report['settings']['methods'] == ['linkgan', 'random']
    # The first samples' edits are kept for pictures, even without the quality distance, and match the sweep.
    edits = compare_methods.load_edit_samples(out / f'edits-{next(iter(report["networks"]))}.npz')
    assert list(edits['methods']) == [m['key'] for m in report['methods']]
    n, h, w, c = edits['originals'].shape
    assert (n, c) == (4, 3) and h == w and edits['originals'].dtype.name == 'uint8'
    for m in report['methods']:
        kept = edits['methods'][m['key']]
        assert kept['strengths'].tolist() == [p['strength'] for p in m['points']]
        assert kept['images'].shape == (len(m['points']), n, h, w, c)
        assert (kept['images'][-1] != edits['originals']).any()          # The strongest edit changes the images.
    for methods, extra, expect in (('linkgan,pca', [], "'pca' is not a method"), ('linkgan,linkgan', [], 'at most once'),
                                   ('', [], 'at least one'), ('random', [], '--match'),
                                   ('linkgan,random', ['--within-link'], 'need lelsd')):
        r = CliRunner().invoke(compare_cli.compare_command, base + ['--methods', methods] + extra)
        assert r.exit_code == 2 and '--methods' in r.output and expect in r.output, (methods, r.output)


def test_plot_draws_anchor_lines_and_every_curve():
    pts = lambda r: [{'strength': s, 'in_px': s, 'out_px': r * s} for s in (0.1, 1.0, 10.0)]
    report = {'link': {'name': 'x'}, 'match': {'in_px': 1.0},
              'methods': [{'label': 'a', 'network': 'n', 'points': pts(0.015)}, {'label': 'b', 'network': 'n', 'points': pts(0.67)}]}
    img = np.asarray(compare_report.plot_curves(report))
    blue, red = np.array(PALETTE[0]), np.array(PALETTE[1])
    count = lambda c: int((np.abs(img - c).sum(axis=2) == 0).sum())
    assert count(blue) > 500 and count(red) > 500          # Curves joined by lines (markers alone: ~200 px).
    assert count(np.array(REFERENCE)) > 50                 # Dashed anchor lines.
    # A report whose curves leave nothing to draw on log axes (no leakage at all) still makes a picture.
    flat = {**report, 'methods': [{'label': 'a', 'network': 'n', 'points': pts(0.0)}]}
    assert compare_report.plot_curves(flat).size == (820, 540)
    # LELSD over seeds: its median curve in its colour, every direction's points faintly.
    seeds = [{'key': f'n/lelsd-{k}', 'label': f'LELSD #{k}', 'network': 'n', 'family': 'lelsd', 'info': {'seed': k},
              'points': pts(r), 'matched': {'out_px': r, 'out_all': r, 'locality': r, 'swd': None}}
             for k, r in enumerate((0.1, 0.2, 0.4))]
    lelsd_report = {**report, 'methods': report['methods'][:1] + seeds}
    lelsd_report['lelsd'] = compare_report.lelsd_summaries(lelsd_report)
    median = lelsd_report['lelsd'][0]['median_points']
    assert [(p['in_px'], p['out_px']) for p in median] == [(s, 0.2 * s) for s in (0.1, 1.0, 10.0)]
    img = np.asarray(compare_report.plot_curves(lelsd_report))
    assert count(red) > 500 and count(np.array(compare_report.faint(PALETTE[1]))) > 40


def test_xy_plot_linear_axes_and_reference_lines():
    series = [{'label': 'up', 'points': [(0, 0), (1, 2), (2, 4)], 'line': True},
              {'label': 'dots', 'points': [(0.5, 3.0), (1.5, 1.0)], 'labels': ['p', 'q'], 'marker': 'square'}]
    img = np.asarray(xy_plot(series, 'x', 'y', title='t', hlines=[(3.5, 'h')], vlines=[(1.0, 'v')],
                             ratio_lines=[(1.0, 'y = x')], size=(400, 300)))
    assert img.shape == (300, 400, 3)
    count = lambda c: int((np.abs(img - np.array(c)).sum(axis=2) == 0).sum())
    assert count(PALETTE[0]) > 100 and count(PALETTE[1]) > 40 and count(REFERENCE) > 50
    with pytest.raises(ValueError, match='both axes linear or both logarithmic'):
        xy_plot(series, 'x', 'y', ratio_lines=[(1.0, 'r')], log_y=True)

#----------------------------------------------------------------------------
