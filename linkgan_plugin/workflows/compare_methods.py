"""The methods `linkgan compare` pits against each other, and how one network's edits are measured (compare.py's
module docstring has the table of methods and the measures): the Method record, the edit of each kind, the seeded
samples, every method at every strength on the same samples (`measure_network`), the realism of the edited images,
and the few edits kept for pictures.
"""

import dataclasses
import math

import numpy as np
import torch

from linkgan_plugin.analysis.coverage import feature_coverage, RandomConvFeatures
from linkgan_plugin.analysis.metrics import region_change
from linkgan_plugin.analysis.pictures import to_rgb_uint8
from linkgan_plugin.analysis.quality import sliced_wasserstein
from linkgan_plugin.editing import lelsd, masking, stylespace
from linkgan_plugin.editing.lelsd_scale import sample_latents, unit_direction
from linkgan_plugin.render import RngReplay, seeded_generator

STRENGTHS = {
    'resample':  (0.25, 0.5, 0.75, 1.0),          # Fraction t of the way to the resampled axes.
    'noise':     (0.25, 0.5, 1.0, 2.0),           # alpha.
    'direction': (0.125, 0.25, 0.5, 1.0, 2.0),    # Fraction s of the typical distance D between two codes.
}
CHANNEL_STRENGTHS = (1.0, 2.0, 5.0, 10.0, 20.0)   # StyleSpace: a in s_c += a * std_c (module docstring).
SWEEPS = {**STRENGTHS, 'channel': CHANNEL_STRENGTHS}  # The sweep of every method kind.
METHOD_GROUPS = ('linkgan', 'lelsd', 'resefa', 'stylespace', 'random')   # --methods (module docstring).
STATS = ('in_all', 'out_all', 'in_px', 'out_px')

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
def measure_network(gen, methods, link_spec, samples, batch, seed, truncation, quality_images=0, progress=None):
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
    masker = masking.RegionMasker(link_spec, link.region.mode if not link.region.is_fixed else 'source')
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
# The methods of one network.

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


def is_resefa(result):
    """Whether a LelsdResult holds ReSeFa directions (resefa.find_directions writes settings['method'] 'resefa')."""
    return result.settings.get('method') == 'resefa'


#----------------------------------------------------------------------------
# Realism and kept edits.

def add_quality(measured, methods, ref, seed, count):
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
    strengths in 'strengths<i>'. Pictures of matched edits (the lab's Table 2) read them with load_edit_samples."""
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

#----------------------------------------------------------------------------
