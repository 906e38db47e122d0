"""`linkgan demo`: fine-tune a converged toy generator with LinkLoss and without (the control), then measure both
(demo/run.py does the work)."""

import os

import click

from linkgan_plugin.checks import option_errors, SpecError, UsageProblem
from linkgan_plugin.cli.errors import Command
from linkgan_plugin.cli.options import progress_bar
from linkgan_plugin.demo.scenes import scene_of, scenes_help, SCENES
from linkgan_plugin.demo.run import demo_markdown, run_demo
from linkgan_plugin.demo.settings import DEMO_DEFAULTS, demo_spec

#----------------------------------------------------------------------------

class BaselineChoice(click.ParamType):
    """'shipped', 'train', or a baseline file (demo_baseline format)."""
    name = 'shipped|train|FILE'

    def convert(self, value, param, ctx):
        if value in ('shipped', 'train'):
            return value
        if os.path.isdir(value):
            self.fail(f'{value!r} is a directory; give a baseline file, "shipped" or "train"', param, ctx)
        if not os.path.isfile(value):
            self.fail(f'{value!r} is not "shipped", "train" or an existing baseline file', param, ctx)
        return value


@click.command(name='demo', cls=Command)
@click.option('--outdir', type=click.Path(file_okay=False), default='./linkgan-demo', show_default=True,
              help='Where report.json, report.md, leakage.png, samples.png and the checkpoints go.')
@click.option('--spec', 'spec_path', type=click.Path(exists=True, dir_okay=False), default=None,
              help='Link spec JSON (box or mask regions, w_dim 64). Default: the scene\'s built-in spec (cells: two '
                   'quadrants; faces, portraits: eyes, nose, mouth).')
@click.option('--scene', type=click.Choice(SCENES), default='cells', show_default=True, help=scenes_help())
@click.option('--mask-mode', type=click.Choice(['source', 'union', 'mean']), default='source', show_default=True,
              help='landscape: which images the sky mask comes from (the spec\'s region mode).')
@click.option('--baseline', type=BaselineChoice(), default='shipped', show_default=True,
              help='Start from the shipped converged baseline, train one now (--baseline-kimg), or a baseline file '
                   '(`linkgan-research baseline --out FILE`).')
@click.option('--seed', type=click.IntRange(min=0), default=DEMO_DEFAULTS['seed'], show_default=True,
              help='Seeds the fine-tunes\' data and latents and the evaluation.')
@click.option('--baseline-kimg', type=click.FloatRange(min=0, min_open=True), default=DEMO_DEFAULTS['baseline_kimg'],
              show_default=True, help='Thousands of images for --baseline train.')
@click.option('--finetune-kimg', type=click.FloatRange(min=0, min_open=True), default=DEMO_DEFAULTS['finetune_kimg'],
              show_default=True, help='Thousands of images for each fine-tune (control and linked).')
@click.option('--from-scratch', 'scratch_kimg', type=click.FloatRange(min=0, min_open=True), default=None,
              help='Train control and linked from scratch for this many kimg (batch --batch, the same initial '
                   'weights) instead of fine-tuning the baseline: the study\'s strongest recipe '
                   '(examples/research/results/study.md; 160 kimg: about 25 minutes on 2 cores).')
@click.option('--samples', type=click.IntRange(min=16), default=DEMO_DEFAULTS['samples'], show_default=True,
              help='Evaluation samples per model, and images per set for the quality distance.')
@click.option('--batch', type=click.IntRange(min=2), default=DEMO_DEFAULTS['batch'], show_default=True,
              help='Images per iteration of --baseline train.')
@click.option('--finetune-batch', type=click.IntRange(min=2), default=DEMO_DEFAULTS['finetune_batch'], show_default=True,
              help='Images per fine-tune iteration.')
@click.option('--resolution', type=click.Choice(['16', '32', '64']), default=None,
              help='Image size for --baseline train (default 32; other baselines keep their own).')
@click.option('--cells', type=click.Choice(['1', '2', '4', '8']), default=None,
              help='Scene grid for --baseline train (default 2: the quadrants).')
@click.option('--channels', type=click.IntRange(min=4), default=None,
              help='Generator channels for --baseline train (default 32).')
@click.option('--threads', type=click.IntRange(min=0), default=DEMO_DEFAULTS['threads'], show_default=True,
              help='torch threads per process (0: torch\'s default).')
@click.option('--serial', is_flag=True, help='Run the two fine-tunes one after the other in this process.')
def demo_command(outdir, spec_path, scene, mask_mode, baseline, seed, baseline_kimg, finetune_kimg, scratch_kimg, samples,
                 batch, finetune_batch, resolution, cells, channels, threads, serial):
    """Fine-tune a converged toy generator with LinkLoss and without (the control); measure both.

    Writes OUTDIR/report.json, report.md, leakage.png, samples.png, baseline.pt, control.pt and linked.pt.
    """
    if scratch_kimg is not None:
        source = click.get_current_context().get_parameter_source
        given = [f'--{n.replace("_", "-")}' for n in ('finetune_kimg', 'finetune_batch')
                 if source(n) == click.core.ParameterSource.COMMANDLINE]
        if given:
            raise UsageProblem(f'{", ".join(given)} do not apply with --from-scratch (it trains both runs for '
                               'its own length at --batch)')
    if baseline != 'train':
        given = [name for name, v in (('--resolution', resolution), ('--cells', cells), ('--channels', channels)) if v]
        if given:
            raise UsageProblem(f'{", ".join(given)} only apply to --baseline train (a baseline file fixes the networks)')
    if spec_path is not None:
        with option_errors('--spec', SpecError):
            demo_spec(spec_path, w_dim=DEMO_DEFAULTS['w_dim'], resolution=int(resolution or DEMO_DEFAULTS['resolution']),
                      semantic=scene_of(scene).semantic)
    click.echo(f'linkgan demo: baseline {baseline}; outputs in {outdir}')
    options = dict(scene=scene, mask_mode=mask_mode, seed=seed, baseline_kimg=baseline_kimg, finetune_kimg=finetune_kimg,
                   scratch_kimg=scratch_kimg, samples=samples, batch=batch,
                   finetune_batch=finetune_batch, resolution=int(resolution) if resolution else None,
                   cells=int(cells) if cells else None, channels=channels, threads=threads)
    report = run_demo(outdir, spec_path, bar=progress_bar, baseline=baseline, parallel=not serial, **options)
    click.echo(demo_markdown(report))
    if samples < 256:
        click.echo(f'note: {samples} evaluation samples; use >= 256 for numbers you report.')

#----------------------------------------------------------------------------
