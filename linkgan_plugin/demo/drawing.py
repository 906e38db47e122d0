"""Drawing primitives of the procedural face scenes (faces.py, portraits.py): argument checks, factor draws, the
pixel grid, signed distances, the antialiased canvas, skin colour and the head's shading.

Conventions (both scenes): images are drawn as RGB intensities in [0, 1] and returned as 2 * intensity - 1 in
[-1, 1]; lengths are fractions of the image side; x is the column, y the row (down); a pixel's coordinates are its
centre's, (index + 0.5) / R. A shape is an approximate signed distance d [N, R, R] (image widths, negative
inside), painted with the antialiased opacity clamp(0.5 - d * R, 0, 1); a pixel takes the shape's class where that
opacity is >= 0.5 (its centre lies inside).
"""

import math
from types import SimpleNamespace

import torch

# The classes of both face scenes' label maps (int64).
BACKGROUND, SKIN, HAIR, CLOTHES, BROWS, EYES, NOSE, MOUTH = range(8)
CLASS_NAMES = ('background', 'skin', 'hair', 'clothes', 'brows', 'eyes', 'nose', 'mouth')

#----------------------------------------------------------------------------
# Arguments and factors.

def check_scene_arguments(batch, resolution, min_resolution, hint=''):
    """ValueError naming `batch` or `resolution` unless batch is an integer >= 1 and resolution one >= min_resolution
    (`hint`: said after the bound, e.g. ' (32 or 64 intended)')."""
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f'batch must be an integer >= 1, got {batch!r}')
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < min_resolution:
        raise ValueError(f'resolution must be an integer >= {min_resolution}{hint}, got {resolution!r}')


def draw_factor_table(batch, generator, table, names, jitter=0.05):
    """Every factor of `batch` images from one [batch, columns] uniform draw, in the order of `table`, so fixing
    (overriding) one factor afterwards leaves every other factor's draw the same.

    Args:
        table: [(name, kind, value)] with kind 'uniform' (value (low, high): one column, [batch]), 'palette' (value a
               tuple of RGB entries: one column picks an entry, three move its channels by up to +-jitter, clamped
               to [0, 1]: [batch, 3]) or 'colour' (value (low, span): three columns, uniform in [low, low + span]
               per channel: [batch, 3]).
        names: the order of the returned dict.
    Returns:
        {name: float32 [batch] or [batch, 3]} in the order of `names`.
    """
    width = {'uniform': 1, 'palette': 4, 'colour': 3}
    u = torch.rand([batch, sum(width[kind] for _, kind, _ in table)], generator=generator)
    out, k = {}, 0
    for name, kind, value in table:
        if kind == 'uniform':
            low, high = value
            out[name] = low + (high - low) * u[:, k]
        elif kind == 'palette':
            entries = torch.tensor(value)
            pick = (u[:, k] * len(value)).long().clamp(max=len(value) - 1)
            out[name] = (entries[pick] + jitter * (2 * u[:, k + 1:k + 4] - 1)).clamp(0, 1)
        else:
            low, span = value
            out[name] = low + span * u[:, k:k + 3]
        k += width[kind]
    return {name: out[name] for name in names}


def apply_overrides(factors, overrides):
    """`factors` ({name: [N] or [N, 3]}) with `overrides` ({name: a number or a tensor broadcastable to the
    factor's shape}) replacing some, in place; ValueError naming the override for an unknown name or a bad shape."""
    for name, value in (overrides or {}).items():
        if name not in factors:
            raise ValueError(f'overrides: unknown factor {name!r} (known: {", ".join(factors)})')
        try:
            factors[name] = torch.as_tensor(value, dtype=torch.float32).expand_as(factors[name]).clone()
        except (RuntimeError, TypeError, ValueError) as e:
            raise ValueError(f'overrides[{name!r}]: must be a number or broadcast to shape '
                             f'{list(factors[name].shape)} ({type(e).__name__}: {e})') from None
    return factors

#----------------------------------------------------------------------------
# The canvas.

def per_image(t):
    """[N] -> [N, 1, 1]: a per-image value over the pixels."""
    return t[:, None, None]


def per_image_rgb(c):
    """[N, 3] -> [N, 3, 1, 1]: a per-image colour over the pixels."""
    return c[:, :, None, None]


def pixel_grid(resolution):
    """Pixel-centre coordinates (x, y), each [1, R, R] in (0, 1): x = (column + 0.5) / R, y = (row + 0.5) / R."""
    t = (torch.arange(resolution, dtype=torch.float32) + 0.5) / resolution
    return t[None, :].expand(resolution, resolution)[None], t[:, None].expand(resolution, resolution)[None]


class Canvas:
    """N images [N, 3, R, R] (intensities, starting black) and their label maps [N, R, R] (starting `background`),
    painted back to front. With exact=True a fully opaque paint leaves exactly its colour (torch.lerp), so what
    lies under it cannot reach the result even by a rounding; faces.py keeps the plain img + alpha (colour - img)
    its committed networks were trained on."""

    def __init__(self, batch, resolution, background=0, exact=False):
        self.resolution, self.exact = resolution, exact
        self.img = torch.zeros(batch, 3, resolution, resolution)
        self.labels = torch.full([batch, resolution, resolution], background, dtype=torch.int64)

    def cover(self, d):
        """The antialiased opacity [N, R, R] in [0, 1] of the shape of signed distance d: clamp(0.5 - d R, 0, 1)."""
        return (0.5 - d * self.resolution).clamp(0, 1)

    def paint(self, alpha, colour, cls, label_alpha=None):
        """Composites `colour` (broadcast to [N, 3, R, R]) with opacity `alpha` [N, R, R]; the class `cls` (None:
        none) goes where label_alpha (default alpha) >= 0.5."""
        if self.exact:
            weight = alpha[:, None].expand_as(self.img)
            self.img = torch.lerp(self.img, torch.as_tensor(colour).expand_as(self.img), weight)
        else:
            self.img = self.img + alpha[:, None] * (colour - self.img)
        if cls is not None:
            self.labels = torch.where((alpha if label_alpha is None else label_alpha) >= 0.5, cls, self.labels)

    def crop(self, rows, cols):
        """A canvas over the pixels [rows, cols] (slices) of this one, to paint a small part there; `paste` puts it
        back. Its resolution (the antialiasing scale) stays this one's."""
        sub = Canvas.__new__(Canvas)
        sub.resolution, sub.exact = self.resolution, self.exact
        sub.img, sub.labels = self.img[..., rows, cols], self.labels[:, rows, cols]
        return sub

    def paste(self, sub, rows, cols):
        """Writes a cropped canvas (`crop`) back into [rows, cols]."""
        self.img, self.labels = self.img.clone(), self.labels.clone()
        self.img[..., rows, cols], self.labels[:, rows, cols] = sub.img, sub.labels

    def result(self):
        """(images float32 [N, 3, R, R] in [-1, 1], labels int64 [N, R, R])."""
        return (self.img.clamp(0, 1) * 2 - 1).contiguous(), self.labels

#----------------------------------------------------------------------------
# Shapes and light.

def ellipse_distance(x, y, cx, cy, a, b):
    """Approximate signed distance (image widths; negative inside) from the pixel centres (x, y) to the
    axis-aligned ellipse of centre (cx, cy) and half-axes (a, b): (r - 1) / |grad r| with r the ellipse's
    radial coordinate (exact on the outline, first-order near it). Arguments broadcast; [N, R, R]."""
    a, b = torch.as_tensor(a, dtype=torch.float32), torch.as_tensor(b, dtype=torch.float32)
    dx, dy = x - cx, y - cy
    r = ((dx / a).square() + (dy / b).square()).sqrt()
    grad = ((dx / a.square()).square() + (dy / b.square()).square()).sqrt() / r.clamp(min=1e-6)
    return (r - 1) / grad.clamp(min=1e-6)


def skin_colour(tone, warmth, dark, pale, warmth_scale=0.04):
    """Skin RGB [N, 3] in [0, 1]: from `dark` (tone 0) to `pale` (tone 1) (RGB triples), red up and blue down by
    warmth_scale * warmth (warmth in [-1, 1])."""
    dark, pale = torch.tensor(dark), torch.tensor(pale)
    colour = dark + (pale - dark) * tone[:, None]
    return (colour + warmth_scale * warmth[:, None] * torch.tensor([1.0, 0.0, -1.0])).clamp(0, 1)


def head_shading(x, y, fx, fy, fw, half_height, f, elevation=1.0, gain=1.6):
    """The light over the whole head: exposure * (1 - s + gain s max(n . L, 0)), with s = f['light_strength'], n the
    normal of an ellipsoid a little larger than the face (centre (fx, fy), half-axes 1.15 fw and 1.1 half_height;
    outside it: the normal of its rim), L the light's direction (f['light_angle'] in the image plane, `elevation`
    radians off the viewing axis) and f['exposure'] a gain. [N, R, R]."""
    nx = (x - fx) / (1.15 * fw)
    ny = (y - fy) / (1.1 * half_height)
    r = (nx.square() + ny.square()).sqrt()
    scale = torch.where(r > 1, 1 / r.clamp(min=1e-6), torch.ones_like(r))
    nx, ny = nx * scale, ny * scale
    nz = (1 - nx.square() - ny.square()).clamp(min=0).sqrt()
    angle = f['light_angle'][:, None, None]
    lambert = (nx * torch.cos(angle) * math.sin(elevation) + ny * torch.sin(angle) * math.sin(elevation)
               + nz * math.cos(elevation)).clamp(min=0)
    s = f['light_strength'][:, None, None]
    return f['exposure'][:, None, None] * (1 - s + gain * s * lambert)


def hair_texture(x, fx, strands=11):
    """Soft strands across the hair: in [-1, 1], [N, 1, R, R] (a fixed pattern that moves with the head)."""
    return torch.sin(2 * math.pi * strands * (x - fx))[:, None]

#----------------------------------------------------------------------------
# The head (background, hair, neck, clothes, ears, face, fringe, brows): the same in both face scenes.

def make_head(f, R, geometry):
    """What every part of a face is drawn from: the pixel grid, the pose and outline, the light, the colours.

    Args:
        f:        the factors ({name: [N] or [N, 3]}: pose_x, pose_y, face_width, skin_tone, skin_warmth,
                  light_angle, light_strength, exposure, hair_colour, and what the painters read).
        R:        the resolution.
        geometry: {'face_x', 'face_y', 'half_height' (of the face's outline), 'eye_xs', 'eye_y' (the eyes'
                  centres), 'skin_dark', 'skin_pale' (RGB)}: the scene's fixed layout.
    Returns:
        a namespace: f, N, R, x, y [1, R, R], px, py, fx, fy, fw [N, 1, 1], shade [N, 1, R, R], skin [N, 3], hair
        [N, 3], and the geometry's entries.
    """
    g = SimpleNamespace(**geometry)
    x, y = pixel_grid(R)
    px, py = per_image(f['pose_x']), per_image(f['pose_y'])
    fx, fy, fw = g.face_x + px, g.face_y + py, per_image(f['face_width'])
    shade = head_shading(x, y, fx, fy, fw, g.half_height, f)[:, None]               # [N, 1, R, R]
    skin = skin_colour(f['skin_tone'], f['skin_warmth'], g.skin_dark, g.skin_pale)  # [N, 3]
    return SimpleNamespace(**geometry, f=f, N=f['pose_x'].shape[0], R=R, x=x, y=y, px=px, py=py, fx=fx, fy=fy,
                           fw=fw, shade=shade, skin=skin, hair=f['hair_colour'])


def crop_head(h, rows, cols):
    """The head namespace (make_head) over the pixels [rows, cols] (slices) only, for a cropped canvas."""
    return SimpleNamespace(**{**vars(h), 'x': h.x[:, rows, cols], 'y': h.y[:, rows, cols],
                              'shade': h.shade[..., rows, cols]})


def paint_back(canvas, h):
    """Background, the hair's back (crown and sides), neck and clothes; returns the crown's distance [N, R, R]."""
    f, x, y, fx, fy, fw, rgb, cover = h.f, h.x, h.y, h.fx, h.fy, h.fw, per_image_rgb, canvas.cover
    # Background: its colour, a little darker towards the bottom.
    canvas.paint(torch.ones(h.N, h.R, h.R), rgb(f['background_colour']) * (1.08 - 0.2 * y[:, None]), None)

    # The hair's back: a crown behind the head and the sides down to the hair's length.
    volume = per_image(f['hair_volume'])
    crown_y, crown_a, crown_b = fy - 0.04, fw + volume, h.half_height + volume - 0.01
    crown = ellipse_distance(x, y, fx, crown_y, crown_a, crown_b)
    hair_end = 0.45 + 0.5 * per_image(f['hair_length'])
    sides = torch.maximum(torch.maximum((x - fx).abs() - crown_a, y - hair_end), crown_y - y)
    canvas.paint(cover(torch.minimum(crown, sides)), rgb(h.hair) * h.shade * (0.9 + 0.1 * hair_texture(x, fx)), HAIR)

    # Neck (shaded by the chin) and clothes (shoulders).
    neck = torch.maximum((x - fx).abs() - 0.45 * fw, fy + 0.15 - y)
    canvas.paint(cover(neck), rgb(h.skin) * h.shade * 0.72, SKIN)
    clothes = ellipse_distance(x, y, fx, 1.16 + h.py, 0.46, 0.22)
    canvas.paint(cover(clothes), rgb(f['clothes_colour']) * h.shade, CLOTHES)
    return crown


def paint_face(canvas, h, crown):
    """Ears (under short hair only), the face's egg-shaped outline (darker around the eyes) and the fringe."""
    f, x, y, px, py, fx, fy, fw = h.f, h.x, h.y, h.px, h.py, h.fx, h.fy, h.fw
    rgb, cover = per_image_rgb, canvas.cover
    ears_show = per_image((f['hair_length'] < 0.5).float())
    for side in (-1, 1):
        ear = ellipse_distance(x, y, fx + side * (fw + 0.005), h.eye_y + 0.045 + py, 0.03, 0.05)
        canvas.paint(cover(ear) * ears_show, rgb(h.skin) * h.shade * 0.88, SKIN)
    below = ((y - fy) / h.half_height).clamp(0, 1)
    face = ellipse_distance(x, y, fx, fy, fw * (1 - 0.2 * below.square()), h.half_height)
    socket = sum(torch.exp(-((x - ex - px) / 0.075).square() - ((y - h.eye_y - py + 0.008) / 0.045).square())
                 for ex in h.eye_xs)                                        # Darker around the eyes.
    canvas.paint(cover(face), rgb(h.skin) * h.shade * (1 - 0.12 * socket[:, None]), SKIN)

    # Fringe: the crown's front above the hairline (lower towards the temples).
    hairline = per_image(f['hairline']) + 0.12 * ((x - fx) / fw).square()
    canvas.paint(cover(torch.maximum(crown, y - hairline)),
                 rgb(h.hair) * h.shade * (0.9 + 0.1 * hair_texture(x, fx)), HAIR)


def paint_brows(canvas, h, arch=0.012, half_length=0.065):
    """Eyebrows: thick arcs (f['brow_thickness'] in the middle, f['brow_height'] above the eyes' centre row; their
    ends `arch` lower, a number or [N, 1, 1]) and thinner, a darker tone of the hair."""
    f, x, y, px = h.f, h.x, h.y, h.px
    brow_y, brow_t = h.eye_y + h.py - per_image(f['brow_height']), per_image(f['brow_thickness'])
    brow_colour = per_image_rgb(h.hair * 0.7) * h.shade
    for ex in h.eye_xs:
        u = ((x - ex - px) / half_length).clamp(-1, 1)
        arc = brow_y + arch * u.square()
        brow = torch.maximum((y - arc).abs() - brow_t / 2 * (1 - 0.5 * u.square()), (x - ex - px).abs() - half_length)
        canvas.paint(canvas.cover(brow), brow_colour, BROWS)

#----------------------------------------------------------------------------
