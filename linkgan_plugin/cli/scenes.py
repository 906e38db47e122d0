"""`linkgan scenes`: the demo's procedural scenes written as an upstream dataset (demo/dataset_zip.py)."""

import json
import os

import click

from linkgan_plugin.checks import option_errors, SpecError
from linkgan_plugin.cli.errors import Command
from linkgan_plugin.cli.options import progress_bar
from linkgan_plugin.demo.scenes import scenes_help, SCENES
from linkgan_plugin.demo.dataset_zip import check_dataset_options, scene_spec, write_scenes

#----------------------------------------------------------------------------

@click.command('scenes', cls=Command)
@click.option('--out', required=True, type=click.Path(), help='A .zip (or a folder) to write, upstream\'s dataset format.')
@click.option('--scene', type=click.Choice(SCENES), default='cells', show_default=True, help=scenes_help())
@click.option('--resolution', type=click.IntRange(min=8), default=64, show_default=True,
              help='Image size (a power of two for upstream; EG3D: 128, 256 or 512).')
@click.option('--count', type=click.IntRange(min=1), default=1000, show_default=True, help='Number of images.')
@click.option('--seed', type=click.IntRange(min=0), default=0, show_default=True)
@click.option('--cells', type=click.Choice(['1', '2', '4', '8']), default='2', show_default=True, help='cells scene grid.')
@click.option('--camera-labels', is_flag=True, help='Add a 25-value EG3D camera per image (dataset.json): needed by EG3D.')
@click.option('--spec-out', type=click.Path(dir_okay=False), default=None,
              help='Also write the scene\'s built-in link spec (cells, faces), axes scaled to --w-dim.')
@click.option('--w-dim', type=click.IntRange(min=64), default=512, show_default=True, help='w_dim for --spec-out.')
def scenes_command(out, scene, resolution, count, seed, cells, camera_labels, spec_out, w_dim):
    """Write the demo's scenes as an upstream dataset zip (for `linkgan pair` or upstream's train.py)."""
    check_dataset_options(out, resolution, cells)
    spec = None
    if spec_out:
        with option_errors('--spec-out', (ValueError, SpecError)):
            spec = scene_spec(scene, w_dim)
    with progress_bar(count, f'{scene} {resolution}x{resolution}') as bar:
        info = write_scenes(out, scene, resolution, count, seed, int(cells), camera_labels, progress=bar.update)
    click.echo(f'wrote {info["path"]}: {count} {scene} scenes, {resolution}x{resolution}'
               + (', EG3D camera labels' if camera_labels else ''))
    if spec is not None:
        os.makedirs(os.path.dirname(os.path.abspath(spec_out)), exist_ok=True)
        with open(spec_out, 'w', encoding='utf-8') as f:
            json.dump(spec, f, indent=2)
        click.echo(f'wrote {spec_out}: links {", ".join(l["name"] for l in spec["links"])} (w_dim {w_dim})')

#----------------------------------------------------------------------------
