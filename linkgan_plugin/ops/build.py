"""Just-in-time build of the native masked-difference kernels (`cuda_ops/`) with ninja.

Nothing here runs at import. `load_extension(kind)` builds (or loads from the on-disk cache) one of:

    'cpu'   cuda_ops/masked_diff_cpu.cpp                               -> torch.ops.linkgan_cpu
    'cuda'  cuda_ops/masked_diff_cuda.cpp + masked_diff_kernel.cu     -> torch.ops.linkgan_cuda

and returns the op namespace, or None after one warning when the build fails (the caller then runs the
PyTorch reference). Properties:

1. Sources: `linkgan_plugin/_cuda_ops/` (what `pip install .` ships), else `<repo>/cuda_ops/` (source checkout).
2. Build directory: `$LINKGAN_CACHE_DIR` (default `~/.cache/linkgan_plugin`) / `<torch version>-<key>`, where the
   key hashes the sources, the flags, the kind, the platform and the CUDA version; the extension name carries
   the key too, so a changed source or flag never reuses a stale binary.
3. Locking: torch's own `lock` file is left behind when a build is killed midway, and the next `load()` then
   waits on it forever. Builds here hold an OS file lock (`flock`, released by the kernel when the holder
   dies) around torch's; holding it proves any torch `lock` is stale, which is removed with a warning. Waiting
   for another live builder gives up after `$LINKGAN_BUILD_TIMEOUT` seconds (default 900) with the warning
   and the reference path.
4. Verbosity: 'none' | 'brief' | 'full' (argument, else `$LINKGAN_VERBOSITY`, default 'brief'). 'brief'
   prints one line to stderr when a cold build starts and when it ends; 'full' shows the compiler output.
"""

import contextlib
import fcntl
import hashlib
import os
import platform
import sys
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
        headers=['masked_diff_cpu_kernels.h', 'masked_diff_shapes.h', 'grad_buffer_pool.h'],
        namespace='linkgan_cpu',
    ),
    'cuda': dict(
        sources=['masked_diff_cuda.cpp', 'masked_diff_kernel.cu'],
        extra_cflags=['-O3'],
        extra_ldflags=[],
        extra_cuda_cflags=['-O3', '-lineinfo'],
        headers=['masked_diff.h', 'masked_diff_shapes.h'],
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


def build_key(kind, src_dir=None):
    """Hash of everything that changes the binary: sources, headers, flags, kind, torch/CUDA/Python, platform."""
    spec = KINDS[kind]
    src_dir = src_dir or source_dir()
    h = hashlib.sha256()
    for name in sorted([*spec['sources'], *spec['headers']]):
        h.update(name.encode())
        with open(os.path.join(src_dir, name), 'rb') as f:
            h.update(f.read())
    meta = [kind, list(spec['extra_cflags']), list(spec['extra_ldflags']), list(spec['extra_cuda_cflags']), torch.__version__,
            torch.version.cuda, sys.version_info[:2], platform.machine(), platform.system()]
    h.update(repr(meta).encode())
    return h.hexdigest()[:16]


def build_dir(kind, src_dir=None):
    return os.path.join(cache_root(), f'{torch.__version__}-{kind}-{build_key(kind, src_dir)}')


def extension_name(kind, src_dir=None):
    return f'linkgan_masked_diff_{kind}_{build_key(kind, src_dir)}'

#----------------------------------------------------------------------------
# Locking.

@contextlib.contextmanager
def _build_lock(directory, timeout, announce):
    """Holds an exclusive flock on `<directory>/build.flock`; raises TimeoutError after `timeout` seconds."""
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, 'build.flock'), 'a+') as f:
        deadline = time.monotonic() + timeout
        waited = False
        while True:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not waited:
                    announce(f'waiting for another process building in {directory}')
                    waited = True
                if time.monotonic() > deadline:
                    raise TimeoutError(f'another process held the build lock {directory}/build.flock for more than {timeout:.0f} s '
                                       f'(set LINKGAN_BUILD_TIMEOUT to wait longer)') from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def remove_stale_torch_lock(directory):
    """With our flock held, a torch `lock` file can only be left over from a killed build: remove it, warn.

    Returns True when one was removed.
    """
    path = os.path.join(directory, 'lock')
    if not os.path.exists(path):
        return False
    warnings.warn(f'masked_diff: removing the stale build lock {path} (left by a build that was killed midway)', RuntimeWarning, stacklevel=3)
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)
    return True

#----------------------------------------------------------------------------

def load_extension(kind, verbosity_=None):
    """Builds or loads the `kind` kernel ('cpu' or 'cuda'); returns its torch.ops namespace or None.

    Cached per process: the first failure warns once and every later call returns None at once.
    """
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
        from torch.utils import cpp_extension  # Imported here: it is slow to import and rarely needed.
        spec = KINDS[kind]
        src_dir = source_dir()
        directory = build_dir(kind, src_dir)
        name = extension_name(kind, src_dir)
        cold = not os.path.exists(os.path.join(directory, f'{name}.so'))
        if cold:
            announce(f'building the masked_diff {kind} kernel in {directory} (first use; cached afterwards) ...')
        timeout = float(os.environ.get('LINKGAN_BUILD_TIMEOUT', '900'))
        with _build_lock(directory, timeout, announce):
            remove_stale_torch_lock(directory)
            cpp_extension.load(
                name=name, sources=[os.path.join(src_dir, s) for s in spec['sources']],
                # Copies: load() appends its own flags to the lists it is given.
                extra_cflags=list(spec['extra_cflags']), extra_ldflags=list(spec['extra_ldflags']),
                extra_cuda_cflags=list(spec['extra_cuda_cflags']) or None, extra_include_paths=[src_dir],
                build_directory=directory, verbose=(level == 'full'), is_python_module=False)
        namespace = getattr(torch.ops, spec['namespace'])
        namespace.masked_diff_fwd  # Fails here, not at the first call, if registration went wrong.
        _register_fake_kernels(spec['namespace'])
        _build_times[kind] = time.perf_counter() - t0
        if cold:
            announce(f'masked_diff {kind} kernel built in {_build_times[kind]:.1f} s')
    except Exception as e:  # Any failure: one warning, then the reference path for this process.
        _errors[kind] = f'{type(e).__name__}: {e}'
        _loaded[kind] = None
        warnings.warn(f'masked_diff: could not build the {kind} kernel, falling back to the PyTorch reference '
                      f'(slower, same results). Cause: {_errors[kind]}', RuntimeWarning, stacklevel=2)
        return None
    _loaded[kind] = namespace
    return namespace


def _register_fake_kernels(namespace):
    """Shape-only versions of the ops, so torch.compile / FakeTensor tracing can pass through them."""
    if getattr(torch.library, 'register_fake', None) is None or namespace in _fakes_registered:
        return

    def fwd(x, x1, x2, mask):
        links = max(x1.shape[1], x2.shape[1], mask.shape[1])
        return x.new_empty((x.shape[0], links), dtype=mask.dtype), x.new_empty((x.shape[0], links), dtype=mask.dtype)

    def bwd(grad_in, grad_out, x, x1, x2, mask, need_x, need_x1, need_x2):
        return tuple(t.new_empty(t.shape if need else (0,)) for t, need in ((x, need_x), (x1, need_x1), (x2, need_x2)))

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
