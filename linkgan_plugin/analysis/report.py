"""The report of a control-against-linked run, and its pictures: what `linkgan demo` and `linkgan pair` write.

A report is built from one evaluation per model ('baseline' (optional), 'control', 'linked'): {'links': {row:
{metric: value}}, 'quality': realism.measure_quality's schema}. `summarise` gives the headline values, the linked /
control ratios, quality with its floors, and rows of targets; `report_markdown` the Markdown (also printed);
`leakage_picture` the paper's Fig. 3 layout for the models side by side and `samples_picture` real scenes beside
each model's samples.

Report keys (summarise): "models": {model: {row: {metric: value}}}, "quality": {model: swd}, "quality_ratio",
"ratios": {row: {metric: linked / control}}, "quality_floor": real-vs-real swd | null, "coverage": {model:
{"recall", "precision"}}, "coverage_floor": {"recall", "precision"} | null, "coverage_space": {"features",
"measure", "k"} | null, "recall_ratio", "precision_ratio" (null when the control's is 0 or coverage was not
measured), "targets" / "goals": {row: [{metric, op, bound, of, value, met}]}, "targets_met", "goals_met".
"""

import torch

from linkgan_plugin.analysis.datasets import generated_images
from linkgan_plugin.analysis.generator import GeneratorAdapter
from linkgan_plugin.analysis.metrics import PAPER_LOCALITY
from linkgan_plugin.analysis.pictures import heatmap, leakage_grid, outline, stack_horizontal, stack_vertical, to_uint8
from linkgan_plugin.regularizer import BoundSpec
from linkgan_plugin.render import render_variants

HEADLINE = ('mse_i', 'mse_o', 'edit_i', 'edit_o', 'keep_o', 'locality')    # The metrics a report shows per row.

#----------------------------------------------------------------------------
# The summary.

def _target_rows(targets, values, control_values):
    rows = []
    for metric, op, bound, of in targets:
        value = values[metric] / max(control_values[metric], 1e-12) if of == 'control' else values[metric]
        rows.append({'metric': metric, 'op': op, 'bound': bound, 'of': of, 'value': value,
                     'met': bool(value <= bound if op == '<=' else value >= bound)})
    return rows


def summarise(evaluations, spec, targets=(), goals=()):
    """Headline values per model and row, linked / control ratios, quality with its floors, and the rows of
    `targets` and `goals` (module docstring).

    Args:
        evaluations: {model: evaluation} with 'control' and 'linked' (module docstring).
        spec:        the LinkSpec, or the list of row names of evaluations' 'links' (`linkgan pair`: one row per link
                     and output).
        targets, goals: ((metric, '<=' | '>=', bound, None | 'control'), ...): a bound on the linked value, or on
                     its ratio to the control's; metric 'quality' is the SWD.
    """
    names = list(getattr(spec, 'names', spec))
    models = {m: {name: {k: e['links'][name][k] for k in HEADLINE} for name in names}
              for m, e in evaluations.items()}
    quality = {m: e['quality']['swd']['mean'] for m, e in evaluations.items()}
    ratios = {name: {k: models['linked'][name][k] / max(models['control'][name][k], 1e-12) for k in HEADLINE}
              for name in names}
    target_rows, goal_rows = {}, {}
    for name in names:
        values = {**models['linked'][name], 'quality': quality['linked']}
        control = {**models['control'][name], 'quality': quality['control']}
        target_rows[name] = _target_rows(targets, values, control)
        goal_rows[name] = _target_rows(goals, values, control)
    return {'models': models, 'quality': quality, 'quality_ratio': quality['linked'] / max(quality['control'], 1e-12),
            'ratios': ratios, 'targets': target_rows,
            'targets_met': all(r['met'] for rows in target_rows.values() for r in rows),
            'goals': goal_rows, 'goals_met': all(r['met'] for rows in goal_rows.values() for r in rows),
            **summarise_coverage(evaluations)}


def _share_ratio(a, b):
    return None if a is None or b is None or b <= 0 else a / b


def summarise_coverage(evaluations):
    """The report's quality floor and coverage keys (module docstring) from the evaluations' quality; None where an
    evaluation has no coverage (3 samples or fewer)."""
    floor = evaluations['linked']['quality'].get('swd_floor')
    cov = {m: e['quality'].get('coverage') for m, e in evaluations.items()}
    headline = {m: {'recall': c['recall'], 'precision': c['precision']} for m, c in cov.items() if c}
    space = cov['linked'] and {k: cov['linked'][k] for k in ('features', 'measure', 'k')}
    cov_floor = cov['linked'] and cov['linked'].get('floor') and {k: cov['linked']['floor'][k] for k in ('recall', 'precision')}
    get = lambda m, k: headline.get(m, {}).get(k)
    return {'quality_floor': floor and floor['mean'], 'coverage': headline, 'coverage_floor': cov_floor,
            'coverage_space': space, 'recall_ratio': _share_ratio(get('linked', 'recall'), get('control', 'recall')),
            'precision_ratio': _share_ratio(get('linked', 'precision'), get('control', 'precision'))}


#----------------------------------------------------------------------------
# The Markdown.

# Locality (per-pixel out / in under resampling) derived from the paper's Table 2 per region, with the face presets'
# areas (eyes 3.5%, nose 2.8%, mouth 3.2%), assuming its MSEs are divided by all pixels (README "Metrics").
PAPER_NOTE = 'derived from its Table 2 assuming its MSEs are divided by all pixels'


def _x(ratio, digits=2):
    return 'n/a' if ratio is None else f'{ratio:.{digits}f}x'


def _num(value, fmt):
    return 'n/a' if value is None else format(value, fmt)


def _anchor(v):
    return f'{v:.2f}' if v >= 0.1 else f'{v:.3f}'


def link_effect_lines(report):
    """Markdown bullets: per link, what the link term did against the control, in words; then what locality means
    and where the paper's figures come from."""
    lines, m, paper = [], report['models'], PAPER_LOCALITY['LinkGAN']
    anchors = ', '.join(f'{k} {_anchor(v)}' for k, v in paper.items())
    for name in report['spec_names']:
        r = report['ratios'][name]
        # A link named after one of the paper's regions (the faces' eyes, nose, mouth) is set beside that region's.
        anchor = f' on the {name}: {_anchor(paper[name])}' if name in paper else f': {anchors}'
        lines.append(
            f'- **{name}**: mse_i {_x(r["mse_i"])} and mse_o {_x(r["mse_o"])} the control\'s (leakage into the region '
            f'when the other axes move, and out of it when its own axes move); edit_i {_x(r["edit_i"])} (its axes '
            f'still edit it) and keep_o {_x(r["keep_o"])} (the other axes still change the rest). Locality '
            f'{m["linked"][name]["locality"]:.3f} against the control\'s {m["control"][name]["locality"]:.3f} (the '
            f'paper\'s LinkGAN{anchor}).')
    return lines


LOCALITY_NOTE = ('Locality is the change outside the region per unit of change inside, per pixel, when the linked '
                 f'axes are resampled (lower is more local); the paper\'s figures are {PAPER_NOTE} (more below).')


def quality_sentence(report):
    """One line: the linked model's quality against the control's, each measure beside its floor."""
    q, cov, cf = report['quality'], report.get('coverage') or {}, report.get('coverage_floor')
    text = (f'- **quality**: SWD {q["linked"]:.1f} against the control\'s {q["control"]:.1f} '
            f'({_x(report["quality_ratio"])}; lower is better, real vs real {_num(report.get("quality_floor"), ".1f")})')
    if 'linked' in cov and 'control' in cov:
        text += (f'; recall {cov["linked"]["recall"]:.3f} against {cov["control"]["recall"]:.3f} '
                 f'({_x(report.get("recall_ratio"))}; higher is better, real vs real '
                 f'{_num(cf and cf["recall"], ".3f")}), precision {cov["linked"]["precision"]:.3f} against '
                 f'{cov["control"]["precision"]:.3f} (real vs real {_num(cf and cf["precision"], ".3f")})')
    return text + '.'


def report_models(report):
    """The models a report holds, in column order: ('baseline',) 'control', 'linked' (a `linkgan pair` without
    --resume has no baseline)."""
    return [m for m in ('baseline', 'control', 'linked') if m in report['models']]


def quality_table(report):
    """Markdown table: SWD, recall and precision of each model, linked / control, and the real-vs-real floor."""
    q, cov, cf, space = (report['quality'], report.get('coverage') or {}, report.get('coverage_floor'),
                         report.get('coverage_space'))
    models = report_models(report)
    lines = ['| measure | ' + ' | '.join(models) + ' | linked / control | real vs real (floor) |',
             '|---|' + '---|' * len(models) + '---|---|',
             '| SWD (x1e3, lower is better) | ' + ' | '.join(f'{q[m]:.2f}' for m in models) +
             f' | {report["quality_ratio"]:.3f} | {_num(report.get("quality_floor"), ".2f")} |']
    if space and all(m in cov for m in models):
        for key in ('recall', 'precision'):
            ratio = report.get(f'{key}_ratio')
            lines.append(f'| {key} ({space["measure"]}, higher is better) | ' + ' | '.join(
                f'{cov[m][key]:.3f}' for m in models) + f' | {_num(ratio, ".3f")} | {_num(cf and cf[key], ".3f")} |')
        lines += ['', f'Recall is the share of real images the generator can produce, precision the share of its '
                  f'samples that look real (Kynkaanniemi et al. 2019, k = {space["k"]}, features {space["features"]}). '
                  'SWD alone cannot see collapse (on the cells scene, 16 real scenes repeated score a better SWD than '
                  'the shipped baseline, and a recall of 0). The floor is two disjoint sets of real images of this '
                  'size: what a perfect generator would score.']
    return lines


def report_markdown(report, title, intro, advice='', footer=()):
    """The report as Markdown (report.md, pair.md; also printed): what the link term did, quality with its floors,
    `advice` (a paragraph, '' for none), then every metric of each model, and `footer` (lines).

    Args:
        title: the heading line ('# ...'); intro: the opening paragraph (what was trained and measured).
    """
    models = report_models(report)
    lines = [title, '', intro, '',
             '## What the link term did', '', 'Linked against the control (the same training without the link term):', '']
    lines += link_effect_lines(report) + [quality_sentence(report), '', LOCALITY_NOTE, '']
    if advice:
        lines += [advice, '']
    lines += ['## Every metric', '',
              'mse_i / mse_o: change inside / outside the region when the other / linked axes are perturbed (lower is '
              'better); edit_i / edit_o: change inside / outside when the linked axes are resampled; keep_o: change '
              'outside when the other axes are resampled (must stay); values are masked sums / all pixels. locality = '
              'edit_o / edit_i per region pixel (lower is better).', '',
              '| link | metric | ' + ' | '.join(models) + ' | linked / control |', '|---|---|' + '---|' * len(models) + '---|']
    m = report['models']
    for name in report['spec_names']:
        for k in HEADLINE:
            lines.append(f'| {name} | {k} | ' + ' | '.join(f'{m[model][name][k]:.3e}' for model in models) +
                         f' | {report["ratios"][name][k]:.3f} |')
    anchors = ', '.join(f'{k} ' + ' / '.join(_anchor(v) for v in by_part.values()) for k, by_part in PAPER_LOCALITY.items())
    lines += ['', f'Locality in the paper (eyes / nose / mouth; {PAPER_NOTE}): {anchors}.', '', '## Quality', '']
    lines += quality_table(report) + ['']
    lines += list(footer) + ['']
    return '\n'.join(lines)


#----------------------------------------------------------------------------
# Pictures.

def codes_and_resamples(G_ema, spec, columns, seed):
    """(GeneratorAdapter, BoundSpec, ws, ws_new): codes ws [columns, num_ws, w_dim] of `columns` samples and the
    codes ws_new they are resampled towards, mapped from latents drawn (ws's first) from a generator seeded `seed`."""
    gen = GeneratorAdapter(G_ema)
    bound = BoundSpec(spec, gen.w_dim)
    g = torch.Generator().manual_seed(seed)
    ws, ws_new = gen.map(torch.randn([columns, gen.z_dim], generator=g)), gen.map(torch.randn([columns, gen.z_dim], generator=g))
    return gen, bound, ws, ws_new


@torch.no_grad()
def leakage_picture(models, spec, columns=5, seed=1234):
    """The Fig. 3 layout per link, the models side by side (models: {label: G_ema}). Returns a PIL.Image.

    Rows of each block: originals; linked axes resampled and the per-pixel RMS change; every other axis resampled
    and its change. Each heatmap row has one scale across all models (its largest value), so the brightness of a
    row compares directly between the control and the linked model.
    """
    renders = {}
    for label, G_ema in models.items():
        gen, bound, ws, ws_new = codes_and_resamples(G_ema, spec, columns, seed)
        d_all = ws_new[:, 0] - ws[:, 0]
        for i in range(len(spec.links)):
            m = bound.axis_masks[i]
            x, (x_in, x_out) = render_variants(lambda w: gen.synthesize(w)['image'], ws, [d_all * m, d_all * (1 - m)])
            rms = lambda a: (a - x).square().mean(dim=1).sqrt()
            renders[label, i] = (x, x_in, x_out, rms(x_in), rms(x_out), bound.masks.for_images(x)[:, i])
    bands = []
    labels = ['original', 'resample linked', '|change|', 'resample others', '|change|']
    for i, link in enumerate(spec.links):
        vmax_in = max(float(renders[label, i][3].max()) for label in models)
        vmax_out = max(float(renders[label, i][4].max()) for label in models)
        blocks = []
        for k, label in enumerate(models):
            x, x_in, x_out, d_in, d_out, masks = renders[label, i]
            # Each tile outlines its original's region (fixed regions: the same mask for every sample).
            tiles = lambda imgs: [outline(to_uint8(im), masks[min(n, len(masks) - 1)]) for n, im in enumerate(imgs)]
            rows = [tiles(x), tiles(x_in), [heatmap(d, vmax_in) for d in d_in], tiles(x_out),
                    [heatmap(d, vmax_out) for d in d_out]]
            blocks.append(leakage_grid(rows, labels if k == 0 else None, scale=3,
                                       title=f'{label}: link {link.name!r}, axes {link.axes[0]}..{link.axes[-1]}'))
        bands.append(stack_horizontal(blocks, pad=12))
    return stack_vertical(bands, pad=12)


@torch.no_grad()
def samples_picture(real, models, columns=12, seed=4321):
    """Rows: real scenes, then each model's samples from the same latents (models: {label: G_ema})."""
    rows = [[to_uint8(im) for im in real[:columns]]]
    for G_ema in models.values():
        rows.append([to_uint8(im) for im in generated_images(GeneratorAdapter(G_ema), columns, seed=seed)])
    return leakage_grid(rows, ['real'] + list(models), title='real scenes and samples (same latents per column)', scale=3)

#----------------------------------------------------------------------------
