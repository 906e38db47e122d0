"""`linkgan patch` on small synthetic upstream trees the tests write themselves (no upstream checkout needed),
plus format checks on the real patches in patches/."""

import json
import os
import re
import shutil
import subprocess

import pytest
from click.testing import CliRunner

from linkgan_plugin import patching
from toy_checkpoints import read_text

needs_git = pytest.mark.skipif(shutil.which('git') is None, reason='git is not installed')
pytestmark = needs_git

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#----------------------------------------------------------------------------
# A synthetic world: three look-alike upstreams and a patch directory with a manifest.

def _train_py(flavour):
    """Self-written stand-in for an upstream train.py: numbered filler lines around a loss_kwargs line."""
    lines = [f'# {flavour} stand-in train.py', 'import json', '']
    lines += [f'def helper_{i}():\n    return {i}\n' for i in range(8)]
    lines += ['def main():', "    c = dict()", "    c['loss_kwargs'] = dict(class_name='training.loss.StyleGAN2Loss')", "    c['batch'] = 4"]
    lines += [f'    step_{i} = {i}' for i in range(8)]
    lines += ['    return c', '']
    return '\n'.join(lines) + '\n'


def _misc_py():
    lines = ['import torch', '', 'class InfiniteSampler(torch.utils.data.Sampler):', '    def __init__(self, dataset):',
             '        assert len(dataset) > 0', '        super().__init__(dataset)', '        self.dataset = dataset', '']
    return '\n'.join(lines) + '\n'


LAYOUT = {
    'sg2ada': ['legacy.py', 'dnnlib/util.py', 'training/training_loop.py', 'training/loss.py', 'training/networks.py'],
    'sg3':    ['legacy.py', 'dnnlib/util.py', 'training/training_loop.py', 'training/loss.py', 'training/networks_stylegan2.py', 'training/networks_stylegan3.py'],
    'eg3d':   ['legacy.py', 'camera_utils.py', 'dnnlib/util.py', 'training/training_loop.py', 'training/loss.py', 'training/triplane.py'],
}
CODE_DIR = {'sg2ada': '.', 'sg3': '.', 'eg3d': 'eg3d'}


def make_tree(root, flavour):
    """Writes a look-alike checkout; returns the repository root."""
    code = os.path.join(root, CODE_DIR[flavour])
    for rel in LAYOUT[flavour]:
        path = os.path.join(code, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w') as f:
            f.write(f'# stand-in {rel}\n')
    with open(os.path.join(code, 'train.py'), 'w') as f:
        f.write(_train_py(flavour))
    os.makedirs(os.path.join(code, 'torch_utils'), exist_ok=True)
    with open(os.path.join(code, 'torch_utils', 'misc.py'), 'w') as f:
        f.write(_misc_py())
    return root


def _diff(rel, old, new):
    """A git-style patch for one file, made by git itself (3 lines of context)."""
    tmp = os.path.join(os.environ.get('TMPDIR', '/tmp'), f'lg-diff-{os.getpid()}')
    shutil.rmtree(tmp, ignore_errors=True)
    for side, text in (('a', old), ('b', new)):
        os.makedirs(os.path.join(tmp, side, os.path.dirname(rel)), exist_ok=True)
        with open(os.path.join(tmp, side, rel), 'w') as f:
            f.write(text)
    out = subprocess.run(['git', 'diff', '--no-index', '--no-prefix', os.path.join('a', rel), os.path.join('b', rel)],
                         cwd=tmp, stdout=subprocess.PIPE, text=True).stdout
    shutil.rmtree(tmp, ignore_errors=True)
    return out  # --no-prefix on directories a/ and b/ yields git's usual a/<rel> b/<rel> naming.


def loss_patch(flavour):
    old = _train_py(flavour)
    new = old.replace("dict(class_name='training.loss.StyleGAN2Loss')", "dict(class_name=opts.loss)")
    new = new.replace("    c['batch'] = 4\n", "    c['batch'] = 4\n    c['loss_kwargs'].update(opts.loss_kwargs or {})\n")
    new = new.replace("    return c\n", "    return c\n\ndef parse_loss_kwargs(s):\n    return json.loads(s)\n")
    return _diff('train.py', old, new)


def compat_patch():
    old = _misc_py()
    return _diff('torch_utils/misc.py', old, old.replace('        super().__init__(dataset)\n', '        # no super().__init__(dataset)\n'))


@pytest.fixture
def patch_dir(tmp_path):
    d = tmp_path / 'patches'
    manifest = {}
    for fl in LAYOUT:
        (d / fl).mkdir(parents=True)
        (d / fl / 'loss-option.patch').write_text('Header: what this patch does.\n\n' + loss_patch(fl))
        (d / fl / 'compat-sampler.patch').write_text('Header: optional fix.\n\n' + compat_patch())
        manifest[fl] = dict(name=fl.upper(), repo=f'example/{fl}', commit='0' * 40, code_dir=CODE_DIR[fl],
                            files=['train.py', 'torch_utils/misc.py'] + LAYOUT[fl],
                            absent={'sg2ada': ['training/networks_stylegan3.py', 'training/triplane.py'], 'sg3': ['training/triplane.py'], 'eg3d': []}[fl],
                            patches=[dict(file=f'{fl}/loss-option.patch', required=True, purpose='--loss'),
                                     dict(file=f'{fl}/compat-sampler.patch', required=False, purpose='sampler')])
    (d / 'manifest.json').write_text(json.dumps(manifest))
    return str(d)


def snapshot(root):
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [x for x in dirnames if x != '.git']
        for fn in filenames:
            p = os.path.join(dirpath, fn)
            with open(p, 'rb') as f:
                out[os.path.relpath(p, root)] = f.read()
    return out


def git_init(root):
    env = dict(os.environ, GIT_AUTHOR_NAME='t', GIT_AUTHOR_EMAIL='t@t', GIT_COMMITTER_NAME='t', GIT_COMMITTER_EMAIL='t@t')
    for args in (['init', '-q'], ['add', '-A'], ['commit', '-q', '-m', 'import']):
        subprocess.run(['git'] + args, cwd=root, env=env, check=True, stdout=subprocess.PIPE)
    return subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=root, stdout=subprocess.PIPE, text=True, check=True).stdout.strip()

#----------------------------------------------------------------------------
# Detection.

@pytest.mark.parametrize('flavour', ['sg2ada', 'sg3', 'eg3d'])
def test_detect_by_files(tmp_path, patch_dir, flavour):
    root = make_tree(str(tmp_path / 'up'), flavour)
    det = patching.detect(root, patch_dir=patch_dir)
    assert det.upstream.key == flavour
    assert det.code_dir == os.path.realpath(os.path.join(root, CODE_DIR[flavour]))
    assert det.head is None and det.commit_matches is None


def test_detect_eg3d_code_dir_directly(tmp_path, patch_dir):
    root = make_tree(str(tmp_path / 'up'), 'eg3d')
    det = patching.detect(os.path.join(root, 'eg3d'), patch_dir=patch_dir)
    assert det.upstream.key == 'eg3d'


def test_detect_commit_in_git_checkout(tmp_path, patch_dir):
    root = make_tree(str(tmp_path / 'up'), 'sg3')
    head = git_init(root)
    manifest = patching.load_manifest(patch_dir)
    assert patching.detect(root, manifest=manifest).commit_matches is False
    manifest['sg3'].commit = head
    det = patching.detect(root, manifest=manifest)
    assert det.commit_matches is True and 'pinned commit' in det.describe()


def test_detect_refuses_unknown_tree(tmp_path, patch_dir):
    (tmp_path / 'other').mkdir()
    (tmp_path / 'other' / 'train.py').write_text('print(1)\n')
    with pytest.raises(patching.PatchError, match='not a checkout of a supported upstream'):
        patching.detect(str(tmp_path / 'other'), patch_dir=patch_dir)
    with pytest.raises(patching.PatchError, match='not a directory'):
        patching.detect(str(tmp_path / 'missing'), patch_dir=patch_dir)

#----------------------------------------------------------------------------
# Apply, idempotence, check, revert.

@pytest.mark.parametrize('use_git', [False, True], ids=['plain', 'git'])
@pytest.mark.parametrize('flavour', ['sg2ada', 'sg3', 'eg3d'])
def test_apply_is_idempotent_and_reverts(tmp_path, patch_dir, flavour, use_git):
    root = make_tree(str(tmp_path / 'up'), flavour)
    if use_git:
        git_init(root)
    before = snapshot(root)
    train = os.path.join(root, CODE_DIR[flavour], 'train.py')

    rep = patching.run_patch(root, check=True, patch_dir=patch_dir)
    assert not rep.ok and set(rep.states.values()) == {patching.UNAPPLIED}
    assert snapshot(root) == before                                    # --check changes nothing.

    rep = patching.run_patch(root, patch_dir=patch_dir)
    assert rep.ok and len(rep.changed) == 2
    assert 'class_name=opts.loss' in read_text(train)                 # Really applied (not silently skipped).
    assert '# no super().__init__(dataset)' in read_text(os.path.join(root, CODE_DIR[flavour], 'torch_utils', 'misc.py'))
    after = snapshot(root)

    rep = patching.run_patch(root, patch_dir=patch_dir)                # Second run: already applied.
    assert rep.ok and rep.changed == [] and 'Already applied' in rep.lines[-1]
    assert snapshot(root) == after

    rep = patching.run_patch(root, check=True, patch_dir=patch_dir)
    assert rep.ok and set(rep.states.values()) == {patching.APPLIED}

    rep = patching.run_patch(root, revert=True, patch_dir=patch_dir)
    assert rep.ok and len(rep.changed) == 2
    assert snapshot(root) == before
    rep = patching.run_patch(root, revert=True, patch_dir=patch_dir)
    assert rep.changed == [] and 'Nothing to revert' in rep.lines[-1]


def test_no_compat_applies_only_required(tmp_path, patch_dir):
    root = make_tree(str(tmp_path / 'up'), 'sg3')
    rep = patching.run_patch(root, compat=False, patch_dir=patch_dir)
    assert rep.changed == ['sg3/loss-option.patch']
    assert 'super().__init__(dataset)' in read_text(os.path.join(root, 'torch_utils', 'misc.py'))
    rep = patching.run_patch(root, patch_dir=patch_dir)               # Then the compat set: only what is missing.
    assert rep.changed == ['sg3/compat-sampler.patch']
    det, ok = patching.is_loss_patched(root, patch_dir=patch_dir)
    assert ok and det.upstream.key == 'sg3'


def test_modified_fork_is_refused_and_left_unchanged(tmp_path, patch_dir):
    root = make_tree(str(tmp_path / 'up'), 'sg2ada')
    train = os.path.join(root, 'train.py')
    text = read_text(train).replace("    c['batch'] = 4\n", "    c['batch'] = 8 # my fork\n")
    with open(train, 'w') as f:
        f.write(text)
    before = snapshot(root)
    with pytest.raises(patching.PatchError) as err:
        patching.run_patch(root, patch_dir=patch_dir)
    msg = str(err.value)
    assert 'sg2ada/loss-option.patch' in msg and 'train.py' in msg and re.search(r'hunk #\d+ at line \d+', msg)
    assert 'nothing was changed' in msg
    assert snapshot(root) == before                                    # The compat patch, which would apply, was not applied.
    with pytest.raises(patching.PatchError):
        patching.run_patch(root, check=True, patch_dir=patch_dir)


def test_missing_file_is_named(tmp_path, patch_dir):
    root = make_tree(str(tmp_path / 'up'), 'sg3')
    manifest_path = os.path.join(patch_dir, 'manifest.json')
    manifest = json.loads(read_text(manifest_path))
    manifest['sg3']['files'].remove('torch_utils/misc.py')
    with open(manifest_path, 'w') as f:
        json.dump(manifest, f)
    os.remove(os.path.join(root, 'torch_utils', 'misc.py'))
    with pytest.raises(patching.PatchError, match=r'torch_utils/misc.py: no such file'):
        patching.run_patch(root, patch_dir=patch_dir)


def test_eg3d_inside_git_repo_is_really_patched(tmp_path, patch_dir):
    # From a subdirectory of a git work tree, plain `git apply` skips every path and still exits 0.
    root = make_tree(str(tmp_path / 'up'), 'eg3d')
    git_init(root)
    rep = patching.run_patch(os.path.join(root, 'eg3d'), patch_dir=patch_dir)
    assert len(rep.changed) == 2
    assert 'class_name=opts.loss' in read_text(os.path.join(root, 'eg3d', 'train.py'))

#----------------------------------------------------------------------------
# Command line.

def test_cli_exit_codes_and_messages(tmp_path, patch_dir):
    from linkgan_plugin.cli import main
    root = make_tree(str(tmp_path / 'up'), 'sg3')
    runner = CliRunner()
    r = runner.invoke(main, ['patch', root, '--check', '--patches', patch_dir])
    assert r.exit_code == 1 and 'not applied' in r.output
    r = runner.invoke(main, ['patch', root, '--patches', patch_dir])
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, ['patch', root, '--patches', patch_dir])
    assert r.exit_code == 0 and 'Already applied' in r.output
    r = runner.invoke(main, ['patch', root, '--check', '--patches', patch_dir])
    assert r.exit_code == 0 and 'All selected patches are applied' in r.output
    r = runner.invoke(main, ['patch', root, '--revert', '--patches', patch_dir])
    assert r.exit_code == 0 and 'Reverted' in r.output
    r = runner.invoke(main, ['patch', str(tmp_path), '--patches', patch_dir])
    assert r.exit_code == 1 and 'not a checkout of a supported upstream' in r.output
    r = runner.invoke(main, ['patch', root, '--check', '--revert', '--patches', patch_dir])
    assert r.exit_code == 2

#----------------------------------------------------------------------------
# The real patches shipped in patches/.

def _real_manifest():
    return patching.load_manifest(os.path.join(REPO, 'patches'))


def test_real_manifest_is_complete():
    m = _real_manifest()
    assert set(m) == {'sg2ada', 'sg3', 'eg3d'}
    pins = {'sg2ada': 'd72cc7d041b4', 'sg3': 'c233a919a6fa', 'eg3d': '7cf1fd1e99e1'}
    for key, up in m.items():
        assert up.commit.startswith(pins[key]) and len(up.commit) == 40
        assert [p.required for p in up.patches][0] is True and sum(p.required for p in up.patches) == 1
        assert any(not p.required for p in up.patches)
        for p in up.patches:
            assert os.path.isfile(p.path), p.path
    assert m['eg3d'].code_dir == 'eg3d'


@pytest.mark.parametrize('path', sorted(os.path.join(dp, f) for dp, _, fs in os.walk(os.path.join(REPO, 'patches')) for f in fs if f.endswith('.patch')))
def test_real_patches_are_minimal_git_diffs_with_a_header(path):
    text = read_text(path)
    header, _, body = text.partition('diff --git ')
    assert 'linkgan-plugin patch for NVlabs/' in header
    assert ('Required.' in header and 'Adds' in header) or ('Optional' in header and 'Fixes' in header)
    licence_owner = ' '.join(['NVIDIA', 'CORPORATION'])   # Spelled apart so this file carries no licence text.
    assert licence_owner not in text and 'Copyright' not in text      # No licence text, no file headers.
    for hunk in re.split(r'(?m)^@@ ', body)[1:]:
        lines = [l for l in hunk.split('\n')[1:] if l and not l.startswith(('diff --git', 'index ', '--- ', '+++ ', '\\'))]
        lines = [l for l in lines if l[0] in ' +-']
        lead = len(lines) - len(''.join('x' if l[0] != ' ' else ' ' for l in lines).lstrip(' '))
        trail = len(lines) - len(''.join('x' if l[0] != ' ' else ' ' for l in lines).rstrip(' '))
        assert lead <= 3 and trail <= 3, f'{path}: more than 3 lines of context'


def test_real_loss_patch_adds_both_options():
    for up in _real_manifest().values():
        text = read_text(up.patches[0].path)
        assert "'--loss'" in text and "'--loss-kwargs'" in text
        assert 'class_name' in text and 'json.loads' in text and 'get_obj_by_name' in text

#----------------------------------------------------------------------------
