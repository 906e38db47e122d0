"""`linkgan edit`: resample one link's latent axes of chosen samples and show what changes (the paper's Fig. 3).

For latents w (from seeds, or given codes `--ws FILE.npz`) and one link (axes w_i, region M_i):
    linked resampling j:      w + d_j   with d_j on the linked axes only
    complement resampling j:  w + e_j   with e_j on every other axis
where, with mode 'resample' (default), d_j / e_j copy the linked / complement axes of a freshly mapped z
(`metrics.resample_offsets`), and with mode 'noise' they are alpha * N(0, I) on those axes
(`regularizer.perturbation_offsets`). As in training, one offset is added to every row of ws.

Grid (one PNG), one row per sample (EG3D: a second row shows the depth of the same renders):

    | original | linked 1 .. K | |diff| linked | complement 1 .. K | |diff| complement |

The region's outline is drawn on every tile (red on images, cyan on heatmaps). The grid is drawn by
`linkgan_plugin.analysis.pictures.draw_grid` (the demo's heatmap ramp, column headers, outlines of any region: boxes,
mask images, semantic masks; EG3D depth rows). A heatmap is the mean over the K resamplings of the per-pixel
|x' - x| averaged over channels; both heatmaps of a row share one scale (its maximum, or `--heat-max`), so a
well-linked network shows a bright in-region map beside a dark out-region one. The JSON beside the grid holds each
row's squared change in and out of the region per region pixel (`metrics.region_change`).
`--interp K` writes a GIF of K frames lerping from the original to the first linked resampling; `--direction FILE`
draws a `linkgan directions` direction (+s and -s per strength) instead of resamplings (`edit_offsets`).
"""

import math
import os
import warnings

import numpy as np
import torch
import torch.nn.functional as F

from linkgan_plugin.analysis.metrics import region_change, resample_offsets
from linkgan_plugin.analysis.network_loading import file_sha256
from linkgan_plugin.analysis.pictures import default_tile, draw_grid, interpolation_frames, save_gif
from linkgan_plugin.analysis.inputs import load_camera_file
from linkgan_plugin.checks import LinkganWarning, option_errors, OptionError, UsageProblem
from linkgan_plugin.editing import directions_file
from linkgan_plugin.editing.lelsd import network_hash
from linkgan_plugin.progress import open_bar
from linkgan_plugin.regions import fixed_region_mask
from linkgan_plugin.regularizer import perturbation_offsets, sample_link_noise
from linkgan_plugin.render import render_variants

MODES = ('resample', 'noise')
DEFAULT_EDIT_STRENGTHS = '-1,-0.5,0.5,1'        # --direction strengths, in units of D (lelsd_scale).

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
        OptionError naming --ws (LinkganWarning when the codes were made for another network file).
    """
    try:
        with np.load(path) as data:
            arrays = {k: data[k] for k in data.files}
    except Exception as e:
        raise OptionError('--ws', f'cannot read {path} as .npz: {type(e).__name__}: {e}') from None
    if 'ws' not in arrays:
        raise OptionError('--ws', f'{path} has no array \'ws\' (has: {", ".join(arrays) or "none"})')
    made_for = {k: int(arrays[k]) for k in ('num_ws', 'w_dim') if k in arrays and arrays[k].ndim == 0}  # linkgan project.
    if any(v != {'num_ws': num_ws, 'w_dim': w_dim}[k] for k, v in made_for.items()):
        source = str(arrays['network_path']) if 'network_path' in arrays else 'another network'
        raise OptionError('--ws', f'{path} holds codes made for {source} ({", ".join(f"{k}={v}" for k, v in made_for.items())}); '
                                  f'this network has num_ws={num_ws}, w_dim={w_dim}: project the images into this '
                                  'network (linkgan project --network ...)')
    if network_sha256 and 'network_sha256' in arrays and str(arrays['network_sha256']) != network_sha256:
        warnings.warn(f'{path} was made for {arrays["network_path"] if "network_path" in arrays else "another network"} '
                      '(a different file than --network): the codes may not reconstruct the projected images',
                      LinkganWarning, stacklevel=2)
    ws = torch.from_numpy(np.asarray(arrays['ws'], dtype=np.float32))
    if ws.ndim == 2:
        ws = ws[:, None].repeat(1, num_ws, 1)
    if ws.ndim != 3 or ws.shape[1:] != (num_ws, w_dim) or ws.shape[0] < 1:
        raise OptionError('--ws', f'\'ws\' in {path} has shape {list(arrays["ws"].shape)}; this network needs '
                                 f'[N, {num_ws}, {w_dim}] or [N, {w_dim}]')
    c = torch.from_numpy(np.asarray(arrays['c'], dtype=np.float32)) if 'c' in arrays else None
    if c is not None and (c.ndim != 2 or c.shape[0] != ws.shape[0]):
        raise OptionError('--ws', f'\'c\' in {path} must be [{ws.shape[0]}, c_dim], got {list(c.shape)}')
    return ws, c


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
            d_link = resample_offsets(ws, ws_new, bound)[:, link_index]           # [N, num_ws, w_dim]
            linked.append(d_link)
            complement.append(ws_new[:, :1] - ws - d_link)
        else:
            noise = sample_link_noise(N, bound.num_links, bound.w_dim, 'cpu', generator=generator).to(ws.device)
            d_link, d_comp = perturbation_offsets(noise, bound, alpha)
            linked.append(d_link[:, link_index])
            complement.append(d_comp[:, link_index])
    return torch.stack(linked), torch.stack(complement)


def edit_offsets(path, index, strengths, gen, batch, mode='resample'):
    """Offsets of `linkgan edit --direction FILE [--index k] [--strengths ...]` in edit's grid layout.

    Every magnitude m of `strengths` (comma-separated numbers; signs only pick magnitudes) is drawn both ways:
    +m * u in the grid's first group of edit columns, -m * u in the second, each followed by its |diff| heatmap.
    The direction is used as stored: its norm is D, the typical distance between two codes (editing/lelsd_scale.py),
    so strength 1 moves a code as far as resampling it would, the scale `linkgan compare` measures at.
    Args:
        gen: GeneratorAdapter; batch: samples N; mode: edit's --mode (must be the default).
    Returns:
        (plus [M, N, w_dim], minus [M, N, w_dim] on gen.device, a label such as 'LELSD dirs.npz #0 a=1.5,3', 'ReSeFa' for its files).
    Raises:
        OptionError naming the option.
    """
    if mode != 'resample':
        raise OptionError('--mode', '--mode applies to link resampling, not to --direction')
    try:
        values = [float(v) for v in str(strengths or DEFAULT_EDIT_STRENGTHS).split(',') if v.strip()]
    except ValueError:
        raise OptionError('--strengths', f'{strengths!r}: expected numbers like "-1,-0.5,0.5,1"') from None
    mags = sorted({abs(v) for v in values if math.isfinite(v) and v != 0})
    if not mags or len(mags) > 8:
        raise OptionError('--strengths', f'{strengths!r}: give 1 to 8 non-zero finite strengths')
    with option_errors('--direction'):
        result = directions_file.load(path, gen, kind='directions')
    if result.space != 'w' or result.rows is not None:
        raise OptionError('--direction', f'{path}: `linkgan edit` draws W-space directions applied to every ws row; this one is '
                                 f'space {result.space!r}, rows {result.rows or "all"}')
    if not 0 <= index < result.num_directions:
        raise OptionError('--index', f'{path} has {result.num_directions} direction(s): index {index} is out of range')
    if result.network_hash and result.network_hash != network_hash(gen.G):
        warnings.warn(f'{path} was found on another network ({result.network_path or result.network_hash})',
                      LinkganWarning, stacklevel=2)
    u = result.direction(index, gen.device)[None, None].expand(len(mags), batch, -1)
    m = torch.tensor(mags, device=gen.device)[:, None, None]
    method = {'lelsd': 'LELSD', 'resefa': 'ReSeFa'}.get(result.settings.get('method', 'lelsd'), 'direction')
    label = f'{method} {os.path.basename(path)} #{index} a=' + ','.join(f'{v:g}' for v in mags)
    return m * u, -m * u, label


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


def change_per_pixel(original, variants, mask):
    """Squared change inside / outside the region per region pixel (`metrics.region_change`'s in_px, out_px),
    averaged over the variants.

    Args:
        original: [N, C, H, W]; variants: list of [N, C, H, W]; mask: [N, H, W].
    Returns:
        (inside [N], outside [N]).
    """
    change = region_change(original, torch.stack(variants, dim=1), mask[:, None])      # each [N, variants]
    return change['in_px'].mean(dim=1), change['out_px'].mean(dim=1)

#----------------------------------------------------------------------------
# The command's steps (cli/edit.py).

def check_edit_options(seeds, ws_file, interp, gif_path, alpha, mode, out, direction_file, strengths, direction_index):
    """Cross-option checks of `linkgan edit` (OptionError naming the option, UsageProblem)."""
    if seeds is not None and ws_file is not None:
        raise UsageProblem('give either --seeds or --ws, not both')
    if interp == 1:
        raise OptionError('--interp', 'a GIF needs at least 2 frames (or 0 for none)')
    if gif_path and not interp:
        raise OptionError('--gif', '--gif needs --interp K')
    if alpha is not None and mode != 'noise':
        raise OptionError('--alpha', '--alpha only applies with --mode noise')
    if not out.lower().endswith('.png'):
        raise OptionError('--out', f'{out!r}: the grid is written as PNG (name it *.png)')
    if not direction_file and (strengths is not None or direction_index):
        raise OptionError('--strengths' if strengths else '--index', 'needs --direction FILE')


def edit_codes(gen, net, seeds, ws_file, c_file, truncation, generator, device):
    """(ws [N, num_ws, w_dim], c [N, c_dim], row labels) from --seeds or --ws, with --c-file cameras."""
    c = None
    if ws_file:
        ws, c = load_ws_file(ws_file, gen.num_ws, gen.w_dim, network_sha256=file_sha256(net.path))
        row_labels = [f'ws {i}' for i in range(ws.shape[0])]
        if c is not None and c.shape[1] != gen.c_dim:
            raise OptionError('--ws', f'\'c\' in {ws_file} has {c.shape[1]} values; the network has c_dim={gen.c_dim}')
    else:
        seeds = list(seeds or DEFAULT_SEEDS)
        row_labels = [f'seed {s}' for s in seeds]
    N = len(row_labels)
    if c_file:
        c = load_camera_file(c_file, N, gen.c_dim)
    if c is None:
        c = gen.default_c(N, generator=generator)
    c = c.to(device)
    ws = ws.to(device) if ws_file else gen.map(seed_latents(seeds, gen.z_dim).to(device), c, truncation)
    return ws, c, row_labels


def run_edit(gen, bound, link_index, ws, c, linked, complement, row_labels, title, out, tile=None, heat_max=None,
             interp=0, gif_path=None, bar=None):
    """Renders the edits, writes the grid PNG (and a GIF with interp >= 2) and returns the numbers (a dict).

    Args:
        linked, complement: offsets from link_offsets (or LELSD's edit_offsets), one group of edit columns each.
        bar:                progress bar factory (linkgan_plugin.progress), None: none.
    Returns:
        {'link', 'rows', 'num', 'tile', 'grid', 'grid_size', 'heat_max', 'linked_change_in', 'linked_change_out',
         'complement_change_in', 'complement_change_out', 'gif'?, 'gif_frames'?}
    """
    link = bound.spec.links[link_index]
    num = len(linked)
    tile = tile or default_tile(gen.img_resolution)
    with open_bar(bar, 2 * num + 1, f'edit {link.name}: {len(row_labels)} sample(s)') as b:
        renders = render_edits(gen, ws, linked, complement, c, progress=b.update)
    masks = region_masks(bound, link_index, renders['original']['image'])
    outlines = drawing_masks(bound, link_index, masks, tile)
    grid, heat = draw_grid(renders, outlines, row_labels, title, tile, heat_max)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    grid.save(out)
    x = renders['original']['image']
    li, lo = change_per_pixel(x, [r['image'] for r in renders['linked']], masks)
    ci, co = change_per_pixel(x, [r['image'] for r in renders['complement']], masks)
    summary = {'link': link.to_dict(), 'rows': row_labels, 'num': num, 'tile': tile, 'grid': os.path.abspath(out),
               'grid_size': list(grid.size), 'heat_max': heat['heat_max'],
               'linked_change_in': li.tolist(), 'linked_change_out': lo.tolist(),
               'complement_change_in': ci.tolist(), 'complement_change_out': co.tolist()}
    if interp:
        gif_path = gif_path or os.path.splitext(out)[0] + '.gif'
        with open_bar(bar, interp, f'gif: {interp} frames') as b:
            frames = interpolation_frames(gen, ws, linked[0], outlines, interp, tile, c, progress=b.update)
        save_gif(frames, gif_path)
        summary.update(gif=os.path.abspath(gif_path), gif_frames=interp)
    return summary

#----------------------------------------------------------------------------

