"""Procedural aligned faces: the data of the paper's face edits (eyes, nose, mouth; Table 2) in miniature.

Every face of resolution R is drawn at run time (nothing downloaded) from its own random numbers. The faces are
aligned like FFHQ: the eyes, nose and mouth sit where the spec's face presets (`regions.PRESETS_256`) put them,
at every resolution (eyes centred on row 120/256, columns 95/256 and 159/256; nose tip above row 162/256; mouth
centred on row 184/256, column 127/256), so `preset_box('eyes' | 'nose' | 'mouth')` covers the part on every sample.

Classes (label maps, int64): BACKGROUND 0, SKIN 1 (face, ears, neck), HAIR 2, CLOTHES 3, BROWS 4 (both eyebrows),
EYES 5 (both eyes: the lids' outline, holding the white, iris and pupil), NOSE 6 (the nose's oval: bridge shadow,
tip, nostrils), MOUTH 7 (both lips and, when open, the mouth's inside). The eyebrows are their own class: they sit
above the 'eyes' preset box (the spec's 'eyebrow' preset, centred on row 126/256, is not where brows are).

What varies, per face; every value is returned in `factors` (float32, [N] or [N, 3] for colours), and any of them
can be fixed with `overrides`. Lengths are fractions of the image side, colours are RGB intensities in [0, 1]
(intensity = (pixel + 1) / 2), angles are radians; x is the column, y the row (down).
  Shared factors (SHARED_FACTORS): they cross every region, so the regions are not the data's independent factors.
    skin_tone          [0, 1]        0 darkest, 1 palest: the colour of the skin, ears, neck, and under the lips;
    skin_warmth        [-1, 1]       a hue shift of the skin (+: redder, -: more yellow);
    light_angle        [-pi, 0]      the light's direction in the image plane: -pi/2 from above, 0 from the right,
                                     -pi from the left (it is 57 degrees off the viewing axis);
    light_strength     [0, 0.7]      the directional share of the light: a shading field over the whole head (face,
                                     hair, eyes, nose, mouth, neck) from the normals of an ellipsoid, lit side
                                     brighter, far side darker;
    exposure           [0.65, 1.15]  a gain on everything but the background;
    pose_x             [-0.02, 0.02] the whole head (every part, the hair and the outline) moves by this along x ...
    pose_y             [-0.01, 0.01] ... and this along y (0.6 and 0.3 pixels at R = 32);
    face_width         [0.25, 0.3]   half-width of the face's egg-shaped outline (its half-height is 0.355);
    hair_colour        [N, 3]        one of HAIR_PALETTE (black, dark brown, brown, blonde, red, grey), +-0.05 per
                                     channel; the eyebrows are a darker tone of it;
    hairline           [0.2, 0.29]   the row of the fringe's edge in the middle (lower towards the temples);
    hair_volume        [0.01, 0.07]  how far the hair stands out of the face's outline;
    hair_length        [0, 1]        the hair's sides end at row 0.45 + 0.5 * hair_length; ears show below 0.5;
    background_colour  [N, 3]        uniform in [0.1, 0.9] per channel (a gentle vertical gradient, unlit);
    clothes_colour     [N, 3]        uniform in [0.05, 0.85] per channel (shoulders at the bottom).
  Part factors (PART_FACTORS; FACTOR_PARTS groups them by part: eyes, nose, mouth): each changes its own part only.
    eye_colour         [N, 3]        the iris: one of EYE_PALETTE (brown, dark brown, blue, green, grey), +-0.05;
    eye_open           [0.4, 1]       the eyes' half-height, as a share of 0.022;
    gaze               [-1, 1]       the irises move along x by gaze * 0.5 * the eye's half-width (0.055);
    brow_thickness     [0.015, 0.03] the eyebrows' thickness in the middle;
    brow_height        [0.05, 0.07]  from the eyes' centre row up to the eyebrows';
    nose_width         [0.04, 0.06]  half-width of the nose's oval;
    nose_length        [0.04, 0.06]  half-height of the nose's oval (its bottom stays 0.018 above row 162/256);
    mouth_width        [0.07, 0.11]  half-width of the mouth;
    smile              [-0.5, 1]     the mouth's corners rise by smile * 0.022 (negative: they drop);
    mouth_open         [0, 1]        the gap between the lips is mouth_open * 0.035 (teeth show in its top half);
    lip_redness        [0, 1]        how far the lips' colour goes from the skin's towards red.

Drawing: a pixel-centre grid (x, y = (index + 0.5) / R); every shape is an analytic one (ellipses, an egg, boxes,
arcs, a lens for the mouth) with an approximate signed distance d (image widths, negative inside), painted back to
front with the antialiased coverage clamp(0.5 - d * R, 0, 1) as its opacity; a pixel takes a shape's class where
the coverage is >= 0.5 (its centre is inside). Order: background, the hair's back (crown and sides), neck, clothes,
ears, face, fringe, nose, eyebrows, eyes, mouth. All factors are drawn first, from one [N, F] uniform draw, then
`overrides` replace some: changing one factor leaves every other factor's value the same, and changing a part
factor leaves every pixel that no shape of its part touches bit for bit the same.

There is no colour law (unlike the landscapes): lips, skin and a red background may share colours, so a segmenter
must read shapes.

    images, labels, factors = faces(batch, resolution=32, generator=g)   # [N, 3, R, R] in [-1, 1], [N, R, R] int64
    images, labels, factors = faces(8, generator=g, overrides={'mouth_open': 1.0})   # one factor fixed
    stream = FaceStream(batch=32, seed=0)                                # endless (images, labels [batch, 0]);
    images, _ = next(stream); stream.label_maps; stream.factors          # the last batch's label maps, factors
"""

import math

import torch

from linkgan_plugin.regions import preset_box

BACKGROUND, SKIN, HAIR, CLOTHES, BROWS, EYES, NOSE, MOUTH = range(8)
CLASS_NAMES = ('background', 'skin', 'hair', 'clothes', 'brows', 'eyes', 'nose', 'mouth')

# The face presets and the class that fills each (most of its pixels lie inside the preset's box on every face).
PRESET_CLASSES = {'eyes': EYES, 'nose': NOSE, 'mouth': MOUTH}

MIN_RESOLUTION = 16

# Uniform factors: name -> (low, high). Colour factors are drawn from palettes (below).
FACTOR_RANGES = {
    'skin_tone': (0.0, 1.0), 'skin_warmth': (-1.0, 1.0),
    'light_angle': (-math.pi, 0.0), 'light_strength': (0.0, 0.7), 'exposure': (0.65, 1.15),
    'pose_x': (-0.02, 0.02), 'pose_y': (-0.01, 0.01), 'face_width': (0.25, 0.3),
    'hairline': (0.2, 0.29), 'hair_volume': (0.01, 0.07), 'hair_length': (0.0, 1.0),
    'eye_open': (0.4, 1.0), 'gaze': (-1.0, 1.0), 'brow_thickness': (0.015, 0.03), 'brow_height': (0.05, 0.07),
    'nose_width': (0.04, 0.06), 'nose_length': (0.04, 0.06),
    'mouth_width': (0.07, 0.11), 'smile': (-0.5, 1.0), 'mouth_open': (0.0, 1.0), 'lip_redness': (0.0, 1.0),
}
SHARED_FACTORS = ('skin_tone', 'skin_warmth', 'light_angle', 'light_strength', 'exposure', 'pose_x', 'pose_y',
                  'face_width', 'hair_colour', 'hairline', 'hair_volume', 'hair_length', 'background_colour',
                  'clothes_colour')
# The part each part factor changes, by its preset's name (the eyebrows go with the eyes).
FACTOR_PARTS = {'eyes': ('eye_colour', 'eye_open', 'gaze', 'brow_thickness', 'brow_height'),
                'nose': ('nose_width', 'nose_length'),
                'mouth': ('mouth_width', 'smile', 'mouth_open', 'lip_redness')}
PART_FACTORS = sum(FACTOR_PARTS.values(), ())
COLOUR_FACTORS = ('hair_colour', 'background_colour', 'clothes_colour', 'eye_colour')
FACTOR_NAMES = SHARED_FACTORS + PART_FACTORS

# Palettes (RGB intensities in [0, 1]); a face picks one entry and moves each channel by up to +-PALETTE_JITTER.
HAIR_PALETTE = ((0.07, 0.06, 0.05), (0.22, 0.13, 0.07), (0.42, 0.27, 0.13), (0.85, 0.70, 0.42),
                (0.62, 0.24, 0.09), (0.62, 0.61, 0.60))
EYE_PALETTE = ((0.36, 0.20, 0.09), (0.16, 0.09, 0.05), (0.25, 0.45, 0.75), (0.30, 0.50, 0.25), (0.48, 0.52, 0.55))
PALETTE_JITTER = 0.05
SKIN_DARK, SKIN_PALE = (0.30, 0.18, 0.11), (0.97, 0.82, 0.72)

# Fixed geometry (fractions of the image side), from the presets: the parts' anchors.
EYE_XS = tuple((b[0] + b[2]) / 2 for b in (preset_box('left_eye'), preset_box('right_eye')))  # 0.371, 0.621
EYE_Y = (preset_box('eyes')[1] + preset_box('eyes')[3]) / 2                                   # 0.469
FACE_X = sum(EYE_XS) / 2                                                                      # 0.496
NOSE_X = (FACE_X + (preset_box('nose')[0] + preset_box('nose')[2]) / 2) / 2                   # 0.504
NOSE_BOTTOM = preset_box('nose')[3] - 0.018                                                   # 0.615
MOUTH_X, MOUTH_Y = ((preset_box('mouth')[0] + preset_box('mouth')[2]) / 2,
                    (preset_box('mouth')[1] + preset_box('mouth')[3]) / 2)                    # 0.496, 0.719
EYE_HALF_WIDTH, EYE_HALF_HEIGHT = 0.055, 0.022
FACE_Y, FACE_HALF_HEIGHT = 0.525, 0.355

#----------------------------------------------------------------------------
# Faces.

def faces(batch, resolution=32, generator=None, overrides=None):
    """Draws `batch` independent aligned faces, their label maps and their factors (module docstring).

    Args:
        batch:      number of faces N (>= 1).
        resolution: image size R (pixels per side, an integer >= 16; 32 and 64 are the intended sizes).
        generator:  torch.Generator for reproducibility; None: a fresh one seeded 0 (the global RNG is never used).
        overrides:  optional {factor name: value}: a number, or a tensor broadcastable to the factor's shape
                    ([N] or [N, 3]), that replaces the drawn values (every other factor keeps its draw).
    Returns:
        (images float32 [N, 3, R, R] in [-1, 1], labels int64 [N, R, R] with the classes BACKGROUND..MOUTH,
         factors {name: float32 [N] or [N, 3]} with every name of FACTOR_NAMES).
    """
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f'batch must be an integer >= 1, got {batch!r}')
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < MIN_RESOLUTION:
        raise ValueError(f'resolution must be an integer >= {MIN_RESOLUTION} (32 or 64 intended), got {resolution!r}')
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    f = draw_factors(batch, generator, overrides)
    N, R = batch, resolution
    col = lambda t: t[:, None, None]                                        # [N] -> [N, 1, 1] (over pixels).
    rgb = lambda c: c[:, :, None, None]                                     # [N, 3] -> [N, 3, 1, 1].
    cover = lambda d: (0.5 - d * R).clamp(0, 1)                             # Antialiased opacity [N, R, R].

    # Pixel-centre coordinates in [0, 1]: x = column, y = row (down).
    t = (torch.arange(R, dtype=torch.float32) + 0.5) / R
    y, x = t[:, None].expand(R, R)[None], t[None, :].expand(R, R)[None]    # [1, R, R]

    img = torch.zeros(N, 3, R, R)
    labels = torch.full([N, R, R], BACKGROUND, dtype=torch.int64)

    def paint(alpha, colour, cls, label_alpha=None):
        # Composites `colour` with opacity `alpha` [N, R, R]; the class goes where label_alpha (default alpha) >= 0.5.
        nonlocal img, labels
        img = img + alpha[:, None] * (colour - img)
        if cls is not None:
            labels = torch.where((alpha if label_alpha is None else label_alpha) >= 0.5, cls, labels)

    px, py = col(f['pose_x']), col(f['pose_y'])
    fx, fy, fw = FACE_X + px, FACE_Y + py, col(f['face_width'])
    shade = _shading(x, y, fx, fy, fw, f)[:, None]                          # [N, 1, R, R]
    skin = _skin_colour(f['skin_tone'], f['skin_warmth'])                   # [N, 3]
    hair = f['hair_colour']

    # Background: its colour, a little darker towards the bottom.
    paint(torch.ones(N, R, R), rgb(f['background_colour']) * (1.08 - 0.2 * y[:, None]), None)

    # The hair's back: a crown behind the head and the sides down to the hair's length.
    volume = col(f['hair_volume'])
    crown_y, crown_a, crown_b = fy - 0.04, fw + volume, FACE_HALF_HEIGHT + volume - 0.01
    crown = _ellipse_distance(x, y, fx, crown_y, crown_a, crown_b)
    hair_end = 0.45 + 0.5 * col(f['hair_length'])
    sides = torch.maximum(torch.maximum((x - fx).abs() - crown_a, y - hair_end), crown_y - y)
    paint(cover(torch.minimum(crown, sides)), rgb(hair) * shade * (0.9 + 0.1 * _hair_texture(x, fx)), HAIR)

    # Neck (shaded by the chin) and clothes (shoulders).
    neck = torch.maximum((x - fx).abs() - 0.45 * fw, fy + 0.15 - y)
    paint(cover(neck), rgb(skin) * shade * 0.72, SKIN)
    clothes = _ellipse_distance(x, y, fx, 1.16 + py, 0.46, 0.22)
    paint(cover(clothes), rgb(f['clothes_colour']) * shade, CLOTHES)

    # Ears (under short hair only) and the face's egg-shaped outline.
    ears_show = col((f['hair_length'] < 0.5).float())
    for side in (-1, 1):
        ear = _ellipse_distance(x, y, fx + side * (fw + 0.005), EYE_Y + 0.045 + py, 0.03, 0.05)
        paint(cover(ear) * ears_show, rgb(skin) * shade * 0.88, SKIN)
    below = ((y - fy) / FACE_HALF_HEIGHT).clamp(0, 1)
    face = _ellipse_distance(x, y, fx, fy, fw * (1 - 0.2 * below.square()), FACE_HALF_HEIGHT)
    socket = sum(torch.exp(-((x - ex - px) / 0.075).square() - ((y - EYE_Y - py + 0.008) / 0.045).square())
                 for ex in EYE_XS)                                          # Darker around the eyes.
    paint(cover(face), rgb(skin) * shade * (1 - 0.12 * socket[:, None]), SKIN)

    # Fringe: the crown's front above the hairline (lower towards the temples).
    hairline = col(f['hairline']) + 0.12 * ((x - fx) / fw).square()
    paint(cover(torch.maximum(crown, y - hairline)), rgb(hair) * shade * (0.9 + 0.1 * _hair_texture(x, fx)), HAIR)

    # Nose: its oval (skin) with a shadow along the bridge on the far side from the light, a lighter tip and a
    # dark shadow under it with the nostrils.
    nx, nw, nh = NOSE_X + px, col(f['nose_width']), col(f['nose_length'])
    ny = NOSE_BOTTOM + py - nh
    light_x = col(torch.cos(f['light_angle']))
    far_side = torch.where(light_x >= 0, -1.0, 1.0)
    strength = col(f['light_strength'])
    nose = torch.ones(N, 3, R, R) * rgb(skin) * shade
    bridge = cover(_ellipse_distance(x, y, nx + far_side * 0.45 * nw, ny - 0.2 * nh, 0.012, 0.9 * nh))
    nose = nose * (1 - (0.12 + 0.3 * strength * light_x.abs()) * bridge)[:, None]
    tip = cover(_ellipse_distance(x, y, nx, ny + 0.15 * nh, 0.45 * nw, 0.35 * nh))
    nose = nose * (1 + 0.1 * tip)[:, None]
    under = cover(_ellipse_distance(x, y, nx, ny + 0.75 * nh, 0.8 * nw, 0.25 * nh))
    nose = nose * (1 - 0.45 * under)[:, None]
    paint(cover(_ellipse_distance(x, y, nx, ny, nw, nh)), nose, NOSE)

    # Eyebrows: thick arcs, ends lower than the middle and thinner, a darker tone of the hair.
    brow_y, brow_t = EYE_Y + py - col(f['brow_height']), col(f['brow_thickness'])
    brow_colour = rgb(hair * 0.7) * shade
    for ex in EYE_XS:
        u = ((x - ex - px) / 0.065).clamp(-1, 1)
        arc = brow_y + 0.012 * u.square()
        brow = torch.maximum((y - arc).abs() - brow_t / 2 * (1 - 0.5 * u.square()), (x - ex - px).abs() - 0.065)
        paint(cover(brow), brow_colour, BROWS)

    # Eyes: a white, the iris (its colour, moved by the gaze) and pupil inside it; a dark line along the upper lid
    # (fainter along the lower one). The class covers the lids' outline, so even a half-closed eye has pixels.
    eye_b = EYE_HALF_HEIGHT * col(f['eye_open'])
    gaze = 0.5 * EYE_HALF_WIDTH * col(f['gaze'])
    ey = EYE_Y + py
    for ex in EYE_XS:
        cx = ex + px
        eye = _ellipse_distance(x, y, cx, ey, EYE_HALF_WIDTH, eye_b)
        colour = torch.tensor([0.92, 0.90, 0.87])[None, :, None, None].expand(N, 3, R, R)
        iris = cover(_ellipse_distance(x, y, cx + gaze, ey, 0.021, 0.021))
        colour = colour + iris[:, None] * (rgb(f['eye_colour']) - colour)
        pupil = cover(_ellipse_distance(x, y, cx + gaze, ey, 0.009, 0.009))
        colour = colour * (1 - 0.85 * pupil[:, None])
        paint(cover(eye), colour * shade.clamp(max=1.0), None)
        lid = cover(_ellipse_distance(x, y, cx, ey - 0.003, EYE_HALF_WIDTH + 0.006, eye_b + 0.007))
        ring = (lid - cover(eye)).clamp(min=0) * torch.where(y < ey, 1.0, 0.35)
        paint(ring, torch.tensor([0.06, 0.04, 0.04])[None, :, None, None] * shade, EYES, label_alpha=lid)

    # Mouth: a lens between the upper and lower lip's outlines, bent by the smile; the dark inside (teeth in its
    # top half) where the lips part; a dark line where they meet.
    mx, my, mw = MOUTH_X + px, MOUTH_Y + py, col(f['mouth_width'])
    u = ((x - mx) / mw).clamp(-1, 1)
    envelope = (1 - u.square()).clamp(min=0).sqrt()
    centre = my - 0.022 * col(f['smile']) * u.square()
    gap = 0.035 * col(f['mouth_open']) / 2 * envelope
    d = y - centre
    upper, lower = gap + (0.012 * envelope + 0.003), gap + (0.02 * envelope + 0.003)
    lips = torch.maximum((x - mx).abs() - mw, torch.where(d < 0, -d - upper, d - lower))
    lip_colour = rgb(skin) + (0.35 + 0.4 * col(f['lip_redness'])[:, None]) * (
        torch.tensor([0.72, 0.22, 0.25])[None, :, None, None] - rgb(skin))
    mouth = lip_colour * shade
    inside = cover(torch.maximum((x - mx).abs() - mw, d.abs() - gap))
    teeth = inside * cover(d) * ((col(f['mouth_open']) - 0.2) / 0.3).clamp(0, 1)    # The inside's top half.
    mouth = mouth + inside[:, None] * (torch.tensor([0.2, 0.05, 0.05])[None, :, None, None] * shade - mouth)
    mouth = mouth + teeth[:, None] * (torch.tensor([0.88, 0.86, 0.8])[None, :, None, None] * shade - mouth)
    seam = cover(torch.maximum((x - mx).abs() - mw, d.abs() - 0.006)) * (1 - inside)
    mouth = mouth * (1 - 0.5 * seam)[:, None]
    paint(cover(lips), mouth, MOUTH)

    return (img.clamp(0, 1) * 2 - 1).contiguous(), labels, f


def draw_factors(batch, generator, overrides=None):
    """Every factor of `batch` faces (module docstring), drawn from one [batch, F] uniform draw in a fixed order
    (so overriding one factor leaves every other's draw the same); then `overrides` ({name: value}) replace some.

    Returns:
        {name: float32 [batch] or [batch, 3] (COLOUR_FACTORS)} for every name of FACTOR_NAMES.
    """
    u = torch.rand([batch, len(FACTOR_RANGES) + 2 * 4 + 2 * 3], generator=generator)
    out, k = {}, 0
    for name, (low, high) in FACTOR_RANGES.items():
        out[name] = low + (high - low) * u[:, k]
        k += 1
    for name, palette in (('hair_colour', HAIR_PALETTE), ('eye_colour', EYE_PALETTE)):
        table = torch.tensor(palette)
        pick = (u[:, k] * len(palette)).long().clamp(max=len(palette) - 1)
        out[name] = (table[pick] + PALETTE_JITTER * (2 * u[:, k + 1:k + 4] - 1)).clamp(0, 1)
        k += 4
    out['background_colour'] = 0.1 + 0.8 * u[:, k:k + 3]
    out['clothes_colour'] = 0.05 + 0.8 * u[:, k + 3:k + 6]
    for name, value in (overrides or {}).items():
        if name not in out:
            raise ValueError(f'overrides: unknown factor {name!r} (known: {", ".join(FACTOR_NAMES)})')
        out[name] = torch.as_tensor(value, dtype=torch.float32).expand_as(out[name]).clone()
    return {name: out[name] for name in FACTOR_NAMES}


def _skin_colour(tone, warmth):
    """Skin RGB [N, 3] in [0, 1]: from SKIN_DARK (tone 0) to SKIN_PALE (tone 1), red up and blue down with warmth."""
    dark, pale = torch.tensor(SKIN_DARK), torch.tensor(SKIN_PALE)
    colour = dark + (pale - dark) * tone[:, None]
    return (colour + 0.04 * warmth[:, None] * torch.tensor([1.0, 0.0, -1.0])).clamp(0, 1)


def _shading(x, y, fx, fy, fw, f):
    """The light over the whole head: exposure * (1 - s + 1.6 s max(n . L, 0)), with s the light's strength, n the
    normal of an ellipsoid a little larger than the face (outside it: the normal of its rim), L the light's
    direction (light_angle in the image plane, 57 degrees off the viewing axis). [N, R, R]."""
    nx = (x - fx) / (1.15 * fw)
    ny = (y - fy) / (1.1 * FACE_HALF_HEIGHT)
    r = (nx.square() + ny.square()).sqrt()
    scale = torch.where(r > 1, 1 / r.clamp(min=1e-6), torch.ones_like(r))
    nx, ny = nx * scale, ny * scale
    nz = (1 - nx.square() - ny.square()).clamp(min=0).sqrt()
    elevation = 1.0
    angle = f['light_angle'][:, None, None]
    lambert = (nx * torch.cos(angle) * math.sin(elevation) + ny * torch.sin(angle) * math.sin(elevation)
               + nz * math.cos(elevation)).clamp(min=0)
    s = f['light_strength'][:, None, None]
    return f['exposure'][:, None, None] * (1 - s + 1.6 * s * lambert)


def _hair_texture(x, fx):
    """Soft strands across the hair: in [-1, 1], [N, 1, R, R] (a fixed pattern that moves with the head)."""
    return torch.sin(2 * math.pi * 11 * (x - fx))[:, None]


def _ellipse_distance(x, y, cx, cy, a, b):
    """Approximate signed distance (image widths; negative inside) from the pixel centres (x, y) to the
    axis-aligned ellipse of centre (cx, cy) and half-axes (a, b): (r - 1) / |grad r| with r the ellipse's
    radial coordinate (exact on the outline, first-order near it). Arguments broadcast; [N, R, R]."""
    a, b = torch.as_tensor(a, dtype=torch.float32), torch.as_tensor(b, dtype=torch.float32)
    dx, dy = x - cx, y - cy
    r = ((dx / a).square() + (dy / b).square()).sqrt()
    grad = ((dx / a.square()).square() + (dy / b.square()).square()).sqrt() / r.clamp(min=1e-6)
    return (r - 1) / grad.clamp(min=1e-6)

#----------------------------------------------------------------------------

def class_fractions(labels, num_classes=len(CLASS_NAMES)):
    """Fraction of each face's pixels in each class: float32 [N, num_classes]."""
    onehot = torch.nn.functional.one_hot(labels.flatten(1), num_classes).float()
    return onehot.mean(dim=1)


class FaceStream:
    """An endless, reproducible stream of face batches, drop-in for demo_data.SceneStream: iterate for
    (images [batch, 3, R, R], labels [batch, 0]); the label maps of the last batch are `label_maps` [batch, R, R]
    and its factors `factors` ({name: [batch] or [batch, 3]})."""

    def __init__(self, batch=32, resolution=32, seed=0):
        self.batch, self.resolution = batch, resolution
        self.generator = torch.Generator().manual_seed(seed)
        self.label_maps = self.factors = None

    def __iter__(self):
        return self

    def __next__(self):
        img, self.label_maps, self.factors = faces(self.batch, self.resolution, self.generator)
        return img, torch.zeros([self.batch, 0])

#----------------------------------------------------------------------------
