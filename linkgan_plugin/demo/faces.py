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

Drawing (the primitives of drawing.py, shared with portraits.py): a pixel-centre grid (x, y = (index + 0.5) / R);
every shape is an analytic one (ellipses, an egg, boxes, arcs, a lens for the mouth) with an approximate signed
distance d (image widths, negative inside), painted back to front with the antialiased coverage
clamp(0.5 - d * R, 0, 1) as its opacity; a pixel takes a shape's class where the coverage is >= 0.5 (its centre is
inside). Order: background, the hair's back (crown and sides), neck, clothes, ears, face, fringe, nose, eyebrows,
eyes, mouth. All factors are drawn first, from one [N, F] uniform draw, then `overrides` replace some: changing one
factor leaves every other factor's value the same, and changing a part factor leaves every pixel that no shape of
its part touches bit for bit the same. The output is frozen: networks were trained on it (tests/test_faces.py holds
the hash of a seeded batch).

There is no colour law (unlike the landscapes): lips, skin and a red background may share colours, so a segmenter
must read shapes.

    images, labels, factors = faces(batch, resolution=32, generator=g)   # [N, 3, R, R] in [-1, 1], [N, R, R] int64
    images, labels, factors = faces(8, generator=g, overrides={'mouth_open': 1.0})   # one factor fixed
    stream = scene_of('faces').stream(settings, 32, seed=0)             # scenes.py: endless (images, labels) batches
"""

import math

import torch

# The classes are the face scenes' (drawing.py), re-exported here.
from linkgan_plugin.demo.drawing import (apply_overrides, BACKGROUND, BROWS, Canvas, check_scene_arguments,
                                         CLASS_NAMES, CLOTHES, draw_factor_table, ellipse_distance, EYES, HAIR,
                                         make_head, MOUTH, NOSE, paint_back, paint_brows, paint_face, per_image,
                                         per_image_rgb, SKIN)
from linkgan_plugin.regions import preset_box


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
# What drawing.make_head needs of the head's fixed geometry and skin.
FACE_GEOMETRY = dict(face_x=FACE_X, face_y=FACE_Y, half_height=FACE_HALF_HEIGHT, eye_xs=EYE_XS, eye_y=EYE_Y,
                     skin_dark=SKIN_DARK, skin_pale=SKIN_PALE)

#----------------------------------------------------------------------------
# Faces.

FACTOR_TABLE = (tuple((name, 'uniform', bounds) for name, bounds in FACTOR_RANGES.items())
                + (('hair_colour', 'palette', HAIR_PALETTE), ('eye_colour', 'palette', EYE_PALETTE),
                   ('background_colour', 'colour', (0.1, 0.8)), ('clothes_colour', 'colour', (0.05, 0.8))))


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
    check_scene_arguments(batch, resolution, MIN_RESOLUTION, ' (32 or 64 intended)')
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    f = draw_factors(batch, generator, overrides)
    canvas = Canvas(batch, resolution, BACKGROUND)
    head = make_head(f, resolution, FACE_GEOMETRY)
    crown = paint_back(canvas, head)
    paint_face(canvas, head, crown)
    _paint_nose(canvas, head)
    paint_brows(canvas, head)
    _paint_eyes(canvas, head)
    _paint_mouth(canvas, head)
    return (*canvas.result(), f)


def draw_factors(batch, generator, overrides=None):
    """Every factor of `batch` faces (module docstring), drawn from one [batch, F] uniform draw in a fixed order
    (FACTOR_TABLE: so overriding one factor leaves every other's draw the same); then `overrides` ({name: value})
    replace some (ValueError naming an unknown one).

    Returns:
        {name: float32 [batch] or [batch, 3] (COLOUR_FACTORS)} for every name of FACTOR_NAMES.
    """
    return apply_overrides(draw_factor_table(batch, generator, FACTOR_TABLE, FACTOR_NAMES, PALETTE_JITTER), overrides)


def _paint_nose(canvas, h):
    """The nose: its oval (skin) with a shadow along the bridge on the far side from the light, a lighter tip and
    a dark shadow under it with the nostrils."""
    f, x, y, col, rgb, cover = h.f, h.x, h.y, per_image, per_image_rgb, canvas.cover
    nx, nw, nh = NOSE_X + h.px, col(f['nose_width']), col(f['nose_length'])
    ny = NOSE_BOTTOM + h.py - nh
    light_x = col(torch.cos(f['light_angle']))
    far_side = torch.where(light_x >= 0, -1.0, 1.0)
    strength = col(f['light_strength'])
    nose = torch.ones(h.N, 3, h.R, h.R) * rgb(h.skin) * h.shade
    bridge = cover(ellipse_distance(x, y, nx + far_side * 0.45 * nw, ny - 0.2 * nh, 0.012, 0.9 * nh))
    nose = nose * (1 - (0.12 + 0.3 * strength * light_x.abs()) * bridge)[:, None]
    tip = cover(ellipse_distance(x, y, nx, ny + 0.15 * nh, 0.45 * nw, 0.35 * nh))
    nose = nose * (1 + 0.1 * tip)[:, None]
    under = cover(ellipse_distance(x, y, nx, ny + 0.75 * nh, 0.8 * nw, 0.25 * nh))
    nose = nose * (1 - 0.45 * under)[:, None]
    canvas.paint(cover(ellipse_distance(x, y, nx, ny, nw, nh)), nose, NOSE)


def _paint_eyes(canvas, h):
    """Eyes: a white, the iris (its colour, moved by the gaze) and pupil inside it; a dark line along the upper lid
    (fainter along the lower one). The class covers the lids' outline, so even a half-closed eye has pixels."""
    f, x, y, N, R, shade, cover = h.f, h.x, h.y, h.N, h.R, h.shade, canvas.cover
    eye_b = EYE_HALF_HEIGHT * per_image(f['eye_open'])
    gaze = 0.5 * EYE_HALF_WIDTH * per_image(f['gaze'])
    ey = EYE_Y + h.py
    for ex in EYE_XS:
        cx = ex + h.px
        eye = ellipse_distance(x, y, cx, ey, EYE_HALF_WIDTH, eye_b)
        colour = torch.tensor([0.92, 0.90, 0.87])[None, :, None, None].expand(N, 3, R, R)
        iris = cover(ellipse_distance(x, y, cx + gaze, ey, 0.021, 0.021))
        colour = colour + iris[:, None] * (per_image_rgb(f['eye_colour']) - colour)
        pupil = cover(ellipse_distance(x, y, cx + gaze, ey, 0.009, 0.009))
        colour = colour * (1 - 0.85 * pupil[:, None])
        canvas.paint(cover(eye), colour * shade.clamp(max=1.0), None)
        lid = cover(ellipse_distance(x, y, cx, ey - 0.003, EYE_HALF_WIDTH + 0.006, eye_b + 0.007))
        ring = (lid - cover(eye)).clamp(min=0) * torch.where(y < ey, 1.0, 0.35)
        canvas.paint(ring, torch.tensor([0.06, 0.04, 0.04])[None, :, None, None] * shade, EYES, label_alpha=lid)


def _paint_mouth(canvas, h):
    """Mouth: a lens between the upper and lower lip's outlines, bent by the smile; the dark inside (teeth in its
    top half) where the lips part; a dark line where they meet."""
    f, x, y, shade, col, rgb, cover = h.f, h.x, h.y, h.shade, per_image, per_image_rgb, canvas.cover
    mx, my, mw = MOUTH_X + h.px, MOUTH_Y + h.py, col(f['mouth_width'])
    u = ((x - mx) / mw).clamp(-1, 1)
    envelope = (1 - u.square()).clamp(min=0).sqrt()
    centre = my - 0.022 * col(f['smile']) * u.square()
    gap = 0.035 * col(f['mouth_open']) / 2 * envelope
    d = y - centre
    upper, lower = gap + (0.012 * envelope + 0.003), gap + (0.02 * envelope + 0.003)
    lips = torch.maximum((x - mx).abs() - mw, torch.where(d < 0, -d - upper, d - lower))
    lip_colour = rgb(h.skin) + (0.35 + 0.4 * col(f['lip_redness'])[:, None]) * (
        torch.tensor([0.72, 0.22, 0.25])[None, :, None, None] - rgb(h.skin))
    mouth = lip_colour * shade
    inside = cover(torch.maximum((x - mx).abs() - mw, d.abs() - gap))
    teeth = inside * cover(d) * ((col(f['mouth_open']) - 0.2) / 0.3).clamp(0, 1)    # The inside's top half.
    mouth = mouth + inside[:, None] * (torch.tensor([0.2, 0.05, 0.05])[None, :, None, None] * shade - mouth)
    mouth = mouth + teeth[:, None] * (torch.tensor([0.88, 0.86, 0.8])[None, :, None, None] * shade - mouth)
    seam = cover(torch.maximum((x - mx).abs() - mw, d.abs() - 0.006)) * (1 - inside)
    mouth = mouth * (1 - 0.5 * seam)[:, None]
    canvas.paint(cover(lips), mouth, MOUTH)

#----------------------------------------------------------------------------

def class_fractions(labels, num_classes=len(CLASS_NAMES)):
    """Fraction of each face's pixels in each class: float32 [N, num_classes]."""
    onehot = torch.nn.functional.one_hot(labels.flatten(1), num_classes).float()
    return onehot.mean(dim=1)


#----------------------------------------------------------------------------
