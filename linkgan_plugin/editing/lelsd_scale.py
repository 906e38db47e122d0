"""The scales, streams and schedule of the LELSD search (`editing.lelsd`, whose docstring says why each is there):

    sample_latents(gen, n, seed, stream, truncation)   seeded latents; held_out_latents: the held-out stream
    w_scale(gen, truncation, samples, seed)            W's spread w_rms and D, the typical distance of two codes
    strength_grid(lo, hi), draw_strengths(...)         edit strengths in units of D: octaves, log-uniform draws
    unit_direction(u, rows)                            a direction scaled to a unit edit (as compare measures it)
    Plateau(window, tol, halvings)                     the plateau rule that halves the lr and stops the search

Streams: lelsd draws from seeded_generator(seed, LELSD_STREAM, STREAMS[purpose], ...), which never meets compare's
evaluation streams (seed, 0 | 1 | 2 | 1000): search batches, held-out latents, the scale's samples, initial
directions, the order of directions and the strengths each have their own.
"""

import math

import numpy as np
import torch

from linkgan_plugin.render import seeded_generator

LELSD_STREAM = 0x1e15d
STREAMS = dict(search=1, held_out=2, scale=3, init=4, order=5, strengths=6)

#----------------------------------------------------------------------------
# Latents and W's scale.

def sample_latents(gen, count, seed, stream=0, truncation=1.0):
    """(ws [count, num_ws, w_dim], c) on gen.device from seeded streams. The draw is fixed by (seed, stream, count);
    a different count draws other samples (torch's normal sampler vectorises larger draws), so callers split one
    draw into batches.

    stream: an int (z from stream `stream` of `seed`, c from `stream + 1000`: compare's evaluation samples) or a
            tuple of ints (z from (seed, *stream), c from (seed, *stream, 1000)).
    """
    many = isinstance(stream, (tuple, list))
    keys, c_keys = (tuple(stream), tuple(stream) + (1000,)) if many else ((stream,), (stream + 1000,))
    z = torch.randn([count, gen.z_dim], generator=seeded_generator(seed, *keys))
    c = gen.default_c(count, generator=seeded_generator(seed, *c_keys)).to(gen.device)
    with torch.no_grad():
        ws = gen.map(z.to(gen.device), c, truncation)
    return ws, c


def search_latents(gen, count, seed, batch_index, truncation):
    """The latents of search batch `batch_index` of direction seed `seed`."""
    return sample_latents(gen, count, seed, (LELSD_STREAM, STREAMS['search'], batch_index), truncation)


def held_out_latents(gen, count, seed, truncation):
    """The held-out latents of `seed`: their own stream, no search batch of any seed and no compare sample."""
    return sample_latents(gen, count, seed, (LELSD_STREAM, STREAMS['held_out']), truncation)


def w_scale(gen, truncation, samples, seed):
    """W's spread at `truncation`, from `samples` mapped z (their own stream).

    Returns:
        {'w_rms': root-mean-square per-axis deviation from the mean (the spread `project.w_statistics` measures),
         'distance': D, mean ||w_2i - w_2i+1|| over independent pairs (row 0 of ws), 'samples', 'truncation'}.
    Raises:
        ValueError when W has no spread (nothing to scale directions by).
    """
    n = 2 * max(1, samples // 2)
    ws, _ = sample_latents(gen, n, seed, (LELSD_STREAM, STREAMS['scale']), truncation)
    w = ws[:, 0].double()
    rms = float((w - w.mean(dim=0)).square().mean().sqrt())
    distance = float((w[0::2] - w[1::2]).norm(dim=1).mean())
    if not (rms > 0 and distance > 0):
        raise ValueError(f'W has no spread at truncation {truncation} (w_rms {rms}, D {distance}): nothing to scale '
                         'directions by')
    return {'w_rms': rms, 'distance': distance, 'samples': n, 'truncation': float(truncation)}

#----------------------------------------------------------------------------
# Strengths and directions.

def strength_grid(lo, hi):
    """Octaves from lo up to hi, hi included: (0.125, 2) -> [0.125, 0.25, 0.5, 1, 2]; ValueError unless 0 < lo <= hi."""
    if not 0 < lo <= hi:
        raise ValueError(f'strengths must satisfy 0 < lo <= hi, got ({lo}, {hi})')
    grid = [lo * 2.0 ** k for k in range(int(math.floor(math.log2(hi / lo) + 1e-9)) + 1)]
    return grid + ([float(hi)] if grid[-1] < hi * (1 - 1e-9) else [])


def draw_strengths(count, lo, hi, generator):
    """[count] signed strengths (CPU): |a| log-uniform on [lo, hi], sign +-1 with equal odds."""
    u = torch.rand([2, count], generator=generator)
    magnitude = torch.exp(math.log(lo) + u[0] * (math.log(hi) - math.log(lo)))
    return torch.where(u[1] < 0.5, -magnitude, magnitude)


def unit_direction(u, rows=None):
    """u scaled to a unit edit (differentiable): W [w_dim] to norm 1; W+ [num_ws, w_dim] to an RMS row norm of 1 over
    the used rows (`rows`: a [num_ws] 0/1 mask; default the non-zero rows)."""
    if u.ndim == 1:
        return u / u.norm().clamp(min=1e-12)
    used = (u.detach().norm(dim=1) > 0) if rows is None else rows.bool()
    rms = u[used].norm(dim=1).square().mean().sqrt() if used.any() else u.new_tensor(1.0)
    return u / rms.clamp(min=1e-12)

#----------------------------------------------------------------------------
# The plateau rule.

class Plateau:
    """Stops a noisy ascent, fed the training score of every step. Every `window` steps the mean of the last window is
    compared with the best earlier window's mean; a gain of at most `tol` (relative) is a plateau. The first
    `halvings` plateaus answer 'halve' (the caller halves its lr), the next one 'stop'.

        rule = Plateau(window=50, tol=0.01, halvings=2)
        action = rule.update(score)          # None, 'halve' or 'stop'
    """

    def __init__(self, window, tol, halvings):
        if window < 1 or tol < 0 or halvings < 0:
            raise ValueError(f'the plateau rule needs window >= 1, tol >= 0, halvings >= 0; got {window}, {tol}, '
                             f'{halvings}')
        self.window, self.tol, self.halvings = window, tol, halvings
        self.scores, self.best, self.halved = [], None, 0

    def update(self, score):
        self.scores.append(float(score))
        if len(self.scores) % self.window:
            return None
        mean = float(np.mean(self.scores[-self.window:]))
        plateau = self.best is not None and mean - self.best <= self.tol * abs(self.best)
        self.best = mean if self.best is None else max(self.best, mean)
        if not plateau:
            return None
        if self.halved >= self.halvings:
            return 'stop'
        self.halved += 1
        return 'halve'

#----------------------------------------------------------------------------
