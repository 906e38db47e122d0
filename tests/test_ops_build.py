"""The JIT build of the kernels: cache keys, the reference fallback on a failed build, the stale-lock guard,
the lock timeout, where the sources are found, and the verbosity setting."""

import fcntl
import os
import subprocess
import sys
import textwrap
import warnings

import pytest
import torch

from linkgan_plugin.ops import build, masked_diff
from linkgan_plugin.ops.reference import masked_diff_reference


@pytest.fixture
def fresh_loader(monkeypatch):
    """Forget this process's loaded / failed kernels for one test (restored afterwards)."""
    monkeypatch.setattr(build, '_loaded', {})
    monkeypatch.setattr(build, '_errors', {})
    monkeypatch.setattr(build, '_build_times', {})


def small_inputs():
    g = torch.Generator().manual_seed(0)
    return (torch.randn(2, 3, 5, 7, generator=g), torch.randn(2, 2, 3, 5, 7, generator=g),
            torch.randn(2, 3, 5, 7, generator=g), torch.rand(2, 2, 5, 7, generator=g))

#----------------------------------------------------------------------------

def test_cache_key_tracks_flags_kind_and_torch(monkeypatch, tmp_path):
    monkeypatch.setenv('LINKGAN_CACHE_DIR', str(tmp_path))
    key = build.build_key('cpu')
    assert key == build.build_key('cpu')
    assert build.build_key('cuda') != key
    d = build.build_dir('cpu')
    assert d.startswith(str(tmp_path)) and torch.__version__ in os.path.basename(d) and key in d
    assert key in build.extension_name('cpu')
    monkeypatch.setitem(build.KINDS, 'cpu', {**build.KINDS['cpu'], 'extra_cflags': ['-O2', '-fopenmp']})
    assert build.build_key('cpu') != key
    assert '-march=native' not in build.KINDS['cpu']['extra_cflags']


def test_cache_key_tracks_source_contents(tmp_path):
    src = tmp_path / 'cuda_ops'
    src.mkdir()
    for name in build.KINDS['cpu']['sources'] + build.KINDS['cpu']['headers']:
        (src / name).write_text(f'// {name}\n')
    (src / 'masked_diff_cpu.cpp').write_text('// one\n')
    key = build.build_key('cpu', str(src))
    (src / 'masked_diff_cpu.cpp').write_text('// two\n')
    assert build.build_key('cpu', str(src)) != key


def test_sources_prefer_the_installed_copy(monkeypatch, tmp_path):
    # Layout of a non-editable install: site-packages/linkgan_plugin/{ops/build.py, _cuda_ops/...}.
    pkg = tmp_path / 'linkgan_plugin'
    (pkg / 'ops').mkdir(parents=True)
    (pkg / '_cuda_ops').mkdir()
    (pkg / '_cuda_ops' / 'masked_diff_cpu.cpp').write_text('// installed\n')
    (tmp_path / 'cuda_ops').mkdir()
    (tmp_path / 'cuda_ops' / 'masked_diff_cpu.cpp').write_text('// checkout\n')
    monkeypatch.setattr(build, '__file__', str(pkg / 'ops' / 'build.py'))
    assert build.source_dir() == str(pkg / '_cuda_ops')
    (pkg / '_cuda_ops' / 'masked_diff_cpu.cpp').unlink()
    assert build.source_dir() == str(tmp_path / 'cuda_ops')
    (tmp_path / 'cuda_ops' / 'masked_diff_cpu.cpp').unlink()
    with pytest.raises(FileNotFoundError, match='sources not found'):
        build.source_dir()


def test_the_real_sources_are_found():
    src = build.source_dir()
    for kind in build.KINDS.values():
        for name in kind['sources'] + kind['headers']:
            assert os.path.isfile(os.path.join(src, name)), name

#----------------------------------------------------------------------------

def test_failed_build_warns_once_and_falls_back(fresh_loader, monkeypatch, tmp_path):
    monkeypatch.setenv('LINKGAN_CACHE_DIR', str(tmp_path))
    monkeypatch.setenv('LINKGAN_VERBOSITY', 'none')
    monkeypatch.setitem(build.KINDS, 'cpu', {**build.KINDS['cpu'], 'extra_cflags': ['-O3', '--linkgan-no-such-flag']})
    x, x1, x2, mask = small_inputs()
    with pytest.warns(RuntimeWarning, match='could not build the cpu kernel, falling back to the PyTorch reference'):
        got = masked_diff(x, x1, x2, mask, impl='cpu')
    assert 'linkgan-no-such-flag' in build.build_error('cpu') or 'Error' in build.build_error('cpu')
    for g, w in zip(got, masked_diff_reference(x, x1, x2, mask)):
        assert torch.equal(g, w)
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # The second call neither rebuilds nor warns again.
        masked_diff(x, x1, x2, mask, impl='auto')


def test_stale_torch_lock_is_removed(cpu_kernel):
    # A build killed midway leaves torch's `lock` in the build directory; torch's load() would then wait
    # forever. A fresh process must load anyway (warning about the stale lock) and remove it.
    directory = build.build_dir('cpu')
    lock = os.path.join(directory, 'lock')
    with open(lock, 'w'):
        pass
    code = textwrap.dedent('''
        import warnings
        warnings.simplefilter('always')
        from linkgan_plugin.ops import build
        assert build.load_extension('cpu') is not None, build.build_error('cpu')
        print('LOADED')
    ''')
    env = {**os.environ, 'LINKGAN_VERBOSITY': 'none'}
    try:
        out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120, env=env)
    finally:
        leftover = os.path.exists(lock)
        if leftover:
            os.remove(lock)
    assert out.returncode == 0 and 'LOADED' in out.stdout, out.stderr
    assert 'removing the stale build lock' in out.stderr, out.stderr
    assert not leftover


def test_busy_build_lock_times_out_to_reference(cpu_kernel, fresh_loader, monkeypatch):
    # Another live builder holds the lock for longer than LINKGAN_BUILD_TIMEOUT: warn and use the reference.
    monkeypatch.setenv('LINKGAN_BUILD_TIMEOUT', '0.5')
    monkeypatch.setenv('LINKGAN_VERBOSITY', 'none')
    path = os.path.join(build.build_dir('cpu'), 'build.flock')
    with open(path, 'a+') as holder:
        fcntl.flock(holder.fileno(), fcntl.LOCK_EX)
        try:
            with pytest.warns(RuntimeWarning, match='held the build lock'):
                assert build.load_extension('cpu') is None
        finally:
            fcntl.flock(holder.fileno(), fcntl.LOCK_UN)


def test_verbosity_setting(cpu_kernel, fresh_loader, monkeypatch, capsys):
    monkeypatch.setenv('LINKGAN_VERBOSITY', 'loud')
    with pytest.raises(ValueError, match='LINKGAN_VERBOSITY'):
        build.verbosity()
    assert build.verbosity('full') == 'full'
    monkeypatch.delenv('LINKGAN_VERBOSITY')
    assert build.verbosity() == 'brief'
    # A cached load under 'brief' is silent; only cold builds announce themselves.
    assert build.load_extension('cpu', 'brief') is not None
    assert capsys.readouterr().err == ''
    assert build.build_time('cpu') is not None


def test_nothing_is_compiled_at_import():
    code = ('import linkgan_plugin, linkgan_plugin.ops, linkgan_plugin.ops.bench, linkgan_plugin.ops.doctor, sys\n'
            'from linkgan_plugin.ops import build\n'
            'assert build._loaded == {}, build._loaded\n'
            "assert 'torch.utils.cpp_extension' not in sys.modules\n")
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
