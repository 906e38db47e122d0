"""`linkgan-research table2`: the paper's Table 2 in miniature, from-scratch LinkGAN pairs against post-hoc local editing.

Input: one `linkgan-research study` output per training seed, each holding a linked network and its control trained from the
same initial weights, data and latents (examples/research/recipes/table2.json: the aligned faces with the eyes, nose and
mouth linked in one network). For every seed and link the command runs compare (workflows.compare_networks) on the pair (LinkGAN
resample on the linked network; LELSD, ReSeFa and StyleSpace searched on both networks with several seeds each;
a random direction as the floor) into OUT/compare/seed<S>-<link>/ (skipped when its compare.json exists: the
command resumes), then reads them all:

    OUT/table2.json   every region x method x network: MSE_i and MSE_o (x1e-3, divided by all pixels, the paper's
                      layout) and the per-pixel locality out_px / in_px at the matched in-region change (LinkGAN
                      resample at t = 1 on that seed's linked network), per seed ('values') and as median, mean, min, max over
                      seeds; post-hoc methods enter each seed as the median over their search seeds. The paper's
                      rows (metrics.PAPER_TABLE2), quality (SWD with its real-vs-real floor, recall) of control and
                      linked from the studies, and the targets of issue 19.
    OUT/table2.md     the same as tables.
    OUT/table2.png    the Fig. 8 analogue: the first seed's first samples edited in each region by each method at
                      the strength closest to the matched change, with |change| heatmaps on one scale per region.

Why one network with three links: the post-hoc methods run on the same control whatever the link, the paper links
its regions in one generator too, and a network per region would triple the CPU time of every seed.
"""

import json
import multiprocessing
import os
import statistics

import click
import numpy as np
import torch

from linkgan_plugin.analysis.inputs import read_json_option
from linkgan_plugin.analysis.metrics import PAPER_TABLE2
from linkgan_plugin.analysis.pictures import heatmap, leakage_grid, mean_abs_change, outline, stack_vertical
from linkgan_plugin.checks import LinkganError, OptionError
from linkgan_plugin.cli.errors import Command
from linkgan_plugin.cli.options import progress_bar
from linkgan_plugin.demo.settings import demo_spec
from linkgan_plugin.progress import open_bar
from linkgan_plugin.workflows.compare import compare_networks, DEFAULTS as COMPARE_SETTINGS
from linkgan_plugin.workflows.compare_methods import load_edit_samples
from linkgan_plugin.workflows.compare_report import closest_point, lelsd_summaries, post_hoc_summaries, SCALE, spread
from linkgan_research.study import make_jobs, recipe_spec

# Rows of the table: (method label, compare family, summarised over search seeds).
METHODS = (('LinkGAN', 'linkgan-resample', False), ('StyleSpace', 'stylespace', True), ('ReSeFa', 'resefa', True),
           ('LELSD', 'lelsd', True), ('random direction', 'random', False))
POST_HOC = ('StyleSpace', 'ReSeFa', 'LELSD')
FIGURES = ('mse_i', 'mse_o', 'locality')
COMPARE_DEFAULTS = dict(samples=256, quality_images=0, lelsd_seeds=5, post_hoc_seeds=5,
                        lelsd_max_steps=COMPARE_SETTINGS['lelsd_max_steps'], post_hoc_samples=COMPARE_SETTINGS['post_hoc_samples'])

#----------------------------------------------------------------------------
# Inputs.

def study_pair(path):
    """The linked network, its control and their spec of one study output (its first recipe).

    Returns:
        {'seed', 'recipe', 'linked': .pt path, 'control': .pt path, 'spec': full spec dict, 'links': [names],
         'rows': the study's rows of that recipe (per link), 'settings'}.
    """
    study = read_json_option(os.path.join(path, 'study.json'), 'STUDY')
    name = next(iter(study['recipes']))
    _, (row,) = make_jobs({name: study['recipes'][name]}, study['settings'], recipe_spec)
    runs = os.path.join(path, 'runs')
    pair = {'seed': study['settings']['seed'], 'recipe': name, 'settings': study['settings'],
            'linked': os.path.join(runs, row['job'] + '.pt'), 'control': os.path.join(runs, row['control_job'] + '.pt'),
            'spec': recipe_spec(study['recipes'][name]), 'rows': [r for r in study['rows'] if r['recipe'] == name]}
    for key in ('linked', 'control'):
        if not os.path.isfile(pair[key]):
            raise OptionError('STUDY', f'{path}: {pair[key]} is missing (the study has not finished)')
    pair['links'] = [link['name'] for link in pair['spec']['links']]
    return pair


def compare_dir(out, seed, link):
    return os.path.join(out, 'compare', f'seed{seed}-{link}')


def compare_one(pair, link, out, options, echo=print, bar=None):
    """compare_networks on one (seed, link): LinkGAN on the linked network against every post-hoc method on both
    networks, into compare_dir; options: COMPARE_DEFAULTS' keys. Returns the report."""
    report, _ = compare_networks([pair['linked'], pair['control']], compare_dir(out, pair['seed'], link),
                                 spec=json.dumps(pair['spec']), link_name=link, device='cpu', echo=echo,
                                 bar_factory=bar, **options)
    return report


def _compare_worker(args):
    """One comparison in a worker process: one torch thread, its messages in compare_dir/compare.log."""
    pair, link, out, options = args
    torch.set_num_threads(1)
    where = compare_dir(out, pair['seed'], link)
    os.makedirs(where, exist_ok=True)
    with open(os.path.join(where, 'compare.log'), 'w', encoding='utf-8') as log:
        try:
            compare_one(pair, link, out, options, echo=lambda line: print(line, file=log, flush=True))
        except Exception as e:                  # Reported by the parent, naming the log.
            print(f'{type(e).__name__}: {e}', file=log, flush=True)
            return f'seed {pair["seed"]}, {link}: {type(e).__name__}: {e} (see {log.name})'
    return None


def run_compares(pairs, out, options, workers=1, echo=print, bar=None):
    """compare_one on every (seed, link) whose compare.json is missing; options: COMPARE_DEFAULTS' keys.

    workers 1: one after another in this process, each with its own progress bars (`bar`, a bar factory). workers > 1:
    up to that many at once in spawned processes with one torch thread each, their output in compare_dir/compare.log,
    under one bar of finished comparisons; a failure names its log."""
    todo = [(p, link) for p in pairs for link in p['links']
            if not os.path.isfile(os.path.join(compare_dir(out, p['seed'], link), 'compare.json'))]
    echo(f'{len(todo)} comparisons to run ({sum(len(p["links"]) for p in pairs) - len(todo)} done before)')
    if workers <= 1:
        for pair, link in todo:
            echo(f'seed {pair["seed"]}, {link}:')
            compare_one(pair, link, out, options, echo, bar)
        return
    failed = []
    with multiprocessing.get_context('spawn').Pool(workers) as pool, \
            open_bar(bar, len(todo), f'comparisons ({workers} at once)') as b:
        for problem in pool.imap_unordered(_compare_worker, [(p, link, out, options) for p, link in todo]):
            if problem:
                failed.append(problem)
            b.update(1)
    if failed:
        raise LinkganError('comparisons failed:\n  ' + '\n  '.join(failed))

#----------------------------------------------------------------------------
# The table.

def over_seeds(values):
    """compare_report.spread of per-seed values ('values', 'n', 'median', 'min', 'max') and their 'mean'."""
    out = spread(values)
    known = [v for v in values if v is not None]
    out['mean'] = statistics.mean(known) if known else None
    return out


def report_figures(report):
    """{(method label, network role): {'mse_i', 'mse_o', 'locality'}} of one compare report at its matched change
    (mse values x1e-3 by all pixels; post-hoc methods: the median over their search seeds)."""
    role = {label: info['role'] for label, info in report['networks'].items()}
    mse_i = report['match']['in_all'] * SCALE if report['match']['in_all'] is not None else None
    out = {}
    summaries = {(s['network'], s['family']): s for s in post_hoc_summaries(report) + lelsd_summaries(report)}
    for label, family, seeded in METHODS:
        for network in report['networks']:
            if seeded:
                s = summaries.get((network, family))
                if s is None:
                    continue
                mse_o, locality = s['matched']['out_all']['median'], s['matched']['locality']['median']
            else:
                m = next((m for m in report['methods'] if m['network'] == network and m['family'] == family), None)
                if m is None:
                    continue
                mse_o, locality = m['matched']['out_all'], m['matched']['locality']
            out[(label, role[network])] = {'mse_i': mse_i, 'mse_o': mse_o * SCALE if mse_o is not None else None,
                                           'locality': locality}
    return out


def quality_of(pairs):
    """Quality of linked and control over seeds, from the studies' rows: SWD (x1e3) with its floor, recall."""
    keys = ('linked_quality', 'control_quality', 'quality_floor', 'quality_ratio', 'linked_recall', 'control_recall',
            'recall_ratio', 'recall_floor')
    return {k: over_seeds([p['rows'][0].get(k) for p in pairs]) for k in keys}


def build_table(pairs, out, options):
    """The table2.json dict from finished comparisons (module docstring); options: the compare settings used."""
    regions = {}
    for link in pairs[0]['links']:
        per_seed = [report_figures(read_json_option(os.path.join(compare_dir(out, p['seed'], link), 'compare.json'),
                                                    'compare.json')) for p in pairs]
        rows = []
        for key in dict.fromkeys(k for figures in per_seed for k in figures):
            rows.append({'method': key[0], 'network': key[1],
                         **{f: over_seeds([figures.get(key, {}).get(f) for figures in per_seed]) for f in FIGURES}})
        regions[link] = {'rows': rows, 'paper': {m: dict(zip(('mse_i', 'mse_o'), v[link]))
                                                 for m, v in PAPER_TABLE2.items() if link in v}}
    table = {'seeds': [p['seed'] for p in pairs], 'recipe': pairs[0]['recipe'], 'compare': dict(options), 'regions': regions,
             'quality': quality_of(pairs), 'paper_note': 'LinkGAN paper, Table 2 (FFHQ 256 px, x1e-3)'}
    table['targets'] = targets(table)
    return table


def _row(region, method, network):
    return next((r for r in region['rows'] if r['method'] == method and r['network'] == network), None)


def targets(table):
    """Issue 19's floor and goal, each region: floor = LinkGAN's locality median below every post-hoc method's on
    the control (medians over seeds) and quality within 1.25x SWD with recall >= 0.9x; goal = LinkGAN's MSE_o at
    most 1/5 of StyleSpace's and 1/10 of ReSeFa's (control, medians)."""
    out = {}
    q = table['quality']
    quality_ok = (q['quality_ratio']['median'] is not None and q['quality_ratio']['median'] <= 1.25 and
                  q['recall_ratio']['median'] is not None and q['recall_ratio']['median'] >= 0.9)
    for name, region in table['regions'].items():
        ours = _row(region, 'LinkGAN', 'linked')
        med = lambda row, f: row[f]['median'] if row else None
        below = {m: (med(ours, 'locality') is not None and med(_row(region, m, 'control'), 'locality') is not None
                     and med(ours, 'locality') < med(_row(region, m, 'control'), 'locality')) for m in POST_HOC}
        ratio = lambda m: (med(ours, 'mse_o') / med(_row(region, m, 'control'), 'mse_o')
                           if med(ours, 'mse_o') is not None and med(_row(region, m, 'control'), 'mse_o') else None)
        goal = {'StyleSpace': ratio('StyleSpace'), 'ReSeFa': ratio('ReSeFa')}
        out[name] = {'locality_below': below, 'floor_met': all(below.values()) and quality_ok,
                     'mse_o_ratio': goal, 'goal_met': (goal['StyleSpace'] is not None and goal['StyleSpace'] <= 0.2
                                                       and goal['ReSeFa'] is not None and goal['ReSeFa'] <= 0.1)}
    out['quality_ok'] = quality_ok
    return out

#----------------------------------------------------------------------------
# Reports.

def _fmt(s, digits=3):
    if s is None or s['median'] is None:
        return 'n/a'
    if s['min'] == s['max']:
        return f'{s["median"]:.{digits}g}'
    return f'{s["median"]:.{digits}g} [{s["min"]:.{digits}g}-{s["max"]:.{digits}g}]'


def table_markdown(table):
    seeds = ', '.join(str(s) for s in table['seeds'])
    lines = [f'# Table 2 in miniature (recipe `{table["recipe"]}`, training seeds {seeds})', '',
             'MSE_i and MSE_o x1e-3 divided by all pixels (the paper\'s layout), at the in-region change of LinkGAN '
             'resample at t = 1 on each seed\'s linked network; locality = out / in per region pixel. Median '
             f'[min-max] over training seeds; a post-hoc method enters each seed as the median over its search seeds '
             f'(LELSD {table["compare"]["lelsd_seeds"]}, ReSeFa and StyleSpace {table["compare"]["post_hoc_seeds"]}); '
             f'{table["compare"]["samples"]} samples per comparison. Post-hoc methods run on the control (the '
             'unlinked generator, as in the paper) and on the linked network.', '']
    for name, region in table['regions'].items():
        lines += [f'## {name}', '', '| method | network | MSE_i | MSE_o | locality | paper MSE_i / MSE_o |',
                  '|---|---|---|---|---|---|']
        for r in region['rows']:
            paper = region['paper'].get(r['method'])
            paper_text = f'{paper["mse_i"]} / {paper["mse_o"]}' if paper and r['network'] != 'linked' or \
                paper and r['method'] == 'LinkGAN' else ''
            lines.append(f'| {r["method"]} | {r["network"]} | {_fmt(r["mse_i"])} | {_fmt(r["mse_o"])} | '
                         f'{_fmt(r["locality"])} | {paper_text} |')
        lines += [f'| {m} | (paper: no code offline) | | | | {v["mse_i"]} / {v["mse_o"]} |'
                  for m, v in region['paper'].items() if m == 'StyleCLIP']
        t = table['targets'][name]
        below = ', '.join(f'{m} {"yes" if v else "no"}' for m, v in t['locality_below'].items())
        goal = ', '.join(f'{m} {v:.2f}' if v is not None else f'{m} n/a' for m, v in t['mse_o_ratio'].items())
        lines += ['', f'LinkGAN locality below (control, medians): {below}. MSE_o LinkGAN / method: {goal} '
                      f'(goal <= 0.2 StyleSpace, <= 0.1 ReSeFa). Floor {"met" if t["floor_met"] else "missed"}, '
                      f'goal {"met" if t["goal_met"] else "missed"}.', '']
    q = table['quality']
    lines += ['## Quality (studies\' 1024 samples)', '', '| | linked | control | ratio | real-vs-real floor |',
              '|---|---|---|---|---|',
              f'| SWD x1e3 | {_fmt(q["linked_quality"])} | {_fmt(q["control_quality"])} | {_fmt(q["quality_ratio"])} | '
              f'{_fmt(q["quality_floor"])} |',
              f'| recall | {_fmt(q["linked_recall"])} | {_fmt(q["control_recall"])} | {_fmt(q["recall_ratio"])} | '
              f'{_fmt(q["recall_floor"])} |', '',
              f'Quality target (SWD <= 1.25x, recall >= 0.9x): {"met" if table["targets"]["quality_ok"] else "missed"}.', '']
    return '\n'.join(lines)


def edits_picture(pair, out, samples=2, scale=3):
    """The Fig. 8 analogue for one seed: per region, rows = methods (LinkGAN on the linked network, the post-hoc
    methods' picks on the control), columns = per sample the original, the edit at the strength closest to the
    matched change and its |change| heatmap (one scale per region); the region outlined."""
    blocks = []
    spec = demo_spec(pair['spec'], w_dim=pair['settings']['w_dim'])
    for link in pair['links']:
        folder = compare_dir(out, pair['seed'], link)
        report = read_json_option(os.path.join(folder, 'compare.json'), 'compare.json')
        role = {label: info['role'] for label, info in report['networks'].items()}
        picks = {(s['network'], s['family']): s['pick']['key'] for s in post_hoc_summaries(report) + lelsd_summaries(report)
                 if s['pick']}
        chosen = []
        for label, family, seeded in METHODS:
            want = 'linked' if family == 'linkgan-resample' else 'control'
            for m in report['methods']:
                if m['family'] == family and role[m['network']] == want and (not seeded or picks.get((m['network'], family)) == m['key']):
                    chosen.append((f'{label} ({want})', m))
                    break
        rows, diffs = [], []
        edits = {net: load_edit_samples(os.path.join(folder, f'edits-{net}.npz')) for net in report['networks']}
        for title, m in chosen:
            kept = edits[m['network']]
            point = closest_point(m['points'], report['match']['in_px'])
            j = [p['strength'] for p in m['points']].index(point['strength'])
            as_tensor = lambda a: torch.from_numpy(a[:samples].astype(np.float32)).permute(0, 3, 1, 2)
            diffs.append(mean_abs_change(as_tensor(kept['originals']),
                                         [as_tensor(kept['methods'][m['key']]['images'][j])]).numpy())
            rows.append((title, kept['originals'][:samples], kept['methods'][m['key']]['images'][j][:samples]))
        vmax = max(float(d.max()) for d in diffs) if diffs else 1.0
        mask = spec.links[pair['links'].index(link)].region.rasterise(*rows[0][1].shape[1:3]).numpy()
        tiles = []
        for (title, x0, x1), d in zip(rows, diffs):
            row = []
            for i in range(x0.shape[0]):
                row += [outline(x0[i], mask, (255, 0, 0)), outline(x1[i], mask, (255, 0, 0)),
                        outline(heatmap(d[i], vmax), mask, (0, 255, 255))]
            tiles.append(row)
        blocks.append(leakage_grid(tiles, row_labels=[t for t, _, _ in rows], scale=scale,
                                   title=f'{link}: original | edit at the matched change | |change| (one scale), '
                                         f'per sample; seed {pair["seed"]}'))
    return stack_vertical(blocks)


def edits_kept(pair, out):
    """Whether every comparison of `pair` kept its edits (compare's edits-<network>.npz; not committed with the
    results, so a checkout of them can tabulate but not redraw the picture)."""
    for link in pair['links']:
        folder = compare_dir(out, pair['seed'], link)
        report = read_json_option(os.path.join(folder, 'compare.json'), 'compare.json')
        if not all(os.path.isfile(os.path.join(folder, f'edits-{net}.npz')) for net in report['networks']):
            return False
    return True


def write_table(table, picture, out):
    """table2.json, table2.md and (when `picture` is not None) table2.png in `out`; returns the paths written."""
    paths = {k: os.path.join(out, f'table2.{k}') for k in ('json', 'md', 'png')}
    with open(paths['json'], 'w', encoding='utf-8') as f:
        json.dump(table, f, indent=2)
    with open(paths['md'], 'w', encoding='utf-8') as f:
        f.write(table_markdown(table))
    if picture is None:
        del paths['png']
    else:
        picture.save(paths['png'])
    return paths

#----------------------------------------------------------------------------
# The command.

@click.command('table2', cls=Command)
@click.argument('studies', nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@click.option('--out', type=click.Path(file_okay=False), required=True, help='Where compare/ and table2.* go.')
@click.option('--samples', type=click.IntRange(min=2), default=COMPARE_DEFAULTS['samples'], show_default=True,
              help='Samples per comparison (compare --samples).')
@click.option('--lelsd-seeds', type=click.IntRange(min=1), default=COMPARE_DEFAULTS['lelsd_seeds'], show_default=True)
@click.option('--post-hoc-seeds', type=click.IntRange(min=1), default=COMPARE_DEFAULTS['post_hoc_seeds'], show_default=True)
@click.option('--lelsd-max-steps', type=click.IntRange(min=1), default=COMPARE_DEFAULTS['lelsd_max_steps'],
              show_default=True)
@click.option('--post-hoc-samples', type=click.IntRange(min=2), default=COMPARE_DEFAULTS['post_hoc_samples'],
              show_default=True)
@click.option('--quality-images', type=click.IntRange(min=0), default=COMPARE_DEFAULTS['quality_images'],
              show_default=True, help='Quality per edit in each comparison (0: quality comes from the studies).')
@click.option('--workers', type=click.IntRange(min=1), default=1, show_default=True,
              help='Comparisons run at once, each a process with one torch thread (1: in this process).')
def table2_command(studies, out, samples, lelsd_seeds, post_hoc_seeds, lelsd_max_steps, post_hoc_samples,
                   quality_images, workers):
    """Table 2 in miniature: compare every study's linked network and control on each link, then tabulate over seeds.

    STUDIES are `linkgan-research study` outputs, one per training seed (examples/research/recipes/table2.json)."""
    pairs = [study_pair(path) for path in studies]
    if len({p['seed'] for p in pairs}) != len(pairs):
        raise OptionError('STUDIES', f'two studies share a training seed ({[p["seed"] for p in pairs]})')
    if any(p['links'] != pairs[0]['links'] for p in pairs):
        raise OptionError('STUDIES', 'the studies link different regions')
    os.makedirs(out, exist_ok=True)
    options = dict(samples=samples, lelsd_seeds=lelsd_seeds, post_hoc_seeds=post_hoc_seeds, quality_images=quality_images,
                   lelsd_max_steps=lelsd_max_steps, post_hoc_samples=post_hoc_samples)
    run_compares(pairs, out, options, workers, echo=lambda s: click.echo(s, err=True), bar=progress_bar)
    table = build_table(pairs, out, options)
    picture = edits_picture(pairs[0], out) if edits_kept(pairs[0], out) else None
    if picture is None:
        click.echo(f'seed {pairs[0]["seed"]}: its comparisons kept no edits (edits-*.npz): table2.png is not redrawn',
                   err=True)
    paths = write_table(table, picture, out)
    click.echo(table_markdown(table))
    click.echo('wrote ' + ', '.join(paths.values()))
