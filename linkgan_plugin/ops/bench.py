"""`linkgan bench kernel`: the fused masked-difference kernel against eager and `torch.compile`, side by side.

For each case (shape x links) and each pass (forward; forward+backward), in one process and one run:
1. eager: `masked_diff_reference` as written (the ~20-pass PyTorch version);
2. compiled: `torch.compile(masked_diff_reference)`, steady state (its compile time is reported apart);
3. fused: `masked_diff(..., impl=<kernel>)`.
The three are timed round-robin, so that a change in machine load hits all of them alike. Reported: median
milliseconds, ratios of eager and compiled time to the fused time, and the fused kernel's
effective bandwidth (the bytes it must move at least, divided by its time) beside the machine's copy
bandwidth measured in the same run. Forward runs under `torch.no_grad()`; forward+backward asks
`torch.autograd.grad` for the gradients of x, x1 and x2 of `L_in.sum() + L_out.sum()`.

The compile time is the first compiled call minus the steady state; torch keeps compiled graphs in an on-disk
cache, so it shrinks once a shape has been compiled by any earlier process.
Ratios, never absolute times, are what to compare across machines; nothing here asserts a speed.
"""

import json
import statistics
import time

import click
import torch

from linkgan_plugin.ops import build
from linkgan_plugin.ops.masked_diff import masked_diff
from linkgan_plugin.ops.reference import masked_diff_reference

DEFAULT_SHAPES = ((8, 3, 256, 256), (4, 3, 1024, 1024))
DEFAULT_LINKS = (1, 4)

#----------------------------------------------------------------------------

def _sync(device):
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def _median_ms(fn, device, reps, warmup=1):
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def copy_bandwidth_gbs(device, nbytes=256 << 20, reps=7):
    """Measured copy bandwidth (bytes read + bytes written per second) of `dst.copy_(src)`, in GB/s."""
    src = torch.randn(nbytes // 4, device=device)
    dst = torch.empty_like(src)
    ms = _median_ms(lambda: dst.copy_(src), device, reps, warmup=2)
    return 2 * nbytes / (ms * 1e-3) / 1e9


def make_inputs(shape, links, device, dtype=torch.float32, seed=0):
    """x [B, C, H, W]; x1, x2 [B, links, C, H, W]; mask [B, links, H, W] (per-sample soft masks)."""
    B, C, H, W = shape
    g = torch.Generator(device='cpu').manual_seed(seed)
    x = torch.randn(B, C, H, W, generator=g, dtype=dtype).to(device)
    x1 = (x.cpu().unsqueeze(1) + 0.1 * torch.randn(B, links, C, H, W, generator=g, dtype=dtype)).to(device)
    x2 = (x.cpu().unsqueeze(1) + 0.1 * torch.randn(B, links, C, H, W, generator=g, dtype=dtype)).to(device)
    mask = torch.rand(B, links, H, W, generator=g, dtype=dtype).to(device)
    return x, x1, x2, mask


def minimal_bytes(x, x1, x2, mask, backward):
    """What any implementation must move: read x, x1, x2, mask; backward also writes three gradients."""
    read = sum(t.numel() * t.element_size() for t in (x, x1, x2, mask))
    if not backward:
        return read
    return 2 * read + sum(t.numel() * t.element_size() for t in (x, x1, x2))  # fwd reads + bwd reads + writes


def _forward(fn, x, x1, x2, mask):
    def run():
        with torch.no_grad():
            return fn(x, x1, x2, mask)
    return run


def _forward_backward(fn, x, x1, x2, mask):
    xs = [t.detach().requires_grad_(True) for t in (x, x1, x2)]

    def run():
        l_in, l_out = fn(*xs, mask)
        return torch.autograd.grad(l_in.sum() + l_out.sum(), xs)
    return run


def _interleaved_medians(runners, device, reps, min_seconds=1.0, max_reps=200):
    """Median ms of each runner, timed round-robin (A B C A B C ...) so that all see the same machine load.

    At least `reps` rounds, and more (up to `max_reps`) until `min_seconds` have passed: fast cases get many
    samples, so that a few rounds stalled by other processes on a shared machine do not move the median.
    """
    times = {name: [] for name in runners}
    start = time.perf_counter()
    rounds = 0
    while rounds < reps or (time.perf_counter() - start < min_seconds and rounds < max_reps):
        for name, fn in runners.items():
            t0 = time.perf_counter()
            fn()
            _sync(device)
            times[name].append((time.perf_counter() - t0) * 1e3)
        rounds += 1
    return {name: statistics.median(ts) for name, ts in times.items()}, rounds


def run_benchmark(device='cpu', shapes=DEFAULT_SHAPES, links=DEFAULT_LINKS, reps=7, compile_=True, log=print):
    """Runs every case; returns a dict (the JSON report)."""
    device = torch.device(device)
    kernel = 'cuda' if device.type == 'cuda' else 'cpu'
    if build.load_extension(kernel) is None:
        raise click.ClickException(f'the {kernel} kernel did not build: {build.build_error(kernel)}')
    report = dict(device=str(device), torch=torch.__version__, threads=torch.get_num_threads(), kernel=kernel, reps=reps,
                  copy_gbs=copy_bandwidth_gbs(device), rows=[])
    log(f'device {device}, torch {torch.__version__}, {report["threads"]} threads; measured copy bandwidth {report["copy_gbs"]:.1f} GB/s')
    log(format_header())
    fused = lambda *a: masked_diff(*a, impl=kernel)  # noqa: E731
    for shape in shapes:
        for n_links in links:
            inputs = make_inputs(shape, n_links, device)
            for backward in (False, True):
                make = _forward_backward if backward else _forward
                row = dict(shape=list(shape), links=n_links, pass_='fwd+bwd' if backward else 'fwd')
                runners = dict(fused=make(fused, *inputs), eager=make(masked_diff_reference, *inputs))
                if compile_:
                    torch._dynamo.reset()  # Compile time per case, not amortised over earlier cases.
                    runners['compiled'] = make(torch.compile(masked_diff_reference, dynamic=False), *inputs)
                    t0 = time.perf_counter()
                    runners['compiled']()  # Compiles.
                    _sync(device)
                    first_ms = (time.perf_counter() - t0) * 1e3
                for fn in runners.values():  # Warm-up: caches, allocator, first-call work.
                    fn()
                _sync(device)
                medians, row['rounds'] = _interleaved_medians(runners, device, reps)
                row['fused_ms'], row['eager_ms'] = medians['fused'], medians['eager']
                if compile_:
                    row['compiled_ms'] = medians['compiled']
                    row['compile_s'] = max(0.0, first_ms - row['compiled_ms']) / 1e3
                row['fused_gbs'] = minimal_bytes(*inputs, backward) / (row['fused_ms'] * 1e-3) / 1e9
                row['fused_of_copy'] = row['fused_gbs'] / report['copy_gbs']
                row['eager_over_fused'] = row['eager_ms'] / row['fused_ms']
                if compile_:
                    row['compiled_over_fused'] = row['compiled_ms'] / row['fused_ms']
                report['rows'].append(row)
                log(format_row(row))
                del runners
            del inputs
    return report


def format_header():
    return ('| shape | links | pass | eager ms | compiled ms (compile s) | fused ms | eager/fused | compiled/fused | fused GB/s (of copy) |\n'
            '|---|---|---|---|---|---|---|---|---|')


def format_row(r):
    shape = 'x'.join(str(s) for s in r['shape'])
    compiled = f"{r['compiled_ms']:.2f} ({r['compile_s']:.1f})" if 'compiled_ms' in r else '-'
    ratio_c = f"{r['compiled_over_fused']:.2f}x" if 'compiled_over_fused' in r else '-'
    return (f"| {shape} | {r['links']} | {r['pass_']} | {r['eager_ms']:.2f} | {compiled} | {r['fused_ms']:.2f} | "
            f"{r['eager_over_fused']:.2f}x | {ratio_c} | {r['fused_gbs']:.1f} ({100 * r['fused_of_copy']:.0f}%) |")

#----------------------------------------------------------------------------

@click.command('kernel')
@click.option('--device', default=None, help="'cpu' or 'cuda' (default: cuda when available, else cpu).")
@click.option('--reps', type=click.IntRange(1, 1000), default=7, show_default=True, help='Minimum timed rounds per case (median; fast cases run more, for at least 1 s).')
@click.option('--no-compile', is_flag=True, help='Skip the torch.compile column (saves its compile time).')
@click.option('--quick', is_flag=True, help='Only the smaller shape (8x3x256x256).')
@click.option('--shape', 'shapes', multiple=True, metavar='BxCxHxW', help='Image shape (repeatable; replaces the defaults).')
@click.option('--links', 'links', type=click.IntRange(1, 64), multiple=True, help='Links per case (repeatable; default 1 and 4).')
@click.option('--threads', type=click.IntRange(1, 1024), default=None, help='CPU threads for all three (default: torch.get_num_threads()).')
@click.option('--json', 'json_path', type=click.Path(dir_okay=False, writable=True), default=None, help='Also write the report as JSON.')
def bench_kernel_command(device, reps, no_compile, quick, shapes, links, threads, json_path):
    """Fused masked-difference kernel vs eager and torch.compile, forward and forward+backward."""
    parsed = []
    for text in shapes:
        try:
            dims = tuple(int(v) for v in text.lower().split('x'))
        except ValueError:
            dims = ()
        if len(dims) != 4 or min(dims) < 1:
            raise click.BadParameter(f'expected BxCxHxW with positive integers, got {text!r}', param_hint='--shape')
        parsed.append(dims)
    if quick and parsed:
        raise click.UsageError('--quick and --shape are mutually exclusive')
    if device is None:
        device = 'cuda' if torch.cuda.is_available() else 'cpu'
    if device.startswith('cuda') and not torch.cuda.is_available():
        raise click.BadParameter('CUDA is not available in this torch', param_hint='--device')
    if threads is not None:
        torch.set_num_threads(threads)  # This benchmark process only.
    shapes = tuple(parsed) or (DEFAULT_SHAPES[:1] if quick else DEFAULT_SHAPES)
    report = run_benchmark(device, shapes=shapes, links=tuple(links) or DEFAULT_LINKS, reps=reps, compile_=not no_compile,
                           log=lambda line: click.echo(line if line.startswith('|') else f'# {line}'))
    if json_path:
        with open(json_path, 'w', encoding='utf-8') as f:
            json.dump(report, f, indent=2)
        click.echo(f'# wrote {json_path}')

#----------------------------------------------------------------------------
