"""Just-in-time build of the native masked-difference kernels (`cuda_ops/`) with ninja.

Nothing here runs at import. `load_extension(kind)` builds (or loads from the on-disk cache) one of:

    'cpu'   cuda_ops/masked_diff_cpu.cpp                               -> torch.ops.linkgan_cpu
    'cuda'  cuda_ops/masked_diff_cuda.cpp + masked_diff_kernel.cu     -> torch.ops.linkgan_cuda

and returns the op namespace, or None when the build fails (the cause is kept for `build_error(kind)`;
`masked_diff` then raises for an explicit request, or warns once and runs the reference under 'auto').
Properties:

1. Sources: `linkgan_plugin/_cuda_ops/` (what `pip install .` ships), else `<repo>/cuda_ops/` (source checkout).
2. Build directory: `$LINKGAN_CACHE_DIR` (default `~/.cache/linkgan_plugin`) / `<torch version>-<kind>-<key>`, where
   the key hashes the sources, the flags, the kind, Python, the platform, torch and its CUDA version, and for
   'cuda' the arch list (`$TORCH_CUDA_ARCH_LIST`) and the compute capabilities of the visible GPUs (what torch
   compiles for when the list is unset): A100 and H100 nodes sharing a cache build two binaries, side by side, and
   a changed source or flag never reuses a stale one. The extension name carries the key too.
3. Publishing: the binary `<name>.so` is built in a private directory of the build directory
   (`build-<pid>-<host>-<random>`) and published by an atomic rename; a process that finds it loads it directly,
   without lock or ninja. Torch's own `lock` file only ever lives in a private directory, so no process ever
   removes a lock of another one (a live build on another node of a shared filesystem included). Private
   directories of dead processes of this host are removed.
4. Locking: a process that finds no binary takes an OS file lock (`flock` on `build.flock`, released by the kernel
   when the holder dies), so ranks wait for one build and then load it. A `flock` that raises (Lustre without
   flock, some NFS mounts: ENOSYS, ENOLCK, EOPNOTSUPP, ...) means "no lock": the process builds privately and
   publishes by rename (whichever rename lands last, the binary is the same). Waiting for another live builder
   gives up after `$LINKGAN_BUILD_TIMEOUT` seconds (default 900) and builds privately too; both warn once.
5. Verbosity: 'none' | 'brief' | 'full' (argument, else `$LINKGAN_VERBOSITY`, default 'brief'). 'brief'
   prints one line to stderr when a cold build starts and when it ends; 'full' shows the compiler output.
"""

import contextlib
import fcntl
import hashlib
import os
import platform
import shutil
import socket
import sys
import tempfile
import time
import warnings

import torch

#----------------------------------------------------------------------------
# The build table: what each kind compiles, and with which flags. Flags are part of the cache key.

VERBOSITIES = ('none', 'brief', 'full')
KINDS = {
    'cpu': dict(
        sources=['masked_diff_cpu.cpp'],
        # cpp_extension.load adds no optimisation flags. No -march=native: the cache may be shared by CPUs.
        extra_cflags=['-O3', '-fopenmp'],
        extra_ldflags=['-fopenmp'],
        extra_cuda_cflags=[],
        headers=['masked_diff_cpu_kernels.h', 'masked_diff_shapes.h', 'masked_diff_args.h', 'grad_buffer_pool.h'],
        namespace='linkgan_cpu',
    ),
    'cuda': dict(
        sources=['masked_diff_cuda.cpp', 'masked_diff_kernel.cu'],
        extra_cflags=['-O3'],
        extra_ldflags=[],
        extra_cuda_cflags=['-O3', '-lineinfo'],
        headers=['masked_diff.h', 'masked_diff_shapes.h', 'masked_diff_args.h'],
        namespace='linkgan_cuda',
    ),
}

_loaded = {}        # kind -> op namespace (torch.ops.<namespace>) or None after a failure
_errors = {}        # kind -> message of the failure, for `linkgan doctor`
_build_times = {}   # kind -> seconds spent in load(), for `linkgan doctor`
_fakes_registered = set()

#----------------------------------------------------------------------------

def verbosity(value=None):
    """Returns the effective verbosity: `value`, else $LINKGAN_VERBOSITY, else 'brief'."""
    value = value if value is not None else os.environ.get('LINKGAN_VERBOSITY', 'brief')
    if value not in VERBOSITIES:
        raise ValueError(f'verbosity (or LINKGAN_VERBOSITY) must be one of {VERBOSITIES}, got {value!r}')
    return value


def source_dir():
    """The kernel sources: the installed package's copy first, then the source checkout's `cuda_ops/`."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # .../linkgan_plugin
    for candidate in (os.path.join(here, '_cuda_ops'), os.path.join(os.path.dirname(here), 'cuda_ops')):
        if os.path.isfile(os.path.join(candidate, KINDS['cpu']['sources'][0])):
            return candidate
    raise FileNotFoundError(f'masked_diff kernel sources not found in {here}/_cuda_ops or {os.path.dirname(here)}/cuda_ops')


def cache_root():
    return os.environ.get('LINKGAN_CACHE_DIR') or os.path.join(os.path.expanduser('~'), '.cache', 'linkgan_plugin')


def cuda_arch_key():
    """What torch compiles CUDA code for: ($TORCH_CUDA_ARCH_LIST or None, sorted compute capabilities of the
    visible GPUs, e.g. ((8, 0), (9, 0))); torch uses the capabilities when the list is unset."""
    capabilities = sorted({tuple(torch.cuda.get_device_capability(i)) for i in range(torch.cuda.device_count())})
    return os.environ.get('TORCH_CUDA_ARCH_LIST') or None, tuple(capabilities)


def build_key(kind, src_dir=None):
    """Hash of everything that changes the binary: sources, headers, flags, kind, torch/CUDA/Python, platform and,
    for 'cuda', `cuda_arch_key()`."""
    spec = KINDS[kind]
    src_dir = src_dir or source_dir()
    h = hashlib.sha256()
    for name in sorted([*spec['sources'], *spec['headers']]):
        h.update(name.encode())
        with open(os.path.join(src_dir, name), 'rb') as f:
            h.update(f.read())
    meta = [kind, list(spec['extra_cflags']), list(spec['extra_ldflags']), list(spec['extra_cuda_cflags']), torch.__version__,
            torch.version.cuda, sys.version_info[:2], platform.machine(), platform.system()]
    if kind == 'cuda':
        meta.append(cuda_arch_key())
    h.update(repr(meta).encode())
    return h.hexdigest()[:16]


def build_dir(kind, src_dir=None):
    return os.path.join(cache_root(), f'{torch.__version__}-{kind}-{build_key(kind, src_dir)}')


def extension_name(kind, src_dir=None):
    return f'linkgan_masked_diff_{kind}_{build_key(kind, src_dir)}'

#----------------------------------------------------------------------------
# Locking and publishing.

def _acquire(f, directory, timeout, announce):
    """Takes an exclusive flock on the open file f; True when held, False (after a warning) when `flock` is not
    supported here or another process kept it for more than `timeout` seconds."""
    deadline = time.monotonic() + timeout
    waited = False
    while True:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if not waited:
                announce(f'waiting for another process building in {directory}')
                waited = True
            if time.monotonic() > deadline:
                why = (f'another process held the build lock {directory}/build.flock for more than {timeout:.0f} s '
                       '(LINKGAN_BUILD_TIMEOUT)')
                break
            time.sleep(0.2)
        except OSError as e:
            why = f'file locks do not work in {directory} ({e})'
            break
    warnings.warn(f'masked_diff: {why}; building without the lock and publishing the binary by an atomic rename',
                  RuntimeWarning, stacklevel=5)
    return False


@contextlib.contextmanager
def _build_lock(directory, timeout, announce):
    """Holds an exclusive flock on `<directory>/build.flock` while inside; yields True when it holds it, False when
    `flock` is not supported here (it raised an OSError other than "busy") or another process held it for more
    than `timeout` seconds (both warn): the caller then builds privately and publishes by rename."""
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, 'build.flock'), 'a+') as f:
        locked = _acquire(f, directory, timeout, announce)
        try:
            yield locked
        finally:
            if locked:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)


PRIVATE_PREFIX = 'build-'


def private_build_dir(directory):
    """A fresh private directory for one build: `<directory>/build-<pid>-<host>-<random>`."""
    host = socket.gethostname().replace(os.sep, '_') or 'host'
    return tempfile.mkdtemp(prefix=f'{PRIVATE_PREFIX}{os.getpid()}-{host}-', dir=directory)


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True     # Exists (another user's, say).
    return True


def remove_dead_private_dirs(directory):
    """Removes the private build directories of processes of this host that are no longer alive (builds killed
    midway); never another host's, never a live process's. Returns the paths removed."""
    host = socket.gethostname().replace(os.sep, '_') or 'host'
    removed = []
    for entry in os.listdir(directory):
        pid, _, rest = entry[len(PRIVATE_PREFIX):].partition('-')
        if not entry.startswith(PRIVATE_PREFIX) or not pid.isdigit() or rest.rpartition('-')[0] != host:
            continue
        if not _pid_alive(int(pid)):
            shutil.rmtree(os.path.join(directory, entry), ignore_errors=True)
            removed.append(os.path.join(directory, entry))
    return removed


def _compile(kind, src_dir, directory, name, level):
    """Builds the `kind` extension `name` into `directory` with torch's JIT builder and loads it; returns the path
    of the binary."""
    from torch.utils import cpp_extension  # Imported here (lazy): it is slow to import and rarely needed.
    spec = KINDS[kind]
    path = cpp_extension.load(
        name=name, sources=[os.path.join(src_dir, s) for s in spec['sources']],
        # Copies: load() appends its own flags to the lists it is given.
        extra_cflags=list(spec['extra_cflags']), extra_ldflags=list(spec['extra_ldflags']),
        extra_cuda_cflags=list(spec['extra_cuda_cflags']) or None, extra_include_paths=[src_dir],
        build_directory=directory, verbose=(level == 'full'), is_python_module=False)
    # load() returns the library's path (it may add a version suffix to the name); older torch returned None.
    return path if isinstance(path, str) else os.path.join(directory, f'{name}.so')


def _load_or_build(kind, level, announce):
    """Loads the published binary of `kind`, building and publishing it first when there is none (module
    docstring, 3-4). Returns True when this process built it."""
    src_dir = source_dir()
    directory, name = build_dir(kind, src_dir), extension_name(kind, src_dir)
    published = os.path.join(directory, f'{name}.so')
    if os.path.isfile(published):
        torch.ops.load_library(published)
        return False
    timeout = float(os.environ.get('LINKGAN_BUILD_TIMEOUT', '900'))
    with _build_lock(directory, timeout, announce):
        if os.path.isfile(published):                   # Built by the process we waited for.
            torch.ops.load_library(published)
            return False
        remove_dead_private_dirs(directory)
        announce(f'building the masked_diff {kind} kernel in {directory} (first use; cached afterwards) ...')
        private = private_build_dir(directory)
        try:
            os.replace(_compile(kind, src_dir, private, name, level), published)
        finally:
            shutil.rmtree(private, ignore_errors=True)
    return True

#----------------------------------------------------------------------------

def load_extension(kind, verbosity_=None):
    """Builds or loads the `kind` kernel ('cpu' or 'cuda'); returns its torch.ops namespace, or None when that
    fails (the cause: `build_error(kind)`). Cached per process: after a failure every later call returns None at
    once."""
    if kind not in KINDS:
        raise ValueError(f'load_extension: kind must be one of {tuple(KINDS)}, got {kind!r}')
    if kind in _loaded:
        return _loaded[kind]
    level = verbosity(verbosity_)

    def announce(message):
        if level != 'none':
            print(f'linkgan: {message}', file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    try:
        if kind == 'cuda' and torch.version.cuda is None:
            raise RuntimeError(f'this torch ({torch.__version__}) was built without CUDA')
        built = _load_or_build(kind, level, announce)
        namespace = getattr(torch.ops, KINDS[kind]['namespace'])
        namespace.masked_diff_fwd  # Fails here, not at the first call, if registration went wrong.
        _register_fake_kernels(KINDS[kind]['namespace'])
        _build_times[kind] = time.perf_counter() - t0
        if built:
            announce(f'masked_diff {kind} kernel built in {_build_times[kind]:.1f} s')
    except Exception as e:  # Any failure: recorded; the caller decides (masked_diff: raise or fall back).
        _errors[kind] = f'{type(e).__name__}: {e}'
        _loaded[kind] = None
        return None
    _loaded[kind] = namespace
    return namespace


def _register_fake_kernels(namespace):
    """Shape-only versions of the ops, so torch.compile / FakeTensor tracing can pass through them."""
    if getattr(torch.library, 'register_fake', None) is None or namespace in _fakes_registered:
        return

    def links(x1, x2, mask_in, mask_out):
        return max(sum(t.shape[1] for t in x1), sum(t.shape[1] for t in x2), mask_in.shape[1],
                   1 if mask_out is None else mask_out.shape[1])

    def fwd(x, x1, x2, mask_in, mask_out):
        shape = (x.shape[0], links(x1, x2, mask_in, mask_out))
        return x.new_empty(shape, dtype=mask_in.dtype), x.new_empty(shape, dtype=mask_in.dtype)

    def bwd(grad_in, grad_out, x, x1, x2, mask_in, mask_out, need_x, need_x1, need_x2):
        return (x.new_empty(x.shape if need_x else (0,)), [t.new_empty(t.shape) for t in x1] if need_x1 else [],
                [t.new_empty(t.shape) for t in x2] if need_x2 else [])

    torch.library.register_fake(f'{namespace}::masked_diff_fwd', fwd)
    torch.library.register_fake(f'{namespace}::masked_diff_bwd', bwd)
    _fakes_registered.add(namespace)


def build_error(kind):
    """The recorded failure message for `kind`, or None."""
    return _errors.get(kind)


def build_time(kind):
    """Seconds the last successful `load_extension(kind)` took in this process (build or cache load), or None."""
    return _build_times.get(kind)

#----------------------------------------------------------------------------
