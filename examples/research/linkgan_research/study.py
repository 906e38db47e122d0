"""`linkgan-research study`: measure LinkGAN recipes against the control on the demo, and the paper's Table 3 trend.

A recipe trains with LinkLoss either as a fine-tune of the shipped baseline (the default) or from scratch
(`settings.scratch_kimg`: fresh networks, the link term acting from the first step). Every comparison is against
the recipe's control: the same training (the same baseline or the same initial weights, length, batch, data order
and latents) without the link term. All models are evaluated on the same fixed-seed samples
(demo/evaluation.evaluate_model).

    linkgan-research study --recipes examples/research/recipes/study.json --out runs/study     # a recipe table and its frontier
    linkgan-research study --axes-sweep 2,4,8,16,32 --out runs/table3                 # one link, the number of axes swept

Recipes file: {"NAME": {"spec": {spec fields over the demo's built-in spec}, "settings": {finetune_kimg,
finetune_batch; or scratch_kimg to train from scratch, with batch and channels; light in (0, 1]: cell scenes under a
lighting every cell shares, demo/data.apply_shared_light, with a control of their own; scene 'faces' (from scratch
only): the aligned faces, spec fields over FACES_SPEC, with a control of their own}, "note": "..."}, ...}. Jobs run in
`--workers` processes with one thread each; finished jobs are kept in OUT/runs/*.json, so an interrupted study
resumes where it stopped; each job's G_ema is saved beside its JSON (OUT/runs/*.pt, a toy checkpoint that
`linkgan eval` / `edit` and `linkgan-research layer-leakage` load).

Outputs: OUT/study.json (every row), OUT/study.md (the table: per link, linked / control ratios of mse_i, mse_o,
edit_i, keep_o, the locality, the quality (SWD) ratio, the recall ratio with both recalls, and which floor targets
hold; the real-vs-real floors below it), OUT/frontier.png (locality against the edit_i ratio, one point per recipe
and link, the paper's anchors as reference lines); for the axes sweep OUT/table3.png and OUT/table3.md (mse_i and
mse_o, linked / control, against the number of axes).

Rows of study.json: recipe, link, note; the ratios mse_i, mse_o, edit_i, keep_o; locality, control_locality;
quality_ratio (SWD, linked / control), linked_quality, control_quality, quality_floor (SWD x1e3); recall_ratio,
linked_recall, control_recall, linked_precision, control_precision, recall_floor, precision_floor (coverage,
analysis/coverage.py: the worst part's in the demo's factor space; None for runs evaluated before coverage existed),
coverage_features; linked_values, control_values; floor_met.
"""

import copy
import hashlib
import json
import multiprocessing
import os
import time

import click
import torch

from linkgan_plugin.analysis.inputs import read_json_option
from linkgan_plugin.analysis.metrics import LOCALITY_ANCHORS
from linkgan_plugin.analysis.network_loading import load_network
from linkgan_plugin.analysis.plots import xy_plot
from linkgan_plugin.checks import LinkganError, OptionError, UsageProblem
from linkgan_plugin.cli.errors import Command
from linkgan_plugin.cli.options import progress_bar
from linkgan_plugin.demo.baseline import BASELINE_FILE, load_baseline_state
from linkgan_plugin.demo.evaluation import evaluate_model
from linkgan_plugin.demo.settings import BUILTIN_SPECS, DEMO_DEFAULTS, demo_spec, TARGETS
from linkgan_plugin.demo.training import finetune
from linkgan_plugin.toy.checkpoint import save_checkpoint
from linkgan_research.records import quality_of, swd_of

#----------------------------------------------------------------------------
# Jobs.

def _key(obj):
    return hashlib.sha1(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:10]


def control_key(settings):
    """The settings a control depends on (a recipe's spec does not change its control): the fine-tune's length,
    batch and seed; for a from-scratch recipe (settings['scratch_kimg']) also its length and width. Fine-tune keys
    stay those of studies run before from-scratch recipes existed, so their finished runs are reused."""
    keys = ('finetune_kimg', 'finetune_batch', 'seed')
    if settings.get('scratch_kimg'):
        keys += ('scratch_kimg', 'channels', 'batch')
    if settings.get('light'):
        keys += ('light',)                  # Lit scenes are other data: their own control.
    if settings.get('scene', 'cells') != 'cells':
        keys += ('scene',)                  # So are the other box scenes (faces); cell keys stay as they were.
    return _key({k: settings[k] for k in keys})


def make_jobs(recipes, base_settings, eval_specs_of):
    """(jobs, rows): one training job per recipe plus one control per distinct training settings (control_key).

    Args:
        recipes:       {name: {'spec': dict, 'settings': dict}}.
        eval_specs_of: callable(recipe) -> the full spec dict that recipe's models are evaluated with.
    Returns:
        jobs: {job_id: {'linked_spec': dict or None, 'settings': dict, 'eval_specs': {key: spec dict}}};
        rows: [{'name', 'job', 'control_job', 'eval_key'}].
    """
    jobs, rows = {}, []
    for name, recipe in recipes.items():
        settings = {**base_settings, **recipe.get('settings', {})}
        spec = eval_specs_of(recipe)
        ekey = _key(spec)
        control_id = 'control-' + control_key(settings)
        jobs.setdefault(control_id, {'linked_spec': None, 'settings': settings, 'eval_specs': {}})['eval_specs'][ekey] = spec
        job_id = f'{name}-{_key([spec, settings])}'
        jobs[job_id] = {'linked_spec': spec, 'settings': settings, 'eval_specs': {ekey: spec}}
        rows.append({'name': name, 'job': job_id, 'control_job': control_id, 'eval_key': ekey,
                     'note': recipe.get('note', ''), 'recipe': recipe})
    return jobs, rows


def _job_paths(outdir, job_id):
    stem = os.path.join(outdir, 'runs', job_id)
    return stem + '.json', stem + '.pt'


def pending_evaluations(outdir, job_id, job):
    """None when the job has not run; else the keys of its eval specs its JSON lacks (a control's recipes may have
    grown since it ran) or whose evaluation predates the coverage measure (no 'coverage': evaluated again, whole,
    from the saved network; the same seeds give the same link and SWD numbers)."""
    path, _ = _job_paths(outdir, job_id)
    if not os.path.isfile(path):
        return None
    with open(path, encoding='utf-8') as f:
        done = json.load(f)['evaluations']
    return [k for k in job['eval_specs'] if k not in done or quality_of(done[k])['coverage'] is None]


def _evaluate_saved(job_id, job, outdir, keys):
    """Evaluates a finished job's saved G_ema with the eval specs `keys` and adds them to its JSON."""
    path, network = _job_paths(outdir, job_id)
    if not os.path.isfile(network):
        raise LinkganError(f'{path} lacks evaluations (specs added since it ran, or the coverage measure), and '
                                   'its network was not saved (runs before networks were kept): delete it to rerun '
                                   'the job')
    G = load_network(network).G
    with open(path, encoding='utf-8') as f:
        result = json.load(f)
    for k in keys:
        result['evaluations'][k] = evaluate_model(G, demo_spec(job['eval_specs'][k], w_dim=job['settings']['w_dim']),
                                                  job['settings'])
    with open(path + '.tmp', 'w', encoding='utf-8') as f:
        json.dump(result, f)
    os.replace(path + '.tmp', path)


def run_job(job_id, job, baseline_path, outdir):
    """Process entry: train (a fine-tune, or from scratch; control when linked_spec is None), evaluate with every eval
    spec, save JSON and the G_ema checkpoint (toy.checkpoint). A finished job only gets the evaluations it lacks, from its saved G_ema."""
    torch.set_num_threads(1)
    pending = pending_evaluations(outdir, job_id, job)
    if pending is not None:
        if pending:
            _evaluate_saved(job_id, job, outdir, pending)
        return job_id
    path, network = _job_paths(outdir, job_id)
    settings = job['settings']
    baseline = load_baseline_state(baseline_path)
    start = time.perf_counter()
    spec = demo_spec(job['linked_spec'], w_dim=settings['w_dim']) if job['linked_spec'] else None
    trainer = finetune(baseline, spec, settings, linked=spec is not None)
    seconds = time.perf_counter() - start
    evaluations = {k: evaluate_model(trainer.G_ema, demo_spec(s, w_dim=settings['w_dim']), settings)
                   for k, s in job['eval_specs'].items()}
    eval_spec = next(iter(job['eval_specs'].values()))
    save_checkpoint(network, trainer.G_ema, 'sg2ada', job['linked_spec'], eval_spec=eval_spec,
                    kimg=trainer.cur_nimg / 1000, settings=settings)
    with open(path + '.tmp', 'w', encoding='utf-8') as f:
        json.dump({'job': job_id, 'evaluations': evaluations, 'finetune_seconds': seconds,
                   'settings': settings}, f)
    os.replace(path + '.tmp', path)
    return job_id


def run_jobs(jobs, baseline_path, outdir, workers):
    """Runs the jobs not done yet in `workers` processes, with a progress bar; returns {job_id: result}."""
    os.makedirs(os.path.join(outdir, 'runs'), exist_ok=True)
    todo = [j for j in jobs if pending_evaluations(outdir, j, jobs[j]) != []]
    ctx = multiprocessing.get_context('spawn')
    with progress_bar(len(todo), f'{len(todo)} runs to do ({len(jobs) - len(todo)} done before)') as bar:
        if todo:
            with ctx.Pool(workers) as pool:
                for _ in pool.imap_unordered(_run_job_star, [(j, jobs[j], baseline_path, outdir) for j in todo]):
                    bar.update(1)
    results = {}
    for j in jobs:
        with open(os.path.join(outdir, 'runs', j + '.json'), encoding='utf-8') as f:
            results[j] = json.load(f)
    return results


def _run_job_star(args):
    return run_job(*args)

#----------------------------------------------------------------------------
# Summaries.

RATIO_KEYS = ('mse_i', 'mse_o', 'edit_i', 'keep_o')


def _coverage_values(linked, control):
    """The row's quality keys beside the SWD ratio: absolute SWD and recall / precision of the linked model and its
    control, linked / control recall, and the real-vs-real floors (None where an evaluation predates coverage)."""
    ql, qc = quality_of(linked), quality_of(control)
    cov_l, cov_c, floor = ql['coverage'], qc['coverage'], ql['swd_floor']
    get = lambda cov, k: cov[k] if cov else None
    recall_l, recall_c = get(cov_l, 'recall'), get(cov_c, 'recall')
    return {'linked_quality': ql['swd']['mean'], 'control_quality': qc['swd']['mean'],
            'quality_floor': floor['mean'] if floor else None,
            'recall_ratio': recall_l / recall_c if recall_l is not None and recall_c else None,
            'linked_recall': recall_l, 'control_recall': recall_c,
            'linked_precision': get(cov_l, 'precision'), 'control_precision': get(cov_c, 'precision'),
            'recall_floor': cov_l['floor']['recall'] if cov_l else None,
            'precision_floor': cov_l['floor']['precision'] if cov_l else None,
            'coverage_features': get(cov_l, 'features')}


def summarise_rows(rows, results):
    """Per recipe and link: linked / control ratios, locality, quality (SWD ratio, recall of both and its ratio, the
    floors) and the floor targets."""
    out = []
    for row in rows:
        linked = results[row['job']]['evaluations'][row['eval_key']]
        control = results[row['control_job']]['evaluations'][row['eval_key']]
        q = swd_of(linked) / swd_of(control)
        for link, values in linked['links'].items():
            c = control['links'][link]
            entry = {'recipe': row['name'], 'link': link, 'note': row['note'],
                     **{k: values[k] / max(c[k], 1e-12) for k in RATIO_KEYS},
                     'locality': values['locality'], 'control_locality': c['locality'], 'quality_ratio': q,
                     'linked_values': {k: values[k] for k in RATIO_KEYS + ('locality',)},
                     'control_values': {k: c[k] for k in RATIO_KEYS + ('locality',)},
                     **_coverage_values(linked, control)}
            entry['floor_met'] = all(
                (entry['quality_ratio'] if m == 'quality' else entry[m]) <= b if op == '<=' else
                (entry['quality_ratio'] if m == 'quality' else entry[m]) >= b for m, op, b, _ in TARGETS)
            out.append(entry)
    return out


def linked_over_control(entry, metric):
    """linked / control of one metric of a summarise_rows entry (a study.json row). mse_i, mse_o, edit_i and keep_o
    are stored as that ratio; locality is stored as the linked network's own value (the study's floor is on it), so
    its ratio is taken from the two values here."""
    if metric == 'locality':
        return entry['linked_values']['locality'] / max(entry['control_values']['locality'], 1e-12)
    return entry[metric]


def _cell(value, fmt):
    return 'n/a' if value is None else format(value, fmt)


def study_markdown(entries, title):
    lines = [f'# {title}', '', 'Ratios are linked / control (same baseline, length, data order and latents, no link '
             'term); locality = edit_o / edit_i per region pixel (lower is better; the control\'s in brackets); '
             'quality = SWD ratio to real scenes (lower is better); recall = the share of real scenes the model can '
             'produce (worst part; higher is better; SWD alone cannot see a collapsed generator), linked / control '
             'with the absolute values in brackets. Floor: locality <= 0.15, mse_i and mse_o <= 0.25, edit_i and '
             'keep_o >= 0.5, quality <= 1.5.', '',
             '| recipe | link | mse_i | mse_o | edit_i | keep_o | locality | quality | recall | floor |',
             '|---|---|---|---|---|---|---|---|---|---|']
    for e in entries:
        recall = (f'{_cell(e.get("recall_ratio"), ".3f")} ({_cell(e.get("linked_recall"), ".2f")} / '
                  f'{_cell(e.get("control_recall"), ".2f")})')
        lines.append(f'| {e["recipe"]} | {e["link"]} | {e["mse_i"]:.3f} | {e["mse_o"]:.3f} | {e["edit_i"]:.3f} | '
                     f'{e["keep_o"]:.3f} | {e["locality"]:.3f} ({e["control_locality"]:.2f}) | {e["quality_ratio"]:.3f} | '
                     f'{recall} | {"met" if e["floor_met"] else "missed"} |')
    floors = dict.fromkeys((e.get('quality_floor'), e.get('recall_floor'), e.get('precision_floor'),
                            e.get('coverage_features')) for e in entries)
    for swd, recall, precision, features in floors:
        if swd is not None or recall is not None:
            lines += ['', f'Real vs real (two disjoint sets of real scenes at this sample size; what a perfect '
                      f'generator would score): SWD {_cell(swd, ".1f")}, recall {_cell(recall, ".3f")}, precision '
                      f'{_cell(precision, ".3f")} (features {features}).']
    if any(e.get('linked_recall') is None for e in entries):
        lines += ['', 'n/a: a run evaluated before coverage was measured.']
    notes = {e['recipe']: e['note'] for e in entries if e['note']}
    if notes:
        lines += [''] + [f'- **{k}**: {v}' for k, v in notes.items()]
    return '\n'.join(lines) + '\n'


def frontier_plot(entries):
    series = []
    for number, recipe in enumerate(dict.fromkeys(e['recipe'] for e in entries), start=1):
        pts = [(e['edit_i'], e['locality']) for e in entries if e['recipe'] == recipe]
        # Points carry their recipe's number: colours repeat after ten recipes.
        series.append({'label': f'{number} {recipe}', 'points': pts, 'labels': [str(number)] * len(pts)})
    return xy_plot(series, 'edit_i, linked / control', 'locality (per-pixel out / in)', log_y=True,
                   title='LinkGAN recipes on the demo: locality against kept edit strength (one point per link)',
                   hlines=[(v, f'paper {k} ~{v}') for k, v in LOCALITY_ANCHORS.items()] + [(0.15, 'floor 0.15')],
                   vlines=[(0.5, 'floor 0.5')], size=(900, 600))

#----------------------------------------------------------------------------
# The command.

def axes_sweep_recipes(counts, box=(0.0, 0.0, 0.5, 0.5)):
    """One link (the top-left quadrant) with its first `k` axes, for each k: the Table 3 sweep."""
    return {f'axes-{k}': {'spec': {'links': [{'name': 'top_left', 'axes': f'0:{k}', 'region': {'box': list(box)}}]},
                          'note': ''} for k in counts}


def recipe_spec(recipe):
    """The recipe's spec fields over the built-in spec of its scene (settings.scene; default the cells')."""
    spec = copy.deepcopy(BUILTIN_SPECS[recipe.get('settings', {}).get('scene', 'cells')])
    spec.update(recipe.get('spec', {}))
    return spec


RECIPE_SETTINGS = ('finetune_kimg', 'finetune_batch', 'scratch_kimg', 'channels', 'batch', 'light', 'scene')


def check_recipe_settings(name, settings):
    """Refuses a recipe's settings that would be ignored (an unknown or misspelt key would otherwise train the
    default recipe under this recipe's name) or that cannot train: click.BadParameter naming the recipe and key."""
    if not isinstance(settings, dict):
        raise OptionError('--recipes', f'{name}: "settings" must be an object')
    for key, value in settings.items():
        if key not in RECIPE_SETTINGS:
            raise OptionError('--recipes', f'{name}: settings.{key}: unknown (known: {", ".join(RECIPE_SETTINGS)})')
        if key == 'scene':
            if value not in BUILTIN_SPECS:
                raise OptionError('--recipes', f'{name}: settings.scene: {value!r} is not a box scene with a built-in spec '
                                         f'(known: {", ".join(BUILTIN_SPECS)})')
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise OptionError('--recipes', f'{name}: settings.{key}: expected a positive number, got {value!r}')
        if key == 'light' and value > 1:
            raise OptionError('--recipes', f'{name}: settings.light: expected a strength in (0, 1], got {value!r}')
        if key in ('finetune_batch', 'channels', 'batch') and value != int(value):
            raise OptionError('--recipes', f'{name}: settings.{key}: expected an integer, got {value!r}')
    if settings.get('scene', 'cells') != 'cells' and 'scratch_kimg' not in settings:
        raise OptionError('--recipes', f'{name}: settings.scene only applies with scratch_kimg (a fine-tune keeps the '
                                 'baseline\'s scene)')
    if settings.get('light') and settings.get('scene', 'cells') != 'cells':
        raise OptionError('--recipes', f'{name}: settings.light only applies to the cells scene')
    if 'channels' in settings and 'scratch_kimg' not in settings:
        raise OptionError('--recipes', f'{name}: settings.channels only applies with scratch_kimg (a fine-tune keeps the '
                                 'baseline\'s width)')


@click.command('study', cls=Command)
@click.option('--recipes', 'recipes_file', type=click.Path(exists=True, dir_okay=False), default=None,
              help='JSON of recipes (see module docstring).')
@click.option('--axes-sweep', type=str, default=None, help='Comma-separated axis counts for the Table 3 sweep, e.g. 2,4,8,16,32.')
@click.option('--out', 'outdir', type=click.Path(file_okay=False), required=True)
@click.option('--baseline', type=click.Path(exists=True, dir_okay=False), default=None, help='Default: the shipped one.')
@click.option('--workers', type=click.IntRange(min=1), default=2, show_default=True)
@click.option('--samples', type=click.IntRange(min=16), default=1024, show_default=True)
@click.option('--seed', type=click.IntRange(min=0), default=0, show_default=True)
def study_command(recipes_file, axes_sweep, outdir, baseline, workers, samples, seed):
    """Train LinkGAN recipes (fine-tunes of the shipped baseline, or from scratch) and their controls; tabulate and
    plot the frontier."""
    if bool(recipes_file) == bool(axes_sweep):
        raise UsageProblem('give exactly one of --recipes FILE and --axes-sweep LIST')
    if recipes_file:
        recipes = read_json_option(recipes_file, '--recipes')
        if not isinstance(recipes, dict) or not recipes or not all(isinstance(r, dict) for r in recipes.values()):
            raise OptionError('--recipes', 'expected {"name": {"spec": {...}, "settings": {...}}, ...}')
        for name, recipe in recipes.items():
            check_recipe_settings(name, recipe.get('settings', {}))
    else:
        try:
            counts = [int(t) for t in axes_sweep.split(',') if t.strip()]
        except ValueError:
            raise OptionError('--axes-sweep', f'{axes_sweep!r}: expected integers like 2,4,8') from None
        if not counts or any(k < 1 or k >= DEMO_DEFAULTS['w_dim'] for k in counts):
            raise OptionError('--axes-sweep', f'axis counts must lie in [1, {DEMO_DEFAULTS["w_dim"] - 1}]')
        recipes = axes_sweep_recipes(counts)
    baseline_path = baseline or BASELINE_FILE
    base = load_baseline_state(baseline_path)
    settings = {**DEMO_DEFAULTS, **base['settings'], 'samples': samples, 'seed': seed}
    jobs, rows = make_jobs(recipes, settings, recipe_spec)
    results = run_jobs(jobs, baseline_path, outdir, workers)
    entries = summarise_rows(rows, results)
    with open(os.path.join(outdir, 'study.json'), 'w', encoding='utf-8') as f:
        json.dump({'rows': entries, 'settings': settings, 'recipes': recipes}, f, indent=2)
    title = 'LinkGAN recipe study (demo)' if recipes_file else 'Table 3 trend: number of linked axes (demo)'
    md = study_markdown(entries, title)
    with open(os.path.join(outdir, 'study.md'), 'w', encoding='utf-8') as f:
        f.write(md)
    frontier_plot(entries).save(os.path.join(outdir, 'frontier.png'))
    if axes_sweep:
        pts = lambda k: [(int(e['recipe'].split('-')[1]), e[k]) for e in entries]
        xy_plot([{'label': 'mse_i / control', 'points': pts('mse_i'), 'line': True},
                 {'label': 'mse_o / control', 'points': pts('mse_o'), 'line': True},
                 {'label': 'sum (values)', 'points': [(int(e['recipe'].split('-')[1]), e['linked_values']['mse_i'] +
                                                       e['linked_values']['mse_o']) for e in entries], 'line': True}],
                'linked axes (of 64)', 'value', log_x=True, log_y=True,
                title='Table 3 trend on the demo: leakage against the number of linked axes').save(
            os.path.join(outdir, 'table3.png'))
    click.echo(md)

#----------------------------------------------------------------------------
