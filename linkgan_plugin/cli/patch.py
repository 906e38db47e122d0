"""`linkgan patch`: add --loss CLASS and --loss-kwargs JSON to an upstream train.py (patching.run_patch)."""

import click

from linkgan_plugin.cli.errors import Command
from linkgan_plugin.patching import PATCH_DIR_ENV, run_patch

#----------------------------------------------------------------------------

@click.command('patch', cls=Command)
@click.argument('upstream_dir', type=click.Path(file_okay=False))
@click.option('--check', is_flag=True, help='Report which patches are applied; change nothing. Exit 1 unless all are applied.')
@click.option('--revert', is_flag=True, help='Undo the patches applied by `linkgan patch`.')
@click.option('--compat/--no-compat', default=True, show_default=True,
              help='Also apply the optional fixes for modern torch/setuptools (InfiniteSampler, Adam betas, pkg_resources).')
@click.option('--patches', 'patch_dir', type=click.Path(file_okay=False, exists=True), default=None,
              help=f'Patch directory holding manifest.json [default: the plugin\'s own; env {PATCH_DIR_ENV}].')
def patch_command(upstream_dir, check, revert, compat, patch_dir):
    """Add --loss CLASS and --loss-kwargs JSON to an upstream train.py (StyleGAN2-ADA, StyleGAN3, EG3D).

    UPSTREAM_DIR is a checkout of one of the pinned upstreams (a git clone or a plain copy; for EG3D the
    repository root or its eg3d/ directory). Running it twice is harmless; --check reports, --revert undoes.
    """
    report = run_patch(upstream_dir, check=check, revert=revert, compat=compat, patch_dir=patch_dir)
    for line in report.lines:
        click.echo(line)
    if not report.ok:
        raise SystemExit(1)

#----------------------------------------------------------------------------
