"""The demo (`linkgan demo`, cli/demo.py): fine-tune a converged toy StyleGAN2-ADA-shaped generator with LinkLoss and, side by side, with
the base loss alone (the control), then measure both against each other as the paper's protocols do.

Steps (CPU, about 5 minutes on 2 cores with the defaults):
    1. Baseline: by default the converged baseline shipped in the package (`assets/demo_baseline.pt`: the toy sg2ada
       G and its minibatch-stddev D trained on procedural scenes for 160 kimg; `linkgan-research baseline --kimg 160`
       reproduces it, demo/baseline.py). `--baseline train` trains one from scratch for --baseline-kimg instead;
       `--baseline FILE` uses another baseline file. The networks' sizes and the scene are the baseline's (a
       landscape baseline serves both landscape scenes); `--from-scratch` takes only its sizes and keeps --scene.
    2. Two fine-tunes of copies of the baseline's G, D and G_ema, with the same recipe, length, data order and
       latents (demo/training.py), run in two processes with one thread each:
         control: the base loss only;   linked: LinkLoss (the same base loss plus the link term).
       The paper fine-tunes converged generators; the control keeps extra training from being credited to LinkGAN.
       `--from-scratch KIMG` instead trains both from the same fresh networks for KIMG at --batch, the link term
       acting from the first step (the study's strongest recipe, examples/research/results/study.md; 160 kimg: about
       25 minutes on 2 cores).
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
(assets/faces_baseline.pt, `linkgan-research baseline --scene faces --kimg 320`) is trained like the cells'. A scene whose
baseline file is missing makes `--baseline shipped` refuse with what to run instead (demo_baseline.shipped_baseline).
A user spec (`--spec FILE`) keeps its
own values; the fields it leaves out take the demo's recipe rather than the library DEFAULTS.
"""

import json
import os
import time

import torch

from linkgan_plugin.analysis.datasets import generated_images
from linkgan_plugin.analysis.generator import GeneratorAdapter
from linkgan_plugin.analysis.metrics import resample_offsets
from linkgan_plugin.analysis.pictures import interpolation_frames, save_gif
from linkgan_plugin.analysis.report import codes_and_resamples, leakage_picture, report_markdown, samples_picture, summarise
from linkgan_plugin.demo.baseline import (has_shipped_baseline, load_baseline_state, save_baseline, shipped_baseline,
                                          train_baseline_snapshots)
from linkgan_plugin.demo.evaluation import evaluate_model, real_scenes
from linkgan_plugin.demo.landscape import colour_labels
from linkgan_plugin.demo.scenes import scene_of
from linkgan_plugin.demo.segmenter import landscape_spec, make_segmenter_file, segmenter_accuracy
from linkgan_plugin.demo.settings import DEMO_DEFAULTS, demo_spec, GOALS, LOSS_KWARGS, TARGETS
from linkgan_plugin.demo.training import run_finetunes
from linkgan_plugin.progress import open_bar
from linkgan_plugin.segmenters import load_segmenter
from linkgan_plugin.toy.checkpoint import networks_from_checkpoint, save_checkpoint

#----------------------------------------------------------------------------

def resolve_baseline(choice, settings, outdir, bar=None):
    """(path of the baseline file, its dict) for --baseline shipped | train | FILE; `train` trains one now (saved in
    outdir, which it creates); the shipped one is the settings' scene's (baseline.shipped_baseline: a LinkganError,
    before anything is written, when none ships)."""
    if choice == 'train':
        trainer = train_baseline_snapshots(settings, settings['baseline_kimg'], bar=bar)
        path = os.path.join(outdir, '.baseline-train.pt')
        save_baseline(path, trainer, settings)
    else:
        path = shipped_baseline(settings['scene']) if choice == 'shipped' else choice
    return path, load_baseline_state(path)

#----------------------------------------------------------------------------
# Report.


STRONGER_MINUTES = 25           # `linkgan demo --from-scratch 160` on the cells scene, 2 cores (docs/demo.md).


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
                'like-for-like comparison with the paper); examples/research/results/study.md has every recipe '
                'measured.')
    return (f'**For stronger linkage**: `linkgan demo --from-scratch 160{scene}` trains both networks from scratch with '
            f'the link term from the first step (the cells scene: about {STRONGER_MINUTES} minutes on 2 '
            f'cores{sizes}); a {settings["finetune_kimg"]:g}-kimg fine-tune only moves the locality part way '
            '(examples/research/results/study.md has every recipe measured).')


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


def demo_markdown(report):
    """report.md (also printed): analysis.report's layout with the demo's intro, advice and footer."""
    return report_markdown(report, '# linkgan demo report', demo_intro(report), stronger_linkage_line(report['settings']),
                           demo_footer(report))


def demo_footer(report):
    """The demo report's closing lines: where the targets are, and the wall time of each stage."""
    t = report['timings']
    return ['The research targets this project tracks (demo/settings.py TARGETS and GOALS) and whether each '
            'holds are in report.json (`targets`, `goals`).', '',
            f'Total {report["seconds"]:.0f} s (baseline {t["baseline"]:.0f} s, fine-tunes and their evaluation '
            f'{t["finetunes"]:.0f} s, baseline evaluation {t["baseline_evaluation"]:.0f} s, outputs {t["outputs"]:.0f} s).']


#----------------------------------------------------------------------------
# Outputs.

def save_demo_checkpoint(path, G, D, G_ema, spec, role, kimg, settings):
    """One of the demo's checkpoints (see module docstring); `spec` is stored as trained with only for the linked model."""
    save_checkpoint(path, G_ema, 'sg2ada', spec if role == 'linked' else None, G=G, D=D, eval_spec=spec, role=role,
                    kimg=kimg, loss_kwargs=dict(LOSS_KWARGS), settings=dict(settings))


def prepare_semantic(outdir, settings, bar=None):
    """The landscape demo's segmenter, trained now on procedural (image, label) pairs and saved as TorchScript in
    outdir (a torch.export program), named in the spec by file exactly as a user's segmenter would be. Returns its spec, path, accuracy."""
    path = os.path.join(outdir, 'segmenter.pt2')
    steps = 400
    with open_bar(bar, steps, 'segmenter') as b:
        made = make_segmenter_file(path, steps=steps, resolution=settings['resolution'], seed=settings['seed'],
                                   progress=b.update, skies=scene_of(settings).skies)
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
    gen, bound, ws, ws_new = codes_and_resamples(G_ema, spec, columns, seed)
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


def run_demo(outdir, spec_source=None, bar=None, baseline='shipped', parallel=True, **options):
    """Runs the whole demo (module docstring); returns the report dict (also written to outdir). `bar`: a progress
    bar factory (linkgan_plugin.progress), None for none."""
    start = time.perf_counter()
    settings = {**DEMO_DEFAULTS, **{k: v for k, v in options.items() if v is not None}}
    timer = _StageTimer()
    baseline_path, base = resolve_baseline(baseline, settings, outdir, bar)     # Refuses before writing anything.
    os.makedirs(outdir, exist_ok=True)
    for key in ('resolution', 'cells', 'w_dim', 'z_dim', 'channels'):
        settings[key] = base['settings'][key]           # The networks and scenes are the baseline's.
    base_scene = base['settings'].get('scene', 'cells')
    # A landscape baseline serves both landscape scenes; runs from scratch take only the baseline's sizes.
    if not (settings.get('scratch_kimg') or (scene_of(settings).semantic and scene_of(base_scene).semantic)):
        settings['scene'] = base_scene
    semantic = prepare_semantic(outdir, settings, bar) if scene_of(settings).semantic else None
    spec = demo_spec(spec_source if spec_source is not None or semantic is None else semantic['spec'],
                     w_dim=settings['w_dim'], resolution=settings['resolution'], semantic=semantic is not None,
                     scene=settings['scene'])
    timer.lap('baseline')
    if settings['threads']:
        torch.set_num_threads(settings['threads'])
    runs = run_finetunes(baseline_path, spec, settings, outdir, bar=bar, parallel=parallel)
    timer.lap('finetunes')
    torch.set_num_threads(max(2, settings['threads'] or 1))
    evaluations = {'baseline': evaluate_model(networks_from_checkpoint(base)[2], spec, settings),
                   'control': runs['control']['evaluation'], 'linked': runs['linked']['evaluation']}
    timer.lap('baseline_evaluation')
    write_outputs(outdir, spec, settings, base, runs, semantic)
    if baseline == 'train':
        os.remove(baseline_path)
    timer.lap('outputs')
    report = {**summarise(evaluations, spec, TARGETS, GOALS), 'spec_names': spec.names,
              'baseline': {'source': baseline if baseline in ('shipped', 'train') else os.path.abspath(baseline),
                           'kimg': base['kimg'], 'scene': base_scene},
              'details': evaluations, 'spec': spec.to_dict(), 'settings': settings, 'loss_kwargs': LOSS_KWARGS,
              'segmenter': semantic and {k: v for k, v in semantic.items() if k != 'spec'},
              'timings': {**timer.laps, 'runs': {k: runs[k]['seconds'] for k in ('control', 'linked')}},
              'seconds': time.perf_counter() - start}
    with open(os.path.join(outdir, 'report.json'), 'w', encoding='utf-8') as f:
        json.dump(report, f, indent=2)
    with open(os.path.join(outdir, 'report.md'), 'w', encoding='utf-8') as f:
        f.write(demo_markdown(report))
    return report


class _StageTimer:
    """Wall seconds of consecutive stages: lap(name) closes the stage that ran since the previous lap."""

    def __init__(self):
        self.laps, self._t = {}, time.perf_counter()

    def lap(self, name):
        now = time.perf_counter()
        self.laps[name], self._t = now - self._t, now

#----------------------------------------------------------------------------
#----------------------------------------------------------------------------
