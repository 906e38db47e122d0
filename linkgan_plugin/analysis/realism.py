"""How real a set of generated images looks, each measure beside its real-vs-real floor: one function and one
schema for the demo, `linkgan eval`, `linkgan pair`, `linkgan compare` and the lab.

    quality = measure_quality(fake, real, floor_real, features)

Measures (fake and real: [N, C, H, W] in [-1, 1], N of each):
    swd        sliced Wasserstein distance on Laplacian-pyramid patches (quality.py; x1e3, lower is better);
    coverage   precision and recall (coverage.py, k = 3; higher is better) in `features`: a scene's factor space
               (demo/factors.py) or the generic RandomConvFeatures. SWD alone cannot see collapse (a few real images
               repeated score a good SWD); recall can.
Floors: the same measures between a second, disjoint set of N real images (`floor_real`) and the same reference set
`real`, measured exactly like a model's: what a perfect generator would score at this size. `real_floors` computes
them alone (for callers that measure many models against one reference and keep them).

Schema (JSON-able):
    {'images': N,
     'swd': {'levels': {resolution: value}, 'mean'},
     'swd_floor': {'levels', 'mean', 'images'} | None,
     'coverage': {'precision', 'recall', 'measure', 'joint', 'parts'?, 'k', 'real', 'fake', 'features',
                  'floor': {'precision', 'recall', 'joint', 'parts'?} | None} | None   (None when N <= k),
     'floor_note': None, or why the floors are missing}
"""

import torch

from linkgan_plugin.analysis.coverage import coverage, DEFAULTS as COVERAGE_DEFAULTS, RandomConvFeatures
from linkgan_plugin.analysis.quality import sliced_wasserstein, swd_floor

FLOOR_KEYS = ('precision', 'recall', 'joint', 'parts')

#----------------------------------------------------------------------------

def real_floors(real, floor_real, features=None, seed=0):
    """The real-vs-real floors: {'swd_floor': swd_floor(...), 'coverage_floor': {precision, recall, joint, parts}
    or None (N <= k)} of `floor_real` against the reference set `real` (both [N, C, H, W])."""
    n = real.shape[0]
    if floor_real.shape[0] != n:
        raise ValueError(f'floor_real must hold as many images as real ({n}), got {floor_real.shape[0]}')
    out = {'swd_floor': swd_floor(torch.cat([real, floor_real]), n, seed=seed), 'coverage_floor': None}
    if n > COVERAGE_DEFAULTS['k']:
        cov = coverage(floor_real, real, _features(features))
        out['coverage_floor'] = {k: cov[k] for k in FLOOR_KEYS if k in cov}
    return out


def measure_quality(fake, real, floor_real=None, features=None, seed=0, floors=None, floor_note=None):
    """SWD and coverage of `fake` against `real`, each with its floor (module docstring has the schema).

    Args:
        fake, real:  [N, C, H, W] in [-1, 1], the same N and channels.
        floor_real:  [N, C, H, W] real images disjoint from `real` for the floors, or None.
        features:    coverage's feature space (default RandomConvFeatures()).
        seed:        the SWD's seed (patch positions, directions).
        floors:      real_floors(...) computed before (then floor_real is not needed), or None.
        floor_note:  why there are no floors, when neither floor_real nor floors is given.
    """
    if fake.shape[0] != real.shape[0] or fake.shape[1] != real.shape[1]:
        raise ValueError(f'fake {list(fake.shape)} and real {list(real.shape)} need the same number of images and '
                         'channels')
    if floors is None and floor_real is not None:
        floors = real_floors(real, floor_real, features, seed)
    out = {'images': int(real.shape[0]), 'swd': sliced_wasserstein(fake, real, seed=seed),
           'swd_floor': floors and floors['swd_floor'], 'coverage': None,
           'floor_note': None if floors else (floor_note or 'no second real set: no real-vs-real floors')}
    if real.shape[0] > COVERAGE_DEFAULTS['k']:          # k-NN radii need more than k samples.
        out['coverage'] = {**coverage(fake, real, _features(features)), 'floor': floors and floors['coverage_floor']}
    return out


def _features(features):
    return RandomConvFeatures() if features is None else features

#----------------------------------------------------------------------------
