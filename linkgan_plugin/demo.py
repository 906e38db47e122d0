"""`linkgan demo`: train a toy StyleGAN2-ADA-shaped generator on procedural scenes, then fine-tune a copy with
LinkLoss, and measure how well each link's axes are tied to its region (the paper's Table 3 protocol).

Steps (all on CPU, a few minutes on 2 cores with the defaults):
    1. Baseline: the toy sg2ada G (`make_toy_networks('sg2ada')`) and its D with a minibatch-stddev feature
       (`MbstdDiscriminator`, as upstream's D has) trained with the toy base loss (`ToySG2ADALoss`) by `ToyTrainer`
       on `demo_data.scenes` (generated at run time, nothing downloaded; a 2 x 2 grid of independent cells, so
       each quadrant, and each half, varies on its own).
    2. Linked: a copy of the baseline G, D and G_ema fine-tuned with `LinkLoss` (base loss unchanged), as the paper
       does ("applied as fine-tuning of a converged generator").
    3. Evaluation of both G_ema (the smoothed generator a user gets) with `metrics.evaluate_links`: same spec (axes
       and regions), same alpha, same seeds, `--samples` samples (1024 by default: edit_i varies about as much as
       its mean from sample to sample, so a ratio of two 256-sample means still moves by ~8%; 1024 halves that).
    4. Outputs in --outdir:
         report.json   {"baseline": {LINK: {"mse_i", "mse_o", "edit_i"}}, "linked": {...}, "seconds": total,
                        "ratios": {LINK: {"mse_i", "mse_o", "edit_i"}} (linked / baseline), "targets": {...},
                        "details": {model: {LINK: every metric of evaluate_links with its std}},
                        "spec": normalised spec, "settings": the run's options, "timings": seconds per stage}
         report.md     the same as a table.
         leakage.png   per model and link (the paper's Fig. 3 layout): originals, in-region resampling (linked
                       axes resampled) and its difference heatmap, out-region resampling (every other axis
                       resampled) and its difference heatmap; the link's box is outlined.
         baseline.pt, linked.pt   checkpoints (format below).

Metrics (images in [-1, 1], masked sums divided by all C*H*W values):
    mse_i  -- change inside the region when the unlinked axes are perturbed by alpha * N(0, I)   (lower is better)
    mse_o  -- change outside the region when the linked axes are perturbed by alpha * N(0, I)    (lower is better)
    edit_i -- change inside the region when the linked axes are resampled                        (must stay high)

Checkpoint format (`torch.save` of a dict; load with `torch.load(path, map_location='cpu', weights_only=False)`):
    'G_ema'          the smoothed generator, a full pickled module (linkgan_plugin.toy.networks.ToyGeneratorSG2ADA);
    'G_ema_state'    its state_dict; 'G_init_kwargs' the kwargs that rebuild it:
                     `ToyGeneratorSG2ADA(**G_init_kwargs).load_state_dict(G_ema_state)`;
    'G_state', 'D_state'   the training networks' state dicts (to resume or fine-tune further); 'D' the pickled D
                     (linkgan_plugin.demo.MbstdDiscriminator) and 'D_init_kwargs' to rebuild it;
    'flavour'        'sg2ada';
    'spec'           the normalised link spec dict the model was trained with (linked.pt), None for baseline.pt
                     (the convention of network_loading.resolve_spec: a baseline needs an explicit --spec);
    'eval_spec'      the spec both models were evaluated with in report.json (the same dict for both files);
    'linked'         False for baseline.pt, True for linked.pt;
    'kimg'           thousands of images the model has seen in training (the fine-tune counts on top of the baseline);
    'loss_kwargs'    base-loss kwargs used; 'settings' the demo's options; 'format' 1.

The built-in spec (`BUILTIN_SPEC`) links two boxes, the top-left and the bottom-right quadrant, each to its own
16 of the 64 axes of W. It sets the fine-tune's schedule: the paper's interval 8 (gain 8) with lambda 5, over
1000 iterations (16 kimg at batch 16). The cheap base-loss iterations between link steps matter: regularizing every
iteration for fewer iterations (same time) cut leakage as far but dulled the whole image, halving edit_i.
A user spec (`--spec FILE`) keeps
its own values for every field it sets; for the fields it leaves out, the demo uses the built-in spec's values
(DEMO_SPEC_DEFAULTS) rather than the library's DEFAULTS, so that any spec is fine-tuned with the demo's recipe.
"""

import copy
import json
import math
import os
import time

import click
import torch
import torch.nn.functional as F

from linkgan_plugin.demo_data import SceneStream
from linkgan_plugin.toy.networks import ToyDiscriminatorSG2ADA

#----------------------------------------------------------------------------
# Built-in spec and the demo's recipe.

DEMO_SPEC_DEFAULTS = {
    'alpha':        1.0,        # Same alpha for the regularizer and for both models' metrics.
    'interval':     8,          # The paper's lazy interval: seven cheap adversarial iterations between link steps
                                # keep the images diverse while the link term reshapes G.
    'lambda_in':    5.0,        # Measured (linked / baseline, seeds 0-3, 1024 samples, 16-kimg fine-tune): lambda 4
    'lambda_out':   5.0,        # -> leakage up to 0.25, edit_i from 0.53; 5 -> leakage up to 0.22, edit_i from 0.53;
                                # 6 with 12 kimg -> leakage up to 0.22, edit_i from 0.49.
    'batch_shrink': 2,          # The link pass renders half the batch: 1 + 2K renders per sample.
    'fake_to_D':    True,       # Perturbed renders are also scored by D, so the edits stay realistic.
}

BUILTIN_SPEC = {
    'links': [
        {'name': 'top_left',     'axes': '0:16',  'region': {'box': [0.0, 0.0, 0.5, 0.5]}},
        {'name': 'bottom_right', 'axes': '16:32', 'region': {'box': [0.5, 0.5, 1.0, 1.0]}},
    ],
    **DEMO_SPEC_DEFAULTS,
}

# Networks, training and evaluation sizes (the CLI's defaults).
DEMO_DEFAULTS = {
    'resolution':    32,
    'cells':         2,         # Scene grid (demo_data.scenes): 2 x 2 independent quadrants.
    'w_dim':         64,
    'z_dim':         32,
    'channels':      32,
    'batch':         32,        # Baseline batch.
    'finetune_batch': 16,       # Fine-tune batch: more, smaller steps adapt faster in a short fine-tune.
    'baseline_kimg': 24.0,
    'finetune_kimg': 16.0,
    'samples':       1024,
    'seed':          0,
    'threads':       1,
}

# Base loss kwargs (ToySG2ADALoss): path-length regularization (a double backward) and style mixing are off to fit
# the CPU budget; R1 stays on (gamma 1, lazily every 16 iterations; a light setting for a short run, not tuned).
LOSS_KWARGS = {'style_mixing_prob': 0.0, 'pl_weight': 0, 'r1_gamma': 1.0}
TRAINER_KWARGS = {'G_reg_interval': None, 'D_reg_interval': 16, 'lr': 0.0025, 'betas': (0.0, 0.99), 'ema_kimg': 0.5}

TARGETS = {'mse_i': ('<=', 0.25), 'mse_o': ('<=', 0.25), 'edit_i': ('>=', 0.5)}

#----------------------------------------------------------------------------
# Spec.

def demo_spec(source=None, w_dim=None, resolution=None):
    """The spec the demo uses: the built-in one, or `source` (file, inline JSON or dict) with the demo's recipe
    filling the fields it leaves out. Only box regions (and mask files) make sense on the demo's scenes."""
    from linkgan_plugin.spec import LinkSpec, load_spec, read_spec_source
    if isinstance(source, LinkSpec):
        data, base_dir = source.to_dict(), None
    elif source is None:
        data = copy.deepcopy(BUILTIN_SPEC)
        base_dir = None
    elif isinstance(source, dict):
        data, base_dir = copy.deepcopy(source), None
    else:
        data, base_dir = read_spec_source(source)
    if isinstance(data, dict):
        data = {**DEMO_SPEC_DEFAULTS, **data}
    spec = load_spec(data, base_dir=base_dir, w_dim=w_dim, resolution=resolution)
    semantic = [link.name for link in spec.links if not link.region.is_fixed]
    if semantic:
        from linkgan_plugin.spec import SpecError
        raise SpecError([f'links: the demo\'s scenes have no segmenter classes; use box or mask regions '
                         f'(semantic: {", ".join(semantic)})'])
    return spec

#----------------------------------------------------------------------------
# Networks and training.

class MbstdDiscriminator(ToyDiscriminatorSG2ADA):
    """The toy sg2ada D plus a minibatch standard deviation feature before its last layers (StyleGAN2-ADA's
    DiscriminatorEpilogue: groups of mbstd_group_size=4 samples, one feature channel). It lets D see a batch's
    diversity, so the link fine-tune cannot buy low leakage by making the regions constant.

    One departure from upstream, on by default (`per_location=True`): upstream averages the group's standard
    deviation over channels *and* the 4x4 positions, one number per group; here it is averaged over channels
    only, one number per position. A link fine-tune that leaves one quadrant nearly constant barely moves the
    image-wide average, but it is plain in the per-position map. Measured on the demo (seed 1, lambda 6,
    12 kimg): the top-left link kept 0.28 of the baseline's edit_i with upstream's feature and 0.53 with this
    one, at the same leakage. `per_location=False` gives upstream's feature.
    """

    def __init__(self, c_dim=0, img_resolution=32, img_channels=3, channels=32, mbstd_group_size=4, per_location=True):
        super().__init__(c_dim=c_dim, img_resolution=img_resolution, img_channels=img_channels, channels=channels)
        self.mbstd_group_size = mbstd_group_size
        self.per_location = per_location
        fc = self.trunk.fc
        self.trunk.fc = torch.nn.Linear(fc.in_features + 16, fc.out_features)  # + one 4x4 mbstd map.
        self.init_kwargs = dict(c_dim=c_dim, img_resolution=img_resolution, img_channels=img_channels,
                                channels=channels, mbstd_group_size=mbstd_group_size, per_location=per_location)

    def forward(self, img, c, **_unused):
        t = self.trunk
        x = t.convs(img)                                                    # [N, C, 4, 4]
        # Pickles from before the option have no attribute: they keep upstream's feature.
        y = minibatch_stddev(x, self.mbstd_group_size, per_location=getattr(self, 'per_location', False))
        x = F.leaky_relu(t.fc(torch.cat([x, y], dim=1).flatten(1)), 0.2)
        if t.cmap is None:
            return t.out(x)
        return t.out(x) + (x * t.cmap(c.to(x.dtype))).sum(dim=1, keepdim=True) / math.sqrt(x.shape[1])


def minibatch_stddev(x, group_size=4, per_location=True):
    """The minibatch standard deviation feature of features x [N, C, H, W] -> [N, 1, H, W].

    Samples are split into groups of `group_size` (smaller if N is not a multiple; sample n is in group
    n % (N / group_size), as upstream does). Per group: the standard deviation over the group's samples of every
    feature, then averaged over channels (per_location=True: one value per position) or over channels and
    positions (per_location=False: StyleGAN2-ADA's feature, constant over H x W). Every sample gets its group's map.
    """
    N, C, H, W = x.shape
    G = min(group_size, N)
    while N % G:
        G -= 1
    y = x.reshape(G, -1, C, H, W)                                           # [G, N/G, C, H, W]
    y = (y - y.mean(dim=0)).square().mean(dim=0).add(1e-8).sqrt()          # [N/G, C, H, W]
    if per_location:
        return y.mean(dim=1, keepdim=True).repeat(G, 1, 1, 1)              # [N, 1, H, W]
    return y.mean(dim=[1, 2, 3]).reshape(-1, 1, 1, 1).repeat(G, 1, H, W)


def make_networks(settings):
    """(G, D): the toy sg2ada G, and its D with a minibatch-stddev feature (see MbstdDiscriminator)."""
    from linkgan_plugin.toy.networks import make_toy_networks
    G, _ = make_toy_networks('sg2ada', z_dim=settings['z_dim'], w_dim=settings['w_dim'],
                             img_resolution=settings['resolution'], channels=settings['channels'])
    D = MbstdDiscriminator(c_dim=G.c_dim, img_resolution=G.img_resolution, img_channels=G.img_channels)
    return G, D


def kimg_to_steps(kimg, batch):
    return max(1, int(math.ceil(kimg * 1000 / batch)))


def train(trainer, stream, steps, label='training', show=True):
    """Runs `steps` ToyTrainer iterations on batches from `stream`, with a progress bar."""
    with click.progressbar(length=steps, label=label, show_eta=True, show_pos=True, file=None if show else _Null()) as bar:
        for _ in range(steps):
            trainer.step(*next(stream))
            bar.update(1)


class _Null:
    def write(self, *_):
        pass

    def flush(self):
        pass

    def isatty(self):
        return False


def train_baseline(settings, show=True):
    """Trains the baseline from scratch. Returns the ToyTrainer (G, D, G_ema, loss)."""
    from linkgan_plugin.toy.loop import ToyTrainer, build_loss
    torch.manual_seed(settings['seed'])
    G, D = make_networks(settings)
    loss = build_loss('sg2ada', G, D, **LOSS_KWARGS)
    trainer = ToyTrainer('sg2ada', G, D, loss, batch=settings['batch'], **TRAINER_KWARGS)
    stream = SceneStream(settings['batch'], settings['resolution'], settings['cells'], seed=settings['seed'])
    train(trainer, stream, kimg_to_steps(settings['baseline_kimg'], settings['batch']), 'baseline ', show)
    return trainer


def finetune_linked(baseline, spec, settings, show=True):
    """Fine-tunes copies of the baseline's G, D and G_ema with LinkLoss(base=ToySG2ADALoss). Returns the trainer."""
    from linkgan_plugin.toy.loop import ToyTrainer, build_loss
    torch.manual_seed(settings['seed'] + 1)
    G, D = copy.deepcopy(baseline.G), copy.deepcopy(baseline.D)
    loss = build_loss('sg2ada', G, D, spec=spec.to_dict(), **LOSS_KWARGS)
    trainer = ToyTrainer('sg2ada', G, D, loss, batch=settings['finetune_batch'], **TRAINER_KWARGS)
    trainer.G_ema.load_state_dict(baseline.G_ema.state_dict())
    trainer.cur_nimg = baseline.cur_nimg
    stream = SceneStream(settings['finetune_batch'], settings['resolution'], settings['cells'], seed=settings['seed'] + 1)
    train(trainer, stream, kimg_to_steps(settings['finetune_kimg'], settings['finetune_batch']), 'link fine-tune', show)
    return trainer

#----------------------------------------------------------------------------
# Evaluation.

def evaluate(G_ema, spec, samples, seed=0, show=True, label='evaluation'):
    """Table 3 metrics of every link for one generator: {link: {metric: mean, metric_std: std, ...}}."""
    from linkgan_plugin.generator import GeneratorAdapter
    from linkgan_plugin.metrics import evaluate_links
    from linkgan_plugin.regularizer import BoundSpec
    gen = GeneratorAdapter(G_ema)
    bound = BoundSpec(spec, gen.w_dim)
    with click.progressbar(length=samples, label=label, file=None if show else _Null()) as bar:
        result = evaluate_links(gen, bound, num_samples=samples, batch=64, seed=seed, alpha=spec.alpha,
                                progress=bar.update)
    result.pop('samples_per_second', None)
    return result


def summarise(details_base, details_link, spec):
    """(report dict parts): per-link headline metrics for both models and the linked / baseline ratios."""
    pick = lambda d: {name: {k: d[name][k] for k in ('mse_i', 'mse_o', 'edit_i')} for name in spec.names}
    base, link = pick(details_base), pick(details_link)
    ratios = {name: {k: link[name][k] / max(base[name][k], 1e-12) for k in ('mse_i', 'mse_o', 'edit_i')}
              for name in spec.names}
    met = {name: all((r[k] <= v) if op == '<=' else (r[k] >= v) for k, (op, v) in TARGETS.items())
           for name, r in ratios.items()}
    return base, link, ratios, met

#----------------------------------------------------------------------------
# Pictures.

@torch.no_grad()
def leakage_picture(models, spec, columns=5, seed=1234):
    """The Fig. 3 layout: one band per link, the models side by side (models: {label: G_ema}). Returns a PIL.Image.

    Rows of each block: originals; linked axes resampled (the region should change) and the per-pixel squared
    difference; every other axis resampled (the region should stay) and its difference. Heatmaps show the per-pixel
    RMS change over channels on one fixed scale (black: none, pale yellow: >= 1, half the [-1, 1] range), so their
    brightness compares directly across models and links.
    """
    from linkgan_plugin.generator import GeneratorAdapter
    from linkgan_plugin.pictures import heatmap, leakage_grid, outline, stack_horizontal, stack_vertical, to_uint8
    from linkgan_plugin.regularizer import BoundSpec
    renders = {}
    for label, G_ema in models.items():
        gen = GeneratorAdapter(G_ema)
        bound = BoundSpec(spec, gen.w_dim)
        g = torch.Generator().manual_seed(seed)
        z = torch.randn([columns, gen.z_dim], generator=g)
        z_new = torch.randn([columns, gen.z_dim], generator=g)
        ws, ws_new = gen.map(z), gen.map(z_new)
        x = gen.synthesize(ws)['image']
        for i in range(len(spec.links)):
            m = bound.axis_masks[i]
            x_in = gen.synthesize(ws + (ws_new - ws) * m)['image']          # linked axes resampled
            x_out = gen.synthesize(ws + (ws_new - ws) * (1 - m))['image']   # every other axis resampled
            rms = lambda a: (a - x).square().mean(dim=1).sqrt()                # per-pixel RMS change over channels
            renders[label, i] = (x, x_in, x_out, rms(x_in), rms(x_out))
    bands = []
    labels = ['original', 'resample linked', '|change|', 'resample others', '|change|']
    for i, link in enumerate(spec.links):
        boxes = link.region.boxes or []
        tiles = lambda imgs: [outline(to_uint8(im), boxes) for im in imgs]
        blocks = []
        for k, label in enumerate(models):
            x, x_in, x_out, d_in, d_out = renders[label, i]
            rows = [tiles(x), tiles(x_in), [heatmap(d, 1.0) for d in d_in], tiles(x_out), [heatmap(d, 1.0) for d in d_out]]
            blocks.append(leakage_grid(rows, labels if k == 0 else None, scale=3,
                                       title=f'{label}: link {link.name!r}, axes {link.axes[0]}..{link.axes[-1]}'))
        bands.append(stack_horizontal(blocks, pad=12))
    return stack_vertical(bands, pad=12)

#----------------------------------------------------------------------------
# Outputs.

def save_checkpoint(path, trainer, spec, linked, settings):
    G_ema = trainer.G_ema
    torch.save({
        'format': 1,
        'flavour': 'sg2ada',
        'G_ema': G_ema,
        'G_ema_state': G_ema.state_dict(),
        'G_init_kwargs': dict(G_ema.init_kwargs),
        'G_state': trainer.G.state_dict(),
        'D_state': trainer.D.state_dict(),
        'D': trainer.D,
        'D_init_kwargs': dict(trainer.D.init_kwargs),
        'spec': spec.to_dict() if linked else None,
        'eval_spec': spec.to_dict(),
        'linked': linked,
        'kimg': trainer.cur_nimg / 1000,
        'loss_kwargs': dict(LOSS_KWARGS),
        'settings': dict(settings),
    }, path)


def report_markdown(report):
    lines = ['# linkgan demo report', '',
             f'Toy sg2ada generator on procedural {report["settings"]["resolution"]}x{report["settings"]["resolution"]} '
             f'scenes; G_ema of both models, {report["settings"]["samples"]} samples, alpha {report["spec"]["alpha"]}, '
             'masked sums / all pixels, images in [-1, 1]. Ratio = linked / baseline; targets: mse_i and mse_o '
             '<= 0.25, edit_i >= 0.5.', '',
             '| link | metric | baseline | linked | ratio | target |', '|---|---|---|---|---|---|']
    for name in report['baseline']:
        for k in ('mse_i', 'mse_o', 'edit_i'):
            op, v = TARGETS[k]
            r = report['ratios'][name][k]
            ok = (r <= v) if op == '<=' else (r >= v)
            lines.append(f'| {name} | {k} | {report["baseline"][name][k]:.3e} | {report["linked"][name][k]:.3e} '
                         f'| {r:.3f} | {op} {v} {"ok" if ok else "MISSED"} |')
    t = report['timings']
    lines += ['', f'Total {report["seconds"]:.0f} s (baseline {t["baseline"]:.0f} s, fine-tune {t["finetune"]:.0f} s, '
              f'evaluation {t["evaluation"]:.0f} s).', '']
    return '\n'.join(lines)


def run_demo(outdir, spec_source=None, show=True, **options):
    """Runs the whole demo; returns the report dict (also written to outdir)."""
    settings = {**DEMO_DEFAULTS, **{k: v for k, v in options.items() if v is not None}}
    if settings['threads']:
        torch.set_num_threads(settings['threads'])
    spec = demo_spec(spec_source, w_dim=settings['w_dim'], resolution=settings['resolution'])
    os.makedirs(outdir, exist_ok=True)
    start = time.perf_counter()
    timings = {}

    t = time.perf_counter()
    base = train_baseline(settings, show)
    timings['baseline'] = time.perf_counter() - t
    t = time.perf_counter()
    link = finetune_linked(base, spec, settings, show)
    timings['finetune'] = time.perf_counter() - t

    t = time.perf_counter()
    details_base = evaluate(base.G_ema, spec, settings['samples'], seed=settings['seed'], show=show,
                            label='evaluate baseline')
    details_link = evaluate(link.G_ema, spec, settings['samples'], seed=settings['seed'], show=show,
                            label='evaluate linked  ')
    timings['evaluation'] = time.perf_counter() - t

    t = time.perf_counter()
    picture = leakage_picture({'baseline': base.G_ema, 'linked': link.G_ema}, spec)
    picture.save(os.path.join(outdir, 'leakage.png'))
    save_checkpoint(os.path.join(outdir, 'baseline.pt'), base, spec, False, settings)
    save_checkpoint(os.path.join(outdir, 'linked.pt'), link, spec, True, settings)
    timings['outputs'] = time.perf_counter() - t

    b, l, ratios, met = summarise(details_base, details_link, spec)
    report = {'baseline': b, 'linked': l, 'seconds': time.perf_counter() - start,
              'ratios': ratios, 'targets_met': met,
              'details': {'baseline': details_base, 'linked': details_link},
              'spec': spec.to_dict(), 'settings': settings, 'loss_kwargs': LOSS_KWARGS, 'timings': timings}
    with open(os.path.join(outdir, 'report.json'), 'w', encoding='utf-8') as f:
        json.dump(report, f, indent=2)
    with open(os.path.join(outdir, 'report.md'), 'w', encoding='utf-8') as f:
        f.write(report_markdown(report))
    return report

#----------------------------------------------------------------------------
# The command.

@click.command(name='demo')
@click.option('--outdir', type=click.Path(file_okay=False), default='./linkgan-demo', show_default=True,
              help='Where report.json, report.md, leakage.png and the checkpoints go.')
@click.option('--spec', 'spec_path', type=click.Path(exists=True, dir_okay=False), default=None,
              help='Link spec JSON (box or mask regions). Default: the built-in two-link spec.')
@click.option('--seed', type=click.IntRange(min=0), default=DEMO_DEFAULTS['seed'], show_default=True,
              help='Seeds the data, the networks and the evaluation.')
@click.option('--baseline-kimg', type=click.FloatRange(min=0, min_open=True), default=DEMO_DEFAULTS['baseline_kimg'],
              show_default=True, help='Thousands of images for the baseline.')
@click.option('--finetune-kimg', type=click.FloatRange(min=0, min_open=True), default=DEMO_DEFAULTS['finetune_kimg'],
              show_default=True, help='Thousands of images for the LinkLoss fine-tune.')
@click.option('--samples', type=click.IntRange(min=1), default=DEMO_DEFAULTS['samples'], show_default=True,
              help='Evaluation samples per model (use >= 256 for numbers you report; the ratios\' noise falls as 1/sqrt(samples)).')
@click.option('--batch', type=click.IntRange(min=2), default=DEMO_DEFAULTS['batch'], show_default=True,
              help='Images per baseline training iteration.')
@click.option('--finetune-batch', type=click.IntRange(min=2), default=DEMO_DEFAULTS['finetune_batch'], show_default=True,
              help='Images per fine-tune iteration.')
@click.option('--resolution', type=click.Choice(['16', '32', '64']), default=str(DEMO_DEFAULTS['resolution']),
              show_default=True, help='Image size.')
@click.option('--cells', type=click.Choice(['1', '2', '4', '8']), default=str(DEMO_DEFAULTS['cells']), show_default=True,
              help='Scene grid: cells per side, each varying on its own (2: the quadrants). Links to boxes made of '
                   'whole cells can vary on their own; 4 needs a longer baseline than the default.')
@click.option('--channels', type=click.IntRange(min=4), default=DEMO_DEFAULTS['channels'], show_default=True,
              help='Feature channels of the generator.')
@click.option('--threads', type=click.IntRange(min=0), default=DEMO_DEFAULTS['threads'], show_default=True,
              help='torch threads (0: leave torch\'s default). 1 is fastest for these tiny networks on a busy machine.')
def demo_command(outdir, spec_path, seed, baseline_kimg, finetune_kimg, samples, batch, finetune_batch, resolution,
                 cells, channels, threads):
    """Train a toy generator, fine-tune it with LinkLoss and measure region leakage.

    Writes OUTDIR/report.json, report.md, leakage.png, baseline.pt and linked.pt.
    """
    from linkgan_plugin.spec import SpecError
    try:
        spec = demo_spec(spec_path, w_dim=DEMO_DEFAULTS['w_dim'], resolution=int(resolution))
    except SpecError as e:
        raise click.BadParameter(str(e), param_hint='--spec')
    click.echo(f'linkgan demo: links {", ".join(spec.names)}; outputs in {outdir}')
    report = run_demo(outdir, spec, seed=seed, baseline_kimg=baseline_kimg, finetune_kimg=finetune_kimg,
                      samples=samples, batch=batch, finetune_batch=finetune_batch, resolution=int(resolution),
                      cells=int(cells), channels=channels, threads=threads)
    click.echo(report_markdown(report))
    if samples < 256:
        click.echo(f'note: {samples} evaluation samples; use >= 256 for numbers you report.')

#----------------------------------------------------------------------------
