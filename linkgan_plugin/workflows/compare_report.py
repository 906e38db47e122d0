"""Reading a `linkgan compare` run (`research.compare`): every curve matched at one in-region change, the report as
markdown in the paper's Table 2 layout, the picture, and the files of --out.

Matched strength: every curve (in, out) is walked from the origin (no edit, no change) in strength order and out is
linearly interpolated where in first reaches a target in-region change (default: LinkGAN resample at t = 1 on the
first linked network), in each normalisation; None when the curve never gets there.

LELSD directions (`lelsd_summaries`): per network and family ('lelsd', 'lelsd-within'), every matched figure
(out_px, out_all, locality, swd) per direction (one per direction seed by default), their median and range (min-max),
the median curve (at each strength, the median of each statistic over the directions), and the held-out pick: the
direction with the best LELSD score on held-out latents (never the measured samples), reported on its own.
ReSeFa and StyleSpace (`post_hoc_summaries`, families 'resefa', 'stylespace') are summarised by the same code over
their search seeds; their pick is the seed with the best score of the method's own, measured on its search samples
(ReSeFa: the inside share of its direction; StyleSpace: the channel's in-region share), never the measured ones.
Every direction and pick carries 'score' (the pick's criterion); LELSD's also 'held_out_score' (the same number).

Outputs in --out DIR: compare.json (the report; 'lelsd' holds the LELSD summaries, 'post_hoc' those of ReSeFa and
StyleSpace), compare.md (Table 2 layout with LELSD, ReSeFa and StyleSpace as their median [range] and their pick,
then every LELSD direction, then every ReSeFa / StyleSpace seed, then every sweep point), compare.png (out_px against
in_px, log-log, one curve per method, LELSD, ReSeFa and StyleSpace as their median curves with every seed's points
faintly, the paper's locality anchors as lines out = r * in).
"""

import json
import math
import os
import statistics

from linkgan_plugin.analysis.metrics import ANCHOR_NOTE, LOCALITY_ANCHORS
from linkgan_plugin.analysis.plots import MARKERS, PALETTE, xy_plot

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


LELSD_FAMILIES = {'lelsd': 'LELSD', 'lelsd-within': 'LELSD within link'}
POST_HOC_FAMILIES = {'resefa': 'ReSeFa', 'stylespace': 'StyleSpace'}
SEEDED_FAMILIES = {**LELSD_FAMILIES, **POST_HOC_FAMILIES}      # Families summarised over their seeds.
PICKS = {'lelsd': 'held-out pick', 'lelsd-within': 'held-out pick', 'resefa': 'pick by inside share',
         'stylespace': 'pick by share'}                          # How each family's pick reads in a table row.
FIGURES = ('out_px', 'out_all', 'locality', 'swd')


def spread(values):
    """{'values', 'n' (not None), 'median', 'min', 'max'} of a list that may hold None (sweeps that never reach the
    matched change); median / min / max None when no value is known."""
    known = [v for v in values if v is not None]
    return {'values': list(values), 'n': len(known), 'median': statistics.median(known) if known else None,
            'min': min(known) if known else None, 'max': max(known) if known else None}


def lelsd_summaries(report):
    """seed_summaries of the LELSD families (report['lelsd'])."""
    return seed_summaries(report, LELSD_FAMILIES)


def post_hoc_summaries(report):
    """seed_summaries of ReSeFa and StyleSpace (report['post_hoc'])."""
    return seed_summaries(report, POST_HOC_FAMILIES)


def seed_summaries(report, families):
    """Per (network, family) of report['methods'] whose family is a key of `families` ({family: label}): the
    directions' (seeds') matched figures, their spread, the median curve and the pick (the highest info['score']:
    LELSD's held-out score, ReSeFa's inside share, StyleSpace's share; None when no direction has one).

    Returns:
        [{'network', 'family', 'label', 'count', 'pick_label', 'directions': [{'key', 'seed', 'index', 'score',
          ('held_out_score': LELSD's), 'search', 'matched'}], 'matched': {figure: spread(...)},
          'median_points': [{'strength', stat: median}], 'pick': {'key', 'seed', 'index', 'score',
          ('held_out_score'), 'matched'} or None}].
    """
    out = []
    groups = {}
    for m in report['methods']:
        if m.get('family') in families:
            groups.setdefault((m['network'], m['family']), []).append(m)
    for (network, family), ms in groups.items():
        dirs = [{'key': m['key'], 'seed': m['info'].get('seed'), 'index': m['info'].get('index'),
                 'score': m['info'].get('score'), 'search': m['info'].get('search'), 'matched': m['matched']}
                for m in ms]
        keep = ['key', 'seed', 'index', 'score', 'matched']
        if family in LELSD_FAMILIES:
            for d in dirs:
                d['held_out_score'] = d['score']
            keep.insert(3, 'held_out_score')
        scored = [d for d in dirs if d['score'] is not None]
        pick = max(scored, key=lambda d: d['score']) if scored else None
        median_points = []
        for j, p in enumerate(ms[0]['points']):
            entry = {'strength': p['strength']}
            for k in ('in_all', 'out_all', 'in_px', 'out_px', 'swd'):
                entry[k] = spread([m['points'][j].get(k) for m in ms])['median']
            entry['locality'] = entry['out_px'] / entry['in_px'] if entry['in_px'] else None
            median_points.append(entry)
        out.append({'network': network, 'family': family, 'label': families[family], 'count': len(ms),
                    'pick_label': PICKS.get(family, 'pick'), 'directions': dirs,
                    'matched': {f: spread([d['matched'].get(f) for d in dirs]) for f in FIGURES},
                    'median_points': median_points, 'pick': {k: pick[k] for k in keep} if pick else None})
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


def _range(s, fmt):
    """'median [min-max]' of a spread() in format `fmt` (a function of one value)."""
    return 'n/a' if s['median'] is None else f"{fmt(s['median'])} [{fmt(s['min'])}-{fmt(s['max'])}]"


def _table_row(label, network, p, mt):
    """A Table 2 row: the sweep point p (closest to the matched change), then the matched figures mt (text)."""
    return (f"| {label} | {network} | {p['strength']:g} | {_f(p['in_all'])} | {_f(p['out_all'])} | {_f(p['in_px'])} | "
            f"{_f(p['out_px'])} | {_r(p['locality'])} | {mt['out_all']} | {mt['out_px']} | {mt['locality']} | "
            f"{mt['swd']} |")


def _matched_text(mt):
    return {'out_all': _f(mt['out_all']), 'out_px': _f(mt['out_px']), 'locality': _r(mt['locality']),
            'swd': _f(mt['swd'], 1, 2)}


def _summary_rows(summary, points_by_key, target_in_px):
    """Two Table 2 rows of one seed_summaries entry (LELSD, ReSeFa, StyleSpace): median [range] over the directions
    (sweep columns: the median curve), and the pick."""
    s, n = summary, summary['count']
    mt = {'out_all': _range(s['matched']['out_all'], _f), 'out_px': _range(s['matched']['out_px'], _f),
          'locality': _range(s['matched']['locality'], _r), 'swd': _range(s['matched']['swd'], lambda v: _f(v, 1, 2))}
    rows = [_table_row(f"{s['label']}, median [range] of {n}", s['network'],
                       closest_point(s['median_points'], target_in_px), mt)]
    if s['pick'] is not None:
        pick = s['pick']
        rows.append(_table_row(f"{s['label']}, {s.get('pick_label', 'held-out pick')} (seed {pick['seed']} "
                               f"#{pick['index']})", s['network'],
                               closest_point(points_by_key[pick['key']], target_in_px),
                               _matched_text(pick['matched'])))
    return rows


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
    summaries = _summaries(report)
    points_by_key = {m['key']: m['points'] for m in report['methods']}
    done = set()
    for m in report['methods']:
        group = (m['network'], m['family'])
        if group in summaries:
            if group not in done:
                lines += _summary_rows(summaries[group], points_by_key, t['in_px'])
                done.add(group)
            continue
        lines.append(_table_row(m['label'], m['network'], closest_point(m['points'], t['in_px']),
                                _matched_text(m['matched'])))
    lines += ['', 'Rows show the sweep point closest to the matched in-region change; "at matched" columns are '
              'interpolated along each sweep (n/a: the sweep never reaches it). LELSD rows: the median [min-max] over '
              'its directions (sweep columns: the median curve), then the direction with the best LELSD score on '
              'held-out latents.']
    if report.get('post_hoc'):
        lines[-1] += (' ReSeFa and StyleSpace rows: the same over their search seeds (their own sample streams), then '
                      'the seed with the best score of the method\'s own on its search samples (ReSeFa: its '
                      'direction\'s inside share; StyleSpace: its channel\'s share); StyleSpace strengths are in '
                      'units of the channel\'s std.')
    lines += _lelsd_section(report)
    lines += _post_hoc_section(report)
    lines += ['', '## Every sweep point', '',
              '| Method | network | strength | MSE_i | MSE_o | MSE_i /px | MSE_o /px | out/in /px | SWD |', '|---|---|---|---|---|---|---|---|---|']
    for m in report['methods']:
        for p in m['points']:
            lines.append(f"| {m['label']} | {m['network']} | {p['strength']:g} | {_f(p['in_all'])} | {_f(p['out_all'])} | "
                         f"{_f(p['in_px'])} | {_f(p['out_px'])} | {_r(p['locality'])} | {_f(p.get('swd'), 1, 2)} |")
    if report.get('originals_quality'):
        lines += ['', 'Unedited samples against real images (SWD x1e3, lower is better; recall / precision in a fixed '
                  'random-network feature space, higher is better): ' + ', '.join(
                      f'{k} SWD {v["swd"]:.2f}, recall {v["recall"]:.3f}, precision {v["precision"]:.3f}'
                      for k, v in report['originals_quality'].items())]
    return '\n'.join(lines) + '\n'

def _lelsd_section(report):
    """Markdown lines: every LELSD direction's held-out score, search and matched figures."""
    if not report.get('lelsd'):
        return []
    held = report['settings'].get('held_out') or {}
    lines = ['', '## LELSD directions', '',
             f"Held-out score: LELSD's localization score on {held.get('samples', '?')} held-out latents (seed "
             f"{held.get('seed', '?')}, their own stream), the pick's criterion. Search: steps (how it stopped) at "
             'truncation t.', '',
             '| Method | network | seed | # | held-out score | search | MSE_o at matched | MSE_o /px at matched | '
             'out/in at matched | SWD at matched |', '|---|---|---|---|---|---|---|---|---|---|']
    for s in report['lelsd']:
        for d in s['directions']:
            search = d.get('search') or {}
            stop = search.get('stop') or {}
            mark = ' (pick)' if s['pick'] and d['key'] == s['pick']['key'] else ''
            mt = _matched_text(d['matched'])
            lines.append(f"| {s['label']}{mark} | {s['network']} | {d['seed']} | {d['index']} | "
                         f"{_r(d['held_out_score'])} | {stop.get('steps', '?')} ({stop.get('reason', '?')}), "
                         f"t {search.get('truncation')} | {mt['out_all']} | {mt['out_px']} | {mt['locality']} | "
                         f"{mt['swd']} |")
    return lines


def _post_hoc_section(report):
    """Markdown lines: every ReSeFa and StyleSpace search (seed), its own score, what it found and its matched
    figures."""
    if not report.get('post_hoc'):
        return []
    lines = ['', '## ReSeFa and StyleSpace searches', '',
             'Score: the method\'s own, on its search samples (ReSeFa: the share of a small step\'s squared image '
             'change inside the region, with its generalised eigenvalue; StyleSpace: the channel\'s in-region '
             'share of the squared image gradient), the pick\'s criterion.', '',
             '| Method | network | seed | score | search | MSE_o at matched | MSE_o /px at matched | '
             'out/in at matched | SWD at matched |', '|---|---|---|---|---|---|---|---|---|']
    for s in report['post_hoc']:
        for d in s['directions']:
            search = d.get('search') or {}
            if s['family'] == 'stylespace':
                what = f"{search.get('layer')}[{search.get('channel')}], std {_r(search.get('std'))}"
            else:
                what = f"eigenvalue {_r(search.get('eigenvalue'))}"
            mark = ' (pick)' if s['pick'] and d['key'] == s['pick']['key'] else ''
            mt = _matched_text(d['matched'])
            lines.append(f"| {s['label']}{mark} | {s['network']} | {d['seed']} | {_r(d['score'])} | {what}, "
                         f"{search.get('samples', '?')} samples, t {search.get('truncation')} | {mt['out_all']} | "
                         f"{mt['out_px']} | {mt['locality']} | {mt['swd']} |")
    return lines


def _summaries(report):
    """{(network, family): summary} of report['lelsd'] and report['post_hoc'] (either may be missing)."""
    return {(s['network'], s['family']): s for s in (report.get('lelsd') or []) + (report.get('post_hoc') or [])}

#----------------------------------------------------------------------------
# The picture and the files.

def plot_curves(report, size=(820, 540)):
    """out_px against in_px on log-log axes (`pictures.xy_plot`): one curve per method (its sweep, in strength order;
    colour: the method, marker: the network); LELSD, ReSeFa and StyleSpace (report['lelsd'], report['post_hoc']) as
    their median curves with every direction's (seed's) points faintly; the paper's per-pixel anchors as dashed lines
    out = r * in, the matched in-region change as a dotted vertical line. Returns a PIL image."""
    summaries = _summaries(report)
    groups = list(dict.fromkeys(SEEDED_FAMILIES.get(m.get('family'), m['label']) for m in report['methods']))
    nets = list(dict.fromkeys(m['network'] for m in report['methods']))
    series, drawn = [], set()
    points_by_key = {m.get('key'): m['points'] for m in report['methods']}
    for m in report['methods']:
        color = PALETTE[groups.index(SEEDED_FAMILIES.get(m.get('family'), m['label'])) % len(PALETTE)]
        marker = MARKERS[nets.index(m['network']) % len(MARKERS)]
        group = (m['network'], m.get('family'))
        if group not in summaries:
            series.append({'label': f"{m['label']} [{m['network']}]", 'points': _xy(m['points']), 'line': True,
                           'color': color, 'marker': marker})
        elif group not in drawn:
            drawn.add(group)
            s = summaries[group]
            every = [xy for d in s['directions'] for xy in _xy(points_by_key[d['key']])]
            unit = 'dirs' if s['family'] in LELSD_FAMILIES else 'seeds'
            series.append({'label': f"{s['label']}, {s['count']} {unit} [{m['network']}]", 'points': every,
                           'color': faint(color), 'marker': marker})
            series.append({'label': f"{s['label']} median [{m['network']}]", 'points': _xy(s['median_points']),
                           'line': True, 'color': color, 'marker': marker})
    target = report['match'].get('in_px')
    pale = 'pale points: every ' + ('direction / seed' if report.get('post_hoc') else 'LELSD direction')
    return xy_plot(series, 'change inside the region, per region pixel (MSE_i /px)', 'MSE_o /px',
                   title=f"linkgan compare: link {report['link']['name']} - out-of-region vs in-region change per "
                         'pixel (log-log)',
                   vlines=[(target, '')] if target else [],
                   ratio_lines=[(r, f'{k} {r}') for k, r in LOCALITY_ANCHORS.items()], log_x=True, log_y=True,
                   notes=('dashed: paper anchors out = r * in', 'dotted: matched MSE_i', pale), size=size,
                   legend_width=250)


def _xy(points):
    return [(p['in_px'], p['out_px']) for p in points]


def faint(color, strength=0.35):
    """`color` blended with white: (1 - strength) of the way to white."""
    return tuple(int(round(255 - strength * (255 - v))) for v in color)


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
