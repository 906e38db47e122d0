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
compare.png (`research.compare_report`); directions found on the fly are saved in --out as
lelsd-<network>[-within]-seed<s>.npz and resefa-<network>-seed<s>.npz (reuse them with --directions, one file per
seed), StyleSpace channels as stylespace-<network>-seed<s>.npz (`stylespace.load_channels`), and the first
EDIT_SAMPLES samples' edits of every method and strength as edits-<network>.npz (`save_edit_samples`, for pictures).
"""

import dataclasses
import json
import math
import os
import time

import click
import numpy as np
import torch

from linkgan_plugin.analysis.cli_options import (
    device_for_cli, device_option, network_for_cli, network_option, progress_bar, spec_option, truncation_option,
    upstream_option)
from linkgan_plugin.analysis.coverage import feature_coverage, RandomConvFeatures
from linkgan_plugin.analysis.datasets import DatasetError, load_images
from linkgan_plugin.analysis.metrics import LOCALITY_ANCHORS, region_change
from linkgan_plugin.analysis.network_loading import read_training_options, resolve_spec
from linkgan_plugin.analysis.pictures import to_rgb_uint8
from linkgan_plugin.analysis.quality import sliced_wasserstein
from linkgan_plugin.checks import option_errors, SpecError
from linkgan_plugin.demo.data import scene_images
from linkgan_plugin.editing import lelsd, resefa, stylespace
from linkgan_plugin.editing.lelsd_scale import sample_latents, strength_grid, unit_direction
from linkgan_plugin.render import RngReplay, seeded_generator
from linkgan_plugin.research.compare_report import (format_markdown, LELSD_FAMILIES, lelsd_summaries, match_target,
                                                    matched, post_hoc_summaries, write_outputs)
from linkgan_plugin.spec import load_spec
from linkgan_plugin.upstream.synthesis_layers import SynthesisLayersNotFound

STRENGTHS = {
    'resample':  (0.25, 0.5, 0.75, 1.0),          # Fraction t of the way to the resampled axes.
    'noise':     (0.25, 0.5, 1.0, 2.0),           # alpha.
    'direction': (0.125, 0.25, 0.5, 1.0, 2.0),    # Fraction s of the typical distance D between two codes.
}
CHANNEL_STRENGTHS = (1.0, 2.0, 5.0, 10.0, 20.0)   # StyleSpace: a in s_c += a * std_c (module docstring).
SWEEPS = {**STRENGTHS, 'channel': CHANNEL_STRENGTHS}  # The sweep of every method kind.
METHOD_GROUPS = ('linkgan', 'lelsd', 'resefa', 'stylespace', 'random')   # --methods (module docstring).
API_GROUPS = ('linkgan', 'lelsd', 'random')       # run_compare's default: the groups measured before ReSeFa.
DEFAULTS = dict(samples=256, batch=32, seed=0, truncation=1.0, lelsd_max_steps=lelsd.DEFAULTS['max_steps'],
                lelsd_seeds=5, held_out_samples=lelsd.DEFAULTS['eval_samples'], num_directions=1,
                quality_images=256, device='auto', methods=METHOD_GROUPS, post_hoc_seeds=5,
                post_hoc_samples=resefa.DEFAULTS['samples'])
STATS = ('in_all', 'out_all', 'in_px', 'out_px')
REAL_SEED = 1_000_003           # Seed offset of the real scenes drawn for demo networks.

#----------------------------------------------------------------------------
# Methods.

@dataclasses.dataclass
class Method:
    """One edit method on one network.

    kind:      'resample' | 'noise' | 'direction' (edits of the codes) | 'channel' (an edit of one style channel).
    strengths: the sweep (units of the kind: see SWEEPS).
    direction: for 'direction', [w_dim] or [num_ws, w_dim] normalised (lelsd_scale.unit_direction); rows: ws row mask
               or None.
    channels:  for 'channel', a stylespace.StyleChannels; channel info['index'] of it is edited. layers: the
               network's stylespace.StyleLayer list the hooks go on.
    info:      LELSD directions: {'space', 'score' (held-out LS), 'seed', 'index' (in its file), 'search': the search's
               truncation, strengths, steps and stop}; ReSeFa and StyleSpace: {'space', 'score' (the pick's criterion,
               module docstring), 'seed', 'index', 'search': its settings and findings}.
    """
    key: str
    label: str
    network: str
    kind: str
    strengths: tuple
    family: str
    direction: torch.Tensor = None
    rows: torch.Tensor = None
    info: dict = dataclasses.field(default_factory=dict)
    channels: object = None
    layers: list = None


def edit_batch(method, strength, ws, ws_new, noise, axes, distance, signs):
    """The edited codes of one batch for one method and strength (a 'channel' edit leaves them as they are: it edits
    the styles, see render_edit).

    Args:
        ws, ws_new: [N, num_ws, w_dim] originals and fresh codes; noise: [N, w_dim] standard normal.
        axes:       [w_dim] 0/1 mask of the link's axes; distance: D of the network; signs: [N] of +-1.
    Returns:
        [N, num_ws, w_dim].
    """
    if method.kind == 'channel':
        return ws
    if method.kind == 'resample':
        return ws + (strength * (ws_new[:, 0] - ws[:, 0]) * axes)[:, None]
    if method.kind == 'noise':
        return ws + (strength * noise * axes)[:, None]
    if method.kind == 'direction':
        return lelsd.edit_ws(ws, method.direction.to(ws.device), strength * distance * signs.to(ws), method.rows)
    raise ValueError(f'unknown method kind {method.kind!r}')


def render_edit(gen, method, strength, ws, ws_new, noise, axes, distance, signs, c=None):
    """The edited images of one batch: edit_batch's codes rendered, and for a 'channel' method with style s_c of
    channel c = method.channels[info['index']] replaced by s_c + signs_i * strength * std_c (stylespace.StyleHooks
    on method.layers; every other style as the codes give it).

    Args:
        as edit_batch; c: labels [N, c_dim] or None.
    Returns:
        [N, C, H, W] float32.
    """
    codes = edit_batch(method, strength, ws, ws_new, noise, axes, distance, signs)
    if method.kind != 'channel':
        return gen.synthesize(codes, c)['image'].float()
    return stylespace.render_channel_edit(gen, codes, method.channels, method.info.get('index', 0),
                                          strength * signs.float().cpu(), c, method.layers)['image'].float()

#----------------------------------------------------------------------------
# Networks and roles.

def network_role(net, link):
    """'linked' when the network was trained with this link (its stored spec, LinkLoss with the link in
    training_options.json, or a checkpoint flagged linked that stores no spec to check), else 'control'. A checkpoint
    flagged linked was trained with its own spec, which need not hold this link."""
    if net.info.get('linked') is False:
        return 'control'
    if net.info.get('linked') is True and not isinstance(net.checkpoint_spec, dict):
        return 'linked'
    candidates = [net.checkpoint_spec]
    try:
        options = read_training_options(net)
    except Exception:
        options = None
    if options and 'LinkLoss' in str((options.get('loss_kwargs') or {}).get('class_name', '')):
        try:
            spec, _ = resolve_spec(net)
            candidates.append(spec.to_dict())
        except Exception:
            pass
    for spec in candidates:
        if isinstance(spec, dict):
            for l in spec.get('links', []):
                if l.get('name') == link.name and _axes_list(l.get('axes')) == list(link.axes):
                    return 'linked'
    return 'control'


def _axes_list(form):
    if isinstance(form, str) and ':' in form:
        a, b = form.split(':')
        return list(range(int(a), int(b)))
    if isinstance(form, dict):
        return list(range(form['start'], form['stop']))
    return sorted(form) if isinstance(form, list) else None


def unique_labels(paths):
    """Short labels (file stems) for networks, made unique with a suffix."""
    labels, seen = [], {}
    for p in paths:
        stem = os.path.splitext(os.path.basename(p))[0] or 'network'
        seen[stem] = seen.get(stem, 0) + 1
        labels.append(stem if seen[stem] == 1 else f'{stem}-{seen[stem]}')
    return labels


def demo_real_images(net, count, seed):
    """Real scenes for a demo checkpoint (its settings name the scene, resolution and cells), or None."""
    settings = net.info.get('settings') if isinstance(net.info.get('settings'), dict) else None
    if net.kind != 'demo' or not settings or 'resolution' not in settings:
        return None
    if settings.get('scene', 'cells') == 'cells' and 'cells' not in settings:
        return None
    g = torch.Generator().manual_seed(seed + REAL_SEED)
    return scene_images(settings, count, generator=g)

#----------------------------------------------------------------------------
# Measuring.

def sample_inputs(gen, samples, seed, truncation):
    """ws, ws_new, noise [samples, w_dim], c, signs [samples] from seeded streams (sample i is batch independent)."""
    ws, c = sample_latents(gen, samples, seed, stream=0, truncation=truncation)
    z_new = torch.randn([samples, gen.z_dim], generator=seeded_generator(seed, 1))
    with torch.no_grad():
        ws_new = gen.map(z_new.to(gen.device), c, truncation)
    noise = torch.randn([samples, gen.w_dim], generator=seeded_generator(seed, 2)).to(gen.device)
    signs = torch.tensor([1.0 if i % 2 == 0 else -1.0 for i in range(samples)])
    return ws, ws_new, noise, c, signs


@torch.no_grad()
def measure_network(gen, methods, link_spec, samples=DEFAULTS['samples'], batch=DEFAULTS['batch'],
                    seed=DEFAULTS['seed'], truncation=DEFAULTS['truncation'], quality_images=0, progress=None):
    """Every method of one network at every strength on the same samples.

    Args:
        gen:            GeneratorAdapter; methods: Method list (all on this network).
        link_spec:      one-link LinkSpec (axes and region).
        quality_images: keep the first this many edited images of every setting (for the quality distance).
        progress:       callable(n) after every render of a batch.
    Returns:
        {'distance': D, 'originals': [q, C, H, W] or None,
         'points': {method key: [{'strength', stat: mean, stat + '_std': std, 'images': [q, ...] or None}, ...]}}
    """
    link = link_spec.links[0]
    masker = lelsd.RegionMasker(link_spec, link.region.mode if not link.region.is_fixed else 'source')
    axes = torch.zeros(gen.w_dim, device=gen.device)
    axes[link.axes] = 1
    ws_all, ws_new_all, noise_all, c_all, signs_all = sample_inputs(gen, samples, seed, truncation)
    distance = float((ws_new_all[:, 0] - ws_all[:, 0]).norm(dim=1).mean())
    acc = {m.key: [{k: [] for k in STATS} for _ in m.strengths] for m in methods}
    images = {m.key: [[] for _ in m.strengths] for m in methods}
    originals = []
    for i in range(0, samples, batch):
        sl = slice(i, min(i + batch, samples))
        ws, ws_new, noise, c, signs = ws_all[sl], ws_new_all[sl], noise_all[sl], c_all[sl], signs_all[sl]
        replay = RngReplay(ws.device)
        x = gen.synthesize(ws, c)['image'].float()
        if progress is not None:
            progress(1)
        keep = max(0, min(quality_images - i, x.shape[0]))
        if keep:
            originals.append(x[:keep].cpu())
        for m in methods:
            for j, s in enumerate(m.strengths):
                replay.rewind()
                x1 = render_edit(gen, m, s, ws, ws_new, noise, axes, distance, signs, c)
                sem = masker.segment(x, x1)
                mask = masker.at(x.shape[2], x.shape[3], x.device, sem)
                for k, v in region_change(x, x1, mask[:, None]).items():
                    acc[m.key][j][k].append(v[:, 0].double().cpu())
                if keep:
                    images[m.key][j].append(x1[:keep].cpu())
                if progress is not None:
                    progress(1)
    points = {}
    for m in methods:
        points[m.key] = []
        for j, s in enumerate(m.strengths):
            entry = {'strength': float(s)}
            for k in STATS:
                v = torch.cat(acc[m.key][j][k])
                entry[k], entry[k + '_std'] = float(v.mean()), float(v.std(unbiased=False))
            entry['locality'] = entry['out_px'] / entry['in_px'] if entry['in_px'] > 0 else None
            entry['images'] = torch.cat(images[m.key][j]) if images[m.key][j] else None
            points[m.key].append(entry)
    return {'distance': distance, 'originals': torch.cat(originals) if originals else None, 'points': points}


def renders_per_network(methods, samples, batch):
    """Progress units measure_network reports."""
    return math.ceil(samples / batch) * (1 + sum(len(m.strengths) for m in methods))

#----------------------------------------------------------------------------
# The whole comparison.

def build_methods(label, role, gen, link, directions=(), within=(), resefa_results=(), channels=(),
                  groups=METHOD_GROUPS):
    """The methods of one network (see the module table), in the order linkgan, lelsd, lelsd-within, resefa,
    stylespace, random.

    Args:
        directions / within: LelsdResult lists (every direction of each is a method).
        resefa_results: LelsdResult list of ReSeFa (the first direction of each); channels: stylespace.StyleChannels
                    list (the first channel of each).
        groups:     the METHOD_GROUPS to build; 'linkgan' and 'random' need nothing else, the others build from the
                    lists given.
    """
    methods = []
    if 'linkgan' in groups and role == 'linked':
        methods.append(Method(f'{label}/linkgan-resample', 'LinkGAN resample', label, 'resample', STRENGTHS['resample'], 'linkgan-resample'))
        methods.append(Method(f'{label}/linkgan-noise', 'LinkGAN noise', label, 'noise', STRENGTHS['noise'], 'linkgan-noise'))
    elif 'linkgan' in groups:
        methods.append(Method(f'{label}/control-resample', 'same axes resampled', label, 'resample', STRENGTHS['resample'], 'control-resample'))
    for family, title, results in (('lelsd', 'LELSD', directions), ('lelsd-within', 'LELSD within link', within)):
        n = 0
        for res in results:
            for k in range(res.num_directions):
                n += 1
                suffix = f' #{n}' if sum(r.num_directions for r in results) > 1 else ''
                s = res.settings
                search = {'truncation': s.get('truncation'), 'strengths': s.get('strengths'), 'stop': res.stop}
                score = res.scores[k] if k < len(res.scores) else None
                methods.append(direction_method(label, family, f'{title}{suffix}', n, res, k, gen,
                                                {'space': res.space, 'score': score, 'seed': s.get('seed'),
                                                 'index': k, 'search': search}))
    for n, res in enumerate(resefa_results, 1):
        s = res.settings
        share, eigenvalue = (s.get(key, [None])[0] for key in ('inside_share', 'eigenvalues'))
        search = {'truncation': s.get('truncation'), 'samples': s.get('samples'), 'tau': s.get('tau'),
                  'resolution': s.get('resolution'), 'eigenvalue': eigenvalue, 'inside_share': share}
        suffix = f' #{n}' if len(resefa_results) > 1 else ''
        methods.append(direction_method(label, 'resefa', f'ReSeFa{suffix}', n, res, 0, gen,
                                        {'space': res.space, 'score': share, 'seed': s.get('seed'), 'index': 0,
                                         'search': search}))
    layers = stylespace.style_layers(gen.G) if channels else None
    for n, res in enumerate(channels, 1):
        s = res.settings
        search = {'truncation': s.get('truncation'), 'samples': s.get('samples'), 'probes': s.get('probes'),
                  'layer': res.layers[0], 'channel': res.channels[0], 'std': res.stds[0]}
        suffix = f' #{n}' if len(channels) > 1 else ''
        methods.append(Method(f'{label}/stylespace-{n}', f'StyleSpace{suffix}', label, 'channel', CHANNEL_STRENGTHS,
                              'stylespace', info={'space': 's', 'score': res.shares[0], 'seed': s.get('seed'),
                                                  'index': 0, 'search': search},
                              channels=res, layers=layers))
    if 'random' in groups:
        g = torch.Generator().manual_seed(12345)
        r = torch.randn([gen.w_dim], generator=g).to(gen.device)
        methods.append(Method(f'{label}/random', 'random direction', label, 'direction', STRENGTHS['direction'],
                              'random', unit_direction(r)))
    return methods


def direction_method(label, family, title, n, res, k, gen, info):
    """The 'direction' Method of direction k of the LelsdResult `res` (key <label>/<family>-<n>), unit-normalised on
    its rows."""
    u = res.direction(k, gen.device)
    rows = res.row_mask(gen.device) if res.rows is not None else None
    return Method(f'{label}/{family}-{n}', title, label, 'direction', STRENGTHS['direction'], family,
                  unit_direction(u, rows), rows, info)


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
    for label, net, gen in networks:
        role = network_role(net, link)
        given = directions.get(label, [])
        given_resefa = [d for d in given if is_resefa(d)]
        plain, within = [], []
        if 'lelsd' in groups:
            plain, within = _directions_of(label, net, gen, role, link_spec, [d for d in given if not is_resefa(d)],
                                           search, echo, bar_factory)
        found, skipped = _post_hoc_of(label, net, gen, link_spec, given_resefa, search, echo, bar_factory)
        methods = build_methods(label, role, gen, link, plain, within, found['resefa'], found['stylespace'], groups)
        q = min(quality_images, samples) if label in real else 0
        kept = max(q, min(EDIT_SAMPLES, samples) if outdir else 0)
        with _bar(bar_factory, renders_per_network(methods, samples, batch), f'{label}: {len(methods)} methods') as bar:
            measured = measure_network(gen, methods, link_spec, samples, batch, seed, truncation, kept, bar.update)
        if q:
            originals_quality[label] = _add_quality(measured, methods, real[label][:q].to(torch.float32), seed, q)
        if outdir:
            save_edit_samples(os.path.join(outdir, f'edits-{label}.npz'), measured, methods)
        for pts in measured['points'].values():
            for p in pts:
                p.pop('images', None)
                p.setdefault('swd', None)
        results.update(measured['points'])
        all_methods += methods
        net_info[label] = {'path': net.path, 'kind': net.kind, 'flavour': net.flavour, 'role': role,
                           'hash': lelsd.network_hash(gen.G), 'distance': measured['distance'],
                           'quality_images': q, 'skipped': skipped,
                           'lelsd_scores': {m.key: m.info.get('score') for m in methods if m.family in LELSD_FAMILIES}}
    target = match_target(results, all_methods, match)
    report = {
        'link': {'name': link.name, 'axes': link.to_dict()['axes'], 'region': link.region.to_dict()},
        'settings': {'samples': samples, 'batch': batch, 'seed': seed, 'truncation': truncation,
                     'lelsd_max_steps': lelsd_max_steps, 'lelsd_seeds': lelsd_seeds, 'num_directions': num_directions,
                     'lelsd_strengths': list(search['strengths']), 'within_link': within_link,
                     'held_out': {'samples': held_out_samples, 'seed': seed, 'stream': 'lelsd_scale.held_out_latents'},
                     'strengths': {k: list(v) for k, v in SWEEPS.items()}, 'quality_images': quality_images,
                     'methods': list(groups), 'post_hoc_seeds': post_hoc_seeds, 'post_hoc_samples': post_hoc_samples},
        'anchors': dict(LOCALITY_ANCHORS),
        'networks': net_info,
        'match': target,
        'methods': [{'key': m.key, 'label': m.label, 'network': m.network, 'family': m.family, 'kind': m.kind,
                     'info': m.info, 'points': results[m.key], 'matched': matched(results[m.key], target)}
                    for m in all_methods],
        'originals_swd': {k: v['swd'] for k, v in originals_quality.items()},
        'originals_quality': originals_quality,
    }
    report['lelsd'] = lelsd_summaries(report)
    report['post_hoc'] = post_hoc_summaries(report)
    report['seconds'] = time.perf_counter() - start
    return report


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
            with _bar(bar_factory, steps * count, f'{label}: {family} seed {s} ({count} x <= {steps} steps)') as bar:
                res = lelsd.find_directions(gen, link_spec, num_directions=count, max_steps=steps, axes=axes, seed=s,
                                            truncation=search['truncation'], strengths=search['strengths'],
                                            eval_samples=0, progress=bar.update)
            res.network_path = net.path
            (plain if axes is None else within).append(res)
            _score_held_out(gen, link_spec, res, search, echo)
            if search['outdir']:
                name = f'lelsd-{label}' + ('-within' if axes is not None else '') + f'-seed{s}.npz'
                lelsd.save_directions(os.path.join(search['outdir'], name), res)
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


def is_resefa(result):
    """Whether a LelsdResult holds ReSeFa directions (resefa.find_directions writes settings['method'] 'resefa')."""
    return result.settings.get('method') == 'resefa'


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
                with _bar(bar_factory, n, f'{label}: {family} seed {s} ({n} samples)') as bar:
                    res = find[family](s, bar)
            except (SynthesisLayersNotFound, ValueError) as e:
                echo(f'{label}: warning: no {family} rows: {e}')
                found[family], skipped[family] = [], str(e)
                break
            res.network_path = net.path
            found[family].append(res)
            if search['outdir']:
                path = os.path.join(search['outdir'], f'{family}-{label}-seed{s}.npz')
                (lelsd.save_directions if family == 'resefa' else stylespace.save_channels)(path, res)
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


def _add_quality(measured, methods, ref, seed, count):
    """Sets 'swd' (sliced Wasserstein distance to the real images `ref`) and 'recall' / 'precision' (coverage in
    analysis.coverage.RandomConvFeatures: SWD alone cannot see lost diversity) on every point of measure_network's
    result from the first `count` of its kept images; returns those of the unedited originals as {'swd', 'recall',
    'precision'}."""
    features = RandomConvFeatures()
    real_features = features(ref)

    def quality_of(images):
        images = images[:count]
        covered = feature_coverage(real_features, features(images), features.groups)
        return {'swd': sliced_wasserstein(images, ref, seed=seed)['mean'], 'recall': covered['recall'],
                'precision': covered['precision']}
    for m in methods:
        for p in measured['points'][m.key]:
            p.update(quality_of(p['images']))
    return quality_of(measured['originals'])


EDIT_SAMPLES = 4                # Samples whose edits run_compare keeps in --out (edits-<network>.npz) for pictures.


def save_edit_samples(path, measured, methods, count=EDIT_SAMPLES):
    """The first `count` samples of measure_network's result as uint8 images (an npz of about 10 kB per method at
    32 px): 'originals' [n, H, W, C]; per method i 'method<i>' [strengths, n, H, W, C], its key in 'keys' and its
    strengths in 'strengths<i>'. Pictures of matched edits (`research.table2`) read them with load_edit_samples."""
    to8 = lambda x: to_rgb_uint8(x[:count].float())
    arrays = {'originals': to8(measured['originals']), 'keys': np.array([m.key for m in methods])}
    for i, m in enumerate(methods):
        points = measured['points'][m.key]
        arrays[f'method{i}'] = np.stack([to8(p['images']) for p in points])
        arrays[f'strengths{i}'] = np.array([p['strength'] for p in points], dtype=np.float32)
    np.savez_compressed(path, **arrays)


def load_edit_samples(path):
    """save_edit_samples' file: {'originals': [n, H, W, C] uint8, 'methods': {key: {'strengths': [S],
    'images': [S, n, H, W, C] uint8}}}."""
    with np.load(path) as f:
        keys = [str(k) for k in f['keys']]
        return {'originals': f['originals'],
                'methods': {k: {'strengths': f[f'strengths{i}'], 'images': f[f'method{i}']} for i, k in enumerate(keys)}}


class _NullBar:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, n):
        pass


def _bar(factory, length, label):
    return factory(length, label) if factory is not None else _NullBar()


#----------------------------------------------------------------------------
# CLI.

class MethodGroups(click.ParamType):
    """'linkgan,lelsd,random' -> ('linkgan', 'lelsd', 'random'): names of METHOD_GROUPS, comma-separated, each at
    most once, at least one; kept in METHOD_GROUPS' order."""
    name = 'methods'

    def convert(self, value, param, ctx):
        if isinstance(value, (list, tuple)):
            names = list(value)
        else:
            names = [v.strip() for v in str(value).split(',') if v.strip()]
        unknown = [v for v in names if v not in METHOD_GROUPS]
        if unknown:
            self.fail(f'{unknown[0]!r} is not a method; choose from {", ".join(METHOD_GROUPS)} (comma-separated)',
                      param, ctx)
        if not names or len(set(names)) != len(names):
            self.fail(f'{value!r}: name each method at most once, at least one of {", ".join(METHOD_GROUPS)}',
                      param, ctx)
        return tuple(g for g in METHOD_GROUPS if g in names)


def _check_groups(groups, match, within_link, given):
    """Click errors naming --methods for options that need a group it leaves out (given: {label: [LelsdResult]})."""
    def fail(message):
        raise click.BadParameter(message, param_hint='--methods')
    if 'linkgan' not in groups and match is None:
        fail('without linkgan there is no LinkGAN resample at t = 1 to match at: give --match')
    files = [d for ds in given.values() for d in ds]
    if 'lelsd' not in groups and (within_link or any(not is_resefa(d) for d in files)):
        fail('--within-link and LELSD --directions files need lelsd among the methods')
    if 'resefa' not in groups and any(is_resefa(d) for d in files):
        fail('ReSeFa --directions files need resefa among the methods')

def _load_networks(paths, upstream, device):
    dev = device_for_cli(device)
    out = []
    for path, label in zip(paths, unique_labels(paths)):
        net, gen = network_for_cli(path, upstream, dev, param_hint='--network')
        out.append((label, net, gen))
    return out, dev


def _resolve_link_spec(networks, spec, link_name, region):
    """The one-link spec compared: --spec (else the first network's own spec), link --link (else the first),
    region replaced by --region when given."""
    w_dim = networks[0][2].w_dim
    if spec is not None:
        with option_errors('--spec', SpecError):
            full = load_spec(spec, w_dim=w_dim)
    else:
        full = None
        for _, net, _ in networks:
            try:
                full, _ = resolve_spec(net, w_dim=w_dim)
                break
            except Exception:
                continue
        if full is None:
            raise click.UsageError('no link spec: none of the networks stores one; pass --spec FILE')
    name = link_name or full.names[0]
    with option_errors('--link'):
        one = full.select([name])
    if region is not None:
        with option_errors('--region', SpecError):
            reg = lelsd.region_spec(region, name=name, w_dim=w_dim).links[0].region
        l = one.links[0]
        one = load_spec({'links': [{'name': l.name, 'axes': l.to_dict()['axes'], 'region': reg.to_dict()}]}, w_dim=w_dim)
    for label, _, gen in networks:
        if gen.w_dim != w_dim:
            raise click.BadParameter(f'{label}: w_dim {gen.w_dim} differs from the first network\'s {w_dim}', param_hint='--network')
    return one


def _match_directions(files, networks, link_spec):
    by_hash = {lelsd.network_hash(gen.G): label for label, _, gen in networks}
    out = {}
    for path in files:
        with option_errors('--directions'):
            res = lelsd.load_directions(path)
        label = by_hash.get(res.network_hash)
        if label is None:
            raise click.BadParameter(f'{path}: found on network {res.network_hash} ({res.network_path}), which is not '
                                     'among --network', param_hint='--directions')
        if res.region != link_spec.links[0].region.to_dict():
            raise click.BadParameter(f'{path}: directions of region {json.dumps(res.region)}, but the compared region is '
                                     f'{json.dumps(link_spec.links[0].region.to_dict())}', param_hint='--directions')
        out.setdefault(label, []).append(res)
    return out


@click.command('compare', context_settings={'help_option_names': ['-h', '--help']})
@network_option('--network', 'networks', multiple=True,
                help='A network (repeatable): linked, control, baseline; upstream snapshot or demo checkpoint.')
@upstream_option()
@spec_option(help='Link spec (file or inline JSON). Default: the first network\'s own.')
@click.option('--link', 'link_name', type=str, default=None, help='The link (axes and region) compared. Default: the first.')
@click.option('--region', type=str, default=None, help='Override the link\'s region: JSON of any region kind.')
@click.option('--out', 'outdir', required=True, type=click.Path(file_okay=False), help='Output directory.')
@click.option('--directions', 'direction_files', multiple=True, type=click.Path(exists=True, dir_okay=False),
              help='`linkgan lelsd` files (repeatable), matched to networks by hash. Default: found on the fly.')
@click.option('--within-link', is_flag=True, help='Also LELSD directions restricted to the link\'s axes (linked networks).')
@click.option('--methods', 'groups', type=MethodGroups(), default=','.join(DEFAULTS['methods']), show_default=True,
              help='Methods measured, comma-separated: linkgan (or same axes resampled on a control), lelsd, resefa, '
              'stylespace, random.')
@click.option('--samples', type=click.IntRange(min=2), default=DEFAULTS['samples'], show_default=True)
@click.option('--batch', type=click.IntRange(min=1), default=DEFAULTS['batch'], show_default=True)
@click.option('--seed', type=click.IntRange(min=0), default=DEFAULTS['seed'], show_default=True)
@truncation_option(default=DEFAULTS['truncation'], help='Truncation psi of the samples and of the LELSD search.')
@click.option('--lelsd-seeds', type=click.IntRange(min=1), default=DEFAULTS['lelsd_seeds'], show_default=True,
              help='LELSD searches per network (direction seeds --seed, --seed + 1, ...): median, range, '
              'held-out pick.')
@click.option('--lelsd-max-steps', type=click.IntRange(min=1), default=DEFAULTS['lelsd_max_steps'], show_default=True,
              help='Most steps per LELSD direction found on the fly (its plateau rule usually stops sooner).')
@click.option('--num-directions', type=click.IntRange(min=1), default=DEFAULTS['num_directions'], show_default=True,
              help='LELSD directions per seed (decorrelated, method.md sec. 4).')
@click.option('--post-hoc-seeds', type=click.IntRange(min=1), default=DEFAULTS['post_hoc_seeds'], show_default=True,
              help='ReSeFa and StyleSpace searches per network (seeds of their own sample streams --seed, --seed + 1, '
              '...): median, range, pick by their own score.')
@click.option('--post-hoc-samples', type=click.IntRange(min=2), default=DEFAULTS['post_hoc_samples'],
              show_default=True, help='Latents per ReSeFa / StyleSpace search (never the measured samples).')
@click.option('--held-out-samples', type=click.IntRange(min=1), default=DEFAULTS['held_out_samples'],
              show_default=True, help='Held-out latents (never the measured samples) that pick one LELSD direction.')
@click.option('--data', type=click.Path(exists=True), default=None,
              help='Real images (folder or zip) for the quality distance. Demo networks use real scenes by default.')
@click.option('--quality-images', type=click.IntRange(min=0), default=DEFAULTS['quality_images'], show_default=True,
              help='Images per setting for the quality distance (0: none).')
@click.option('--match', type=click.FloatRange(min=0.0, min_open=True), default=None,
              help='In-region change per pixel to match at. Default: LinkGAN resample at t = 1.')
@device_option()
def compare_command(networks, upstream, spec, link_name, region, outdir, direction_files, within_link, groups,
                    samples, batch, seed, truncation, lelsd_seeds, lelsd_max_steps, num_directions, post_hoc_seeds,
                    post_hoc_samples, held_out_samples, data, quality_images, match, device):
    """LinkGAN against LELSD, ReSeFa, StyleSpace (and a random direction) on one region: in-region and out-of-region
    change, Table 2 layout."""
    _check_groups(groups, match, within_link, {})
    loaded, dev = _load_networks(networks, upstream, device)
    link_spec = _resolve_link_spec(loaded, spec, link_name, region)
    given = _match_directions(direction_files, loaded, link_spec)
    _check_groups(groups, match, within_link, given)
    real = {}
    if quality_images:
        for label, net, gen in loaded:
            count = min(quality_images, samples)
            if data:
                with option_errors('--data', DatasetError):
                    real[label] = load_images(data, count, gen.img_resolution, seed=seed)
            else:
                imgs = demo_real_images(net, count, seed)
                if imgs is not None:
                    real[label] = imgs
    for label, net, _ in loaded:
        click.echo(f'{label}: {net.path} ({net.flavour}, {network_role(net, link_spec.links[0])})'
                   + ('' if label in real else '; no real images: no quality distance'), err=True)
    os.makedirs(outdir, exist_ok=True)
    report = run_compare(loaded, link_spec, given, samples, batch, seed, truncation, lelsd_max_steps, num_directions,
                         within_link, real, quality_images, match, outdir, echo=lambda s: click.echo(s, err=True),
                         bar_factory=progress_bar, lelsd_seeds=lelsd_seeds, held_out_samples=held_out_samples,
                         groups=groups, post_hoc_seeds=post_hoc_seeds, post_hoc_samples=post_hoc_samples)
    paths = write_outputs(report, outdir)
    click.echo(format_markdown(report))
    click.echo(f'wrote {paths["json"]}, {paths["md"]}, {paths["png"]} ({report["seconds"]:.1f} s)')

#----------------------------------------------------------------------------
