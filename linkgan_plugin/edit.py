"""`linkgan edit`: resample one link's latent axes of chosen samples and show what changes (the paper's Fig. 3).

For latents w (from seeds, or given codes `--ws FILE.npz`) and one link (axes w_i, region M_i):
    linked resampling j:      w + d_j   with d_j on the linked axes only
    complement resampling j:  w + e_j   with e_j on every other axis
where, with mode 'resample' (default), d_j / e_j copy the linked / complement axes of a freshly mapped z
(`metrics.resample_offsets`), and with mode 'noise' they are alpha * N(0, I) on those axes
(`regularizer.perturbation_offsets`). As in training, one offset is added to every row of ws.

Grid (one PNG), one row per sample (EG3D: a second row shows the depth of the same renders):

    | original | linked 1 .. K | |diff| linked | complement 1 .. K | |diff| complement |

The region's outline is drawn on every tile (red on images, cyan on heatmaps). Tiles and heatmap colours come from
`linkgan_plugin.pictures` (the demo's ramp); the grid itself is drawn here because it needs column headers,
outlines of any region (boxes, mask images, semantic masks) and EG3D depth rows. A heatmap is the mean over the K
resamplings of the per-pixel |x' - x| averaged over channels; both heatmaps of a row share one scale (its maximum,
or `--heat-max`), so a well-linked network shows a bright in-region map beside a dark out-region one.
`--interp K` writes a GIF of K frames lerping from the original to the first linked resampling.
"""

import json
import os

import click
import numpy as np
import torch
import torch.nn.functional as F

from linkgan_plugin.cli_options import (SeedList, device_option, network_options, seeds_option,  # noqa: F401
                                        truncation_option)    # SeedList: re-exported (it moved to cli_options).
from linkgan_plugin.network_loading import CAMERAS
from linkgan_plugin.pictures import heatmap, to_uint8
from linkgan_plugin.regions import fixed_region_mask
from linkgan_plugin.regularizer import BoundSpec, perturbation_offsets, sample_link_noise
from linkgan_plugin.render import render_variants

MODES = ('resample', 'noise')
RED = (255, 0, 0)
CYAN = (0, 255, 255)
BACKGROUND = (255, 255, 255)
TEXT = (0, 0, 0)

# Grid geometry (pixels).
PAD = 2
TITLE_H = 14
HEADER_H = 14
GUTTER_W = 52
BAR_H = 4          # GIF: progress bar under the frame (also keeps every frame distinct).

DEFAULT_SEEDS = (0, 1, 2, 3)

#----------------------------------------------------------------------------
# Latents.

def seed_latents(seeds, z_dim):
    """z [len(seeds), z_dim] with upstream's convention: np.random.RandomState(seed).randn(1, z_dim)."""
    return torch.from_numpy(np.concatenate([np.random.RandomState(s).randn(1, z_dim) for s in seeds])).float()


def load_ws_file(path, num_ws, w_dim, network_sha256=None):
    """Latent codes from an .npz: key 'ws', [N, num_ws, w_dim] or [N, w_dim] (repeated over rows); optional 'c'.
    Files of `linkgan project` also name their network ('num_ws', 'w_dim': checked; 'network_sha256': a warning
    when it differs from the given `network_sha256`).

    Returns:
        (ws [N, num_ws, w_dim] float32, c [N, c_dim] or None).
    Raises:
        click.BadParameter naming --ws.
    """
    try:
        with np.load(path) as data:
            arrays = {k: data[k] for k in data.files}
    except Exception as e:
        raise click.BadParameter(f'cannot read {path} as .npz: {type(e).__name__}: {e}', param_hint='--ws') from None
    if 'ws' not in arrays:
        raise click.BadParameter(f'{path} has no array \'ws\' (has: {", ".join(arrays) or "none"})', param_hint='--ws')
    made_for = {k: int(arrays[k]) for k in ('num_ws', 'w_dim') if k in arrays and arrays[k].ndim == 0}  # linkgan project.
    if any(v != {'num_ws': num_ws, 'w_dim': w_dim}[k] for k, v in made_for.items()):
        source = str(arrays['network_path']) if 'network_path' in arrays else 'another network'
        raise click.BadParameter(f'{path} holds codes made for {source} ({", ".join(f"{k}={v}" for k, v in made_for.items())}); '
                                 f'this network has num_ws={num_ws}, w_dim={w_dim}: project the images into this '
                                 'network (linkgan project --network ...)', param_hint='--ws')
    if network_sha256 and 'network_sha256' in arrays and str(arrays['network_sha256']) != network_sha256:
        click.echo(f'warning: {path} was made for {arrays["network_path"] if "network_path" in arrays else "another network"} '
                   '(a different file than --network): the codes may not reconstruct the projected images', err=True)
    ws = torch.from_numpy(np.asarray(arrays['ws'], dtype=np.float32))
    if ws.ndim == 2:
        ws = ws[:, None].repeat(1, num_ws, 1)
    if ws.ndim != 3 or ws.shape[1:] != (num_ws, w_dim) or ws.shape[0] < 1:
        raise click.BadParameter(f'\'ws\' in {path} has shape {list(arrays["ws"].shape)}; this network needs '
                                 f'[N, {num_ws}, {w_dim}] or [N, {w_dim}]', param_hint='--ws')
    c = torch.from_numpy(np.asarray(arrays['c'], dtype=np.float32)) if 'c' in arrays else None
    if c is not None and (c.ndim != 2 or c.shape[0] != ws.shape[0]):
        raise click.BadParameter(f'\'c\' in {path} must be [{ws.shape[0]}, c_dim], got {list(c.shape)}', param_hint='--ws')
    return ws, c


def load_camera_file(path, batch, c_dim):
    """EG3D camera labels from .npy or .json: [c_dim] (shared) or [batch, c_dim]. Returns [batch, c_dim]."""
    try:
        if path.endswith('.json'):
            with open(path, encoding='utf-8') as f:
                arr = np.asarray(json.load(f), dtype=np.float32)
        else:
            arr = np.load(path).astype(np.float32)
    except Exception as e:
        raise click.BadParameter(f'cannot read {path}: {type(e).__name__}: {e}', param_hint='--c-file') from None
    c = torch.from_numpy(arr)
    if c.ndim == 1:
        c = c[None].repeat(batch, 1)
    if c.ndim != 2 or c.shape[1] != c_dim or c.shape[0] not in (1, batch):
        raise click.BadParameter(f'{path}: expected [{c_dim}] or [{batch}, {c_dim}] camera values, got {list(arr.shape)}',
                                 param_hint='--c-file')
    return c.expand(batch, -1).contiguous()

#----------------------------------------------------------------------------
# Edits.

def link_offsets(gen, bound, ws, link_index, num, mode='resample', alpha=1.0, truncation=1.0, c=None, generator=None):
    """Offsets of `num` linked and `num` complement resamplings of one link.

    Args:
        ws:         [N, num_ws, w_dim] codes being edited.
        link_index: which link of `bound`.
        mode:       'resample' (fresh z mapped, its axes copied) or 'noise' (alpha * N(0, I) on the axes).
        generator:  torch.Generator for the fresh z / noise (CPU).
    Returns:
        (linked, complement): each [num, N, num_ws, w_dim] for 'resample' (row r's linked axes become the fresh
        w's and its other axes keep their own values: W+ codes, from `linkgan project --space wplus`, differ per
        row), [num, N, w_dim] for 'noise' (one offset for every row, as training perturbs).
    """
    if mode not in MODES:
        raise ValueError(f'mode must be one of {MODES}, got {mode!r}')
    N = ws.shape[0]
    linked, complement = [], []
    for _ in range(num):
        if mode == 'resample':
            z_new = torch.randn([N, gen.z_dim], generator=generator).to(ws.device)
            ws_new = gen.map(z_new, c, truncation)
            d_all = ws_new[:, :1] - ws                                           # [N, num_ws, w_dim]
            m = bound.axis_masks_on(ws.device)[link_index]
            linked.append(d_all * m)
            complement.append(d_all * (1 - m))
        else:
            noise = sample_link_noise(N, bound.num_links, bound.w_dim, 'cpu', generator=generator).to(ws.device)
            d_link, d_comp = perturbation_offsets(noise, bound, alpha)
            linked.append(d_link[:, link_index])
            complement.append(d_comp[:, link_index])
    return torch.stack(linked), torch.stack(complement)


@torch.no_grad()
def render_edits(gen, ws, linked, complement, c=None, progress=None):
    """Renders the original and every resampling with `render.render_variants` (random numbers replayed).

    Returns:
        {'original': {output: [N, C, H, W]}, 'linked': [num x {output: ...}], 'complement': [num x {...}]}
        on the CPU, float32.
    """
    def synthesize(w):
        return {k: v.float().cpu() for k, v in gen.synthesize(w, c).items() if torch.is_tensor(v) and v.ndim == 4}
    x, variants = render_variants(synthesize, ws, list(linked) + list(complement), progress=progress)
    return {'original': x, 'linked': variants[:len(linked)], 'complement': variants[len(linked):]}


def region_masks(bound, link_index, images):
    """Region masks [N, H, W] of one link for the original images [N, C, H, W] (fixed or semantic regions)."""
    masks = bound.masks.for_images(images.cpu())          # [1 or N, links, H, W]
    return masks[:, link_index].expand(images.shape[0], -1, -1).float()


def drawing_masks(bound, link_index, masks, tile):
    """Masks [N, tile, tile] for outlines: fixed regions rasterised at the tile's resolution (exact box edges),
    semantic ones enlarged from `masks` [N, H, W]."""
    region = bound.spec.links[link_index].region
    if region.is_fixed:
        return fixed_region_mask(region, tile, tile)[None].expand(masks.shape[0], -1, -1)
    return F.interpolate(masks[:, None], size=(tile, tile), mode='nearest')[:, 0]


def change_stats(original, variants, mask):
    """Mean squared change inside / outside the region, normalised by the region's / complement's values.

    Args:
        original: [N, C, H, W]; variants: list of [N, C, H, W]; mask: [N, H, W].
    Returns:
        (inside [N], outside [N]) averaged over the variants.
    """
    C = original.shape[1]
    m = mask[:, None]
    sq = torch.stack([(v - original).square() for v in variants]).mean(dim=0)       # [N, C, H, W]
    inside = (sq * m).sum(dim=[1, 2, 3]) / (C * m.sum(dim=[1, 2, 3])).clamp(min=1e-8)
    outside = (sq * (1 - m)).sum(dim=[1, 2, 3]) / (C * (1 - m).sum(dim=[1, 2, 3])).clamp(min=1e-8)
    return inside, outside

#----------------------------------------------------------------------------
# Drawing (pillow + numpy).

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


def outline(mask, size):
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
    x = renders['original']['image']
    N = x.shape[0]
    depth = 'image_depth' in renders['original']
    rows_per = 2 if depth else 1
    geo = grid_geometry(num, N * rows_per, tile)
    canvas = Image.new('RGB', (geo['width'], geo['height']), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    draw.text((PAD, 1), title, fill=TEXT)
    for col, label in enumerate(column_labels(num)):
        x0, _ = geo['origin'](0, col)
        draw.text((x0 + 1, TITLE_H + 1), label[:max(3, tile // 6)], fill=TEXT)

    heat_l = mean_abs_change(x, [r['image'] for r in renders['linked']])
    heat_c = mean_abs_change(x, [r['image'] for r in renders['complement']])
    vmax = torch.full([N], float(heat_max)) if heat_max else torch.maximum(heat_l.flatten(1).amax(1), heat_c.flatten(1).amax(1))
    hl, hc = heat_colors(heat_l, vmax), heat_colors(heat_c, vmax)
    rgb = [to_rgb_uint8(x)] + [to_rgb_uint8(r['image']) for r in renders['linked']] + [hl] + \
          [to_rgb_uint8(r['image']) for r in renders['complement']] + [hc]
    heat_cols = {num + 1, 2 * num + 2}

    if depth:
        d0 = renders['original']['image_depth']
        dl = [r['image_depth'] for r in renders['linked']]
        dc = [r['image_depth'] for r in renders['complement']]
        dheat_l, dheat_c = mean_abs_change(d0, dl), mean_abs_change(d0, dc)
        dvmax = torch.maximum(dheat_l.flatten(1).amax(1), dheat_c.flatten(1).amax(1))
        drgb = []
        for n in range(N):
            lo, hi = _depth_range(renders, n)
            drgb.append([depth_to_uint8(t[n:n + 1], lo, hi)[0] for t in [d0] + dl] +
                        [heat_colors(dheat_l[n:n + 1], dvmax[n:n + 1])[0]] +
                        [depth_to_uint8(t[n:n + 1], lo, hi)[0] for t in dc] +
                        [heat_colors(dheat_c[n:n + 1], dvmax[n:n + 1])[0]])

    for n in range(N):
        edge = outline(masks[n], tile)
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
    edges = [outline(masks[n], tile) for n in range(N)]
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

#----------------------------------------------------------------------------
# CLI.

def default_tile(resolution):
    """Tiles at least 128 px (small networks are enlarged with nearest) and at most 256 px."""
    return int(min(max(resolution, 128), 256))


@click.command('edit', context_settings={'help_option_names': ['-h', '--help']})
@network_options()
@click.option('--link', 'link_name', type=str, default=None, help='Link to edit. Default: the first.')
@seeds_option(help='Seeds, e.g. "0,3,5-7". Default: 0-3.')
@click.option('--ws', 'ws_file', type=click.Path(exists=True, dir_okay=False), default=None,
              help='Edit these codes instead of seeds: .npz with \'ws\' [N, num_ws, w_dim] or [N, w_dim] (optional \'c\').')
@click.option('--num', type=click.IntRange(1, 16), default=4, show_default=True, help='Resamplings per side.')
@click.option('--mode', type=click.Choice(MODES), default='resample', show_default=True,
              help='resample: copy the axes of a freshly mapped z; noise: add alpha * N(0, I) on the axes.')
@click.option('--alpha', type=click.FloatRange(min=0.0, min_open=True), default=None,
              help='Noise strength (--mode noise). Default: the spec\'s alpha.')
@truncation_option()
@click.option('--resample-seed', type=click.IntRange(min=0), default=0, show_default=True,
              help='Seed of the fresh z / noise of the resamplings.')
@click.option('--interp', type=click.IntRange(min=0), default=0, help='Also write a GIF of this many frames (>= 2).')
@click.option('--camera', type=click.Choice(CAMERAS), default='frontal', show_default=True, help='EG3D camera.')
@click.option('--c-file', type=click.Path(exists=True, dir_okay=False), default=None,
              help='EG3D camera labels (.npy or .json, [25] or [N, 25]); overrides --camera.')
@click.option('--tile', type=click.IntRange(16, 1024), default=None, help='Tile size in pixels. Default: 128-256.')
@click.option('--heat-max', type=click.FloatRange(min=0.0, min_open=True), default=None,
              help='Fixed heatmap scale (mean |diff|, images in [-1, 1]). Default: per row.')
@device_option()
@click.option('--out', type=click.Path(dir_okay=False), default='linkgan-edit.png', show_default=True,
              help='Grid PNG; a JSON with the numbers is written beside it.')
@click.option('--gif', 'gif_path', type=click.Path(dir_okay=False), default=None,
              help='GIF path for --interp. Default: --out with .gif.')
@click.option('--direction', 'direction_file', type=click.Path(exists=True, dir_okay=False), default=None,
              help='Draw a `linkgan lelsd` direction (.npz) instead of resampling: +s and -s per strength; '
                   '--link picks the region outlined.')
@click.option('--index', 'direction_index', type=click.IntRange(min=0), default=0, show_default=True,
              help='Which direction of --direction.')
@click.option('--strengths', type=str, default=None, help='--direction strengths. Default: -3,-1.5,1.5,3.')
def edit_command(network, upstream, spec, link_name, seeds, ws_file, num, mode, alpha, truncation, resample_seed, interp,
                 camera, c_file, tile, heat_max, device, out, gif_path, direction_file, direction_index, strengths):
    """Resample one link's axes for chosen samples: a grid in the paper's Fig. 3 layout (and an optional GIF)."""
    from linkgan_plugin.evaluate import load_for_cli, progress_bar
    if seeds is not None and ws_file is not None:
        raise click.UsageError('give either --seeds or --ws, not both')
    if interp == 1:
        raise click.BadParameter('a GIF needs at least 2 frames (or 0 for none)', param_hint='--interp')
    if gif_path and not interp:
        raise click.BadParameter('--gif needs --interp K', param_hint='--gif')
    if alpha is not None and mode != 'noise':
        raise click.BadParameter('--alpha only applies with --mode noise', param_hint='--alpha')
    if not out.lower().endswith('.png'):
        raise click.BadParameter(f'{out!r}: the grid is written as PNG (name it *.png)', param_hint='--out')

    net, gen, spec_obj, origin, dev = load_for_cli(network, upstream, spec, device, camera)
    if c_file and not gen.is_eg3d:
        raise click.BadParameter(f'only EG3D networks take cameras; {net.path} is {net.flavour}', param_hint='--c-file')
    if link_name is None:
        link_index = 0
    elif link_name in spec_obj.names:
        link_index = spec_obj.names.index(link_name)
    else:
        raise click.BadParameter(f'unknown link {link_name!r} (the spec has: {", ".join(spec_obj.names)})', param_hint='--link')
    link = spec_obj.links[link_index]
    bound = BoundSpec(spec_obj, gen.w_dim)
    alpha = spec_obj.alpha if alpha is None else alpha
    generator = torch.Generator().manual_seed(resample_seed)

    # 1. Codes and cameras.
    c = None
    if ws_file:
        ws, c = load_ws_file(ws_file, gen.num_ws, gen.w_dim)
        row_labels = [f'ws {i}' for i in range(ws.shape[0])]
        if c is not None and c.shape[1] != gen.c_dim:
            raise click.BadParameter(f'\'c\' in {ws_file} has {c.shape[1]} values; the network has c_dim={gen.c_dim}',
                                     param_hint='--ws')
    else:
        seeds = list(seeds or DEFAULT_SEEDS)
        row_labels = [f'seed {s}' for s in seeds]
    N = len(row_labels)
    if c_file:
        c = load_camera_file(c_file, N, gen.c_dim)
    if c is None:
        c = gen.default_c(N, generator=generator)
    c = c.to(dev)
    if ws_file:
        ws = ws.to(dev)
    else:
        ws = gen.map(seed_latents(seeds, gen.z_dim).to(dev), c, truncation)

    # 2. Offsets and renders.
    if direction_file:      # A LELSD direction: +s in the first group of edit columns, -s in the second.
        from linkgan_plugin.lelsd import edit_offsets
        linked, complement, mode = edit_offsets(direction_file, direction_index, strengths, gen, N, mode)
        num = len(linked)
    else:
        if strengths is not None or direction_index:
            raise click.BadParameter('needs --direction FILE', param_hint='--strengths' if strengths else '--index')
        linked, complement = link_offsets(gen, bound, ws, link_index, num, mode, alpha, truncation, c, generator)
    tile = tile or default_tile(gen.img_resolution)
    with progress_bar(2 * num + 1, f'edit {link.name}: {N} sample(s)') as bar:
        renders = render_edits(gen, ws, linked, complement, c, progress=bar.update)
    masks = region_masks(bound, link_index, renders['original']['image'])
    axes_text = link.to_dict()['axes']
    title = (f'link {link.name}: axes {axes_text if isinstance(axes_text, str) else f"{len(link.axes)} listed"} '
             f'of {gen.w_dim}; {mode}' + (f' alpha {alpha:g}' if mode == 'noise' else '') + f'; psi {truncation:g}')
    outlines = drawing_masks(bound, link_index, masks, tile)
    grid, heat = draw_grid(renders, outlines, row_labels, title, tile, heat_max)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    grid.save(out)

    # 3. Numbers beside the picture.
    x = renders['original']['image']
    li, lo = change_stats(x, [r['image'] for r in renders['linked']], masks)
    ci, co = change_stats(x, [r['image'] for r in renders['complement']], masks)
    summary = {'network': net.path, 'spec_origin': origin, 'link': link.to_dict(), 'mode': mode,
               'alpha': alpha if mode == 'noise' else None, 'truncation': truncation, 'resample_seed': resample_seed,
               'rows': row_labels, 'num': num, 'tile': tile, 'grid': os.path.abspath(out),
               'grid_size': list(grid.size), 'heat_max': heat['heat_max'],
               'linked_change_in': li.tolist(), 'linked_change_out': lo.tolist(),
               'complement_change_in': ci.tolist(), 'complement_change_out': co.tolist()}
    click.echo(f'{"sample":<10}{"linked: in":>14}{"linked: out":>14}{"compl.: in":>14}{"compl.: out":>14}   '
               '(mean squared change per region pixel)')
    for n, label in enumerate(row_labels):
        click.echo(f'{label:<10}{li[n]:>14.4f}{lo[n]:>14.4f}{ci[n]:>14.4f}{co[n]:>14.4f}')

    if interp:
        gif_path = gif_path or os.path.splitext(out)[0] + '.gif'
        with progress_bar(interp, f'gif: {interp} frames') as bar:
            frames = interpolation_frames(gen, ws, linked[0], outlines, interp, tile, c, progress=bar.update)
        save_gif(frames, gif_path)
        summary['gif'] = os.path.abspath(gif_path)
        summary['gif_frames'] = interp
        click.echo(f'wrote {gif_path} ({interp} frames)')
    json_path = os.path.splitext(out)[0] + '.json'
    with open(json_path, 'w', encoding='utf-8') as f:
        json.dump(summary, f, indent=2)
    click.echo(f'wrote {out} ({grid.size[0]}x{grid.size[1]}) and {json_path}')

#----------------------------------------------------------------------------
