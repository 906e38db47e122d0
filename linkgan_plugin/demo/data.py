"""The demo's synthetic dataset: procedural scenes whose cells vary strongly and independently.

A scene of resolution R is a `cells x cells` grid (default 2 x 2: the four quadrants, 16-pixel cells at R = 32).
Every cell draws, on its own and from its own random numbers:
    1. a background colour, uniform in [-1, 1]^3;
    2. a foreground colour, uniform in [-1, 1]^3;
    3. a pattern: blank, disc, square (random size), or the cell split into two halves, top/bottom or left/right
       (a random split position): large shapes a small generator learns in a few thousand images.
So every cell changes strongly from scene to scene, and what happens in one cell says nothing about any other cell:
a link to a box made of whole cells (with the default grid: a quadrant, a half) has content that can vary on its
own, which is exactly what LinkGAN asks the generator to expose through the linked axes. A box that cuts through a
cell asks the generator to change part of a shape while keeping the rest, which the data never shows.

Why 2 x 2 by default: the demo's generator must learn the data in about two minutes of CPU training. With 2 x 2
cells (about 30 independent factors, for a 32-d z) the baseline draws recognisable cells, and the link fine-tune
can then confine each quadrant to its axes. With 4 x 4 cells (about 130 factors) the baseline only draws blurry
image-wide stripes, and the fine-tune mostly dulls the whole image (edit_i fell to ~0.3 of the baseline's).
`cells=4` stays available (`linkgan demo --cells 4`) for finer boxes on a bigger budget.

    images = scenes(batch, resolution=32, generator=g)    # [batch, 3, R, R] float32 in [-1, 1]
    stream = scene_of('cells').stream(settings, batch=32, seed=0)   # scenes.py: an endless, reproducible stream
"""

import math

import torch


PATTERNS = ('blank', 'disc', 'square', 'hsplit', 'vsplit')

#----------------------------------------------------------------------------

def scenes(batch, resolution=32, cells=2, generator=None, light=0.0):
    """Draws `batch` independent scenes.

    Args:
        batch:      number of images.
        resolution: image size R (R must be a multiple of `cells`).
        cells:      cells per side.
        generator:  torch.Generator for reproducibility (default: the global RNG).
        light:      strength in [0, 1] of a lighting every cell shares (apply_shared_light); 0: none, and the
                    random numbers drawn are exactly those of the scenes without it.
    Returns:
        float32 [batch, 3, R, R] in [-1, 1].
    """
    if resolution % cells:
        raise ValueError(f'resolution ({resolution}) must be a multiple of cells ({cells})')
    N, K, R = batch, cells, resolution
    rand = lambda *shape: torch.rand(shape, generator=generator)
    bg = rand(N, 3, K, K) * 2 - 1                                   # [N, 3, K, K]
    fg = rand(N, 3, K, K) * 2 - 1
    kind = (rand(N, K, K) * len(PATTERNS)).long().clamp(max=len(PATTERNS) - 1)
    size = 0.2 + 0.25 * rand(N, K, K)                               # disc radius / square half-side, cell units.
    split = 0.3 + 0.4 * rand(N, K, K)                               # split position, cell units.

    # Per-pixel cell coordinates u (column) and v (row) in [0, 1), and per-pixel cell parameters.
    s = R // K
    t = (torch.arange(R) % s + 0.5) / s                             # [R]
    v, u = t[:, None].expand(R, R), t[None, :].expand(R, R)
    up = lambda a: a.repeat_interleave(s, dim=-1).repeat_interleave(s, dim=-2)
    kind_p, size_p, split_p = up(kind), up(size), up(split)       # [N, R, R]

    du, dv = u - 0.5, v - 0.5
    disc = (du.square() + dv.square()) < size_p.square()
    square = torch.maximum(du.abs(), dv.abs()) < size_p
    hsplit = v > split_p
    vsplit = u > split_p
    on = torch.zeros(N, R, R, dtype=torch.bool)
    for k, shape in enumerate((None, disc, square, hsplit, vsplit)):
        if shape is not None:
            on |= (kind_p == k) & shape
    img = torch.where(on[:, None], up(fg), up(bg))
    if light:
        img = apply_shared_light(img, light, generator)
    return img.contiguous()


def apply_shared_light(images, light, generator=None):
    """Lights whole scenes, as a face is lit: one factor that crosses every cell, so a box made of cells no longer
    holds content that varies on its own (its colour moves with the rest of the image).

    Per image, drawn after the cells: a light colour L uniform in [0, 1]^3, a strength s = light * U(0.3, 0.7) and a
    ramp across the image along a random direction, from 0.5 on the far side to 1 on the lit side. Every pixel's
    intensity y = (x + 1) / 2 moves toward the light: y' = (1 - s * ramp) * y + s * ramp * L, a convex mix, so the
    result stays in [-1, 1]. At light 1 the quadrants' mean colours correlate across images (about 0.3, against 0 for
    the plain scenes: tests/test_demo.py).

    Args:
        images: [N, 3, R, R] in [-1, 1].
        light:  strength in (0, 1].
    Returns:
        [N, 3, R, R] in [-1, 1].
    """
    N, _, R, _ = images.shape
    colour = torch.rand([N, 3, 1, 1], generator=generator)
    strength = light * (0.3 + 0.4 * torch.rand([N, 1, 1, 1], generator=generator))
    angle = 2 * math.pi * torch.rand([N, 1, 1], generator=generator)
    t = ((torch.arange(R, dtype=torch.float32) + 0.5) / R - 0.5) / math.sqrt(0.5)   # [-0.71, 0.71] / 0.71
    along = torch.cos(angle) * t[None, None, :] + torch.sin(angle) * t[None, :, None]       # [N, R, R] in [-1, 1]
    mix = strength * (0.75 + 0.25 * along)[:, None]
    return ((1 - mix) * (images + 1) / 2 + mix * colour) * 2 - 1

#----------------------------------------------------------------------------
