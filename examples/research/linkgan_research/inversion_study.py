"""Does linkage survive inversion? Link resampling measured on projected real images next to sampled codes.

The paper claims (Sec. 4.3, Fig. 7) that a LinkGAN generator edits real images locally once they are inverted.
Inversion lands anywhere in W (or W+), not only where the mapping network sends z, so linkage learnt on mapped codes
need not hold there. `inversion_locality` measures, per link, the Table 2 quantities of metrics.py (edit_i, edit_o,
keep_o and locality = mean edit_o_region / mean edit_i_region) on given codes (projected images, W or W+) and,
paired with them, on sampled codes: sample k of both sets is resampled with the same fresh latent z_new[k].

Resampling on codes whose rows differ (W+). A sampled or W code has one w repeated over the num_ws rows, and
resampling link i replaces its axes by those of w' = mapping(z_new) (a W code: w'_r = w'_0 for every row r):

    linked_resampled:       w_r[axes_i]  <- w'_0[axes_i]      for every row r
    complement_resampled:   w_r[~axes_i] <- w'_0[~axes_i]     for every row r

With equal rows one offset d = (w'_0 - w_0) * m_i (m_i: the link's axis mask) added to every row does this. With
W+ rows the offset must be taken per row,

    d_r = (w'_0 - w_r) * m_i        (complement: (w'_0 - w_r) * (1 - m_i)),      r = 0 .. num_ws - 1,

which metrics.resample_offsets computes (for every code, sampled or projected), rendered with
render.render_variants's per-row offsets [batch, num_ws, w_dim]. Adding
row 0's offset to every row instead would leave the linked axes of rows r > 0 at w_r + w'_0 - w_0, not at w'_0.
After a linked resampling every row carries w'_0 on the link's axes and keeps its own values on the others, so a
perfectly linked generator changes the region only, whatever the rows. On W codes both give the same offsets.

    result = inversion_locality(gen, spec, None, codes_ws)   # codes_ws [N, num_ws, w_dim]
    result['codes']['image']['top_left']['locality'], result['samples']['image']['top_left']['locality']

Sampled codes default to mapping metrics.sample_inputs(gen, names, N, seed)'s z, whose resampling latents are the
ones used here too: the 'samples' half then equals metrics.evaluate_links(samples=N, seed=seed)'s edit_i, edit_o,
keep_o and locality.

`linkgan-research project-study --demo DIR --out DIR` runs the study on a `linkgan demo` output: held-out real scenes
(demo_eval.real_scenes: a seed the training stream never uses) projected into control.pt and linked.pt
(project.project_images) in each space; reconstruction PSNR; the numbers above for every link of the
checkpoints' eval_spec. At the defaults (--images 64 = the demo's samples, the demo's seed) the sampled rows are
the demo report's edit_i, edit_o, keep_o and locality. It writes study.json, study.md and study.png (real scenes,
reconstructions and one linked resampling per link with its |change| heatmap and the region outlined, for both
models and every space).
"""

import json
import math
import os
import time
from contextlib import contextmanager

import click
import torch

from linkgan_plugin.analysis.inputs import device_from_option
from linkgan_plugin.analysis.generator import GeneratorAdapter
from linkgan_plugin.analysis.metrics import (
    METRIC_TABLE, resample_offsets, sample_inputs, summarise_values, variant_metrics)
from linkgan_plugin.analysis.network_loading import load_network, NetworkLoadError
from linkgan_plugin.analysis.pictures import heatmap, leakage_grid, outline, stack_horizontal, to_uint8
from linkgan_plugin.checks import option_errors, OptionError, SpecError
from linkgan_plugin.cli.errors import Command
from linkgan_plugin.cli.options import device_option, progress_bar
from linkgan_plugin.demo.evaluation import real_scenes, REAL_SEED_OFFSET
from linkgan_plugin.editing.project import DEFAULTS as PROJECT_DEFAULTS, project_images, SPACES
from linkgan_plugin.regularizer import BoundSpec
from linkgan_plugin.render import render_variants
from linkgan_plugin.spec import load_spec

RESAMPLED = ('linked_resampled', 'complement_resampled')           # The variants of Table 2's protocol.
RESAMPLE_METRICS = tuple(m for m in METRIC_TABLE if m.variant in RESAMPLED)   # edit_i, edit_o, keep_o.
REPORTED = ('locality', 'edit_i', 'edit_o', 'keep_o')
MODELS = ('control', 'linked')
SPACE_NAMES = {'w': 'W', 'wplus': 'W+'}

# Defaults shared by the API and the CLI.
DEFAULTS = dict(images=64, steps=300, spaces=('w', 'wplus'), batch=16, show=4)

#----------------------------------------------------------------------------
# Offsets.

def row_variant_offsets(bound, ws, ws_new):
    """Per link, [linked_resampled, complement_resampled] offsets, each [N, num_ws, w_dim] (module docstring), in
    the order link 0: RESAMPLED, link 1: RESAMPLED, ..."""
    d_all = ws_new[:, :1] - ws                                              # [N, num_ws, w_dim]
    d_link = resample_offsets(ws, ws_new, bound)
    offsets = []
    for i in range(bound.num_links):
        offsets += [d_link[:, i], d_all - d_link[:, i]]
    return offsets

#----------------------------------------------------------------------------
# Measuring.

@torch.no_grad()
def resampling_metrics_batch(gen, bound, ws, ws_new, c=None, outputs=('image',)):
    """Per-sample edit_i, edit_o, keep_o (and '_region' twins) of one batch of codes, as metrics.link_metrics_batch
    computes them, with per-row resampling offsets.

    Args:
        gen:    GeneratorAdapter.
        bound:  BoundSpec of the links to measure.
        ws:     [N, num_ws, w_dim] codes; ws_new: [N, num_ws, w_dim] mapped resampling codes.
        c:      [N, c_dim] labels / cameras (default gen.default_c).
    Returns:
        {output: {metric: [N, links]}} for metric in edit_i, edit_o, keep_o and their '_region' twins.
    """
    c = gen.default_c(ws.shape[0]) if c is None else c
    offsets = row_variant_offsets(bound, ws, ws_new)
    return variant_metrics(gen, bound, ws, offsets, c, outputs, variants=RESAMPLED, table=RESAMPLE_METRICS)


def select_spec(spec, link_names):
    """The spec restricted to `link_names` (all when None or empty: LinkSpec.select); ValueError naming
    link_names otherwise."""
    try:
        return spec.select(link_names)
    except ValueError as e:
        raise ValueError(f'link_names: {e}') from None


def _check_codes(name, ws, gen, count=None):
    if not torch.is_tensor(ws) or ws.ndim != 3 or tuple(ws.shape[1:]) != (gen.num_ws, gen.w_dim):
        shape = list(ws.shape) if torch.is_tensor(ws) else type(ws).__name__
        raise ValueError(f'{name} must be [N, num_ws, w_dim] = [N, {gen.num_ws}, {gen.w_dim}], got {shape}')
    if ws.shape[0] < 1 or (count is not None and ws.shape[0] != count):
        raise ValueError(f'{name} must hold {count if count is not None else "at least 1"} code(s), got {ws.shape[0]}')


def inversion_locality(gen, spec, link_names, codes_ws, samples_ws=None, c=None, samples_c=None, seed=0,
                       batch=DEFAULTS['batch'], truncation_psi=1.0, outputs=('image',), progress=None):
    """Table 2 quantities of link resampling on given codes and, paired, on sampled codes (module docstring).

    Args:
        gen:        GeneratorAdapter (on the device to run on).
        spec:       LinkSpec; link_names: the links to measure (None: all).
        codes_ws:   [N, num_ws, w_dim] codes to measure (projected images; W codes repeat one w over the rows).
        samples_ws: [N, num_ws, w_dim] sampled codes to pair them with (default: gen.map of metrics.sample_inputs'
                    z for (N, seed), so this half equals metrics.evaluate_links(samples=N, seed=seed)).
        c:          [N, c_dim] labels / cameras of codes_ws (default gen.default_c); samples_c: of samples_ws
                    (default metrics.sample_inputs' c). The resampling latents are mapped with each set's labels.
        seed:       the resampling latents are metrics.sample_inputs(gen, names, N, seed)'s z_new: sample k of
                    both sets is resampled with z_new[k].
        batch:      samples rendered together (the numbers do not depend on it).
        progress:   optional callable(n) after every batch of either set (2N in all).
    Returns:
        {'codes': {output: {link: entry}}, 'samples': {output: {link: entry}}, 'values': {'codes'|'samples':
         {output: {metric: [N, links]}}} (per sample, CPU), 'links': [names], 'count': N, 'seed': seed,
         'seconds': float}, entry = {metric: mean, metric_std: std, ..., 'locality': float} for edit_i, edit_o,
        keep_o and their '_region' twins (metrics.summarise_values).
    """
    spec = select_spec(spec, link_names)
    bound = BoundSpec(spec, gen.w_dim)
    _check_codes('codes_ws', codes_ws, gen)
    N = codes_ws.shape[0]
    if samples_ws is not None:
        _check_codes('samples_ws', samples_ws, gen, N)
    for name, labels in (('c', c), ('samples_c', samples_c)):
        if labels is not None and (labels.ndim != 2 or tuple(labels.shape) != (N, gen.c_dim)):
            raise ValueError(f'{name} must be [N, c_dim] = [{N}, {gen.c_dim}], got {list(labels.shape)}')
    dev = gen.device
    z, z_new, _, c_sampled = sample_inputs(gen, spec.names, N, seed)
    sets = {'codes': (codes_ws, gen.default_c(N).cpu() if c is None else c),
            'samples': (samples_ws, c_sampled if samples_c is None else samples_c)}
    start = time.perf_counter()
    values = {}
    for kind, (ws_all, c_all) in sets.items():
        parts = []
        for i in range(0, N, batch):
            sl = slice(i, min(i + batch, N))
            cb = c_all[sl].to(dev)
            with torch.no_grad():
                ws = gen.map(z[sl].to(dev), cb, truncation_psi) if ws_all is None else ws_all[sl].to(dev)
                ws_new = gen.map(z_new[sl].to(dev), cb, truncation_psi)
            part = resampling_metrics_batch(gen, bound, ws.float(), ws_new.float(), cb, outputs)
            parts.append({o: {k: v.cpu() for k, v in d.items()} for o, d in part.items()})
            if progress is not None:
                progress(sl.stop - sl.start)
        values[kind] = {o: {k: torch.cat([p[o][k] for p in parts]) for k in parts[0][o]} for o in parts[0]}
    summary = {kind: {o: {name: summarise_values({k: v[:, j] for k, v in d.items()})
                          for j, name in enumerate(spec.names)} for o, d in vals.items()}
               for kind, vals in values.items()}
    return {**summary, 'values': values, 'links': list(spec.names), 'count': N, 'seed': seed,
            'seconds': time.perf_counter() - start}

#----------------------------------------------------------------------------
# The demo study.

@contextmanager
def _no_bar(length, label):
    class Bar:
        def update(self, n):
            pass
    yield Bar()


def load_demo_model(path):
    """A demo checkpoint's generator, eval spec and settings: (GeneratorAdapter on the CPU, LinkSpec, settings dict).
    ValueError naming the file when it is not a `linkgan demo` checkpoint with 'eval_spec' and 'settings'."""
    try:
        net = load_network(path)
    except NetworkLoadError as e:
        raise ValueError(str(e)) from None
    data = torch.load(net.path, map_location='cpu', weights_only=False)
    missing = [k for k in ('eval_spec', 'settings') if not isinstance(data, dict) or not isinstance(data.get(k), dict)]
    if missing:
        raise ValueError(f'{net.path}: not a `linkgan demo` checkpoint (no {" or ".join(repr(k) for k in missing)} '
                         'entry)')
    gen = GeneratorAdapter(net.G)
    try:
        spec = load_spec(data['eval_spec'], w_dim=gen.w_dim)
    except SpecError as e:
        raise ValueError(f'{net.path}: eval_spec: {e}') from None
    return gen, spec, dict(data['settings'])


SCENE_KEYS = ('resolution', 'cells', 'seed', 'scene')


def load_demo(demo_dir):
    """{'control'|'linked': (gen, spec, settings)} from a `linkgan demo` output directory; ValueError naming the
    directory or file when a checkpoint is missing, or when the two disagree on the links or on the scenes."""
    models = {}
    for role in MODELS:
        path = os.path.join(demo_dir, f'{role}.pt')
        if not os.path.isfile(path):
            raise ValueError(f'{demo_dir}: no {role}.pt (run `linkgan demo --outdir {demo_dir}` first)')
        models[role] = load_demo_model(path)
    (_, spec_c, set_c), (_, spec_l, set_l) = models['control'], models['linked']
    if spec_c.to_dict()['links'] != spec_l.to_dict()['links']:
        raise ValueError(f'{demo_dir}: control.pt and linked.pt were evaluated with different links '
                         f'({spec_c.names} vs {spec_l.names})')
    differ = [k for k in SCENE_KEYS if set_c.get(k) != set_l.get(k)]
    if differ:
        raise ValueError(f'{demo_dir}: control.pt and linked.pt have different settings {differ}')
    return models


def edit_renders(gen, bound, ws, z_new, c=None):
    """Originals and, per link, the linked resampling (per-row offsets) of a few codes, for pictures.

    Args:
        ws: [n, num_ws, w_dim]; z_new: [n, z_dim] resampling latents; c: [n, c_dim] (default gen.default_c).
    Returns:
        (x [n, C, H, W], [per link [n, C, H, W]]) 'image' outputs on the CPU, float32.
    """
    c = gen.default_c(ws.shape[0]) if c is None else c.to(gen.device)
    with torch.no_grad():
        ws_new = gen.map(z_new.to(gen.device), c)
        offsets = row_variant_offsets(bound, ws.to(gen.device).float(), ws_new.float())[0::len(RESAMPLED)]
        x, variants = render_variants(lambda w: gen.synthesize(w, c)['image'].float().cpu(), ws.to(gen.device).float(),
                                      offsets)
    return x, variants


def run_study(demo_dir, images=DEFAULTS['images'], steps=DEFAULTS['steps'], spaces=DEFAULTS['spaces'], seed=None,
              starts=None, batch=None, show=DEFAULTS['show'], device='cpu', bar=_no_bar, models=None):
    """The study on a `linkgan demo` output (module docstring). Callable from Python; the CLI wraps it.

    Args:
        demo_dir: directory with control.pt and linked.pt.
        images:   held-out real scenes to project; steps: projection steps; spaces: subset of ('w', 'wplus').
        seed:     projection and resampling seed (default: the demo's settings['seed']).
        starts, batch: project_images's candidate starts and batch (default its own).
        show:     scenes in the picture.
        device:   torch device to run on.
        bar:      context-manager factory (length, label) -> object with update(n) (click.progressbar-like).
        models:   load_demo(demo_dir)'s result when already loaded.
    Returns:
        (report dict (JSON-ready), picture PIL.Image).
    """
    bad = [s for s in spaces if s not in SPACES]
    if bad or not spaces:
        raise ValueError(f'spaces: expected some of {", ".join(SPACES)}, got {list(spaces)}')
    start = time.perf_counter()
    models = load_demo(demo_dir) if models is None else models
    settings = models['linked'][2]
    seed = settings.get('seed', 0) if seed is None else seed
    starts = PROJECT_DEFAULTS['starts'] if starts is None else starts
    batch = PROJECT_DEFAULTS['batch'] if batch is None else batch
    targets = real_scenes(settings, images)
    show = min(show, images)
    report = {'demo': os.path.abspath(demo_dir), 'images': images, 'steps': steps, 'spaces': list(spaces),
              'seed': seed, 'starts': starts, 'real_seed': settings.get('seed', 0) + REAL_SEED_OFFSET,
              'settings': settings, 'links': models['linked'][1].names, 'models': {}}
    shown = {}
    for role in MODELS:
        gen, spec, _ = models[role]
        gen.G.to(device)
        bound = BoundSpec(spec, gen.w_dim)
        _, z_new, _, _ = sample_inputs(gen, spec.names, images, seed)
        entry = {'sampled': None, 'spaces': {}}
        for space in spaces:
            with bar(images * steps, f'{role}: project ({SPACE_NAMES[space]})') as b:
                projected = project_images(gen, targets, space=space, steps=steps, seed=seed, starts=starts,
                                           batch=batch, progress=b.update)
            with bar(2 * images, f'{role}: resample links ({SPACE_NAMES[space]})') as b:
                measured = inversion_locality(gen, spec, None, projected['ws'], c=projected['c'], seed=seed,
                                              progress=b.update)
            psnr = projected['psnr']
            entry['spaces'][space] = {'psnr': {'mean': float(psnr.mean()), 'min': float(psnr.min()),
                                               'per_image': [float(p) for p in psnr]},
                                      'projected': measured['codes']['image'],
                                      'seconds': projected['seconds'] + measured['seconds']}
            entry['sampled'] = measured['samples']['image']      # The same for every space (same z and z_new).
            x, edits = edit_renders(gen, bound, projected['ws'][:show], z_new[:show], projected['c'][:show])
            shown[(role, space)] = {'recon': x, 'edits': edits, 'masks': bound.masks.for_images(x)}
        report['models'][role] = entry
    report['ratios'] = _ratios(report)
    report['seconds'] = time.perf_counter() - start
    return report, study_picture(targets[:show], shown, spaces, report['links'])


def _ratios(report):
    """{link: {'sampled' | space: linked / control locality}}."""
    out = {}
    for link in report['links']:
        ctrl, lnk = report['models']['control'], report['models']['linked']
        row = {'sampled': _ratio(lnk['sampled'][link]['locality'], ctrl['sampled'][link]['locality'])}
        for space in report['spaces']:
            row[space] = _ratio(lnk['spaces'][space]['projected'][link]['locality'],
                                ctrl['spaces'][space]['projected'][link]['locality'])
        out[link] = row
    return out


def _ratio(a, b):
    return a / b if b > 0 and math.isfinite(a) and math.isfinite(b) else None

#----------------------------------------------------------------------------
# Outputs.

def study_picture(targets, shown, spaces, links, scale=3):
    """One grid per space, side by side: real scenes; per model its reconstructions and, per link, a linked resampling
    and its |change| heatmap (mean over channels; one scale per link across both models) with the region outlined.

    Args:
        targets: [n, C, H, W] real scenes; shown: {(model, space): {'recon': [n, C, H, W], 'edits': [per link
                 [n, C, H, W]], 'masks': [1 or n, links, H, W]}}; links: names.
    Returns:
        PIL.Image.
    """
    grids = []
    for space in spaces:
        rows, labels = [[to_uint8(t) for t in targets]], ['real']
        diffs = {(role, j): (shown[(role, space)]['edits'][j] - shown[(role, space)]['recon']).abs().mean(dim=1)
                 for role in MODELS for j in range(len(links))}
        for role in MODELS:
            s = shown[(role, space)]
            rows.append([to_uint8(x) for x in s['recon']])
            labels.append(f'{role} recon')
            for j, link in enumerate(links):
                vmax = max(float(diffs[(r, j)].max()) for r in MODELS)
                masks = s['masks'][:, j].expand(s['recon'].shape[0], -1, -1)
                rows.append([outline(to_uint8(e), m) for e, m in zip(s['edits'][j], masks)])
                labels.append(f'{role} {link}')
                rows.append([outline(heatmap(d, vmax), m, (0, 255, 255)) for d, m in zip(diffs[(role, j)], masks)])
                labels.append('|change|')
        grids.append(leakage_grid(rows, labels, title=f'{SPACE_NAMES[space]} codes: projections, linked axes resampled',
                                  scale=scale))
    return stack_horizontal(grids, pad=12)


def _fmt(v):
    return '-' if v is None else f'{v:.3e}' if abs(v) < 1e-2 or abs(v) >= 1e3 else f'{v:.3f}'


def format_markdown(report):
    """study.md: reconstruction, link resampling on projected vs sampled codes, and linked / control ratios."""
    lines = ['# Does linkage survive inversion?', '',
             f'Demo: `{report["demo"]}`. {report["images"]} held-out real scenes (seed {report["real_seed"]}, never '
             f'used by training) projected into control.pt and linked.pt ({report["steps"]} steps, '
             f'{report["starts"]} candidate starts, seed {report["seed"]}). Each link\'s axes are resampled '
             '(paper Table 2 protocol) on the projected codes and on as many sampled codes, sample k of both with the '
             'same resampling latent; W+ codes get per-row offsets (every row\'s linked axes set to the new w\'s). '
             'edit_i / edit_o: change inside / outside the region (masked sum / all values); keep_o: change outside '
             'when the other axes are resampled; locality = edit_o / edit_i per region value (lower is better).', '',
             '## Reconstruction', '', '| model | space | PSNR mean (dB) | PSNR min (dB) |', '|---|---|---|---|']
    for role in MODELS:
        for space in report['spaces']:
            p = report['models'][role]['spaces'][space]['psnr']
            lines.append(f'| {role} | {SPACE_NAMES[space]} | {p["mean"]:.2f} | {p["min"]:.2f} |')
    lines += ['', '## Link resampling: projected vs sampled codes', '',
              '| link | model | codes | ' + ' | '.join(REPORTED) + ' |', '|---|---|---|' + '---|' * len(REPORTED)]
    for link in report['links']:
        for role in MODELS:
            m = report['models'][role]
            rows = [('sampled', m['sampled'][link])]
            rows += [(f'projected {SPACE_NAMES[s]}', m['spaces'][s]['projected'][link]) for s in report['spaces']]
            for name, e in rows:
                lines.append(f'| {link} | {role} | {name} | ' + ' | '.join(_fmt(e[k]) for k in REPORTED) + ' |')
    lines += ['', '## Locality, linked / control', '',
              'Below 1: the link term made edits more local. Linkage survives inversion when the ratio on projected '
              'codes is as far below 1 as on sampled codes.', '',
              '| link | sampled | ' + ' | '.join(f'projected {SPACE_NAMES[s]}' for s in report['spaces']) + ' |',
              '|---|---|' + '---|' * len(report['spaces'])]
    for link, r in report['ratios'].items():
        lines.append(f'| {link} | {_fmt(r["sampled"])} | ' + ' | '.join(_fmt(r[s]) for s in report['spaces']) + ' |')
    lines += ['', f'Total {report["seconds"]:.0f} s.', '']
    return '\n'.join(lines)


def _json_safe(value):
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_outputs(report, picture, out):
    """Writes study.json, study.md and study.png into `out`; returns their paths."""
    os.makedirs(out, exist_ok=True)
    paths = {k: os.path.join(out, f'study.{k}') for k in ('json', 'md', 'png')}
    with open(paths['json'], 'w', encoding='utf-8') as f:
        json.dump(_json_safe(report), f, indent=2)
    with open(paths['md'], 'w', encoding='utf-8') as f:
        f.write(format_markdown(report))
    picture.save(paths['png'])
    return paths

#----------------------------------------------------------------------------
# CLI.

def parse_spaces(text):
    """'w,wplus' -> ('w', 'wplus'); click.BadParameter naming --spaces otherwise."""
    spaces = tuple(dict.fromkeys(s.strip() for s in str(text).split(',') if s.strip()))
    bad = [s for s in spaces if s not in SPACES]
    if bad or not spaces:
        raise OptionError('--spaces', f'{text!r}: expected a comma-separated subset of {", ".join(SPACES)}')
    return spaces


@click.command('project-study', cls=Command)
@click.option('--demo', 'demo_dir', required=True, type=click.Path(exists=True, file_okay=False),
              help='A `linkgan demo` output directory (control.pt and linked.pt).')
@click.option('--images', type=click.IntRange(min=1), default=DEFAULTS['images'], show_default=True,
              help='Held-out real scenes to project.')
@click.option('--steps', type=click.IntRange(min=1), default=DEFAULTS['steps'], show_default=True,
              help='Projection steps per image.')
@click.option('--spaces', default=','.join(DEFAULTS['spaces']), show_default=True,
              help='Code spaces to project into: w, wplus or both.')
@click.option('--out', required=True, type=click.Path(file_okay=False),
              help='Directory for study.json, study.md and study.png.')
@click.option('--seed', type=click.IntRange(min=0), default=None,
              help='Projection and resampling seed. Default: the demo\'s.')
@click.option('--starts', type=click.IntRange(min=0), default=None,
              help='Candidate starts per image (project_images). Default: linkgan project\'s.')
@click.option('--batch', type=click.IntRange(min=1), default=None, help='Images projected together.')
@click.option('--show', type=click.IntRange(min=1), default=DEFAULTS['show'], show_default=True,
              help='Scenes in study.png.')
@device_option()
def project_study_command(demo_dir, images, steps, spaces, out, seed, starts, batch, show, device):
    """Does linkage survive inversion? Project held-out real scenes into the demo's control and linked networks and
    measure link resampling on the projected codes next to sampled codes."""
    spaces = parse_spaces(spaces)
    dev = device_from_option(device)
    with option_errors('--demo'):
        models = load_demo(demo_dir)
    report, picture = run_study(demo_dir, images=images, steps=steps, spaces=spaces, seed=seed, starts=starts,
                                batch=batch, show=show, device=dev, bar=progress_bar, models=models)
    paths = write_outputs(report, picture, out)
    click.echo(format_markdown(report))
    click.echo(f'wrote {paths["json"]}, {paths["md"]} and {paths["png"]} ({report["seconds"]:.0f} s)')

#----------------------------------------------------------------------------
