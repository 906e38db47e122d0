"""`linkgan-research eg3d-linkage`: three toy EG3D runs from one start (control, linked, linked with depth masked) that see the
same latents and cameras, are measured per output (RGB and depth), resume exactly, and are not trained twice.
"""

import json
import os

import pytest
import torch
from click.testing import CliRunner

from linkgan_research.cli import main
from linkgan_research import eg3d_linkage
from linkgan_research.eg3d_linkage import experiment_settings, link_spec, RUNS
from linkgan_plugin.toy.loop import build_loss, ToyTrainer
from linkgan_plugin.toy.networks import make_toy_networks
from linkgan_plugin.upstream.cameras import random_cameras

TINY = ['--kimg', '0.016', '--batch', '4', '--samples', '8', '--resolution', '16', '--channels', '8', '--snap', '0.004']


def _invoke(args):
    return CliRunner().invoke(main, ['eg3d-linkage', *args])


def _ema_state(path):
    return torch.load(path, map_location='cpu', weights_only=True)['G_ema_state']


@pytest.fixture(scope='module')
def finished(tmp_path_factory):
    """A tiny experiment run once, uninterrupted: (out folder, CliRunner result)."""
    out = tmp_path_factory.mktemp('eg3d') / 'out'
    torch.set_num_threads(1)
    result = _invoke([*TINY, '--out', str(out)])
    assert result.exit_code == 0, result.output
    return out, result

#----------------------------------------------------------------------------
# The trainer's cameras.

def _recorded_draws(spec, latent_seed, steps=3):
    """(gen_z, gen_c) every loss call of `steps` eg3d iterations receives, for the base loss (spec None) or LinkLoss."""
    torch.manual_seed(0)
    G, D = make_toy_networks('eg3d', img_resolution=16, channels=8, neural_rendering_resolution=8)
    loss = build_loss('eg3d', G, D, spec=spec, r1_gamma=1.0, neural_rendering_resolution_initial=8)
    trainer = ToyTrainer('eg3d', G, D, loss, batch=4, G_reg_interval=4, D_reg_interval=16, latent_seed=latent_seed)
    calls = []
    original = loss.accumulate_gradients

    def recording(phase, real_img, real_c, gen_z, gen_c, **kwargs):
        calls.append((phase, gen_z.clone(), gen_c.clone()))
        return original(phase=phase, real_img=real_img, real_c=real_c, gen_z=gen_z, gen_c=gen_c, **kwargs)
    loss.accumulate_gradients = recording
    g = torch.Generator().manual_seed(3)
    for _ in range(steps):
        trainer.step(torch.rand([4, 3, 16, 16], generator=g) * 2 - 1, random_cameras(4, generator=g))
    return calls


def test_control_and_linked_trainers_draw_the_same_latents_and_cameras():
    settings = experiment_settings(resolution=16)
    spec = {**link_spec(settings).to_dict(), 'interval': 1}      # The link term (and its draws) at every step.
    control, linked = _recorded_draws(None, latent_seed=7), _recorded_draws(spec, latent_seed=7)
    assert [c[0] for c in control] == [c[0] for c in linked] and len(control) >= 6
    for (phase, z0, c0), (_, z1, c1) in zip(control, linked):
        assert torch.equal(z0, z1), phase
        assert torch.equal(c0, c1), phase
    cameras = torch.stack([c for _, _, c in control])
    assert cameras[:, :, :16].std(dim=0).max() > 0            # Yaw-jittered cameras, a new draw per phase.
    # The same seed gives the same draws again; without latent_seed, LinkLoss's draws from the global RNG shift
    # the control's cameras and latents (what latent_seed prevents).
    assert all(torch.equal(a[2], b[2]) for a, b in zip(control, _recorded_draws(None, latent_seed=7)))
    shared_rng = _recorded_draws(None, latent_seed=None), _recorded_draws(spec, latent_seed=None)
    assert any(not torch.equal(a[2], b[2]) for a, b in zip(*shared_rng))

#----------------------------------------------------------------------------
# The experiment.

def test_three_runs_are_trained_from_one_start_and_measured_per_output(finished):
    out, result = finished
    for run in RUNS:
        for name in (f'{run}.pt', f'{run}.state.pt', f'{run}_eval.json'):
            assert (out / 'runs' / name).is_file(), name
    report = json.loads((out / 'eg3d_linkage.json').read_text())
    runs = report['runs']
    assert set(runs) == {'control', 'linked', 'linked_depth'}
    assert len({info['init_sha256'] for info in runs.values()}) == 1            # The same initial weights.
    assert all(info['kimg'] == 0.016 and info['steps'] == 4 and info['trained_now'] for info in runs.values())
    assert all(info['sec_per_kimg'] > 0 and info['cpu_sec_per_kimg'] > 0 for info in runs.values())
    assert runs['linked']['eg3d_targets'] == ['image', 'image_raw']
    assert runs['linked_depth']['eg3d_targets'] == ['image', 'image_raw', 'image_depth']
    assert report['spec']['linked_depth']['eg3d_targets'] == ['image', 'image_raw', 'image_depth']
    assert report['spec']['control'] is None and report['spec']['linked']['links'][0]['region'] == {'preset': 'mouth'}
    depth = report['metrics']['linked_depth']['image_depth']
    for key in ('mse_i', 'mse_o', 'edit_i', 'edit_o', 'keep_o', 'locality', 'edit_i_region'):
        assert isinstance(depth[key], float) and depth[key] >= 0, key
    assert depth['edit_i'] > 0 and depth['keep_o'] > 0                            # The depth does change.
    # Each output is measured on its own values: depth and RGB differ.
    assert depth['mse_o'] != report['metrics']['linked_depth']['image']['mse_o']
    ratio = report['ratios']['linked_depth']['image_depth']['locality']
    assert ratio == pytest.approx(depth['locality'] / report['metrics']['control']['image_depth']['locality'])
    assert set(report['ratios']) == {'linked', 'linked_depth', 'linked_depth_vs_linked'}
    # The three networks were trained differently (the link term acted), from the same start.
    states = [_ema_state(out / 'runs' / f'{run}.pt') for run in RUNS]
    assert not torch.equal(states[0]['superresolution.weight'], states[1]['superresolution.weight'])
    quality = report['quality']['control']
    assert quality['swd'] > 0 and quality['swd_floor'] > 0 and 0 <= quality['recall_floor'] <= 1
    # Each eval file is a `linkgan eval --out` report of every output, with the frontal camera.
    ev = json.loads((out / 'runs' / 'linked_depth_eval.json').read_text())
    assert set(ev['results']) == {'image', 'image_raw', 'image_depth'} and ev['settings']['camera'] == 'frontal'
    assert ev['settings']['samples'] == 8 and ev['quality']['images'] == 8
    md = (out / 'eg3d_linkage.md').read_text()
    assert '| linked_depth | image_depth |' in md and '| control | image |' in md
    assert 'seconds / kimg' in md


def test_the_picture_shows_every_run_and_output(finished):
    from PIL import Image
    out, _ = finished
    with Image.open(out / 'edit.png') as img:
        width, height = img.size
    tile = eg3d_linkage.EDIT_TILE
    # Three runs side by side, each 2 * EDIT_NUM + 3 columns; 3 faces x (image, depth) rows plus 3 image_raw rows.
    assert width >= 3 * (2 * eg3d_linkage.EDIT_NUM + 3) * tile
    assert height >= 3 * len(eg3d_linkage.EDIT_SEEDS) * tile
    edit = json.loads((out / 'eg3d_linkage.json').read_text())['edit']
    assert set(edit) == set(RUNS) and set(edit['control']) == {'image', 'image_raw', 'image_depth'}
    assert edit['linked']['image']['linked_in'] > 0


def test_a_rerun_trains_nothing_and_evaluates_again(finished, monkeypatch):
    out, _ = finished
    before = json.loads((out / 'eg3d_linkage.json').read_text())

    def no_training(self, *args):
        raise AssertionError('a finished run was trained again')
    monkeypatch.setattr(ToyTrainer, 'step', no_training)
    os.remove(out / 'edit.png')
    result = _invoke([*TINY, '--out', str(out)])
    assert result.exit_code == 0, result.output
    assert 'trained now: none' in result.output
    after = json.loads((out / 'eg3d_linkage.json').read_text())
    for run in RUNS:
        assert not after['runs'][run]['trained_now']
        assert after['runs'][run]['seconds'] == before['runs'][run]['seconds']
    assert after['metrics'] == before['metrics']                # Evaluated again, on the same samples.
    assert (out / 'edit.png').is_file()


def test_an_interrupted_experiment_resumes_bit_for_bit(finished, tmp_path, monkeypatch):
    reference, _ = finished
    out = tmp_path / 'out'
    original, calls = ToyTrainer.step, []

    def interrupted(self, *args):
        calls.append(1)
        if len(calls) > 6:                   # control done (4 steps), linked stopped after 2 of 4.
            raise RuntimeError('interrupted')
        return original(self, *args)
    monkeypatch.setattr(ToyTrainer, 'step', interrupted)
    result = _invoke([*TINY, '--out', str(out)])
    assert isinstance(result.exception, RuntimeError)
    assert (out / 'runs' / 'control.pt').is_file() and not (out / 'runs' / 'linked.pt').exists()
    monkeypatch.setattr(ToyTrainer, 'step', original)
    result = _invoke([*TINY, '--out', str(out)])
    assert result.exit_code == 0, result.output
    runs = json.loads((out / 'eg3d_linkage.json').read_text())['runs']
    assert [runs[r]['trained_now'] for r in RUNS] == [False, True, True]
    assert runs['linked']['segments'] == 2 and runs['linked']['steps'] == 4
    for run in RUNS:                          # Resumed mid-run (the link term's schedule too): the same networks.
        a, b = _ema_state(reference / 'runs' / f'{run}.pt'), _ema_state(out / 'runs' / f'{run}.pt')
        unequal = [k for k in a if not torch.equal(a[k], b[k])]
        assert not unequal, f'{run}: {unequal[:3]}'


def test_a_rerun_with_other_settings_is_refused(finished):
    out, _ = finished
    result = _invoke([*TINY, '--out', str(out), '--seed', '1'])
    assert result.exit_code != 0
    assert 'seed: 0 there, 1 now' in result.output and 'another --out' in result.output

def test_a_shorter_kimg_than_trained_is_refused_before_training(finished, monkeypatch):
    out, _ = finished
    monkeypatch.setattr(ToyTrainer, 'step', lambda *a, **k: pytest.fail('nothing may train'))
    args = [*TINY, '--out', str(out)]
    args[args.index('--kimg') + 1] = '0.008'
    result = _invoke(args)
    assert result.exit_code != 0
    assert 'more than --kimg asks for' in result.output and 'control.state.pt' in result.output


#----------------------------------------------------------------------------
# Bad input.

@pytest.mark.parametrize('args, option', [
    (['--kimg', '0'], '--kimg'),
    (['--kimg', '-1'], '--kimg'),
    (['--link', 'chin'], '--link'),
    (['--resolution', '24'], '--resolution'),
    (['--resolution', '8'], '--resolution'),
    (['--batch', '2'], '--batch'),
], ids=['kimg-zero', 'kimg-negative', 'unknown-link', 'resolution-not-power-of-two', 'resolution-too-small', 'batch'])
def test_bad_input_names_the_option(tmp_path, args, option):
    out = tmp_path / 'out'
    result = _invoke(['--kimg', '0.016', '--resolution', '16', *args, '--out', str(out)])    # The last value counts.
    assert result.exit_code == 2, result.output
    assert option in result.output
    assert not out.exists()                 # Refused before any work.
