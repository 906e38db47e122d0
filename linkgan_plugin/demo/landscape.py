"""The semantic demo's dataset: procedural landscapes whose classes change shape and place from image to image.

Every scene of resolution R is drawn at run time (nothing downloaded) from its own random numbers, back to front:
    1. SKY (class 0) fills the image: a vertical gradient from a deep top colour to a paler one at the horizon;
    2. the horizon y(x) = height + tilt * (x - 0.5) + bend * (x - 0.5)^2 (x, y in [0, 1], y down) with a random
       height in [0.35, 0.7], tilt in [-0.3, 0.3] and bend in [-0.8, 0.8] (hills and valleys);
    3. one OBJECT (class 2) of a random kind, position and size:
         'sun'   a disc in the sky (radius 0.08-0.16 of the width); it sets behind the ground when low;
         'tree'  a disc (radius 0.09-0.17) whose centre sits near the horizon, over sky and ground alike;
         'house' an upright block (0.16-0.34 wide, 0.14-0.30 tall) standing on the ground just below the horizon;
    4. GROUND (class 1) covers everything below the horizon except a tree or a house standing in front of it:
       a base colour darkening towards the bottom, with a gentle furrow shading (1-3 periods over its depth).
So the sky's area, outline and place change from scene to scene (the horizon moves, an object may cut into it),
which is what a semantic link (sky <-> some axes) must follow per sample.

Varied skies (`skies=True`, the 'skies' scene): the plain sky above is one blue gradient, so what a sky link's axes
can move is mostly the horizon, which the ground shares. With varied skies each scene's sky also has the variation
real skies have, drawn after everything else (so the layout, ground and object draws are the plain scene's):
    - a time of day, one of SKY_TIMES ('day' blue, 'dusk' violet to pink, 'overcast' grey-white, 'night' navy),
      each a gradient between its own top and horizon colour ranges;
    - a brightness gain in [0.8, 1.1] (on (colour + 1) / 2);
    - 0 to 3 clouds: soft ellipses (half-widths 0.10-0.25, half-heights 0.04-0.09 of the image) of a lighter tone of
      the horizon colour, opacity 0.4-0.9, anywhere above the horizon; the ground and objects cover them.
The sky's colour law stays 'blue >= 0.4' (its red and green span the whole range), so `colour_labels` still reads
the classes from colour alone.

Colour laws (CLASS_COLOURS, channel ranges in [-1, 1]): every pixel of a class lies in its class's RGB box, and
the boxes are far apart (the sky's blue is >= 0.4, everything else's <= -0.5; among the rest, the object's red is
>= 0.55, the ground's <= 0.1), so `colour_labels` recovers the label map from the colours alone, with margins wide
enough to survive a blur. Shapes are large and the only texture is low-frequency, so a tiny StyleGAN2-shaped
generator can learn the scenes at 32 x 32 on a CPU.

    images, labels = landscapes(batch, resolution=32, generator=g)   # [N, 3, R, R] float32 in [-1, 1], [N, R, R] int64
    images, labels = landscapes(batch, generator=g, skies=True)      # the same scenes' layout under varied skies
    stream = scene_of('skies').stream(settings, 32, seed=0)           # scenes.py: endless (images, labels) batches
"""

import math

import torch

SKY, GROUND, OBJECT = 0, 1, 2
CLASS_NAMES = ('sky', 'ground', 'object')
OBJECT_KINDS = ('sun', 'tree', 'house')

# Colour law of each class: per channel (R, G, B) the [low, high] range, images in [-1, 1]. The plain sky stays
# inside R [-1, 0], G [-0.8, 0.6]; varied skies use the whole law.
CLASS_COLOURS = {
    SKY:    ((-1.0, 1.0), (-0.8, 1.0), (0.4, 1.0)),
    GROUND: ((-1.0, 0.1), (-0.7, 0.6), (-1.0, -0.5)),
    OBJECT: ((0.55, 1.0), (-0.6, 0.9), (-1.0, -0.5)),
}

# Varied skies: per time of day, the (low, high) of the top colour and of the horizon colour, per channel (R, G, B).
SKY_TIMES = {
    'day':      (((-1.0, -0.5), (-0.8, 0.0), (0.45, 1.0)), ((-0.6, 0.0), (-0.3, 0.5), (0.45, 1.0))),
    'dusk':     (((-0.6, 0.0), (-0.8, -0.5), (0.4, 0.7)), ((0.4, 1.0), (-0.2, 0.4), (0.4, 0.6))),
    'overcast': (((0.0, 0.5), (0.05, 0.55), (0.4, 0.7)), ((0.4, 0.8), (0.45, 0.85), (0.5, 0.9))),
    'night':    (((-1.0, -0.9), (-0.8, -0.7), (0.4, 0.5)), ((-0.85, -0.6), (-0.7, -0.4), (0.45, 0.6))),
}
MAX_CLOUDS = 3

# Thresholds of `colour_labels`: half-way between the laws' boxes.
SKY_BLUE_MIN = -0.05        # between GROUND/OBJECT blue <= -0.5 and SKY blue >= 0.4.
OBJECT_RED_MIN = 0.325      # between GROUND red <= 0.1 and OBJECT red >= 0.55.

#----------------------------------------------------------------------------
# Scenes.

def landscapes(batch, resolution=32, generator=None, skies=False):
    """Draws `batch` independent landscapes and their label maps.

    Args:
        batch:      number of images N.
        resolution: image size R (pixels per side, >= 4).
        generator:  torch.Generator for reproducibility (default: the global RNG).
        skies:      varied skies (module docstring); False draws exactly the plain scenes.
    Returns:
        (images float32 [N, 3, R, R] in [-1, 1], labels int64 [N, R, R] with SKY=0, GROUND=1, OBJECT=2).
    """
    if resolution < 4:
        raise ValueError(f'resolution must be >= 4, got {resolution}')
    N, R = batch, resolution
    rand = lambda *shape: torch.rand(shape, generator=generator)
    uniform = lambda lo, hi, *shape: lo + (hi - lo) * rand(*shape)
    col = lambda t: t[:, None, None]                                # [N] -> [N, 1, 1] (broadcast over pixels).

    # Pixel-centre coordinates in [0, 1]: x = column, y = row (down).
    t = (torch.arange(R, dtype=torch.float32) + 0.5) / R
    y, x = t[:, None].expand(R, R), t[None, :].expand(R, R)        # [R, R]

    # 1. Horizon.
    height, tilt, bend = uniform(0.35, 0.7, N), uniform(-0.3, 0.3, N), uniform(-0.8, 0.8, N)
    horizon = lambda xs: height[:, None] + tilt[:, None] * (xs - 0.5) + bend[:, None] * (xs - 0.5) ** 2
    horizon_px = horizon(x[0][None].expand(N, R))[:, None, :]       # [N, 1, R]: the horizon at each column.
    below = y[None] >= horizon_px                                   # [N, R, R]

    # 2. Object geometry (every kind is drawn for every scene; `kind` picks one).
    kind = (rand(N) * len(OBJECT_KINDS)).long().clamp(max=len(OBJECT_KINDS) - 1)
    cx = uniform(0.15, 0.85, N)
    h_at = horizon(cx[:, None])[:, 0]                               # [N] the horizon under the object's centre.
    sun_r = uniform(0.08, 0.16, N)
    sun_cy = uniform(0.12, 1.0, N) * h_at                           # Anywhere above the horizon at cx.
    tree_r = uniform(0.09, 0.17, N)
    tree_cy = h_at + uniform(-0.05, 0.1, N)
    house_w, house_h = uniform(0.16, 0.34, N), uniform(0.14, 0.30, N)
    house_base = (h_at + uniform(0.08, 0.25, N)).clamp(max=0.98)
    dx = x[None] - col(cx)
    sun = (dx.square() + (y[None] - col(sun_cy)).square()) < col(sun_r).square()
    tree = (dx.square() + (y[None] - col(tree_cy)).square()) < col(tree_r).square()
    house = (dx.abs() < col(house_w) / 2) & (y[None] < col(house_base)) & (y[None] > col(house_base - house_h))
    k = col(kind)
    obj = ((k == 0) & sun & ~below) | ((k == 1) & tree) | ((k == 2) & house)

    labels = torch.full([N, R, R], SKY, dtype=torch.int64)
    labels[below] = GROUND
    labels[obj] = OBJECT

    # 3. Colours of each class, inside their laws (clamped to the law's box at the end).
    sky = _sky_colours(N, y, horizon_px, uniform)
    ground = _ground_colours(N, y, horizon_px, uniform)
    thing = _object_colours(N, y, kind, uniform)
    if skies:
        sky = _varied_sky_colours(N, x, y, horizon_px, uniform, rand)
    img = torch.where((labels == SKY)[:, None], sky, torch.where((labels == GROUND)[:, None], ground, thing))
    return img.contiguous(), labels


def _clamp_to_law(img, cls):
    lo = torch.tensor([r[0] for r in CLASS_COLOURS[cls]])[None, :, None, None]
    hi = torch.tensor([r[1] for r in CLASS_COLOURS[cls]])[None, :, None, None]
    return torch.maximum(torch.minimum(img, hi), lo)


def _sky_colours(N, y, horizon_px, uniform):
    """Sky: deep blue at the top to a paler, less saturated tone at the horizon. [N, 3, R, R]."""
    top = torch.stack([uniform(-1.0, -0.5, N), uniform(-0.8, 0.0, N), uniform(0.45, 1.0, N)], dim=1)
    haze = torch.stack([uniform(0.2, 0.5, N), uniform(0.2, 0.6, N), uniform(-0.1, 0.1, N)], dim=1)
    s = (y[None] / horizon_px.clamp(min=0.05)).clamp(0, 1)         # 0 at the top, 1 at the horizon. [N, R, R]
    img = top[:, :, None, None] + haze[:, :, None, None] * s[:, None]
    return _clamp_to_law(img, SKY)


def _varied_sky_colours(N, x, y, horizon_px, uniform, rand):
    """Varied skies (module docstring): a time of day's gradient, a brightness gain and 0-3 clouds. [N, 3, R, R]."""
    times = list(SKY_TIMES.values())
    time = (rand(N) * len(times)).long().clamp(max=len(times) - 1)              # [N]
    ends = []
    for end in (0, 1):                                                          # The top colour, then the horizon's.
        options = torch.stack([torch.stack([uniform(lo, hi, N) for lo, hi in t[end]], dim=1) for t in times], dim=1)
        ends.append(options[torch.arange(N), time])                             # [N, 3]
    top, low = ends
    s = (y[None] / horizon_px.clamp(min=0.05)).clamp(0, 1)[:, None]            # [N, 1, R, R]: 0 top, 1 horizon.
    img = top[:, :, None, None] + (low - top)[:, :, None, None] * s
    gain = uniform(0.8, 1.1, N)[:, None, None, None]
    img = ((img + 1) / 2 * gain) * 2 - 1
    clouds = (rand(N) * (MAX_CLOUDS + 1)).long().clamp(max=MAX_CLOUDS)        # [N] in 0..MAX_CLOUDS
    cloud_tone = low + 0.5 * (1 - low)                                          # A lighter tone of the horizon's.
    for c in range(MAX_CLOUDS):
        cx, cy_frac = uniform(0.0, 1.0, N), uniform(0.1, 0.9, N)
        rx, ry, opacity = uniform(0.10, 0.25, N), uniform(0.04, 0.09, N), uniform(0.4, 0.9, N)
        cy = cy_frac * horizon_px[:, 0].gather(1, (cx * x.shape[1]).long().clamp(max=x.shape[1] - 1)[:, None])[:, 0]
        d2 = ((x[None] - cx[:, None, None]) / rx[:, None, None]).square() + \
             ((y[None] - cy[:, None, None]) / ry[:, None, None]).square()
        alpha = (opacity * (c < clouds).float())[:, None, None] * torch.exp(-2.0 * d2)    # [N, R, R]
        img = img + alpha[:, None] * (cloud_tone[:, :, None, None] - img)
    return _clamp_to_law(img, SKY)


def _ground_colours(N, y, horizon_px, uniform):
    """Ground: green-to-brown base, darker towards the bottom, with low-frequency furrow shading. [N, 3, R, R]."""
    base = torch.stack([uniform(-0.7, -0.05, N), uniform(-0.3, 0.45, N), uniform(-1.0, -0.65, N)], dim=1)
    depth = ((y[None] - horizon_px) / (1 - horizon_px).clamp(min=0.05)).clamp(0, 1)   # 0 at the horizon, 1 at the bottom.
    periods, phase = uniform(1.0, 3.0, N), uniform(0.0, 2 * math.pi, N)
    furrow = 0.08 * torch.sin(2 * math.pi * periods[:, None, None] * depth + phase[:, None, None])
    shade = (-0.25 * depth + furrow)[:, None]                       # [N, 1, R, R]
    img = base[:, :, None, None] + shade * torch.tensor([1.0, 1.0, 0.3])[None, :, None, None]
    return _clamp_to_law(img, GROUND)


def _object_colours(N, y, kind, uniform):
    """Objects: warm colours (sun yellow-orange, tree autumn orange-red, house red-brick), lit from above."""
    red = uniform(0.65, 1.0, N)
    green = torch.stack([uniform(0.2, 0.8, N), uniform(-0.2, 0.4, N), uniform(-0.6, 0.0, N)], dim=1)
    green = green.gather(1, kind[:, None])[:, 0]
    blue = uniform(-1.0, -0.6, N)
    base = torch.stack([red, green, blue], dim=1)[:, :, None, None]
    light = 0.1 * (0.5 - y)[None, None]                             # Slightly brighter at the top of the image.
    return _clamp_to_law(base + light, OBJECT)

#----------------------------------------------------------------------------
# Colour laws.

def colour_labels(images):
    """The label map implied by the colour laws alone: blue >= SKY_BLUE_MIN -> SKY; else red >= OBJECT_RED_MIN ->
    OBJECT; else GROUND.

    Args:
        images: [N, 3, H, W] in [-1, 1].
    Returns:
        int64 [N, H, W].
    """
    r, b = images[:, 0], images[:, 2]
    labels = torch.full(r.shape, GROUND, dtype=torch.int64, device=images.device)
    labels[r >= OBJECT_RED_MIN] = OBJECT
    labels[b >= SKY_BLUE_MIN] = SKY
    return labels


def follows_colour_law(images, labels):
    """Boolean [N, H, W]: True where the pixel's colour lies inside the colour law of its label."""
    ok = torch.zeros(labels.shape, dtype=torch.bool, device=images.device)
    for cls, ranges in CLASS_COLOURS.items():
        inside = torch.ones_like(ok)
        for ch, (lo, hi) in enumerate(ranges):
            inside &= (images[:, ch] >= lo - 1e-6) & (images[:, ch] <= hi + 1e-6)
        ok |= (labels == cls) & inside
    return ok


def class_fractions(labels, num_classes=len(CLASS_NAMES)):
    """Fraction of each image's pixels in each class: float32 [N, num_classes]."""
    onehot = torch.nn.functional.one_hot(labels.flatten(1), num_classes).float()
    return onehot.mean(dim=1)

#----------------------------------------------------------------------------


#----------------------------------------------------------------------------
