"""Picture helpers (numpy + pillow): image tensors -> uint8, difference heatmaps, labelled grids.

The Fig. 3 layout of the LinkGAN paper, used by `linkgan demo` (and meant for `linkgan edit`): rows of originals,
in-region edits, their difference heatmaps, out-region edits and theirs, one column per sample.

    row = [to_uint8(img) for img in images]                # img [C, H, W] in [-1, 1] -> [H, W, 3] uint8
    hm  = heatmap(diff, vmax=1.0)                          # diff [H, W] >= 0 -> [H, W, 3] uint8
    pic = leakage_grid([row, ...], row_labels=[...], title='...', scale=3)   # -> PIL.Image
"""

import numpy as np

#----------------------------------------------------------------------------
# Arrays.

def to_uint8(img):
    """[C, H, W] (tensor or array, values in [-1, 1]; C = 1 or 3) -> [H, W, 3] uint8."""
    a = img.detach().cpu().float().numpy() if hasattr(img, 'detach') else np.asarray(img, dtype=np.float32)
    if a.ndim != 3:
        raise ValueError(f'to_uint8: expected [C, H, W], got shape {list(a.shape)}')
    a = np.clip((a + 1) * 127.5 + 0.5, 0, 255).astype(np.uint8).transpose(1, 2, 0)
    return np.repeat(a, 3, axis=2) if a.shape[2] == 1 else a[:, :, :3]


# An 'inferno'-like ramp: black -> purple -> red -> orange -> pale yellow.
_RAMP = np.array([[0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]], dtype=np.float32)


def heatmap(diff, vmax=None):
    """Colour-codes a non-negative difference map.

    Args:
        diff: [H, W] (tensor or array), e.g. the per-pixel squared difference averaged over channels.
        vmax: value mapped to the top of the ramp (default: the map's own maximum).
    Returns:
        [H, W, 3] uint8.
    """
    d = diff.detach().cpu().float().numpy() if hasattr(diff, 'detach') else np.asarray(diff, dtype=np.float32)
    if d.ndim != 2:
        raise ValueError(f'heatmap: expected [H, W], got shape {list(d.shape)}')
    vmax = float(d.max()) if vmax is None else float(vmax)
    t = np.clip(d / max(vmax, 1e-12), 0, 1) * (len(_RAMP) - 1)
    lo = np.floor(t).astype(np.int64).clip(0, len(_RAMP) - 2)
    frac = (t - lo)[..., None]
    return (_RAMP[lo] * (1 - frac) + _RAMP[lo + 1] * frac + 0.5).astype(np.uint8)


def outline(img, boxes, color=(0, 255, 0)):
    """Draws the 1-pixel outline of normalised boxes [[x0, y0, x1, y1], ...] on a copy of img [H, W, 3] uint8."""
    out = np.array(img, copy=True)
    H, W = out.shape[:2]
    for x0, y0, x1, y1 in boxes:
        c0, c1 = int(round(x0 * W)), max(int(round(x1 * W)) - 1, 0)
        r0, r1 = int(round(y0 * H)), max(int(round(y1 * H)) - 1, 0)
        out[r0:r1 + 1, [c0, c1]] = color
        out[[r0, r1], c0:c1 + 1] = color
    return out

def outline_mask(img, mask, color=(0, 255, 0)):
    """Paints the 1-pixel inner edge of a region mask [H, W] (threshold 0.5) on a copy of img [H, W, 3] uint8 (for
    regions that are not boxes: per-sample semantic masks, mask images)."""
    m = (mask.detach().cpu().numpy() if hasattr(mask, 'detach') else np.asarray(mask)) >= 0.5
    inner = m.copy()
    inner[1:] &= m[:-1]
    inner[:-1] &= m[1:]
    inner[:, 1:] &= m[:, :-1]
    inner[:, :-1] &= m[:, 1:]
    out = np.array(img, copy=True)
    out[m & ~inner] = color
    return out

#----------------------------------------------------------------------------
# Grids.

def leakage_grid(rows, row_labels=None, title=None, scale=3, pad=2, label_width=None, background=255):
    """Lays out rows of equally sized tiles with optional row labels on the left and a title on top.

    Args:
        rows:        list of rows, each a list of [H, W, 3] uint8 arrays (rows may differ in length).
        row_labels:  one string per row (or None).
        title:       text above the grid (or None).
        scale:       nearest-neighbour upscaling of every tile (small images stay readable).
        pad:         pixels between tiles.
    Returns:
        PIL.Image (RGB).
    """
    from PIL import Image, ImageDraw
    if not rows or not any(rows):
        raise ValueError('leakage_grid: no tiles')
    th, tw = rows[0][0].shape[:2]
    th, tw = th * scale, tw * scale
    cols = max(len(r) for r in rows)
    if label_width is None:
        longest = max((len(s) for s in (row_labels or []) if s), default=0)
        label_width = 6 * longest + 8 if longest else 0
    title_h = 14 if title else 0
    W = label_width + cols * (tw + pad) + pad
    H = title_h + len(rows) * (th + pad) + pad
    canvas = Image.new('RGB', (W, H), (background,) * 3)
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((pad, 1), title, fill=(0, 0, 0))
    for i, row in enumerate(rows):
        y = title_h + pad + i * (th + pad)
        if row_labels and row_labels[i]:
            draw.text((2, y + th // 2 - 5), row_labels[i], fill=(0, 0, 0))
        for j, tile in enumerate(row):
            tile = np.asarray(tile, dtype=np.uint8)
            if tile.shape[:2] != rows[0][0].shape[:2]:
                raise ValueError(f'leakage_grid: tile ({i}, {j}) has shape {tile.shape[:2]}, expected {rows[0][0].shape[:2]}')
            img = Image.fromarray(tile).resize((tw, th), Image.NEAREST)
            canvas.paste(img, (label_width + pad + j * (tw + pad), y))
    return canvas


def stack_horizontal(images, pad=6, background=255):
    """Places PIL images left to right (top-aligned) in one image."""
    from PIL import Image
    W = sum(im.width for im in images) + pad * (len(images) - 1)
    H = max(im.height for im in images)
    canvas = Image.new('RGB', (W, H), (background,) * 3)
    x = 0
    for im in images:
        canvas.paste(im, (x, 0))
        x += im.width + pad
    return canvas


def stack_vertical(images, pad=6, background=255):
    """Stacks PIL images top to bottom (left-aligned) into one image."""
    from PIL import Image
    W = max(im.width for im in images)
    H = sum(im.height for im in images) + pad * (len(images) - 1)
    canvas = Image.new('RGB', (W, H), (background,) * 3)
    y = 0
    for im in images:
        canvas.paste(im, (0, y))
        y += im.height + pad
    return canvas

#----------------------------------------------------------------------------
# Plots.

PALETTE = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (255, 127, 14), (148, 103, 189), (140, 86, 75),
           (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]


class _Axes:
    """Data -> pixel mapping of a plot area (linear or log10 per axis)."""

    def __init__(self, series, hlines, vlines, log_x, log_y, box):
        import math
        self.log_x, self.log_y, self.box = log_x, log_y, box
        self.tx = (lambda v: math.log10(v)) if log_x else (lambda v: v)
        self.ty = (lambda v: math.log10(v)) if log_y else (lambda v: v)
        xs = [self.tx(x) for s in series for x, y in s['points'] if self.ok(x, y)]
        ys = [self.ty(y) for s in series for x, y in s['points'] if self.ok(x, y)]
        xs += [self.tx(v) for v, _ in vlines if v > 0 or not log_x]
        ys += [self.ty(v) for v, _ in hlines if v > 0 or not log_y]
        if not xs or not ys:
            raise ValueError('xy_plot: nothing to draw')
        (x0, x1), (y0, y1) = (min(xs), max(xs)), (min(ys), max(ys))
        pad_x, pad_y = (x1 - x0) * 0.06 or 0.5, (y1 - y0) * 0.06 or 0.5
        self.x0, self.x1, self.y0, self.y1 = x0 - pad_x, x1 + pad_x, y0 - pad_y, y1 + pad_y

    def ok(self, x, y):
        import math
        return (x > 0 or not self.log_x) and (y > 0 or not self.log_y) and math.isfinite(x) and math.isfinite(y)

    def px(self, v):
        left, _, right, _ = self.box
        return left + (self.tx(v) - self.x0) / (self.x1 - self.x0) * (right - left)

    def py(self, v):
        _, top, _, bottom = self.box
        return bottom - (self.ty(v) - self.y0) / (self.y1 - self.y0) * (bottom - top)

    def ticks(self, horizontal, count=5):
        """(pixel position, label) of `count` ticks along one axis."""
        lo, hi, log = (self.x0, self.x1, self.log_x) if horizontal else (self.y0, self.y1, self.log_y)
        out = []
        for k in range(count):
            t = lo + (hi - lo) * k / (count - 1)
            v = 10 ** t if log else t
            out.append((self.px(v) if horizontal else self.py(v), f'{v:.3g}'))
        return out


def _dashed_line(draw, axes, value, horizontal, label):
    left, top, right, bottom = axes.box
    if (axes.log_y if horizontal else axes.log_x) and value <= 0:
        return
    p = axes.py(value) if horizontal else axes.px(value)
    if not ((top <= p <= bottom) if horizontal else (left <= p <= right)):
        return
    start, stop = (left, right) if horizontal else (top, bottom)
    for a in range(int(start), int(stop), 10):
        b = min(a + 5, stop)
        draw.line([a, p, b, p] if horizontal else [p, a, p, b], fill=(120, 120, 120))
    draw.text((right + 4, p - 5) if horizontal else (p + 2, top + 2), label, fill=(90, 90, 90))


def xy_plot(series, x_label, y_label, title=None, hlines=(), vlines=(), log_x=False, log_y=False, size=(760, 520)):
    """A small scatter / line plot drawn with pillow (no plotting library needed).

    Args:
        series:  list of {'label': str, 'points': [(x, y), ...], 'line': bool (connect points in order),
                 'labels': optional per-point text, 'color': optional RGB}.
        hlines:  list of (y, label) dashed reference lines (e.g. the paper's anchors); vlines likewise in x.
        log_x, log_y: logarithmic axes (non-positive values are dropped).
    Returns:
        PIL.Image (RGB).
    """
    from PIL import Image, ImageDraw
    W, H = size
    box = (70, 30 if title else 12, W - 190, H - 46)            # left, top, right, bottom of the plot area
    axes = _Axes(series, hlines, vlines, log_x, log_y, box)
    img = Image.new('RGB', size, (255, 255, 255))
    d = ImageDraw.Draw(img)
    left, top, right, bottom = box
    d.rectangle(box, outline=(0, 0, 0))
    if title:
        d.text((left, 8), title, fill=(0, 0, 0))
    d.text(((left + right) // 2 - 3 * len(x_label), H - 16), x_label, fill=(0, 0, 0))
    d.text((4, 16 if title else top - 2), y_label, fill=(0, 0, 0))
    for p, text in axes.ticks(horizontal=True):
        d.line([p, bottom, p, bottom + 4], fill=(0, 0, 0))
        d.text((p - 3 * len(text), bottom + 6), text, fill=(0, 0, 0))
    for p, text in axes.ticks(horizontal=False):
        d.line([left - 4, p, left, p], fill=(0, 0, 0))
        d.text((left - 8 - 6 * len(text), p - 5), text, fill=(0, 0, 0))
    for value, label in hlines:
        _dashed_line(d, axes, value, True, label)
    for value, label in vlines:
        _dashed_line(d, axes, value, False, label)
    for i, s in enumerate(series):
        color = tuple(s.get('color') or PALETTE[i % len(PALETTE)])
        pts = [(axes.px(x), axes.py(y)) for x, y in s['points'] if axes.ok(x, y)]
        if s.get('line') and len(pts) > 1:
            d.line(pts, fill=color, width=2)
        for j, (a, b) in enumerate(pts):
            d.ellipse([a - 3, b - 3, a + 3, b + 3], fill=color)
            if s.get('labels'):
                d.text((a + 4, b - 10), str(s['labels'][j]), fill=color)
        y = top + 120 + 14 * i
        d.rectangle([right + 6, y + 2, right + 14, y + 10], fill=color)
        d.text((right + 18, y), s['label'][:28], fill=(0, 0, 0))
    return img

#----------------------------------------------------------------------------
