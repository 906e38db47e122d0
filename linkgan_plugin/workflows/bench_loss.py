"""The training overhead of LinkLoss, measured side by side in one run (`linkgan bench loss`: cli/bench_loss.py).

Two ToyTrainers of the toy sg2ada flavour start from the same networks (the demo's sizes): one with the base loss
(ToySG2ADALoss), one with LinkLoss(base=ToySG2ADALoss) and the demo's two links at the library's DEFAULTS
(interval 8, half the batch in the link pass, perturbed fakes fed to D). They run in alternating blocks of
`interval` iterations, so every LinkLoss block holds exactly one link iteration and both see the same machine
load; the ratio is median(LinkLoss block) / median(base block), in wall time and in process CPU time (with one
thread, CPU time is not disturbed by other processes on a busy machine). The timed blocks run without a profiler.

Where the extra time goes comes from the link iterations of separate LinkLoss blocks, each run under
torch.profiler (CPU activity), read from
the ranges the library labels with `torch.profiler.record_function` (as upstream's loss labels its phases):
    linkgan:link pass    the whole link pass, G side; it contains the four below and its own rest (mapping,
                         offsets, penalty sums, reports);
    linkgan:renders      forward synthesis of the link pass: 1 + 2K images per sample (the paper's formula);
    linkgan:masks+diff   region masks and the masked-difference op (forward);
    linkgan:D on fakes   in the link pass: picking the perturbed fakes and D's forward on them (G's adversarial
                         term); on its own, in the D pass: the whole extra D fake term (forward and backward);
    linkgan:backward     backward of the link pass's total (through the renders and D).
Nested ranges are resolved by label path, so no microsecond is counted twice (see `phase_times`). Profiler times
are the ranges' wall durations on the CPU thread, per link iteration.
Then the same ratio for 1, 2 and 4 links: the cost must grow like the renders, 1 + 2K per sample, and no faster.

Then the two link passes (LinkLoss `link_pass`: 'batched', all 1 + 2K renders alive at once, and 'per_link', one link
at a time) for 1, 2, 4 and 8 links (`--pass-links`, `measure_passes`): three trainers from the same networks, the base
loss and LinkLoss in each pass with every iteration a link iteration, step in lockstep on the same batches, in
alternating order; the table gives the peak memory of one step of each (the base step: the base loss alone) and the
median time of a link step in each pass, per_link / batched (wall and process CPU time). Peak memory is measured by
`peak_memory`: on the CPU, torch.profiler's allocation events (profile_memory=True: every allocation and free by
torch's allocator, with its time), summed in time order, the peak above what was allocated when the step began
(deterministic: tracemalloc does not see torch's allocator, and the process's max RSS mixes in the allocator's
caching and everything else); on a GPU, torch.cuda.max_memory_allocated. Steps are measured after warm-up steps,
so Adam's state and the gradient buffers already exist.

Then the call site of the masked-difference op (`measure_call_site`, `--call-site`): `regularizer.masked_terms` (the
renders passed as they are, one op call per output) against the call site before it (`legacy_masked_terms`: the
renders copied into [B, K, C, H, W] by torch.stack, a second full call when L_out's mask differs, each call's
unused output given a zero gradient), side by side in one run: the forward and backward of the link term's masked
differences on renders of the link pass's size (leaves that require grad), 1, 2 and 4 links, with one mask and with
a separate L_out mask (semantic 'union' / 'mean' links); median time of alternating steps and peak memory.
The last line says which masked_diff implementation ran (`masked_diff ran on: ...`; 'ref' is the PyTorch reference).

torch.profiler's own log lines (kineto prints `USDT: ... profiler_start` / `profiler_stop` on the C-level stderr
when a profiler starts and stops; KINETO_LOG_LEVEL only counts when set before the first profiler of the process)
are kept out of the output: `quiet_profile` sends file descriptor 2 to /dev/null around start and stop only.
"""

import contextlib
import copy
import os
import statistics
import sys
import time

import torch
from torch.profiler import ProfilerActivity, profile

from linkgan_plugin import regularizer
from linkgan_plugin.checks import OptionError
from linkgan_plugin.demo import settings as demo
from linkgan_plugin.demo.scenes import scene_stream
from linkgan_plugin.ops import masked_diff
from linkgan_plugin.spec import load_spec
from linkgan_plugin.toy.loop import build_loss, ToyTrainer

#----------------------------------------------------------------------------
# Reading the profiler's labelled ranges.

PREFIX = 'linkgan:'
LINK_PASS = ('linkgan:link pass',)
RENDERS = LINK_PASS + ('linkgan:renders',)
D_PASS_FAKES = ('linkgan:D on fakes',)

# Label path -> what the row means (a path not listed here is shown by its labels, so a new label is never lost).
DESCRIPTIONS = {
    LINK_PASS:                                  'link pass, G side (whole)',
    RENDERS:                                    'synthesis renders, forward (1+2K per sample)',
    LINK_PASS + ('linkgan:masks+diff',):        'region masks + masked diff, forward',
    LINK_PASS + ('linkgan:D on fakes',):        'pick perturbed fakes + D forward (G adv. term)',
    LINK_PASS + ('linkgan:backward',):          'backward of the link pass total (renders, D)',
    D_PASS_FAKES:                               'extra D fake term in the D pass (fwd + bwd)',
}
REST = {LINK_PASS: 'rest: mapping, offsets, penalty sums, reports'}


def phase_times(prof, prefix=PREFIX):
    """Seconds spent in the profiler's labelled ranges, keyed by label path, nesting resolved.

    Args:
        prof:   a finished torch.profiler.profile (CPU activity).
        prefix: labels to read (ranges whose name starts with it); other events are ignored.
    Returns:
        {path: {'count': ranges, 'total': s, 'own': s}} in order of first occurrence. `path` is the tuple of
        labels from the outermost labelled range down to this one, so the same label in two places (D on fakes
        inside the link pass and alone in the D pass) gives two rows. `total` is the summed wall duration of the
        ranges (the profiler's cpu_time_total: time on the CPU thread, children included); `own` is `total` minus
        the totals of the labelled ranges nested directly inside (unlabelled ops stay in `own`). Summing `own`
        over all paths counts every labelled microsecond once; summing `total` over the paths of one label gives
        key_averages()'s cpu_time_total for that label.
    """
    labelled = [e for e in prof.events() if e.name.startswith(prefix)]
    labelled.sort(key=lambda e: (e.time_range.start, -e.time_range.end))     # Parents before their children.
    out = {}
    for event in labelled:
        path, parent, nearest = (event.name,), event.cpu_parent, None
        while parent is not None:
            if parent.name.startswith(prefix):
                path = (parent.name,) + path
                nearest = nearest or parent
            parent = parent.cpu_parent
        row = out.setdefault(path, {'count': 0, 'total': 0.0, 'own': 0.0})
        seconds = event.cpu_time_total * 1e-6
        row['count'] += 1
        row['total'] += seconds
        row['own'] += seconds
        if nearest is not None:
            out[path[:-1]]['own'] -= seconds
    return out


def breakdown_rows(phases, per=1):
    """Rows (depth, description, seconds / per) of a breakdown: every path's total in order, and after the last
    descendant of a path that has labelled children a 'rest' row with its own time. Leaves and rest rows sum to
    labelled_total() once; a parent's total is the sum of its children and its rest."""
    paths = list(phases)
    rests = {}                          # Index of a path's last descendant -> the paths whose rest follows it.
    for path in paths:
        below = [j for j, p in enumerate(paths) if len(p) > len(path) and p[:len(path)] == path]
        if below:
            rests.setdefault(max(below), []).append(path)
    rows = []
    for i, path in enumerate(paths):
        rows.append((len(path) - 1, DESCRIPTIONS.get(path, ' > '.join(path)), phases[path]['total'] / per))
        for parent in sorted(rests.get(i, []), key=len, reverse=True):        # Innermost rest first.
            rows.append((len(parent), REST.get(parent, 'rest (own time)'), phases[parent]['own'] / per))
    return rows


def labelled_total(phases):
    """Seconds inside any labelled range, each counted once."""
    return sum(row['own'] for row in phases.values())

#----------------------------------------------------------------------------
# A quiet profiler and peak memory.

@contextlib.contextmanager
def _stderr_to_devnull():
    """File descriptor 2 (C-level stderr, where kineto logs) goes to /dev/null inside."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, 'w') as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


@contextlib.contextmanager
def quiet_profile(**kwargs):
    """torch.profiler.profile(**kwargs) as a context, without the log lines kineto writes to the C-level stderr
    when it starts and stops (`USDT: ... profiler_start`); what runs inside keeps its stderr."""
    prof = profile(**kwargs)
    with _stderr_to_devnull():
        prof.__enter__()
    try:
        yield prof
    finally:
        with _stderr_to_devnull():
            prof.__exit__(None, None, None)


def peak_memory(fn, device='cpu'):
    """Peak bytes torch held on `device` while fn() ran, above what it held when fn began (>= 0).

    CPU: torch.profiler's allocation events (profile_memory=True) summed in time order: every allocation and free
    of torch's allocator counts, nothing else (Python objects, the allocator's own caching). The profiler does not
    report frees of blocks allocated before it started (the previous step's gradients, freed by zero_grad): the
    memory they held counts as still held, an overestimate of at most their size, the same in every configuration
    of one network. fn runs with the C-level stderr silenced (the allocator says so once per process on it; an
    exception still propagates). CUDA: torch.cuda.max_memory_allocated after a reset of the peak statistics.
    """
    device = torch.device(device)
    if device.type == 'cuda':
        torch.cuda.synchronize(device)
        start = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        torch.cuda.synchronize(device)
        return max(0, torch.cuda.max_memory_allocated(device) - start)
    with _stderr_to_devnull(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = [(e.start_ns(), e.nbytes()) for e in prof.profiler.kineto_results.events()
              if e.name() == '[memory]' and e.device_type() == torch.autograd.DeviceType.CPU]
    held = peak = 0
    for _, nbytes in sorted(events, key=lambda e: e[0]):
        held += nbytes
        peak = max(peak, held)
    return peak

#----------------------------------------------------------------------------
# The measurement.

def _bases():
    upstream_trainer = {**demo.TRAINER_KWARGS, 'G_reg_interval': 4, 'D_reg_interval': 16}
    return {'demo': (demo.LOSS_KWARGS, demo.TRAINER_KWARGS),
            'upstream': ({'style_mixing_prob': 0.9, 'pl_weight': 2, 'r1_gamma': 10}, upstream_trainer)}


class _LazyBases(dict):
    def __missing__(self, key):
        self.update(_bases())
        return dict.__getitem__(self, key)


BASES = _LazyBases()


def quadrant_spec(num_links, interval=8):
    """`num_links` (1..4) box links on the image quadrants, 16 axes each, the library's DEFAULTS otherwise."""
    boxes = [[0, 0, .5, .5], [.5, .5, 1, 1], [.5, 0, 1, .5], [0, .5, .5, 1]]
    names = ['top_left', 'bottom_right', 'top_right', 'bottom_left']
    return {'links': [{'name': names[i], 'axes': f'{16 * i}:{16 * i + 16}', 'region': {'box': boxes[i]}}
                      for i in range(num_links)], 'interval': interval}


def strip_spec(num_links, w_dim):
    """`num_links` (1..8) box links on vertical strips 1 / max(2, num_links) of the image wide (one link: the left
    half), w_dim // 8 axes each, every iteration a link iteration (interval 1), the library's DEFAULTS otherwise."""
    axes, strip = w_dim // 8, 1 / max(2, num_links)
    return {'links': [{'name': f'strip{i}', 'axes': f'{axes * i}:{axes * (i + 1)}',
                       'region': {'box': [i * strip, 0, (i + 1) * strip, 1]}} for i in range(num_links)],
            'interval': 1}


def _run(G0, D0, settings, spec_dict, base, seed, device='cpu', **link_kwargs):
    """(ToyTrainer, the cells' scene stream) of copies of G0 and D0 on `device` with the base loss (spec_dict None) or LinkLoss."""
    loss_kwargs, trainer_kwargs = BASES[base]
    G, D = copy.deepcopy(G0).to(device), copy.deepcopy(D0).to(device)
    loss = build_loss('sg2ada', G, D, device=device, spec=spec_dict, **loss_kwargs, **link_kwargs)
    trainer = ToyTrainer('sg2ada', G, D, loss, batch=settings['batch'], device=device, **trainer_kwargs)
    return trainer, scene_stream({**settings, 'scene': 'cells'}, settings['batch'], seed)


def _clock(device):
    """(wall s, process CPU s) now, after the work queued on `device` has finished (a CUDA device runs
    asynchronously: without the synchronize a step's time would be its launch time)."""
    if torch.device(device).type == 'cuda':
        torch.cuda.synchronize(device)
    return time.perf_counter(), time.process_time()


def _timed_step(trainer, real, labels):
    """(wall s, process CPU s) of one trainer step, on the trainer's device."""
    t, c = _clock(trainer.device)
    trainer.step(real, labels)
    t1, c1 = _clock(trainer.device)
    return t1 - t, c1 - c


def _run_block(trainer, stream, iterations, phases=None):
    """Runs `iterations` training steps on batches drawn beforehand; returns (wall s, process CPU s) of the steps.

    With a `phases` dict, the block's first step (where a block aligned on `interval` has its link iteration) runs
    under torch.profiler (CPU activity) and its phase_times are added to `phases`; the returned times are then
    those of that step. One step's events stay in memory (a whole block's take about 1 GB at the demo's sizes).
    """
    batches = [next(stream) for _ in range(iterations)]
    wall = cpu = 0.0
    for i, (real, labels) in enumerate(batches):
        profiled = phases is not None and i == 0
        with (quiet_profile(activities=[ProfilerActivity.CPU]) if profiled else contextlib.nullcontext()) as prof:
            step_wall, step_cpu = _timed_step(trainer, real, labels)
        if profiled:
            for path, row in phase_times(prof).items():
                into = phases.setdefault(path, dict.fromkeys(row, 0))
                for key, value in row.items():
                    into[key] += value
            wall, cpu = step_wall, step_cpu
        elif phases is None:
            wall, cpu = wall + step_wall, cpu + step_cpu
    return wall, cpu


def measure(spec, blocks=8, profiled=2, warmup=1, settings=None, seed=0, base='demo', device='cpu'):
    """Times alternating blocks (one link iteration each) of the base loss and LinkLoss, then profiles LinkLoss.

    Args:
        spec:     a link spec (dict or path), on the demo's networks.
        blocks:   timed blocks per loss (after `warmup` untimed ones); no profiler runs during them.
        profiled: further LinkLoss blocks whose link iteration (their first step) runs under torch.profiler, for
                  the breakdown (not in the ratio).
        base:     'demo' (the demo's base loss: no path-length reg, no style mixing, R1 every 16) or 'upstream'
                  (the toy loss's StyleGAN2-ADA defaults: path-length reg every 4 iterations, style mixing 0.9,
                  R1 gamma 10 every 16).
        settings: overrides of the demo's DEMO_DEFAULTS (resolution, channels, w_dim, batch: the network's sizes).
        device:   where the networks train ('cpu', 'cuda', 'cuda:1'); times wait for the device to finish.
    Returns:
        dict: base/link wall and CPU seconds per timed block (lists 'base', 'link', 'base_cpu', 'link_cpu'),
        'profiled' (wall seconds of each profiled link iteration), 'phases' (phase_times of the profiled blocks, seconds summed
        over them), 'link_iterations' (link passes profiled), 'interval', 'links', 'batch', 'batch_gpu',
        'batch_shrink'.
    """
    settings = {**demo.DEMO_DEFAULTS, **(settings or {})}
    spec = load_spec(spec, w_dim=settings['w_dim'], resolution=settings['resolution'])
    torch.manual_seed(seed)
    G0, D0 = demo.make_networks(settings)
    runs = {name: _run(G0, D0, settings, link_spec, base, seed, device)
            for name, link_spec in (('base', None), ('link', spec.to_dict()))}
    interval = spec.interval
    out = {'base': [], 'link': [], 'base_cpu': [], 'link_cpu': [], 'profiled': [], 'interval': interval,
           'links': len(spec.links), 'batch': settings['batch'], 'batch_gpu': runs['link'][0].batch_gpu,
           'batch_shrink': spec.batch_shrink}
    for block in range(warmup + blocks):
        for name in (('base', 'link') if block % 2 == 0 else ('link', 'base')):
            wall, cpu = _run_block(*runs[name], interval)
            if block >= warmup:
                out[name].append(wall)
                out[name + '_cpu'].append(cpu)
    out['phases'] = {}
    for _ in range(profiled):
        out['profiled'].append(_run_block(*runs['link'], interval, phases=out['phases'])[0])
    out['link_iterations'] = out['phases'].get(LINK_PASS, {}).get('count', 0)
    if out['link_iterations'] != profiled:
        raise RuntimeError(f'bench loss: {profiled} profiled step(s) held {out["link_iterations"]} link pass(es); '
                           'the blocks are no longer aligned on the link iterations')
    return out


PASSES = ('batched', 'per_link')        # LinkLoss's link_pass values, in the order the tables show them.


def _reg_due(trainer):
    """Whether the trainer's next step runs a lazy regularization phase (Greg / Dreg)."""
    return any(trainer.batch_idx % interval == 0 for _, _, _, interval in trainer.phases if interval > 1)


def measure_passes(num_links, steps=4, warmup=1, settings=None, seed=0, base='demo', device='cpu'):
    """Peak memory and time of a link step with each link pass, against a base step, side by side.

    Three ToyTrainers from the same networks: the base loss, and LinkLoss with `strip_spec(num_links)` (every
    iteration a link iteration) in each of PASSES. They step in lockstep on the same batches: `warmup` steps, then
    steps in alternating order until `steps` were timed in each (steps where a lazy regularization phase is due are
    run but not timed), then one step of each, with none due, under `peak_memory`.

    Returns:
        dict: 'links', 'samples' (of the link pass), 'peak' {'base' or a pass: bytes above the step's start},
        'wall' and 'cpu' {'base' or a pass: [seconds of each timed step]}.
    """
    settings = {**demo.DEMO_DEFAULTS, **(settings or {})}
    spec = load_spec(strip_spec(num_links, settings['w_dim']), w_dim=settings['w_dim'],
                     resolution=settings['resolution'])
    torch.manual_seed(seed)
    G0, D0 = demo.make_networks(settings)
    runs = {'base': _run(G0, D0, settings, None, base, seed, device)}
    runs.update({p: _run(G0, D0, settings, spec.to_dict(), base, seed, device, link_pass=p) for p in PASSES})
    first = runs['base'][0]
    out = {'links': num_links, 'samples': max(1, first.batch_gpu // spec.batch_shrink), 'peak': {},
           'wall': {name: [] for name in runs}, 'cpu': {name: [] for name in runs}}
    timed = 0
    while timed < steps:
        counted = first.batch_idx >= warmup and not _reg_due(first)
        for name in ['base', *(PASSES if timed % 2 == 0 else PASSES[::-1])]:
            trainer, stream = runs[name]
            wall, cpu = _timed_step(trainer, *next(stream))
            if counted:
                out['wall'][name].append(wall)
                out['cpu'][name].append(cpu)
        timed += counted
    while _reg_due(first):
        for trainer, stream in runs.values():
            trainer.step(*next(stream))
    for name, (trainer, stream) in runs.items():
        real, labels = next(stream)
        out['peak'][name] = peak_memory(lambda: trainer.step(real, labels), device)
    return out


#----------------------------------------------------------------------------
# The call site of the masked-difference op, before and after issue 31.

def legacy_masked_terms(x, x1, x2, mask_in, mask_out=None):
    """The call site as it was before issue 31, kept for this bench's side-by-side only (same arguments and results
    as regularizer.masked_terms): the K renders copied into [batch, K, C, H, W] by torch.stack, and when L_out's
    mask differs a second full call, each call's unused output given a zero gradient (as the old autograd node
    materialised one), so every backward writes all three gradients."""
    x1, x2 = torch.stack(list(x1), dim=1), torch.stack(list(x2), dim=1)
    if mask_out is None or mask_out is mask_in:
        return masked_diff(x, x1, x2, mask_in)
    l_in, unused_out = masked_diff(x, x1, x2, mask_in)
    unused_in, l_out = masked_diff(x, x1, x2, mask_out)
    return l_in + 0 * unused_out, l_out + 0 * unused_in


CALL_SITES = {'new': regularizer.masked_terms, 'old': legacy_masked_terms}


def measure_call_site(num_links, steps=5, settings=None, seed=0, device='cpu'):
    """Time and peak memory of the link term's masked differences, forward and backward, at each call site.

    Renders like the link pass's (batch_gpu // 2 samples of [3, resolution, resolution], leaves that require
    grad), K = num_links links, masks [1, K, H, W] ('one mask') or with a separate [samples, K, H, W] L_out mask
    ('mask_out'). The two call sites alternate for `steps` timed steps after a warm-up, then one step of each runs
    under peak_memory. Returns {mask kind: {call site: {'wall': [s], 'cpu': [s], 'peak': bytes}}}.
    """
    settings = {**demo.DEMO_DEFAULTS, **(settings or {})}
    n, R = max(1, settings['batch'] // 2), settings['resolution']
    g = torch.Generator().manual_seed(seed)
    leaf = lambda: torch.randn(n, 3, R, R, generator=g).to(device).requires_grad_(True)  # noqa: E731
    x, x1, x2 = leaf(), [leaf() for _ in range(num_links)], [leaf() for _ in range(num_links)]
    mask_in = torch.rand(1, num_links, R, R, generator=g).to(device)
    out = {}
    for kind, mask_out in (('one mask', None), ('mask_out', torch.rand(n, num_links, R, R, generator=g).to(device))):
        def step(name):
            l_in, l_out = CALL_SITES[name](x, x1, x2, mask_in, mask_out)
            torch.autograd.grad(l_in.sum() + l_out.sum(), [x, *x1, *x2])
        times = {name: {'wall': [], 'cpu': []} for name in CALL_SITES}
        for i in range(steps + 1):
            for name in (CALL_SITES if i % 2 == 0 else list(CALL_SITES)[::-1]):
                t, c = _clock(device)
                step(name)
                t1, c1 = _clock(device)
                if i:                                       # The first round warms up.
                    times[name]['wall'].append(t1 - t)
                    times[name]['cpu'].append(c1 - c)
        out[kind] = {name: {**times[name], 'peak': peak_memory(lambda: step(name), device)} for name in CALL_SITES}
    return out


def per_link_iteration(r, path):
    """Seconds of a label path per profiled link iteration (0 when it did not run)."""
    n = r['link_iterations']
    return r['phases'][path]['total'] / n if n and path in r['phases'] else 0.0



def pass_rows(results):
    """Table rows of measure_passes results: (links, renders per sample, base MB, {pass: MB}, {pass: x base},
    {pass: median wall ms}, per_link / batched median wall, the same in CPU time)."""
    rows = []
    for r in results:
        mb = {name: r['peak'][name] / 2**20 for name in r['peak']}
        wall = {name: statistics.median(r['wall'][name]) for name in r['wall']}
        cpu = {name: statistics.median(r['cpu'][name]) for name in r['cpu']}
        rows.append((r['links'], 1 + 2 * r['links'], mb['base'], {p: mb[p] for p in PASSES},
                     {p: mb[p] / mb['base'] if mb['base'] else float('inf') for p in PASSES},
                     {p: wall[p] * 1e3 for p in PASSES}, wall['per_link'] / wall['batched'],
                     cpu['per_link'] / cpu['batched']))
    return rows


def checked_device(name):
    """torch.device of a --device value, or an OptionError naming --device when torch cannot use it."""
    try:
        device = torch.device(name)
    except RuntimeError:
        raise OptionError('--device', f'{name!r} is not a torch device: expected cpu or cuda[:N]')
    if device.type not in ('cpu', 'cuda'):
        raise OptionError('--device', f'{name!r}: expected cpu or cuda[:N]')
    if device.type == 'cuda':
        if not torch.cuda.is_available():
            raise OptionError('--device', f'{name!r}: torch sees no CUDA device on this machine')
        if (device.index or 0) >= torch.cuda.device_count():
            raise OptionError('--device', f'{name!r}: this machine has {torch.cuda.device_count()} CUDA device(s)')
    return device


#----------------------------------------------------------------------------
