"""Procedural aligned portraits: faces whose eyes, nose and mouth carry their own content (issue 30's testbed).

On faces.py's faces the factors shared by the whole face (skin, light, exposure, pose) put 11x (eyes), 500x (nose)
and 30x (mouth) more per-pixel variance inside each face-preset box than the part's own factors (oracle.py), so
an in-region term can hold only by dropping that shared diversity; at 32 px the eyes box is 2.5 px tall. Portraits
are drawn at 64 px (MIN_RESOLUTION: every preset box at least MIN_BOX_PX = 5 px tall; eyes 28.75 x 5, nose
11.5 x 10, mouth 17.5 x 7.5 px), with narrower shared ranges and parts whose own factors move many pixels, so that
per region the shared / own in-box variance is below 3 and the part edits are seldom a uniform tint, while skin,
light and pose still change every box (docs: examples/research_drafts/testbed/oracle.md).

Same layout, classes and API as faces.py (CLASS_NAMES, PRESET_CLASSES, class_fractions are faces'): aligned like
FFHQ, the eyes centred on row 120/256 at columns 95/256 and 159/256, the nose below them, the mouth centred on row
184/256; the head (background, hair, neck, clothes, ears, face, fringe, brows) is drawing.py's, as for faces.

Factors, per portrait; every value is returned in `factors` (float32, [N] or [N, 3] for colours) and any can be
fixed with `overrides`. Lengths are fractions of the image side, colours RGB intensities in [0, 1], angles
radians; x is the column, y the row (down). Ranges: FACTOR_RANGES (colours: palettes +-0.05 per channel).
  Shared (SHARED_FACTORS; no part's). CROSSING_FACTORS change every box:
    skin_tone, skin_warmth    the skin between SKIN_DARK and SKIN_PALE (a narrower range than faces'), its hue;
    light_angle, light_strength, exposure   faces' shading field over the head (strength <= 0.35, gain 0.85-1.1);
                              the light also darkens the nose's far side and places the eyes' catchlights and
                              the nose tip's highlight;
    pose_x, pose_y            the whole head moves (+-0.64 and +-0.32 px at 64 px), parts included;
    face_width                the face's half-width (its outline lies outside the boxes; it reaches them only
                              through the shading field).
  OUTSIDE_FACTORS change no pixel of any box: hair_colour, hairline, hair_volume, hair_length, brow_height,
    brow_thickness, brow_arch (the brows sit above the eyes box, as in FFHQ's presets), background_colour,
    clothes_colour.
  Part factors (FACTOR_PARTS: eyes, nose, mouth; PART_FACTORS):
    eyes   eye_colour (an iris palette), eye_open (the opening's half-height, a share of EYE_OPEN_MAX), eye_width
           (half-width), iris_size (radius), gaze (the iris moves by 0.6 gaze (eye_width - iris_size) along x),
           lashes (the upper lash line's thickness, 0.002-0.008), under_eye (a shadow below the lower lid);
    nose   nose_width (the wings' distance from the middle), nose_length (the tip drops 0 to 0.026), tip_size,
           bridge_width, nose_depth (how dark the sides, wings' creases and the shadow under it are),
           tip_highlight (the ridge's and tip's highlights), nostrils (their size), nose_flush (redder tip and
           wings);
    mouth  mouth_width (half-width), lip_upper, lip_lower (thickness in the middle), smile (the corners rise by
           0.025 smile), mouth_open (the lips part by up to 0.04), teeth (the share of the opening they fill, from
           its top), lip_gloss (a highlight on the lower lip), lip_colour (a lipstick palette, mixed 80% over the
           skin).

Guarantee (tested): a part factor changes only the pixels whose centre lies in its preset's box (part_windows:
the eyes box; the nose box without the eyes box, which overlaps its top rows; the mouth box), bit for bit, at
every resolution: each part is painted through its window, and at 64, 128 and 256 px the windows never cut a
part's content (every shape keeps half a pixel inside the box edges at the extremes of the ranges and poses).
The presets' eyes and nose boxes overlap (columns 27-37 of rows 30-31 at 64 px), and the right eye's inner corner
lies there: the eyes' factors change a few pixels of the nose box (oracle: `other_parts_over_own`, ~3%).

Drawing: drawing.py's canvas and shapes (antialiased signed distances, back to front); the parts are painted on
the rectangle of their window only (the same numbers as on the whole image, in under half the time). All factors
come from one [N, F] uniform draw (drawing.draw_factor_table), so overriding one leaves the others' draws alone.

    images, labels, factors = portraits(batch, resolution=64, generator=g)   # [N, 3, 64, 64] in [-1, 1], [N, 64, 64]
    images, labels, factors = portraits(8, generator=g, overrides={'smile': 1.0})
    stream = scene_of('portraits').stream(settings, 32, seed=0)             # scenes.py: endless batches
"""

import math

import torch

from linkgan_plugin.demo.drawing import (apply_overrides, Canvas, check_scene_arguments, crop_head,
                                         draw_factor_table, ellipse_distance, EYES, make_head, MOUTH, NOSE,
                                         paint_back, paint_brows, paint_face, per_image, per_image_rgb)
# faces' layout; CLASS_NAMES, class_fractions and PRESET_CLASSES are re-exported (the same classes and presets).
from linkgan_plugin.demo.faces import (CLASS_NAMES, class_fractions, EYE_XS, EYE_Y, FACE_X, HAIR_PALETTE,
                                       MOUTH_X, MOUTH_Y, NOSE_X, PALETTE_JITTER, PRESET_CLASSES)
from linkgan_plugin.regions import box_centre_mask, preset_box

PRESETS = ('eyes', 'nose', 'mouth')
MIN_BOX_PX = 5
# The smallest resolution at which every preset box is at least MIN_BOX_PX pixels tall (the eyes' 20/256: 64).
MIN_RESOLUTION = math.ceil(MIN_BOX_PX / min(preset_box(n)[3] - preset_box(n)[1] for n in PRESETS) - 1e-9)

FACTOR_RANGES = {
    # Shared, crossing every region (CROSSING_FACTORS).
    'skin_tone': (0.0, 1.0), 'skin_warmth': (-1.0, 1.0), 'light_angle': (-math.pi, 0.0),
    'light_strength': (0.0, 0.35), 'exposure': (0.85, 1.1), 'pose_x': (-0.01, 0.01), 'pose_y': (-0.005, 0.005),
    # Shared: face_width crosses through the shading only, the others stay outside every box (OUTSIDE_FACTORS).
    'face_width': (0.29, 0.32), 'hairline': (0.26, 0.32), 'hair_volume': (0.01, 0.06), 'hair_length': (0.0, 1.0),
    'brow_height': (0.068, 0.082), 'brow_thickness': (0.01, 0.02), 'brow_arch': (0.002, 0.01),
    # Eyes.
    'eye_open': (0.35, 1.0), 'eye_width': (0.048, 0.058), 'iris_size': (0.015, 0.021), 'gaze': (-1.0, 1.0),
    'lashes': (0.0, 1.0), 'under_eye': (0.0, 1.0),
    # Nose.
    'nose_width': (0.03, 0.048), 'nose_length': (0.0, 1.0), 'tip_size': (0.01, 0.019),
    'bridge_width': (0.006, 0.014), 'nose_depth': (0.0, 1.0), 'tip_highlight': (0.0, 1.0), 'nostrils': (0.0, 1.0),
    'nose_flush': (0.0, 1.0),
    # Mouth.
    'mouth_width': (0.075, 0.11), 'lip_upper': (0.008, 0.022), 'lip_lower': (0.012, 0.026), 'smile': (-0.6, 1.0),
    'mouth_open': (0.0, 1.0), 'teeth': (0.0, 1.0), 'lip_gloss': (0.0, 1.0),
}
EYE_PALETTE = ((0.30, 0.16, 0.07), (0.14, 0.08, 0.05), (0.50, 0.34, 0.14), (0.28, 0.48, 0.28),
               (0.30, 0.52, 0.82), (0.52, 0.58, 0.62), (0.55, 0.72, 0.88))
LIP_PALETTE = ((0.75, 0.42, 0.40), (0.80, 0.30, 0.38), (0.72, 0.14, 0.18), (0.50, 0.18, 0.30),
               (0.55, 0.32, 0.25))

SHARED_FACTORS = ('skin_tone', 'skin_warmth', 'light_angle', 'light_strength', 'exposure', 'pose_x', 'pose_y',
                  'face_width', 'hair_colour', 'hairline', 'hair_volume', 'hair_length', 'brow_height',
                  'brow_thickness', 'brow_arch', 'background_colour', 'clothes_colour')
CROSSING_FACTORS = SHARED_FACTORS[:8]
OUTSIDE_FACTORS = SHARED_FACTORS[8:]
FACTOR_PARTS = {'eyes': ('eye_colour', 'eye_open', 'eye_width', 'iris_size', 'gaze', 'lashes', 'under_eye'),
                'nose': ('nose_width', 'nose_length', 'tip_size', 'bridge_width', 'nose_depth', 'tip_highlight',
                         'nostrils', 'nose_flush'),
                'mouth': ('mouth_width', 'lip_upper', 'lip_lower', 'smile', 'mouth_open', 'teeth', 'lip_gloss',
                          'lip_colour')}
PART_FACTORS = sum(FACTOR_PARTS.values(), ())
COLOUR_FACTORS = ('hair_colour', 'background_colour', 'clothes_colour', 'eye_colour', 'lip_colour')
FACTOR_NAMES = SHARED_FACTORS + PART_FACTORS
FACTOR_TABLE = (tuple((name, 'uniform', bounds) for name, bounds in FACTOR_RANGES.items())
                + (('hair_colour', 'palette', HAIR_PALETTE), ('eye_colour', 'palette', EYE_PALETTE),
                   ('lip_colour', 'palette', LIP_PALETTE), ('background_colour', 'colour', (0.1, 0.8)),
                   ('clothes_colour', 'colour', (0.05, 0.8))))

SKIN_DARK, SKIN_PALE = (0.56, 0.40, 0.30), (0.78, 0.62, 0.52)
FACE_Y, FACE_HALF_HEIGHT = 0.52, 0.36
GEOMETRY = dict(face_x=FACE_X, face_y=FACE_Y, half_height=FACE_HALF_HEIGHT, eye_xs=EYE_XS, eye_y=EYE_Y,
                skin_dark=SKIN_DARK, skin_pale=SKIN_PALE)
EYE_OPEN_MAX = 0.017                # Half-height of a fully open eye (above the centre row 1.15x, below 0.85x).
NOSE_TOP, NOSE_TIP = 0.52, 0.562    # The bridge's start and the tip's highest row (nose_length lowers it 0.026).
NOSE_CX = (NOSE_X + (preset_box('nose')[0] + preset_box('nose')[2]) / 2) / 2   # 0.508: nearer the box's middle.
WHITE, DARK = (0.93, 0.91, 0.88), (0.07, 0.05, 0.05)

#----------------------------------------------------------------------------
# Portraits.

def portraits(batch, resolution=64, generator=None, overrides=None):
    """Draws `batch` independent aligned portraits, their label maps and their factors (module docstring).

    Args:
        batch:      number of portraits N (>= 1).
        resolution: image size R (an integer >= MIN_RESOLUTION = 64, where the eyes' box is 5 px tall).
        generator:  torch.Generator for reproducibility; None: a fresh one seeded 0 (the global RNG is never used).
        overrides:  optional {factor name: value}: a number, or a tensor broadcastable to the factor's shape
                    ([N] or [N, 3]), that replaces the drawn values (every other factor keeps its draw).
    Returns:
        (images float32 [N, 3, R, R] in [-1, 1], labels int64 [N, R, R] with the classes of CLASS_NAMES,
         factors {name: float32 [N] or [N, 3]} with every name of FACTOR_NAMES).
    """
    check_scene_arguments(batch, resolution, MIN_RESOLUTION,
                          f' (every face-preset box at least {MIN_BOX_PX} px tall: the eyes box is 20/256 of the side)')
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    f = apply_overrides(draw_factor_table(batch, generator, FACTOR_TABLE, FACTOR_NAMES, PALETTE_JITTER), overrides)
    canvas = Canvas(batch, resolution, exact=True)
    head = make_head(f, resolution, GEOMETRY)
    crown = paint_back(canvas, head)
    paint_face(canvas, head, crown)
    paint_brows(canvas, head, arch=per_image(f['brow_arch']), half_length=0.06)
    windows = part_windows(resolution)
    for name, painter in (('nose', _paint_nose), ('eyes', _paint_eyes), ('mouth', _paint_mouth)):
        rows, cols = (slice(int(i.min()), int(i.max()) + 1) for i in windows[name][0].nonzero().unbind(1))
        sub = canvas.crop(rows, cols)                     # Each part is drawn over its window's rectangle only.
        painter(sub, crop_head(head, rows, cols), windows[name][:, rows, cols])
        canvas.paste(sub, rows, cols)
    return (*canvas.result(), f)


def part_windows(resolution):
    """{part: float32 [1, R, R] in {0, 1}}: the pixels each part's factors may change, the pixels whose centre lies
    in its preset box (regions.box_centre_mask); the nose's leaves out the eyes box, which overlaps its top."""
    box = {name: box_centre_mask([preset_box(name)], resolution, resolution)[None] for name in PRESETS}
    return {'eyes': box['eyes'], 'nose': box['nose'] * (1 - box['eyes']), 'mouth': box['mouth']}


def _bump(t):
    """A compact bump: (1 - t^2)^2 for |t| < 1, else 0."""
    return (1 - t.square()).clamp(min=0).square()

#----------------------------------------------------------------------------
# The parts.

def _paint_eyes(canvas, h, window):
    """Per eye: the lid's shadow and crease above it, the white, the iris (moved by the gaze), the pupil and a
    catchlight towards the light, and the lash line along the upper lid (fainter along the lower one)."""
    f, x, y, cover, col = h.f, h.x, h.y, canvas.cover, per_image
    a, b, r = col(f['eye_width']), EYE_OPEN_MAX * col(f['eye_open']), col(f['iris_size'])
    gaze, lash = 0.6 * col(f['gaze']) * (a - r), 0.002 + 0.006 * col(f['lashes'])
    crease, bags = 0.005, 0.3 * col(f['under_eye'])
    angle = col(f['light_angle'])
    cy = EYE_Y + h.py
    above = y < cy
    shade = h.shade.clamp(max=1.0)
    for ex in EYE_XS:
        cx = ex + h.px
        opening = ellipse_distance(x, y, cx, cy, a, torch.where(above, 1.15 * b, 0.85 * b))
        lid = ellipse_distance(x, y, cx, cy, a + 0.004, torch.where(above, 1.15 * b + crease + 0.003, 0.85 * b + 0.003))
        inside, on_lid = cover(opening), cover(lid)
        fold = (on_lid - inside).clamp(min=0) * above
        canvas.paint(fold * window, canvas.img * 0.8, None)
        below = cover(ellipse_distance(x, y, cx, cy, a + 0.002, 0.85 * b + 0.011)) * (1 - inside) * ~above
        canvas.paint(below * window, canvas.img * (1 - bags[:, None]), None)
        line = cover(lid.abs() - 0.0025) * above * (1 - inside)
        canvas.paint(0.5 * line * window, canvas.img * 0.55, None)
        colour = torch.tensor(WHITE)[None, :, None, None] * shade
        iris = cover(ellipse_distance(x, y, cx + gaze, cy, r, r))
        colour = colour + iris[:, None] * (per_image_rgb(f['eye_colour']) * shade - colour)
        pupil = cover(ellipse_distance(x, y, cx + gaze, cy, 0.45 * r, 0.45 * r))
        colour = colour * (1 - 0.85 * pupil[:, None])
        glint = cover(ellipse_distance(x, y, cx + gaze + 0.5 * r * torch.cos(angle), cy + 0.5 * r * torch.sin(angle),
                                       0.005, 0.005))
        colour = colour + 0.6 * glint[:, None] * (1 - colour)
        canvas.paint(inside * window, colour, None)
        lashes = ellipse_distance(x, y, cx, cy, a + 0.5 * lash, torch.where(above, 1.15 * b + lash, 0.85 * b + 0.0025))
        ring = (cover(lashes) - inside).clamp(min=0) * torch.where(above, 1.0, 0.35)
        canvas.paint(ring * window, torch.tensor(DARK)[None, :, None, None] * shade, EYES,
                     label_alpha=cover(lashes) * window)


def _paint_nose(canvas, h, window):
    """The nose, as shading on the skin: its sides (darker with depth, more on the far side from the light), a
    lighter ridge, the tip's ball and its highlight, the wings' creases, the nostrils and the shadow under it."""
    f, x, y, cover, col = h.f, h.x, h.y, canvas.cover, per_image
    nx, top = NOSE_CX + h.px, NOSE_TOP + h.py
    w, r, bw = col(f['nose_width']), col(f['tip_size']), col(f['bridge_width'])
    tip = NOSE_TIP + 0.026 * col(f['nose_length']) + h.py
    depth, light_x = 0.1 + 0.4 * col(f['nose_depth']), col(torch.cos(f['light_angle']))
    strength = col(f['light_strength'])
    t = ((y - top) / (tip - top)).clamp(0, 1)
    half = bw + (0.7 * w - bw) * t.square()                               # The sides widen towards the tip.
    along = _bump((y - (top + tip) / 2) / ((tip - top) / 2 + 0.002))
    far = torch.where(light_x >= 0, -1.0, 1.0)
    sides = sum((depth + 0.3 * strength * light_x.abs() * (s == far)) * _bump((x - nx - s * half) / 0.018)
                for s in (-1.0, 1.0)) * along
    ridge = 0.25 * col(f['tip_highlight']) * _bump((x - nx) / (bw + 0.004)) * along
    ball = cover(ellipse_distance(x, y, nx, tip, 1.2 * r, r))
    crease = wings = 0
    for s in (-1.0, 1.0):
        wing = cover(ellipse_distance(x, y, nx + s * w, tip + 0.35 * r, 0.55 * r + 0.004, 0.6 * r + 0.003))
        ring = cover(ellipse_distance(x, y, nx + s * w, tip + 0.35 * r, 0.55 * r + 0.011, 0.6 * r + 0.01))
        crease, wings = crease + 0.6 * wing + (ring - wing).clamp(min=0), wings + wing
    under = _bump((y - tip - r - 0.006) / 0.006) * _bump((x - nx) / (w + 0.006)) * depth
    shading = (1 - sides.clamp(max=0.6)) * (1 + ridge + 0.15 * ball) * (1 - depth * crease) * (1 - 0.6 * under)
    flush = col(f['nose_flush']) * (ball + wings).clamp(max=1)
    tint = 1 + flush[:, None] * torch.tensor([0.35, -0.12, -0.12])[None, :, None, None]
    canvas.paint(window.expand_as(shading), canvas.img * shading[:, None] * tint, None)
    spot = cover(ellipse_distance(x, y, nx + 0.4 * r * light_x, tip - 0.3 * r, 0.8 * r, 0.6 * r))
    canvas.paint(0.7 * col(f['tip_highlight']) * spot * window, h.shade.clamp(max=1.0), None)
    holes = 0
    for s in (-1.0, 1.0):
        size = 0.25 + 0.45 * col(f['nostrils'])
        holes = holes + cover(ellipse_distance(x, y, nx + s * 0.5 * w, tip + 0.85 * r, size * w,
                                               (0.25 + 0.2 * col(f['nostrils'])) * r + 0.002))
    canvas.paint(holes.clamp(max=1) * window, canvas.img * 0.22, None)
    outline = cover(ellipse_distance(x, y, nx, (top + tip + r) / 2, w + 0.5 * r, (tip + r - top) / 2))
    canvas.labels = torch.where((outline * window) >= 0.5, NOSE, canvas.labels)


def _paint_mouth(canvas, h, window):
    """The lips (their own colour, the upper one darker, a gloss on the lower one) between outlines bent by the
    smile; where they part, the dark inside with the teeth in its top part; a dark seam where they meet."""
    f, x, y, shade, cover, col, rgb = h.f, h.x, h.y, h.shade, canvas.cover, per_image, per_image_rgb
    mx, my, mw = MOUTH_X + h.px, MOUTH_Y + h.py, col(f['mouth_width'])
    u = ((x - mx) / mw).clamp(-1, 1)
    envelope = (1 - u.square()).clamp(min=0).sqrt()
    centre = my - 0.025 * col(f['smile']) * u.square()
    gap = 0.02 * col(f['mouth_open']) * envelope
    d = y - centre
    upper, lower = gap + col(f['lip_upper']) * envelope + 0.0015, gap + col(f['lip_lower']) * envelope + 0.0015
    lips = torch.maximum((x - mx).abs() - mw, torch.where(d < 0, -d - upper, d - lower))
    lip = (rgb(h.skin) + 0.8 * (rgb(f['lip_colour']) - rgb(h.skin))) * shade
    mouth = lip * torch.where(d < 0, 0.85, 1.0)[:, None]
    gloss = cover(ellipse_distance(x, y, mx, centre + gap + 0.5 * col(f['lip_lower']), 0.4 * mw,
                                   0.35 * col(f['lip_lower'])))
    mouth = mouth + 0.8 * col(f['lip_gloss'])[:, None] * gloss[:, None] * (1 - mouth)
    inside = cover(torch.maximum((x - mx).abs() - mw, d.abs() - gap))
    teeth = inside * cover(d + gap - 2 * gap * col(f['teeth']))                # The inside's top, teeth * its height.
    mouth = mouth + inside[:, None] * (torch.tensor([0.2, 0.05, 0.06])[None, :, None, None] * shade - mouth)
    mouth = mouth + teeth[:, None] * (torch.tensor([0.9, 0.88, 0.8])[None, :, None, None] * shade - mouth)
    seam = cover(torch.maximum((x - mx).abs() - mw, d.abs() - 0.004)) * (1 - inside)
    mouth = mouth * (1 - 0.5 * seam)[:, None]
    canvas.paint(cover(lips) * window, mouth, MOUTH)

#----------------------------------------------------------------------------


#----------------------------------------------------------------------------
