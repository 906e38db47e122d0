"""In-process shims that let an unmodified upstream `train.py` run on modern torch and on a CPU-only machine.

Used by `linkgan smoke` through `python -m linkgan_plugin.upstream.cpu_run`; nothing here edits upstream files
or runs at import. `install()` changes only the current process (and, for the file-based `pkg_resources` /
`distutils` stand-ins, the DataLoader workers it spawns, through `sys.path` and PYTHONPATH):

  1. Modern torch (GPU or not): `torch.utils.data.Sampler` gets back its no-op `__init__(data_source=None)`
     (upstream's InfiniteSampler calls `super().__init__(dataset)`), and Adam betas such as `[0,0.99]` are
     cast to float before `training_loop` builds its optimizers.
  2. Modern setuptools / Python: when `pkg_resources` (sg3) or `distutils.util` (all three, Python >= 3.12)
     cannot be imported, a tiny stand-in package is written to a temporary directory put on the path. It is
     file-based because spawned DataLoader workers re-import train.py's imports.
  3. CPU only (no CUDA device): inside `training.training_loop` only, `torch.device('cuda', rank)` becomes the
     CPU, `torch.cuda.Event` a wall-clock timer, `current_stream`/`max_memory_*`/`reset_peak_memory_stats`
     no-ops; `Tensor.pin_memory` is the identity and the DataLoader's `pin_memory` is turned off.
  4. Smoke sizes (only when asked, via `smoke=`): the run stops after `nimg` images with a tick every
     `tick_nimg` images (upstream's --kimg/--tick take whole kimg), the snapshot grid is cut to `grid`
     images so that saving it does not dominate a tiny CPU run, and `channel_base`/`channel_max` shrink the
     networks (sg2ada's train.py has no --cbase/--cmax; its 512-channel nets take ~1000 s/kimg on 2 cores).
"""

import functools
import importlib
import os
import sys
import tempfile
import time
import types

#----------------------------------------------------------------------------
# 1. Modern torch.

def fix_sampler_init():
    """Restores a no-op `Sampler.__init__(data_source=None)` when torch no longer defines one."""
    import torch.utils.data
    sampler = torch.utils.data.Sampler
    if '__init__' in vars(sampler):
        try:
            sampler.__init__(object.__new__(sampler), None)
            return False  # Accepts a data_source already.
        except TypeError:
            pass

    def __init__(self, data_source=None):  # pylint: disable=unused-argument
        pass
    sampler.__init__ = __init__
    return True


def float_betas(opt_kwargs):
    """A copy of optimizer kwargs with float betas (torch rejects [0, 0.99]: int and float mixed)."""
    if opt_kwargs is None or 'betas' not in opt_kwargs:
        return opt_kwargs
    out = type(opt_kwargs)(opt_kwargs)
    out['betas'] = [float(b) for b in opt_kwargs['betas']]
    return out

#----------------------------------------------------------------------------
# 2. File-based stand-ins for modules that modern setuptools / Python dropped.

_PKG_RESOURCES = '''"""Stand-in written by linkgan_plugin.upstream.cpu_compat: setuptools >= 82 no longer ships pkg_resources."""
from torch.torch_version import TorchVersion as parse_version
'''

_DISTUTILS = {
    '__init__.py': '"""Stand-in written by linkgan_plugin.upstream.cpu_compat (Python >= 3.12 has no distutils)."""\n',
    'util.py': '''"""Stand-in written by linkgan_plugin.upstream.cpu_compat: only what upstream dnnlib uses."""

def strtobool(val):
    val = val.lower()
    if val in ('y', 'yes', 't', 'true', 'on', '1'):
        return 1
    if val in ('n', 'no', 'f', 'false', 'off', '0'):
        return 0
    raise ValueError(f'invalid truth value {val!r}')
''',
}


def _importable(name):
    try:
        importlib.import_module(name)
        return True
    except ImportError:
        return False


def write_module_standins(root=None):
    """Writes stand-ins for missing `pkg_resources` / `distutils.util` into `root`; returns (root, names) or
    (None, []) when nothing is missing. The caller puts `root` on sys.path and PYTHONPATH."""
    files = {}
    if not _importable('pkg_resources'):
        files['pkg_resources/__init__.py'] = _PKG_RESOURCES
    if not _importable('distutils.util'):
        files.update({f'distutils/{k}': v for k, v in _DISTUTILS.items()})
    if not files:
        return None, []
    root = root or tempfile.mkdtemp(prefix='linkgan-standins-')
    for rel, text in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w', encoding='utf-8') as f:
            f.write(text)
    names = sorted({rel.split('/')[0] for rel in files})
    return root, names


def _prepend_path(root):
    sys.path.insert(1 if sys.path and sys.path[0] in ('', os.getcwd()) else 0, root)
    old = os.environ.get('PYTHONPATH', '')
    os.environ['PYTHONPATH'] = root + (os.pathsep + old if old else '')
    for name in ('pkg_resources', 'distutils'):
        if name in sys.modules and not getattr(sys.modules[name], '__file__', ''):
            del sys.modules[name]

#----------------------------------------------------------------------------
# 3. CPU stand-ins for the CUDA calls in training_loop.

class _WallClockEvent:
    """torch.cuda.Event look-alike: records wall-clock time (CPU work is synchronous)."""

    def __init__(self, enable_timing=False, **_kwargs):
        self.enable_timing = enable_timing
        self.t = None

    def record(self, stream=None):  # pylint: disable=unused-argument
        self.t = time.perf_counter()

    def synchronize(self):
        pass

    def query(self):
        return True

    def elapsed_time(self, end):
        if self.t is None or end.t is None:
            return 0.0
        return (end.t - self.t) * 1000.0


class _CpuCuda(types.SimpleNamespace):
    """What training_loop calls on torch.cuda, answered for a CPU run; anything else falls through."""

    Event = _WallClockEvent

    @staticmethod
    def current_stream(device=None):  # pylint: disable=unused-argument
        return None

    @staticmethod
    def max_memory_allocated(device=None):  # pylint: disable=unused-argument
        return 0

    @staticmethod
    def max_memory_reserved(device=None):  # pylint: disable=unused-argument
        return 0

    @staticmethod
    def reset_peak_memory_stats(device=None):  # pylint: disable=unused-argument
        pass

    def __getattr__(self, name):
        import torch
        return getattr(torch.cuda, name)


def _cpu_device(*args, **kwargs):
    import torch
    first = args[0] if args else kwargs.get('type')
    if isinstance(first, str) and first.split(':')[0] == 'cuda':
        return torch.device('cpu')
    if isinstance(first, torch.device) and first.type == 'cuda':
        return torch.device('cpu')
    return torch.device(*args, **kwargs)


class CpuTorch(types.ModuleType):
    """`torch` as seen by training_loop on a CPU-only machine: device('cuda', r) -> cpu, a CPU torch.cuda."""

    def __init__(self):
        super().__init__('torch')
        self.device = _cpu_device
        self.cuda = _CpuCuda()

    def __getattr__(self, name):
        import torch
        return getattr(torch, name)


def _identity_pin_memory(self, *args, **kwargs):  # pylint: disable=unused-argument
    return self

#----------------------------------------------------------------------------
# Patching training.training_loop.

def patch_training_loop(tl, cpu, smoke=None):
    """Wraps `tl.training_loop` (and on CPU swaps the module's `torch`); returns what was done."""
    done = []
    if getattr(tl.training_loop, '_linkgan_wrapped', False):
        return done
    original = tl.training_loop
    smoke = dict(smoke or {})

    @functools.wraps(original)
    def training_loop(**kwargs):
        for key in ('G_opt_kwargs', 'D_opt_kwargs'):
            if key in kwargs:
                kwargs[key] = float_betas(kwargs[key])
        if cpu and kwargs.get('data_loader_kwargs') is not None:
            dl = type(kwargs['data_loader_kwargs'])(kwargs['data_loader_kwargs'])
            dl['pin_memory'] = False
            kwargs['data_loader_kwargs'] = dl
        if smoke.get('channel_base') or smoke.get('channel_max'):  # sg2ada's train.py has no --cbase/--cmax.
            for key in ('G_kwargs', 'D_kwargs'):
                net = type(kwargs[key])(kwargs[key])
                target = net
                if key == 'G_kwargs' and 'synthesis_kwargs' in net:
                    target = net['synthesis_kwargs'] = type(net['synthesis_kwargs'])(net['synthesis_kwargs'])
                for name in ('channel_base', 'channel_max'):
                    if smoke.get(name):
                        target[name] = int(smoke[name])
                kwargs[key] = net
        if smoke.get('nimg'):
            kwargs['total_kimg'] = smoke['nimg'] / 1000
            kwargs['kimg_per_tick'] = (smoke.get('tick_nimg') or smoke['nimg']) / 1000
        return original(**kwargs)
    training_loop._linkgan_wrapped = True
    tl.training_loop = training_loop
    done.append('Adam betas as floats')

    if cpu:
        tl.torch = CpuTorch()
        done.append("training_loop: device('cuda') -> cpu, CUDA events/streams/memory stats -> CPU stand-ins, no pin_memory")

    grid = smoke.get('grid')
    if grid and hasattr(tl, 'setup_snapshot_image_grid'):
        gw, gh = int(grid[0]), int(grid[1])
        original_grid = tl.setup_snapshot_image_grid

        @functools.wraps(original_grid)
        def setup_snapshot_image_grid(*args, **kwargs):
            (w, h), images, labels = original_grid(*args, **kwargs)
            w = max(min(gw, len(images)), 1)
            h = max(min(gh, len(images) // w), 1)
            return (w, h), images[:w * h], labels[:w * h]
        tl.setup_snapshot_image_grid = setup_snapshot_image_grid
        done.append(f'snapshot grid {gw}x{gh}')
    return done


def install(cpu=None, smoke=None, verbose=True):
    """Installs every shim this process needs before upstream's train.py runs (see the module docstring).

    Call with upstream's code directory first on sys.path. `cpu=None` means: when torch sees no CUDA device.
    """
    import torch
    if cpu is None:
        cpu = not torch.cuda.is_available()
    done = []
    root, names = write_module_standins()
    if root is not None:
        _prepend_path(root)
        done.append('stand-ins for ' + ', '.join(names))
    if fix_sampler_init():
        done.append('Sampler.__init__(data_source)')
    if cpu:
        torch.Tensor.pin_memory = _identity_pin_memory
        if os.environ.get('LINKGAN_FLUSH_DENORMAL', '1') == '1' and torch.set_flush_denormal(True):
            done.append('flush denormals')  # Tiny weights/grads late in a run otherwise slow CPU math by 5-10x.
    tl = importlib.import_module('training.training_loop')
    done += patch_training_loop(tl, cpu=cpu, smoke=smoke)
    if verbose:
        print('linkgan cpu_compat: ' + '; '.join(done), flush=True)
    return done

#----------------------------------------------------------------------------
