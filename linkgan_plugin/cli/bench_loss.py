"""`linkgan bench loss`: the training overhead of LinkLoss, measured side by side in one run, and the tables it prints
(workflows/bench_loss.py measures)."""

import statistics

import click
import torch

from linkgan_plugin.cli.errors import Command
from linkgan_plugin.demo import settings as demo
from linkgan_plugin.ops import paths_run
from linkgan_plugin.workflows.bench_loss import (breakdown_rows, checked_device, labelled_total, LINK_PASS, measure,
                                                 measure_call_site, measure_passes, pass_rows, per_link_iteration,
                                                 quadrant_spec, RENDERS)

#----------------------------------------------------------------------------

def _print_call_site(links, steps, settings, device):
    full = {**demo.DEMO_DEFAULTS, **(settings or {})}
    click.echo('')
    click.echo(f'call site of the masked-difference op (regularizer.masked_terms, new) against the one before it '
               f'(old: torch.stack of the renders, a second call for a separate L_out mask, zero gradients written): '
               f'forward + backward on {max(1, full["batch"] // 2)} x 3 x {full["resolution"]}^2 renders, medians of '
               f'{steps} alternating steps; peak memory above the start')
    click.echo(f'  {"links":>5s} {"L_out mask":>10s} {"new ms":>8s} {"old ms":>8s} {"new/old wall":>12s} {"cpu":>5s} '
               f'{"new MB":>7s} {"old MB":>7s} {"new/old MB":>10s}')
    for k in links:
        for kind, r in measure_call_site(k, steps=steps, settings=settings, device=device).items():
            wall = {name: statistics.median(r[name]['wall']) for name in r}
            cpu = {name: statistics.median(r[name]['cpu']) for name in r}
            mb = {name: r[name]['peak'] / 2**20 for name in r}
            click.echo(f'  {k:5d} {kind:>10s} {wall["new"] * 1e3:8.2f} {wall["old"] * 1e3:8.2f} '
                       f'{wall["new"] / wall["old"]:12.3f} {cpu["new"] / cpu["old"]:5.3f} {mb["new"]:7.3f} '
                       f'{mb["old"]:7.3f} {mb["new"] / mb["old"] if mb["old"] else float("nan"):10.3f}')


def print_paths_run(before):
    """'masked_diff ran on: <path> (<calls> calls on <device> tensors; <reason>)' for each implementation that ran
    since `before` (ops.paths_run()); path 'ref' is the PyTorch reference."""
    for (device, path, reason), calls in paths_run(since=before).items():
        click.echo(f'masked_diff ran on: {path} ({calls} calls on {device} tensors; {reason})')


def _ratio(r, key=''):
    return statistics.median(r['link' + key]) / statistics.median(r['base' + key])


def _print_breakdown(r, extra_wall, extra_cpu):
    n = r['link_iterations']
    click.echo(f'  where the extra time goes, per link iteration (measured extra per timed block: {extra_wall * 1e3:.0f} ms '
               f'wall, {extra_cpu * 1e3:.0f} ms cpu)')
    if not n:
        click.echo('    (no link iteration was profiled)')
        return
    prof_ms = statistics.median(r['profiled']) * 1e3
    click.echo(f'  from {n} profiled link iteration(s) run apart from the timed blocks ({prof_ms:.0f} ms each under the '
               'profiler):')
    total = labelled_total(r['phases']) / n
    click.echo(f'    {"":52s} {"wall ms":>8s} {"share":>6s}')
    for depth, name, seconds in breakdown_rows(r['phases'], per=n):
        click.echo(f'    {"  " * depth + name:52s} {seconds * 1e3:8.1f} {seconds / total * 100 if total else 0:5.0f}%')
    click.echo(f'    {"labelled total (each range counted once)":52s} {total * 1e3:8.1f}')


def _print_passes(results, steps):
    r0 = results[0]
    click.echo('')
    click.echo(f'link passes (LinkLoss link_pass; base = demo; links on vertical strips, every iteration a link '
               f'iteration, link pass on {r0["samples"]} samples): peak memory of one step above its start (torch\'s '
               f'allocations, profiler events), and step time, medians of {steps} alternating steps each')
    click.echo(f'  {"links":>5s} {"renders":>7s} {"base MB":>8s} {"batched MB":>10s} {"x base":>6s} {"per_link MB":>11s} '
               f'{"x base":>6s} {"batched ms":>10s} {"per_link ms":>11s} {"per_link/batched wall":>21s} {"cpu":>5s}')
    for links, renders, base, mb, ratio, ms, wall, cpu in pass_rows(results):
        click.echo(f'  {links:5d} {renders:7d} {base:8.1f} {mb["batched"]:10.1f} {ratio["batched"]:6.2f} '
                   f'{mb["per_link"]:11.1f} {ratio["per_link"]:6.2f} {ms["batched"]:10.1f} {ms["per_link"]:11.1f} '
                   f'{wall:21.3f} {cpu:5.3f}')
    click.echo('  batched keeps all 1 + 2K renders\' graphs until one backward; per_link keeps x\'s and one link\'s, and '
               'renders again the perturbed')
    click.echo('  renders D\'s fakes were drawn from (at most min(2K, batch_gpu) extra forwards).')


def link_counts(ctx, param, value):
    try:
        counts = [int(v) for v in value.split(',') if v.strip()]
    except ValueError:
        counts = []
    if not counts or any(not 1 <= k <= 8 for k in counts):
        raise click.BadParameter(f'expected a comma-separated list of link counts from 1 to 8, got {value!r}')
    return counts


@click.command(name='loss', cls=Command)
@click.option('--blocks', type=click.IntRange(min=1), default=8, show_default=True,
              help='Timed blocks of `interval` iterations per loss (after one warm-up block), run without a profiler.')
@click.option('--profiled-blocks', type=click.IntRange(min=1), default=2, show_default=True,
              help='Further LinkLoss blocks whose link iteration runs under torch.profiler, for the breakdown '
                   '(not in the ratio).')
@click.option('--batch', type=click.IntRange(min=2), default=None, help='Images per iteration (default: the demo\'s).')
@click.option('--threads', type=click.IntRange(min=0), default=1, show_default=True,
              help='torch threads (0: torch\'s default).')
@click.option('--base', 'bases', type=click.Choice(['demo', 'upstream']), multiple=True,
              help='Base loss settings to compare against (repeatable; default both): demo = no path-length reg, '
                   'no style mixing; upstream = StyleGAN2-ADA defaults (path-length reg every 4, mixing 0.9).')
@click.option('--scaling/--no-scaling', default=True, show_default=True, help='Also measure 1, 2 and 4 links.')
@click.option('--passes/--no-passes', default=True, show_default=True,
              help='Also compare the link passes (batched, per_link): peak memory and time of a link step.')
@click.option('--pass-links', default='1,2,4,8', show_default=True, callback=link_counts,
              help='Link counts (1 to 8) the link passes are compared at.')
@click.option('--pass-steps', type=click.IntRange(min=1), default=4, show_default=True,
              help='Timed link steps per pass and link count (after a warm-up step; steps with a lazy '
                   'regularization phase due are not timed).')
@click.option('--call-site/--no-call-site', default=True, show_default=True,
              help='Also compare the call site of the masked-difference op with the one before it (1, 2, 4 links).')
@click.option('--device', default='cpu', show_default=True,
              help='Where the networks train: cpu, cuda or cuda:N (times wait for the device to finish).')
@click.option('--resolution', type=click.Choice(['16', '32', '64', '128', '256', '512']), default=None,
              callback=lambda ctx, param, value: int(value) if value else None,
              help='Image resolution of the toy networks (default: the demo\'s 32).')
@click.option('--channels', type=click.IntRange(min=4), default=None,
              help='Feature channels of every synthesis layer (default: the demo\'s 32; sg2ada at 256 px has 512 '
                   'down to 64).')
@click.option('--w-dim', type=click.IntRange(min=64), default=None,
              help='Width of w (default: the demo\'s 64; at least 64, the four quadrant links\' 16 axes each).')
def bench_loss_command(blocks, profiled_blocks, batch, threads, bases, scaling, passes, pass_links, pass_steps,
                       call_site, device, resolution, channels, w_dim):
    """Time training steps with the base loss and with LinkLoss, side by side."""
    device = checked_device(device)
    paths_before = paths_run()
    if threads:
        torch.set_num_threads(threads)
    sizes = {'batch': batch, 'resolution': resolution, 'channels': channels, 'w_dim': w_dim}
    settings = {key: value for key, value in sizes.items() if value}
    full = {**demo.DEMO_DEFAULTS, **settings}
    spec = {'links': demo.BUILTIN_SPEC['links']}      # The demo's links, the library's DEFAULTS (interval 8).
    where = (f'{torch.get_num_threads()} CPU thread(s)' if device.type == 'cpu'
             else f'{device} ({torch.cuda.get_device_name(device)})')
    sized = " at the demo's sizes" if full == demo.DEMO_DEFAULTS else ''
    click.echo(f'toy sg2ada{sized} (batch {full["batch"]}, '
               f'{full["resolution"]}px, {full["channels"]} channels, w_dim {full["w_dim"]}) on {where}; alternating '
               f'blocks of `interval` iterations, {blocks} timed per loss; medians')
    if device.type == 'cuda':
        click.echo('  (on a GPU the breakdown\'s ranges are CPU-side times: launches, not kernels; the ratios are '
                   'synchronized wall times)')
    for base in bases or ('demo', 'upstream'):
        r = measure(spec, blocks=blocks, profiled=profiled_blocks, settings=settings, base=base, device=device)
        it = r['interval']
        click.echo('')
        click.echo(f'[base = {base}] LinkLoss: {r["links"]} links, interval {it}, link pass on '
                   f'{max(1, r["batch_gpu"] // r["batch_shrink"])} samples x {1 + 2 * r["links"]} renders; '
                   f'D sees {r["batch_gpu"]} perturbed fakes, as many as its regular fake batch')
        mb, ml = statistics.median(r['base']), statistics.median(r['link'])
        cb, cl = statistics.median(r['base_cpu']), statistics.median(r['link_cpu'])
        click.echo(f'  base loss  {mb / it * 1e3:8.1f} ms/iter wall  {cb / it * 1e3:8.1f} ms/iter cpu')
        click.echo(f'  LinkLoss   {ml / it * 1e3:8.1f} ms/iter wall  {cl / it * 1e3:8.1f} ms/iter cpu')
        click.echo(f'  ratio      {ml / mb:8.3f} wall            {cl / cb:8.3f} cpu      (target <= 1.25)')
        _print_breakdown(r, ml - mb, cl - cb)
    if scaling:
        _print_scaling(blocks, profiled_blocks, settings, device)
    if passes:
        _print_passes([measure_passes(k, steps=pass_steps, settings=settings, device=device) for k in pass_links],
                      pass_steps)
    if call_site:
        _print_call_site((1, 2, 4), max(pass_steps, 5), settings, device)
    print_paths_run(paths_before)


def _print_scaling(blocks, profiled_blocks, settings, device='cpu'):
    click.echo('')
    click.echo('scaling with the number of links (base = demo; quadrant boxes, 16 axes each, interval 8):')
    click.echo(f'  {"links":>5s} {"renders/sample":>14s} {"ratio wall":>10s} {"ratio cpu":>9s} {"link pass ms":>12s} '
               f'{"renders ms":>10s} {"link pass ms per render":>23s}')
    for k in (1, 2, 4):
        rk = measure(quadrant_spec(k), blocks=max(2, blocks // 2), profiled=profiled_blocks, settings=settings,
                     device=device)
        link_pass, renders_ms = per_link_iteration(rk, LINK_PASS) * 1e3, per_link_iteration(rk, RENDERS) * 1e3
        renders = 1 + 2 * k
        click.echo(f'  {k:5d} {renders:14d} {_ratio(rk):10.3f} {_ratio(rk, "_cpu"):9.3f} {link_pass:12.1f} '
                   f'{renders_ms:10.1f} {link_pass / renders:23.1f}')
    click.echo('  the link pass grows like 1 + 2K renders per sample plus a constant (mapping, D on a batch of perturbed')
    click.echo('  fakes): its cost per render stays flat or falls as K grows; D sees batch_gpu perturbed fakes whatever K.')

#----------------------------------------------------------------------------
