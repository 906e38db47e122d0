"""`linkgan bench kernel`: the fused masked-difference kernel against eager PyTorch and torch.compile (ops/bench.py
measures)."""

import json

import click
import torch

from linkgan_plugin.checks import OptionError, UsageProblem
from linkgan_plugin.cli.errors import Command
from linkgan_plugin.ops.bench import default_cases, DEFAULT_LINKS, DEFAULT_SHAPES, DTYPES, parse_shapes, plan_rows, run_benchmark, training_cases

#----------------------------------------------------------------------------

@click.command('kernel', cls=Command)
@click.option('--device', default=None, help="'cpu' or 'cuda' (default: cuda when available, else cpu).")
@click.option('--reps', type=click.IntRange(1, 1000), default=7, show_default=True, help='Minimum timed rounds per case (median; on the CPU fast cases run more, for at least 1 s).')
@click.option('--no-compile', is_flag=True, help='Skip the torch.compile column (saves its compile time).')
@click.option('--quick', is_flag=True, help='Only the smaller shape (8x3x256x256).')
@click.option('--training', is_flag=True, help='The training sizes (batch 32 and 64, 256 and 1024 px, 1-8 links, fp32 and fp16).')
@click.option('--shape', 'shapes', multiple=True, metavar='BxCxHxW', help='Image shape (repeatable; replaces the defaults).')
@click.option('--links', 'links', type=click.IntRange(1, 64), multiple=True, help='Links per case (repeatable; default 1 and 4).')
@click.option('--dtype', 'dtypes', type=click.Choice(list(DTYPES)), multiple=True, help='Image dtype (repeatable; default fp32).')
@click.option('--threads', type=click.IntRange(1, 1024), default=None, help='CPU threads for all three (default: torch.get_num_threads()).')
@click.option('--max-seconds', type=click.FloatRange(min=0), default=None, help='Start no case after this many seconds (the rest are listed as left out).')
@click.option('--plan', 'plan_only', is_flag=True, help='Print the rows a run would time and exit (runs nothing).')
@click.option('--json', 'json_path', type=click.Path(dir_okay=False, writable=True), default=None, help='Also write the report as JSON.')
def bench_kernel_command(device, reps, no_compile, quick, training, shapes, links, dtypes, threads, max_seconds,
                         plan_only, json_path):
    """Fused masked-difference kernel vs eager and torch.compile, forward and forward+backward."""
    parsed = parse_shapes(shapes)
    if sum(map(bool, (quick, parsed, training))) > 1:
        raise UsageProblem('--quick, --shape and --training are mutually exclusive')
    if training:
        cases = training_cases(compile_=not no_compile)
    else:
        cases = default_cases(tuple(parsed) or (DEFAULT_SHAPES[:1] if quick else DEFAULT_SHAPES), tuple(links) or DEFAULT_LINKS,
                              tuple(dtypes) or ('fp32',), compile_=not no_compile)
    if plan_only:
        for row in plan_rows(cases):
            click.echo(f"plan: {'x'.join(map(str, row['shape']))} links {row['links']} {row['dtype']} {row['pass_']}: "
                       f"{', '.join(row['impls'])}")
        return
    if device is None:
        device = 'cuda' if torch.cuda.is_available() else 'cpu'
    if device.startswith('cuda') and not torch.cuda.is_available():
        raise OptionError('--device', 'CUDA is not available in this torch')
    if threads is not None:
        torch.set_num_threads(threads)  # This benchmark process only.
    report = run_benchmark(device, cases=cases, reps=reps, max_seconds=max_seconds,
                           log=lambda line: click.echo(line if line.startswith(('|', '#')) else f'# {line}'))
    if json_path:
        with open(json_path, 'w', encoding='utf-8') as f:
            json.dump(report, f, indent=2)
        click.echo(f'# wrote {json_path}')

#----------------------------------------------------------------------------
