"""`linkgan eval`: hand-computed metrics, zero leakage of a perfectly linked generator, the CLI's JSON, table,
comparison and errors."""

import json
import math

import pytest
import torch
from click.testing import CliRunner

from linkgan_plugin.analysis.evaluate import compare_reports, eval_report, evaluate_network
from linkgan_plugin.cli.eval import eval_command
from linkgan_plugin.analysis.generator import GeneratorAdapter
from linkgan_plugin.analysis.metrics import link_metrics_batch
from linkgan_plugin.analysis.network_loading import load_network, make_adapter, resolve_spec
from linkgan_plugin.regularizer import BoundSpec
from linkgan_plugin.spec import load_spec
from toy_checkpoints import AnalyticG, save_demo_checkpoint, toy_G

SPEC = {'links': [{'name': 'eyes', 'axes': '0:8', 'region': {'preset': 'eyes'}},
                  {'name': 'mouth', 'axes': '8:16', 'region': {'box': [0.25, 0.625, 0.75, 0.875]}}]}
METRIC_KEYS = [m + s for m in ('mse_i', 'mse_o', 'edit_i', 'edit_o', 'keep_o') for s in ('', '_region')]


pytestmark = pytest.mark.usefixtures('one_thread')


#----------------------------------------------------------------------------
# An analytic generator (toy_checkpoints.AnalyticG): w = z; inside the box the image is u + eps*v, outside
# v + eps*u, where u sums the linked axes of w and v the others. eps = 0 is a perfect linkage.

HALF = {'links': [{'name': 'left', 'axes': '0:2', 'region': {'box': [0, 0, 0.5, 1]}}]}


def test_metrics_hand_computed_tiny_case():
    # 1 sample, 1 channel, 4x4 image, link = axes {0, 1} <-> left half (8 pixels); eps = 0.1.
    G = AnalyticG(linked=[0, 1], resolution=4, channels=1, eps=0.1)
    gen = GeneratorAdapter(G)
    bound = BoundSpec(load_spec(HALF), 4)
    z = torch.tensor([[1.0, 0.0, 2.0, 0.0]])            # u = 1, v = 2.
    z_new = torch.tensor([[3.0, 0.0, 0.0, 0.0]])        # resampled linked axes: u -> 3 (du = 2).
    noise = torch.tensor([[[0.5, 0.0, -1.0, 0.0]]])     # linked: du = 0.5; complement: dv = -1.
    out = link_metrics_batch(gen, bound, z, z_new, noise, alpha=1.0)['image']
    # mse_i:  complement perturbed, inside changes by eps*dv = -0.1 at 8 pixels: 8 * 0.01 / 16.
    # mse_o:  linked perturbed, outside changes by eps*du = 0.05 at 8 pixels:     8 * 0.0025 / 16.
    # edit_i: resampled, inside changes by du = 2:                                 8 * 4 / 16.
    # edit_o: resampled, outside changes by eps*du = 0.2:                          8 * 0.04 / 16.
    # keep_o: complement resampled (v: 2 -> 0, dv = -2), outside changes by dv:    8 * 4 / 16.
    expected = {'mse_i': 0.005, 'mse_o': 0.00125, 'edit_i': 2.0, 'edit_o': 0.02, 'keep_o': 2.0,
                'mse_i_region': 0.01, 'mse_o_region': 0.0025, 'edit_i_region': 4.0, 'edit_o_region': 0.04,
                'keep_o_region': 4.0}
    for key, value in expected.items():
        assert out[key].shape == (1, 1)
        assert out[key].item() == pytest.approx(value, rel=1e-5), key


def test_perfect_linkage_has_zero_leakage():
    gen = GeneratorAdapter(AnalyticG(linked=[0, 1], w_dim=6, resolution=8, channels=3, eps=0.0))
    spec = load_spec({'links': [{'name': 'left', 'axes': '0:2', 'region': {'box': [0, 0, 0.5, 1]}}]})
    res = evaluate_network(gen, spec, samples=24, batch=8)['results']['image']['left']
    for key in ('mse_i', 'mse_o', 'edit_o', 'mse_i_region', 'mse_o_region', 'edit_o_region'):
        assert res[key] == 0 and res[key + '_std'] == 0, key
    assert res['edit_i'] > 0.1 and res['edit_i_region'] == pytest.approx(2 * res['edit_i'], rel=1e-6)
    assert res['locality'] == 0 and res['keep_o'] > 0.1
    # The same generator with leakage is measured as leaking, in proportion to eps^2.
    leaky = evaluate_network(GeneratorAdapter(AnalyticG(linked=[0, 1], w_dim=6, resolution=8, channels=3, eps=0.2)),
                             spec, samples=24, batch=8)['results']['image']['left']
    assert leaky['mse_i'] > 0 and leaky['mse_o'] > 0


def test_results_do_not_depend_on_batch_size():
    gen = GeneratorAdapter(toy_G())
    spec = load_spec(SPEC)
    a = evaluate_network(gen, spec, samples=6, batch=6)['results']['image']
    b = evaluate_network(gen, spec, samples=6, batch=4)['results']['image']
    for link in ('eyes', 'mouth'):
        for key in METRIC_KEYS:
            # Same latents in the same order; only float summation order may differ.
            assert a[link][key] == pytest.approx(b[link][key], rel=1e-4, abs=1e-7), (link, key)

def test_one_links_numbers_do_not_depend_on_the_other_links_measured():
    # Paired evaluation: each link's perturbation noise has its own stream, so measuring 'eyes' alone or with
    # 'mouth' gives the same numbers (before per-link streams, adding a link changed the noise of the first).
    gen = GeneratorAdapter(toy_G())
    spec = load_spec(SPEC)
    both = evaluate_network(gen, spec, samples=4, batch=4)['results']['image']['eyes']
    eyes_only = load_spec({'links': [SPEC['links'][0]]})
    alone = evaluate_network(gen, eyes_only, samples=4, batch=4)['results']['image']['eyes']
    for key in METRIC_KEYS:
        assert alone[key] == pytest.approx(both[key], rel=1e-6, abs=1e-9), key

#----------------------------------------------------------------------------
# The command.

def run(args):
    result = CliRunner().invoke(eval_command, [str(a) for a in args])
    return result


def test_eval_command_json_and_table(tmp_path):
    G = toy_G()
    save_demo_checkpoint(tmp_path / 'linked.pt', G, 'sg2ada', SPEC)
    result = run(['--network', tmp_path / 'linked.pt', '--samples', 5, '--batch', 2, '--out', tmp_path / 'e.json'])
    assert result.exit_code == 0, result.output
    for text in ('spec from checkpoint', 'mse_i', 'edit_o', 'eyes', 'mouth', 'normalised by region pixels', 'samples/s'):
        assert text in result.stdout
    report = json.loads((tmp_path / 'e.json').read_text())
    assert report['spec_origin'] == 'checkpoint' and report['settings']['samples'] == 5
    assert report['network']['kind'] == 'demo' and report['network']['w_dim'] == 32
    assert set(report['results']) == {'image'} and set(report['results']['image']) == {'eyes', 'mouth'}
    entry = report['results']['image']['eyes']
    assert set(entry) == set(METRIC_KEYS) | {k + '_std' for k in METRIC_KEYS} | {'locality'}
    assert entry['locality'] == pytest.approx(entry['edit_o_region'] / entry['edit_i_region'])
    assert report['samples_per_second'] > 0
    # The JSON holds exactly what the API measures for the same seed.
    direct = evaluate_network(GeneratorAdapter(G), load_spec(SPEC), samples=5, batch=2)['results']['image']['eyes']
    for key in METRIC_KEYS:
        assert entry[key] == pytest.approx(direct[key], rel=1e-5, abs=1e-8)
    # The table prints values x1e-3.
    assert f"{entry['mse_o'] * 1e3:.3f}" in result.stdout


def test_eval_compare_against_baseline(tmp_path):
    save_demo_checkpoint(tmp_path / 'baseline.pt', toy_G(seed=0), 'sg2ada', None)
    save_demo_checkpoint(tmp_path / 'linked.pt', toy_G(seed=1), 'sg2ada', SPEC)
    spec_file = tmp_path / 'spec.json'
    spec_file.write_text(json.dumps(SPEC))
    base = run(['--network', tmp_path / 'baseline.pt', '--spec', spec_file, '--samples', 4, '--out', tmp_path / 'b.json'])
    assert base.exit_code == 0, base.output
    res = run(['--network', tmp_path / 'linked.pt', '--samples', 4, '--link', 'eyes', '--compare', tmp_path / 'b.json',
               '--out', tmp_path / 'l.json'])
    assert res.exit_code == 0, res.output
    assert 'ratios this / reference' in res.stdout
    assert 'warning: links differs' in res.stdout          # eyes alone against eyes + mouth.
    b = json.loads((tmp_path / 'b.json').read_text())['results']['image']['eyes']
    report = json.loads((tmp_path / 'l.json').read_text())
    this = report['results']['image']['eyes']
    ratios = report['comparison']['ratios']['image']['eyes']
    assert ratios['mse_o'] == pytest.approx(this['mse_o'] / b['mse_o'])
    assert ratios['edit_i'] == pytest.approx(this['edit_i'] / b['edit_i'])
    assert ratios['locality'] == pytest.approx(this['locality'] / b['locality'])
    assert f"{ratios['mse_i']:.2f}x" in res.stdout
    assert set(report['results']['image']) == {'eyes'}                 # --link restricted the measurement.
    # The Python API returns the same report (the --compare part included); only the timings differ.
    net = load_network(str(tmp_path / 'linked.pt'))
    spec, origin = resolve_spec(net)
    api = eval_report(net, make_adapter(net), spec.select(['eyes']), origin, samples=4,
                      baseline=json.loads((tmp_path / 'b.json').read_text()), baseline_path=str(tmp_path / 'b.json'))
    timings = ('seconds', 'samples_per_second', 'samples_per_second_by_output')
    assert json.loads(json.dumps({k: v for k, v in api.items() if k not in timings})) == \
        {k: v for k, v in report.items() if k not in timings}


def test_compare_reports_zero_and_mismatch():
    this = {'settings': {'samples': 10, 'seed': 0}, 'results': {'image': {'a': {'mse_i': 0.0, 'mse_o': 0.5, 'edit_i': 2.0},
                                                                         'b': {'mse_i': 1.0}}}}
    base = {'settings': {'samples': 20, 'seed': 0}, 'results': {'image': {'a': {'mse_i': 1.0, 'mse_o': 0.0, 'edit_i': 1.0}}}}
    out = compare_reports(this, base)
    r = out['ratios']['image']['a']
    assert r['mse_i'] == 0 and math.isinf(r['mse_o']) and r['edit_i'] == 2
    assert out['missing'] == ['image/b'] and out['mismatched_settings'] == {'samples': [10, 20]}


def test_eval_eg3d_outputs_and_cameras(tmp_path):
    save_demo_checkpoint(tmp_path / 'eg3d.pt', toy_G('eg3d'), 'eg3d', SPEC)
    res = run(['--network', tmp_path / 'eg3d.pt', '--samples', 2, '--out', tmp_path / 'e.json'])
    assert res.exit_code == 0, res.output
    report = json.loads((tmp_path / 'e.json').read_text())
    assert list(report['results']) == ['image', 'image_raw', 'image_depth'] and report['settings']['camera'] == 'frontal'
    res = run(['--network', tmp_path / 'eg3d.pt', '--samples', 2, '--outputs', 'image_depth', '--camera', 'sampled',
               '--out', tmp_path / 's.json'])
    assert res.exit_code == 0, res.output
    report = json.loads((tmp_path / 's.json').read_text())
    assert list(report['results']) == ['image_depth'] and report['settings']['camera'] == 'sampled'
    # 'dataset' needs the run's labels: a clear error when there are none.
    res = run(['--network', tmp_path / 'eg3d.pt', '--samples', 2, '--camera', 'dataset'])
    assert res.exit_code == 2 and 'no camera labels found' in res.output


def test_eval_errors(tmp_path):
    res = run(['--network', tmp_path / 'missing.pkl'])
    assert res.exit_code == 1 and 'file not found' in res.output
    save_demo_checkpoint(tmp_path / 'baseline.pt', toy_G(), 'sg2ada', None)
    res = run(['--network', tmp_path / 'baseline.pt', '--samples', 1])
    assert res.exit_code == 2 and 'Pass --spec' in res.output
    wide = json.dumps({'links': [{'name': 'eyes', 'axes': '0:64', 'region': 'eyes'}]})
    res = run(['--network', tmp_path / 'baseline.pt', '--spec', wide, '--samples', 1])
    assert res.exit_code == 2 and '--spec' in res.output and 'out of range for w_dim=32' in res.output
    res = run(['--network', tmp_path / 'baseline.pt', '--spec', json.dumps(SPEC), '--outputs', 'image_raw'])
    assert res.exit_code == 2 and '--outputs' in res.output and 'only for EG3D' in res.output
    res = run(['--network', tmp_path / 'baseline.pt', '--spec', json.dumps(SPEC), '--link', 'nose'])
    assert res.exit_code == 2 and "unknown link 'nose'" in res.output
    res = run(['--network', tmp_path / 'baseline.pt', '--spec', json.dumps(SPEC), '--camera', 'sampled'])
    assert res.exit_code == 2 and 'only applies to EG3D' in res.output
    (tmp_path / 'junk.json').write_text('{"x": 1}')
    res = run(['--network', tmp_path / 'baseline.pt', '--spec', json.dumps(SPEC), '--compare', tmp_path / 'junk.json'])
    assert res.exit_code == 2 and 'not a `linkgan eval --out` file' in res.output


def test_eval_eg3d_dataset_cameras(tmp_path):
    from linkgan_plugin.upstream.cameras import random_cameras
    data = tmp_path / 'data'
    data.mkdir()
    cams = random_cameras(3, generator=torch.Generator().manual_seed(0))
    (data / 'dataset.json').write_text(json.dumps({'labels': [[f'{i}.png', c.tolist()] for i, c in enumerate(cams)]}))
    (tmp_path / 'training_options.json').write_text(json.dumps({'training_set_kwargs': {'path': str(data)},
                                                                'loss_kwargs': {'class_name': 'linkgan_plugin.LinkLoss'}}))
    save_demo_checkpoint(tmp_path / 'eg3d.pt', toy_G('eg3d'), 'eg3d', SPEC)
    res = run(['--network', tmp_path / 'eg3d.pt', '--samples', 3, '--outputs', 'image', '--camera', 'dataset',
               '--out', tmp_path / 'd.json'])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / 'd.json').read_text())['settings']['camera'] == 'dataset'
    # The cameras are drawn from the run's labels.
    from linkgan_plugin.analysis.metrics import sample_inputs
    from linkgan_plugin.analysis.network_loading import load_network, make_adapter
    gen = make_adapter(load_network(tmp_path / 'eg3d.pt'), camera='dataset')
    c = sample_inputs(gen, ['a'], 5, seed=0)[3]
    assert all(any(torch.equal(row, cam) for cam in cams) for row in c)

#----------------------------------------------------------------------------
# Quality (--data): SWD and coverage, each with its real-vs-real floor.

def _image_folder(path, count, resolution=16, seed=0):
    from PIL import Image
    path.mkdir()
    g = torch.Generator().manual_seed(seed)
    for i in range(count):
        pixels = (torch.rand(resolution, resolution, 3, generator=g) * 255).to(torch.uint8).numpy()
        Image.fromarray(pixels).save(path / f'{i:03d}.png')
    return path


def test_eval_data_reports_swd_and_coverage_with_floors(tmp_path):
    from linkgan_plugin.analysis.coverage import coverage
    from linkgan_plugin.analysis.datasets import generated_images, load_images
    from linkgan_plugin.analysis.quality import sliced_wasserstein, swd_floor
    data = _image_folder(tmp_path / 'data', 40)
    save_demo_checkpoint(tmp_path / 'base.pt', toy_G(seed=0), 'sg2ada', SPEC)
    save_demo_checkpoint(tmp_path / 'other.pt', toy_G(seed=1), 'sg2ada', SPEC)
    res = run(['--network', tmp_path / 'base.pt', '--samples', 2, '--data', data, '--quality-images', 16,
               '--out', tmp_path / 'b.json'])
    assert res.exit_code == 0, res.output
    q = json.loads((tmp_path / 'b.json').read_text())['quality']
    assert q['images'] == 16 and q['floor_note'] is None
    cov = q['coverage']
    assert cov['features'].startswith('random-conv') and cov['k'] == 3 and cov['measure'] == 'joint'
    assert 0 <= cov['recall'] <= 1 and 0 <= cov['precision'] <= 1 and set(cov['floor']) == {'precision', 'recall', 'joint'}
    assert q['swd_floor']['images'] == 16 and q['swd_floor']['mean'] > 0
    for text in ('SWD (x1e3, lower is better)', 'recall / precision', 'floor', cov['features']):
        assert text in res.stdout, text
    # The reference set is the first 16 images of the same seeded order as before floors existed (SWD unchanged),
    # the floor the next 16.
    gen = make_adapter(load_network(str(tmp_path / 'base.pt')))
    real, fake = load_images(str(data), 16, 16), generated_images(gen, 16)
    assert q['swd']['mean'] == pytest.approx(sliced_wasserstein(fake, real)['mean'], rel=1e-6)
    pool = load_images(str(data), 32, 16)
    assert torch.equal(pool[:16], real)
    assert q['swd_floor']['mean'] == pytest.approx(swd_floor(pool, 16)['mean'], rel=1e-6)
    assert cov['recall'] == coverage(fake, real)['recall']
    # --compare: quality ratios, recall included.
    res = run(['--network', tmp_path / 'other.pt', '--samples', 2, '--data', data, '--quality-images', 16,
               '--compare', tmp_path / 'b.json', '--out', tmp_path / 'o.json'])
    assert res.exit_code == 0, res.output
    other = json.loads((tmp_path / 'o.json').read_text())
    ratios = other['comparison']['quality']
    assert ratios['swd'] == pytest.approx(other['quality']['swd']['mean'] / q['swd']['mean'])
    a, b = other['quality']['coverage']['recall'], cov['recall']
    assert ratios['recall'] == (pytest.approx(a / b) if b else ('inf' if a else None))
    assert 'quality: SWD' in res.stdout and 'recall' in res.stdout.split('quality: SWD')[1]


def test_eval_data_without_enough_images_for_the_floor(tmp_path):
    data = _image_folder(tmp_path / 'data', 20)
    save_demo_checkpoint(tmp_path / 'base.pt', toy_G(), 'sg2ada', SPEC)
    res = run(['--network', tmp_path / 'base.pt', '--samples', 2, '--data', data, '--quality-images', 16,
               '--out', tmp_path / 'b.json'])
    assert res.exit_code == 0, res.output
    q = json.loads((tmp_path / 'b.json').read_text())['quality']
    assert q['swd_floor'] is None and q['coverage']['floor'] is None and 'need 2 x 16 images' in q['floor_note']
    assert q['coverage']['recall'] >= 0 and 'no real-vs-real floors' in res.stdout
    res = run(['--network', tmp_path / 'base.pt', '--samples', 2, '--data', data, '--quality-images', 24])
    assert res.exit_code == 2 and '--data' in res.output and 'has 20 images, 24 are needed' in res.output
