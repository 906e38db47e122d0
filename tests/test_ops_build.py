"""The JIT build of the kernels: cache keys (sources, flags, torch, arch list, compute capability), an explicit
request that raises on a failed build and 'auto' that falls back once, the cluster-safe build protocol (a failing
flock, a foreign live lock, concurrent cold loaders, publishing by rename, private directories), where the sources
are found, and the verbosity setting."""

import fcntl
import importlib
import os
import socket
import subprocess
import sys
import textwrap
import warnings

import pytest
import torch

from linkgan_plugin.ops import build, masked_diff
from linkgan_plugin.ops.reference import masked_diff_reference
from toy_checkpoints import read_text

masked_diff_module = importlib.import_module('linkgan_plugin.ops.masked_diff')     # The name `masked_diff` is the function.


@pytest.fixture
def fresh_loader(monkeypatch):
    """Forget this process's loaded / failed kernels for one test (restored afterwards)."""
    monkeypatch.setattr(build, '_loaded', {})
    monkeypatch.setattr(build, '_errors', {})
    monkeypatch.setattr(build, '_build_times', {})
    monkeypatch.setattr(masked_diff_module, '_warned', set())
    monkeypatch.setattr(masked_diff_module, '_paths', {})


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


def test_cuda_cache_key_tracks_the_arch_list_and_the_compute_capability(monkeypatch):
    # A cache shared by A100 (8.0) and H100 (9.0) nodes must give them different binaries.
    monkeypatch.delenv('TORCH_CUDA_ARCH_LIST', raising=False)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 1)
    monkeypatch.setattr(torch.cuda, 'get_device_capability', lambda i: (8, 0))
    a100, cpu = build.build_key('cuda'), build.build_key('cpu')
    assert build.cuda_arch_key() == (None, ((8, 0),))
    monkeypatch.setattr(torch.cuda, 'get_device_capability', lambda i: (9, 0))
    h100 = build.build_key('cuda')
    monkeypatch.setenv('TORCH_CUDA_ARCH_LIST', '8.0;9.0')
    listed = build.build_key('cuda')
    monkeypatch.setenv('TORCH_CUDA_ARCH_LIST', '9.0')
    assert len({a100, h100, listed, build.build_key('cuda')}) == 4
    assert build.build_key('cpu') == cpu                # The CPU binary does not depend on the GPUs.
    assert build.build_dir('cuda') != build.build_dir('cpu')


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

def test_failed_build_raises_for_an_explicit_request_and_falls_back_once_under_auto(fresh_loader, monkeypatch, tmp_path):
    monkeypatch.setenv('LINKGAN_CACHE_DIR', str(tmp_path))
    monkeypatch.setenv('LINKGAN_VERBOSITY', 'none')
    monkeypatch.delenv('LINKGAN_KERNEL', raising=False)
    monkeypatch.setitem(build.KINDS, 'cpu', {**build.KINDS['cpu'], 'extra_cflags': ['-O3', '--linkgan-no-such-flag']})
    x, x1, x2, mask = small_inputs()
    with warnings.catch_warnings():
        warnings.simplefilter('error')      # A promise broken is an error, not a warning.
        with pytest.raises(RuntimeError, match=r"impl='cpu' asks for the cpu kernel, but it could not be built: .*"):
            masked_diff(x, x1, x2, mask, impl='cpu')
        monkeypatch.setenv('LINKGAN_KERNEL', 'cpu')
        with pytest.raises(RuntimeError, match='LINKGAN_KERNEL=cpu asks for the cpu kernel, but it could not be built'):
            masked_diff(x, x1, x2, mask)
    monkeypatch.delenv('LINKGAN_KERNEL')
    assert 'linkgan-no-such-flag' in build.build_error('cpu') or 'Error' in build.build_error('cpu')
    with pytest.warns(RuntimeWarning, match='could not build the cpu kernel, falling back to the PyTorch reference'):
        got = masked_diff(x, x1, x2, mask, impl='auto')
    for g, w in zip(got, masked_diff_reference(x, x1, x2, mask)):
        assert torch.equal(g, w)
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # The second call neither rebuilds nor warns again.
        masked_diff(x, x1, x2, mask, impl='auto')
    (reason,) = [r for (device, path, r), calls in masked_diff_module.paths_run().items() if path == 'ref' and calls == 2]
    assert reason.startswith('the cpu kernel could not be built')

#----------------------------------------------------------------------------
# The build protocol on clusters (module docstring of build.py, 3-4), each in a fresh process: a process loads the
# op library once, so the tests "compile" by copying the binary this session built (conftest.cpu_kernel).

PRELUDE = textwrap.dedent('''
    import errno, fcntl, os, shutil, sys, time, warnings
    import torch
    from linkgan_plugin.ops import build
    warnings.simplefilter('always')
    WARM, COUNT = sys.argv[1], sys.argv[2]

    def fake_compile(kind, src_dir, directory, name, level):
        with open(COUNT, 'a') as f:
            f.write(f'{os.getpid()}\\n')
        time.sleep(float(os.environ.get('FAKE_COMPILE_SECONDS', '0')))
        path = os.path.join(directory, name + '.so')
        shutil.copy(WARM, path)
        torch.ops.load_library(path)
        return path
    build._compile = fake_compile
    if os.environ.get('FLOCK_FAILS'):
        def failing_flock(fd, op):
            raise OSError(errno.ENOSYS, 'Function not implemented')
        build.fcntl.flock = failing_flock
''')


def run_loader(tmp_path, cache, body='', env=None, wait=True):
    """Runs PRELUDE + body + a load of the cpu kernel in a fresh process with LINKGAN_CACHE_DIR=cache; returns the
    finished process (or the running Popen with wait=False)."""
    warm = os.path.join(build.build_dir('cpu'), build.extension_name('cpu') + '.so')
    code = PRELUDE + textwrap.dedent(body) + textwrap.dedent('''
        ops = build.load_extension('cpu')
        assert ops is not None, build.build_error('cpu')
        assert ops.masked_diff_fwd is not None
        print('LOADED')
    ''')
    full_env = {**os.environ, 'LINKGAN_CACHE_DIR': str(cache), 'LINKGAN_VERBOSITY': 'none', **(env or {})}
    args = [sys.executable, '-c', code, warm, str(tmp_path / 'compiles.txt')]
    if not wait:
        return subprocess.Popen(args, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(args, env=full_env, capture_output=True, text=True, timeout=180)


def compiles(tmp_path):
    path = tmp_path / 'compiles.txt'
    return path.read_text().split() if path.exists() else []


def published_dir(cache):
    (directory,) = [os.path.join(cache, d) for d in os.listdir(cache) if d.endswith(build.build_key('cpu'))]
    return directory


def test_failing_flock_warm_cache_loads_without_a_lock(cpu_kernel, tmp_path):
    # flock raising ENOSYS (Lustre without flock) must not matter when the binary is already published.
    out = run_loader(tmp_path, os.path.dirname(build.build_dir('cpu')), env={'FLOCK_FAILS': '1'})
    assert out.returncode == 0 and 'LOADED' in out.stdout, out.stderr
    assert compiles(tmp_path) == [] and 'Warning' not in out.stderr, out.stderr


def test_failing_flock_cold_cache_builds_and_publishes_by_rename(cpu_kernel, tmp_path):
    cache = tmp_path / 'cache'
    out = run_loader(tmp_path, cache, env={'FLOCK_FAILS': '1'})
    assert out.returncode == 0 and 'LOADED' in out.stdout, out.stderr
    assert 'file locks do not work' in out.stderr and 'atomic rename' in out.stderr
    directory = published_dir(cache)
    assert sorted(os.listdir(directory)) == ['build.flock', build.extension_name('cpu') + '.so']  # No private dir left.
    assert len(compiles(tmp_path)) == 1
    again = run_loader(tmp_path, cache, env={'FLOCK_FAILS': '1'})     # Now warm: loads, builds nothing.
    assert again.returncode == 0 and len(compiles(tmp_path)) == 1, again.stderr


def test_a_foreign_live_lock_is_waited_for_then_built_around_never_removed(cpu_kernel, tmp_path):
    # Another live process holds the build lock (a stuck build, maybe on another node) and left torch's `lock`
    # file: after LINKGAN_BUILD_TIMEOUT the loader builds privately; neither lock is touched.
    cache = tmp_path / 'cache'
    directory = os.path.join(cache, os.path.basename(build.build_dir('cpu')))
    os.makedirs(directory)
    torch_lock = os.path.join(directory, 'lock')
    open(torch_lock, 'w').close()
    with open(os.path.join(directory, 'build.flock'), 'a+') as holder:
        fcntl.flock(holder.fileno(), fcntl.LOCK_EX)
        out = run_loader(tmp_path, cache, env={'LINKGAN_BUILD_TIMEOUT': '0.5'})
        with open(os.path.join(directory, 'build.flock'), 'a+') as probe, pytest.raises(BlockingIOError):
            fcntl.flock(probe.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)      # Still held by `holder`.
    assert out.returncode == 0 and 'LOADED' in out.stdout, out.stderr
    assert 'held the build lock' in out.stderr and 'building without the lock' in out.stderr
    assert os.path.exists(torch_lock) and len(compiles(tmp_path)) == 1
    assert os.path.isfile(os.path.join(directory, build.extension_name('cpu') + '.so'))


def test_concurrent_cold_loaders_wait_for_one_build(cpu_kernel, tmp_path):
    cache = tmp_path / 'cache'
    procs = [run_loader(tmp_path, cache, env={'FAKE_COMPILE_SECONDS': '2'}, wait=False) for _ in range(2)]
    outs = [p.communicate(timeout=180) for p in procs]
    assert all(p.returncode == 0 and 'LOADED' in out for p, (out, _) in zip(procs, outs)), outs
    assert len(compiles(tmp_path)) == 1                     # One built; the other waited and loaded its binary.


def test_private_dirs_of_dead_local_processes_are_removed_others_kept(tmp_path):
    dead = subprocess.Popen([sys.executable, '-c', 'pass'])
    dead.wait()
    host = socket.gethostname()
    names = {f'build-{dead.pid}-{host}-abc123': False, f'build-{os.getpid()}-{host}-def456': True,
             f'build-{dead.pid}-other-node-7-ghi789': True, 'build.flock': True, 'lock': True}
    for name in names:
        (tmp_path / name).mkdir()
    removed = build.remove_dead_private_dirs(str(tmp_path))
    assert removed == [str(tmp_path / f'build-{dead.pid}-{host}-abc123')]
    assert sorted(os.listdir(tmp_path)) == sorted(name for name, kept in names.items() if kept)


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


def test_setup_requires_a_torch_that_has_what_the_bindings_use():
    # Tensor::const_data_ptr / mutable_data_ptr arrived in torch 2.1: with 2.0 both kernels would fail to build.
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    uses = any('const_data_ptr' in read_text(os.path.join(build.source_dir(), name))
               for kind in build.KINDS.values() for name in kind['sources'] + kind['headers'])
    with open(os.path.join(root, 'setup.py')) as f:
        (bound,) = [line for line in f if "'torch>=" in line]
    assert uses and "'torch>=2.1," in bound, bound
