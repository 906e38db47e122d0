"""The one x-y plot kit (pillow, no plotting library) for every curve and scatter picture: `linkgan compare`'s curves,
LELSD's training curve, the lab's frontiers. `xy_plot(series, x_label, y_label, ...)` returns a PIL image.
"""

import math

#----------------------------------------------------------------------------

PALETTE = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (255, 127, 14), (148, 103, 189), (140, 86, 75),
           (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]
MARKERS = ('circle', 'square', 'triangle', 'diamond')
GRID, REFERENCE, NOTE = (232, 232, 232), (150, 150, 150), (110, 110, 110)


class _Axes:
    """Data -> pixel mapping of a plot area (linear or log10 per axis); the range covers the points and the
    horizontal / vertical reference lines, padded by 6% (0 to 1, in log10 units on a log axis, when there are none)."""

    def __init__(self, series, hlines, vlines, log_x, log_y, box):
        self.log_x, self.log_y, self.box = log_x, log_y, box
        self.tx = math.log10 if log_x else (lambda v: v)
        self.ty = math.log10 if log_y else (lambda v: v)
        xs = [self.tx(x) for s in series for x, y in s['points'] if self.ok(x, y)]
        ys = [self.ty(y) for s in series for x, y in s['points'] if self.ok(x, y)]
        xs += [self.tx(v) for v, _ in vlines if v > 0 or not log_x]
        ys += [self.ty(v) for v, _ in hlines if v > 0 or not log_y]
        (x0, x1), (y0, y1) = (min(xs), max(xs)) if xs else (0.0, 1.0), (min(ys), max(ys)) if ys else (0.0, 1.0)
        pad_x, pad_y = (x1 - x0) * 0.06 or 0.5, (y1 - y0) * 0.06 or 0.5
        self.x0, self.x1, self.y0, self.y1 = x0 - pad_x, x1 + pad_x, y0 - pad_y, y1 + pad_y

    def ok(self, x, y):
        return (x is not None and y is not None and math.isfinite(x) and math.isfinite(y) and (x > 0 or not self.log_x)
                and (y > 0 or not self.log_y))

    def px(self, v):
        left, _, right, _ = self.box
        return left + (self.tx(v) - self.x0) / (self.x1 - self.x0) * (right - left)

    def py(self, v):
        _, top, _, bottom = self.box
        return bottom - (self.ty(v) - self.y0) / (self.y1 - self.y0) * (bottom - top)

    def ticks(self, horizontal):
        """(pixel position, label) of the ticks along one axis: log axes at decades (and 2, 5 within a short range),
        linear axes (and log axes with fewer than two such ticks) at five evenly spaced values."""
        lo, hi, log = (self.x0, self.x1, self.log_x) if horizontal else (self.y0, self.y1, self.log_y)
        place = self.px if horizontal else self.py
        if log:
            steps = [math.log10(m) for m in (1, 2, 5)] if hi - lo < 2.5 else [0.0]
            exps = [e + s for e in range(math.floor(lo), math.ceil(hi) + 1) for s in steps if lo <= e + s <= hi]
            if len(exps) >= 2:
                return [(place(10 ** e), f'{10.0 ** round(e):g}' if abs(e - round(e)) < 1e-9 else f'{10 ** e:.2g}')
                        for e in exps]
        values = [lo + (hi - lo) * k / 4 for k in range(5)]
        return [(place(10 ** t if log else t), f'{10 ** t if log else t:.3g}') for t in values]

    def ratio_segment(self, r):
        """Pixel end points of the line y = r * x clipped to the plot range (log-log or linear-linear), or None."""
        t = math.log10 if self.log_x else (lambda v: v)
        if self.log_x:
            a, b = max(self.x0, self.y0 - t(r)), min(self.x1, self.y1 - t(r))
            a, b = 10 ** a, 10 ** b
        else:
            a, b = sorted((self.y0 / r, self.y1 / r))
            a, b = max(self.x0, a), min(self.x1, b)
        if a >= b:
            return None
        return (self.px(a), self.py(r * a)), (self.px(b), self.py(r * b))


def _dashed(draw, p0, p1, fill, dash=6, gap=4, width=1):
    """A dashed segment from p0 to p1 (pixels)."""
    (x0, y0), (x1, y1) = p0, p1
    length = math.hypot(x1 - x0, y1 - y0)
    if length == 0:
        return
    dx, dy = (x1 - x0) / length, (y1 - y0) / length
    pos = 0.0
    while pos < length:
        end = min(pos + dash, length)
        draw.line([(x0 + dx * pos, y0 + dy * pos), (x0 + dx * end, y0 + dy * end)], fill=fill, width=width)
        pos = end + gap


def _marker(draw, shape, x, y, color, r=3.5):
    """One of MARKERS centred at (x, y)."""
    if shape == 'circle':
        draw.ellipse([x - r, y - r, x + r, y + r], fill=color)
    elif shape == 'square':
        draw.rectangle([x - r, y - r, x + r, y + r], fill=color)
    elif shape == 'triangle':
        draw.polygon([(x, y - r - 1), (x - r - 1, y + r), (x + r + 1, y + r)], fill=color)
    else:
        draw.polygon([(x, y - r - 1), (x + r + 1, y), (x, y + r + 1), (x - r - 1, y)], fill=color)


def _frame(d, axes, title, x_label, y_label, height):
    """Title, grid lines and tick labels, the box and the axis labels."""
    left, top, right, bottom = axes.box
    if title:
        d.text((left, 6), title, fill=(0, 0, 0))
    for p, text in axes.ticks(horizontal=True):
        d.line([p, top, p, bottom], fill=GRID)
        d.text((p - 3 * len(text), bottom + 6), text, fill=(60, 60, 60))
    for p, text in axes.ticks(horizontal=False):
        d.line([left, p, right, p], fill=GRID)
        d.text((left - 8 - 6 * len(text), p - 5), text, fill=(60, 60, 60))
    d.rectangle(axes.box, outline=(0, 0, 0))
    d.text(((left + right) // 2 - 3 * len(x_label), height - 16), x_label, fill=(0, 0, 0))
    d.text((4, top - 16), y_label, fill=(0, 0, 0))


def _reference_lines(d, axes, hlines, vlines, ratio_lines):
    """Dashed lines y = value (labelled inside the plot at their right end, so the margin stays the legend's) and
    y = r * x (labelled at their upper end); dotted lines x = value (labelled at the top)."""
    left, top, right, bottom = axes.box
    for value, label in hlines:
        if (value > 0 or not axes.log_y) and top <= axes.py(value) <= bottom:
            p = axes.py(value)
            _dashed(d, (left, p), (right, p), REFERENCE)
            d.text((right - 6 * len(label) - 4, p - 12), label, fill=NOTE)
    for value, label in vlines:
        if (value > 0 or not axes.log_x) and left <= axes.px(value) <= right:
            p = axes.px(value)
            _dashed(d, (p, top), (p, bottom), (90, 90, 90), dash=2, gap=3)
            d.text((p + 2, top + 2), label, fill=NOTE)
    for r, label in ratio_lines:
        seg = axes.ratio_segment(r)
        if seg is not None:
            _dashed(d, *seg, REFERENCE)
            pos = (seg[1][0] - 6 * len(label) - 4, seg[1][1] + 3)
            d.rectangle(d.textbbox(pos, label), fill=(255, 255, 255))
            d.text(pos, label, fill=NOTE)


def xy_plot(series, x_label, y_label, title=None, hlines=(), vlines=(), ratio_lines=(), log_x=False, log_y=False,
            notes=(), size=(760, 520), legend_width=190):
    """A small scatter / line plot drawn with pillow (no plotting library needed).

    Args:
        series:       list of {'label': str, 'points': [(x, y), ...], 'line': bool (connect points in order),
                      'labels': optional per-point text, 'color': optional RGB (default PALETTE by position),
                      'marker': optional one of MARKERS (default 'circle')}.
        hlines:       list of (y, label) dashed reference lines (e.g. the paper's anchors); vlines: (x, label) dotted.
        ratio_lines:  list of (r, label) dashed lines y = r * x (needs log_x == log_y; e.g. locality anchors).
        log_x, log_y: logarithmic axes (non-positive values are dropped).
        notes:        lines of text under the legend (in the right margin, legend_width pixels wide).
    Returns:
        PIL.Image (RGB).
    """
    from PIL import Image, ImageDraw
    if ratio_lines and log_x != log_y:
        raise ValueError('xy_plot: ratio_lines need both axes linear or both logarithmic')
    W, H = size
    box = (70, 40 if title else 22, W - legend_width, H - 46)            # left, top, right, bottom of the plot area
    axes = _Axes(series, hlines, vlines, log_x, log_y, box)
    img = Image.new('RGB', size, (255, 255, 255))
    d = ImageDraw.Draw(img)
    _frame(d, axes, title, x_label, y_label, H)
    _reference_lines(d, axes, hlines, vlines, ratio_lines)
    legend_x, legend_y = box[2] + 12, box[1]
    for i, s in enumerate(series):
        color, shape = tuple(s.get('color') or PALETTE[i % len(PALETTE)]), s.get('marker', 'circle')
        pts = [(axes.px(x), axes.py(y)) for x, y in s['points'] if axes.ok(x, y)]
        if s.get('line') and len(pts) > 1:
            d.line(pts, fill=color, width=2)
        for j, (a, b) in enumerate(pts):
            _marker(d, shape, a, b, color)
            if s.get('labels'):
                d.text((a + 4, b - 10), str(s['labels'][j]), fill=color)
        if s.get('line'):
            d.line([(legend_x, legend_y + 6), (legend_x + 18, legend_y + 6)], fill=color, width=2)
        _marker(d, shape, legend_x + 9, legend_y + 6, color)
        d.text((legend_x + 24, legend_y), s['label'][:max(8, (legend_width - 40) // 6)], fill=(0, 0, 0))
        legend_y += 16
    for k, text in enumerate(notes):
        d.text((legend_x, legend_y + 8 + 16 * k), text, fill=NOTE)
    return img

#----------------------------------------------------------------------------
