"""Reading a `linkgan compare` run (`research.compare`): every curve matched at one in-region change, the report as
markdown in the paper's Table 2 layout, the picture, and the files of --out.

Matched strength: every curve (in, out) is walked from the origin (no edit, no change) in strength order and out is
linearly interpolated where in first reaches a target in-region change (default: LinkGAN resample at t = 1 on the
first linked network), in each normalisation; None when the curve never gets there.

Outputs in --out DIR: compare.json (the report), compare.md (Table 2 layout, then every sweep point), compare.png
(out_px against in_px, log-log, one curve per method, the paper's locality anchors as lines out = r * in).
"""

import json
import math
import os

from linkgan_plugin.analysis.metrics import ANCHOR_NOTE, LOCALITY_ANCHORS
from linkgan_plugin.analysis.pictures import MARKERS, PALETTE, xy_plot

SCALE = 1e3                     # Tables print values x1e-3 (images in [-1, 1]), like the paper.

#----------------------------------------------------------------------------
# Matching.

def interpolate_at(ins, outs, target):
    """out where the curve (0, 0), (ins[0], outs[0]), ... (in strength order) first reaches in == target.

    Returns:
        float, or None when the curve never reaches `target` (or target is None / negative).
    """
    if target is None or not math.isfinite(target) or target < 0:
        return None
    px, py = 0.0, 0.0
    if target == 0:
        return 0.0
    for x, y in zip(ins, outs):
        if x is None or y is None:
            return None
        if (px - target) * (x - target) <= 0 and x != px:
            t = (target - px) / (x - px)
            return py + t * (y - py)
        px, py = x, y
    return None


def match_target(results, methods, target=None):
    """The in-region change every curve is matched at: `target` (per pixel, as in_px) if given, else LinkGAN
    resample at t = 1 on the first linked network, else the first 'same axes resampled' at t = 1.
    Returns: {'in_px': value, 'in_all': value, 'from': text} (in_all None when only in_px is known)."""
    if target is not None:
        return {'in_px': float(target), 'in_all': None, 'from': 'given (--match)'}
    for family in ('linkgan-resample', 'control-resample'):
        for m in methods:
            if m.family == family:
                p = results[m.key][-1]
                return {'in_px': p['in_px'], 'in_all': p['in_all'], 'from': f'{m.label} at t = {p["strength"]:g}'}
    return {'in_px': None, 'in_all': None, 'from': 'none'}


def matched(points, target):
    """Interpolated values of one curve at the target: out_px at in_px, out_all at in_all, swd at in_px."""
    ins_px, ins_all = [p['in_px'] for p in points], [p['in_all'] for p in points]
    out = {'out_px': interpolate_at(ins_px, [p['out_px'] for p in points], target['in_px']),
           'out_all': interpolate_at(ins_all, [p['out_all'] for p in points], target['in_all'])}
    out['locality'] = out['out_px'] / target['in_px'] if out['out_px'] is not None and target['in_px'] else None
    swd = [p.get('swd') for p in points]
    out['swd'] = None
    if all(v is not None for v in swd) and target['in_px'] is not None:
        # Walk from the first point (not the origin: an unedited image has the network's own distance).
        for (a, sa), (b, sb) in zip(zip(ins_px, swd), zip(ins_px[1:], swd[1:])):
            if (a - target['in_px']) * (b - target['in_px']) <= 0 and a != b:
                out['swd'] = sa + (target['in_px'] - a) / (b - a) * (sb - sa)
                break
    return out


def closest_point(points, target_in_px):
    """The sweep point whose in_px is closest to the target (the last when there is no target)."""
    if target_in_px is None:
        return points[-1]
    return min(points, key=lambda p: abs(math.log(max(p['in_px'], 1e-30)) - math.log(max(target_in_px, 1e-30))))

#----------------------------------------------------------------------------
# Markdown.

def _f(v, scale=SCALE, digits=3):
    return 'n/a' if v is None else f'{v * scale:.{digits}f}'


def _r(v):
    return 'n/a' if v is None else f'{v:.3f}'


def format_markdown(report):
    """The comparison as markdown: the Table 2 layout (one row per method), then every sweep point."""
    t = report['match']
    link = report['link']
    lines = [f"# linkgan compare: link `{link['name']}`, region `{json.dumps(link['region'])}`", '',
             f"{report['settings']['samples']} fixed-seed samples per setting, truncation {report['settings']['truncation']}; "
             'values x1e-3 (images in [-1, 1]). MSE_i: change inside the region (the edit), MSE_o: change outside '
             '(leakage, lower is better); "all px" divides by every pixel (the paper\'s Table 2), "/px" by the '
             'region\'s own pixels; out/in = per-pixel leakage (paper anchors: ' +
             ', '.join(f'{k} ~{v}' for k, v in LOCALITY_ANCHORS.items()) + f'; {ANCHOR_NOTE}). SWD: quality distance to '
             'real images (x1e3, lower is better).',
             '', f"Matched in-region change: MSE_i/px = {_f(t['in_px'])} ({t['from']}).", '',
             '| Method | network | strength | MSE_i | MSE_o | MSE_i /px | MSE_o /px | out/in /px | MSE_o at matched MSE_i | MSE_o /px at matched | out/in at matched | SWD at matched |',
             '|---|---|---|---|---|---|---|---|---|---|---|---|']
    for m in report['methods']:
        p = closest_point(m['points'], t['in_px'])
        mt = m['matched']
        lines.append(f"| {m['label']} | {m['network']} | {p['strength']:g} | {_f(p['in_all'])} | {_f(p['out_all'])} | "
                     f"{_f(p['in_px'])} | {_f(p['out_px'])} | {_r(p['locality'])} | {_f(mt['out_all'])} | "
                     f"{_f(mt['out_px'])} | {_r(mt['locality'])} | {_f(mt['swd'], 1, 2)} |")
    lines += ['', 'Rows show the sweep point closest to the matched in-region change; "at matched" columns are '
              'interpolated along each sweep (n/a: the sweep never reaches it).', '', '## Every sweep point', '',
              '| Method | network | strength | MSE_i | MSE_o | MSE_i /px | MSE_o /px | out/in /px | SWD |', '|---|---|---|---|---|---|---|---|---|']
    for m in report['methods']:
        for p in m['points']:
            lines.append(f"| {m['label']} | {m['network']} | {p['strength']:g} | {_f(p['in_all'])} | {_f(p['out_all'])} | "
                         f"{_f(p['in_px'])} | {_f(p['out_px'])} | {_r(p['locality'])} | {_f(p.get('swd'), 1, 2)} |")
    if report.get('originals_swd'):
        lines += ['', 'SWD of unedited samples: ' + ', '.join(f'{k} {v:.2f}' for k, v in report['originals_swd'].items())]
    return '\n'.join(lines) + '\n'

#----------------------------------------------------------------------------
# The picture and the files.

def plot_curves(report, size=(820, 540)):
    """out_px against in_px on log-log axes (`pictures.xy_plot`): one curve per method (its sweep, in strength order;
    colour: the method, marker: the network), the paper's per-pixel anchors as dashed lines out = r * in, the matched
    in-region change as a dotted vertical line. Returns a PIL image."""
    labels = list(dict.fromkeys(m['label'] for m in report['methods']))
    nets = list(dict.fromkeys(m['network'] for m in report['methods']))
    series = [{'label': f"{m['label']} [{m['network']}]", 'points': [(p['in_px'], p['out_px']) for p in m['points']],
               'line': True, 'color': PALETTE[labels.index(m['label']) % len(PALETTE)],
               'marker': MARKERS[nets.index(m['network']) % len(MARKERS)]} for m in report['methods']]
    target = report['match'].get('in_px')
    return xy_plot(series, 'change inside the region, per region pixel (MSE_i /px)', 'MSE_o /px',
                   title=f"linkgan compare: link {report['link']['name']} - out-of-region vs in-region change per "
                         'pixel (log-log)',
                   vlines=[(target, '')] if target else [],
                   ratio_lines=[(r, f'{k} {r}') for k, r in LOCALITY_ANCHORS.items()], log_x=True, log_y=True,
                   notes=('dashed: paper anchors out = r * in', 'dotted: matched MSE_i'), size=size, legend_width=250)


def write_outputs(report, outdir):
    """compare.json, compare.md and compare.png in outdir; returns their paths."""
    os.makedirs(outdir, exist_ok=True)
    paths = {k: os.path.join(outdir, f'compare.{k}') for k in ('json', 'md', 'png')}
    with open(paths['json'], 'w', encoding='utf-8') as f:
        json.dump(report, f, indent=2)
    with open(paths['md'], 'w', encoding='utf-8') as f:
        f.write(format_markdown(report))
    plot_curves(report).save(paths['png'])
    return paths

#----------------------------------------------------------------------------
