"""`linkgan pair`: a thin click wrapper over workflows/pair.py run_pair (and plan_pair for --plan)."""

import json
import os
import shlex

import click

from linkgan_plugin.analysis.network_loading import CAMERAS
from linkgan_plugin.cli.errors import Command
from linkgan_plugin.cli.options import progress_bar
from linkgan_plugin.smoke import build_command
from linkgan_plugin.workflows.pair import DEFAULTS, LINK_COMMANDS_NOTE, plan_pair, run_pair
from linkgan_plugin.workflows.pair_training import role_args, ROLES

#----------------------------------------------------------------------------

def _json_object(ctx, param, value):
    if value is None:
        return None
    try:
        obj = json.loads(value)
    except ValueError as e:
        raise click.BadParameter(f'not JSON: {e}') from None
    if not isinstance(obj, dict):
        raise click.BadParameter('expected a JSON object, e.g. \'{"link_pass": "per_link"}\'')
    return obj


@click.command('pair', cls=Command, context_settings={'ignore_unknown_options': True})
@click.argument('upstream_dir', type=click.Path(file_okay=False, exists=True))
@click.option('--data', required=True, type=click.Path(exists=True),
              help='Training data (upstream dataset zip or folder; `linkgan scenes` writes one); quality is measured '
                   'against it too.')
@click.option('--spec', required=True, type=click.Path(dir_okay=False, exists=True), help='Link spec JSON of the linked run.')
@click.option('--kimg', required=True, type=click.FloatRange(min=0, min_open=True),
              help='Length of each run in thousands of images (fractions work).')
@click.option('--out', required=True, type=click.Path(file_okay=False),
              help='Pair directory: control/ and linked/ (upstream --outdir each), pair.json, pair.md, pictures.')
@click.option('--resume', type=click.Path(dir_okay=False, exists=True), default=None,
              help='Network pickle both runs start from (fine-tune); also evaluated, as the baseline.')
@click.option('--seed', type=click.IntRange(min=0), default=DEFAULTS['seed'], show_default=True,
              help='train.py --seed of both runs (data order, initial weights) and the evaluation seed.')
@click.option('--parallel/--serial', default=DEFAULTS['parallel'], show_default=True,
              help='Train the two runs at the same time (CPU: half the threads each; several GPUs: disjoint ones) '
                   'or one after the other.')
@click.option('--tiny', is_flag=True, help='The smoke\'s small networks and batch (a CPU-sized pair; `linkgan smoke`).')
@click.option('--tick', type=click.FloatRange(min=0, min_open=True), default=None,
              help='kimg per tick, each with a snapshot (the resume granularity). Default: kimg / 10, at most 4.')
@click.option('--link-kwargs', callback=_json_object, default=None,
              help='More LinkLoss / base-loss kwargs for the linked run, JSON (e.g. \'{"link_pass": "per_link"}\').')
@click.option('--samples', type=click.IntRange(min=1), default=DEFAULTS['samples'], show_default=True,
              help='Evaluation samples per network.')
@click.option('--eval-batch', type=click.IntRange(min=1), default=DEFAULTS['eval_batch'], show_default=True)
@click.option('--quality-images', type=click.IntRange(min=16), default=None,
              help='Images per set for quality. Default: half the data, at most 1024 (the floors need twice as many).')
@click.option('--camera', type=click.Choice(CAMERAS), default=DEFAULTS['camera'], show_default=True, help='EG3D evaluation camera.')
@click.option('--device', default=DEFAULTS['device'], show_default=True, help='Evaluation device: auto, cpu, cuda, cuda:N.')
@click.option('--threads', type=click.IntRange(min=1), default=None,
              help='CPU threads per run (OMP_NUM_THREADS). Default: the cores, halved when the runs are parallel.')
@click.option('--cpu/--no-cpu', default=None, help='Force the CPU shims on or off [default: on without a CUDA device].')
@click.option('--timeout', type=float, default=None, help='Seconds before a training process is stopped.')
@click.option('--plan', is_flag=True, help='Check everything and print the two train.py commands; train nothing.')
@click.option('--verbose', is_flag=True, help='Echo all of train.py\'s output (default: ticks and errors; all of it '
              'is in <out>/<role>/train.log).')
@click.argument('train_args', nargs=-1, type=click.UNPROCESSED)
def pair_command(upstream_dir, data, spec, kimg, out, resume, seed, parallel, tiny, tick, link_kwargs, samples, eval_batch,
                 quality_images, camera, device, threads, cpu, timeout, plan, verbose, train_args):
    """Train upstream's train.py twice, the control (base loss) and the linked run (LinkLoss), from the same seed,
    data, options and start; then measure both on the same samples and write pair.json, pair.md, leakage.png and an
    edit grid per link.

    UPSTREAM_DIR is a checkout patched with `linkgan patch` (EG3D: the repository root or eg3d/). Arguments after `--`
    go to both train.py runs (e.g. `-- --cfg=stylegan3-t --gamma=2 --batch=16`). Running it again resumes: a finished
    run is not trained again; an interrupted one resumes from its last snapshot.
    """
    if plan:
        p = plan_pair(upstream_dir, data, spec, kimg, out, resume, seed, train_args, tiny, tick, link_kwargs, cpu,
                      quality_images=quality_images)
        click.echo(f'Detected {p["det"].describe()}')
        click.echo(f'data: {data} ({p["data_info"]["images"]} images, {p["data_info"]["resolution"]} px); spec fits '
                   f'w_dim {p["w_dim"]}; {"CPU shims" if p["cpu"] else "CUDA"}; cpu_run options {p["smoke_opts"]}')
        for role in ROLES:
            args = role_args(p['common'], role, spec, link_kwargs, os.path.join(os.path.abspath(out), role), kimg,
                             p['settings']['resume'])
            cmd = build_command(p['det'].code_dir, args)
            click.echo(f'{role}:\n  cd {shlex.quote(p["det"].code_dir)} && ' + ' '.join(shlex.quote(c) for c in cmd))
        click.echo(LINK_COMMANDS_NOTE)
        click.echo('Plan OK (nothing trained).')
        return
    report = run_pair(upstream_dir, data, spec, kimg, out, resume=resume, seed=seed, parallel=parallel,
                      train_args=train_args, tiny=tiny, tick=tick, link_kwargs=link_kwargs, samples=samples,
                      eval_batch=eval_batch, quality_images=quality_images, device=device, camera=camera,
                      threads=threads, cpu=cpu, timeout=timeout, echo=click.echo, verbose=verbose,
                      bar=progress_bar)
    click.echo(report['markdown'])
    click.echo(f'wrote {os.path.join(out, "pair.json")}, pair.md, leakage.png and edit grids')

#----------------------------------------------------------------------------
