"""`linkgan pair` and `linkgan scenes` on a toy upstream: a directory shaped like a patched stylegan2-ada-pytorch
checkout whose train.py trains the toy sg2ada networks (linkgan_plugin/toy) through the same subprocess runner and
CPU shims as a real checkout, writing upstream's run layout (numbered run dirs, training_options.json, stats.jsonl,
network-snapshot-*.pkl). Tiny runs: both roles, pair.json, the report, resuming, and bad input."""

import json
import os
import textwrap
import types
import zipfile

import pytest
from click.testing import CliRunner

from linkgan_plugin import smoke
from linkgan_plugin.cli import main
from linkgan_plugin.demo.dataset_zip import scene_spec, write_scenes
from linkgan_plugin.workflows import pair, pair_training
from toy_checkpoints import read_text

#----------------------------------------------------------------------------
# The toy upstream.

TRAIN_PY = '''
"""A toy train.py with upstream's command-line and run-directory conventions (tests/test_pair.py)."""
import json, os, re
import click
from training import training_loop


@click.command()
@click.option('--outdir', required=True)
@click.option('--data', required=True)
@click.option('--gpus', type=int, default=1)
@click.option('--batch', type=int, default=4)
@click.option('--kimg', type=int, default=25000)
@click.option('--snap', type=int, default=50)
@click.option('--seed', type=int, default=0)
@click.option('--resume', default=None)
@click.option('--metrics', default='fid50k_full')
@click.option('--fp32', type=bool, default=False)
@click.option('--loss', default='training.loss.StyleGAN2Loss')
@click.option('--loss-kwargs', default='{}')
def main(outdir, data, gpus, batch, kimg, snap, seed, resume, metrics, fp32, loss, loss_kwargs):
    prev = [x for x in os.listdir(outdir) if os.path.isdir(os.path.join(outdir, x))] if os.path.isdir(outdir) else []
    ids = [int(m.group()) for m in (re.match(r'^\\d+', x) for x in prev) if m]
    run_dir = os.path.join(outdir, f'{max(ids, default=-1) + 1:05d}-toy-kimg{kimg}-batch{batch}')
    os.makedirs(run_dir)
    print(f'Output directory:   {run_dir}', flush=True)
    kwargs = dict(class_name=loss, **json.loads(loss_kwargs))
    options = dict(loss_kwargs=kwargs, network_snapshot_ticks=snap, total_kimg=kimg, random_seed=seed,
                   training_set_kwargs=dict(path=data), resume_pkl=resume, batch_size=batch)
    with open(os.path.join(run_dir, 'training_options.json'), 'w') as f:
        json.dump(options, f)
    training_loop.training_loop(run_dir=run_dir, data=data, total_kimg=kimg, kimg_per_tick=4, batch_size=batch,
                                random_seed=seed, resume_pkl=resume, loss_kwargs=kwargs, network_snapshot_ticks=snap,
                                G_opt_kwargs=dict(betas=[0, 0.99]))


if __name__ == '__main__':
    main()
'''

TRAINING_LOOP_PY = '''
"""The toy training loop: upstream's ticks, snapshots and stats.jsonl around linkgan_plugin.toy.loop.ToyTrainer."""
import copy, json, os, pickle, sys, time
import numpy as np
import torch
from linkgan_plugin.analysis.datasets import list_images, load_images
from linkgan_plugin.loss import resolve_class
from linkgan_plugin.toy.loop import ToyTrainer
from linkgan_plugin.toy.networks import make_toy_networks
from linkgan_plugin.upstream.flavours import FLAVOUR_CLASSES


def training_loop(run_dir, data, total_kimg, kimg_per_tick, batch_size, random_seed, resume_pkl, loss_kwargs,
                  network_snapshot_ticks, G_opt_kwargs=None):
    device = torch.device('cuda', 0)            # The CPU shim maps it to the CPU, as in upstream.
    torch.manual_seed(random_seed)
    names, _ = list_images(data)
    from PIL import Image
    import io
    with Image.open(io.BytesIO(list_images(data)[1](names[0]))) as first:
        res = first.size[0]
    images = load_images(data, len(names), res, seed=0)
    G, D = make_toy_networks('sg2ada', z_dim=16, w_dim=512, img_resolution=res, channels=8, mapping_layers=2)
    if resume_pkl:
        print(f'Resuming from "{resume_pkl}"', flush=True)
        with open(resume_pkl, 'rb') as f:
            snap = pickle.load(f)
        G.load_state_dict(snap['G'].state_dict())
        D.load_state_dict(snap['D'].state_dict())
    kwargs = dict(loss_kwargs)
    loss_class = resolve_class(kwargs.pop('class_name'))
    nets = FLAVOUR_CLASSES['sg2ada'].loss_networks(G)
    loss = loss_class(device=device, D=D, augment_pipe=None, style_mixing_prob=0.0, pl_weight=0, r1_gamma=1.0,
                      **nets, **kwargs)
    trainer = ToyTrainer('sg2ada', G, D, loss, batch=batch_size, G_reg_interval=None, D_reg_interval=16, ema_kimg=0.05)
    if resume_pkl:
        trainer.G_ema.load_state_dict(snap['G_ema'].state_dict())
    order = np.random.RandomState(random_seed).permutation(len(images))
    cur_nimg, cur_tick, tick_start_nimg, pos, start = 0, 0, 0, 0, time.time()
    stats = open(os.path.join(run_dir, 'stats.jsonl'), 'a')
    while True:
        idx = [order[(pos + i) % len(order)] for i in range(batch_size)]
        pos += batch_size
        trainer.step(images[idx], torch.zeros([batch_size, 0]))
        cur_nimg += batch_size
        done = cur_nimg >= total_kimg * 1000
        if not done and cur_tick != 0 and cur_nimg < tick_start_nimg + kimg_per_tick * 1000:
            continue
        print(f'tick {cur_tick:<5d} kimg {cur_nimg / 1e3:<8.3f}', flush=True)
        if cur_tick % network_snapshot_ticks == 0 or done:
            data_out = {'G': G, 'D': D, 'G_ema': copy.deepcopy(trainer.G_ema), 'augment_pipe': None,
                        'training_set_kwargs': {'path': data}}
            with open(os.path.join(run_dir, f'network-snapshot-{cur_nimg // 1000:06d}.pkl'), 'wb') as f:
                pickle.dump(data_out, f)
        row = {'Progress/kimg': {'num': 1, 'mean': cur_nimg / 1e3, 'std': 0},
               'Timing/sec_per_kimg': {'num': 1, 'mean': (time.time() - start) / max(cur_nimg / 1e3, 1e-9), 'std': 0}}
        stats.write(json.dumps(row) + '\\n')
        stats.flush()
        if os.environ.get('TOY_TRAIN_FAIL'):      # An interruption after the first snapshot (tests).
            sys.exit('toy train.py: failing on purpose after the first snapshot')
        if done:
            break
        cur_tick += 1
        tick_start_nimg = cur_nimg
    print('Exiting...', flush=True)
'''

LOSS_PY = '''
from linkgan_plugin.toy.losses import ToySG2ADALoss as StyleGAN2Loss
'''


def make_toy_upstream(root):
    """Writes the toy checkout (train.py, training/, and empty dnnlib/ and torch_utils/ so that snapshot loading finds
    an upstream code directory)."""
    files = {'train.py': TRAIN_PY, 'training/__init__.py': '', 'training/training_loop.py': TRAINING_LOOP_PY,
             'training/loss.py': LOSS_PY, 'dnnlib/__init__.py': '', 'torch_utils/__init__.py': ''}
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


@pytest.fixture
def toy_upstream(tmp_path, monkeypatch):
    """A patched-looking toy sg2ada checkout; upstream requirement probing limited to what the toy imports."""
    root = make_toy_upstream(tmp_path / 'toy_upstream')
    det = types.SimpleNamespace(code_dir=str(root), upstream=types.SimpleNamespace(key='sg2ada'),
                                describe=lambda: f'toy sg2ada in {root}')
    monkeypatch.setattr('linkgan_plugin.patching.is_loss_patched', lambda *a, **k: (det, True))
    monkeypatch.setattr(smoke, 'UPSTREAM_REQUIREMENTS', {'click': 'click', 'numpy': 'numpy'})
    monkeypatch.setenv('OMP_NUM_THREADS', '1')
    return root


@pytest.fixture
def scenes_data(tmp_path):
    """64 cells scenes at 16 px as a zip, and the cells' spec at w_dim 512 (interval 2: link steps in a tiny run)."""
    data = write_scenes(str(tmp_path / 'cells16.zip'), 'cells', 16, 64, seed=0)['path']
    spec = scene_spec('cells', 512)
    spec['interval'] = 2
    path = tmp_path / 'spec.json'
    path.write_text(json.dumps(spec))
    return data, str(path)


def run_cli(*args):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.output

#----------------------------------------------------------------------------
# The pair end to end.

PAIR = ['--kimg', '0.064', '--tick', '0.032', '--samples', '32', '--quality-images', '16', '--eval-batch', '16']


def test_pair_trains_both_runs_evaluates_and_resumes(toy_upstream, scenes_data, tmp_path):
    data, spec = scenes_data
    out = tmp_path / 'pair'
    code, output = run_cli('pair', toy_upstream, '--data', data, '--spec', spec, '--out', out, *PAIR,
                           '--link-kwargs', '{"link_pass": "per_link"}')
    assert code == 0, output
    assert '[control] tick' in output and '[linked] tick' in output          # Progress, per role.
    report = json.loads((out / 'pair.json').read_text())
    for role in pair_training.ROLES:
        run = report['runs'][role]
        assert run['trained_now'] and run['kimg'] == pytest.approx(0.064) and os.path.isfile(run['snapshot'])
        opts = json.loads(read_text(os.path.join(run['run_dirs'][0], 'training_options.json')))
        assert opts['random_seed'] == 0 and opts['training_set_kwargs']['path'] == data
        assert (out / role / 'train.log').is_file() and (out / role / pair_training.STATE_FILE).is_file()
    assert json.loads(read_text(os.path.join(report['runs']['control']['run_dirs'][0], 'training_options.json')))[
        'loss_kwargs'] == {'class_name': smoke.UPSTREAM_LOSS}
    linked_kwargs = json.loads(read_text(os.path.join(report['runs']['linked']['run_dirs'][0], 'training_options.json')))['loss_kwargs']
    assert linked_kwargs == {'class_name': smoke.LINK_LOSS, 'spec': spec, 'link_pass': 'per_link'}
    # The demo's report layout: linked / control per link and metric, quality with its floors.
    assert report['spec_names'] == ['top_left', 'bottom_right']
    assert set(report['models']) == {'control', 'linked'} and set(report['ratios']['top_left']) >= {'mse_i', 'locality'}
    assert report['quality_floor'] is not None and set(report['coverage']) == {'control', 'linked'}
    assert report['comparison']['ratios']['image']['top_left']['edit_o_region'] is not None
    md = (out / 'pair.md').read_text()
    assert md.startswith('# linkgan pair report') and '## What the link term did' in md and '## Quality' in md
    assert '| link | metric | control | linked | linked / control |' in md and 'real vs real' in md
    for name in ('leakage.png', 'edit-top_left-control.png', 'edit-bottom_right-linked.png', 'control_eval.json',
                 'linked_eval.json'):
        assert (out / name).is_file(), name
    # The eval files are `linkgan eval --out` files of the same samples.
    ev = json.loads((out / 'linked_eval.json').read_text())
    assert ev['settings']['samples'] == 32 and ev['quality']['images'] == 16

    # Again: nothing is trained, the report is rewritten from the same snapshots.
    code, output = run_cli('pair', toy_upstream, '--data', data, '--spec', spec, '--out', out, *PAIR,
                           '--link-kwargs', '{"link_pass": "per_link"}')
    assert code == 0, output
    assert 'not trained again' in output and '[control] tick' not in output
    again = json.loads((out / 'pair.json').read_text())
    assert not any(again['runs'][r]['trained_now'] for r in pair_training.ROLES)
    assert again['models'] == report['models']

    # Other settings in the same --out are refused.
    code, output = run_cli('pair', toy_upstream, '--data', data, '--spec', spec, '--out', out, *PAIR, '--seed', '1')
    assert code == 1 and 'other settings' in output and 'seed' in output


def test_interrupted_run_resumes_from_its_last_snapshot(toy_upstream, scenes_data, tmp_path, monkeypatch):
    data, spec = scenes_data
    out = tmp_path / 'pair'
    args = ['pair', toy_upstream, '--data', data, '--spec', spec, '--out', out, *PAIR, '--serial']
    # A first attempt dies after its first snapshot (tick 0).
    monkeypatch.setenv('TOY_TRAIN_FAIL', '1')
    code, output = run_cli(*args)
    assert code == 1 and 'exited with status' in output and 'failing on purpose' in output and 'resume' in output
    monkeypatch.delenv('TOY_TRAIN_FAIL')
    state = pair_training.role_state(str(out / 'control'), 0.064)
    assert not state['finished'] and state['snapshot'] and 0 < state['done_kimg'] < 0.064
    # The same command again: the failed role resumes from its last snapshot for the remaining kimg.
    code, output = run_cli(*args)
    assert code == 0, output
    report = json.loads((out / 'pair.json').read_text())
    control = report['runs']['control']
    assert len(control['run_dirs']) == 2 and control['kimg'] == pytest.approx(0.064) and control['trained_now']
    log = (out / 'control' / 'train.log').read_text()
    assert f'Resuming from "{state["snapshot"]}"' in log and f'--resume={state["snapshot"]}' in log and '--kimg=1' in log
    second = pair_training.segment_progress(control['run_dirs'][1])[0]
    assert state['done_kimg'] + second == pytest.approx(0.064, abs=0.004)

def test_a_run_stopped_after_its_last_snapshot_is_not_trained_again(toy_upstream, scenes_data, tmp_path):
    """Killed after writing its last snapshot but before pair_run.json (or stopped by hand at a tick): the snapshots
    already reach --kimg, so the rerun records the run as finished at the length it reached and only evaluates."""
    data, spec = scenes_data
    out = tmp_path / 'pair'
    args = ['pair', toy_upstream, '--data', data, '--spec', spec, '--out', out, *PAIR, '--serial']
    code, output = run_cli(*args)
    assert code == 0, output
    before = {role: sorted(os.listdir(out / role)) for role in pair_training.ROLES}
    for role in pair_training.ROLES:
        (out / role / pair_training.STATE_FILE).unlink()
    code, output = run_cli(*args)
    assert code == 0, output
    assert all(f'{role}: finished earlier' in output for role in pair_training.ROLES) and 'kimg to go' not in output
    assert {role: sorted(os.listdir(out / role)) for role in pair_training.ROLES} == before     # No new run directory.
    report = json.loads((out / 'pair.json').read_text())
    for role in pair_training.ROLES:
        assert report['runs'][role]['kimg'] == pytest.approx(0.064, abs=0.004) and not report['runs'][role]['trained_now']

#----------------------------------------------------------------------------
# Bad input: clear errors before anything is trained.

def test_bad_input_is_refused_before_training(toy_upstream, scenes_data, tmp_path, monkeypatch):
    data, spec = scenes_data
    out = tmp_path / 'pair'
    base = ['pair', toy_upstream, '--out', out, '--kimg', '0.064']
    # A spec that does not fit train.py's w_dim (512).
    (tmp_path / 'wide.json').write_text(json.dumps({'links': [{'name': 'a', 'axes': '0:600', 'region': {'box': [0, 0, 0.5, 0.5]}}]}))
    code, output = run_cli(*base, '--data', data, '--spec', tmp_path / 'wide.json')
    assert code == 2 and '--spec' in output and 'w_dim 512' in output, output
    # A dataset train.py cannot take: not a power of two.
    odd = write_scenes(str(tmp_path / 'odd.zip'), 'cells', 24, 40)['path']
    code, output = run_cli(*base, '--data', odd, '--spec', spec)
    assert code == 2 and '24x24' in output and 'power of two' in output, output
    # Too few images for the quality measure.
    code, output = run_cli(*base, '--data', data, '--spec', spec, '--quality-images', '100')
    assert code == 2 and 'has 64 images' in output, output
    # Options the pair sets itself.
    code, output = run_cli(*base, '--data', data, '--spec', spec, '--', '--kimg=5')
    assert code == 2 and 'use --kimg' in output, output
    assert not (out / 'control').exists()
    # Missing upstream requirements.
    monkeypatch.setattr(smoke, 'UPSTREAM_REQUIREMENTS', {'no_such_module_xyz': 'no-such-package'})
    code, output = run_cli(*base, '--data', data, '--spec', spec)
    assert code == 1 and 'pip install no-such-package' in output, output


def test_unpatched_checkout_says_linkgan_patch(tmp_path, scenes_data, monkeypatch):
    data, spec = scenes_data
    det = types.SimpleNamespace(code_dir=str(tmp_path), upstream=types.SimpleNamespace(key='sg2ada'), describe=lambda: 'x')
    monkeypatch.setattr('linkgan_plugin.patching.is_loss_patched', lambda *a, **k: (det, False))
    code, output = run_cli('pair', tmp_path, '--data', data, '--spec', spec, '--kimg', '1', '--out', tmp_path / 'o')
    assert code == 1 and 'linkgan patch' in output


def test_eg3d_data_needs_its_resolution_and_cameras(tmp_path):
    flavour = pair.FLAVOUR_CLASSES['eg3d']
    small = write_scenes(str(tmp_path / 'a.zip'), 'cells', 64, 4)['path']
    with pytest.raises(Exception, match='128, 256, 512'):
        pair.inspect_dataset(small, flavour)
    plain = write_scenes(str(tmp_path / 'b.zip'), 'cells', 128, 4)['path']
    with pytest.raises(Exception, match='camera label'):
        pair.inspect_dataset(plain, flavour)
    cams = write_scenes(str(tmp_path / 'c.zip'), 'cells', 128, 4, camera_labels=True)['path']
    assert pair.inspect_dataset(cams, flavour) == {'images': 4, 'resolution': 128, 'label_dim': 25}


def test_plan_prints_both_commands_and_trains_nothing(toy_upstream, scenes_data, tmp_path):
    data, spec = scenes_data
    code, output = run_cli('pair', toy_upstream, '--data', data, '--spec', spec, '--kimg', '2', '--out', tmp_path / 'p',
                           '--plan', '--', '--batch=8')
    assert code == 0 and 'Plan OK' in output, output
    assert '--loss=training.loss.StyleGAN2Loss' in output and '--loss=linkgan_plugin.LinkLoss' in output
    assert '--batch=8' in output and '--seed=0' in output and '--kimg=2' in output
    assert not (tmp_path / 'p').exists()

#----------------------------------------------------------------------------
# Progress on disk.

def test_segment_progress_reads_the_tick_when_every_tick_is_snapshotted(tmp_path):
    run = tmp_path / '00000-x'
    run.mkdir()
    assert pair_training.segment_progress(str(run)) == (0.0, None)
    (run / 'network-snapshot-000001.pkl').write_bytes(b'')
    (run / 'training_options.json').write_text(json.dumps({'network_snapshot_ticks': 1}))
    (run / 'stats.jsonl').write_text(json.dumps({'Progress/kimg': {'num': 1, 'mean': 1.28}}) + '\n')
    assert pair_training.segment_progress(str(run)) == (1.28, str(run / 'network-snapshot-000001.pkl'))
    (run / 'training_options.json').write_text(json.dumps({'network_snapshot_ticks': 5}))
    assert pair_training.segment_progress(str(run))[0] == 1.0                 # Only the name tells.
    (run / 'stats.jsonl').write_text('{"Progress/kimg": {"num"')     # Cut short.
    assert pair_training.segment_progress(str(run))[0] == 1.0


def test_role_snapshots_count_on_across_resumed_segments(tmp_path):
    # A role resumed once: the second segment's snapshots start again at 0 in their names (upstream's counter), and
    # count on from the first segment's length; a segment without snapshots adds nothing.
    role = tmp_path / 'control'
    for name, snaps in (('00000-a', (0, 4, 8)), ('00001-b', ()), ('00002-c', (0, 4))):
        (role / name).mkdir(parents=True)
        for k in snaps:
            (role / name / f'network-snapshot-{k:06d}.pkl').write_bytes(b'')
    got = pair_training.role_snapshots(str(role))
    assert [s['kimg'] for s in got] == [0.0, 4.0, 8.0, 8.0, 12.0]
    assert got[-1]['path'] == str(role / '00002-c' / 'network-snapshot-000004.pkl')
    assert pair_training.role_snapshots(str(tmp_path / 'missing')) == []

#----------------------------------------------------------------------------
# `linkgan scenes`.

def test_scenes_command_writes_an_upstream_zip_and_a_spec(tmp_path):
    code, output = run_cli('scenes', '--scene', 'faces', '--resolution', '32', '--count', '5', '--out', tmp_path / 'f.zip',
                           '--camera-labels', '--spec-out', tmp_path / 'spec.json')
    assert code == 0, output
    with zipfile.ZipFile(tmp_path / 'f.zip') as z:
        names = sorted(z.namelist())
        labels = json.loads(z.read('dataset.json'))['labels']
    assert names == ['dataset.json'] + [f'img{i:05d}.png' for i in range(5)]
    assert [l[0] for l in labels] == names[1:] and all(len(l[1]) == 25 for l in labels)
    spec = json.loads((tmp_path / 'spec.json').read_text())
    assert [l['axes'] for l in spec['links']] == ['0:128', '128:256', '256:384']
    code, output = run_cli('scenes', '--resolution', '48', '--out', tmp_path / 'x.zip')
    assert code == 2 and 'power of two' in output
    code, output = run_cli('scenes', '--scene', 'landscape', '--out', tmp_path / 'l.zip', '--spec-out', tmp_path / 's.json')
    assert code == 2 and 'no built-in box spec' in output

#----------------------------------------------------------------------------

#----------------------------------------------------------------------------
# Stopping a pair stops its trainings.

STOP_DRIVER = '''
import os, subprocess, sys, types
from linkgan_plugin import smoke
from linkgan_plugin.workflows import pair, pair_training

out = sys.argv[1]
# Each "train.py" starts a child of its own (as train.py's data-loader workers are), records both pids, then waits.
TRAIN = ("import os, subprocess, sys, time\\n"
         "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\\n"
         "open(os.environ['PIDS_FILE'], 'a').write(f'{os.getpid()} {child.pid}\\\\n')\\n"
         "time.sleep(120)\\n")
smoke.build_command = lambda code_dir, args: [sys.executable, '-c', TRAIN]
pair_training._env_for = lambda role, plan, nimg, threads, parallel: dict(os.environ, PIDS_FILE=os.path.join(out, role + '.pids'))
plan = {'det': types.SimpleNamespace(code_dir=out), 'common': ['--data=x'], 'settings': {'resume': None}, 'cpu': True}
pair_training.train_roles(out, plan, 1.0, os.path.join(out, 'spec.json'), None, sys.argv[2] == 'parallel', 1, None,
                 lambda line: None, False)
'''


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f'/proc/{pid}/stat') as f:            # A zombie has ended (only its exit status is left).
        return f.read().rsplit(')', 1)[1].split()[0] != 'Z'


@pytest.mark.skipif(not os.path.isdir('/proc'), reason='reads /proc')
@pytest.mark.parametrize('mode, roles', [('parallel', ('control', 'linked')), ('serial', ('control',))])
def test_sigterm_stops_every_training_and_its_children(tmp_path, mode, roles):
    import signal
    import subprocess
    import sys
    import time
    driver = subprocess.Popen([sys.executable, '-c', STOP_DRIVER, str(tmp_path), mode], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    files = [tmp_path / f'{role}.pids' for role in roles]
    deadline = time.time() + 60
    while not all(f.exists() and f.read_text().endswith('\n') for f in files) and driver.poll() is None:
        assert time.time() < deadline, 'the fake trainings did not start'
        time.sleep(0.1)
    if driver.poll() is not None:
        output = driver.stdout.read()
        driver.stdout.close()
        pytest.fail(f'the driver ended early: {output}')
    pids = [int(p) for f in files for p in f.read_text().split()]
    assert len(pids) == 2 * len(roles) and all(_alive(p) for p in pids)
    driver.send_signal(signal.SIGTERM)
    rc = driver.wait(timeout=30)
    driver.stdout.close()
    assert rc == 128 + signal.SIGTERM
    deadline = time.time() + 10
    while any(_alive(p) for p in pids) and time.time() < deadline:
        time.sleep(0.1)
    assert not [p for p in pids if _alive(p)]


def _footer_report(control_recall):
    runs = {role: {'seconds': 10.0, 'run_dirs': ['a'], 'trained_now': True, 'kimg': 40.0} for role in pair_training.ROLES}
    report = {'timings': {'training': 20.0, 'evaluation': 5.0, 'pictures': 1.0}, 'seconds': 26.0, 'runs': runs,
              'coverage': {'control': {'recall': control_recall}, 'linked': {'recall': 0.0}},
              'coverage_floor': {'recall': 0.87}, 'quality': {'control': 413.7, 'linked': 403.7}, 'quality_floor': 14.6}
    report['control_learned'] = pair.control_learned(report)
    return report


def test_footer_warns_when_the_control_has_not_learned_the_data():
    # The 40-kimg pair at upstream's auto R1 gamma: recall 0 against a real-vs-real 0.87, SWD 28x its floor.
    unlearned = _footer_report(0.0)
    assert unlearned['control_learned'] is False
    text = '\n'.join(pair.pair_footer(unlearned))
    assert 'the control has not learned the data (recall 0.000 against the real-vs-real 0.870; SWD 413.7' in text
    learned = _footer_report(0.3)
    assert learned['control_learned'] is True
    assert 'has not learned' not in '\n'.join(pair.pair_footer(learned))


def test_training_seconds_count_every_segment_up_to_its_snapshot(tmp_path):
    # A segment stopped after ticks past its last kept snapshot (the 40-kimg pair's control: stats to 20 kimg, snapshot
    # 16): its time counts to the 16-kimg tick, whose kimg (16.004) rounds down to the snapshot's name.
    run = tmp_path / '00000-run'
    run.mkdir()
    rows = [{'Progress/kimg': {'num': 1, 'mean': k}, 'Timing/total_sec': {'num': 1, 'mean': t}}
            for k, t in ((0.0, 5.0), (8.004, 700.0), (16.004, 1400.0), (20.004, 1750.0))]
    (run / 'stats.jsonl').write_text(''.join(json.dumps(r) + '\n' for r in rows))
    assert pair_training.segment_seconds(str(run), 16.0) == 1400.0
    assert pair_training.segment_seconds(str(run), 20.004) == 1750.0
    assert pair_training.segment_seconds(str(tmp_path), 16.0) == 0.0           # No stats.jsonl: nothing trained there.


def test_read_stats_keeps_the_complete_rows_of_a_file_cut_short(tmp_path):
    run = tmp_path / '00000-x'
    run.mkdir()
    assert smoke.read_stats(str(run)) == []
    (run / 'stats.jsonl').write_text(json.dumps({'Progress/kimg': {'num': 1, 'mean': 4.0}}) + '\n{"Progress/kimg": {"n')
    assert smoke.read_stats(str(run)) == [{'Progress/kimg': {'num': 1, 'mean': 4.0}}]
