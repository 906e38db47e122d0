"""How the demo measures one model: every linkage metric of every link, the quality distance to real scenes, and
the coverage of the real scenes (precision / recall), each beside its real-vs-real floor.

    evaluation = evaluate_model(G_ema, spec, settings)
    # {'links': {link: {metric: mean, metric_std: std, 'locality': ...}}, 'quality': {'levels': {...}, 'mean': swd},
    #  'pixel_std': float, 'quality_floor': {'levels', 'mean', 'images'},
    #  'coverage': {'precision', 'recall', 'measure', 'joint', 'parts' (factor spaces), 'k', 'features', 'real', 'fake',
    #               'floor': {'precision', 'recall', 'joint', 'parts'}}}

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
Floors (`real_floors`): the same measures between the real scenes and a second, disjoint set of as many real scenes
(FLOOR_SEED_OFFSET): what a perfect generator would score at this sample size. Computed once per process and
settings. With 3 samples or fewer (k-NN radii need more than k) 'coverage' and 'quality_floor' are None.
"""

import torch

from linkgan_plugin.analysis.coverage import coverage, DEFAULTS as COVERAGE_DEFAULTS, RandomConvFeatures
from linkgan_plugin.analysis.datasets import generated_images
from linkgan_plugin.analysis.generator import GeneratorAdapter
from linkgan_plugin.analysis.metrics import evaluate_links
from linkgan_plugin.analysis.quality import sliced_wasserstein, swd_floor
from linkgan_plugin.demo.data import scene_images
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
    resolution and cells (demo/factors.py SHIPPED: every demo scene at 32 px), else the generic
    analysis.coverage.RandomConvFeatures (no training in an evaluation). Its `name` goes into the report."""
    return factor_features(settings, train=False) or RandomConvFeatures()


def model_coverage(fake, settings, real=None):
    """Coverage of generated images [N, 3, R, R] (N = settings['samples']) against real_scenes(settings), in
    evaluation_features(settings). Returns analysis.coverage.coverage's dict."""
    real = real_scenes(settings) if real is None else real
    return coverage(fake, real, evaluation_features(settings))


def real_floors(settings, real=None):
    """The real-vs-real floors at settings['samples'] images: floor_scenes against real_scenes, measured like a
    model (the same reference set, seed and settings).

    Returns:
        {'quality_floor': quality.swd_floor(...) ({'levels', 'mean', 'images'}),
         'coverage_floor': {'precision', 'recall', 'joint', 'parts'}}.
    """
    key = (settings.get('scene', 'cells'), settings['resolution'], settings.get('cells'), settings['samples'],
           settings['seed'])
    if key not in _FLOORS:
        real = real_scenes(settings) if real is None else real
        other = floor_scenes(settings)
        cov = coverage(other, real, evaluation_features(settings))
        _FLOORS[key] = {'quality_floor': swd_floor(torch.cat([real, other]), real.shape[0], seed=settings['seed']),
                        'coverage_floor': {k: cov[k] for k in ('precision', 'recall', 'joint', 'parts') if k in cov}}
    return {k: _copy(v) for k, v in _FLOORS[key].items()}


def _copy(value):
    return {k: _copy(v) for k, v in value.items()} if isinstance(value, dict) else value


def evaluate_model(G_ema, spec, settings, progress=None):
    """Linkage metrics (image output), the quality distance and the coverage of one generator, with the floors.
    See module docstring."""
    gen = GeneratorAdapter(G_ema)
    measured = evaluate_links(gen, spec, samples=settings['samples'], batch=64, seed=settings['seed'],
                              progress=progress)
    fake = generated_images(gen, settings['samples'], seed=settings['seed'])
    real = real_scenes(settings)
    swd = sliced_wasserstein(fake, real, seed=settings['seed'])
    if progress is not None:
        progress(settings['samples'])
    result = {'links': measured['results']['image'], 'quality': swd, 'pixel_std': float(fake.std(dim=0).mean())}
    # Added after the numbers above; nothing below draws from the global RNG.
    if settings['samples'] <= COVERAGE_DEFAULTS['k']:          # k-NN radii need more than k samples.
        result.update(quality_floor=None, coverage=None)
        return result
    floors = real_floors(settings, real)
    result['quality_floor'] = floors['quality_floor']
    result['coverage'] = {**model_coverage(fake, settings, real), 'floor': floors['coverage_floor']}
    return result

#----------------------------------------------------------------------------
