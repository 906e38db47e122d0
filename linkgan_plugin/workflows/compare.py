"""`linkgan compare`: LinkGAN against post-hoc local editing (LELSD, ReSeFa, StyleSpace) on one region, the paper's
Table 2 question: how much does an edit change the region, and how much does it leak out of it?

For one link (axes A, region M) of the spec and one or more networks, every method edits the same fixed-seed
samples (ws at `truncation`, const noise, the generator's RNG replayed for every render) at several strengths:

| method                    | networks                | edit of w (added to every ws row unless a direction says otherwise) |
|---------------------------|-------------------------|----------------------------------------------------------------------|
| LinkGAN resample          | linked                  | t * (w_new - w) on the axes A (w_new: a fresh z mapped); t = 1 is the Table 2 protocol |
| LinkGAN noise             | linked                  | alpha * N(0, I) on the axes A                                        |
| same axes resampled       | control / baseline      | as LinkGAN resample: what linking adds                               |
| LELSD                     | every network           | s * D * u / |u| for each direction u found on that network (`lelsd.find_directions`, or `--directions`) |
| LELSD within link         | linked (`--within-link`)| as LELSD, directions restricted to the axes A                        |
| ReSeFa                    | every network           | s * D * v / |v|, v ReSeFa's first direction (`resefa.find_directions`) |
| StyleSpace                | every network           | none: style s_c += a * std_c, c StyleSpace's top channel (`stylespace.find_channels`; hooks) |
| random direction          | every network           | s * D * r for a random unit r (the floor: no localisation at all)    |

D is the network's typical distance between two codes, mean ||w_new - w||, so direction strengths s are fractions
of "a whole new sample"; each sample i is edited with sign (-1)^i (both directions of an edit, one render each; a
StyleSpace edit likewise adds (-1)^i a std_c).

StyleSpace strengths a are in units of the channel's std over samples (the paper's unit): CHANNEL_STRENGTHS =
(1, 2, 5, 10, 20). On the demo's seed-0 linked and control networks (link top_left, 32 samples) the top channel is a
ToRGB channel whose in-region change grows as a^2: MSE_i/px 0.012, 0.047, 0.30, 1.2, 4.7 at a = 1 .. 20 against the
matched change 0.14 (LinkGAN resample at t = 1), reached between a = 2 and 5, as ReSeFa reaches it between s = 0.5
and 1 of the direction sweep. The sweep runs on to 20 (~30x the matched change) for channels inside modulated
convolutions, whose effect weight demodulation damps; matching walks from the origin, so a change below a = 1's is
matched too, and a sweep that never reaches the matched change reads n/a, as for any method.

`--methods` picks the method groups: linkgan (LinkGAN's rows, or 'same axes resampled' on a control), lelsd (with
--within-link), resefa, stylespace, random; the command measures all of them by default, `run_compare` the groups
it measured before ReSeFa and StyleSpace (linkgan, lelsd, random) unless told.

ReSeFa and StyleSpace are searched on every network at compare's truncation, once per search seed (`post_hoc_seeds`,
default 5: seeds seed, seed + 1, ...), each on `post_hoc_samples` latents of its own seeded stream
(resefa.RESEFA_STREAM, stylespace.STYLESPACE_STREAM: never compare's evaluation samples nor LELSD's latents). ReSeFa
is deterministic given its samples, so its seeds are seeds of the sample set its metrics are estimated on;
StyleSpace's seed also draws its random-sign probes. They are summarised as LELSD is (median and range over the
seeds, `compare_report.post_hoc_summaries`), and the pick is the seed with the best score of the method's own:
ReSeFa's inside share of its first direction (the share of a small step's squared image change inside the region,
settings['inside_share']), StyleSpace's channel share; both measured on the search's samples, never on the
measured ones. A method a network cannot run (no style layers for StyleSpace; a region empty or whole on every
search sample) is left out of that network with a warning (report['networks'][label]['skipped']). ReSeFa files
given with --directions (settings method 'resefa') are measured as ReSeFa rows, not LELSD, and skip its search.
Cost: ReSeFa's exact Jacobian takes about w_dim + 2 backward passes per search sample (`resefa`'s docstring), so its
post_hoc_seeds x post_hoc_samples samples dominate compare on a large network (5 x 64 on a 512-d StyleGAN2: ~160k
backward passes); StyleSpace takes 2 x 8 probes per sample, whatever the number of channels.

LELSD directions found on the fly are searched as they are measured: at compare's truncation, over its strength range
(lelsd's strengths = the min and max of STRENGTHS['direction']), once per direction seed (`lelsd_seeds`, default 5:
seeds seed, seed + 1, ...; method.md sec. 3b asks for >= 5). Every direction (found or given) is scored by LELSD's own
localization score on held-out latents (`lelsd_scale.held_out_latents` of compare's seed: a stream that is neither a
search batch nor one of the samples measured here), and the best of each network and family is the held-out pick.
Every matched figure is reported per direction, as median and range (min-max) over the directions, and for the pick
(`compare_report.lelsd_summaries`).

Per method and strength, means over samples (images in [-1, 1], x = original, x' = edit, squared change per value;
`metrics.region_change`):
    in_all  = sum(M (x'-x)^2) / (C H W)        out_all  = sum((1-M)(x'-x)^2) / (C H W)   (the paper's normalisation)
    in_px   = sum(M (x'-x)^2) / (C sum M)      out_px   = sum((1-M)(x'-x)^2) / (C sum(1-M))  (per region pixel)
    locality = out_px / in_px (per-pixel leakage; the paper's Table 2 gives LinkGAN ~0.015, StyleSpace ~0.17,
               ReSeFa ~0.36, StyleCLIP ~0.67 for the eyes, a ~3.5% region: metrics.LOCALITY_ANCHORS)
    swd      = sliced Wasserstein distance of the edited images to real images (quality.sliced_wasserstein; x1e3)
Every curve is then matched at one in-region change, and the report written as compare.json, compare.md and
compare.png (`workflows.compare_report`); directions found on the fly are saved in --out as
lelsd-<network>[-within]-seed<s>.npz and resefa-<network>-seed<s>.npz (reuse them with --directions, one file per
seed), StyleSpace channels as stylespace-<network>-seed<s>.npz (all in editing/directions_file.py's format), and the first
EDIT_SAMPLES samples' edits of every method and strength as edits-<network>.npz (`save_edit_samples`, for pictures).
"""

import os
import time

import torch

from linkgan_plugin.analysis.metrics import LOCALITY_ANCHORS
from linkgan_plugin.editing import directions_file, lelsd, resefa, stylespace
from linkgan_plugin.editing.lelsd_scale import strength_grid
from linkgan_plugin.progress import open_bar
from linkgan_plugin.upstream.synthesis_layers import SynthesisLayersNotFound
from linkgan_plugin.workflows.compare_inputs import (check_groups, load_networks, match_directions, network_role,
                                                     real_images_of, resolve_link_spec)
from linkgan_plugin.workflows.compare_methods import (add_quality, build_methods, EDIT_SAMPLES, is_resefa,
                                                      measure_network, METHOD_GROUPS, renders_per_network,
                                                      save_edit_samples, STRENGTHS, SWEEPS)
from linkgan_plugin.workflows.compare_report import (LELSD_FAMILIES, lelsd_summaries, match_target, matched,
                                                     post_hoc_summaries, write_outputs)

API_GROUPS = ('linkgan', 'lelsd', 'random')       # run_compare's default: the groups measured before ReSeFa.
DEFAULTS = dict(samples=256, batch=32, seed=0, truncation=1.0, lelsd_max_steps=lelsd.DEFAULTS['max_steps'],
                lelsd_seeds=5, held_out_samples=lelsd.DEFAULTS['eval_samples'], num_directions=1,
                quality_images=256, device='auto', methods=METHOD_GROUPS, post_hoc_seeds=5,
                post_hoc_samples=resefa.DEFAULTS['samples'])

#----------------------------------------------------------------------------
# The whole comparison.

def run_compare(networks, link_spec, directions=None, samples=DEFAULTS['samples'], batch=DEFAULTS['batch'],
                seed=DEFAULTS['seed'], truncation=DEFAULTS['truncation'], lelsd_max_steps=DEFAULTS['lelsd_max_steps'],
                num_directions=DEFAULTS['num_directions'], within_link=False, real=None,
                quality_images=DEFAULTS['quality_images'], match=None, outdir=None, echo=print, bar_factory=None,
                lelsd_seeds=DEFAULTS['lelsd_seeds'], held_out_samples=DEFAULTS['held_out_samples'],
                groups=API_GROUPS, post_hoc_seeds=DEFAULTS['post_hoc_seeds'],
                post_hoc_samples=DEFAULTS['post_hoc_samples']):
    """Runs the comparison.

    Args:
        networks:   list of (label, LoadedNetwork, GeneratorAdapter).
        link_spec:  one-link LinkSpec (axes and region of the compared link).
        directions: {label: [LelsdResult]} given directions (found on the fly for networks without any): LELSD's,
                    and ReSeFa's (settings['method'] 'resefa': measured as ReSeFa rows).
        groups:     the METHOD_GROUPS measured (default API_GROUPS; the command's default is all of them).
        post_hoc_seeds, post_hoc_samples: ReSeFa and StyleSpace searches per network (seeds seed ..
                    seed + post_hoc_seeds - 1) and the latents each is estimated on (>= 2; their own streams).
        lelsd_max_steps, lelsd_seeds, num_directions: the search of directions found on the fly: at most this many
                    steps, direction seeds seed .. seed + lelsd_seeds - 1, num_directions per seed.
        within_link: also find (or take from `directions`, those with axes) directions inside the link's axes on
                    linked networks.
        held_out_samples: held-out latents every LELSD direction is scored on (the held-out pick).
        real:       {label: real images [n, 3, R, R]} for the quality distance (networks without: no quality).
        match:      in-region change (per pixel) to match at; default see match_target.
        outdir:     where found directions are saved (lelsd-<label>[-within]-seed<s>.npz, resefa-<label>-seed<s>.npz,
                    stylespace-<label>-seed<s>.npz), or None.
        bar_factory: callable(length, label) -> context manager with .update(n) (a progress bar), or None.
    Returns:
        the report dict (JSON-able).
    """
    directions = {k: list(v) for k, v in (directions or {}).items()}
    real = real or {}
    link = link_spec.links[0]
    start = time.perf_counter()
    search = dict(max_steps=lelsd_max_steps, num_directions=num_directions, seed=seed, seeds=lelsd_seeds,
                  within_link=within_link, outdir=outdir, truncation=truncation, held_out_samples=held_out_samples,
                  strengths=(min(STRENGTHS['direction']), max(STRENGTHS['direction'])), groups=tuple(groups),
                  post_hoc_seeds=post_hoc_seeds, post_hoc_samples=post_hoc_samples)
    all_methods, results, net_info, originals_quality = [], {}, {}, {}
    measure = dict(samples=samples, batch=batch, seed=seed, truncation=truncation, quality_images=quality_images,
                   outdir=outdir)
    for label, net, gen in networks:
        methods, measured, info, quality = _measure_network_methods(label, net, gen, link_spec, directions.get(label, []),
                                                                    real.get(label), search, measure, echo, bar_factory)
        results.update(measured['points'])
        all_methods += methods
        net_info[label] = info
        if quality is not None:
            originals_quality[label] = quality
    report = _report(link, all_methods, results, net_info, originals_quality, match, search, dict(
        samples=samples, batch=batch, seed=seed, truncation=truncation, lelsd_max_steps=lelsd_max_steps,
        lelsd_seeds=lelsd_seeds, num_directions=num_directions, within_link=within_link, quality_images=quality_images,
        held_out_samples=held_out_samples, groups=groups, post_hoc_seeds=post_hoc_seeds,
        post_hoc_samples=post_hoc_samples))
    report['lelsd'] = lelsd_summaries(report)
    report['post_hoc'] = post_hoc_summaries(report)
    report['seconds'] = time.perf_counter() - start
    return report


def _report(link, methods, results, net_info, originals_quality, match, search, o):
    """The report dict (JSON-able) of run_compare's measurements; `o` holds its settings."""
    target = match_target(results, methods, match)
    return {
        'link': {'name': link.name, 'axes': link.to_dict()['axes'], 'region': link.region.to_dict()},
        'settings': {'samples': o['samples'], 'batch': o['batch'], 'seed': o['seed'], 'truncation': o['truncation'],
                     'lelsd_max_steps': o['lelsd_max_steps'], 'lelsd_seeds': o['lelsd_seeds'],
                     'num_directions': o['num_directions'], 'lelsd_strengths': list(search['strengths']),
                     'within_link': o['within_link'],
                     'held_out': {'samples': o['held_out_samples'], 'seed': o['seed'],
                                  'stream': 'lelsd_scale.held_out_latents'},
                     'strengths': {k: list(v) for k, v in SWEEPS.items()}, 'quality_images': o['quality_images'],
                     'methods': list(o['groups']), 'post_hoc_seeds': o['post_hoc_seeds'],
                     'post_hoc_samples': o['post_hoc_samples']},
        'anchors': dict(LOCALITY_ANCHORS),
        'networks': net_info,
        'match': target,
        'methods': [{'key': m.key, 'label': m.label, 'network': m.network, 'family': m.family, 'kind': m.kind,
                     'info': m.info, 'points': results[m.key], 'matched': matched(results[m.key], target)}
                    for m in methods],
        'originals_swd': {k: v['swd'] for k, v in originals_quality.items()},
        'originals_quality': originals_quality,
    }


def _measure_network_methods(label, net, gen, link_spec, given, real, search, measure, echo, bar_factory):
    """Every method of one network (its given directions, those found here, the other groups), measured on the
    compared samples; the first edits kept in measure['outdir']. Returns (methods, measured (points without
    images), the report's entry for the network, the realism of its originals or None without real images)."""
    link = link_spec.links[0]
    role = network_role(net, link)
    plain, within = [], []
    if 'lelsd' in search['groups']:
        plain, within = _directions_of(label, net, gen, role, link_spec, [d for d in given if not is_resefa(d)],
                                       search, echo, bar_factory)
    found, skipped = _post_hoc_of(label, net, gen, link_spec, [d for d in given if is_resefa(d)], search, echo,
                                  bar_factory)
    methods = build_methods(label, role, gen, link, plain, within, found['resefa'], found['stylespace'],
                            search['groups'])
    samples, outdir = measure['samples'], measure['outdir']
    q = min(measure['quality_images'], samples) if real is not None else 0
    kept = max(q, min(EDIT_SAMPLES, samples) if outdir else 0)
    with open_bar(bar_factory, renders_per_network(methods, samples, measure['batch']),
                  f'{label}: {len(methods)} methods') as bar:
        measured = measure_network(gen, methods, link_spec, samples, measure['batch'], measure['seed'],
                                   measure['truncation'], kept, bar.update)
    quality = add_quality(measured, methods, real[:q].to(torch.float32), measure['seed'], q) if q else None
    if outdir:
        save_edit_samples(os.path.join(outdir, f'edits-{label}.npz'), measured, methods)
    for pts in measured['points'].values():
        for p in pts:
            p.pop('images', None)
            p.setdefault('swd', None)
    info = {'path': net.path, 'kind': net.kind, 'flavour': net.flavour, 'role': role,
            'hash': lelsd.network_hash(gen.G), 'distance': measured['distance'], 'quality_images': q,
            'skipped': skipped,
            'lelsd_scores': {m.key: m.info.get('score') for m in methods if m.family in LELSD_FAMILIES}}
    return methods, measured, info, quality


def _directions_of(label, net, gen, role, link_spec, given, search, echo, bar_factory):
    """The LELSD directions of one network: (plain, within), the `given` ones without and with axes, plus those found
    here where a kind is missing (within-link only for linked networks with search['within_link']), one search per
    direction seed, saved as lelsd-<label>[-within]-seed<s>.npz in search['outdir'] when set. Every result's scores
    are (re)computed on the held-out latents of compare's seed, so directions of any origin are picked alike.

    search: run_compare's settings {'max_steps', 'num_directions', 'seed', 'seeds', 'within_link', 'outdir',
            'truncation', 'strengths', 'held_out_samples'}.
    """
    plain = [d for d in given if d.axes is None]
    within = [d for d in given if d.axes is not None]
    _warn_truncation(label, given, search['truncation'], echo)
    jobs = []
    if not plain:
        jobs.append(('lelsd', None))
    if search['within_link'] and role == 'linked' and not within:
        jobs.append(('lelsd-within', list(link_spec.links[0].axes)))
    steps, count = search['max_steps'], search['num_directions']
    seeds = range(search['seed'], search['seed'] + search['seeds'])
    for family, axes in jobs:
        for s in seeds:
            with open_bar(bar_factory, steps * count, f'{label}: {family} seed {s} ({count} x <= {steps} steps)') as bar:
                res = lelsd.find_directions(gen, link_spec, num_directions=count, max_steps=steps, axes=axes, seed=s,
                                            truncation=search['truncation'], strengths=search['strengths'],
                                            eval_samples=0, progress=bar.update)
            res.network_path = net.path
            (plain if axes is None else within).append(res)
            _score_held_out(gen, link_spec, res, search, echo)
            if search['outdir']:
                name = f'lelsd-{label}' + ('-within' if axes is not None else '') + f'-seed{s}.npz'
                directions_file.save(os.path.join(search['outdir'], name), res)
            echo(f'{label}: {family} seed {s}: {res.stop["steps"]} steps ({res.stop["reason"]}) in '
                 f'{res.seconds:.1f} s, held-out localization score(s) ' + ', '.join(f'{v:.3f}' for v in res.scores))
    for res in given:
        _score_held_out(gen, link_spec, res, search, echo)
    return plain, within


def _warn_truncation(label, given, truncation, echo):
    """A warning for every given result searched at another truncation than compare measures at."""
    for res in given:
        t = res.settings.get('truncation')
        if t != truncation:
            echo(f'{label}: warning: {res.network_path or "a --directions file"} was searched at truncation {t}, '
                 f'compare measures at {truncation}')


def _post_hoc_of(label, net, gen, link_spec, given_resefa, search, echo, bar_factory):
    """The ReSeFa directions and StyleSpace channels of one network for the groups in search['groups']: ReSeFa's
    `given_resefa` (no search then) or one search per seed, StyleSpace one search per seed (seeds search['seed'] ..
    + search['post_hoc_seeds'] - 1, search['post_hoc_samples'] latents each, at compare's truncation, one direction /
    channel each), saved as resefa-<label>-seed<s>.npz / stylespace-<label>-seed<s>.npz in search['outdir'] when
    set.

    Returns:
        ({'resefa': [LelsdResult], 'stylespace': [StyleChannels]}, {family: why it was left out}): a method the
        network cannot run (resefa / stylespace raise ValueError or SynthesisLayersNotFound) is left out with a
        warning.
    """
    found, skipped = {'resefa': [], 'stylespace': []}, {}
    jobs = [f for f in ('resefa', 'stylespace') if f in search['groups']]
    if 'resefa' in jobs and given_resefa:
        _warn_truncation(label, given_resefa, search['truncation'], echo)
        found['resefa'] = list(given_resefa)
        jobs.remove('resefa')
    n, t = search['post_hoc_samples'], search['truncation']
    find = {'resefa': lambda s, bar: resefa.find_directions(gen, link_spec, count=1, samples=n, seed=s, truncation=t,
                                                            progress=bar.update),
            'stylespace': lambda s, bar: stylespace.find_channels(gen, link_spec, count=1, samples=n, seed=s,
                                                                  truncation=t, progress=bar.update)}
    for family in jobs:
        for s in range(search['seed'], search['seed'] + search['post_hoc_seeds']):
            try:
                with open_bar(bar_factory, n, f'{label}: {family} seed {s} ({n} samples)') as bar:
                    res = find[family](s, bar)
            except (SynthesisLayersNotFound, ValueError) as e:
                echo(f'{label}: warning: no {family} rows: {e}')
                found[family], skipped[family] = [], str(e)
                break
            res.network_path = net.path
            found[family].append(res)
            if search['outdir']:
                path = os.path.join(search['outdir'], f'{family}-{label}-seed{s}.npz')
                directions_file.save(path, res)
            if family == 'resefa':
                what = (f'eigenvalue {res.settings["eigenvalues"][0]:.3g}, inside share '
                        f'{res.settings["inside_share"][0]:.3f}')
            else:
                what = f'channel {res.layers[0]}[{res.channels[0]}] (std {res.stds[0]:.3g}), share {res.shares[0]:.3f}'
            echo(f'{label}: {family} seed {s}: {what} ({n} samples, {res.seconds:.1f} s)')
    return found, skipped


def _score_held_out(gen, link_spec, res, search, echo):
    """Sets res.scores: evaluate_directions on the held-out latents of compare's seed at compare's truncation, over
    the strengths compare sweeps; [] (no held-out pick) with a warning where LELSD cannot read the network's
    synthesis layers (then no direction can have been found on it either: only given ones are measured)."""
    grid = strength_grid(*search['strengths'])
    try:
        res.scores = lelsd.evaluate_directions(gen, link_spec, res, samples=search['held_out_samples'],
                                               seed=search['seed'], truncation=search['truncation'],
                                               strengths=grid).tolist()
    except SynthesisLayersNotFound as e:
        echo(f'warning: no held-out LELSD score, so no held-out pick: {e}')
        res.scores = []
        return
    res.settings['held_out'] = {'samples': search['held_out_samples'], 'seed': search['seed'],
                                'truncation': search['truncation'], 'strengths': grid}


#----------------------------------------------------------------------------

#----------------------------------------------------------------------------
# From files to a written report: what `linkgan compare` runs, callable from Python.

def compare_networks(network_paths, outdir, upstream=None, spec=None, link_name=None, region=None, direction_files=(),
                     data=None, device=DEFAULTS['device'], echo=print, bar_factory=None, **options):
    """Loads the networks, the compared link and the given directions, runs the comparison and writes compare.json,
    compare.md and compare.png (plus the found directions and the kept edits) into `outdir`.

    Args:
        network_paths:   network files (demo checkpoints or upstream snapshots); labels are their file stems.
        spec, link_name, region: the compared link: `spec` (else the first network's own), its link `link_name`
                         (else the first), its region replaced by `region` (JSON text) when given.
        direction_files: LELSD / ReSeFa files of `linkgan directions`, matched to their networks by hash.
        data:            real images (folder or zip) for the realism of the edits; None: demo networks' own scenes.
        options:         run_compare's settings (samples, batch, seed, truncation, groups, match, quality_images,
                         lelsd_*, post_hoc_*, num_directions, within_link, held_out_samples); DEFAULTS for the rest,
                         and every method group unless `groups` is given.
    Returns:
        (report, {'json', 'md', 'png'}: the files written). Errors name the option (OptionError, UsageProblem).
    """
    settings = {k: v for k, v in DEFAULTS.items() if k not in ('device', 'methods')}
    settings.update(groups=DEFAULTS['methods'], within_link=False, match=None)
    unknown = sorted(set(options) - set(settings))
    if unknown:
        raise TypeError(f'compare_networks() got unknown settings: {", ".join(unknown)}')
    settings.update(options)
    check_groups(settings['groups'], settings['match'], settings['within_link'], {})
    loaded, _ = load_networks(network_paths, upstream, device)
    link_spec = resolve_link_spec(loaded, spec, link_name, region)
    given = match_directions(direction_files, loaded, link_spec)
    check_groups(settings['groups'], settings['match'], settings['within_link'], given)
    count = min(settings['quality_images'], settings['samples'])
    real = real_images_of(loaded, data, count, settings['seed']) if settings['quality_images'] else {}
    for label, net, _ in loaded:
        echo(f'{label}: {net.path} ({net.flavour}, {network_role(net, link_spec.links[0])})'
             + ('' if label in real else '; no real images: no quality distance'))
    os.makedirs(outdir, exist_ok=True)
    report = run_compare(loaded, link_spec, given, outdir=outdir, real=real, echo=echo, bar_factory=bar_factory,
                         **settings)
    return report, write_outputs(report, outdir)

#----------------------------------------------------------------------------
