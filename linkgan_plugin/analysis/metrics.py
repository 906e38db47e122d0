"""Linkage metrics (method.md sec. 3 and 3b), declared as one table: images in [-1, 1], fixed seeds.

For every link (axes w_i, region M_i) and every sample w, four variants are rendered with the one render primitive
(`render.render_variants`, random numbers replayed, so noise inputs and EG3D ray jitter cancel):

    linked_perturbed      w_i   += alpha * p          p ~ N(0, I), the link's own noise stream
    complement_perturbed  w_i^c += alpha * p
    linked_resampled      w_i    = w'_i               w' = mapping of a fresh z
    complement_resampled  w_i^c  = w'_i^c

and each metric is the masked squared change of one variant, inside or outside the region:

| metric | variant              | where   | better | protocol                                                       |
|--------|----------------------|---------|--------|----------------------------------------------------------------|
| mse_i  | complement_perturbed | inside  | lower  | paper Table 3: other axes must not touch the region            |
| mse_o  | linked_perturbed     | outside | lower  | paper Table 3: linked axes must not touch the rest             |
| edit_i | linked_resampled     | inside  | higher | paper Table 2: resampling the link changes its region          |
| edit_o | linked_resampled     | outside | lower  | paper Table 2: ... and not the rest                            |
| keep_o | complement_resampled | outside | higher | the rest must still change when the other axes are resampled   |

Two normalisations each: `<metric>` divides the masked sum of squares by all values C*H*W (what the paper's numbers
fit), `<metric>_region` by the values the mask selects (C*sum(M) inside, C*sum(1-M) outside). One derived metric:

    locality = mean(edit_o_region) / mean(edit_i_region)   per-pixel change outside per unit of change inside under
                                                           resampling (paper Table 2 protocol; lower is better)

Anchors for locality, derived from the paper's Table 2 (eyes preset, ~3.5% of a 256x256 face; in/out changes
divided by the region's share and by the rest's): LinkGAN ~0.015, StyleSpace ~0.17, ReSeFa ~0.36, StyleCLIP ~0.67.
keep_o exists because a generator whose non-linked axes do nothing scores perfect mse_i / mse_o with full edit_i;
keep_o then collapses.

Random inputs come from streams seeded by (seed, stream) (`render.seeded_generator`), and each link's perturbation
noise from a stream of its own keyed by the link's name, so sample k's numbers do not depend on the batch size, on
the number of samples, or on which other links are measured.
"""

import math
import time
import zlib
from dataclasses import dataclass

import torch

from linkgan_plugin.ops import masked_diff
from linkgan_plugin.regularizer import BoundSpec, perturbation_offsets, split_outputs
from linkgan_plugin.render import render_variants, seeded_generator

#----------------------------------------------------------------------------
# The table.

VARIANTS = ('linked_perturbed', 'complement_perturbed', 'linked_resampled', 'complement_resampled')


@dataclass(frozen=True)
class Metric:
    name: str           # Key in results (and `<name>_region`).
    variant: str        # One of VARIANTS.
    where: str          # 'inside' | 'outside' the region.
    better: str         # 'lower' | 'higher'.
    meaning: str        # One line for tables and help.


METRIC_TABLE = (
    Metric('mse_i',  'complement_perturbed', 'inside',  'lower',  'inside change, other axes perturbed (Table 3)'),
    Metric('mse_o',  'linked_perturbed',     'outside', 'lower',  'outside change, linked axes perturbed (Table 3)'),
    Metric('edit_i', 'linked_resampled',     'inside',  'higher', 'inside change, linked axes resampled (Table 2)'),
    Metric('edit_o', 'linked_resampled',     'outside', 'lower',  'outside change, linked axes resampled (Table 2)'),
    Metric('keep_o', 'complement_resampled', 'outside', 'higher', 'outside change, other axes resampled'),
)
METRICS = tuple(m.name for m in METRIC_TABLE)
BETTER = {m.name: m.better for m in METRIC_TABLE}
BETTER['locality'] = 'lower'

# The paper's Table 2 (FFHQ 256 px): (MSE_i, MSE_o) x1e-3 per region and method.
PAPER_TABLE2 = {'StyleCLIP':  {'eyes': (3.91, 74.17), 'nose': (1.91, 72.73), 'mouth': (3.81, 65.42)},
                'ReSeFa':     {'eyes': (5.90, 61.14), 'nose': (1.12, 60.4),  'mouth': (2.02, 50.55)},
                'StyleSpace': {'eyes': (3.81, 18.21), 'nose': (0.40, 14.30), 'mouth': (3.6, 19.04)},
                'LinkGAN':    {'eyes': (5.25, 2.24),  'nose': (1.82, 2.25),  'mouth': (3.10, 2.21)}}

# Locality anchors (per-pixel out / in under resampling) derived from the paper's Table 2, eyes preset.
# The paper's per-pixel locality (Table 2, FFHQ 256, face presets: eyes 3.5%, nose 2.8%, mouth 3.2% of the image),
# per method and region: its in- and out-of-region MSEs divided by each side's share of the image, assuming the
# paper divides its MSEs by all pixels (it does not say; by region pixels every ratio would be ~28x larger).
PAPER_LOCALITY = {'LinkGAN':    {'eyes': 0.016, 'nose': 0.036, 'mouth': 0.024},
                  'StyleSpace': {'eyes': 0.17,  'nose': 1.03,  'mouth': 0.18},
                  'ReSeFa':     {'eyes': 0.38,  'nose': 1.56,  'mouth': 0.83},
                  'StyleCLIP':  {'eyes': 0.69,  'nose': 1.10,  'mouth': 0.57}}
LOCALITY_ANCHORS = {method: by_region['eyes'] for method, by_region in PAPER_LOCALITY.items()}   # One line per method.
ANCHOR_NOTE = ("derived from the LinkGAN paper's Table 2, eyes region (nose and mouth: PAPER_LOCALITY), assuming its "
               "MSEs are divided by all pixels")

#----------------------------------------------------------------------------
# Inputs.

def link_stream_key(name):
    """Stable integer key of a link's noise stream (its name's CRC32)."""
    return zlib.crc32(name.encode('utf-8'))


def sample_inputs(gen, names, samples, seed):
    """Every random input of an evaluation, drawn up front.

    Args:
        gen:     GeneratorAdapter (z_dim, w_dim, default_c).
        names:   the measured links' names (each has its own perturbation stream).
        samples: number of samples; seed: the evaluation seed.
    Returns:
        (z [samples, z_dim], z_new [samples, z_dim], noise [samples, links, w_dim], c [samples, c_dim]) on the CPU.
    """
    z = torch.randn([samples, gen.z_dim], generator=seeded_generator(seed, 0))
    z_new = torch.randn([samples, gen.z_dim], generator=seeded_generator(seed, 1))
    noise = torch.stack([torch.randn([samples, gen.w_dim], generator=seeded_generator(seed, 2, link_stream_key(n)))
                         for n in names], dim=1)
    c = gen.default_c(samples, generator=seeded_generator(seed, 3)).cpu()
    return z, z_new, noise, c

#----------------------------------------------------------------------------
# One batch.

def resample_offsets(ws, ws_new, bound):
    """Per-row offsets that set each link's axes of every row of ws to those of ws_new[:, 0] (the fresh w).

    Args:
        ws:     [N, num_ws, w_dim] codes; rows may differ (W+ codes from `linkgan project --space wplus`).
        ws_new: [N, num_ws, w_dim] mapped resampling codes (row 0 is the fresh w).
    Returns:
        [N, links, num_ws, w_dim]: (ws_new[:, 0] - ws[:, r]) on link i's axes, 0 elsewhere, for every row r; for W
        codes (equal rows) every row holds the same offset. render.render_variants adds such offsets row by row.
    """
    return (ws_new[:, :1] - ws)[:, None] * bound.axis_masks_on(ws.device)[None, :, None, :]


def variant_offsets(bound, ws, ws_new, noise, alpha, alpha_scale=None):
    """Offsets of every link's four variants, in the order link 0: VARIANTS, link 1: VARIANTS, ...: [batch, w_dim]
    for the perturbations (one offset on every row), [batch, num_ws, w_dim] for the resamplings (per row)."""
    d_linked, d_complement = perturbation_offsets(noise, bound, alpha, alpha_scale)
    d_resampled = resample_offsets(ws, ws_new, bound)
    d_all = ws_new[:, :1] - ws
    offsets = []
    for i in range(bound.num_links):
        offsets += [d_linked[:, i], d_complement[:, i], d_resampled[:, i], d_all - d_resampled[:, i]]
    return offsets


@torch.no_grad()
def link_metrics_batch(gen, bound, z, z_new, noise, c=None, alpha=1.0, truncation_psi=1.0, outputs=('image',),
                       alpha_scale=None):
    """Per-sample metrics of one batch, for every output from the same renders.

    Args:
        gen:      GeneratorAdapter.
        bound:    BoundSpec of the links to measure.
        z, z_new: [N, z_dim] latents and resampling latents; noise: [N, links, w_dim] standard normal.
        c:        [N, c_dim] labels / EG3D cameras (default gen.default_c).
        outputs:  generator outputs to measure ('image'; EG3D also 'image_raw', 'image_depth'). Semantic regions
                  are segmented from 'image' and resized to the others.
    Returns:
        {output: {metric: [N, links]}} for every metric in METRICS and its '_region' twin.
    """
    c = gen.default_c(z.shape[0]) if c is None else c
    ws = gen.map(z, c, truncation_psi)
    ws_new = gen.map(z_new, c, truncation_psi)
    offsets = variant_offsets(bound, ws, ws_new, noise, alpha, alpha_scale)
    return variant_metrics(gen, bound, ws, offsets, c, outputs)


@torch.no_grad()
def variant_metrics(gen, bound, ws, offsets, c, outputs=('image',), variants=VARIANTS, table=METRIC_TABLE):
    """Per-sample metrics of `table` from one render of codes and their variants, for every output.

    Args:
        gen:      GeneratorAdapter.
        bound:    BoundSpec of the links to measure.
        ws:       [N, num_ws, w_dim] codes.
        offsets:  per link, one offset per entry of `variants` ([N, w_dim] or per row [N, num_ws, w_dim], as
                  render.render_variants takes them), in the order link 0: variants, link 1: variants, ...
        c:        [N, c_dim] labels / EG3D cameras.
        outputs:  generator outputs to measure; semantic regions are segmented from 'image'.
        variants: the variants the offsets render (a subset of VARIANTS, in that order per link).
        table:    the Metric rows to compute (their variant among `variants`).
    Returns:
        {output: {metric: [N, links]}} for every metric in `table` and its '_region' twin.
    """
    x, rendered = render_variants(lambda w: gen.synthesize(w, c), ws, offsets)
    views, px, pvars = split_outputs(x, rendered, targets=list(outputs), primary='image')
    K = len(variants)
    shared = None if bound.masks.uses_variants else bound.masks.for_batch(px)
    masks = {v: shared or bound.masks.for_batch(px, pvars[k::K]) for k, v in enumerate(variants)}
    result = {}
    for output, (img, imgs) in views.items():
        img = img.float()
        N, _, H, W = img.shape
        changes = {}
        for k, variant in enumerate(variants):
            mask = masks[variant].at(H, W).expand(N, -1, -1, -1)
            changes[variant] = region_change(img, torch.stack([v.float() for v in imgs[k::K]], dim=1), mask)
        out = {}
        for m in table:
            side = 'in' if m.where == 'inside' else 'out'
            out[m.name] = changes[m.variant][side + '_all']
            out[m.name + '_region'] = changes[m.variant][side + '_px']
        result[output] = out
    return result


def region_change(x, x_edit, mask):
    """The squared change of edits inside and outside a region, per sample, in both normalisations (the module's
    docstring): the one computation behind the metrics, `linkgan compare` and `linkgan edit`.

    Args:
        x:      [N, C, H, W] originals.
        x_edit: [N, K, C, H, W] edits (K: links or variants), or [N, C, H, W] (K = 1).
        mask:   [1 or N, 1 or K, H, W] region masks in [0, 1].
    Returns:
        {'in_all', 'out_all', 'in_px', 'out_px'}, each [N, K] (fp32; fp64 for fp64 inputs):
            in_all  = sum(M (x'-x)^2) / (C H W)      out_all = sum((1-M) (x'-x)^2) / (C H W)
            in_px   = sum(M (x'-x)^2) / (C sum M)    out_px  = sum((1-M) (x'-x)^2) / (C sum(1-M))
    """
    C, H, W = x.shape[1:]
    inside, outside = masked_diff(x, x_edit, x_edit, mask)
    area_in = C * mask.sum(dim=[2, 3]).clamp(min=1e-8)
    area_out = C * (1 - mask).sum(dim=[2, 3]).clamp(min=1e-8)
    return {'in_all': inside / (C * H * W), 'out_all': outside / (C * H * W),
            'in_px': inside / area_in, 'out_px': outside / area_out}

#----------------------------------------------------------------------------
# A whole evaluation.

def summarise_values(values):
    """Mean and std of every metric of one link: {key: mean, key_std: std} plus the derived 'locality'."""
    entry = {}
    for key, v in values.items():
        v = v.double()
        entry[key] = float(v.mean())
        entry[key + '_std'] = float(v.std(unbiased=False))
    entry['locality'] = entry['edit_o_region'] / entry['edit_i_region'] if entry['edit_i_region'] > 0 else math.inf
    return entry


def evaluate_links(gen, spec, samples=1024, batch=32, seed=0, alpha=None, truncation_psi=1.0, outputs=('image',),
                   alpha_scale=None, progress=None):
    """Every metric of every link and output over `samples` fixed-seed samples (independent of `batch`).

    Args:
        gen:      GeneratorAdapter (on the device to run on).
        spec:     LinkSpec of the links to measure (axes within gen.w_dim).
        alpha:    perturbation strength (default spec.alpha).
        progress: optional callable(n) called with the number of samples after every batch.
    Returns:
        {'results': {output: {link: {metric: mean, metric_std: std, ..., 'locality': float}}},
         'samples_per_second': float, 'seconds': float}
    """
    bound = BoundSpec(spec, gen.w_dim)
    alpha = spec.alpha if alpha is None else alpha
    z, z_new, noise, c = sample_inputs(gen, spec.names, samples, seed)
    dev = gen.device
    parts = []
    start = time.perf_counter()
    for i in range(0, samples, batch):
        sl = slice(i, min(i + batch, samples))
        values = link_metrics_batch(gen, bound, z[sl].to(dev), z_new[sl].to(dev), noise[sl].to(dev), c[sl].to(dev),
                                    alpha=alpha, truncation_psi=truncation_psi, outputs=outputs, alpha_scale=alpha_scale)
        parts.append({o: {k: v.cpu() for k, v in d.items()} for o, d in values.items()})
        if progress is not None:
            progress(sl.stop - sl.start)
    seconds = time.perf_counter() - start
    results = {}
    for output in parts[0]:
        results[output] = {}
        for j, name in enumerate(spec.names):
            keys = parts[0][output]
            results[output][name] = summarise_values({k: torch.cat([p[output][k][:, j] for p in parts]) for k in keys})
    return {'results': results, 'samples_per_second': samples / max(seconds, 1e-9), 'seconds': seconds}

#----------------------------------------------------------------------------
# Tint: how much of an in-region change is one uniform colour shift.

def tint_energies(diff, mask):
    """The in-region energy of changes and of their uniform-tint part, per sample.

    The tint of a change d over a region of weights M is its per-channel weighted mean t_c = sum(M d_c) / sum(M);
    its energy is sum_c t_c^2 sum(M), and the total is sum_c sum(M d_c^2) (so 0 <= tint <= total, equal for a pure
    tint, tint ~0 for a pattern of zero mean over the region).

    Args:
        diff: [N, C, H, W] changes (edited minus original images, any units).
        mask: [1 or N, 1, H, W] region weights in [0, 1] (binary or soft).
    Returns:
        (tint [N], total [N]) float64.
    """
    if diff.ndim != 4:
        raise ValueError(f'diff must be [N, C, H, W], got shape {list(diff.shape)}')
    N, _, H, W = diff.shape
    if mask.ndim != 4 or mask.shape[1] != 1 or mask.shape[2:] != (H, W) or mask.shape[0] not in (1, N):
        raise ValueError(f'mask must be [1 or N, 1, H, W] = [1 or {N}, 1, {H}, {W}], got shape {list(mask.shape)}')
    d, m = diff.double(), mask.double()
    area = m.sum(dim=[2, 3]).clamp(min=1e-12)                         # [1 or N, 1]
    mean = (m * d).sum(dim=[2, 3]) / area                             # [N, C]
    tint = (mean.square() * area).sum(dim=1)
    total = (m * d.square()).sum(dim=[1, 2, 3])
    return tint, total


def tint_share(diff, mask):
    """The share of each sample's in-region change that is a uniform tint (tint_energies: tint / total), [N]
    float64 in [0, 1]; 0 for a sample whose change is zero in the region."""
    tint, total = tint_energies(diff, mask)
    return torch.where(total > 0, tint / total.clamp(min=1e-300), torch.zeros_like(total)).clamp(0, 1)

#----------------------------------------------------------------------------
