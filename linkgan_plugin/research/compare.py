"""`linkgan compare`: LinkGAN against post-hoc local editing (LELSD) on one region, the paper's Table 2 question:
how much does an edit change the region, and how much does it leak out of it?

For one link (axes A, region M) of the spec and one or more networks, every method edits the same fixed-seed
samples (ws at `truncation`, const noise, the generator's RNG replayed for every render) at several strengths:

| method                    | networks                | edit of w (added to every ws row unless a direction says otherwise) |
|---------------------------|-------------------------|----------------------------------------------------------------------|
| LinkGAN resample          | linked                  | t * (w_new - w) on the axes A (w_new: a fresh z mapped); t = 1 is the Table 2 protocol |
| LinkGAN noise             | linked                  | alpha * N(0, I) on the axes A                                        |
| same axes resampled       | control / baseline      | as LinkGAN resample: what linking adds                               |
| LELSD                     | every network           | s * D * u / |u| for each direction u found on that network (`lelsd.find_directions`, or `--directions`) |
| LELSD within link         | linked (`--within-link`)| as LELSD, directions restricted to the axes A                        |
| random direction          | every network           | s * D * r for a random unit r (the floor: no localisation at all)    |

D is the network's typical distance between two codes, mean ||w_new - w||, so direction strengths s are fractions
of "a whole new sample"; each sample i is edited with sign (-1)^i (both directions of an edit, one render each).

Per method and strength, means over samples (images in [-1, 1], x = original, x' = edit, squared change per value):
    in_all  = sum(M (x'-x)^2) / (C H W)        out_all  = sum((1-M)(x'-x)^2) / (C H W)   (the paper's normalisation)
    in_px   = sum(M (x'-x)^2) / (C sum M)      out_px   = sum((1-M)(x'-x)^2) / (C sum(1-M))  (per region pixel)
    locality = out_px / in_px (per-pixel leakage; the paper's Table 2 gives LinkGAN ~0.015, StyleSpace ~0.17,
               ReSeFa ~0.36, StyleCLIP ~0.67 for the eyes, a ~3.5% region: ANCHORS)
    swd      = sliced Wasserstein distance of the edited images to real images (quality.sliced_wasserstein; x1e3)
Matched strength: every curve (in, out) is walked from the origin (no edit, no change) in strength order and out is
linearly interpolated where in first reaches a target in-region change (default: LinkGAN resample at t = 1 on the
first linked network), in each normalisation; None when the curve never gets there.

Outputs in --out DIR: compare.json, compare.md (Table 2 layout, then every sweep point), compare.png (out_px against
in_px, log-log, one curve per method, the anchors as lines out = r * in), and lelsd-<network>.npz for directions
found on the fly (reuse them with --directions).
"""

import dataclasses
import json
import math
import os
import time

import click
import torch

from linkgan_plugin.analysis.cli_options import (
    device_for_cli, device_option, network_for_cli, network_option, option_errors, progress_bar, spec_option,
    truncation_option, upstream_option)
from linkgan_plugin.analysis.datasets import DatasetError, load_images
from linkgan_plugin.analysis.metrics import ANCHOR_NOTE, LOCALITY_ANCHORS
from linkgan_plugin.analysis.network_loading import read_training_options, resolve_spec
from linkgan_plugin.analysis.quality import sliced_wasserstein
from linkgan_plugin.checks import SpecError
from linkgan_plugin.demo.data import scene_images
from linkgan_plugin.editing import lelsd
from linkgan_plugin.render import RngReplay
from linkgan_plugin.spec import load_spec

ANCHORS = LOCALITY_ANCHORS      # Per-pixel out / in of the paper's Table 2 (metrics.ANCHOR_NOTE).
STRENGTHS = {
    'resample':  (0.25, 0.5, 0.75, 1.0),          # Fraction t of the way to the resampled axes.
    'noise':     (0.25, 0.5, 1.0, 2.0),           # alpha.
    'direction': (0.125, 0.25, 0.5, 1.0, 2.0),    # Fraction s of the typical distance D between two codes.
}
DEFAULTS = dict(samples=256, batch=32, seed=0, truncation=1.0, lelsd_steps=lelsd.DEFAULTS['steps'],
                num_directions=1, quality_images=256, device='auto')
SCALE = 1e3
STATS = ('in_all', 'out_all', 'in_px', 'out_px')
REAL_SEED = 1_000_003           # Seed offset of the real scenes drawn for demo networks.

#----------------------------------------------------------------------------
# Methods.

@dataclasses.dataclass
class Method:
    """One edit method on one network.

    kind:      'resample' | 'noise' | 'direction'.
    strengths: the sweep (units of the kind: see STRENGTHS).
    direction: for 'direction', [w_dim] or [num_ws, w_dim] normalised (see unit_direction); rows: ws row mask or None.
    """
    key: str
    label: str
    network: str
    kind: str
    strengths: tuple
    family: str
    direction: torch.Tensor = None
    rows: torch.Tensor = None
    info: dict = dataclasses.field(default_factory=dict)


def unit_direction(u, rows=None):
    """u scaled to a unit edit per row: W [w_dim] to norm 1; W+ [num_ws, w_dim] to RMS row norm 1 over used rows."""
    if u.ndim == 1:
        return u / u.norm().clamp(min=1e-12)
    used = (u.norm(dim=1) > 0) if rows is None else rows.bool()
    rms = u[used].norm(dim=1).square().mean().sqrt() if used.any() else u.new_tensor(1.0)
    return u / rms.clamp(min=1e-12)


def edit_batch(method, strength, ws, ws_new, noise, axes, distance, signs):
    """The edited codes of one batch for one method and strength.

    Args:
        ws, ws_new: [N, num_ws, w_dim] originals and fresh codes; noise: [N, w_dim] standard normal.
        axes:       [w_dim] 0/1 mask of the link's axes; distance: D of the network; signs: [N] of +-1.
    Returns:
        [N, num_ws, w_dim].
    """
    if method.kind == 'resample':
        return ws + (strength * (ws_new[:, 0] - ws[:, 0]) * axes)[:, None]
    if method.kind == 'noise':
        return ws + (strength * noise * axes)[:, None]
    if method.kind == 'direction':
        return lelsd.edit_ws(ws, method.direction.to(ws.device), strength * distance * signs.to(ws), method.rows)
    raise ValueError(f'unknown method kind {method.kind!r}')

#----------------------------------------------------------------------------
# Statistics.

def change_stats(x, x_edit, mask):
    """Per-sample squared change inside / outside the region in both normalisations.

    Args:
        x, x_edit: [N, C, H, W]; mask: [1 or N, H, W] in [0, 1].
    Returns:
        {'in_all', 'out_all', 'in_px', 'out_px'}: each [N] (float64, CPU).
    """
    N, C, H, W = x.shape
    sq = (x_edit.float() - x.float()).square().sum(dim=1)                  # [N, H, W]
    m = mask.float().expand(N, -1, -1)
    inside, outside = (m * sq).sum(dim=[1, 2]), ((1 - m) * sq).sum(dim=[1, 2])
    area_in, area_out = m.sum(dim=[1, 2]).clamp(min=1e-8), (1 - m).sum(dim=[1, 2]).clamp(min=1e-8)
    out = {'in_all': inside / (C * H * W), 'out_all': outside / (C * H * W),
           'in_px': inside / (C * area_in), 'out_px': outside / (C * area_out)}
    return {k: v.double().cpu() for k, v in out.items()}


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

#----------------------------------------------------------------------------
# Networks and roles.

def network_role(net, link):
    """'linked' when the network was trained with this link (demo checkpoint flag, its stored spec, or LinkLoss with
    the link in training_options.json), else 'control'."""
    if net.info.get('linked') is True:
        return 'linked'
    if net.info.get('linked') is False:
        return 'control'
    candidates = [net.checkpoint_spec]
    try:
        options = read_training_options(net)
    except Exception:
        options = None
    if options and 'LinkLoss' in str((options.get('loss_kwargs') or {}).get('class_name', '')):
        try:
            spec, _ = resolve_spec(net)
            candidates.append(spec.to_dict())
        except Exception:
            pass
    for spec in candidates:
        if isinstance(spec, dict):
            for l in spec.get('links', []):
                if l.get('name') == link.name and _axes_list(l.get('axes')) == list(link.axes):
                    return 'linked'
    return 'control'


def _axes_list(form):
    if isinstance(form, str) and ':' in form:
        a, b = form.split(':')
        return list(range(int(a), int(b)))
    if isinstance(form, dict):
        return list(range(form['start'], form['stop']))
    return sorted(form) if isinstance(form, list) else None


def unique_labels(paths):
    """Short labels (file stems) for networks, made unique with a suffix."""
    labels, seen = [], {}
    for p in paths:
        stem = os.path.splitext(os.path.basename(p))[0] or 'network'
        seen[stem] = seen.get(stem, 0) + 1
        labels.append(stem if seen[stem] == 1 else f'{stem}-{seen[stem]}')
    return labels


def demo_real_images(net, count, seed):
    """Real scenes for a demo checkpoint (its settings name the scene, resolution and cells), or None."""
    settings = net.info.get('settings') if isinstance(net.info.get('settings'), dict) else None
    if net.kind != 'demo' or not settings or 'resolution' not in settings:
        return None
    if settings.get('scene', 'cells') == 'cells' and 'cells' not in settings:
        return None
    g = torch.Generator().manual_seed(seed + REAL_SEED)
    return scene_images(settings, count, generator=g)

#----------------------------------------------------------------------------
# Measuring.

def sample_inputs(gen, samples, seed, truncation):
    """ws, ws_new, noise [samples, w_dim], c, signs [samples] from seeded streams (sample i is batch independent)."""
    ws, c = lelsd.sample_latents(gen, samples, seed, stream=0, truncation=truncation)
    z_new = torch.randn([samples, gen.z_dim], generator=lelsd._stream(seed, 1))
    with torch.no_grad():
        ws_new = gen.map(z_new.to(gen.device), c, truncation)
    noise = torch.randn([samples, gen.w_dim], generator=lelsd._stream(seed, 2)).to(gen.device)
    signs = torch.tensor([1.0 if i % 2 == 0 else -1.0 for i in range(samples)])
    return ws, ws_new, noise, c, signs


@torch.no_grad()
def measure_network(gen, methods, link_spec, samples=DEFAULTS['samples'], batch=DEFAULTS['batch'],
                    seed=DEFAULTS['seed'], truncation=DEFAULTS['truncation'], quality_images=0, progress=None):
    """Every method of one network at every strength on the same samples.

    Args:
        gen:            GeneratorAdapter; methods: Method list (all on this network).
        link_spec:      one-link LinkSpec (axes and region).
        quality_images: keep the first this many edited images of every setting (for the quality distance).
        progress:       callable(n) after every render of a batch.
    Returns:
        {'distance': D, 'originals': [q, C, H, W] or None,
         'points': {method key: [{'strength', stat: mean, stat + '_std': std, 'images': [q, ...] or None}, ...]}}
    """
    link = link_spec.links[0]
    masker = lelsd.RegionMasker(link_spec, link.region.mode if not link.region.is_fixed else 'source')
    axes = torch.zeros(gen.w_dim, device=gen.device)
    axes[link.axes] = 1
    ws_all, ws_new_all, noise_all, c_all, signs_all = sample_inputs(gen, samples, seed, truncation)
    distance = float((ws_new_all[:, 0] - ws_all[:, 0]).norm(dim=1).mean())
    acc = {m.key: [{k: [] for k in STATS} for _ in m.strengths] for m in methods}
    images = {m.key: [[] for _ in m.strengths] for m in methods}
    originals = []
    render = lambda w, c: gen.synthesize(w, c)['image'].float()
    for i in range(0, samples, batch):
        sl = slice(i, min(i + batch, samples))
        ws, ws_new, noise, c, signs = ws_all[sl], ws_new_all[sl], noise_all[sl], c_all[sl], signs_all[sl]
        replay = RngReplay(ws.device)
        x = render(ws, c)
        if progress is not None:
            progress(1)
        keep = max(0, min(quality_images - i, x.shape[0]))
        if keep:
            originals.append(x[:keep].cpu())
        for m in methods:
            for j, s in enumerate(m.strengths):
                replay.rewind()
                x1 = render(edit_batch(m, s, ws, ws_new, noise, axes, distance, signs), c)
                sem = masker.segment(x, x1)
                mask = masker.at(x.shape[2], x.shape[3], x.device, sem)
                for k, v in change_stats(x, x1, mask).items():
                    acc[m.key][j][k].append(v)
                if keep:
                    images[m.key][j].append(x1[:keep].cpu())
                if progress is not None:
                    progress(1)
    points = {}
    for m in methods:
        points[m.key] = []
        for j, s in enumerate(m.strengths):
            entry = {'strength': float(s)}
            for k in STATS:
                v = torch.cat(acc[m.key][j][k])
                entry[k], entry[k + '_std'] = float(v.mean()), float(v.std(unbiased=False))
            entry['locality'] = entry['out_px'] / entry['in_px'] if entry['in_px'] > 0 else None
            entry['images'] = torch.cat(images[m.key][j]) if images[m.key][j] else None
            points[m.key].append(entry)
    return {'distance': distance, 'originals': torch.cat(originals) if originals else None, 'points': points}


def renders_per_network(methods, samples, batch):
    """Progress units measure_network reports."""
    return math.ceil(samples / batch) * (1 + sum(len(m.strengths) for m in methods))

#----------------------------------------------------------------------------
# Matching, quality, report.

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
             ', '.join(f'{k} ~{v}' for k, v in ANCHORS.items()) + f'; {ANCHOR_NOTE}). SWD: quality distance to '
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
# The plot (pillow).

PALETTE = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (255, 127, 14), (148, 103, 189), (140, 86, 75),
           (227, 119, 194), (23, 190, 207), (188, 189, 34), (127, 127, 127)]
MARKERS = ('circle', 'square', 'triangle', 'diamond')


def _marker(draw, shape, x, y, color, r=3.5):
    if shape == 'circle':
        draw.ellipse([x - r, y - r, x + r, y + r], fill=color)
    elif shape == 'square':
        draw.rectangle([x - r, y - r, x + r, y + r], fill=color)
    elif shape == 'triangle':
        draw.polygon([(x, y - r - 1), (x - r - 1, y + r), (x + r + 1, y + r)], fill=color)
    else:
        draw.polygon([(x, y - r - 1), (x + r + 1, y), (x, y + r + 1), (x - r - 1, y)], fill=color)


def _log_range(values):
    vals = [v for v in values if v is not None and v > 0 and math.isfinite(v)]
    if not vals:
        return -4.0, 0.0
    lo, hi = math.log10(min(vals)), math.log10(max(vals))
    pad = max(0.15 * (hi - lo), 0.2)
    return lo - pad, hi + pad


def _dashed(draw, p0, p1, fill, dash=6, gap=4, width=1):
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


def _tick_label(e):
    v = 10 ** e
    return f'1e{int(round(e))}' if abs(e - round(e)) < 1e-9 else f'{v:.2g}'


def plot_curves(report, size=(820, 540)):
    """out_px against in_px on log-log axes: one curve per method (its sweep, in strength order), the paper's
    per-pixel anchors as dashed lines out = r * in, the matched in-region change as a dotted vertical line.
    Returns a PIL image."""
    from PIL import Image, ImageDraw
    pts = [p for m in report['methods'] for p in m['points']]
    frame = _LogFrame(size, _log_range([p['in_px'] for p in pts]), _log_range([p['out_px'] for p in pts]))
    img = Image.new('RGB', size, (255, 255, 255))
    d = ImageDraw.Draw(img)
    _draw_frame(d, frame, f"linkgan compare: link {report['link']['name']} - out-of-region vs in-region change per "
                          'pixel (log-log)')
    for name, r in ANCHORS.items():
        _draw_ratio_line(d, frame, r, f'{name} {r}')
    t = report['match'].get('in_px')
    if t and frame.xlo <= math.log10(t) <= frame.xhi:
        _dashed(d, (frame.X(t), frame.top), (frame.X(t), frame.top + frame.ph), (90, 90, 90), dash=2, gap=3)
    legend_x = frame.left + frame.pw + 12
    legend_y = _draw_curves(d, frame, report['methods'], legend_x)
    d.text((legend_x, legend_y + 8), 'dashed: paper anchors out = r * in', fill=(110, 110, 110))
    d.text((legend_x, legend_y + 24), 'dotted: matched MSE_i', fill=(110, 110, 110))
    return img


class _LogFrame:
    """The plot area of a log-log plot of `size` (pixels) and its data -> pixel mapping.

    x_range, y_range: (lo, hi) in log10 units; margins: left, right, top, bottom (pixels).
    """

    def __init__(self, size, x_range, y_range, margins=(70, 250, 34, 52)):
        W, H = self.size = size
        self.left, right, self.top, bottom = margins
        self.pw, self.ph = W - self.left - right, H - self.top - bottom
        (self.xlo, self.xhi), (self.ylo, self.yhi) = x_range, y_range

    def X(self, v):
        return self.left + (math.log10(v) - self.xlo) / (self.xhi - self.xlo) * self.pw

    def Y(self, v):
        return self.top + self.ph - (math.log10(v) - self.ylo) / (self.yhi - self.ylo) * self.ph


def _draw_frame(d, f, title):
    """Title, grid lines and ticks at decades (and 2, 5 when the range is short), the box and the axis labels."""
    d.text((f.left, 8), title, fill=(0, 0, 0))
    for lo, hi, axis in ((f.xlo, f.xhi, 'x'), (f.ylo, f.yhi, 'y')):
        steps = [math.log10(m) for m in (1, 2, 5)] if hi - lo < 2.5 else [0.0]
        for e in range(math.floor(lo), math.ceil(hi) + 1):
            for s in steps:
                v = e + s
                if lo <= v <= hi:
                    if axis == 'x':
                        x = f.X(10 ** v)
                        d.line([(x, f.top), (x, f.top + f.ph)], fill=(232, 232, 232))
                        d.text((x - 12, f.top + f.ph + 4), _tick_label(v), fill=(60, 60, 60))
                    else:
                        y = f.Y(10 ** v)
                        d.line([(f.left, y), (f.left + f.pw, y)], fill=(232, 232, 232))
                        d.text((8, y - 6), _tick_label(v), fill=(60, 60, 60))
    d.rectangle([f.left, f.top, f.left + f.pw, f.top + f.ph], outline=(0, 0, 0))
    d.text((f.left + f.pw // 2 - 110, f.size[1] - 20), 'change inside the region, per region pixel (MSE_i /px)',
           fill=(0, 0, 0))
    d.text((4, f.top - 16), 'MSE_o /px', fill=(0, 0, 0))


def _draw_ratio_line(d, f, r, text):
    """The dashed line out = r * in (slope 1 in log space), clipped to the plot box, labelled at its upper end."""
    a, b = max(f.xlo, f.ylo - math.log10(r)), min(f.xhi, f.yhi - math.log10(r))
    if a >= b:
        return
    p0, p1 = (f.X(10 ** a), f.Y(r * 10 ** a)), (f.X(10 ** b), f.Y(r * 10 ** b))
    _dashed(d, p0, p1, (150, 150, 150))
    pos = (p1[0] - 6 * len(text) - 4, p1[1] + 3)
    d.rectangle(d.textbbox(pos, text), fill=(255, 255, 255))
    d.text(pos, text, fill=(120, 120, 120))


def _draw_curves(d, f, methods, legend_x):
    """One curve per method (colour: the method's label; marker: its network) and its legend entry, listed from the
    top of the plot down at legend_x; returns the y below the legend."""
    labels = list(dict.fromkeys(m['label'] for m in methods))
    nets = list(dict.fromkeys(m['network'] for m in methods))
    legend_y = f.top
    for m in methods:
        color = PALETTE[labels.index(m['label']) % len(PALETTE)]
        shape = MARKERS[nets.index(m['network']) % len(MARKERS)]
        xy = [(f.X(p['in_px']), f.Y(p['out_px'])) for p in m['points'] if p['in_px'] > 0 and p['out_px'] > 0]
        if len(xy) > 1:
            d.line(xy, fill=color, width=2)
        for x, y in xy:
            _marker(d, shape, x, y, color)
        d.line([(legend_x, legend_y + 6), (legend_x + 18, legend_y + 6)], fill=color, width=2)
        _marker(d, shape, legend_x + 9, legend_y + 6, color)
        d.text((legend_x + 24, legend_y), f"{m['label']} [{m['network']}]"[:36], fill=(0, 0, 0))
        legend_y += 16
    return legend_y

#----------------------------------------------------------------------------
# The whole comparison.

def build_methods(label, role, gen, link, directions=(), within=()):
    """The methods of one network (see the module table). directions / within: LelsdResult lists."""
    methods = []
    if role == 'linked':
        methods.append(Method(f'{label}/linkgan-resample', 'LinkGAN resample', label, 'resample', STRENGTHS['resample'], 'linkgan-resample'))
        methods.append(Method(f'{label}/linkgan-noise', 'LinkGAN noise', label, 'noise', STRENGTHS['noise'], 'linkgan-noise'))
    else:
        methods.append(Method(f'{label}/control-resample', 'same axes resampled', label, 'resample', STRENGTHS['resample'], 'control-resample'))
    for family, title, results in (('lelsd', 'LELSD', directions), ('lelsd-within', 'LELSD within link', within)):
        n = 0
        for res in results:
            for k in range(res.num_directions):
                n += 1
                u = res.direction(k, gen.device)
                rows = res.row_mask(gen.device) if res.rows is not None else None
                suffix = f' #{n}' if sum(r.num_directions for r in results) > 1 else ''
                methods.append(Method(f'{label}/{family}-{n}', f'{title}{suffix}', label, 'direction',
                                      STRENGTHS['direction'], family, unit_direction(u, rows), rows,
                                      {'space': res.space, 'score': res.scores[k] if k < len(res.scores) else None}))
    g = torch.Generator().manual_seed(12345)
    r = torch.randn([gen.w_dim], generator=g).to(gen.device)
    methods.append(Method(f'{label}/random', 'random direction', label, 'direction', STRENGTHS['direction'], 'random',
                          unit_direction(r)))
    return methods


def run_compare(networks, link_spec, directions=None, samples=DEFAULTS['samples'], batch=DEFAULTS['batch'],
                seed=DEFAULTS['seed'], truncation=DEFAULTS['truncation'], lelsd_steps=DEFAULTS['lelsd_steps'],
                num_directions=DEFAULTS['num_directions'], within_link=False, real=None,
                quality_images=DEFAULTS['quality_images'], match=None, outdir=None, echo=print, bar_factory=None):
    """Runs the comparison.

    Args:
        networks:   list of (label, LoadedNetwork, GeneratorAdapter).
        link_spec:  one-link LinkSpec (axes and region of the compared link).
        directions: {label: [LelsdResult]} given directions (found on the fly for networks without any).
        within_link: also find (or take from `directions`, those with axes) directions inside the link's axes on
                    linked networks.
        real:       {label: real images [n, 3, R, R]} for the quality distance (networks without: no quality).
        match:      in-region change (per pixel) to match at; default see match_target.
        outdir:     where found directions are saved (lelsd-<label>.npz), or None.
        bar_factory: callable(length, label) -> context manager with .update(n) (a progress bar), or None.
    Returns:
        the report dict (JSON-able).
    """
    directions = {k: list(v) for k, v in (directions or {}).items()}
    real = real or {}
    link = link_spec.links[0]
    start = time.perf_counter()
    search = dict(steps=lelsd_steps, num_directions=num_directions, seed=seed, within_link=within_link, outdir=outdir)
    all_methods, results, net_info, originals_swd = [], {}, {}, {}
    for label, net, gen in networks:
        role = network_role(net, link)
        plain, within = _directions_of(label, net, gen, role, link_spec, directions.get(label, []), search, echo,
                                       bar_factory)
        methods = build_methods(label, role, gen, link, plain, within)
        q = min(quality_images, samples) if label in real else 0
        with _bar(bar_factory, renders_per_network(methods, samples, batch), f'{label}: {len(methods)} methods') as bar:
            measured = measure_network(gen, methods, link_spec, samples, batch, seed, truncation, q, bar.update)
        if q:
            originals_swd[label] = _add_quality(measured, methods, real[label][:q].to(torch.float32), seed)
        for pts in measured['points'].values():
            for p in pts:
                p.pop('images', None)
                p.setdefault('swd', None)
        results.update(measured['points'])
        all_methods += methods
        net_info[label] = {'path': net.path, 'kind': net.kind, 'flavour': net.flavour, 'role': role,
                           'hash': lelsd.network_hash(gen.G), 'distance': measured['distance'],
                           'quality_images': q, 'lelsd_scores': {m.key: m.info.get('score') for m in methods if m.info}}
    target = match_target(results, all_methods, match)
    report = {
        'link': {'name': link.name, 'axes': link.to_dict()['axes'], 'region': link.region.to_dict()},
        'settings': {'samples': samples, 'batch': batch, 'seed': seed, 'truncation': truncation,
                     'lelsd_steps': lelsd_steps, 'num_directions': num_directions, 'within_link': within_link,
                     'strengths': {k: list(v) for k, v in STRENGTHS.items()}, 'quality_images': quality_images},
        'anchors': dict(ANCHORS),
        'networks': net_info,
        'match': target,
        'methods': [{'key': m.key, 'label': m.label, 'network': m.network, 'family': m.family, 'kind': m.kind,
                     'info': m.info, 'points': results[m.key], 'matched': matched(results[m.key], target)}
                    for m in all_methods],
        'originals_swd': originals_swd,
    }
    report['seconds'] = time.perf_counter() - start
    return report


def _directions_of(label, net, gen, role, link_spec, given, search, echo, bar_factory):
    """The LELSD directions of one network: (plain, within), the `given` ones without and with axes, plus those found
    here where a kind is missing (within-link only for linked networks with search['within_link']), saved as
    lelsd-<label>[-within].npz in search['outdir'] when set.

    search: {'steps', 'num_directions', 'seed', 'within_link', 'outdir'} (run_compare's settings).
    """
    plain = [d for d in given if d.axes is None]
    within = [d for d in given if d.axes is not None]
    jobs = []
    if not plain:
        jobs.append(('lelsd', None))
    if search['within_link'] and role == 'linked' and not within:
        jobs.append(('lelsd-within', list(link_spec.links[0].axes)))
    steps, count = search['steps'], search['num_directions']
    for family, axes in jobs:
        with _bar(bar_factory, steps * count, f'{label}: {family} ({count} x {steps} steps)') as bar:
            res = lelsd.find_directions(gen, link_spec, num_directions=count, steps=steps, axes=axes,
                                        seed=search['seed'], progress=bar.update)
        res.network_path = net.path
        (plain if axes is None else within).append(res)
        if search['outdir']:
            name = f'lelsd-{label}' + ('-within' if axes is not None else '') + '.npz'
            lelsd.save_directions(os.path.join(search['outdir'], name), res)
        echo(f'{label}: {family} found in {res.seconds:.1f} s, held-out localization score(s) '
             + ', '.join(f'{s:.3f}' for s in res.scores))
    return plain, within


def _add_quality(measured, methods, ref, seed):
    """Sets 'swd' (sliced Wasserstein distance to the real images `ref`) on every point of measure_network's result
    from its kept images; returns that of the unedited originals."""
    originals = sliced_wasserstein(measured['originals'], ref, seed=seed)['mean']
    for m in methods:
        for p in measured['points'][m.key]:
            p['swd'] = sliced_wasserstein(p['images'], ref, seed=seed)['mean']
    return originals


class _NullBar:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, n):
        pass


def _bar(factory, length, label):
    return factory(length, label) if factory is not None else _NullBar()


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
# CLI.

def _load_networks(paths, upstream, device):
    dev = device_for_cli(device)
    out = []
    for path, label in zip(paths, unique_labels(paths)):
        net, gen = network_for_cli(path, upstream, dev, param_hint='--network')
        out.append((label, net, gen))
    return out, dev


def _resolve_link_spec(networks, spec, link_name, region):
    """The one-link spec compared: --spec (else the first network's own spec), link --link (else the first),
    region replaced by --region when given."""
    w_dim = networks[0][2].w_dim
    if spec is not None:
        with option_errors('--spec', SpecError):
            full = load_spec(spec, w_dim=w_dim)
    else:
        full = None
        for _, net, _ in networks:
            try:
                full, _ = resolve_spec(net, w_dim=w_dim)
                break
            except Exception:
                continue
        if full is None:
            raise click.UsageError('no link spec: none of the networks stores one; pass --spec FILE')
    name = link_name or full.names[0]
    with option_errors('--link'):
        one = lelsd.single_link(full, name)
    if region is not None:
        with option_errors('--region', SpecError):
            reg = lelsd.region_spec(region, name=name, w_dim=w_dim).links[0].region
        l = one.links[0]
        one = load_spec({'links': [{'name': l.name, 'axes': l.to_dict()['axes'], 'region': reg.to_dict()}]}, w_dim=w_dim)
    for label, _, gen in networks:
        if gen.w_dim != w_dim:
            raise click.BadParameter(f'{label}: w_dim {gen.w_dim} differs from the first network\'s {w_dim}', param_hint='--network')
    return one


def _match_directions(files, networks, link_spec):
    by_hash = {lelsd.network_hash(gen.G): label for label, _, gen in networks}
    out = {}
    for path in files:
        with option_errors('--directions'):
            res = lelsd.load_directions(path)
        label = by_hash.get(res.network_hash)
        if label is None:
            raise click.BadParameter(f'{path}: found on network {res.network_hash} ({res.network_path}), which is not '
                                     'among --network', param_hint='--directions')
        if res.region != link_spec.links[0].region.to_dict():
            raise click.BadParameter(f'{path}: directions of region {json.dumps(res.region)}, but the compared region is '
                                     f'{json.dumps(link_spec.links[0].region.to_dict())}', param_hint='--directions')
        out.setdefault(label, []).append(res)
    return out


@click.command('compare', context_settings={'help_option_names': ['-h', '--help']})
@network_option('--network', 'networks', multiple=True,
                help='A network (repeatable): linked, control, baseline; upstream snapshot or demo checkpoint.')
@upstream_option()
@spec_option(help='Link spec (file or inline JSON). Default: the first network\'s own.')
@click.option('--link', 'link_name', type=str, default=None, help='The link (axes and region) compared. Default: the first.')
@click.option('--region', type=str, default=None, help='Override the link\'s region: JSON of any region kind.')
@click.option('--out', 'outdir', required=True, type=click.Path(file_okay=False), help='Output directory.')
@click.option('--directions', 'direction_files', multiple=True, type=click.Path(exists=True, dir_okay=False),
              help='`linkgan lelsd` files (repeatable), matched to networks by hash. Default: found on the fly.')
@click.option('--within-link', is_flag=True, help='Also LELSD directions restricted to the link\'s axes (linked networks).')
@click.option('--samples', type=click.IntRange(min=2), default=DEFAULTS['samples'], show_default=True)
@click.option('--batch', type=click.IntRange(min=1), default=DEFAULTS['batch'], show_default=True)
@click.option('--seed', type=click.IntRange(min=0), default=DEFAULTS['seed'], show_default=True)
@truncation_option(default=DEFAULTS['truncation'])
@click.option('--lelsd-steps', type=click.IntRange(min=1), default=DEFAULTS['lelsd_steps'], show_default=True,
              help='Steps per LELSD direction found on the fly.')
@click.option('--num-directions', type=click.IntRange(min=1), default=DEFAULTS['num_directions'], show_default=True)
@click.option('--data', type=click.Path(exists=True), default=None,
              help='Real images (folder or zip) for the quality distance. Demo networks use real scenes by default.')
@click.option('--quality-images', type=click.IntRange(min=0), default=DEFAULTS['quality_images'], show_default=True,
              help='Images per setting for the quality distance (0: none).')
@click.option('--match', type=click.FloatRange(min=0.0, min_open=True), default=None,
              help='In-region change per pixel to match at. Default: LinkGAN resample at t = 1.')
@device_option()
def compare_command(networks, upstream, spec, link_name, region, outdir, direction_files, within_link, samples, batch,
                    seed, truncation, lelsd_steps, num_directions, data, quality_images, match, device):
    """LinkGAN against LELSD (and a random direction) on one region: in-region and out-of-region change, Table 2 layout."""
    loaded, dev = _load_networks(networks, upstream, device)
    link_spec = _resolve_link_spec(loaded, spec, link_name, region)
    given = _match_directions(direction_files, loaded, link_spec)
    real = {}
    if quality_images:
        for label, net, gen in loaded:
            count = min(quality_images, samples)
            if data:
                with option_errors('--data', DatasetError):
                    real[label] = load_images(data, count, gen.img_resolution, seed=seed)
            else:
                imgs = demo_real_images(net, count, seed)
                if imgs is not None:
                    real[label] = imgs
    for label, net, _ in loaded:
        click.echo(f'{label}: {net.path} ({net.flavour}, {network_role(net, link_spec.links[0])})'
                   + ('' if label in real else '; no real images: no quality distance'), err=True)
    os.makedirs(outdir, exist_ok=True)
    report = run_compare(loaded, link_spec, given, samples, batch, seed, truncation, lelsd_steps, num_directions,
                         within_link, real, quality_images, match, outdir, echo=lambda s: click.echo(s, err=True),
                         bar_factory=progress_bar)
    paths = write_outputs(report, outdir)
    click.echo(format_markdown(report))
    click.echo(f'wrote {paths["json"]}, {paths["md"]}, {paths["png"]} ({report["seconds"]:.1f} s)')

#----------------------------------------------------------------------------
