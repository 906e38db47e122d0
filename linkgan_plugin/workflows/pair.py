"""`linkgan pair`: a control and a linked training of a real upstream train.py, side by side, then measured.

    report = run_pair('~/src/stylegan2-ada-pytorch', data='scenes.zip', spec='spec.json', kimg=40, out='runs/pair')

Steps:
  1. Checks before any work (each an error naming what to do): the checkout is patched (`linkgan patch`),
     upstream's requirements import, the spec parses and fits the network (train.py's w_dim, 512, or the --resume
     network's), the dataset is square with a power-of-two side that train.py accepts (EG3D: 128/256/512 and 25-value
     camera labels) and matches the --resume network's resolution, and `out` holds no pair made with other settings.
  2. Training: upstream's train.py twice, through `python -m linkgan_plugin.upstream.cpu_run` (smoke.build_command:
     the modern-torch shims, and the CPU shims when there is no CUDA device), from the same seed, data, options and
     optional --resume:
         <out>/control   --loss=training.loss.StyleGAN2Loss     (the base loss)
         <out>/linked    --loss=linkgan_plugin.LinkLoss --loss-kwargs={"spec": SPEC}
     Each is upstream's --outdir: upstream makes a numbered run directory inside it (a "segment"). The length is
     passed to cpu_run as images (LINKGAN_SMOKE), so fractional kimg and short ticks work; --snap=1 writes a snapshot
     every tick. Output goes to <out>/<role>/train.log; tick lines are echoed with the role in front.
  3. Resuming: a role whose <out>/<role>/pair_run.json says it finished `kimg` (or more) is not trained again. An
     interrupted role resumes from the latest snapshot of its segments with `--resume` for the remaining kimg
     (segment_progress: the snapshot's kimg, to the image from stats.jsonl when every tick is snapshotted). Upstream's
     train.py restarts its kimg count, its data order and its latent draws at a resume, so a resumed run sees the
     start of the data order again: a resumed pair is paired like an uninterrupted one only if both roles were
     interrupted at the same point.
  4. Evaluation (analysis.evaluate.eval_report, the `linkgan eval` report): both final G_ema snapshots (and the
     --resume network, as the baseline) on the same fixed-seed samples, every metric per link and output, quality
     (SWD, recall / precision, their real-vs-real floors) against the training data. Written as <role>_eval.json
     (`linkgan eval --out` files: `linkgan eval --compare` reads them).
  5. Report: pair.json and pair.md in the demo's report layout (analysis/report.py report_markdown: linked / control
     ratios per link and metric, quality beside its floors); leakage.png (analysis/report.py leakage_picture, control and
     linked side by side); edit-<link>-<role>.png per link and role (editing.edit.run_edit: the paper's Fig. 3 grid).

pair.json: {"upstream", "settings", "runs": {role: {"run_dirs", "snapshot", "kimg", "seconds" (training wall time of all its
segments, from train.py's stats.jsonl: an interrupted segment counts up to its last snapshot), "trained_now",
"sec_per_kimg", "link_stats"}}, "models", "ratios", "quality", "quality_ratio", "quality_floor", "coverage",
"coverage_floor", "coverage_space", "recall_ratio", "precision_ratio" (analysis/report.py summarise), "spec_names" (rows:
link, or "link (output)" for EG3D's image_raw / image_depth), "comparison" (evaluate.compare_reports: every metric,
region-normalised too), "evaluations": {role: eval report file}, "pictures", "timings", "seconds", "control_learned"
(whether the control's recall reaches a tenth of the real-vs-real recall: if not, pair.md warns that the ratios compare
networks that do not yet produce the data)}.
"""

import json
import os
import time

import torch

from linkgan_plugin import smoke
from linkgan_plugin.analysis.datasets import list_images, DatasetError
from linkgan_plugin.analysis.evaluate import json_safe, compare_reports, DEFAULTS as EVAL_DEFAULTS, eval_report
from linkgan_plugin.analysis.generator import GeneratorAdapter
from linkgan_plugin.analysis.network_loading import (dataset_labels, load_network, make_adapter, NetworkLoadError,
                                                     resolve_device)
from linkgan_plugin.analysis.report import leakage_picture, report_markdown, summarise
from linkgan_plugin.checks import LinkganError, OptionError, SpecError, UsageProblem
from linkgan_plugin.editing.edit import link_offsets, run_edit, seed_latents
from linkgan_plugin.progress import open_bar
from linkgan_plugin.regularizer import BoundSpec
from linkgan_plugin.spec import load_spec
from linkgan_plugin.upstream.flavours import FLAVOUR_CLASSES
from linkgan_plugin.workflows.pair_training import read_json, ROLES, train_roles

SETTINGS_FILE = 'pair_settings.json'        # <out>/: what the pair was started with (a rerun must match).

# Defaults shared by the API and the CLI.
DEFAULTS = dict(seed=0, parallel=True, samples=1000, eval_batch=32, camera='frontal', device='auto', edit_seeds=(0, 1, 2, 3),
                edit_num=3, timeout=None)

# train.py arguments a pair always starts from (the user's `-- ARGS` override them): what each train.py requires, no
# metrics (the pair measures), a snapshot every tick (resumable to the tick).
BASE_ARGS = {
    'sg2ada': ['--gpus=1', '--metrics=none', '--snap=1'],
    'sg3': ['--cfg=stylegan2', '--gpus=1', '--batch=32', '--gamma=1', '--metrics=none', '--snap=1'],
    'eg3d': ['--cfg=ffhq', '--gpus=1', '--batch=32', '--gamma=1', '--metrics=none', '--snap=1'],
}
CPU_ARGS = {'sg2ada': ['--fp32=1']}         # sg2ada's mixed precision needs CUDA.
LINK_COMMANDS_NOTE = ('The runs go through `python -m linkgan_plugin.upstream.cpu_run` (cpu_run options in the '
                      'LINKGAN_SMOKE environment variable: the length in images, the tick, the snapshot grid).')
# Options the pair sets itself: the pair option to use instead.
OWN_OPTIONS = {'outdir': '--out', 'data': '--data', 'kimg': '--kimg', 'seed': '--seed', 'resume': '--resume',
               'loss': '(set by the pair)', 'loss-kwargs': '--spec / --link-kwargs', 'dry-run': '--plan'}

#----------------------------------------------------------------------------
# Checks.

def inspect_dataset(path, flavour, resolution=None):
    """{'images', 'resolution', 'label_dim'} of an upstream dataset (folder or zip); click errors naming --data for
    what train.py would refuse or train wrongly: no images, non-square or non-power-of-two images, a size the
    flavour's train.py does not take (flavour.train_resolutions), images of different sizes, a resolution other than
    `resolution` (the --resume network's), missing 25-value camera labels where labels are cameras (EG3D)."""
    import io
    from PIL import Image
    try:
        names, read = list_images(path)
    except DatasetError as e:
        raise OptionError('--data', str(e)) from None
    if not names:
        raise OptionError('--data', f'{path}: has no images (PNG or JPEG)')
    sizes = set()
    for name in names[:: max(1, len(names) // 8)][:8] + names[-1:]:
        try:
            with Image.open(io.BytesIO(read(name))) as img:
                sizes.add(img.size)
        except Exception as e:
            raise OptionError('--data', f'{path}: cannot read image {name!r} ({type(e).__name__}: {e})') from None
    if len(sizes) > 1:
        raise OptionError('--data', f'{path}: images of different sizes ({", ".join(f"{w}x{h}" for w, h in sorted(sizes))}); '
                                 'upstream needs one size (make the dataset with upstream\'s dataset_tool.py --resolution)')
    w, h = sizes.pop()
    if w != h or w < 4 or w & (w - 1):
        raise OptionError('--data', f'{path}: images are {w}x{h}; upstream\'s train.py needs square images whose side is a '
                                 'power of two (dataset_tool.py --resolution, or `linkgan scenes --resolution`)')
    if flavour.train_resolutions and w not in flavour.train_resolutions:
        raise OptionError('--data', f'{path}: images are {w}x{w}; {flavour.name} trains at '
                                 f'{", ".join(map(str, flavour.train_resolutions))} px only')
    if resolution is not None and w != resolution:
        raise OptionError('--data', f'{path}: images are {w}x{w} but the --resume network makes {resolution}x{resolution}')
    labels = dataset_labels({'path': path})
    label_dim = None if labels is None else int(labels.shape[1])
    if flavour.camera_labels and label_dim != 25:
        found = 'no labels' if label_dim is None else f'labels of {label_dim} values'
        raise OptionError('--data', f'{path}: {flavour.name} needs a 25-value camera label per image in dataset.json, found '
                                 f'{found} (`linkgan scenes --camera-labels` writes them)')
    return {'images': len(names), 'resolution': w, 'label_dim': label_dim}


def resume_network_facts(path, code_dir, key):
    """{'w_dim', 'img_resolution', 'flavour'} of the --resume network (loaded with the checkout's code)."""
    try:
        net = load_network(path, upstream=code_dir)
    except NetworkLoadError as e:
        raise OptionError('--resume', str(e)) from None
    G = net.G
    if net.flavour != key:
        raise OptionError('--resume', f'{path} is a {net.flavour} network; the checkout is {key}')
    facts = {'w_dim': int(G.w_dim), 'img_resolution': int(G.img_resolution), 'flavour': net.flavour}
    del net, G
    return facts


def check_train_args(train_args):
    """Refuses train.py options the pair sets itself (a UsageError naming the pair option to use)."""
    for a in train_args:
        name = smoke._opt_name(a)
        if name in OWN_OPTIONS:
            raise UsageProblem(f'`-- {a}`: the pair sets --{name} of train.py itself; use {OWN_OPTIONS[name]}')

#----------------------------------------------------------------------------
# Runs on disk.


#----------------------------------------------------------------------------
# Training.


#----------------------------------------------------------------------------
# Evaluation and report.

def _rows_of(results):
    """{row: metrics} with one row per link and output: the link's name for 'image', "link (output)" otherwise."""
    return {(link if output == 'image' else f'{link} ({output})'): values
            for output, by_link in results.items() for link, values in by_link.items()}


def as_report_evaluation(report):
    """An eval_report as analysis.report's evaluation: {'links': one row per link and output, 'quality'}."""
    return {'links': _rows_of(report['results']), 'quality': report['quality']}


def evaluate_pair(snapshots, code_dir, spec_path, data, samples, batch, seed, quality_images, device, camera, echo,
                  bar=None):
    """eval_report of each network ({label: snapshot path}), on the same samples; returns ({label: report}, spec,
    {label: G_ema on the device})."""
    dev = resolve_device(device)
    reports, nets, spec = {}, {}, None
    for label, path in snapshots.items():
        net = load_network(path, upstream=code_dir)
        gen = make_adapter(net, camera=camera, device=dev)
        if spec is None:
            spec = load_spec(spec_path, w_dim=gen.w_dim, resolution=gen.img_resolution)
        with open_bar(bar, samples, f'eval {label}') as b:
            reports[label] = eval_report(net, gen, spec, os.path.abspath(spec_path), None, samples, batch, seed,
                                         EVAL_DEFAULTS['truncation'], None, camera, data, quality_images,
                                         progress=b.update)
        nets[label] = gen.G
        echo(f'evaluated {label}: {path}')
    return reports, spec, nets


def write_pictures(out, spec, nets, seeds, num, alpha):
    """leakage.png (control and linked side by side) and edit-<link>-<role>.png per link and role; returns the paths."""
    paths = {'leakage': os.path.join(out, 'leakage.png')}
    leakage_picture({role: nets[role] for role in ROLES}, spec).save(paths['leakage'])
    for role in ROLES:
        gen = GeneratorAdapter(nets[role])
        bound = BoundSpec(spec, gen.w_dim)
        for i, link in enumerate(spec.links):
            generator = torch.Generator().manual_seed(0)
            c = gen.default_c(len(seeds), generator=generator)
            with torch.no_grad():
                ws = gen.map(seed_latents(seeds, gen.z_dim).to(gen.device), c)
                linked, complement = link_offsets(gen, bound, ws, i, num, 'resample', alpha, 1.0, c, generator)
                path = os.path.join(out, f'edit-{link.name}-{role}.png')
                run_edit(gen, bound, i, ws, c, linked, complement, [f'seed {s}' for s in seeds],
                         f'{role}: link {link.name}, linked axes resampled', path)
            paths[f'edit-{link.name}-{role}'] = path
    return paths


def pair_intro(det, settings, runs, data_info, samples):
    kimgs = {role: runs[role]['kimg'] for role in ROLES}
    start = f'--resume {settings["resume"]}' if settings['resume'] else 'from scratch'
    where = 'CPU shims (no CUDA device)' if settings['cpu'] else 'the GPU(s)'
    return (f'{det.describe()}, on {where}. Data: {settings["data"]} ({data_info["images"]} images, '
            f'{data_info["resolution"]}x{data_info["resolution"]}). Control: train.py with the base loss; linked: with '
            f'`LinkLoss` and the spec {settings["spec"]}. Same seed ({settings["seed"]}), data, options and start '
            f'({start}); {settings["kimg"]:g} kimg each (trained: control {kimgs["control"]:.3g}, linked '
            f'{kimgs["linked"]:.3g}). G_ema of each final snapshot, {samples} fixed-seed samples, images in [-1, 1]; '
            'quality against the training data. Ratio = linked / control.')


# Under this share of the real-vs-real recall the control is reported as not having learned the data.
UNLEARNED_RECALL_SHARE = 0.1


def control_learned(report):
    """Whether the control reaches UNLEARNED_RECALL_SHARE of the real-vs-real recall (report: summarise's keys)."""
    return report['coverage']['control']['recall'] >= UNLEARNED_RECALL_SHARE * report['coverage_floor']['recall']


def pair_footer(report):
    t, runs = report['timings'], report['runs']
    lines = ['Every metric of every link and output (region-normalised too) is in pair.json (`comparison`) and in '
             'control_eval.json / linked_eval.json (`linkgan eval --compare` reads them).', '',
             f'Total {report["seconds"]:.0f} s (training {t["training"]:.0f} s, evaluation {t["evaluation"]:.0f} s, '
             f'pictures {t["pictures"]:.0f} s). ' + '; '.join(
                 f'{role}: {runs[role]["seconds"]:.0f} s of training in {len(runs[role]["run_dirs"])} segment(s)'
                 + ('' if runs[role]['trained_now'] else ' (finished earlier: not trained again)') for role in ROLES) + '.']
    if not report['control_learned']:
        control_recall, floor = report['coverage']['control']['recall'], report['coverage_floor']['recall']
        lines += ['', f'warning: the control has not learned the data (recall {control_recall:.3f} against the real-vs-real '
                  f'{floor:.3f}; SWD {report["quality"]["control"]:.1f} against {report["quality_floor"]:.1f}): the ratios '
                  'compare two networks that do not yet produce the data, not what the link term does to a trained '
                  'one. Train longer or fix the recipe (a D that wins every batch: raise --gamma) before reading them.']
    if abs(runs['control']['kimg'] - runs['linked']['kimg']) > 1e-6:
        lines += ['', f'warning: the two runs trained different lengths (control {runs["control"]["kimg"]:.3g} kimg, '
                  f'linked {runs["linked"]["kimg"]:.3g} kimg): the ratios mix in the effect of extra training.']
    return lines

#----------------------------------------------------------------------------
# The pair.

def plan_pair(upstream_dir, data, spec, kimg, out, resume=None, seed=0, train_args=(), tiny=False, tick=None,
              link_kwargs=None, cpu=None, patch_dir=None, quality_images=None):
    """Every check of step 1 and the train.py arguments both roles share. Raises OptionError / UsageProblem /
    LinkganError naming what to mend.

    Returns {'det', 'flavour', 'data_info', 'w_dim', 'common' (train.py args), 'cpu', 'smoke_opts' (cpu_run's
    LINKGAN_SMOKE without the length), 'quality_images' (default: half the data, at most 1024, so the floors can be
    measured), 'settings' (what pair_settings.json holds)}."""
    if kimg <= 0:
        raise OptionError('--kimg', 'must be > 0')
    det = smoke.checked_checkout(upstream_dir, spec, patch_dir)
    key = det.upstream.key
    flavour = FLAVOUR_CLASSES[key]
    train_args = list(train_args)
    check_train_args(train_args)
    facts = resume_network_facts(resume, det.code_dir, key) if resume else None
    data_info = inspect_dataset(data, flavour, facts and facts['img_resolution'])
    n = data_info['images']
    quality_images = quality_images or min(EVAL_DEFAULTS['quality_images'], max(16, n // 2))
    if n < quality_images:
        raise OptionError('--data', f'{data} has {n} images; quality needs --quality-images ({quality_images}) of them, '
                                 'and twice that for the real-vs-real floors')
    w_dim = facts['w_dim'] if facts else flavour.train_w_dim
    where = f'the --resume network\'s w_dim is {w_dim}' if facts else f'{key}\'s train.py builds w_dim {w_dim}'
    try:
        load_spec(os.path.abspath(spec), w_dim=w_dim, resolution=data_info['resolution'])
    except SpecError as e:
        raise OptionError('--spec', f'{e} ({where})') from None
    if link_kwargs is not None and (not isinstance(link_kwargs, dict) or 'spec' in link_kwargs or 'links' in link_kwargs):
        raise OptionError('--link-kwargs', 'a JSON object of LinkLoss / base-loss kwargs without the spec (e.g. '
                                 '{"link_pass": "per_link"}); the spec comes from --spec')
    cpu = (not torch.cuda.is_available()) if cpu is None else cpu
    defaults = list(BASE_ARGS[key])
    smoke_opts = {}
    if tiny:                                    # The smoke's small networks (and its batch) for a CPU-sized pair.
        sd = smoke.SMOKE_DEFAULTS[key]
        defaults = smoke.merge_args(defaults, [a for a in sd['args'] if smoke._opt_name(a) not in ('kimg', 'tick', 'snap')])
        defaults = smoke.merge_args(defaults, [a for a in smoke.SLOW_CFG_ARGS.get(smoke.arg_value(train_args, 'cfg'), [])
                                               if smoke.arg_value(train_args, smoke._opt_name(a)) is None])
        smoke_opts.update({k: sd[k] for k in ('channel_base', 'channel_max') if sd.get(k)})
    if cpu:
        defaults = smoke.merge_args(defaults, CPU_ARGS.get(key, []))
    common = smoke.merge_args(defaults, train_args)
    common = smoke.merge_args(common, [f'--data={os.path.abspath(data)}', f'--seed={seed}'])
    batch = int(smoke.arg_value(common, 'batch') or 32)
    tick = tick if tick is not None else min(4.0, max(batch / 1000, kimg / 10))
    smoke_opts.update(tick_nimg=max(batch, int(round(tick * 1000))), grid=[8, 4])
    with open(spec, encoding='utf-8') as f:
        spec_text = f.read()
    settings = {'upstream': key, 'code_dir': det.code_dir, 'data': os.path.abspath(data), 'spec': os.path.abspath(spec),
                'spec_json': json.loads(spec_text), 'resume': os.path.abspath(resume) if resume else None, 'seed': seed,
                'train_args': common, 'link_kwargs': link_kwargs, 'smoke_opts': smoke_opts, 'tiny': bool(tiny),
                'cpu': cpu, 'kimg': kimg, 'tick': tick}
    return {'det': det, 'flavour': flavour, 'data_info': data_info, 'w_dim': w_dim, 'common': common, 'cpu': cpu,
            'smoke_opts': smoke_opts, 'quality_images': quality_images, 'settings': settings}


def check_out_dir(out, settings):
    """Refuses an out dir that holds a pair made with other settings (the length may differ: a longer --kimg
    continues the runs); writes pair_settings.json otherwise."""
    path = os.path.join(out, SETTINGS_FILE)
    old = read_json(path)
    keys = ('upstream', 'data', 'spec_json', 'resume', 'seed', 'train_args', 'link_kwargs', 'tiny')
    if old is not None:
        differ = [k for k in keys if old.get(k) != settings[k]]
        if differ:
            raise LinkganError(f'{out} holds a pair made with other settings ({", ".join(differ)} differ); '
                                       'use another --out, or remove it to start again')
    os.makedirs(out, exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(settings, f, indent=2)


def run_pair(upstream_dir, data, spec, kimg, out, resume=None, seed=DEFAULTS['seed'], parallel=DEFAULTS['parallel'],
             train_args=(), tiny=False, tick=None, link_kwargs=None, samples=DEFAULTS['samples'],
             eval_batch=DEFAULTS['eval_batch'], quality_images=None, device=DEFAULTS['device'], camera=DEFAULTS['camera'],
             threads=None, cpu=None, timeout=DEFAULTS['timeout'], patch_dir=None, echo=print, verbose=False, bar=None):
    """The whole pair (module docstring); returns the pair.json dict (also written to `out`). `bar`: a progress bar
    factory for the evaluations (linkgan_plugin.progress)."""
    t0 = time.time()
    out = os.path.abspath(out)
    plan = plan_pair(upstream_dir, data, spec, kimg, out, resume, seed, train_args, tiny, tick, link_kwargs, cpu, patch_dir,
                     quality_images)
    settings = plan['settings']
    check_out_dir(out, settings)
    echo(f'Detected {plan["det"].describe()}; pair in {out}')
    runs = train_roles(out, plan, kimg, spec, link_kwargs, parallel, threads, timeout, echo, verbose)
    t1 = time.time()

    quality_images = plan['quality_images']
    snapshots = ({'baseline': settings['resume']} if settings['resume'] else {})
    snapshots.update({role: runs[role]['snapshot'] for role in ROLES})
    torch.set_num_threads(max(1, threads or torch.get_num_threads()))
    reports, spec_obj, nets = evaluate_pair(snapshots, plan['det'].code_dir, spec, data, samples, eval_batch,
                                            seed, quality_images, device, camera, echo, bar)
    evaluation_files = {}
    for label, rep in reports.items():
        evaluation_files[label] = os.path.join(out, f'{label}_eval.json')
        with open(evaluation_files[label], 'w', encoding='utf-8') as f:
            json.dump(json_safe(rep), f, indent=2)
    t2 = time.time()
    pictures = write_pictures(out, spec_obj, nets, list(DEFAULTS['edit_seeds']), DEFAULTS['edit_num'], spec_obj.alpha)
    t3 = time.time()

    evaluations = {label: as_report_evaluation(rep) for label, rep in reports.items()}
    rows = list(evaluations['linked']['links'])
    report = {'upstream': plan['det'].describe(), 'settings': {**settings, 'samples': samples, 'quality_images': quality_images},
              'runs': runs, **summarise(evaluations, rows), 'spec_names': rows, 'spec': spec_obj.to_dict(),
              'comparison': compare_reports(reports['linked'], reports['control']),
              'evaluations': evaluation_files, 'pictures': pictures,
              'timings': {'training': t1 - t0, 'evaluation': t2 - t1, 'pictures': t3 - t2}, 'seconds': time.time() - t0}
    for key in ('targets', 'targets_met', 'goals', 'goals_met'):      # The demo's research targets: not the pair's.
        report.pop(key, None)
    report['control_learned'] = control_learned(report)
    markdown = report_markdown(report, '# linkgan pair report',
                               pair_intro(plan['det'], settings, runs, plan['data_info'], samples), '',
                               pair_footer(report))
    with open(os.path.join(out, 'pair.json'), 'w', encoding='utf-8') as f:
        json.dump(json_safe(report), f, indent=2)
    with open(os.path.join(out, 'pair.md'), 'w', encoding='utf-8') as f:
        f.write(markdown)
    report['markdown'] = markdown
    return report

#----------------------------------------------------------------------------
