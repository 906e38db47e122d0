"""`linkgan compare`: LinkGAN against post-hoc local editing (LELSD, ReSeFa, StyleSpace, a random direction) on one
region, in the paper's Table 2 layout (workflows/compare.py does the work: `compare_networks`)."""

import click

from linkgan_plugin.cli.errors import Command
from linkgan_plugin.cli.options import device_option, network_option, progress_bar, spec_option, truncation_option, upstream_option
from linkgan_plugin.workflows.compare import compare_networks, DEFAULTS
from linkgan_plugin.workflows.compare_inputs import parse_method_groups
from linkgan_plugin.workflows.compare_report import format_markdown

#----------------------------------------------------------------------------

class MethodGroups(click.ParamType):
    """'linkgan,lelsd,random' -> ('linkgan', 'lelsd', 'random') (compare_inputs.parse_method_groups)."""
    name = 'methods'

    def convert(self, value, param, ctx):
        try:
            return parse_method_groups(value)
        except ValueError as e:
            self.fail(str(e), param, ctx)


@click.command('compare', cls=Command)
@network_option('--network', 'networks', multiple=True,
                help='A network (repeatable): linked, control, baseline; upstream snapshot or demo checkpoint.')
@upstream_option()
@spec_option(help='Link spec (file or inline JSON). Default: the first network\'s own.')
@click.option('--link', 'link_name', type=str, default=None, help='The link (axes and region) compared. Default: the first.')
@click.option('--region', type=str, default=None, help='Override the link\'s region: JSON of any region kind.')
@click.option('--out', 'outdir', required=True, type=click.Path(file_okay=False), help='Output directory.')
@click.option('--directions', 'direction_files', multiple=True, type=click.Path(exists=True, dir_okay=False),
              help='`linkgan directions` files (repeatable), matched to networks by hash. Default: found on the fly.')
@click.option('--within-link', is_flag=True, help='Also LELSD directions restricted to the link\'s axes (linked networks).')
@click.option('--methods', 'groups', type=MethodGroups(), default=','.join(DEFAULTS['methods']), show_default=True,
              help='Methods measured, comma-separated: linkgan (or same axes resampled on a control), lelsd, resefa, '
              'stylespace, random.')
@click.option('--samples', type=click.IntRange(min=2), default=DEFAULTS['samples'], show_default=True)
@click.option('--batch', type=click.IntRange(min=1), default=DEFAULTS['batch'], show_default=True)
@click.option('--seed', type=click.IntRange(min=0), default=DEFAULTS['seed'], show_default=True)
@truncation_option(default=DEFAULTS['truncation'], help='Truncation psi of the samples and of the LELSD search.')
@click.option('--lelsd-seeds', type=click.IntRange(min=1), default=DEFAULTS['lelsd_seeds'], show_default=True,
              help='LELSD searches per network (direction seeds --seed, --seed + 1, ...): median, range, '
              'held-out pick.')
@click.option('--lelsd-max-steps', type=click.IntRange(min=1), default=DEFAULTS['lelsd_max_steps'], show_default=True,
              help='Most steps per LELSD direction found on the fly (its plateau rule usually stops sooner).')
@click.option('--num-directions', type=click.IntRange(min=1), default=DEFAULTS['num_directions'], show_default=True,
              help='LELSD directions per seed (decorrelated, method.md sec. 4).')
@click.option('--post-hoc-seeds', type=click.IntRange(min=1), default=DEFAULTS['post_hoc_seeds'], show_default=True,
              help='ReSeFa and StyleSpace searches per network (seeds of their own sample streams --seed, --seed + 1, '
              '...): median, range, pick by their own score.')
@click.option('--post-hoc-samples', type=click.IntRange(min=2), default=DEFAULTS['post_hoc_samples'],
              show_default=True, help='Latents per ReSeFa / StyleSpace search (never the measured samples).')
@click.option('--held-out-samples', type=click.IntRange(min=1), default=DEFAULTS['held_out_samples'],
              show_default=True, help='Held-out latents (never the measured samples) that pick one LELSD direction.')
@click.option('--data', type=click.Path(exists=True), default=None,
              help='Real images (folder or zip) for the quality distance. Demo networks use real scenes by default.')
@click.option('--quality-images', type=click.IntRange(min=0), default=DEFAULTS['quality_images'], show_default=True,
              help='Images per setting for the quality distance (0: none).')
@click.option('--match', type=click.FloatRange(min=0.0, min_open=True), default=None,
              help='In-region change per pixel to match at. Default: LinkGAN resample at t = 1.')
@device_option()
def compare_command(networks, upstream, spec, link_name, region, outdir, direction_files, within_link, groups,
                    samples, batch, seed, truncation, lelsd_seeds, lelsd_max_steps, num_directions, post_hoc_seeds,
                    post_hoc_samples, held_out_samples, data, quality_images, match, device):
    """LinkGAN against LELSD, ReSeFa, StyleSpace (and a random direction) on one region: in-region and out-of-region
    change, Table 2 layout."""
    report, paths = compare_networks(
        networks, outdir, upstream=upstream, spec=spec, link_name=link_name, region=region,
        direction_files=direction_files, data=data, device=device, echo=lambda s: click.echo(s, err=True),
        bar_factory=progress_bar, groups=groups, within_link=within_link, samples=samples, batch=batch, seed=seed,
        truncation=truncation, lelsd_seeds=lelsd_seeds, lelsd_max_steps=lelsd_max_steps, num_directions=num_directions,
        post_hoc_seeds=post_hoc_seeds, post_hoc_samples=post_hoc_samples, held_out_samples=held_out_samples,
        quality_images=quality_images, match=match)
    click.echo(format_markdown(report))
    click.echo(f'wrote {paths["json"]}, {paths["md"]}, {paths["png"]} ({report["seconds"]:.1f} s)')

#----------------------------------------------------------------------------
