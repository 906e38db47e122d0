"""The demo's scenes as a registry: one object per scene knows its data, its built-in links, its factors (the
coverage measure's feature space: demo/factors.py), its shipped baseline and its shipped regressor. The rest of the
package asks the object (`scene_of(settings)`) instead of comparing scene names.

| scene | data | built-in links | kind |
|---|---|---|---|
| `cells` | data.py: 2 x 2 independent cells (32 px) | the top-left and bottom-right quadrants | boxes |
| `landscape`, `skies` | landscape.py: sky, ground and an object (plain skies / varied skies) | the sky, by a segmenter the demo trains (segmenter.py) | semantic |
| `faces` | faces.py: aligned faces, 32 px | the eyes, nose and mouth presets | boxes |
| `portraits` | portraits.py: aligned faces whose parts carry their own content, 64 px | the eyes, nose and mouth presets, binary | boxes |

    scene = scene_of(settings)                       # settings['scene'], default 'cells'
    stream = scene.stream(settings, batch=32, seed=0)    # endless (images [batch, 3, R, R], labels [batch, 0])
    images = scene.images(settings, 8, generator)        # [8, 3, R, R] in [-1, 1]
    images, factors, groups = scene.factor_batch(resolution, cells, 8, generator)   # the factors, read or drawn
"""

import os

import torch

from linkgan_plugin.demo import data, faces as faces_module, landscape, portraits as portraits_module
from linkgan_plugin.regions import box_centre_mask, box_coverage, preset_box

ASSETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'assets')
GRID = 4                        # Blocks per side of the cells' 'shape' and the landscapes' 'layout' grids.

#----------------------------------------------------------------------------

class Scene:
    """One scene (module docstring). Subclasses set the attributes and implement `draw` and `factor_batch`.

    name:            settings['scene'] and the commands' --scene choice; `summary` says what it is (their help).
    semantic:        its built-in link is a segmented class (no fixed box), so the demo trains a segmenter.
    resolution:      the size its data is drawn at unless the settings say otherwise.
    links:           its built-in links (spec 'links': box or preset regions), None for the semantic scenes.
    baseline:        the shipped baseline's file name in assets/ (None: none ships) and `baseline_kimg` its length.
    regressor:       the shipped factor regressor's file name in assets/ (None: none ships), trained at
                     `resolution`; `factor_settings`: what its training takes besides factors.FACTOR_DEFAULTS.
    """
    name = None
    summary = ''
    semantic = False
    resolution = 32
    links = None
    baseline = None
    baseline_kimg = None
    regressor = None
    factor_settings = {}

    def draw(self, settings, count, generator):
        """(images [count, 3, R, R] in [-1, 1], label maps int64 [count, R, R] or None, drawn factors {name: [count]
        or [count, 3]} or None) of the settings."""
        raise NotImplementedError

    def images(self, settings, count, generator):
        return self.draw(settings, count, generator)[0]

    def stream(self, settings, batch, seed):
        """An endless, reproducible stream of (images [batch, 3, R, R], labels [batch, 0])."""
        return SceneStream(self, settings, batch, seed)

    def baseline_path(self):
        return None if self.baseline is None else os.path.join(ASSETS, self.baseline)

    def regressor_path(self):
        return None if self.regressor is None else os.path.join(ASSETS, self.regressor)

    def regressor_key(self):
        """The factor_key the shipped regressor was trained for: the scene at its own resolution (cells 2 x 2)."""
        return self.factor_key({'resolution': self.resolution, 'cells': 2})

    def factor_key(self, settings):
        """(scene, resolution, cells) a regressor is trained for (cells 0 for the scenes without cells)."""
        return self.name, int(settings['resolution']), 0

    def factor_batch(self, resolution, cells, count, generator):
        """`count` fresh real scenes and their factors: (images [count, 3, R, R], factors float32 [count, F],
        groups [(name, start, stop)] over the columns)."""
        raise NotImplementedError

    def feature_layout(self, resolution, cells, groups):
        """How FactorFeatures adds detail energy (analysis.coverage.detail_energy) to the factors and groups them
        into parts: (detail grid, detail masks [regions, R, R] or None, detail groups, parts {name: [groups]})."""
        raise NotImplementedError


class SceneStream:
    """An endless, reproducible stream of a scene's batches (Scene.stream): (images, labels [batch, 0]) drawn batch
    after batch from one generator seeded `seed`; `label_maps` and `factors` hold the last batch's, where the scene
    has them."""

    def __init__(self, scene, settings, batch, seed):
        self.scene, self.settings, self.batch = scene, dict(settings), batch
        self.generator = torch.Generator().manual_seed(seed)
        self.label_maps = self.factors = None

    def __iter__(self):
        return self

    def __next__(self):
        images, self.label_maps, self.factors = self.scene.draw(self.settings, self.batch, self.generator)
        return images, torch.zeros([self.batch, 0])

#----------------------------------------------------------------------------

class Cells(Scene):
    name = 'cells'
    summary = 'boxes on a 2x2 grid of independent cells (32 px)'
    links = [{'name': 'top_left', 'axes': '0:16', 'region': {'box': [0.0, 0.0, 0.5, 0.5]}},
             {'name': 'bottom_right', 'axes': '16:32', 'region': {'box': [0.5, 0.5, 1.0, 1.0]}}]
    baseline, baseline_kimg = 'demo_baseline.pt', 160
    regressor = 'factor_regressor_cells.pt'

    def draw(self, settings, count, generator):
        return data.scenes(count, settings['resolution'], settings.get('cells', 2), generator=generator,
                           light=settings.get('light', 0.0)), None, None

    def factor_key(self, settings):
        # Lit scenes (a lighting every cell shares) are other data, with no factor space of their own.
        return None if settings.get('light') else (self.name, int(settings['resolution']), int(settings['cells']))

    def factor_batch(self, resolution, cells, count, generator):
        images = data.scenes(count, resolution, cells, generator=generator)
        return (images, *cell_factors(images, cells, GRID))

    def feature_layout(self, resolution, cells, groups):
        n = groups[-1][2]
        detail = [(f'cell{i}/detail', n + i, n + i + 1) for i in range(cells * cells)]
        parts = {f'cell{i}': [f'cell{i}/{g}' for g in ('background', 'foreground', 'shape', 'detail')]
                 for i in range(cells * cells)}
        return cells, None, detail, parts


class Landscapes(Scene):
    semantic = True

    def __init__(self, name, skies):
        self.name, self.skies = name, skies
        self.summary = ('the landscapes under varied skies (time of day, brightness, clouds)' if skies else
                        'the sky as a semantic link, segmented per sample by a segmenter trained at demo time')
        self.baseline, self.baseline_kimg = 'landscape_baseline.pt', 64    # The varied skies share it.
        self.regressor = f'factor_regressor_{name}.pt'

    def draw(self, settings, count, generator):
        return (*landscape.landscapes(count, settings['resolution'], generator=generator, skies=self.skies), None)

    def factor_batch(self, resolution, cells, count, generator):
        images, labels = landscape.landscapes(count, resolution, generator=generator, skies=self.skies)
        return (images, *landscape_factors(images, labels, GRID, skies=self.skies))

    def feature_layout(self, resolution, cells, groups):
        n = groups[-1][2]
        parts = {'layout': ['layout', 'detail'], **{name: [name] for name in landscape.CLASS_NAMES}}
        if self.skies:
            parts['sky'].append('sky_spread')
        return 2, None, [('detail', n, n + 4)], parts


class FaceScene(Scene):
    """The aligned faces and portraits: their factors are the drawn values (a colour takes 3 columns); the parts are
    'shared' (the shared factors and the whole image's detail) and each preset (its factors and its box's detail)."""
    module = None
    binary_masks = False

    def draw(self, settings, count, generator):
        return self.function(count, settings['resolution'], generator=generator)

    def function(self, count, resolution, generator):
        """The module's drawing function: faces.faces or portraits.portraits."""
        return getattr(self.module, self.name)(count, resolution, generator=generator)

    def factor_batch(self, resolution, cells, count, generator):
        images, _, values = self.function(count, resolution, generator)
        return (images, *factor_columns(values, self.module.FACTOR_NAMES))

    def feature_layout(self, resolution, cells, groups):
        n = groups[-1][2]
        box_mask = box_centre_mask if self.binary_masks else box_coverage
        masks = torch.stack([torch.ones(resolution, resolution)] +
                            [box_mask([preset_box(part)], resolution, resolution) for part in self.module.FACTOR_PARTS])
        regions = ('shared', *self.module.FACTOR_PARTS)
        detail = [(f'{part}/detail', n + i, n + i + 1) for i, part in enumerate(regions)]
        parts = {part: [*(self.module.SHARED_FACTORS if part == 'shared' else self.module.FACTOR_PARTS[part]),
                        f'{part}/detail'] for part in regions}
        return 2, masks, detail, parts


class Faces(FaceScene):
    name, module = 'faces', faces_module
    summary = 'procedural aligned faces (32 px), boxes on the eyes, nose and mouth'
    links = [{'name': 'eyes', 'axes': '0:16', 'region': {'preset': 'eyes'}},
             {'name': 'nose', 'axes': '16:32', 'region': {'preset': 'nose'}},
             {'name': 'mouth', 'axes': '32:48', 'region': {'preset': 'mouth'}}]
    baseline, baseline_kimg = 'faces_baseline.pt', 320
    regressor = 'factor_regressor_faces.pt'
    # The faces' parts are a few pixels at 32 px: three times the steps, a sharper augmentation and a wider network
    # read eyes and mouth (factors.py's docstring has the table).
    factor_settings = dict(steps=1500, blur=0.5, width=24, hidden=192)


class Portraits(FaceScene):
    name, module, binary_masks = 'portraits', portraits_module, True
    summary = ('64 px portraits whose eyes, nose and mouth carry their own content (binary boxes; the Table 2 '
               'testbed)')
    resolution = 64
    # One link per part, 1/8 of the demo's 64-d W each (the paper's Table 3 optimum), the paper's binary masks.
    links = [{'name': 'eyes', 'axes': '0:8', 'region': {'preset': 'eyes', 'binary': True}},
             {'name': 'nose', 'axes': '8:16', 'region': {'preset': 'nose', 'binary': True}},
             {'name': 'mouth', 'axes': '16:24', 'region': {'preset': 'mouth', 'binary': True}}]
    regressor = 'factor_regressor_portraits.pt'
    factor_settings = dict(steps=1500, blur=1.0, width=24, hidden=192)


#----------------------------------------------------------------------------
# The factors read from the pixels of the cells and the landscapes (the faces' are their drawn values).

def block_shares(mask, grid):
    """[..., s, s] bool -> [..., grid * grid] share of True per block (s a multiple of grid)."""
    b = mask.shape[-1] // grid
    m = mask.float().reshape(*mask.shape[:-2], grid, b, grid, b)
    return m.mean(dim=(-1, -3)).flatten(-2)


def cell_factors(images, cells=2, grid=GRID):
    """The factors of sharp 'cells' scenes (module docstring), read from their pixels.

    Args:
        images: [N, 3, R, R] scenes of data.scenes (R / cells a multiple of grid).
        cells:  cells per side.
    Returns:
        (float32 [N, cells * cells * (6 + grid * grid)], groups [(name, start, stop)]).
    """
    N, C, R, _ = images.shape
    K, s = cells, R // cells
    if R % K or s % grid:
        raise ValueError(f'cell_factors: the cell size ({R} / {K}) must be a multiple of {grid}')
    x = images.float().reshape(N, C, K, s, K, s).permute(0, 2, 4, 1, 3, 5).reshape(N, K * K, C, s, s)
    bg = x[..., 0, 0]                                                       # [N, K*K, 3]
    on = (x - bg[..., None, None]).abs().amax(dim=2) > 1e-6                 # [N, K*K, s, s]
    count = on.sum(dim=(-1, -2))[..., None]                                 # [N, K*K, 1]
    fg = torch.where(count > 0, (x * on[:, :, None]).sum(dim=(-1, -2)) / count.clamp(min=1), bg)
    factors = torch.cat([bg, fg, block_shares(on, grid)], dim=2)           # [N, K*K, 6 + grid^2]
    per_cell, groups = factors.shape[2], []
    for cell in range(K * K):
        o = cell * per_cell
        groups += [(f'cell{cell}/background', o, o + 3), (f'cell{cell}/foreground', o + 3, o + 6),
                   (f'cell{cell}/shape', o + 6, o + per_cell)]
    return factors.reshape(N, -1), groups


def landscape_factors(images, labels, grid=GRID, skies=False):
    """The factors of sharp landscapes (module docstring), read from their pixels and label maps.

    Args:
        images: [N, 3, R, R]; labels: int64 [N, R, R] (landscape.landscapes; R a multiple of grid).
        skies:  also the sky's spread (the 'skies' scene).
    Returns:
        (float32 [N, 3 * grid * grid + 9 (+ 3 with skies)], groups [(name, start, stop)]).
    """
    R = images.shape[2]
    if R % grid:
        raise ValueError(f'landscape_factors: the resolution ({R}) must be a multiple of {grid}')
    layout = torch.cat([block_shares(labels == k, grid) for k in range(len(landscape.CLASS_NAMES))], dim=1)
    colours = []
    for k in range(len(landscape.CLASS_NAMES)):
        m = (labels == k)[:, None].float()                                  # [N, 1, R, R]
        count = m.sum(dim=(2, 3))
        centre = torch.tensor([(lo + hi) / 2 for lo, hi in landscape.CLASS_COLOURS[k]])[None]
        colours.append(torch.where(count > 0, (images.float() * m).sum(dim=(2, 3)) / count.clamp(min=1), centre))
    n = layout.shape[1]
    groups = [('layout', 0, n)] + [(name, n + 3 * k, n + 3 * k + 3) for k, name in enumerate(landscape.CLASS_NAMES)]
    if skies:
        m = (labels == landscape.SKY)[:, None].float()
        count = m.sum(dim=(2, 3)).clamp(min=1)
        mean = (images.float() * m).sum(dim=(2, 3)) / count
        var = ((images.float() - mean[:, :, None, None]).square() * m).sum(dim=(2, 3)) / count
        colours.append(var.sqrt())
        groups.append(('sky_spread', groups[-1][2], groups[-1][2] + 3))
    return torch.cat([layout] + colours, dim=1), groups


def factor_columns(values, names):
    """A scene's drawn factors {name: [N] or [N, 3]} as columns in `names` order (a colour takes 3): (float32
    [N, F], groups [(factor name, start, stop)])."""
    columns, groups, start = [], [], 0
    for name in names:
        value = values[name].float()
        value = value[:, None] if value.ndim == 1 else value
        columns.append(value)
        groups.append((name, start, start + value.shape[1]))
        start += value.shape[1]
    return torch.cat(columns, dim=1), groups

#----------------------------------------------------------------------------
# The registry.

REGISTRY = {scene.name: scene for scene in (Cells(), Landscapes('landscape', skies=False),
                                             Landscapes('skies', skies=True), Faces(), Portraits())}
SCENES = tuple(REGISTRY)


def scenes_help():
    """'name: summary; ...' of every scene, for the commands' --scene help."""
    return '; '.join(f'{scene.name}: {scene.summary}' for scene in REGISTRY.values()) + '.'


def scene_of(settings_or_name):
    """The Scene of a name, or of settings['scene'] (default 'cells'); ValueError naming the unknown scene."""
    name = settings_or_name if isinstance(settings_or_name, str) else settings_or_name.get('scene', 'cells')
    if name not in REGISTRY:
        raise ValueError(f'unknown scene {name!r} (known: {", ".join(SCENES)})')
    return REGISTRY[name]


def scene_stream(settings, batch, seed):
    """scene_of(settings).stream(settings, batch, seed): the settings' scene, batch after batch."""
    return scene_of(settings).stream(settings, batch, seed)


def scene_images(settings, count, generator):
    """`count` scenes [count, 3, R, R] of the settings' scene (scene_of(settings).images)."""
    return scene_of(settings).images(settings, count, generator)

#----------------------------------------------------------------------------
