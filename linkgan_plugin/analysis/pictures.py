"""Picture helpers (numpy + pillow): image tensors -> uint8, difference heatmaps, labelled grids, edit grids and
GIFs (`linkgan edit`). The x-y plots are plots.py's.

The Fig. 3 layout of the LinkGAN paper, used by `linkgan demo` (and meant for `linkgan edit`): rows of originals,
in-region edits, their difference heatmaps, out-region edits and theirs, one column per sample.

    row = [to_uint8(img) for img in images]                # img [C, H, W] in [-1, 1] -> [H, W, 3] uint8
    hm  = heatmap(diff, vmax=1.0)                          # diff [H, W] >= 0 -> [H, W, 3] uint8
    pic = leakage_grid([row, ...], row_labels=[...], title='...', scale=3)   # -> PIL.Image
"""


import numpy as np
import torch
import torch.nn.functional as F

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


def outline(img, mask, color=(0, 255, 0)):
    """Paints the edge of a region mask [H', W'] (any kind of region: boxes rasterised, mask images, per-sample
    semantic masks; threshold 0.5, resized to the image) on a copy of img [H, W, 3] uint8 (`mask_edge`)."""
    out = np.array(img, copy=True)
    out[mask_edge(torch.as_tensor(mask), out.shape[0])] = color
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

RED = (255, 0, 0)
CYAN = (0, 255, 255)
BACKGROUND = (255, 255, 255)
TEXT = (0, 0, 0)

# Edit grid geometry (pixels).
PAD = 2
TITLE_H = 14
HEADER_H = 14
GUTTER_W = 52
BAR_H = 4          # GIF: progress bar under the frame (also keeps every frame distinct).

#----------------------------------------------------------------------------
# Edit grids (`linkgan edit`, the demo's GIF): the paper's Fig. 3 layout with column headers, region
# outlines of any kind, EG3D depth rows.

def to_rgb_uint8(images):
    """[N, C, H, W] in [-1, 1] -> uint8 [N, H, W, 3] (pictures.to_uint8: one channel is gray, more than 3 are cut)."""
    return np.stack([to_uint8(img) for img in images])


def depth_to_uint8(depths, lo, hi):
    """[N, 1, H, W] depths -> uint8 [N, H, W, 3] gray, near = bright, with the given range."""
    d = ((hi - depths) / max(hi - lo, 1e-8)).clamp(0, 1)
    return (d * 255).round().to(torch.uint8).repeat(1, 3, 1, 1).permute(0, 2, 3, 1).numpy()


def heat_colors(values, vmax):
    """[N, H, W] non-negative -> uint8 [N, H, W, 3] with pictures.heatmap's ramp (the demo's), scaled by vmax [N]."""
    return np.stack([heatmap(values[n], max(float(vmax[n]), 1e-12)) for n in range(values.shape[0])])


def mean_abs_change(original, variants):
    """Mean over variants and channels of |x' - x|: [N, H, W]."""
    return torch.stack([(v - original).abs().mean(dim=1) for v in variants]).mean(dim=0)


def mask_edge(mask, size):
    """Boolean [size, size] outline of a [H, W] mask (threshold 0.5) at tile resolution, ~size/128 px thick."""
    m = F.interpolate(mask[None, None].float(), size=(size, size), mode='nearest')[0, 0].numpy() >= 0.5
    inner = m.copy()
    for _ in range(max(1, size // 128)):
        shrunk = inner.copy()
        shrunk[1:] &= inner[:-1]
        shrunk[:-1] &= inner[1:]
        shrunk[:, 1:] &= inner[:, :-1]
        shrunk[:, :-1] &= inner[:, 1:]
        shrunk[0, :] = shrunk[-1, :] = shrunk[:, 0] = shrunk[:, -1] = False
        inner = shrunk
    return m & ~inner


def tile_image(rgb, size, edge=None, color=RED):
    """uint8 [H, W, 3] -> PIL tile of size x size (nearest when enlarging), with the outline `edge` painted."""
    from PIL import Image
    img = Image.fromarray(rgb)
    if img.size != (size, size):
        img = img.resize((size, size), Image.NEAREST if size >= rgb.shape[0] else Image.LANCZOS)
    if edge is not None:
        arr = np.array(img)
        arr[edge] = color
        img = Image.fromarray(arr)
    return img


def grid_geometry(num, rows, tile):
    """Layout of an edit grid with `num` resamplings per side and `rows` tile rows.

    Returns:
        {'cols': 2*num + 3, 'width', 'height', 'origin': callable(row, col) -> (x, y) of a tile's top-left}.
    """
    cols = 2 * num + 3
    top = TITLE_H + HEADER_H
    width = GUTTER_W + cols * tile + (cols + 1) * PAD
    height = top + rows * tile + (rows + 1) * PAD
    origin = lambda row, col: (GUTTER_W + PAD + col * (tile + PAD), top + PAD + row * (tile + PAD))
    return {'cols': cols, 'width': width, 'height': height, 'origin': origin}


def column_labels(num):
    return (['original'] + [f'linked {j + 1}' for j in range(num)] + ['|diff| linked'] +
            [f'complement {j + 1}' for j in range(num)] + ['|diff| compl.'])


def _depth_range(renders, n):
    ds = [renders['original']['image_depth'][n]] + [r['image_depth'][n] for r in renders['linked'] + renders['complement']]
    all_d = torch.stack(ds)
    return float(all_d.min()), float(all_d.max())


def draw_grid(renders, masks, row_labels, title, tile, heat_max=None):
    """The Fig. 3 grid as a PIL image.

    Args:
        renders:    from render_edits (outputs 'image' and, for EG3D, 'image_depth').
        masks:      [N, h, w] region masks of the link (best at the tile's resolution: see drawing_masks).
        row_labels: N strings (e.g. 'seed 3').
        heat_max:   fixed heatmap scale (in mean |diff| units, images in [-1, 1]); default the row's maximum.
    Returns:
        (PIL.Image, {'heat_max': [N]}).
    """
    from PIL import Image, ImageDraw
    num = len(renders['linked'])
    N = renders['original']['image'].shape[0]
    depth = 'image_depth' in renders['original']
    rows_per = 2 if depth else 1
    geo = grid_geometry(num, N * rows_per, tile)
    canvas = Image.new('RGB', (geo['width'], geo['height']), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    _draw_grid_header(draw, geo, title, num, tile)
    rgb, vmax = _image_columns(renders, heat_max)
    drgb = _depth_columns(renders) if depth else None
    heat_cols = {num + 1, 2 * num + 2}
    for n in range(N):
        edge = mask_edge(masks[n], tile)
        row = n * rows_per
        _, y0 = geo['origin'](row, 0)
        draw.text((PAD, y0 + 2), row_labels[n][:8], fill=TEXT)
        for col in range(geo['cols']):
            color = CYAN if col in heat_cols else RED
            canvas.paste(tile_image(rgb[col][n], tile, edge, color), geo['origin'](row, col))
            if depth:
                canvas.paste(tile_image(drgb[n][col], tile, edge, color), geo['origin'](row + 1, col))
        if depth:
            _, y1 = geo['origin'](row + 1, 0)
            draw.text((PAD, y1 + 2), 'depth', fill=TEXT)
    return canvas, {'heat_max': vmax.tolist()}


def _draw_grid_header(draw, geo, title, num, tile):
    """The title and the column headers (cut to fit the tile) of an edit grid."""
    draw.text((PAD, 1), title, fill=TEXT)
    for col, label in enumerate(column_labels(num)):
        x0, _ = geo['origin'](0, col)
        draw.text((x0 + 1, TITLE_H + 1), label[:max(3, tile // 6)], fill=TEXT)


def _image_columns(renders, heat_max=None):
    """The image tiles of an edit grid by column (column_labels order), each uint8 [N, H, W, 3], and the heatmap
    scale vmax [N] (heat_max, else per row the largest mean |diff| of either side)."""
    x = renders['original']['image']
    heat_l = mean_abs_change(x, [r['image'] for r in renders['linked']])
    heat_c = mean_abs_change(x, [r['image'] for r in renders['complement']])
    if heat_max:
        vmax = torch.full([x.shape[0]], float(heat_max))
    else:
        vmax = torch.maximum(heat_l.flatten(1).amax(1), heat_c.flatten(1).amax(1))
    rgb = ([to_rgb_uint8(x)] + [to_rgb_uint8(r['image']) for r in renders['linked']] + [heat_colors(heat_l, vmax)] +
           [to_rgb_uint8(r['image']) for r in renders['complement']] + [heat_colors(heat_c, vmax)])
    return rgb, vmax


def _depth_columns(renders):
    """EG3D depth tiles of an edit grid by row, then column: N lists of uint8 [H, W, 3] (each row's own depth range,
    its own heatmap scale)."""
    d0 = renders['original']['image_depth']
    dl = [r['image_depth'] for r in renders['linked']]
    dc = [r['image_depth'] for r in renders['complement']]
    dheat_l, dheat_c = mean_abs_change(d0, dl), mean_abs_change(d0, dc)
    dvmax = torch.maximum(dheat_l.flatten(1).amax(1), dheat_c.flatten(1).amax(1))
    drgb = []
    for n in range(d0.shape[0]):
        lo, hi = _depth_range(renders, n)
        drgb.append([depth_to_uint8(t[n:n + 1], lo, hi)[0] for t in [d0] + dl] +
                    [heat_colors(dheat_l[n:n + 1], dvmax[n:n + 1])[0]] +
                    [depth_to_uint8(t[n:n + 1], lo, hi)[0] for t in dc] +
                    [heat_colors(dheat_c[n:n + 1], dvmax[n:n + 1])[0]])
    return drgb


@torch.no_grad()
def interpolation_frames(gen, ws, delta, masks, frames, tile, c=None, progress=None):
    """GIF frames lerping each sample from ws (t=0) to ws + delta (t=1).

    Args:
        ws:     [N, num_ws, w_dim]; delta: [N, w_dim] (added to every row) or [N, num_ws, w_dim] (row by row);
        masks:  [N, h, w] for the outlines.
        frames: number of frames K >= 2 (t = k / (K - 1)).
    Returns:
        list of K PIL images, each one row of N tiles (EG3D: a second row of depth) and a progress bar.
    """
    from PIL import Image
    N = ws.shape[0]
    edges = [mask_edge(masks[n], tile) for n in range(N)]
    outs = []
    for k in range(frames):
        t = k / (frames - 1)
        out = {key: v.float().cpu() for key, v in gen.synthesize(ws + t * (delta if delta.ndim == 3 else delta[:, None]), c).items()
               if torch.is_tensor(v) and v.ndim == 4}
        outs.append(out)
        if progress is not None:
            progress(1)
    depth = 'image_depth' in outs[0]
    rows = 2 if depth else 1
    width = N * tile + (N + 1) * PAD
    height = rows * tile + (rows + 1) * PAD + BAR_H
    if depth:
        all_d = torch.stack([o['image_depth'] for o in outs])                  # [K, N, 1, H, W]
        lo, hi = all_d.amin(dim=[0, 2, 3, 4]), all_d.amax(dim=[0, 2, 3, 4])
    images = []
    for k, out in enumerate(outs):
        canvas = Image.new('RGB', (width, height), BACKGROUND)
        rgb = to_rgb_uint8(out['image'])
        for n in range(N):
            x0 = PAD + n * (tile + PAD)
            canvas.paste(tile_image(rgb[n], tile, edges[n]), (x0, PAD))
            if depth:
                d = depth_to_uint8(out['image_depth'][n:n + 1], float(lo[n]), float(hi[n]))[0]
                canvas.paste(tile_image(d, tile, edges[n]), (x0, 2 * PAD + tile))
        bar = np.array(canvas)
        bar[height - BAR_H:, :max(1, round(width * k / (frames - 1)))] = RED
        images.append(Image.fromarray(bar))
    return images


def save_gif(frames, path, duration_ms=80):
    """Writes an endlessly looping GIF (every frame kept)."""
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=duration_ms, loop=0, optimize=False,
                   disposal=1)


def default_tile(resolution):
    """Tiles at least 128 px (small networks are enlarged with nearest) and at most 256 px."""
    return int(min(max(resolution, 128), 256))
