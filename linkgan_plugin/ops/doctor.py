"""`linkgan doctor`: what the masked-difference kernel will run on here, and why.

Reports, in order: 1. versions (Python, torch, CUDA, nvcc, ninja, the C++ compiler); 2. where the kernel
sources and the build cache are; 3. for each device present, which path `masked_diff(impl='auto')` takes and
why; 4. unless --no-build, builds (or loads from the cache) each kernel it would use, with the time taken and a
check against the reference. Always exits 0: it is a report, not a test.
"""

import os
import shutil
import subprocess
import sys
import time

import click
import torch

from linkgan_plugin.ops import build
from linkgan_plugin.ops.masked_diff import masked_diff, select_impl
from linkgan_plugin.ops.reference import masked_diff_reference

#----------------------------------------------------------------------------

def _tool_version(command, pick='first'):
    """First (or last) non-empty line of `command --version`, or a note when it is missing or fails."""
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
    return f"{lines[0] if pick == 'first' else lines[-1]}  ({exe})"


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
        ('nvcc', _tool_version(['nvcc', '--version'], pick='last')),
        ('ninja', _tool_version(['ninja', '--version'])),
        ('C++ compiler', _tool_version([os.environ.get('CXX', 'c++'), '--version'])),
    ]


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

@click.command('doctor')
@click.option('--no-build', is_flag=True, help='Report only; do not build or load the kernels.')
@click.option('--verbosity', type=click.Choice(build.VERBOSITIES), default=None,
              help='Build output (default: $LINKGAN_VERBOSITY, else brief).')
def doctor_command(no_build, verbosity):
    """Versions, the kernel path masked_diff would take and why; builds the kernel and times it."""
    echo = click.echo
    echo('linkgan doctor: masked-difference kernel')
    echo('\nVersions')
    for name, value in collect_versions():
        echo(f'  {name:<13} {value}')

    echo('\nFiles')
    try:
        src = build.source_dir()
        echo(f'  sources       {src}')
    except FileNotFoundError as e:
        src = None
        echo(f'  sources       MISSING: {e}')
    echo(f'  cache root    {build.cache_root()}  (set LINKGAN_CACHE_DIR to move it)')
    env = {k: os.environ[k] for k in ('LINKGAN_KERNEL', 'LINKGAN_VERBOSITY', 'LINKGAN_CACHE_DIR', 'LINKGAN_BUILD_TIMEOUT', 'LINKGAN_CPU_GRAD_POOL') if k in os.environ}
    echo(f'  environment   {env or "no LINKGAN_* settings"}')

    echo('\nKernel path for masked_diff(impl="auto")')
    devices = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])
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

    if no_build or src is None:
        echo('\nBuild: skipped' + (' (--no-build)' if no_build else ' (no sources)'))
        return
    echo('\nBuild')
    for device in devices:
        if plan[device] not in ('cpu', 'cuda'):
            echo(f'  {device:<5} nothing to build (path is {plan[device]})')
            continue
        kind = plan[device]
        echo(f'  {kind:<5} build dir {build.build_dir(kind)}')
        t0 = time.perf_counter()
        ops = build.load_extension(kind, verbosity)
        seconds = time.perf_counter() - t0
        if ops is None:
            echo(f'  {kind:<5} FAILED after {seconds:.1f} s; masked_diff falls back to the reference. Cause: {build.build_error(kind)}')
            continue
        echo(f'  {kind:<5} ready in {seconds:.1f} s (a cold build takes seconds to a minute; a cached load ~0.1 s)')
        echo(f'  {kind:<5} self-check vs reference: max relative difference {self_check(device):.1e}')

#----------------------------------------------------------------------------
