"""The scene as an oracle: how much of each region's content is the region's own, measured on the procedural data.

A link's in-region term asks that the other axes leave the region alone. That is only fair when the region's
content is mostly its own: if factors shared by the whole image (skin, light, exposure, pose) put most of a box's
variance there, a generator can obey only by dropping their diversity. This module measures that on a scene whose
every factor is known (faces.faces, portraits.portraits, or any draw function of the same shape), region by region:

    variance(S)  = E over samples and in-box values of (x(f with the factors S redrawn) - x(f))^2 / 2
                   (the expected variance of a pixel given every other factor; images in [-1, 1])
    ratio        = variance(shared factors) / variance(the region's own part factors)
    tint share   = metrics.tint_energies of the own-factor changes, pooled over samples: sum(tint) / sum(total)
    ties         = the correlation across samples of the regions' mean in-box change when the shared factors are
                   redrawn, the shared share of each region's variance, and (optional groups) the in-box variance
                   of each group of shared factors (skin, light, exposure, pose) over the region's own;
    other parts  = the in-box variance from each other region's part factors over the region's own (what the
                   other links' axes would have to move inside this box).

Every variant is drawn with every factor overridden, so `draw` must be a function of its factors then (both face
scenes are). Random numbers come from torch.Generator(seed) (base factors) and (seed + 1) (redrawn factors).

    report = oracle_report(faces, SHARED_FACTORS, FACTOR_PARTS, {n: preset_box(n) for n in FACTOR_PARTS}, 32,
                           groups=CROSSING_GROUPS)
    report['regions']['nose']['ratio']          # ~485 on the old faces at 32 px
"""

import math

import torch

from linkgan_plugin.analysis.metrics import tint_energies
from linkgan_plugin.checks import is_number
from linkgan_plugin.regions import box_centre_mask, box_coverage

# The shared factors of both face scenes that must still cross every region, by group.
CROSSING_GROUPS = {'skin': ('skin_tone', 'skin_warmth'), 'light': ('light_angle', 'light_strength'),
                   'exposure': ('exposure',), 'pose': ('pose_x', 'pose_y')}

#----------------------------------------------------------------------------
# Checks.

def region_masks(boxes, resolution, binary=True):
    """{region: float32 [1, 1, R, R]} of normalised boxes {region: [x0, y0, x1, y1]}: 1 where a pixel's centre lies
    in the box (binary, regions.box_centre_mask) or the covered fraction (soft, regions.box_coverage). ValueError
    naming boxes[region] for a box that does not fit the image or holds no pixel at this resolution."""
    out = {}
    for name, box in boxes.items():
        where = f'boxes[{name!r}]'
        if not (isinstance(box, (list, tuple)) and len(box) == 4 and all(is_number(v) for v in box)):
            raise ValueError(f'{where} must be [x0, y0, x1, y1] of four numbers, got {box!r}')
        x0, y0, x1, y1 = (float(v) for v in box)
        if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
            raise ValueError(f'{where} = {list(box)} does not fit the image: need 0 <= x0 < x1 <= 1 and '
                             '0 <= y0 < y1 <= 1 (normalised, x = column, y = row)')
        mask = (box_centre_mask if binary else box_coverage)([[x0, y0, x1, y1]], resolution, resolution)
        if mask.sum() == 0:
            raise ValueError(f'{where} = {list(box)} holds no pixel centre at resolution {resolution}')
        out[name] = mask[None, None]
    return out


def _check_factor_names(known, shared, parts, groups):
    """ValueError naming the argument of a factor name the scene does not draw, or of a part factor also shared."""
    lists = [('shared', shared)] + [(f'parts[{r!r}]', names) for r, names in parts.items()]
    lists += [(f'groups[{g!r}]', names) for g, names in (groups or {}).items()]
    for where, names in lists:
        if isinstance(names, str) or not names:
            raise ValueError(f'{where} must be a non-empty list of factor names, got {names!r}')
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ValueError(f'{where}: unknown factor {unknown[0]!r} (the scene draws: {", ".join(known)})')
    for region, names in parts.items():
        both = set(names) & set(shared)
        if both:
            raise ValueError(f'parts[{region!r}]: {sorted(both)[0]!r} is also a shared factor')

#----------------------------------------------------------------------------
# The measurement.

def oracle_report(draw, shared, parts, boxes, resolution, samples=1024, batch=128, seed=0, groups=None, binary=True,
                  per_factor=False):
    """The oracle measurement of a scene, per region (module docstring).

    Args:
        draw:       callable(batch, resolution, generator, overrides) -> (images [N, 3, R, R] in [-1, 1], labels,
                    factors {name: [N] or [N, 3]}), e.g. faces.faces or portraits.portraits.
        shared:     names of the shared factors (redrawn together).
        parts:      {region: names of its own part factors}.
        boxes:      {region: [x0, y0, x1, y1]} normalised (the same regions as `parts`).
        resolution: image size R.
        samples:    faces measured (>= 2); batch: faces drawn at once.
        groups:     optional {group: factor names} (e.g. CROSSING_GROUPS) whose in-box variance is also reported.
        binary:     masks of pixel centres inside the box (the paper's), else the soft covered fraction.
        per_factor: also redraw each part factor alone and report its in-box variance over its region's own
                    (one render per part factor more per batch).
    Returns:
        JSON-able {'resolution', 'samples', 'seed', 'masks', 'regions': {region: {...}}, 'ties': {...}}.
    """
    for name, value, low in (('resolution', resolution, 1), ('samples', samples, 2), ('batch', batch, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f'{name} must be an integer >= {low}, got {value!r}')
    if set(parts) != set(boxes):
        raise ValueError(f'boxes must name the regions of parts ({", ".join(parts)}), got {", ".join(boxes)}')
    masks = region_masks(boxes, resolution, binary)
    g_base, g_new = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed + 1)
    sums = None
    for start in range(0, samples, batch):
        n = min(batch, samples - start)
        base, new = draw(n, resolution, g_base)[2], draw(n, resolution, g_new)[2]
        if sums is None:
            _check_factor_names(list(base), shared, parts, groups)
        part = _batch_sums(draw, resolution, base, new, shared, parts, groups or {}, masks, per_factor)
        sums = part if sums is None else _merge(sums, part)
    return _summarise(sums, boxes, masks, resolution, samples, seed, binary, groups or {}, parts if per_factor else {})


def _batch_sums(draw, resolution, base, new, shared, parts, groups, masks, per_factor):
    """Sums over one batch: per (redrawn set, region) the in-box squared change ('energy') and its tint energy
    ('tint'); per region the own changes' tint shares ('shares' [samples]) and the mean in-box shift of each sample
    under the shared redraw ('shifts' [samples])."""
    n = next(iter(base.values())).shape[0]

    def render(redrawn):
        overrides = {k: (new[k] if k in redrawn else v) for k, v in base.items()}
        return draw(n, resolution, torch.Generator().manual_seed(0), overrides)[0].double()

    x = render(())
    sets = {'shared': tuple(shared), 'all': tuple(base), **{f'own:{r}': tuple(p) for r, p in parts.items()},
            **{f'group:{g}': tuple(p) for g, p in groups.items()},
            **{f'factor:{n}': (n,) for p in (parts.values() if per_factor else ()) for n in p}}
    out = {'energy': {}, 'tint': {}, 'shares': {}, 'shifts': {}}
    for key, redrawn in sets.items():
        diff = render(redrawn) - x
        for region, mask in masks.items():
            tint, total = tint_energies(diff, mask)
            out['energy'][key, region], out['tint'][key, region] = float(total.sum()), float(tint.sum())
            if key == f'own:{region}':
                out['shares'][region] = (tint / total.clamp(min=1e-300))[total > 0]
            if key == 'shared':
                m = mask.double()
                out['shifts'][region] = (m * diff).sum(dim=[1, 2, 3]) / (diff.shape[1] * m.sum())
    return out


def _merge(a, b):
    """Two batches' sums as one: energies and tints add, per-sample values concatenate."""
    return {'energy': {k: a['energy'][k] + v for k, v in b['energy'].items()},
            'tint': {k: a['tint'][k] + v for k, v in b['tint'].items()},
            'shares': {k: torch.cat([a['shares'][k], v]) for k, v in b['shares'].items()},
            'shifts': {k: torch.cat([a['shifts'][k], v]) for k, v in b['shifts'].items()}}


def _summarise(sums, boxes, masks, resolution, samples, seed, binary, groups, factor_parts):
    """The JSON-able report of the accumulated sums (see oracle_report)."""
    def variance(key, region):      # Per in-box value: E (x' - x)^2 / 2.
        return sums['energy'][key, region] / (2 * samples * 3 * float(masks[region].sum()))

    regions = {}
    for region, box in boxes.items():
        shared, all_, own = variance('shared', region), variance('all', region), variance(f'own:{region}', region)
        key, shares = f'own:{region}', sums['shares'][region]
        regions[region] = {
            'box_height_px': (box[3] - box[1]) * resolution, 'box_width_px': (box[2] - box[0]) * resolution,
            'box_rows': int((masks[region][0, 0].sum(dim=1) > 0).sum()), 'box_pixels': float(masks[region].sum()),
            'shared_variance': shared, 'own_variance': own, 'all_variance': all_,
            'ratio': _ratio(shared, own), 'shared_of_all': _ratio(shared, all_), 'own_of_all': _ratio(own, all_),
            'tint_share_own': _ratio(sums['tint'][key, region], sums['energy'][key, region]),
            'tint_share_own_median': float(shares.median()) if len(shares) else math.nan,
            'tint_share_shared': _ratio(sums['tint']['shared', region], sums['energy']['shared', region]),
            'groups': {g: {'variance': variance(f'group:{g}', region),
                           'over_own': _ratio(variance(f'group:{g}', region), own)} for g in groups},
            'other_parts_over_own': {r: _ratio(variance(f'own:{r}', region), own) for r in boxes if r != region},
        }
        if factor_parts:
            regions[region]['factors_over_own'] = {n: _ratio(variance(f'factor:{n}', region), own)
                                                   for n in factor_parts[region]}
    names = list(boxes)
    shifts = torch.stack([sums['shifts'][r] for r in names])             # [regions, samples]
    corr = torch.corrcoef(shifts) if len(names) > 1 else torch.ones(1, 1)
    pairs = {f'{names[i]}-{names[j]}': float(corr[i, j]) for i in range(len(names)) for j in range(i + 1, len(names))}
    return {'resolution': resolution, 'samples': samples, 'seed': seed, 'masks': 'binary' if binary else 'soft',
            'regions': regions,
            'ties': {'shared_mean_shift_correlation': pairs,
                     'min_shared_mean_shift_correlation': min(pairs.values()) if pairs else math.nan}}


def _ratio(a, b):
    """a / b; inf for a > 0 over 0, nan for 0 / 0."""
    return a / b if b > 0 else (math.inf if a > 0 else math.nan)

#----------------------------------------------------------------------------
