"""`linkgan doctor`: what the masked-difference kernel will run on here, and why (ops/doctor.py reports)."""

import click
import torch

from linkgan_plugin.checks import LinkganError
from linkgan_plugin.cli.errors import Command
from linkgan_plugin.ops import build
from linkgan_plugin.ops.doctor import build_and_check, collect_versions, report_files, report_paths

#----------------------------------------------------------------------------

@click.command('doctor', cls=Command)
@click.option('--no-build', is_flag=True, help='Report only; do not build or load the kernels.')
@click.option('--verbosity', type=click.Choice(build.VERBOSITIES), default=None,
              help='Build output (default: $LINKGAN_VERBOSITY, else brief).')
@click.option('--strict', is_flag=True, help='Exit 1 when a kernel it would use failed to build or to match the reference.')
def doctor_command(no_build, verbosity, strict):
    """Versions, the kernel path masked_diff would take and why; builds the kernel and times it."""
    echo = click.echo
    echo('linkgan doctor: masked-difference kernel')
    echo('\nVersions')
    for name, value in collect_versions():
        echo(f'  {name:<13} {value}')
    src = report_files(echo)
    plan = report_paths(echo, ['cpu'] + (['cuda'] if torch.cuda.is_available() else []))
    if no_build or src is None:
        echo('\nBuild: skipped' + (' (--no-build)' if no_build else ' (no sources)'))
        return
    failed = build_and_check(echo, plan, verbosity)
    if strict and failed:
        raise LinkganError(f'kernel(s) {", ".join(failed)} failed (see above)')

#----------------------------------------------------------------------------
