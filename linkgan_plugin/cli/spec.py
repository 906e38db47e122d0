"""`linkgan spec ...`: check a link spec before spending GPU hours on it."""

import json

import click

from linkgan_plugin.checks import MAX_W_DIM, SpecError
from linkgan_plugin.cli.errors import Command
from linkgan_plugin.regions import region_kinds_text
from linkgan_plugin.spec import load_spec, options_text


class _SpecHelpCommand(Command):
    """A command whose help ends with the region kinds and the spec's options, from their declarations
    (regions.REGION_KINDS, spec.OPTIONS)."""

    def format_epilog(self, ctx, formatter):
        with formatter.section('Region kinds ("region" of a link)'):
            formatter.write_dl(region_kinds_text())
        with formatter.section('Spec options (JSON keys beside "links"; each may be left out)'):
            formatter.write_dl(options_text())
        super().format_epilog(ctx, formatter)


@click.group(name='spec')
def spec_group():
    """Work with link spec files."""


@spec_group.command(name='check', cls=_SpecHelpCommand)
@click.argument('spec_file', metavar='FILE')
@click.option('--w-dim', type=click.IntRange(1, MAX_W_DIM), default=None, help='Check axes against this latent width (512 for the real networks).')
@click.option('--resolution', type=click.IntRange(1, MAX_W_DIM), default=None, help='Check that every box covers at least one pixel at this resolution.')
def check_command(spec_file, w_dim, resolution):
    """Validate FILE (a path, or an inline JSON object) and print the normalised spec, or every error (exit 1)."""
    try:
        spec = load_spec(spec_file, w_dim=w_dim, resolution=resolution)
    except SpecError as e:
        for line in e.errors:
            click.echo(f'error: {line}', err=True)
        raise SystemExit(1)
    click.echo(json.dumps(spec.to_dict(), indent=2, allow_nan=False))
