"""`linkgan doctor`: what the masked-difference kernel will run on here, and why.

Reports, in order: 1. versions (Python, torch, CUDA, nvcc, ninja, the C++ compiler); 2. where the kernel
sources and the build cache are (and, with a GPU, the arch list and compute capabilities in the CUDA cache key);
3. for each device present, which path `masked_diff(impl='auto')` takes and why; 4. unless --no-build, builds (or
loads from the cache) each kernel it would use, with the time taken and a check against the reference. Exits 0
(it is a report, not a test) unless --strict and a kernel it would use failed to build or to match.
`provenance(device)` is what benchmarks record beside their figures.
"""

import os
import platform
import shutil
import subprocess
import sys
import time

import torch

from linkgan_plugin.ops import build
from linkgan_plugin.ops.masked_diff import masked_diff, select_impl
from linkgan_plugin.ops.reference import masked_diff_reference

#----------------------------------------------------------------------------

def _tool_version(command, pick='first'):
    """The first non-empty line of `command --version` (pick='first'), the last one ('last'), or the first that
    says 'release' (nvcc's: 'Cuda compilation tools, release 13.0, V13.0.88'; else the last); a note when the tool
    is missing or fails."""
    exe = shutil.which(command[0])
    if exe is None:
        return 'not found'
    try:
        out = subprocess.run([exe, *command[1:]], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as e:
        return f'{exe}: failed ({type(e).__name__})'
    lines = [line.strip() for line in (out.stdout + out.stderr).splitlines() if line.strip()]
    if not lines:
        return f'{exe}: no output'
    release = [line for line in lines if 'release' in line]
    line = lines[0] if pick == 'first' else release[0] if pick == 'release' and release else lines[-1]
    return f'{line}  ({exe})'


def collect_versions():
    cuda = torch.version.cuda or 'none (CPU build)'
    gpu = 'none'
    if torch.cuda.is_available():
        gpu = ', '.join(f'{torch.cuda.get_device_name(i)} (sm_{"".join(map(str, torch.cuda.get_device_capability(i)))})'
                        for i in range(torch.cuda.device_count()))
    return [
        ('python', sys.version.split()[0]),
        ('torch', f'{torch.__version__} ({torch.get_num_threads()} CPU threads)'),
        ('torch CUDA', cuda),
        ('GPUs', gpu),
        ('nvcc', _tool_version(['nvcc', '--version'], pick='release')),
        ('ninja', _tool_version(['ninja', '--version'])),
        ('C++ compiler', _tool_version([os.environ.get('CXX', 'c++'), '--version'])),
    ]


def gpu_driver():
    """The NVIDIA driver version (`nvidia-smi`), else torch's CUDA driver API version, else 'unknown'."""
    smi = shutil.which('nvidia-smi')
    if smi:
        try:
            out = subprocess.run([smi, '--query-gpu=driver_version', '--format=csv,noheader'], capture_output=True,
                                 text=True, timeout=30)
            if out.returncode == 0 and out.stdout.strip():
                return out.stdout.strip().splitlines()[0]
        except (OSError, subprocess.SubprocessError):
            pass
    api = getattr(torch._C, '_cuda_getDriverVersion', None)
    return f'CUDA driver API {api() // 1000}.{api() % 1000 // 10}' if api and torch.cuda.is_available() else 'unknown'


def _cpu_name():
    try:
        with open('/proc/cpuinfo') as f:
            names = [line.split(':', 1)[1].strip() for line in f if line.startswith('model name')]
        return names[0] if names else platform.processor() or platform.machine()
    except OSError:
        return platform.processor() or platform.machine()


def provenance(device):
    """What produced a figure on `device` ('cpu', 'cuda', 'cuda:N'): a dict of the card (name, compute capability,
    SMs, L2 MiB, memory GiB) or the CPU (name, torch threads), driver, torch's CUDA, torch, nvcc, Python."""
    device = torch.device(device)
    out = dict(device=str(device), torch=torch.__version__, cuda=torch.version.cuda, python=sys.version.split()[0],
               nvcc=_tool_version(['nvcc', '--version'], pick='release'), threads=torch.get_num_threads(), cpu=_cpu_name())
    if device.type == 'cuda':
        props = torch.cuda.get_device_properties(device)
        out.update(card=props.name, capability=f'{props.major}.{props.minor}', sms=props.multi_processor_count,
                   l2_mb=getattr(props, 'L2_cache_size', 0) / 2**20, memory_gb=props.total_memory / 2**30,
                   driver=gpu_driver())
    else:
        out.update(card=out['cpu'], driver=None)
    return out


def self_check(device):
    """Max relative difference between the kernel and the reference on a small odd-sized problem."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 37, 41, generator=g)
    x1 = torch.randn(2, 2, 3, 37, 41, generator=g)
    x2 = torch.randn(2, 2, 3, 37, 41, generator=g)
    mask = torch.rand(1, 2, 37, 41, generator=g)
    ref = masked_diff_reference(x, x1, x2, mask)
    got = masked_diff(*(t.to(device) for t in (x, x1, x2, mask)), impl=device)
    return max(((a.cpu() - b).abs() / b.abs().clamp_min(1e-6)).max().item() for a, b in zip(got, ref))

#----------------------------------------------------------------------------

def report_files(echo):
    """Sources, cache root, CUDA arch key and LINKGAN_* settings; returns the source directory (None: missing)."""
    echo('\nFiles')
    try:
        src = build.source_dir()
        echo(f'  sources       {src}')
    except FileNotFoundError as e:
        src = None
        echo(f'  sources       MISSING: {e}')
    echo(f'  cache root    {build.cache_root()}  (set LINKGAN_CACHE_DIR to move it)')
    if torch.cuda.is_available():
        arch_list, capabilities = build.cuda_arch_key()
        echo(f'  CUDA archs    {arch_list or "TORCH_CUDA_ARCH_LIST unset"}; visible GPUs '
             f'{", ".join(".".join(map(str, c)) for c in capabilities)} (both in the cuda cache key)')
    env = {k: os.environ[k] for k in ('LINKGAN_KERNEL', 'LINKGAN_VERBOSITY', 'LINKGAN_CACHE_DIR', 'LINKGAN_BUILD_TIMEOUT',
                                      'LINKGAN_CPU_GRAD_POOL', 'TORCH_CUDA_ARCH_LIST') if k in os.environ}
    echo(f'  environment   {env or "no LINKGAN_* settings"}')
    return src


def report_paths(echo, devices):
    """{device: path masked_diff(impl='auto') takes}, each printed with its reason."""
    echo('\nKernel path for masked_diff(impl="auto")')
    plan = {}
    for device in devices:
        x = torch.empty(1, 1, 1, 1, device=device)
        try:
            path, reason = select_impl(x, x)
        except ValueError as e:
            path, reason = 'error', str(e)
        plan[device] = path
        echo(f'  {device:<5} tensors -> {path:<4}  ({reason})')
    if not torch.cuda.is_available():
        why = 'this torch has no CUDA' if torch.version.cuda is None else 'no GPU visible'
        echo(f'  cuda  tensors -> n/a   ({why}; the CUDA source can still be compile-checked with nvcc)')
    return plan


def build_and_check(echo, plan, verbosity):
    """Builds (or loads) each kernel of `plan` and checks it against the reference; returns the kinds that failed."""
    echo('\nBuild')
    failed = []
    for device, kind in plan.items():
        if kind not in ('cpu', 'cuda'):
            echo(f'  {device:<5} nothing to build (path is {kind})')
            continue
        echo(f'  {kind:<5} build dir {build.build_dir(kind)}')
        t0 = time.perf_counter()
        ops = build.load_extension(kind, verbosity)
        seconds = time.perf_counter() - t0
        if ops is None:
            echo(f'  {kind:<5} FAILED after {seconds:.1f} s: impl=\'auto\' falls back to the reference (one warning), '
                 f'impl=\'{kind}\' / LINKGAN_KERNEL={kind} raise. Cause: {build.build_error(kind)}')
            failed.append(kind)
            continue
        echo(f'  {kind:<5} ready in {seconds:.1f} s (a cold build takes seconds to a minute; a cached load ~0.1 s)')
        rel = self_check(device)
        echo(f'  {kind:<5} self-check vs reference: max relative difference {rel:.1e}')
        if not rel < 1e-4:
            failed.append(kind)
    return failed


#----------------------------------------------------------------------------
