"""`linkgan demo`: fine-tune a converged toy StyleGAN2-ADA-shaped generator with LinkLoss and, side by side, with
the base loss alone (the control), then measure both against each other as the paper's protocols do.

Steps (CPU, about 5 minutes on 2 cores with the defaults):
    1. Baseline: by default the converged baseline shipped in the package (`assets/demo_baseline.pt`: the toy sg2ada
       G and its minibatch-stddev D trained on procedural scenes for 160 kimg; `linkgan baseline --kimg 160`
       reproduces it, demo/baseline.py). `--baseline train` trains one from scratch for --baseline-kimg instead;
       `--baseline FILE` uses another baseline file. The networks' sizes and the scene are the baseline's (a
       landscape baseline serves both landscape scenes); `--from-scratch` takes only its sizes and keeps --scene.
    2. Two fine-tunes of copies of the baseline's G, D and G_ema, with the same recipe, length, data order and
       latents (demo/training.py), run in two processes with one thread each:
         control: the base loss only;   linked: LinkLoss (the same base loss plus the link term).
       The paper fine-tunes converged generators; the control keeps extra training from being credited to LinkGAN.
       `--from-scratch KIMG` instead trains both from the same fresh networks for KIMG at --batch, the link term
       acting from the first step (the study's strongest recipe, docs/study.md; 160 kimg: about 25 minutes on 2
       cores).
    3. Evaluation of the three G_ema (demo/evaluation.py): every metric of metrics.METRIC_TABLE (mse_i, mse_o, edit_i,
       edit_o, keep_o and locality) on --samples fixed-seed samples, the same latents and perturbations for all
       three, and the quality distance (sliced Wasserstein on Laplacian-pyramid patches) to held-out real scenes.
    4. Outputs in --outdir:
         report.json   {"models": {"baseline"|"control"|"linked": {LINK: {metric: value}}},
                        "quality": {model: swd}, "ratios": {LINK: {metric: linked / control}},
                        "quality_ratio": linked / control, "quality_floor": real-vs-real swd | null,
                        "coverage": {model: {"recall", "precision"}}, "coverage_floor": {"recall", "precision"} | null,
                        "coverage_space": {"features", "measure", "k"} | null, "recall_ratio", "precision_ratio":
                        linked / control (null when the control's is 0 or coverage was not measured),
                        "targets": {LINK: [{metric, op, bound, of, value, met}]}, "targets_met": bool,
                        "goals": {...}, "details": {model: evaluation with stds},
                        "baseline": {"source", "kimg"}, "spec", "settings", "timings", "seconds"}
         report.md     (also printed) what the link term did, per link: linked / control ratios of mse_i, mse_o,
                       edit_i and keep_o, the locality beside the control's and the paper's LinkGAN figures; quality
                       as SWD and recall / precision beside their real-vs-real floors; what to run for stronger
                       linkage; then every metric of the three models. The research targets (settings.TARGETS,
                       GOALS) and whether each holds are in report.json only.
         leakage.png   the paper's Fig. 3 layout for the control and the linked model side by side, per link:
                       originals, linked axes resampled and its change heatmap, other axes resampled and its
                       change heatmap; each heatmap row on one scale across both models.
         samples.png   real scenes, control samples and linked samples (same latents): diversity at a glance.
         baseline.pt, control.pt, linked.pt   checkpoints (format below), for `linkgan eval` / `linkgan edit`.

Checkpoints: the toy checkpoint layout (toy/checkpoint.py; `torch.load(path, weights_only=True)` reads them), with
the training G and D; 'spec' the link spec the model was trained with (linked.pt), None for baseline.pt and
control.pt (a network trained without links needs an explicit --spec: network_loading.resolve_spec); 'eval_spec' the
spec all three were evaluated with; 'role' 'baseline'|'control'|'linked'; 'kimg'; 'loss_kwargs'; 'settings'.

The built-in spec (`BUILTIN_SPEC`) links the top-left and the bottom-right quadrant, each to its own 16 of the 64
axes of W, with the fine-tune recipe in DEMO_SPEC_DEFAULTS; the faces' (`--scene faces`, `FACES_SPEC`) links the
paper's eyes, nose and mouth (the face presets' boxes) to axes 0:16, 16:32 and 32:48, with the same recipe, and its
report sets each link's locality beside the paper's for that region; its shipped baseline
(assets/faces_baseline.pt, `linkgan baseline --scene faces --kimg 320`) is trained like the cells'. A scene whose
baseline file is missing makes `--baseline shipped` refuse with what to run instead (demo_baseline.shipped_baseline).
A user spec (`--spec FILE`) keeps its
own values; the fields it leaves out take the demo's recipe rather than the library DEFAULTS.
"""

import json
import os
import time

import click
import torch

from linkgan_plugin.analysis.cli_options import NullStream
from linkgan_plugin.analysis.datasets import generated_images
from linkgan_plugin.analysis.generator import GeneratorAdapter
from linkgan_plugin.analysis.metrics import PAPER_LOCALITY, resample_offsets
from linkgan_plugin.analysis.pictures import (
    heatmap, interpolation_frames, leakage_grid, outline, save_gif, stack_horizontal, stack_vertical, to_uint8)
from linkgan_plugin.checks import option_errors, SpecError
from linkgan_plugin.demo.baseline import (has_shipped_baseline, load_baseline_state, save_baseline, shipped_baseline,
                                          train_baseline_snapshots)
from linkgan_plugin.demo.evaluation import evaluate_model, real_scenes
from linkgan_plugin.demo.data import is_landscape, SCENES
from linkgan_plugin.demo.landscape import colour_labels, LANDSCAPE_SCENES
from linkgan_plugin.demo.segmenter import landscape_spec, make_segmenter_file, segmenter_accuracy
from linkgan_plugin.demo.settings import DEMO_DEFAULTS, demo_spec, GOALS, HEADLINE, LOSS_KWARGS, TARGETS
from linkgan_plugin.demo.training import run_finetunes
from linkgan_plugin.regions import load_segmenter
from linkgan_plugin.regularizer import BoundSpec
from linkgan_plugin.render import render_variants
from linkgan_plugin.toy.checkpoint import networks_from_checkpoint, save_checkpoint

#----------------------------------------------------------------------------

def resolve_baseline(choice, settings, outdir, show=True):
    """(path of the baseline file, its dict) for --baseline shipped | train | FILE; `train` trains one now (saved in
    outdir, which it creates); the shipped one is the settings' scene's (demo_baseline.shipped_baseline: a
    click.ClickException, before anything is written, when none ships)."""
    if choice == 'train':
        trainer = train_baseline_snapshots(settings, settings['baseline_kimg'], show=show)
        path = os.path.join(outdir, '.baseline-train.pt')
        save_baseline(path, trainer, settings)
    else:
        path = shipped_baseline(settings['scene']) if choice == 'shipped' else choice
    return path, load_baseline_state(path)

#----------------------------------------------------------------------------
# Report.

def _target_rows(targets, values, control_values):
    rows = []
    for metric, op, bound, of in targets:
        value = values[metric] / max(control_values[metric], 1e-12) if of == 'control' else values[metric]
        rows.append({'metric': metric, 'op': op, 'bound': bound, 'of': of, 'value': value,
                     'met': bool(value <= bound if op == '<=' else value >= bound)})
    return rows


def summarise(evaluations, spec):
    """Headline values per model and link, linked / control ratios, quality with its floors, and the targets (see
    module docstring). `spec`: the LinkSpec, or the list of row names of evaluations' 'links' (`linkgan pair`: one
    row per link and output)."""
    names = list(getattr(spec, 'names', spec))
    models = {m: {name: {k: e['links'][name][k] for k in HEADLINE} for name in names}
              for m, e in evaluations.items()}
    quality = {m: e['quality']['mean'] for m, e in evaluations.items()}
    ratios = {name: {k: models['linked'][name][k] / max(models['control'][name][k], 1e-12) for k in HEADLINE}
              for name in names}
    targets, goals = {}, {}
    for name in names:
        values = {**models['linked'][name], 'quality': quality['linked']}
        control = {**models['control'][name], 'quality': quality['control']}
        targets[name] = _target_rows(TARGETS, values, control)
        goals[name] = _target_rows(GOALS, values, control)
    return {'models': models, 'quality': quality, 'quality_ratio': quality['linked'] / max(quality['control'], 1e-12),
            'ratios': ratios, 'targets': targets, 'targets_met': all(r['met'] for rows in targets.values() for r in rows),
            'goals': goals, 'goals_met': all(r['met'] for rows in goals.values() for r in rows),
            **summarise_coverage(evaluations)}


def _share_ratio(a, b):
    return None if a is None or b is None or b <= 0 else a / b


def summarise_coverage(evaluations):
    """The report's quality floor and coverage keys (module docstring) from evaluate_model's results; None where an
    evaluation has no coverage (3 samples or fewer)."""
    linked = evaluations['linked']
    floor = linked.get('quality_floor')
    cov = {m: e.get('coverage') for m, e in evaluations.items()}
    headline = {m: {'recall': c['recall'], 'precision': c['precision']} for m, c in cov.items() if c}
    space = cov['linked'] and {k: cov['linked'][k] for k in ('features', 'measure', 'k')}
    cov_floor = cov['linked'] and cov['linked'].get('floor') and {k: cov['linked']['floor'][k] for k in ('recall', 'precision')}
    get = lambda m, k: headline.get(m, {}).get(k)
    return {'quality_floor': floor and floor['mean'], 'coverage': headline, 'coverage_floor': cov_floor,
            'coverage_space': space, 'recall_ratio': _share_ratio(get('linked', 'recall'), get('control', 'recall')),
            'precision_ratio': _share_ratio(get('linked', 'precision'), get('control', 'precision'))}


# Locality (per-pixel out / in under resampling) derived from the paper's Table 2 per region, with the face presets'
# areas (eyes 3.5%, nose 2.8%, mouth 3.2%), assuming its MSEs are divided by all pixels (README "Metrics").
PAPER_NOTE = 'derived from its Table 2 assuming its MSEs are divided by all pixels'
STRONGER_MINUTES = 25           # `linkgan demo --from-scratch 160` on the cells scene, 2 cores (docs/demo.md).


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


def stronger_linkage_line(settings):
    """What to run for stronger linkage than this run reached (for a scene without a shipped baseline, the command
    names a --baseline FILE: from scratch it only gives the networks' sizes)."""
    name = settings.get('scene', 'cells')
    scene = '' if name == 'cells' else f' --scene {name}'
    sizes = ''
    if not has_shipped_baseline(name):
        scene += ' --baseline FILE'
        sizes = (f'; no {name} baseline ships yet, and from scratch FILE only gives the networks\' sizes: any '
                 'baseline file serves, the cells\' shipped `demo_baseline.pt` too')
    if settings.get('scratch_kimg'):
        return ('**For stronger linkage**: train longer under the link term (a larger `--from-scratch`), or set '
                '`"perturbation": "resample"` in a `--spec` to train with the evaluation\'s own perturbation (not a '
                'like-for-like comparison with the paper); docs/study.md has every recipe measured.')
    return (f'**For stronger linkage**: `linkgan demo --from-scratch 160{scene}` trains both networks from scratch with '
            f'the link term from the first step (the cells scene: about {STRONGER_MINUTES} minutes on 2 '
            f'cores{sizes}); a {settings["finetune_kimg"]:g}-kimg fine-tune only moves the locality part way '
            '(docs/study.md has every recipe measured).')


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


def demo_intro(report):
    """The demo report's opening paragraph: the networks, the runs and the measurement."""
    s = report['settings']
    if s.get('scratch_kimg'):
        runs = (f'the same {s["scratch_kimg"]:g}-kimg training from scratch at batch {s["batch"]} from the same initial '
                'weights (same recipe, data order and latents), without and with the link term; the baseline is a '
                'reference only')
    else:
        runs = (f'the same {s["finetune_kimg"]:g}-kimg fine-tune of the baseline (same recipe, data order and '
                'latents), without and with the link term')
    return (f'Toy sg2ada generator on procedural {s["resolution"]}x{s["resolution"]} scenes. Baseline: '
            f'{report["baseline"]["source"]} ({report["baseline"]["kimg"]:.0f} kimg). Control and linked: {runs}. '
            f'G_ema of each, {s["samples"]} fixed-seed samples, alpha {report["spec"]["alpha"]}, '
            'images in [-1, 1]. Ratio = linked / control.')


def demo_footer(report):
    """The demo report's closing lines: where the targets are, and the wall time of each stage."""
    t = report['timings']
    return ['The research targets this project tracks (demo/settings.py TARGETS and GOALS) and whether each '
            'holds are in report.json (`targets`, `goals`).', '',
            f'Total {report["seconds"]:.0f} s (baseline {t["baseline"]:.0f} s, fine-tunes and their evaluation '
            f'{t["finetunes"]:.0f} s, baseline evaluation {t["baseline_evaluation"]:.0f} s, outputs {t["outputs"]:.0f} s).']


def report_markdown(report, title='# linkgan demo report', intro=None, advice=None, footer=None):
    """report.md (also the terminal summary): what the link term did, quality with its floors, what to run for
    stronger linkage, then every metric of each model. `linkgan pair` writes its pair.md with this layout, passing
    its own `title`, `intro` (a paragraph), `advice` (a paragraph, or '' for none) and `footer` (lines); None takes
    the demo's."""
    intro = demo_intro(report) if intro is None else intro
    advice = stronger_linkage_line(report['settings']) if advice is None else advice
    footer = demo_footer(report) if footer is None else footer
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

def _codes_and_resamples(G_ema, spec, columns, seed):
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
        gen, bound, ws, ws_new = _codes_and_resamples(G_ema, spec, columns, seed)
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
# Outputs.

def save_demo_checkpoint(path, G, D, G_ema, spec, role, kimg, settings):
    """One of the demo's checkpoints (see module docstring); `spec` is stored as trained with only for the linked model."""
    save_checkpoint(path, G_ema, 'sg2ada', spec if role == 'linked' else None, G=G, D=D, eval_spec=spec, role=role,
                    kimg=kimg, loss_kwargs=dict(LOSS_KWARGS), settings=dict(settings))


def prepare_semantic(outdir, settings, show=True):
    """The landscape demo's segmenter, trained now on procedural (image, label) pairs and saved as TorchScript in
    outdir, named in the spec by file exactly as a user's segmenter would be. Returns its spec, path, accuracy."""
    path = os.path.join(outdir, 'segmenter.pt')
    steps = 400
    with click.progressbar(length=steps, label='segmenter', file=None if show else NullStream()) as bar:
        made = make_segmenter_file(path, steps=steps, resolution=settings['resolution'], seed=settings['seed'],
                                   progress=bar.update, skies=LANDSCAPE_SCENES[settings['scene']])
    return {**made, 'spec': landscape_spec(path, mode=settings.get('mask_mode', 'source'))}


@torch.no_grad()
def generated_segmentation_accuracy(G_ema, spec, settings, count=256):
    """How the segmenter's masks hold up on generated landscapes: agreement of its labels with the labels the
    colour laws give (landscape.colour_labels), a proxy ground truth for generated images."""
    images = generated_images(GeneratorAdapter(G_ema), count, seed=settings['seed'])
    return segmenter_accuracy(load_segmenter(spec.links[0].region.segmenter), images, colour_labels(images))


@torch.no_grad()
def save_link_gif(G_ema, spec, path, columns=4, frames=16, seed=99):
    """A GIF of the first link's axes moving from each sample's own to a resampled value (the region should change,
    the rest stay), the region outlined per sample and frame."""
    gen, bound, ws, ws_new = _codes_and_resamples(G_ema, spec, columns, seed)
    delta = resample_offsets(ws, ws_new, bound)[:, 0]
    x = gen.synthesize(ws)['image']
    masks = bound.masks.for_images(x)[:, 0].expand(x.shape[0], -1, -1)     # Fixed regions: one mask for all.
    save_gif(interpolation_frames(gen, ws, delta, masks, frames, 128), path)


def write_outputs(outdir, spec, settings, base, runs, semantic):
    """The pictures (leakage.png, samples.png, the semantic demo's GIF) and the three checkpoints."""
    leakage_picture({'control': runs['control']['G_ema'], 'linked': runs['linked']['G_ema']}, spec).save(
        os.path.join(outdir, 'leakage.png'))
    if semantic is not None:
        semantic['generated_accuracy'] = {k: generated_segmentation_accuracy(runs[k]['G_ema'], spec, settings)
                                          for k in ('control', 'linked')}
        save_link_gif(runs['linked']['G_ema'], spec, os.path.join(outdir, f'{spec.names[0]}.gif'))
    samples_picture(real_scenes(settings, 12), {k: runs[k]['G_ema'] for k in ('control', 'linked')}).save(
        os.path.join(outdir, 'samples.png'))
    G, D, G_ema = networks_from_checkpoint(base)
    save_demo_checkpoint(os.path.join(outdir, 'baseline.pt'), G, D, G_ema, spec, 'baseline', base['kimg'], settings)
    for role in ('control', 'linked'):
        r = runs[role]
        save_demo_checkpoint(os.path.join(outdir, f'{role}.pt'), r['G'], r['D'], r['G_ema'], spec, role, r['kimg'],
                             settings)


def run_demo(outdir, spec_source=None, show=True, baseline='shipped', parallel=True, **options):
    """Runs the whole demo; returns the report dict (also written to outdir)."""
    start = time.perf_counter()
    settings = {**DEMO_DEFAULTS, **{k: v for k, v in options.items() if v is not None}}
    timer = _StageTimer()
    baseline_path, base = resolve_baseline(baseline, settings, outdir, show)     # Refuses before writing anything.
    os.makedirs(outdir, exist_ok=True)
    for key in ('resolution', 'cells', 'w_dim', 'z_dim', 'channels'):
        settings[key] = base['settings'][key]           # The networks and scenes are the baseline's.
    base_scene = base['settings'].get('scene', 'cells')
    # A landscape baseline serves both landscape scenes; runs from scratch take only the baseline's sizes.
    if not (settings.get('scratch_kimg') or (is_landscape(settings) and base_scene in LANDSCAPE_SCENES)):
        settings['scene'] = base_scene
    semantic = prepare_semantic(outdir, settings, show) if is_landscape(settings) else None
    spec = demo_spec(spec_source if spec_source is not None or semantic is None else semantic['spec'],
                     w_dim=settings['w_dim'], resolution=settings['resolution'], semantic=semantic is not None,
                     scene=settings['scene'])
    timer.lap('baseline')
    if settings['threads']:
        torch.set_num_threads(settings['threads'])
    runs = run_finetunes(baseline_path, spec, settings, outdir, show=show, parallel=parallel)
    timer.lap('finetunes')
    torch.set_num_threads(max(2, settings['threads'] or 1))
    evaluations = {'baseline': evaluate_model(networks_from_checkpoint(base)[2], spec, settings),
                   'control': runs['control']['evaluation'], 'linked': runs['linked']['evaluation']}
    timer.lap('baseline_evaluation')
    write_outputs(outdir, spec, settings, base, runs, semantic)
    if baseline == 'train':
        os.remove(baseline_path)
    timer.lap('outputs')
    report = {**summarise(evaluations, spec), 'spec_names': spec.names,
              'baseline': {'source': baseline if baseline in ('shipped', 'train') else os.path.abspath(baseline),
                           'kimg': base['kimg'], 'scene': base_scene},
              'details': evaluations, 'spec': spec.to_dict(), 'settings': settings, 'loss_kwargs': LOSS_KWARGS,
              'segmenter': semantic and {k: v for k, v in semantic.items() if k != 'spec'},
              'timings': {**timer.laps, 'runs': {k: runs[k]['seconds'] for k in ('control', 'linked')}},
              'seconds': time.perf_counter() - start}
    with open(os.path.join(outdir, 'report.json'), 'w', encoding='utf-8') as f:
        json.dump(report, f, indent=2)
    with open(os.path.join(outdir, 'report.md'), 'w', encoding='utf-8') as f:
        f.write(report_markdown(report))
    return report


class _StageTimer:
    """Wall seconds of consecutive stages: lap(name) closes the stage that ran since the previous lap."""

    def __init__(self):
        self.laps, self._t = {}, time.perf_counter()

    def lap(self, name):
        now = time.perf_counter()
        self.laps[name], self._t = now - self._t, now

#----------------------------------------------------------------------------
# The command.

class BaselineChoice(click.ParamType):
    """'shipped', 'train', or a baseline file (demo_baseline format)."""
    name = 'shipped|train|FILE'

    def convert(self, value, param, ctx):
        if value in ('shipped', 'train'):
            return value
        if os.path.isdir(value):
            self.fail(f'{value!r} is a directory; give a baseline file, "shipped" or "train"', param, ctx)
        if not os.path.isfile(value):
            self.fail(f'{value!r} is not "shipped", "train" or an existing baseline file', param, ctx)
        return value


@click.command(name='demo')
@click.option('--outdir', type=click.Path(file_okay=False), default='./linkgan-demo', show_default=True,
              help='Where report.json, report.md, leakage.png, samples.png and the checkpoints go.')
@click.option('--spec', 'spec_path', type=click.Path(exists=True, dir_okay=False), default=None,
              help='Link spec JSON (box or mask regions, w_dim 64). Default: the scene\'s built-in spec (cells: two '
                   'quadrants; faces: eyes, nose, mouth).')
@click.option('--scene', type=click.Choice(SCENES), default='cells', show_default=True,
              help='cells: boxes on a 2x2 grid of independent cells; landscape: a semantic link (sky), its region '
                   'segmented per sample by a segmenter trained at demo time and named in the spec as a TorchScript '
                   'file; skies: the same under varied skies (time of day, brightness, clouds); faces: aligned faces, '
                   'boxes on the eyes, nose and mouth.')
@click.option('--mask-mode', type=click.Choice(['source', 'union', 'mean']), default='source', show_default=True,
              help='landscape: which images the sky mask comes from (the spec\'s region mode).')
@click.option('--baseline', type=BaselineChoice(), default='shipped', show_default=True,
              help='Start from the shipped converged baseline, train one now (--baseline-kimg), or a baseline file '
                   '(`linkgan baseline --out FILE`).')
@click.option('--seed', type=click.IntRange(min=0), default=DEMO_DEFAULTS['seed'], show_default=True,
              help='Seeds the fine-tunes\' data and latents and the evaluation.')
@click.option('--baseline-kimg', type=click.FloatRange(min=0, min_open=True), default=DEMO_DEFAULTS['baseline_kimg'],
              show_default=True, help='Thousands of images for --baseline train.')
@click.option('--finetune-kimg', type=click.FloatRange(min=0, min_open=True), default=DEMO_DEFAULTS['finetune_kimg'],
              show_default=True, help='Thousands of images for each fine-tune (control and linked).')
@click.option('--from-scratch', 'scratch_kimg', type=click.FloatRange(min=0, min_open=True), default=None,
              help='Train control and linked from scratch for this many kimg (batch --batch, the same initial '
                   'weights) instead of fine-tuning the baseline: the study\'s strongest recipe (docs/study.md; '
                   '160 kimg: about 25 minutes on 2 cores).')
@click.option('--samples', type=click.IntRange(min=16), default=DEMO_DEFAULTS['samples'], show_default=True,
              help='Evaluation samples per model, and images per set for the quality distance.')
@click.option('--batch', type=click.IntRange(min=2), default=DEMO_DEFAULTS['batch'], show_default=True,
              help='Images per iteration of --baseline train.')
@click.option('--finetune-batch', type=click.IntRange(min=2), default=DEMO_DEFAULTS['finetune_batch'], show_default=True,
              help='Images per fine-tune iteration.')
@click.option('--resolution', type=click.Choice(['16', '32', '64']), default=None,
              help='Image size for --baseline train (default 32; other baselines keep their own).')
@click.option('--cells', type=click.Choice(['1', '2', '4', '8']), default=None,
              help='Scene grid for --baseline train (default 2: the quadrants).')
@click.option('--channels', type=click.IntRange(min=4), default=None,
              help='Generator channels for --baseline train (default 32).')
@click.option('--threads', type=click.IntRange(min=0), default=DEMO_DEFAULTS['threads'], show_default=True,
              help='torch threads per process (0: torch\'s default).')
@click.option('--serial', is_flag=True, help='Run the two fine-tunes one after the other in this process.')
def demo_command(outdir, spec_path, scene, mask_mode, baseline, seed, baseline_kimg, finetune_kimg, scratch_kimg, samples,
                 batch, finetune_batch, resolution, cells, channels, threads, serial):
    """Fine-tune a converged toy generator with LinkLoss and without (the control); measure both.

    Writes OUTDIR/report.json, report.md, leakage.png, samples.png, baseline.pt, control.pt and linked.pt.
    """
    if scratch_kimg is not None:
        source = click.get_current_context().get_parameter_source
        given = [f'--{n.replace("_", "-")}' for n in ('finetune_kimg', 'finetune_batch')
                 if source(n) == click.core.ParameterSource.COMMANDLINE]
        if given:
            raise click.UsageError(f'{", ".join(given)} do not apply with --from-scratch (it trains both runs for '
                                   'its own length at --batch)')
    if baseline != 'train':
        given = [name for name, v in (('--resolution', resolution), ('--cells', cells), ('--channels', channels)) if v]
        if given:
            raise click.UsageError(f'{", ".join(given)} only apply to --baseline train (a baseline file fixes the networks)')
    if spec_path is not None:
        with option_errors('--spec', SpecError):
            demo_spec(spec_path, w_dim=DEMO_DEFAULTS['w_dim'], resolution=int(resolution or DEMO_DEFAULTS['resolution']),
                      semantic=scene in LANDSCAPE_SCENES)
    click.echo(f'linkgan demo: baseline {baseline}; outputs in {outdir}')
    options = dict(scene=scene, mask_mode=mask_mode, seed=seed, baseline_kimg=baseline_kimg, finetune_kimg=finetune_kimg,
                   scratch_kimg=scratch_kimg, samples=samples, batch=batch,
                   finetune_batch=finetune_batch, resolution=int(resolution) if resolution else None,
                   cells=int(cells) if cells else None, channels=channels, threads=threads)
    report = run_demo(outdir, spec_path, baseline=baseline, parallel=not serial, **options)
    click.echo(report_markdown(report))
    if samples < 256:
        click.echo(f'note: {samples} evaluation samples; use >= 256 for numbers you report.')

#----------------------------------------------------------------------------
