"""`linkgan bench kernel`: the fused masked-difference kernel against eager and `torch.compile`, side by side.

For each case (shape x links x dtype) and each pass (forward; forward+backward), in one process and one run:
1. eager: `masked_diff_reference` as written (the ~20-pass PyTorch version);
2. compiled: `torch.compile(masked_diff_reference)`, steady state (its compile time is reported apart);
3. fused: `masked_diff(..., impl=<kernel>)`.
Forward runs under `torch.no_grad()`; forward+backward asks `torch.autograd.grad` for the gradients of x, x1 and
x2 of `L_in.sum() + L_out.sum()`. Images in the case's dtype, masks in the accumulation dtype (fp32; fp64 for
fp64), as the regularizer passes them, so no implementation pays a mask conversion.

Timing (`--device`):
    cpu   host clock around each call; the three round-robin (A B C A B C ...), at least `reps` rounds and more
          until 1 s has passed; median ms. (The method of the CPU figures in docs/kernel.md.)
    cuda  CUDA events. One repetition = an L2 flush (a write of twice the L2 size), then `inner` back-to-back calls
          between two events (ms per call = elapsed / inner); the three round-robin over `reps` repetitions, all
          enqueued before one synchronisation; median over repetitions. So launch overhead counts only where the
          GPU would wait for it, and no input is served from a warm L2.
Reported per row: median ms, eager / fused and compiled / fused, the fused kernel's effective bandwidth (the bytes
any implementation must move, divided by its time) and its share of the copy bandwidth measured the same way in
the same run (a device-side copy of a buffer larger than the L2). An implementation that runs out of memory is
reported as such and the row goes on. Ratios, never absolute times, are what to compare across machines;
nothing here asserts a speed.

Cases: the defaults (8x3x256x256 and 4x3x1024x1024, links 1 and 4, fp32: the rows docs/kernel.md quotes), or with
`--training` the training sizes (`training_cases`: batch 32 and 64 at 256x256 and 1024x1024, 1, 2, 4 and 8 links,
fp32 and fp16; torch.compile on two 4-link batch-32 cases only, as each compile takes tens of seconds).
`--max-seconds` stops starting cases after that budget (those left out are listed in the JSON); `--plan` prints
the rows without running anything (as CI does). The JSON records the provenance (doctor.provenance: card,
compute capability, driver, CUDA, torch, nvcc) and the path masked_diff took (it must be the kernel).
"""

import statistics
import time

import torch

from linkgan_plugin.checks import LinkganError, OptionError
from linkgan_plugin.ops import build, paths_run
from linkgan_plugin.ops.doctor import provenance
from linkgan_plugin.ops.masked_diff import masked_diff
from linkgan_plugin.ops.reference import accumulation_dtype, masked_diff_reference

DEFAULT_SHAPES = ((8, 3, 256, 256), (4, 3, 1024, 1024))
DEFAULT_LINKS = (1, 4)
DTYPES = {'fp32': torch.float32, 'fp16': torch.float16, 'bf16': torch.bfloat16, 'fp64': torch.float64}
PASSES = ('fwd', 'fwd+bwd')

#----------------------------------------------------------------------------
# Cases.

def default_cases(shapes=DEFAULT_SHAPES, links=DEFAULT_LINKS, dtypes=('fp32',), compile_=True):
    """[{'shape', 'links', 'dtype', 'compile'}] of every shape x links x dtype, in that order."""
    return [dict(shape=tuple(s), links=k, dtype=d, compile=compile_) for s in shapes for k in links for d in dtypes]


def training_cases(compile_=True):
    """The training sizes, most telling first (what --max-seconds keeps): the two batch-32, 4-link cases with
    torch.compile (fp32 at 256x256, fp16 at 1024x1024; each compile takes tens of seconds), then every other batch
    (32, 64) x size (256, 1024) x links (1, 2, 4, 8) x dtype (fp32, fp16) without."""
    first = [dict(shape=(32, 3, 256, 256), links=4, dtype='fp32', compile=compile_),
             dict(shape=(32, 3, 1024, 1024), links=4, dtype='fp16', compile=compile_)]
    rest = [dict(shape=(b, 3, r, r), links=k, dtype=d, compile=False) for b in (32, 64) for r in (256, 1024)
            for k in (1, 2, 4, 8) for d in ('fp32', 'fp16')]
    return first + [c for c in rest if {**c, 'compile': compile_} not in first]


def plan_rows(cases):
    """[{'shape', 'links', 'dtype', 'pass_', 'impls'}] a run of `cases` times, in order."""
    return [dict(shape=list(c['shape']), links=c['links'], dtype=c['dtype'], pass_=p,
                 impls=['fused', 'eager'] + (['compiled'] if c['compile'] else [])) for c in cases for p in PASSES]


def make_inputs(shape, links, device, dtype=torch.float32, seed=0):
    """x [B, C, H, W]; x1, x2 [B, links, C, H, W] (x plus noise) in `dtype`; mask [B, links, H, W] in [0, 1] in the
    accumulation dtype. Drawn on `device` (a training-size case is gigabytes)."""
    B, C, H, W = shape
    device = torch.device(device)
    g = torch.Generator(device=device).manual_seed(seed)
    x = torch.randn(B, C, H, W, generator=g, device=device)
    x1 = x.unsqueeze(1) + 0.1 * torch.randn(B, links, C, H, W, generator=g, device=device)
    x2 = x.unsqueeze(1) + 0.1 * torch.randn(B, links, C, H, W, generator=g, device=device)
    mask = torch.rand(B, links, H, W, generator=g, device=device, dtype=accumulation_dtype(dtype))
    return x.to(dtype), x1.to(dtype), x2.to(dtype), mask


def minimal_bytes(x, x1, x2, mask, backward):
    """What any implementation must move: read x, x1, x2, mask; backward also writes three gradients."""
    read = sum(t.numel() * t.element_size() for t in (x, x1, x2, mask))
    if not backward:
        return read
    return 2 * read + sum(t.numel() * t.element_size() for t in (x, x1, x2))  # fwd reads + bwd reads + writes

#----------------------------------------------------------------------------
# Timers.

def _sync(device):
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def _host_medians(runners, device, reps, min_seconds=1.0, max_reps=200):
    """Median ms of each runner on the host clock, round-robin (A B C A B C ...) so that all see the same machine
    load; at least `reps` rounds, more (up to `max_reps`) until `min_seconds` have passed."""
    times = {name: [] for name in runners}
    start, rounds = time.perf_counter(), 0
    while rounds < reps or (time.perf_counter() - start < min_seconds and rounds < max_reps):
        for name, fn in runners.items():
            t0 = time.perf_counter()
            fn()
            _sync(device)
            times[name].append((time.perf_counter() - t0) * 1e3)
        rounds += 1
    return {name: statistics.median(ts) for name, ts in times.items()}, rounds


def l2_flusher(device):
    """A callable that evicts the L2 of CUDA `device`: writes a buffer of twice its size (at least 64 MiB)."""
    props = torch.cuda.get_device_properties(device)
    buffer = torch.empty(max(2 * getattr(props, 'L2_cache_size', 0), 64 << 20) // 4, device=device)
    return lambda: buffer.fill_(0.0)


def _cuda_medians(runners, device, reps, inner=3):
    """Median ms per call of each runner with CUDA events: per repetition an L2 flush, then `inner` back-to-back
    calls between two events; round-robin over `reps` repetitions, one synchronisation at the end."""
    flush, pending = l2_flusher(device), []
    for _ in range(reps):
        for name, fn in runners.items():
            flush()
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(inner):
                fn()
            end.record()
            pending.append((name, start, end))
    torch.cuda.synchronize(device)
    times = {name: [] for name in runners}
    for name, start, end in pending:
        times[name].append(start.elapsed_time(end) / inner)
    return {name: statistics.median(ts) for name, ts in times.items()}, reps


def copy_bandwidth_gbs(device, nbytes=256 << 20, reps=7):
    """Measured copy bandwidth (bytes read + bytes written per second) of `dst.copy_(src)`, in GB/s, timed as the
    cases are on that device (for CUDA the buffer is at least four times the L2)."""
    device = torch.device(device)
    if device.type == 'cuda':
        l2 = getattr(torch.cuda.get_device_properties(device), 'L2_cache_size', 0)
        nbytes = max(nbytes, 4 * l2)
    src = torch.randn(nbytes // 4, device=device)
    dst = torch.empty_like(src)
    copy = {'copy': lambda: dst.copy_(src)}
    copy['copy']()
    ms = (_cuda_medians(copy, device, reps) if device.type == 'cuda' else _host_medians(copy, device, reps))[0]['copy']
    return 2 * nbytes / (ms * 1e-3) / 1e9

#----------------------------------------------------------------------------
# One case.

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


def _out_of_memory(error):
    return isinstance(error, torch.cuda.OutOfMemoryError) or 'out of memory' in str(error).lower()


def _runners(case, pass_, inputs, kernel, device):
    """{impl: callable} of a row that ran once each (warm-up; compiled: compiles), and {impl: compile s or 'oom'}."""
    make = _forward_backward if pass_ == 'fwd+bwd' else _forward
    fns = {'fused': lambda *a: masked_diff(*a, impl=kernel), 'eager': masked_diff_reference}
    if case['compile']:
        torch._dynamo.reset()  # Compile time per case, not amortised over earlier cases.
        fns['compiled'] = torch.compile(masked_diff_reference, dynamic=False)
    runners, notes = {}, {}
    for name, fn in fns.items():
        runner = make(fn, *inputs)
        t0 = time.perf_counter()
        try:
            runner()
            _sync(device)
        except RuntimeError as e:
            if not _out_of_memory(e):
                raise
            notes[name] = 'oom'
            torch.cuda.empty_cache()
            continue
        notes[name] = time.perf_counter() - t0
        runners[name] = runner
    return runners, notes


def row_of(case, pass_, medians, first_s, nbytes, copy_gbs, rounds):
    """The report row of one case and pass from the timings: medians {impl: ms} (an impl missing: it ran out of
    memory), first_s {impl: s of the first call, or 'oom'}, nbytes (minimal_bytes), copy_gbs of the run."""
    row = dict(shape=list(case['shape']), links=case['links'], dtype=case['dtype'], pass_=pass_, rounds=rounds,
               oom=sorted(name for name, s in first_s.items() if s == 'oom'))
    for name, ms in medians.items():
        row[f'{name}_ms'] = ms
    if 'compiled_ms' in row:
        row['compile_s'] = max(0.0, first_s['compiled'] - row['compiled_ms'] / 1e3)
    if 'fused_ms' in row:
        row['fused_gbs'] = nbytes / (row['fused_ms'] * 1e-3) / 1e9
        row['fused_of_copy'] = row['fused_gbs'] / copy_gbs
        for name in ('eager', 'compiled'):
            if f'{name}_ms' in row:
                row[f'{name}_over_fused'] = row[f'{name}_ms'] / row['fused_ms']
    return row


def _measure_case(case, kernel, device, reps, copy_gbs):
    inputs = make_inputs(case['shape'], case['links'], device, DTYPES[case['dtype']])
    rows = []
    for pass_ in PASSES:
        runners, first_s = _runners(case, pass_, inputs, kernel, device)
        timer = _cuda_medians if device.type == 'cuda' else _host_medians
        medians, rounds = timer(runners, device, reps) if runners else ({}, 0)
        rows.append(row_of(case, pass_, medians, first_s, minimal_bytes(*inputs, pass_ == 'fwd+bwd'), copy_gbs, rounds))
        del runners
    return rows

#----------------------------------------------------------------------------

def run_benchmark(device='cpu', cases=None, reps=7, max_seconds=None, log=print):
    """Runs `cases` (default_cases()) on `device`; returns the JSON report: provenance, copy_gbs, rows, the cases
    left out by `max_seconds`, and the masked_diff paths that ran (kernel or reference, why)."""
    device = torch.device(device)
    kernel = 'cuda' if device.type == 'cuda' else 'cpu'
    if build.load_extension(kernel) is None:
        raise LinkganError(f'the {kernel} kernel did not build: {build.build_error(kernel)}')
    cases = default_cases() if cases is None else cases
    report = dict(provenance(device), kernel=kernel, reps=reps, copy_gbs=copy_bandwidth_gbs(device), rows=[],
                  left_out=[], timing='cuda events, L2 flushed' if device.type == 'cuda' else 'host clock')
    log(f'{report["card"]} ({device}), torch {torch.__version__}, CUDA {report["cuda"]}, {report["threads"]} CPU threads; '
        f'{report["timing"]}; measured copy bandwidth {report["copy_gbs"]:.1f} GB/s')
    log(format_header())
    start, before = time.perf_counter(), paths_run()
    for case in cases:
        if max_seconds is not None and time.perf_counter() - start > max_seconds:
            report['left_out'].append({**case, 'shape': list(case['shape'])})
            continue
        for row in _measure_case(case, kernel, device, reps, report['copy_gbs']):
            report['rows'].append(row)
            log(format_row(row))
        if device.type == 'cuda':
            torch.cuda.empty_cache()
    report['paths'] = [dict(device=d, path=p, reason=r, calls=n) for (d, p, r), n in paths_run(since=before).items()]
    if report['left_out']:
        log(f'# {len(report["left_out"])} case(s) left out after --max-seconds {max_seconds}')
    return report


def format_header():
    return ('| shape | links | dtype | pass | eager ms | compiled ms (compile s) | fused ms | eager/fused | compiled/fused | '
            'fused GB/s (of copy) |\n|---|---|---|---|---|---|---|---|---|---|')


def format_row(r):
    shape = 'x'.join(str(s) for s in r['shape'])
    ms = lambda name: f"{r[name + '_ms']:.2f}" if name + '_ms' in r else ('OOM' if name in r['oom'] else '-')  # noqa: E731
    ratio = lambda name: f"{r[name + '_over_fused']:.2f}x" if name + '_over_fused' in r else '-'  # noqa: E731
    compiled = f"{ms('compiled')} ({r['compile_s']:.1f})" if 'compile_s' in r else ms('compiled')
    bandwidth = f"{r['fused_gbs']:.1f} ({100 * r['fused_of_copy']:.0f}%)" if 'fused_gbs' in r else '-'
    return (f"| {shape} | {r['links']} | {r['dtype']} | {r['pass_']} | {ms('eager')} | {compiled} | {ms('fused')} | "
            f"{ratio('eager')} | {ratio('compiled')} | {bandwidth} |")

#----------------------------------------------------------------------------

def parse_shapes(shapes):
    parsed = []
    for text in shapes:
        try:
            dims = tuple(int(v) for v in text.lower().split('x'))
        except ValueError:
            dims = ()
        if len(dims) != 4 or min(dims) < 1:
            raise OptionError('--shape', f'expected BxCxHxW with positive integers, got {text!r}')
        parsed.append(dims)
    return parsed


#----------------------------------------------------------------------------
