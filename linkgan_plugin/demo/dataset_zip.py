"""The demo's procedural scenes (`linkgan scenes`, cli/scenes.py) written as an upstream dataset (a zip or folder of PNGs), so that
`linkgan pair` (or upstream's own train.py) can be tried with no data of one's own.

    linkgan scenes --scene cells --resolution 64 --count 2000 --out scenes.zip --spec-out spec.json
    linkgan scenes --scene faces --resolution 128 --count 500 --camera-labels --out faces128.zip   # for EG3D

The images are those of the demo (demo/scenes.py `scene_images`: cells, landscape, skies, faces, portraits), drawn from a
torch.Generator seeded `--seed`, written by smoke.write_dataset (upstream's dataset_tool.py layout: img00000.png,
... and, with labels, dataset.json). `--camera-labels` adds one 25-value EG3D camera per image (yaw and pitch
jittered, smoke.jittered_camera_labels): EG3D's train.py needs them. `--spec-out` writes the scene's built-in link
spec (demo/settings.py BUILTIN_SPECS: the cells' two quadrants, the faces' eyes, nose and mouth) with its axes scaled
from the demo's 64-dim W to `--w-dim` (upstream's train.py builds 512).
"""

import json
import os

import numpy as np
import torch

from linkgan_plugin.checks import OptionError
from linkgan_plugin.demo.scenes import scene_images
from linkgan_plugin.demo.settings import BUILTIN_SPECS, DEMO_DEFAULTS
from linkgan_plugin.smoke import jittered_camera_labels, write_dataset
from linkgan_plugin.spec import load_spec

CHUNK = 256         # Scenes drawn per batch (bounds memory at large resolutions).

#----------------------------------------------------------------------------

def scene_settings(scene, resolution, cells=2):
    """The demo settings scene_images reads (scene, resolution, cells)."""
    return {**DEMO_DEFAULTS, 'scene': scene, 'resolution': int(resolution), 'cells': int(cells)}


def check_dataset_options(path, resolution, cells=2):
    """OptionError unless upstream's train.py can read what write_scenes would write: a power-of-two --resolution that
    --cells divides, and an --out that is a folder or a .zip."""
    if resolution & (resolution - 1):
        raise OptionError('--resolution', f'{resolution} is not a power of two (upstream\'s train.py needs one)')
    if resolution % int(cells):
        raise OptionError('--resolution', f'{resolution} is not a multiple of --cells {cells}')
    if os.path.exists(path) and not os.path.isdir(path) and not path.lower().endswith('.zip'):
        raise OptionError('--out', f'{path} exists and is not a folder or a .zip')


def write_scenes(path, scene='cells', resolution=64, count=1000, seed=0, cells=2, camera_labels=False, progress=None):
    """Writes `count` scenes of the demo's `scene` at `resolution` to `path` (a .zip or a folder, upstream's dataset
    format). Returns {'path', 'scene', 'resolution', 'images', 'seed', 'camera_labels'}.

    Args:
        camera_labels: also write dataset.json with one 25-dim EG3D camera per image.
        progress:      optional callable(n) after every chunk of n images.
    """
    settings = scene_settings(scene, resolution, cells)
    g = torch.Generator().manual_seed(seed)

    def images():
        done = 0
        while done < count:
            n = min(CHUNK, count - done)
            batch = scene_images(settings, n, generator=g)                     # [n, 3, R, R] in [-1, 1]
            arr = ((batch.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
            for img in arr:
                yield np.ascontiguousarray(img)
            done += n
            if progress is not None:
                progress(n)
    labels = jittered_camera_labels(count, seed) if camera_labels else None
    write_dataset(path, images(), labels)
    return {'path': os.path.abspath(path), 'scene': scene, 'resolution': int(resolution), 'images': count,
            'seed': seed, 'camera_labels': bool(camera_labels)}


def scaled_axes(axes, factor):
    """The axes of a spec link (\"a:b\", {'start', 'stop'} or a list) scaled by `factor` (an integer)."""
    if isinstance(axes, str):
        a, b = axes.split(':')
        return f'{int(a) * factor}:{int(b) * factor}'
    if isinstance(axes, dict):
        return {'start': axes['start'] * factor, 'stop': axes['stop'] * factor}
    return [i * factor + k for i in axes for k in range(factor)]


def scene_spec(scene, w_dim=512):
    """The built-in spec of a box scene (a dict), its axes scaled from the demo's 64-dim W to `w_dim` (a multiple of
    64). Raises ValueError for scenes without one (the landscapes' sky link names a segmenter trained by the demo)."""
    if scene not in BUILTIN_SPECS:
        raise ValueError(f'the {scene!r} scene has no built-in box spec (built-in: {", ".join(BUILTIN_SPECS)}); '
                         'write your own spec')
    base = DEMO_DEFAULTS['w_dim']
    if w_dim % base:
        raise ValueError(f'w_dim must be a multiple of {base} (the demo\'s), got {w_dim}')
    spec = json.loads(json.dumps(BUILTIN_SPECS[scene]))
    for link in spec['links']:
        link['axes'] = scaled_axes(link['axes'], w_dim // base)
    load_spec(spec, w_dim=w_dim)                                    # Checked by the one spec loader.
    return spec

#----------------------------------------------------------------------------

#----------------------------------------------------------------------------
