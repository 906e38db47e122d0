"""Every example spec passes `linkgan spec check`; the README lists every training command; the example segmenter
works. Opt-in (`-m upstream`, with LINKGAN_UPSTREAM_* set): each training command runs with --dry-run on a
patched copy of the real upstream."""

import json
import os
import shlex
import subprocess
import sys

import pytest
import torch
from click.testing import CliRunner
from toy_checkpoints import read_text

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(REPO, 'examples')
COMMANDS = json.loads(read_text(os.path.join(EXAMPLES, 'commands.json')))
SPECS = sorted(f for f in os.listdir(EXAMPLES) if f.endswith('.json') and f != 'commands.json')

#----------------------------------------------------------------------------

@pytest.mark.parametrize('spec', SPECS)
def test_example_spec_passes_spec_check(spec):
    from linkgan_plugin.cli import main
    res = next((v['resolution'] for v in COMMANDS.values() if v['spec'] == spec), 256)
    r = CliRunner().invoke(main, ['spec', 'check', os.path.join(EXAMPLES, spec), '--w-dim', '512', '--resolution', str(res)])
    assert r.exit_code == 0, r.output


def test_every_spec_has_a_command_and_the_readme_shows_it():
    readme = read_text(os.path.join(EXAMPLES, 'README.md'))
    assert sorted(v['spec'] for v in COMMANDS.values()) == SPECS
    assert {v['upstream'] for v in COMMANDS.values()} == {'sg2ada', 'sg3', 'eg3d'}
    for name, v in COMMANDS.items():
        assert v['command'] in readme, f'{name}: command missing from examples/README.md'
        assert '--loss=linkgan_plugin.LinkLoss' in v['command'] and v['spec'] in v['command']


def test_example_segmenter_labels_sky():
    import importlib.util
    path = os.path.join(EXAMPLES, 'segmenters', 'sky_by_colour.py')
    spec = importlib.util.spec_from_file_location('sky_by_colour', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    img = torch.full([2, 3, 64, 64], -0.6)
    img[:, :, :24] = torch.tensor([0.3, 0.5, 0.9]).view(1, 3, 1, 1)      # A blue band on top: sky.
    labels = mod.segment(img)
    assert labels.shape == (2, 64, 64) and labels.dtype == torch.int64
    assert labels[:, 2:20].float().mean() > 0.95 and labels[:, 30:].float().mean() < 0.05

#----------------------------------------------------------------------------
# Opt-in: dry runs on the real upstreams.

def patched_copy(key, tmp_path):
    """A patched copy of the checkout named by LINKGAN_UPSTREAM_<KEY> (test_upstream_real.copy_checkout: skips when
    unset; the checkout itself is not touched)."""
    from test_upstream_real import copy_checkout
    dst = copy_checkout(key, tmp_path)
    from linkgan_plugin import patching
    patching.run_patch(dst)
    return patching.detect(dst).code_dir


def substitute(command, data, outdir):
    cmd = command.replace('$LINKGAN', REPO)
    args = shlex.split(cmd)
    assert args[:2] == ['python', 'train.py']
    out = []
    for a in args[2:]:
        if a.startswith('--data='):
            a = f'--data={data}'
        elif a.startswith('--outdir='):
            a = f'--outdir={outdir}'
        out.append(a)
    return out


@pytest.mark.upstream
@pytest.mark.parametrize('name', sorted(COMMANDS))
def test_example_command_dry_run(name, tmp_path):
    from linkgan_plugin import smoke
    ex = COMMANDS[name]
    code_dir = patched_copy(ex['upstream'], tmp_path)
    data = smoke.make_dataset(str(tmp_path / 'data'), ex['resolution'], 2, camera_labels=ex['camera_labels'])
    args = substitute(ex['command'], data, str(tmp_path / 'runs')) + ['--dry-run']
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''))
    cmd = [sys.executable, '-m', 'linkgan_plugin.upstream.cpu_run', os.path.join(code_dir, 'train.py')] + args
    proc = subprocess.run(cmd, cwd=code_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert 'Dry run; exiting.' in proc.stdout
    assert '"class_name": "linkgan_plugin.LinkLoss"' in proc.stdout

#----------------------------------------------------------------------------
