"""`linkgan eval`: measure the linkage of a trained network (method.md sec. 3), as JSON and a readable table.

For every link of the spec and every measured output (EG3D: image, image_raw, image_depth), over `samples`
fixed-seed latents (images in [-1, 1], 'const' noise), `linkgan_plugin.analysis.metrics.link_metrics_batch` gives, as mean
and std over the samples,
    Table 3 protocol:  mse_i  (inside the region, complement axes perturbed by alpha * N(0, I); lower is better)
                       mse_o  (outside the region, linked axes perturbed;                     lower is better)
    Table 2 protocol:  edit_i (inside the region, linked axes resampled from a fresh z;       higher is better)
                       edit_o (outside the region under the same resampling;                  lower is better)
each normalised by all values (C*H*W, the paper's convention) and, as `<metric>_region`, by the region's own
values. `--compare BASELINE.json` prints how many times less leakage this network has than the baseline.

Quality (`--data`, `data_quality`: analysis/realism.py's measure_quality and schema): `--quality-images` (N) samples against N real images of the data, each
measure beside its real-vs-real floor (what a perfect generator would score at N images):
    swd        sliced Wasserstein distance on Laplacian-pyramid patches (analysis/quality.py; x1e3, lower is better);
    coverage   precision and recall (analysis/coverage.py, k = 3; higher is better) in the fallback feature space
               for any images (RandomConvFeatures: a fixed-seed untrained conv net plus detail energy; its name is
               in 'features'). SWD alone cannot see collapse (a few real images repeated score a good SWD); recall
               can.
The real images are the first N of a seeded order of the data (load_images), exactly the set measured before floors
existed; the floors compare the next N of the same order against them, so they need 2 N images (with fewer, the
floors are None and 'floor_note' says why).

JSON layout (`--out`):
    {"network": {...}, "spec": {...}, "spec_origin": ..., "settings": {...},
     "results": {output: {link: {metric: mean, metric + "_std": std, ...}}},
     "samples_per_second": float, "seconds": float,
     "quality": {"data", "images", "swd": {"levels", "mean"}, "swd_floor": {"levels", "mean", "images"} | null,
                 "coverage": {"precision", "recall", "measure", "joint", "k", "real", "fake", "features",
                              "floor": {"precision", "recall"} | null}, "floor_note"} (with --data),
     "comparison": {"ratios", "missing", "mismatched_settings",
                    "quality": {"swd", "recall", "precision"} (both reports with --data)} (with --compare)}
`eval_report(net, gen, spec, ...)` returns that report in Python; the command (cli/eval.py) loads the network, prints
the report's table and writes it.
"""

import math
import os

import torch

from linkgan_plugin.analysis.coverage import RandomConvFeatures
from linkgan_plugin.analysis.datasets import DatasetError, generated_images, load_images
from linkgan_plugin.analysis.metrics import ANCHOR_NOTE, evaluate_links, LOCALITY_ANCHORS, METRICS
from linkgan_plugin.analysis.realism import measure_quality
from linkgan_plugin.checks import option_errors, OptionError

SCALE = 1e3                                 # The table prints values x1e-3, like the paper.

# Defaults shared by the API and the CLI.
DEFAULTS = dict(samples=1000, batch=32, seed=0, truncation=1.0, camera='frontal', device='auto', quality_images=1024)

#----------------------------------------------------------------------------
# Measuring.

def evaluate_network(gen, spec, outputs=('image',), samples=DEFAULTS['samples'], batch=DEFAULTS['batch'],
                     seed=DEFAULTS['seed'], alpha=None, truncation=DEFAULTS['truncation'], progress=None):
    """Every metric of `metrics.METRIC_TABLE` for every link of `spec` and every output (`metrics.evaluate_links`).

    Args:
        gen:        GeneratorAdapter (on the device to run on).
        spec:       LinkSpec (axes within gen.w_dim).
        outputs:    generator outputs to measure; all are measured from the same renders.
        samples:    number of latents; batch: latents per forward batch (results do not depend on it).
        seed:       seed of the latents, the resampling latents, the perturbations and (EG3D) the cameras.
        alpha:      perturbation strength of the Table 3 protocol (default spec.alpha, absolute).
        progress:   optional callable(n) called after every batch with its number of samples.
    Returns:
        {'results': {output: {link: {metric: mean, metric_std: std, 'locality': ...}}}, 'samples_per_second': float,
         'seconds': float}
    """
    return evaluate_links(gen, spec, samples=samples, batch=batch, seed=seed, alpha=alpha, truncation_psi=truncation,
                          outputs=tuple(outputs), progress=progress)


def network_summary(net, gen):
    """JSON-able facts about the evaluated network."""
    G = net.G
    return {'path': net.path, 'kind': net.kind, 'flavour': net.flavour, 'class': f'{type(G).__module__}.{type(G).__qualname__}',
            'z_dim': gen.z_dim, 'w_dim': gen.w_dim, 'num_ws': gen.num_ws, 'c_dim': gen.c_dim,
            'img_resolution': gen.img_resolution, 'rebuilt_from_state': net.rebuilt, 'checkpoint_info': net.info}


def eval_report(net, gen, spec, spec_origin=None, outputs=None, samples=DEFAULTS['samples'], batch=DEFAULTS['batch'],
                seed=DEFAULTS['seed'], truncation=DEFAULTS['truncation'], alpha=None, camera=DEFAULTS['camera'],
                data=None, quality_images=DEFAULTS['quality_images'], baseline=None, baseline_path=None,
                progress=None):
    """The whole `linkgan eval` report of one network: what `--out` writes (infinite ratios stay floats here; the
    file spells them "inf").

    Args:
        net, gen:       LoadedNetwork and its GeneratorAdapter (on the device to run on; EG3D: made with `camera`).
        spec:           LinkSpec of the links to measure (`LinkSpec.select` restricts a spec to some links);
                        spec_origin: where it came from (text, kept in the report).
        outputs:        generator outputs to measure (default: every output the generator renders).
        samples, batch, seed, truncation, alpha: as evaluate_network.
        data:           real images (a folder or zip) to measure quality against (`measure_quality`: SWD and coverage
                        of `quality_images` samples, with their floors), or None.
        baseline:       an earlier report (a dict read from an --out file) to compare with; baseline_path: its file.
        progress:       optional callable(n) called after every batch with its number of samples.
    Returns:
        {'network', 'spec', 'spec_origin', 'settings', 'results', 'samples_per_second', 'samples_per_second_by_output',
         'seconds', 'quality' (with data), 'comparison' (with baseline)}: see the module docstring.
    """
    outputs = list(gen.outputs) if outputs is None else list(outputs)
    alpha = spec.alpha if alpha is None else alpha
    measured = evaluate_network(gen, spec, outputs=outputs, samples=samples, batch=batch, seed=seed, alpha=alpha,
                                truncation=truncation, progress=progress)
    report = {
        'network': network_summary(net, gen),
        'spec': spec.to_dict(),
        'spec_origin': spec_origin,
        'settings': {'samples': samples, 'batch': batch, 'seed': seed, 'truncation': truncation, 'alpha': alpha,
                     'alpha_mode': 'absolute', 'outputs': outputs, 'device': str(gen.device),
                     'camera': camera if gen.is_eg3d else None, 'torch': torch.__version__},
        'results': measured['results'],
        'samples_per_second': samples * len(outputs) / max(measured['seconds'], 1e-9),
        'samples_per_second_by_output': measured['samples_per_second'],
        'seconds': measured['seconds'],
    }
    if data:
        report['quality'] = data_quality(gen, data, quality_images, seed, truncation)
    if baseline is not None:
        comparison = compare_reports(report, {**baseline, 'results': _json_safe_load(baseline['results'])})
        report['comparison'] = {'against': os.path.abspath(baseline_path) if baseline_path else None, **comparison}
    return report

#----------------------------------------------------------------------------
# Comparing with a baseline evaluation.

def _ratio(num, den):
    if den == 0:
        return None if num == 0 else math.inf
    return num / den


def compare_reports(report, baseline):
    """Ratios of `report` to `baseline` (two eval JSON dicts; say, linked and its control), for every output, link and
    metric both hold: this / baseline for every metric (`metrics.BETTER` says which direction is better), and
    locality. None when both are 0.

    Returns:
        {'ratios': {output: {link: {metric: ratio}}}, 'missing': [...], 'mismatched_settings': {key: [this, baseline]},
         'quality': quality_ratios(...) (only when both reports measured quality)}
        A measured link set that differs from the baseline's is reported under mismatched_settings['links'].
    """
    ratios, missing = {}, []
    for output, links in report['results'].items():
        for link, values in links.items():
            other = baseline.get('results', {}).get(output, {}).get(link)
            if other is None:
                missing.append(f'{output}/{link}')
                continue
            keys = [k for m in METRICS for k in (m, m + '_region')] + ['locality']
            ratios.setdefault(output, {})[link] = {k: _ratio(values[k], other[k]) for k in keys
                                                   if k in values and k in other}
    mismatched = {}
    for key in ('samples', 'seed', 'truncation', 'alpha', 'camera', 'outputs'):
        a, b = report.get('settings', {}).get(key), baseline.get('settings', {}).get(key)
        if a != b:
            mismatched[key] = [a, b]
    own = {l['name']: l for l in report.get('spec', {}).get('links', [])}
    theirs = {l['name']: l for l in baseline.get('spec', {}).get('links', [])}
    if own and theirs and sorted(own) != sorted(theirs):
        mismatched['links'] = [sorted(own), sorted(theirs)]
    for name, l in theirs.items():
        if name in own and (own[name]['axes'] != l['axes'] or own[name]['region'] != l['region']):
            mismatched[f'spec.{name}'] = [own[name], l]
    out = {'ratios': ratios, 'missing': missing, 'mismatched_settings': mismatched}
    if report.get('quality') and baseline.get('quality'):
        out['quality'] = quality_ratios(report['quality'], baseline['quality'], mismatched)
    return out


def quality_ratios(this, reference, mismatched=None):
    """this / reference of two --data quality entries: {'swd' (lower is better), 'recall', 'precision' (higher is
    better)}; a ratio is None where either entry lacks it (an entry written before coverage existed). Differences
    that make the ratios incomparable (data, images, feature space) go into `mismatched` as 'quality.<key>'."""
    cov_a, cov_b = this.get('coverage') or {}, reference.get('coverage') or {}
    out = {'swd': _ratio(this['swd']['mean'], reference['swd']['mean'])}
    for key in ('recall', 'precision'):
        out[key] = _ratio(cov_a[key], cov_b[key]) if key in cov_a and key in cov_b else None
    if mismatched is not None:
        for key, a, b in (('data', this.get('data'), reference.get('data')),
                          ('images', this.get('images'), reference.get('images')),
                          ('features', cov_a.get('features'), cov_b.get('features'))):
            if a != b and a is not None and b is not None:
                mismatched[f'quality.{key}'] = [a, b]
    return out

#----------------------------------------------------------------------------
# Text output.

def _fmt(mean, std):
    return f'{mean * SCALE:.3f} ± {std * SCALE:.3f}'


def _rows(by_output, cells):
    """One table line per output and link of {output: {link: values}}: the output, the link, then cells(values)."""
    return [f'{output:<12}{link:<14}' + cells(v) for output, links in by_output.items() for link, v in links.items()]


def format_table(report):
    """The readable table: one row per output and link, values x1e-3, mean ± std."""
    s = report['settings']
    lines = [f"linkgan eval: {report['network']['path']} ({report['network']['kind']}, {report['network']['flavour']})",
             f"spec from {report['spec_origin']}; {s['samples']} samples, seed {s['seed']}, truncation {s['truncation']}, "
             f"alpha {s['alpha']}, device {s['device']}" + (f", camera {s['camera']}" if s.get('camera') else ''),
             'values x1e-3, mean ± std over samples. Table 3: mse_i, mse_o (lower is better); '
             'Table 2: edit_i (higher), edit_o (lower); keep_o (outside change when the other axes are resampled: '
             'must stay); locality = edit_o_region / edit_i_region (lower is better).']
    cols = [m for m in METRICS]
    width = 22
    for norm, suffix in (('normalised by all pixels (C*H*W)', ''), ('normalised by region pixels', '_region')):
        lines.append('')
        lines.append(norm)
        lines.append(f"{'output':<12}{'link':<14}" + ''.join(f'{c:>{width}}' for c in cols))
        lines += _rows(report['results'], lambda v: ''.join(
            ' ' + f'{_fmt(v[c + suffix], v[c + suffix + "_std"]):>{width - 1}}' for c in cols))
    lines.append('')
    anchors = ', '.join(f'{k} ~{v}' for k, v in LOCALITY_ANCHORS.items())
    lines.append(f'locality (per-pixel out / in under resampling); paper anchors {anchors} ({ANCHOR_NOTE})')
    lines += _rows(report['results'], lambda v: f'{v["locality"]:>10.4f}')
    if report.get('quality'):
        lines += [''] + format_quality(report['quality'])
    lines.append('')
    lines.append(f"{report['samples_per_second']:.1f} samples/s ({report['seconds']:.1f} s)")
    return '\n'.join(lines)


def format_quality(q):
    """Lines of the table's quality block: SWD and coverage, each beside its real-vs-real floor."""
    swd, floor, cov = q['swd'], q.get('swd_floor'), q.get('coverage')
    lines = [f"quality against {q['data']} ({q['images']} generated and {q['images']} real images; the floor is two "
             'disjoint real sets of that size, what a perfect generator would score):',
             f"  SWD (x1e3, lower is better)        {swd['mean']:8.2f}   floor "
             + (f"{floor['mean']:.2f}" if floor else 'n/a') + '   ('
             + ', '.join(f'{r}px {v:.2f}' for r, v in swd['levels'].items()) + ')']
    if cov:
        f = cov.get('floor')
        lines.append(f"  recall / precision (higher)        {cov['recall']:.3f} / {cov['precision']:.3f}   floor "
                     + (f"{f['recall']:.3f} / {f['precision']:.3f}" if f else 'n/a')
                     + f"   (k={cov['k']}, {cov['measure']}, features {cov['features']})")
        lines.append('  recall: the share of real images the generator can produce (SWD cannot see a collapsed '
                     'generator; recall can); compare within one feature space and image count')
    if q.get('floor_note'):
        lines.append(f"  {q['floor_note']}")
    return lines


def _fmt_ratio(r):
    if r is None:
        return 'n/a'
    if math.isinf(r):
        return 'inf'
    return f'{r:.2f}x'


def format_comparison(comparison, baseline_path):
    lines = [f'compared with {baseline_path}: ratios this / reference; lower is better for mse_i, mse_o, edit_o and '
             'locality, higher for edit_i and keep_o']
    cols = [m for m in METRICS]
    for norm, suffix in (('all pixels', ''), ('region pixels', '_region')):
        lines.append(f"{'output':<12}{'link':<14}" + ''.join(f'{c + suffix:>16}' for c in cols) + f'   ({norm})')
        lines += _rows(comparison['ratios'], lambda r: ''.join(f'{_fmt_ratio(r.get(c + suffix)):>16}' for c in cols))
    lines.append(f"{'output':<12}{'link':<14}{'locality':>16}")
    lines += _rows(comparison['ratios'], lambda r: f'{_fmt_ratio(r.get("locality")):>16}')
    if comparison.get('quality'):
        r = comparison['quality']
        lines.append(f"quality: SWD {_fmt_ratio(r['swd'])} (lower is better), recall {_fmt_ratio(r['recall'])}, "
                     f"precision {_fmt_ratio(r['precision'])} (higher is better)")
    for item in comparison['missing']:
        lines.append(f'not in the baseline: {item}')
    for key, (a, b) in comparison['mismatched_settings'].items():
        lines.append(f'warning: {key} differs (this {a!r}, baseline {b!r}): ratios may not be comparable')
    return '\n'.join(lines)


def json_safe(value):
    """`value` (nested dicts and lists) with infinite floats spelled "inf", as `--out` files write them."""
    if isinstance(value, float) and math.isinf(value):
        return 'inf'
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_safe(v) for v in value]
    return value


def _json_ratio(value):
    return math.inf if value == 'inf' else value

#----------------------------------------------------------------------------

def real_pool(data, count, resolution, seed=0):
    """(real images, note): the first 2 * count images of `data` in load_images' seeded order, or only the first
    `count` with a note saying why the floors cannot be measured. images[:count] is the same set either way (the
    reference set of every quality number)."""
    with option_errors('--data', DatasetError):
        try:
            return load_images(data, 2 * count, resolution, seed=seed), None
        except DatasetError as e:
            images = load_images(data, count, resolution, seed=seed)
            return images, f'no real-vs-real floors: they need 2 x {count} images ({e})'


def data_quality(gen, data, count, seed=0, truncation=1.0):
    """Quality of `count` samples against `count` real images of `data` (realism.measure_quality's schema, plus
    'data': its absolute path), the floors against the next `count` images of the same seeded order."""
    pool, note = real_pool(data, count, gen.img_resolution, seed)
    fake = generated_images(gen, count, seed=seed, truncation_psi=truncation)
    if fake.shape[1] != pool.shape[1]:
        raise OptionError('--data', f'the network makes {fake.shape[1]}-channel images, {data} has RGB')
    floor_real = pool[count:2 * count] if note is None else None
    out = measure_quality(fake, pool[:count], floor_real, RandomConvFeatures(), seed=seed, floor_note=note)
    return {'data': os.path.abspath(data), **out}


def _json_safe_load(results):
    return {o: {l: {k: _json_ratio(v) for k, v in m.items()} for l, m in links.items()} for o, links in results.items()}


def parse_outputs(text, gen):
    """Outputs to measure: a comma-separated list; default every output the generator renders."""
    if not text:
        return list(gen.outputs)
    names = [t.strip() for t in text.split(',') if t.strip()]
    for name in names:
        if name not in gen.outputs:
            extra = ' (image_raw and image_depth exist only for EG3D networks)' if len(gen.outputs) == 1 else ''
            raise OptionError('--outputs', f'{name!r} is not one of {", ".join(gen.outputs)}{extra}')
    if len(set(names)) != len(names):
        raise OptionError('--outputs', 'lists an output twice')
    return names

#----------------------------------------------------------------------------
