"""Opt-in: `linkgan patch` and `linkgan smoke` against real upstream checkouts at the pinned commits.

    LINKGAN_UPSTREAM_SG2ADA=~/src/stylegan2-ada-pytorch LINKGAN_UPSTREAM_SG3=~/src/stylegan3 \\
    LINKGAN_UPSTREAM_EG3D=~/src/eg3d python -m pytest -m upstream tests

Each test works on a copy of the checkout (a local git clone, or a plain copy), so the checkout itself is never
modified. Upstream needs its own requirements installed (click, numpy, scipy, pillow, requests, psutil). The smoke
runs take minutes on a CPU-only machine.
"""

import json
import os
import shutil
import subprocess
import sys

import pytest

from linkgan_plugin import patching, smoke
from toy_checkpoints import read_text

pytestmark = [pytest.mark.upstream, pytest.mark.slow]

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {'sg2ada': 'LINKGAN_UPSTREAM_SG2ADA', 'sg3': 'LINKGAN_UPSTREAM_SG3', 'eg3d': 'LINKGAN_UPSTREAM_EG3D'}

#----------------------------------------------------------------------------

def copy_checkout(key, tmp_path):
    src = os.environ.get(ENV[key])
    if not src:
        pytest.skip(f'{ENV[key]} is not set')
    dst = str(tmp_path / f'upstream-{key}')
    if os.path.isdir(os.path.join(src, '.git')) and shutil.which('git'):
        subprocess.run(['git', 'clone', '-q', '--local', src, dst], check=True)
        # Carry over the checkout's working-tree state (it may already be patched).
        diff = subprocess.run(['git', 'diff', 'HEAD'], cwd=src, stdout=subprocess.PIPE, check=True).stdout
        if diff:
            subprocess.run(['git', 'apply'], cwd=dst, input=diff, check=True)
    else:
        shutil.copytree(src, dst, symlinks=True, ignore=shutil.ignore_patterns('__pycache__'))
    return dst


def tree_state(root):
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in ('.git', '__pycache__')]
        for fn in filenames:
            p = os.path.join(dirpath, fn)
            if not os.path.islink(p):
                out[os.path.relpath(p, root)] = read_text(p, 'rb')
    return out


def run_train(code_dir, args, timeout=600):
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''))
    cmd = [sys.executable, '-m', 'linkgan_plugin.upstream.cpu_run', os.path.join(code_dir, 'train.py')] + list(args)
    return subprocess.run(cmd, cwd=code_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)


BASE_ARGS = {
    'sg2ada': ['--gpus=1', '--batch=4', '--metrics=none'],
    'sg3': ['--cfg=stylegan2', '--gpus=1', '--batch=4', '--gamma=1', '--metrics=none'],
    'eg3d': ['--cfg=ffhq', '--gpus=1', '--batch=4', '--gamma=1', '--metrics=none'],
}

#----------------------------------------------------------------------------

@pytest.mark.parametrize('key', ['sg2ada', 'sg3', 'eg3d'])
def test_patch_check_apply_revert(key, tmp_path):
    root = copy_checkout(key, tmp_path)
    patching.run_patch(root, revert=True)                               # Start pristine.
    pristine = tree_state(root)
    det = patching.detect(root)
    assert det.upstream.key == key
    if det.head is not None:
        assert det.commit_matches, f'{ENV[key]} is not at the pinned commit {det.upstream.commit[:12]}'
    rep = patching.run_patch(root, check=True)
    assert not rep.ok and tree_state(root) == pristine
    rep = patching.run_patch(root)
    assert rep.ok and len(rep.changed) == len(det.upstream.patches)
    patched = tree_state(root)
    rep = patching.run_patch(root)
    assert rep.changed == [] and tree_state(root) == patched
    assert patching.run_patch(root, check=True).ok
    patching.run_patch(root, revert=True)
    assert tree_state(root) == pristine
    patching.run_patch(root, compat=False)
    assert patching.is_loss_patched(root)[1]


@pytest.mark.parametrize('key', ['sg2ada', 'sg3', 'eg3d'])
def test_train_py_options_fail_fast(key, tmp_path):
    root = copy_checkout(key, tmp_path)
    patching.run_patch(root)
    code_dir = patching.detect(root).code_dir
    res = 128 if key == 'eg3d' else 32
    data = smoke.make_dataset(str(tmp_path / 'data'), res, 2, camera_labels=(key == 'eg3d'))
    outdir = str(tmp_path / 'runs')
    common = BASE_ARGS[key] + [f'--data={data}', f'--outdir={outdir}']

    r = run_train(code_dir, common + ['--loss=linkgan_plugin.LinkLos'])
    assert r.returncode != 0 and 'cannot import "linkgan_plugin.LinkLos"' in r.stdout, r.stdout[-2000:]
    r = run_train(code_dir, common + ['--loss=no_such_package.Loss'])
    assert r.returncode != 0 and 'no_such_package' in r.stdout
    for bad, msg in [('[1, 2]', 'must be a JSON object'), ('{"a": ', 'not valid JSON'),
                     ('{"class_name": "x.Y"}', 'must not set "class_name"'), ('@/no/such/file.json', 'cannot read')]:
        r = run_train(code_dir, common + ['--loss-kwargs', bad])
        assert r.returncode != 0 and msg in r.stdout, (bad, r.stdout[-2000:])
    assert not os.path.exists(outdir) or os.listdir(outdir) == []       # Nothing was built.

    spec = os.path.join(REPO, 'examples', 'sg2ada_ffhq_eyes.json')
    r = run_train(code_dir, common + ['--loss=linkgan_plugin.LinkLoss', f'--loss-kwargs=@{spec}', '--dry-run'])
    assert r.returncode == 0, r.stdout[-3000:]
    assert '"class_name": "linkgan_plugin.LinkLoss"' in r.stdout and '"links"' in r.stdout
    r = run_train(code_dir, common + ['--loss-kwargs={"r1_gamma": 3.5}', '--dry-run'])
    assert r.returncode == 0 and '"r1_gamma": 3.5' in r.stdout and '"class_name": "training.loss.StyleGAN2Loss"' in r.stdout


SMOKES = [('sg2ada', []), ('sg3', []), ('sg3', ['--cfg=stylegan3-t']), ('eg3d', [])]


@pytest.mark.parametrize('key,extra', SMOKES, ids=['sg2ada', 'sg3-stylegan2', 'sg3-stylegan3-t', 'eg3d'])
def test_smoke_with_linkloss_then_load_without_plugin_and_resume(key, extra, tmp_path):
    root = copy_checkout(key, tmp_path)
    patching.run_patch(root)
    s = smoke.run_smoke(root, outdir=str(tmp_path / 'runs'), train_args=extra, timeout=1800, echo=lambda *_: None)
    assert s['returncode'] == 0 and s['run_dir'] and s['ticks'] >= 2
    assert s['loss_class'] == 'linkgan_plugin.LinkLoss' and s['loss_kwargs'].get('links')
    assert any(abs(v['mean']) > 0 for k, v in s['link'].items() if k.endswith(('/in', '/out')))
    assert s['snapshots']
    pkl = os.path.join(s['run_dir'], s['snapshots'][-1])

    # The snapshot loads with plain upstream code: importing linkgan_plugin is made impossible.
    code_dir = patching.detect(root).code_dir
    probe = (
        "import sys, torch; sys.modules['linkgan_plugin'] = None\n"
        "import legacy, dnnlib\n"
        f"with dnnlib.util.open_url({pkl!r}) as f: data = legacy.load_network_pkl(f)\n"
        "G = data['G_ema']; z = torch.randn([1, G.z_dim]); c = torch.zeros([1, G.c_dim])\n"
        f"if G.c_dim == 25: c[0] = torch.tensor({smoke._camera_label(0.0, 0.0)!r})\n"
        "out = G(z, c)\n"
        "img = out['image'] if isinstance(out, dict) else out\n"
        "assert torch.isfinite(img).all(); print('LOADED', tuple(img.shape), sorted(data))\n")
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    r = subprocess.run([sys.executable, '-c', probe], cwd=code_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    assert r.returncode == 0 and 'LOADED' in r.stdout, r.stdout[-3000:]

    # Resuming from it works (LinkLoss again).
    s2 = smoke.run_smoke(root, outdir=str(tmp_path / 'runs'), nimg=16, train_args=list(extra) + [f'--resume={pkl}'], timeout=1800, echo=lambda *_: None)
    assert s2['returncode'] == 0 and s2['ticks'] >= 1
    opts = json.loads(read_text(os.path.join(s2['run_dir'], 'training_options.json')))
    assert opts['resume_pkl'] == pkl

#----------------------------------------------------------------------------
