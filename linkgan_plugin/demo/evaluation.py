"""How the demo measures one model: every linkage metric of every link, and the realism of its samples against
real scenes (analysis/realism.py: SWD and precision / recall, each beside its real-vs-real floor).

    evaluation = evaluate_model(G_ema, spec, settings)
    # {'links': {link: {metric: mean, metric_std: std, 'locality': ...}}, 'pixel_std': float,
    #  'quality': realism.measure_quality's schema: {'images', 'swd', 'swd_floor', 'coverage' (with 'floor'), ...}}

Linkage: `metrics.evaluate_links` on `settings['samples']` fixed-seed samples (the evaluation seed is the demo's
seed, so the baseline, the control and the linked model are measured on the same latents and perturbations).
Quality: the sliced Wasserstein distance (quality.py) between as many generated images and real scenes drawn from
a seed the training stream never uses (REAL_SEED_OFFSET).
Coverage (computed after the numbers above, drawing nothing from the global RNG, so they stay bit-identical):
precision and recall (analysis/coverage.py, k = 3) of the same generated images against the same real scenes, in
the demo's factor space (demo/factors.py: what each cell, landscape or face part shows, and how sharp it is; the
headline is the worst part), or for scene sizes without a shipped regressor the generic random-network features
(the 'features' key says which). SWD alone cannot see collapse: 16 real scenes repeated score a better SWD than the
shipped baseline, and a recall of 0.
Floors (`scene_floors`): the same measures between the real scenes and a second, disjoint set of as many real scenes
(FLOOR_SEED_OFFSET): what a perfect generator would score at this sample size. Computed once per process and
settings. With 3 samples or fewer (k-NN radii need more than k) the coverage is None.
"""

import copy

import torch

from linkgan_plugin.analysis.coverage import RandomConvFeatures
from linkgan_plugin.analysis.datasets import generated_images
from linkgan_plugin.analysis.generator import GeneratorAdapter
from linkgan_plugin.analysis.metrics import evaluate_links
from linkgan_plugin.analysis.realism import measure_quality, real_floors
from linkgan_plugin.demo.scenes import scene_images
from linkgan_plugin.demo.factors import factor_features

REAL_SEED_OFFSET = 1_000_003        # Real scenes for the quality distance: a stream no training run draws from.
FLOOR_SEED_OFFSET = 3_000_017       # The second real set of the floors: a stream nothing else draws from.

_FLOORS = {}

#----------------------------------------------------------------------------

def real_scenes(settings, count=None):
    """Held-out real scenes [count, 3, R, R] in [-1, 1] (default count: settings['samples'])."""
    g = torch.Generator().manual_seed(settings['seed'] + REAL_SEED_OFFSET)
    return scene_images(settings, count or settings['samples'], generator=g)


def floor_scenes(settings, count=None):
    """A second set of held-out real scenes, disjoint from real_scenes' (its own stream): [count, 3, R, R]."""
    g = torch.Generator().manual_seed(settings['seed'] + FLOOR_SEED_OFFSET)
    return scene_images(settings, count or settings['samples'], generator=g)


def evaluation_work(settings):
    """Units of progress one evaluate_model call reports (for progress bars)."""
    return 2 * settings['samples']


def evaluation_features(settings):
    """The feature space coverage is measured in: the settings' factor space where a regressor ships for its scene,
    resolution and cells (Scene.regressor: every demo scene at its own resolution), else the generic
    analysis.coverage.RandomConvFeatures (no training in an evaluation). Its `name` goes into the report."""
    return factor_features(settings, train=False) or RandomConvFeatures()


def scene_floors(settings, real=None):
    """realism.real_floors of floor_scenes against real_scenes at settings['samples'] images in the settings'
    evaluation_features, cached per process and settings (every model of a run is measured against them)."""
    key = (settings.get('scene', 'cells'), settings['resolution'], settings.get('cells'), settings['samples'],
           settings['seed'])
    if key not in _FLOORS:
        real = real_scenes(settings) if real is None else real
        _FLOORS[key] = real_floors(real, floor_scenes(settings), evaluation_features(settings), seed=settings['seed'])
    return copy.deepcopy(_FLOORS[key])


def scene_quality(fake, settings, real=None):
    """realism.measure_quality of generated images [N, 3, R, R] (N = settings['samples']) against real_scenes, with
    the floors of scene_floors, in evaluation_features(settings)."""
    real = real_scenes(settings) if real is None else real
    return measure_quality(fake, real, features=evaluation_features(settings), seed=settings['seed'],
                           floors=scene_floors(settings, real) if settings['samples'] > 1 else None,
                           floor_note='one sample: no floors')


def evaluate_model(G_ema, spec, settings, progress=None):
    """Linkage metrics (image output) and the realism of one generator's samples (module docstring)."""
    gen = GeneratorAdapter(G_ema)
    measured = evaluate_links(gen, spec, samples=settings['samples'], batch=64, seed=settings['seed'],
                              progress=progress)
    fake = generated_images(gen, settings['samples'], seed=settings['seed'])
    result = {'links': measured['results']['image'], 'pixel_std': float(fake.std(dim=0).mean()),
              'quality': scene_quality(fake, settings)}
    if progress is not None:
        progress(settings['samples'])
    return result

#----------------------------------------------------------------------------
