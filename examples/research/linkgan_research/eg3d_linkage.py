"""`linkgan-research eg3d-linkage`: the paper's 3D claim (LinkGAN links EG3D's RGB and its geometry) at the scale our CPUs train.

    linkgan-research eg3d-linkage --kimg 100 --out runs/eg3d_linkage                 # three runs, evaluated, a picture
    run_experiment(kimg=100, out='runs/eg3d_linkage', link='mouth')         # the same from Python

What is trained. The toy EG3D generator (toy/networks.py ToyGeneratorEG3D: z [N, 32] -> w [N, num_ws, 64]; a 25-value
camera; outputs 'image' [N, 3, R, R], 'image_raw' [N, 3, R/2, R/2] and 'image_depth' [N, 1, R/2, R/2]) and its toy
discriminator (it sees 'image' and 'image_raw') are trained FROM SCRATCH on the procedural aligned faces
(demo/faces.py, R x R, values in [-1, 1]) three times, from the same initial weights (torch.manual_seed(seed + 1)),
the same data order (the face stream's seed + 1), the same latents and generator cameras (the trainer's own stream,
latent_seed = seed + 1: toy/loop.ToyTrainer draws gen_z and the yaw-jittered gen_c from it) and the same real-image
cameras (a stream of their own, below):

    control        the toy EG3D base loss only (toy/losses.ToyEG3DLoss: logistic loss, lazy R1, the density-style
                   regulariser of image_depth);
    linked         LinkLoss around it with one face-part box link (`--link` mouth | eyes | nose: the face preset's
                   box, regions.PRESETS_256, linked to the 16 axes FACES_SPEC gives it, of w_dim 64), masked on
                   eg3d_targets ['image', 'image_raw'] (the spec default);
    linked_depth   the same link masked on ['image', 'image_raw', 'image_depth'] (the geometry too).

The link recipe is the faces demo's (demo/settings.DEMO_SPEC_DEFAULTS: lambda_in = lambda_out = 5, interval 8,
perturbed fakes to D); the link pass renders from the training camera (eg3d_camera 'sampled'; the toy's camera only
mixes feature planes, so the face stays where the boxes are at any camera). Training recipe (TRAINING): batch `--batch`,
Adam lr 0.0025, betas (0, 0.99), G_reg_interval 4 (the density regulariser), D_reg_interval 16 (R1, gamma 1), G_ema
half-life 0.5 kimg, neural rendering resolution R/2 throughout. The faces carry no pose: the real images' camera labels
are drawn from the same yaw-jittered distribution as the generator's (upstream.cameras.random_cameras, a generator
seeded seed + REAL_CAMERA_SEED_OFFSET), so a label says nothing about real or fake.

Resuming. Each run keeps OUT/runs/<run>.state.pt (torch.save, weights_only-readable): G, D, G_ema, both Adam states,
the step count, the RNG states (global, latents + cameras, data, real cameras), LinkLoss's iteration count, the
training seconds. It is written every `--snap` kimg and at the end, so an interrupted run resumes where it stopped,
bit for bit the run it would have been. A finished run (its steps done and OUT/runs/<run>.pt written) is not trained
again; a larger --kimg continues it. Settings other than --kimg and --samples must match what OUT was started with.

What is measured (on each run's final G_ema, fixed-seed samples, every run on the same latents and perturbations):
  1. Linkage, analysis.evaluate.eval_report (the `linkgan eval` report) through a GeneratorAdapter with the frontal
     camera, outputs image, image_raw and image_depth, `--samples` samples, seed `--seed`: per output mse_i, mse_o,
     edit_i, edit_o, keep_o (masked sums / all values C*H*W, and `_region`: / the region's values), locality =
     edit_o_region / edit_i_region (per-value change outside per unit inside under resampling; lower is more local).
     The box is resized to each output's size. image_depth has its own units (the toy's depth is not in [-1, 1]):
     compare its values across runs, not with RGB; its locality is unit-free.
  2. Quality of 'image' against real faces (demo/evaluation.py, the faces demo's measure): SWD x1e3 (lower is
     better) and precision / recall (higher is better; the faces' factor space at 32 px, else generic features) of
     `--samples` samples against as many held-out real faces, each beside its real-vs-real floor.
  3. Ratios linked / control and linked_depth / control per output and metric (analysis.evaluate.compare_reports), and
     linked_depth / linked (what adding image_depth to the targets changes).
  4. edit.png: for faces of EDIT_SEEDS, the original and EDIT_NUM resamplings of the linked axes (and of the other
     axes), with mean |change| heatmaps, per run side by side (editing/edit.py render_edits, analysis/pictures.py
     draw_grid): image rows each with its depth row below (grey, near = bright), then image_raw rows.

Outputs in OUT: runs/<run>.pt (toy checkpoints: `linkgan eval`, `edit` load them), runs/<run>.state.pt,
runs/<run>_eval.json (`linkgan eval --out` files with 'quality': `linkgan eval --compare` reads them),
eg3d_linkage.json, eg3d_linkage.md, edit.png.

eg3d_linkage.json: {"settings": {...}, "spec", "runs": {run: {"eg3d_targets", "kimg", "steps", "seconds" (training wall time, all
segments), "sec_per_kimg", "cpu_seconds" and "cpu_sec_per_kimg" (this process's CPU time: less sensitive to other
work on the machine), "trained_now", "segments", "load_average" (1-minute, at the end of its last segment; the
machine's share), "init_sha256", "checkpoint", "evaluation"}}, "metrics": {run: {output: {metric: mean, ...}}},
"quality": {run: {"swd", "swd_floor", "recall", "precision", "recall_floor", "precision_floor", "features"}},
"ratios": {"linked" | "linked_depth" | "linked_depth_vs_linked": {output: {metric: ratio}}},
"quality_ratios": {same keys: {"swd", "recall", "precision"}}, "edit": {run: {output: {"linked_in", "linked_out",
"complement_in", "complement_out"}}} (squared change per region value, mean over the picture's faces and
resamplings), "seconds": {"training", "evaluation", "picture"}}.
"""

import copy
import hashlib
import json
import math
import os
import time

import click
import torch

from linkgan_plugin.analysis.datasets import generated_images
from linkgan_plugin.analysis.evaluate import compare_reports, eval_report, json_safe, quality_ratios, SCALE
from linkgan_plugin.analysis.network_loading import load_network, make_adapter
from linkgan_plugin.analysis.pictures import draw_grid, stack_horizontal, stack_vertical
from linkgan_plugin.checks import LinkganError, OptionError
from linkgan_plugin.cli.errors import Command
from linkgan_plugin.cli.options import progress_bar
from linkgan_plugin.demo.scenes import scene_stream
from linkgan_plugin.demo.evaluation import scene_quality
from linkgan_plugin.demo.faces import MIN_RESOLUTION
from linkgan_plugin.demo.settings import DEMO_DEFAULTS, demo_spec, FACES_SPEC
from linkgan_plugin.demo.training import kimg_to_steps
from linkgan_plugin.editing.edit import (change_per_pixel, drawing_masks, link_offsets, region_masks, render_edits,
                                         seed_latents)
from linkgan_plugin.loss import LinkLoss
from linkgan_plugin.progress import open_bar
from linkgan_plugin.regions import fixed_region_mask
from linkgan_plugin.regularizer import BoundSpec
from linkgan_plugin.toy.checkpoint import save_checkpoint, state_copy
from linkgan_plugin.toy.loop import build_loss, ToyTrainer
from linkgan_plugin.toy.networks import make_toy_networks
from linkgan_plugin.upstream.cameras import random_cameras
from linkgan_plugin.upstream.flavours import EG3D

#----------------------------------------------------------------------------
# Settings.

# The runs: name -> the link's eg3d_targets (None: the control, no link term).
RUNS = {'control': None, 'linked': ['image', 'image_raw'], 'linked_depth': ['image', 'image_raw', 'image_depth']}
OUTPUTS = EG3D.outputs                      # ('image', 'image_raw', 'image_depth'): every output is measured.
LINKS = {link['name']: link for link in FACES_SPEC['links']}     # eyes 0:16, nose 16:32, mouth 32:48 of w_dim 64.

# Defaults shared by the API and the CLI.
DEFAULTS = dict(seed=0, batch=16, resolution=32, link='mouth', samples=1024, channels=DEMO_DEFAULTS['channels'], snap=2.0)

# The training recipe (module docstring); the neural rendering resolution is R / 2.
TRAINING = {'G_reg_interval': 4, 'D_reg_interval': 16, 'lr': 0.0025, 'betas': [0.0, 0.99], 'ema_kimg': 0.5}
LOSS_KWARGS = {'r1_gamma': 1.0, 'style_mixing_prob': 0.0}

REAL_CAMERA_SEED_OFFSET = 4_000_037         # The real images' camera labels: a stream nothing else draws from.
EVAL_CAMERA = 'frontal'
EVAL_BATCH = 64
EDIT_SEEDS = (0, 1, 2)
EDIT_NUM = 3
EDIT_TILE = 96
STATE_FORMAT = 1


def check_options(kimg, resolution, link, batch=DEFAULTS['batch'], samples=DEFAULTS['samples']):
    """Click errors naming the option: kimg <= 0, an unknown link, a resolution that is not a power of two >= 16,
    a batch below 4 (the discriminator's minibatch-stddev groups), samples below 2."""
    if not (kimg > 0 and math.isfinite(kimg)):
        raise OptionError('--kimg', f'{kimg:g}: must be a number > 0')
    if link not in LINKS:
        raise OptionError('--link', f'{link!r} is not a face link (one of {", ".join(LINKS)})')
    if resolution < MIN_RESOLUTION or resolution & (resolution - 1):
        raise OptionError('--resolution', f'{resolution}: must be a power of two >= {MIN_RESOLUTION} (the faces\' smallest size)')
    if batch < 4:
        raise OptionError('--batch', f'{batch}: must be >= 4 (the discriminator\'s minibatch-stddev group)')
    if samples < 2:
        raise OptionError('--samples', f'{samples}: must be >= 2')


def experiment_settings(seed=DEFAULTS['seed'], batch=DEFAULTS['batch'], resolution=DEFAULTS['resolution'],
                        link=DEFAULTS['link'], channels=DEFAULTS['channels']):
    """Everything the three trainings depend on (plain JSON values)."""
    return {'scene': 'faces', 'seed': seed, 'batch': batch, 'resolution': resolution, 'link': link,
            'channels': channels, 'z_dim': DEMO_DEFAULTS['z_dim'], 'w_dim': DEMO_DEFAULTS['w_dim'],
            'neural_rendering_resolution': resolution // 2, 'training': copy.deepcopy(TRAINING),
            'loss_kwargs': {**LOSS_KWARGS, 'neural_rendering_resolution_initial': resolution // 2}}


def link_spec(settings, targets=None):
    """The LinkSpec of the settings' face link (the demo's recipe), masked on `targets` (None: the spec default)."""
    source = {'links': [LINKS[settings['link']]]}
    if targets is not None:
        source['eg3d_targets'] = list(targets)
    return demo_spec(source, w_dim=settings['w_dim'], scene='faces')

#----------------------------------------------------------------------------
# One run: networks, trainer, state.

def make_networks(settings):
    """(G, D): the toy EG3D networks of the settings, from the initial weights every run shares (seed + 1)."""
    torch.manual_seed(settings['seed'] + 1)
    return make_toy_networks('eg3d', z_dim=settings['z_dim'], w_dim=settings['w_dim'],
                             img_resolution=settings['resolution'], channels=settings['channels'],
                             neural_rendering_resolution=settings['neural_rendering_resolution'])


def weights_sha256(*modules):
    """SHA-256 of the modules' state dicts (names and bytes): equal for runs that start from the same weights."""
    h = hashlib.sha256()
    for module in modules:
        for key, value in state_copy(module).items():
            h.update(key.encode())
            h.update(value.cpu().numpy().tobytes())
    return h.hexdigest()


class Run:
    """One of RUNS: a ToyTrainer on the faces with its streams, saved to and restored from its state file."""

    def __init__(self, name, settings, outdir):
        self.name, self.settings = name, settings
        self.state_path = os.path.join(outdir, 'runs', f'{name}.state.pt')
        self.checkpoint = os.path.join(outdir, 'runs', f'{name}.pt')
        self.eval_path = os.path.join(outdir, 'runs', f'{name}_eval.json')
        self.spec = None if RUNS[name] is None else link_spec(settings, RUNS[name])
        G, D = make_networks(settings)
        self.init_sha256 = weights_sha256(G, D)
        self.loss = build_loss('eg3d', G, D, spec=None if self.spec is None else self.spec.to_dict(),
                               **settings['loss_kwargs'])
        t = settings['training']
        self.trainer = ToyTrainer('eg3d', G, D, self.loss, batch=settings['batch'], G_reg_interval=t['G_reg_interval'],
                                  D_reg_interval=t['D_reg_interval'], lr=t['lr'], betas=tuple(t['betas']),
                                  ema_kimg=t['ema_kimg'], latent_seed=settings['seed'] + 1)
        self.stream = scene_stream(settings, settings['batch'], seed=settings['seed'] + 1)
        self.real_cameras = torch.Generator().manual_seed(settings['seed'] + REAL_CAMERA_SEED_OFFSET)
        self.seconds, self.cpu_seconds, self.segments, self.load_average = 0.0, 0.0, 0, None
        if os.path.isfile(self.state_path):
            self._restore(torch.load(self.state_path, map_location='cpu', weights_only=True))

    @property
    def steps(self):
        return self.trainer.batch_idx

    def _optimizers(self):
        return list({id(opt): opt for _, _, opt, _ in self.trainer.phases}.values())    # G's, then D's.

    def _restore(self, state):
        saved, now = json.loads(state['settings']), json.loads(json.dumps(self.settings))
        differ = sorted(k for k in set(saved) | set(now) if saved.get(k) != now.get(k))
        if differ:
            raise LinkganError(f'{self.state_path} was trained with other settings (' + '; '.join(
                f'{k}: {saved.get(k)!r} there, {now.get(k)!r} now' for k in differ) + '); use those or another --out')
        tr = self.trainer
        tr.G.load_state_dict(state['G_state'])
        tr.D.load_state_dict(state['D_state'])
        tr.G_ema.load_state_dict(state['G_ema_state'])
        for opt, opt_state in zip(self._optimizers(), state['optimizers']):
            opt.load_state_dict(opt_state)
        tr.batch_idx, tr.cur_nimg = int(state['steps']), int(state['cur_nimg'])
        if isinstance(self.loss, LinkLoss):         # Its lazy schedule continues: iteration k is batch k.
            self.loss.iteration, self.loss.link_steps = tr.batch_idx - 1, int(state['link_steps'])
        tr.latents.set_state(state['rng_latents'])
        self.stream.generator.set_state(state['rng_data'])
        self.real_cameras.set_state(state['rng_real_cameras'])
        self._global_rng = state['rng_global']
        self.seconds, self.cpu_seconds = float(state['seconds']), float(state['cpu_seconds'])
        self.segments = int(state['segments'])
        self.load_average = state.get('load_average')

    def save_state(self):
        tr = self.trainer
        state = {'format': STATE_FORMAT, 'run': self.name, 'settings': json.dumps(self.settings, sort_keys=True),
                 'G_state': state_copy(tr.G), 'D_state': state_copy(tr.D), 'G_ema_state': state_copy(tr.G_ema),
                 'optimizers': [opt.state_dict() for opt in self._optimizers()], 'steps': tr.batch_idx,
                 'cur_nimg': tr.cur_nimg, 'link_steps': getattr(self.loss, 'link_steps', 0),
                 'rng_latents': tr.latents.get_state(), 'rng_data': self.stream.generator.get_state(),
                 'rng_real_cameras': self.real_cameras.get_state(), 'rng_global': torch.get_rng_state(),
                 'seconds': self.seconds, 'cpu_seconds': self.cpu_seconds, 'segments': self.segments,
                 'load_average': self.load_average}
        os.makedirs(os.path.dirname(self.state_path), exist_ok=True)
        torch.save(state, self.state_path + '.tmp')
        os.replace(self.state_path + '.tmp', self.state_path)

    def finished(self, steps):
        return self.steps >= steps and os.path.isfile(self.checkpoint)

    def check_length(self, steps):
        """A click error when this run has already trained more than `steps` iterations."""
        if self.steps > steps:
            raise LinkganError(f'{self.state_path} has trained {self.steps} iterations '
                                       f'({self.trainer.cur_nimg / 1000:g} kimg), more than --kimg asks for ({steps}); '
                                       'use a larger --kimg or another --out')

    def train(self, steps, snap_steps, progress=None):
        """Trains up to `steps` iterations in total (state saved every snap_steps and at the end), then writes the
        checkpoint. Returns the number of iterations trained now."""
        self.check_length(steps)
        if hasattr(self, '_global_rng'):
            torch.set_rng_state(self._global_rng)
        else:
            torch.manual_seed(self.settings['seed'] + 2)    # What the losses draw (ray jitter, perturbations).
        done = 0
        if self.steps < steps:
            self.segments += 1
        start, cpu_start = time.perf_counter(), time.process_time()
        while self.steps < steps:
            real, _ = next(self.stream)
            self.trainer.step(real, random_cameras(real.shape[0], generator=self.real_cameras))
            done += 1
            if progress is not None:
                progress(1)
            if self.steps % snap_steps == 0 or self.steps == steps:
                self.seconds += time.perf_counter() - start
                self.cpu_seconds += time.process_time() - cpu_start
                start, cpu_start = time.perf_counter(), time.process_time()
                self.load_average = os.getloadavg()[0] if hasattr(os, 'getloadavg') else None
                self.save_state()
        if done or not os.path.isfile(self.checkpoint):
            save_checkpoint(self.checkpoint, self.trainer.G_ema, 'eg3d', self.spec, G=self.trainer.G, D=self.trainer.D,
                            role='control' if self.spec is None else 'linked', eval_spec=link_spec(self.settings),
                            kimg=self.trainer.cur_nimg / 1000, settings={**self.settings, 'run': self.name},
                            loss_kwargs=self.settings['loss_kwargs'],
                            seconds={'training': self.seconds, 'sec_per_kimg': self.sec_per_kimg,
                                     'cpu_training': self.cpu_seconds})
        return done

    def _per_kimg(self, seconds):
        kimg = self.trainer.cur_nimg / 1000
        return seconds / kimg if kimg > 0 else None

    @property
    def sec_per_kimg(self):
        return self._per_kimg(self.seconds)

    def summary(self, trained_now):
        return {'eg3d_targets': RUNS[self.name], 'kimg': self.trainer.cur_nimg / 1000, 'steps': self.steps,
                'seconds': self.seconds, 'sec_per_kimg': self.sec_per_kimg, 'cpu_seconds': self.cpu_seconds,
                'cpu_sec_per_kimg': self._per_kimg(self.cpu_seconds), 'trained_now': trained_now,
                'segments': self.segments, 'load_average': self.load_average, 'init_sha256': self.init_sha256,
                'checkpoint': os.path.abspath(self.checkpoint), 'evaluation': os.path.abspath(self.eval_path)}


def train_runs(settings, kimg, outdir, snap=DEFAULTS['snap'], bar=None):
    """Trains the runs not finished yet, one after another, with one progress bar. Returns {run: summary}."""
    steps = kimg_to_steps(kimg, settings['batch'])
    snap_steps = kimg_to_steps(snap, settings['batch'])
    runs = {name: Run(name, settings, outdir) for name in RUNS}
    for run in runs.values():           # Fail on a run trained longer than asked before training the others.
        run.check_length(steps)
    todo = {name: max(0, steps - run.steps) for name, run in runs.items() if not run.finished(steps)}
    summaries = {}
    label = f'train {" | ".join(todo) or "nothing"} ({len(RUNS) - len(todo)} of {len(RUNS)} done before)'
    with open_bar(bar, sum(todo.values()), label) as b:
        for name, run in runs.items():
            trained = run.train(steps, snap_steps, b.update) if name in todo else 0
            summaries[name] = run.summary(trained_now=trained > 0)
    return summaries


#----------------------------------------------------------------------------
# Evaluation.

def quality_settings(settings, samples):
    """The demo evaluation's settings (demo/evaluation.py) for the faces at this resolution."""
    return {'scene': 'faces', 'resolution': settings['resolution'], 'samples': samples, 'seed': settings['seed']}


def face_quality(gen, settings, samples):
    """Quality of `samples` 'image' samples (fixed seeds, the adapter's camera) against as many held-out real faces
    (demo.evaluation.scene_quality: realism.measure_quality's schema), plus 'data'."""
    fake = generated_images(gen, samples, seed=settings['seed'])
    out = scene_quality(fake, quality_settings(settings, samples))
    return {'data': f'procedural faces (demo/faces.py, {settings["resolution"]} px, held-out seed)', **out}


def evaluate_run(run_name, checkpoint, settings, samples, progress=None):
    """(eval_report with 'quality', GeneratorAdapter) of a run's final G_ema: every output, the frontal camera.

    The toy EG3D's ray jitter draws from the global RNG (the metrics replay it between an original and its variants,
    but its values still enter every render): the evaluation runs on a forked global RNG seeded with the settings'
    seed, so every run and every rerun is rendered with the same jitter, and the caller's RNG is left as it was."""
    net = load_network(checkpoint)
    gen = make_adapter(net, camera=EVAL_CAMERA, device='cpu')
    spec = link_spec(settings)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings['seed'])
        report = eval_report(net, gen, spec, f'eg3d-linkage: the {settings["link"]} face link', list(OUTPUTS),
                             samples, EVAL_BATCH, settings['seed'], camera=EVAL_CAMERA, progress=progress)
        report['quality'] = face_quality(gen, settings, samples)
    report['run'] = run_name
    return report, gen


def _quality_summary(q):
    cov, floor = q.get('coverage') or {}, q.get('swd_floor')
    cfloor = cov.get('floor') or {}
    return {'swd': q['swd']['mean'], 'swd_floor': floor['mean'] if floor else None, 'recall': cov.get('recall'),
            'precision': cov.get('precision'), 'recall_floor': cfloor.get('recall'),
            'precision_floor': cfloor.get('precision'), 'features': cov.get('features')}


def summarise(reports, link):
    """metrics, quality, ratios and quality_ratios of eg3d_linkage.json from the runs' eval reports."""
    metrics = {run: {o: r['results'][o][link] for o in OUTPUTS} for run, r in reports.items()}
    pairs = {'linked': ('linked', 'control'), 'linked_depth': ('linked_depth', 'control'),
             'linked_depth_vs_linked': ('linked_depth', 'linked')}
    ratios, qratios = {}, {}
    for key, (a, b) in pairs.items():
        cmp = compare_reports(reports[a], reports[b])
        ratios[key] = {o: cmp['ratios'][o][link] for o in OUTPUTS}
        qratios[key] = quality_ratios(reports[a]['quality'], reports[b]['quality'])
    return {'metrics': metrics, 'quality': {run: _quality_summary(r['quality']) for run, r in reports.items()},
            'ratios': ratios, 'quality_ratios': qratios}

#----------------------------------------------------------------------------
# The picture.

def _only(renders, output):
    """render_edits' dict with `output` as its 'image' and nothing else (draw_grid draws 'image' rows)."""
    pick = lambda d: {'image': d[output]}
    return {'original': pick(renders['original']), 'linked': [pick(d) for d in renders['linked']],
            'complement': [pick(d) for d in renders['complement']]}


@torch.no_grad()
def edit_picture(gens, spec, seed=0, seeds=EDIT_SEEDS, num=EDIT_NUM, tile=EDIT_TILE):
    """The runs' edits of the spec's first link side by side (module docstring, step 4).

    Args:
        gens: {run: GeneratorAdapter} (EG3D, the frontal camera).
    Returns:
        (PIL image, {run: {output: {'linked_in', 'linked_out', 'complement_in', 'complement_out'}}}).
    """
    link = spec.links[0]
    labels = [f'seed {s}' for s in seeds]
    columns, numbers = [], {}
    for run, gen in gens.items():
        bound = BoundSpec(spec, gen.w_dim)
        generator = torch.Generator().manual_seed(seed)       # The same fresh latents for every run.
        c = gen.default_c(len(seeds), generator=generator)
        ws = gen.map(seed_latents(seeds, gen.z_dim).to(gen.device), c)
        linked, complement = link_offsets(gen, bound, ws, 0, num, 'resample', c=c, generator=generator)
        with torch.random.fork_rng(devices=[]):        # The same ray jitter for every run (evaluate_run).
            torch.manual_seed(seed)
            renders = render_edits(gen, ws, linked, complement, c)
        outlines = drawing_masks(bound, 0, region_masks(bound, 0, renders['original']['image']), tile)
        title = f'{run}: {link.name} axes resampled'
        grid, _ = draw_grid(renders, outlines, labels, f'{title}; image, depth below', tile)
        raw, _ = draw_grid(_only(renders, 'image_raw'), outlines, labels, f'{title}; image_raw', tile)
        columns.append(stack_vertical([grid, raw]))
        numbers[run] = {}
        for output in OUTPUTS:
            x = renders['original'][output]
            mask = fixed_region_mask(link.region, x.shape[2], x.shape[3])[None].expand(x.shape[0], -1, -1)
            li, lo = change_per_pixel(x, [r[output] for r in renders['linked']], mask)
            ci, co = change_per_pixel(x, [r[output] for r in renders['complement']], mask)
            numbers[run][output] = {'linked_in': float(li.mean()), 'linked_out': float(lo.mean()),
                                    'complement_in': float(ci.mean()), 'complement_out': float(co.mean())}
    return stack_horizontal(columns), numbers

#----------------------------------------------------------------------------
# Report.

def _num(value, fmt='.3f'):
    if value is None:
        return 'n/a'
    if isinstance(value, float) and math.isinf(value):
        return 'inf'
    return format(value, fmt)


def report_markdown(report):
    s, runs = report['settings'], report['runs']
    lines = ['# EG3D linkage on the toy EG3D (from scratch, procedural faces)', '',
             f'Three runs of the toy EG3D generator trained from scratch on {s["resolution"]}x{s["resolution"]} aligned '
             f'faces for {s["kimg"]:g} kimg at batch {s["batch"]}, from the same initial weights, data order, latents '
             f'and cameras (seed {s["seed"]}): control (base loss), linked (the {s["link"]} box linked to its 16 of 64 '
             'axes, masked on image and image_raw) and linked_depth (the same link, image_depth masked too). G_ema of '
             f'each, {s["samples"]} fixed-seed samples, frontal camera. Values x1e-3 (masked sums / all values); '
             'locality = edit_o / edit_i per region value (lower is more local); ratio = run / control. image_depth is in '
             'the toy depth\'s own units: compare it across runs, not with RGB.', '',
             '| run | output | mse_i | mse_o | edit_i | edit_o | keep_o | locality | locality / control | edit_i / control |',
             '|---|---|---|---|---|---|---|---|---|---|']
    for run in RUNS:
        for output in OUTPUTS:
            v = report['metrics'][run][output]
            r = report['ratios'].get(run, {}).get(output, {})
            lines.append(f'| {run} | {output} | ' + ' | '.join(_num(v[m] * SCALE) for m in
                                                             ('mse_i', 'mse_o', 'edit_i', 'edit_o', 'keep_o')) +
                         f' | {_num(v["locality"])} | {_num(r.get("locality"))} | {_num(r.get("edit_i"))} |')
    lines += ['', '| run | seconds / kimg (CPU) | SWD x1e3 (floor) | recall (floor) | precision (floor) |',
              '|---|---|---|---|---|']
    for run in RUNS:
        q, info = report['quality'][run], runs[run]
        lines.append(f'| {run} | {_num(info["sec_per_kimg"], ".1f")} ({_num(info["cpu_sec_per_kimg"], ".1f")}) '
                     f'| {_num(q["swd"], ".1f")} ({_num(q["swd_floor"], ".1f")}) '
                     f'| {_num(q["recall"])} ({_num(q["recall_floor"])}) | {_num(q["precision"])} ({_num(q["precision_floor"])}) |')
    loads = [runs[r]['load_average'] for r in RUNS if runs[r]['load_average'] is not None]
    lines += ['', f'Seconds per kimg: training wall time (in brackets this process\'s CPU time), over all segments '
              f'of a run; 1-minute load average at the end of the '
              f'runs: {", ".join(f"{v:.1f}" for v in loads) or "n/a"} (the machine\'s other work slows these). '
              f'Quality features: {report["quality"]["control"]["features"]}. Picture: edit.png.']
    return '\n'.join(lines) + '\n'


def run_experiment(kimg, out, seed=DEFAULTS['seed'], batch=DEFAULTS['batch'], resolution=DEFAULTS['resolution'],
                   link=DEFAULTS['link'], samples=DEFAULTS['samples'], channels=DEFAULTS['channels'],
                   snap=DEFAULTS['snap'], bar=None):
    """Trains what is missing, evaluates the three runs, writes the report, the JSON and the picture (module
    docstring). Returns the report (eg3d_linkage.json's content, infinite ratios as floats)."""
    check_options(kimg, resolution, link, batch, samples)
    settings = experiment_settings(seed, batch, resolution, link, channels)
    start = time.perf_counter()
    runs = train_runs(settings, kimg, out, snap, bar)
    t_train = time.perf_counter() - start
    reports, gens = {}, {}
    with open_bar(bar, len(RUNS) * samples, 'evaluate control | linked | linked_depth') as b:
        for name in RUNS:
            reports[name], gens[name] = evaluate_run(name, runs[name]['checkpoint'], settings, samples, b.update)
            with open(runs[name]['evaluation'], 'w', encoding='utf-8') as f:
                json.dump(json_safe(reports[name]), f, indent=2)
    t_eval = time.perf_counter() - start - t_train
    picture, edit_numbers = edit_picture(gens, link_spec(settings), seed=seed)
    picture.save(os.path.join(out, 'edit.png'))
    t_picture = time.perf_counter() - start - t_train - t_eval
    report = {'settings': {**settings, 'kimg': kimg, 'samples': samples, 'snap': snap, 'outputs': list(OUTPUTS),
                           'eval_camera': EVAL_CAMERA, 'edit_seeds': list(EDIT_SEEDS), 'edit_num': EDIT_NUM,
                           'torch': torch.__version__, 'threads': torch.get_num_threads()},
              'spec': {run: (None if RUNS[run] is None else link_spec(settings, RUNS[run]).to_dict()) for run in RUNS},
              'runs': runs, **summarise(reports, link), 'edit': edit_numbers,
              'seconds': {'training': t_train, 'evaluation': t_eval, 'picture': t_picture}}
    with open(os.path.join(out, 'eg3d_linkage.json'), 'w', encoding='utf-8') as f:
        json.dump(json_safe(report), f, indent=2)
    with open(os.path.join(out, 'eg3d_linkage.md'), 'w', encoding='utf-8') as f:
        f.write(report_markdown(report))
    return report

#----------------------------------------------------------------------------

@click.command('eg3d-linkage', cls=Command)
@click.option('--kimg', type=float, required=True, help='Training length of each run, thousands of images (> 0).')
@click.option('--out', type=click.Path(file_okay=False), required=True, help='Output folder (resumed when it exists).')
@click.option('--seed', type=click.IntRange(min=0), default=DEFAULTS['seed'], show_default=True)
@click.option('--batch', type=int, default=DEFAULTS['batch'], show_default=True, help='Images per iteration (>= 4).')
@click.option('--resolution', type=int, default=DEFAULTS['resolution'], show_default=True,
              help='Face size: a power of two >= 16 (image_raw and image_depth are half of it).')
@click.option('--link', type=str, default=DEFAULTS['link'], show_default=True,
              help=f'The face part linked: {", ".join(LINKS)} (its preset box and FACES_SPEC\'s 16 axes).')
@click.option('--samples', type=int, default=DEFAULTS['samples'], show_default=True,
              help='Fixed-seed samples of each evaluation (>= 2; coverage and floors need >= 4).')
@click.option('--channels', type=click.IntRange(min=1), default=DEFAULTS['channels'], show_default=True,
              help='Width of the toy networks.')
@click.option('--snap', type=click.FloatRange(min=0.0, min_open=True), default=DEFAULTS['snap'], show_default=True,
              help='Save each run\'s resumable state every this many kimg.')
def eg3d_linkage_command(kimg, out, seed, batch, resolution, link, samples, channels, snap):
    """Train the toy EG3D from scratch on the faces three times (control, linked, linked with depth masked) and measure
    RGB and depth linkage, quality and an edit picture. Resumable: finished runs are not trained again."""
    report = run_experiment(kimg, out, seed, batch, resolution, link, samples, channels, snap, bar=progress_bar)
    with open(os.path.join(out, 'eg3d_linkage.md'), encoding='utf-8') as f:
        click.echo(f.read())
    trained = [run for run, info in report['runs'].items() if info['trained_now']]
    click.echo(f'wrote {os.path.join(out, "eg3d_linkage.json")}, eg3d_linkage.md and edit.png '
               f'(trained now: {", ".join(trained) or "none"})')

#----------------------------------------------------------------------------
