"""LELSD (Pajouheshgar, Zhang, Süsstrunk, ICASSP 2022): latent directions whose edits stay inside one region,
found post hoc on any generator this project loads. Written from the paper and method.md sec. 4.

An edit moves a latent code along a direction u with strength a: ws' = ws + a * u (on the chosen ws rows). LELSD
scores where the edit changes the generator's synthesis feature maps r_l (every synthesis layer except the constant
input: `upstream.synthesis_layers`), read through forward hooks:

    d_l(u)  = mean over channels of (r_l(ws + a u) - r_l(ws))^2                       [N, h_l, w_l]
    LS_l(u) = sum_hw(m_l * d_l) / (sum_hw d_l + eps)                                 [N], in [0, 1]
    LS(u)   = mean over layers l and samples of LS_l(u)
    J       = LS(u_k) - gamma * mean|Corr(u_1..u_K) - I|                          (the penalty only when K > 1)

m_l is the region mask at layer l's resolution: fixed regions (box, boxes, preset, mask image) are rasterised
exactly at that resolution (`regions.RegionMasks`); semantic regions (a segmenter) are segmented on the original
image and on the edited image, combined per sample ('mean' of the two by default as the paper does; 'union',
'intersection', or 'source': the original's only) and area-resized. Corr is the matrix of cosines between the
(flattened) directions, so the penalty pushes them towards orthogonality, as the paper says it should.

Optimisation (the paper and its notebooks): Adam, lr 1e-3 halved every 50 of a direction's steps, 200 steps per
direction with a batch of 4 fresh latents (800 latents), a ~ U[-1, 1] per sample, gamma 5, truncation 0.7, no unit
norm. With K directions the steps go round by round; every round trains each direction once, in a random order,
each with its own Adam (an untrained direction never moves through momentum).

Spaces:
    'w':     one direction [w_dim] added to every chosen row of ws;
    'wplus': one direction per row [num_ws, w_dim]; rows outside the chosen subset are zero and stay zero.
    `rows` (the CLI's --layers) selects the ws rows an edit touches, during the search and when editing.
    `axes` (the CLI's --within-link) restricts directions to some W axes (zero elsewhere).
Style space S is not offered: it needs per-flavour hooks on every affine layer.

What this implementation does differently from the public code (method.md's list of its defects): there is one
score (the squared feature change), so no loss-name option whose default could fail its own check; edits always add
the direction (there is no Z space whose layer edits would scale the code instead); W+ directions are normalised per
row, over w_dim, when unit_norm is asked for; masks are per sample (no threshold of one sample applied to a batch);
no F1 score is computed (the public one lacks its factor 2): `linkgan compare` measures locality instead; the device
is whatever the generator is on; .npz files are read with numpy (no pickles) and networks by network_loading
(`torch.load(map_location='cpu')`).

    result = find_directions(gen, region, num_directions=2, space='w', progress=bar.update)
    save_directions('dirs.npz', result)
    result = load_directions('dirs.npz', gen)
    ws_edit = edit_ws(ws, result.direction(0), strength, result.row_mask(gen.device))

The command `linkgan lelsd` is `editing.lelsd_command`; `linkgan edit --direction FILE` draws a saved direction.
"""

import dataclasses
import hashlib
import json
import math
import os
import time

import numpy as np
import torch

from linkgan_plugin.regions import BatchMasks, RegionMasks
from linkgan_plugin.render import RngReplay, seeded_generator
from linkgan_plugin.checks import check_argument, Choice, SpecError
from linkgan_plugin.spec import load_spec
from linkgan_plugin.upstream.ddp import unwrap
from linkgan_plugin.upstream.synthesis_layers import crop_margin, synthesis_layers

SPACES = ('w', 'wplus')
FORMAT = 1

# Defaults shared by the API and the CLI (method.md sec. 4).
DEFAULTS = dict(num_directions=1, space='w', steps=200, batch=4, lr=1e-3, lr_halve_every=50, alpha_max=1.0,
                gamma=5.0, truncation=0.7, unit_norm=False, mask_mode='mean', eps=1e-8, seed=0, init_norm=1.0,
                eval_samples=64)

#----------------------------------------------------------------------------
# Regions.

def region_spec(region_json, name='region', w_dim=None):
    """A one-link LinkSpec holding `region_json` (the CLI's --region), validated exactly as a spec's region is.

    Args:
        region_json: a dict or JSON text, e.g. '{"box": [0, 0, 0.5, 0.5]}' (any region kind of the link spec).
        name:        the link's name. Its axes ('0:1') are a placeholder: LELSD uses only the region.
    Raises:
        SpecError naming the problem (paths read 'links[0].region...').
    """
    if isinstance(region_json, str):
        try:
            region_json = json.loads(region_json)
        except json.JSONDecodeError as e:
            raise SpecError([f'region: invalid JSON: {e}']) from None
    return load_spec({'links': [{'name': name, 'axes': '0:1', 'region': region_json}]}, w_dim=w_dim)


class RegionMasker:
    """Masks of one region at any layer resolution, per sample: a thin view of the one mask assembler
    (`regions.RegionMasks` of a one-link spec) with LELSD's mask mode (regions.MASK_MODES) for semantic regions.

        masker = RegionMasker(one_link_spec, mode='mean')
        sem = masker.segment(x0, x1)         # None for fixed regions, else [N, H, W] (under no_grad)
        m = masker.at(h, w, device, sem)     # [1 or N, h, w] in [0, 1]
    """

    def __init__(self, spec, mode=DEFAULTS['mask_mode']):
        if len(spec.links) != 1:
            raise ValueError(f'RegionMasker takes a one-link spec, got {len(spec.links)} links')
        self.masks = RegionMasks(spec, mode=mode)
        self.region = spec.links[0].region
        self.mode = mode

    @property
    def is_fixed(self):
        return self.region.is_fixed

    def segment(self, x0, x1=None):
        """Semantic masks [N, H, W] of the originals x0 combined with those of the edits x1 (per sample), or None."""
        if self.is_fixed:
            return None
        return self.masks.for_batch(x0, None if x1 is None else [x1]).semantic[:, 0]

    def at(self, height, width, device, semantic=None):
        """[1, h, w] for fixed regions (exact rasterisation), [N, h, w] area-resized semantic masks."""
        if semantic is None and not self.is_fixed:
            raise ValueError('a semantic region needs the masks of segment() at every resolution')
        return BatchMasks(self.masks, None if semantic is None else semantic[:, None], device).at(height, width)[:, 0]

#----------------------------------------------------------------------------
# Feature maps through forward hooks.

class FeatureTap:
    """Records the output of every synthesis layer (margins cropped, float32) while active.

        with FeatureTap(layers) as tap:
            gen.synthesize(ws)
        tap.features      # list, one [N, C, h, w] per layer, in the order of `layers`
    """

    def __init__(self, layers):
        self.layers = layers
        self.features = [None] * len(layers)
        self._handles = []

    def _hook(self, index):
        margin = self.layers[index].margin

        def hook(module, inputs, output):
            out = output[0] if isinstance(output, (tuple, list)) else output
            self.features[index] = crop_margin(out, margin).float()
        return hook

    def __enter__(self):
        self.features = [None] * len(self.layers)
        self._handles = [info.module.register_forward_hook(self._hook(i)) for i, info in enumerate(self.layers)]
        return self

    def __exit__(self, *exc):
        for h in self._handles:
            h.remove()
        self._handles = []
        return False

#----------------------------------------------------------------------------
# The maths.

def change_map(f0, f1):
    """d_l: mean over channels of the squared feature change, [N, C, h, w] x2 -> [N, h, w]."""
    return (f1 - f0).square().mean(dim=1)


def localization_scores(d_maps, masks, eps=DEFAULTS['eps']):
    """LS_l per sample and layer.

    Args:
        d_maps: list (per layer) of [N, h_l, w_l] change maps.
        masks:  list (per layer) of [1 or N, h_l, w_l] region masks in [0, 1].
    Returns:
        [N, layers]: sum(m * d) / (sum(d) + eps).
    """
    scores = [(m * d).sum(dim=[1, 2]) / (d.sum(dim=[1, 2]) + eps) for d, m in zip(d_maps, masks)]
    return torch.stack(scores, dim=1)


def correlation_penalty(directions):
    """mean |Corr - I| of K directions [K, ...] (flattened; Corr = cosine of every pair, diag 1). 0 for K = 1."""
    flat = directions.reshape(directions.shape[0], -1)
    unit = flat / flat.norm(dim=1, keepdim=True).clamp(min=1e-12)
    corr = unit @ unit.T
    return (corr - torch.eye(corr.shape[0], device=corr.device, dtype=corr.dtype)).abs().mean()


def row_mask(num_ws, rows=None, device='cpu'):
    """[num_ws] float: 1 on the ws rows an edit touches (all when rows is None)."""
    m = torch.zeros(num_ws, device=device)
    if rows is None:
        m[:] = 1
    else:
        m[list(rows)] = 1
    return m


def edit_ws(ws, direction, strength, rows=None):
    """ws + strength * direction on the chosen rows.

    Args:
        ws:        [N, num_ws, w_dim].
        direction: [w_dim] (space W) or [num_ws, w_dim] (W+).
        strength:  a number or [N].
        rows:      [num_ws] row mask (row_mask), or None for every row.
    Returns:
        [N, num_ws, w_dim].
    """
    N, num_ws, w_dim = ws.shape
    d = direction[None].expand(num_ws, -1) if direction.ndim == 1 else direction
    if d.shape != (num_ws, w_dim):
        raise ValueError(f'direction must be [{w_dim}] or [{num_ws}, {w_dim}], got {list(direction.shape)}')
    if rows is not None:
        d = d * rows.to(d)[:, None]
    s = torch.as_tensor(strength, dtype=ws.dtype, device=ws.device).reshape(-1)
    s = s.expand(N) if s.numel() == 1 else s
    return ws + s[:, None, None] * d[None]


def layers_reached(layers, rows_mask):
    """The synthesis layers an edit on `rows_mask` can change: those modulated by a chosen row or a later one."""
    if rows_mask is None:
        return list(layers)
    chosen = torch.nonzero(rows_mask).flatten().tolist()
    first = min(chosen) if chosen else math.inf
    return [info for info in layers if info.ws_index >= first]

#----------------------------------------------------------------------------
# Scoring one batch.

def batch_scores(gen, layers, masker, ws, direction, strength, rows=None, c=None, eps=DEFAULTS['eps'], grad=False):
    """LS_l of one batch: renders ws and its edit (same RNG state) and scores the change of every layer.

    Args:
        gen:       GeneratorAdapter; layers: SynthesisLayerInfo list (those the edit reaches).
        ws:        [N, num_ws, w_dim] (no grad); direction: [w_dim] or [num_ws, w_dim]; strength: [N] or number.
        grad:      keep the graph of the edited render (for optimisation).
    Returns:
        [N, layers] localization scores.
    """
    replay = RngReplay(ws.device)
    with torch.no_grad(), FeatureTap(layers) as tap0:
        x0 = gen.synthesize(ws, c)['image']
    f0 = tap0.features
    replay.rewind()
    with torch.set_grad_enabled(grad), FeatureTap(layers) as tap1:
        x1 = gen.synthesize(edit_ws(ws, direction, strength, rows), c)['image']
    f1 = tap1.features
    sem = masker.segment(x0.float(), x1.detach().float())
    d_maps = [change_map(a, b) for a, b in zip(f0, f1)]
    masks = [masker.at(d.shape[1], d.shape[2], d.device, sem) for d in d_maps]
    return localization_scores(d_maps, masks, eps)

#----------------------------------------------------------------------------
# Random streams.

def sample_latents(gen, count, seed, stream=0, truncation=DEFAULTS['truncation']):
    """(ws [count, num_ws, w_dim], c) on gen.device from seeded streams (sample i is the same for any count >= i+1)."""
    z = torch.randn([count, gen.z_dim], generator=seeded_generator(seed, stream))
    c = gen.default_c(count, generator=seeded_generator(seed, stream + 1000)).to(gen.device)
    with torch.no_grad():
        ws = gen.map(z.to(gen.device), c, truncation)
    return ws, c

#----------------------------------------------------------------------------
# Result and I/O.

@dataclasses.dataclass
class LelsdResult:
    """Directions of one region and how they were found.

    directions: float32 [K, w_dim] (space 'w') or [K, num_ws, w_dim] ('wplus').
    rows:       ws rows the directions are applied to (None: all).
    axes:       W axes the directions live on (None: all), e.g. a link's (--within-link).
    region:     the region's spec dict ({'box': ...}, {'segmenter': ...}, ...); link: its name.
    scores:     held-out localization score of each direction (mean over eval samples, strengths +-alpha_max).
    history:    per direction, the training LS of each of its steps.
    """
    directions: np.ndarray
    space: str
    rows: list
    axes: list
    region: dict
    link: str
    num_ws: int
    w_dim: int
    network_hash: str = ''
    network_path: str = ''
    settings: dict = dataclasses.field(default_factory=dict)
    scores: list = dataclasses.field(default_factory=list)
    history: list = dataclasses.field(default_factory=list)
    layer_names: list = dataclasses.field(default_factory=list)
    seconds: float = 0.0

    @property
    def num_directions(self):
        return int(self.directions.shape[0])

    def direction(self, k, device='cpu'):
        """Direction k as a tensor: [w_dim] or [num_ws, w_dim]."""
        if not 0 <= k < self.num_directions:
            raise IndexError(f'direction index {k} out of range: the file has {self.num_directions}')
        return torch.from_numpy(np.array(self.directions[k], dtype=np.float32)).to(device)

    def row_mask(self, device='cpu'):
        return row_mask(self.num_ws, self.rows, device)


def network_hash(G):
    """sha256 (first 16 hex digits) of G's state_dict: names, shapes, dtypes and bytes, in sorted name order."""
    h = hashlib.sha256()
    for name, t in sorted(unwrap(G).state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f'{name}|{tuple(t.shape)}|{t.dtype}|'.encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


def save_directions(path, result):
    """Writes an .npz (no pickles): the directions and, as JSON text, everything else of the result."""
    meta = {k: v for k, v in dataclasses.asdict(result).items() if k != 'directions'}
    meta['format'] = FORMAT
    os.makedirs(os.path.dirname(os.path.abspath(path)) or '.', exist_ok=True)
    np.savez(path, directions=np.asarray(result.directions, dtype=np.float32), meta=np.array(json.dumps(meta)))


def load_directions(path, gen=None):
    """Reads an .npz written by save_directions; checks it against `gen` (w_dim, num_ws) when given.

    Raises:
        ValueError naming the file and the problem.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except Exception as e:
        raise ValueError(f'{path}: cannot read as .npz ({type(e).__name__}: {e})') from None
    if 'directions' not in arrays or 'meta' not in arrays:
        raise ValueError(f'{path}: not a `linkgan lelsd` file (needs arrays directions and meta; has '
                         f'{", ".join(arrays) or "none"})')
    try:
        meta = json.loads(str(arrays['meta']))
    except json.JSONDecodeError as e:
        raise ValueError(f'{path}: meta is not JSON ({e})') from None
    if meta.pop('format', None) != FORMAT:
        raise ValueError(f'{path}: unknown format (this version reads format {FORMAT})')
    fields = {f.name for f in dataclasses.fields(LelsdResult)}
    result = LelsdResult(directions=arrays['directions'], **{k: v for k, v in meta.items() if k in fields})
    expect = (result.w_dim,) if result.space == 'w' else (result.num_ws, result.w_dim)
    if result.directions.ndim != 2 + (result.space == 'wplus') or tuple(result.directions.shape[1:]) != expect:
        raise ValueError(f'{path}: directions have shape {list(result.directions.shape)}, expected [K, '
                         f'{", ".join(map(str, expect))}] for space {result.space!r}')
    if gen is not None and (gen.w_dim != result.w_dim or gen.num_ws != result.num_ws):
        raise ValueError(f'{path}: directions are for w_dim={result.w_dim}, num_ws={result.num_ws}; this network has '
                         f'w_dim={gen.w_dim}, num_ws={gen.num_ws}')
    return result

#----------------------------------------------------------------------------
# Finding directions.

def _index_subset(name, values, size):
    """The distinct indices of `values`, sorted (None stays None); ValueError naming `name` unless they form a
    non-empty subset of 0..size-1."""
    if values is None:
        return None
    values = sorted(set(int(v) for v in values))
    if not values or values[0] < 0 or values[-1] >= size:
        raise ValueError(f'{name} must be a non-empty subset of 0..{size - 1}, got {values}')
    return values


def _check_settings(gen, space, rows, axes, num_directions):
    check_argument('space', space, Choice(SPACES))
    if num_directions < 1:
        raise ValueError(f'num_directions must be >= 1, got {num_directions}')
    return _index_subset('rows', rows, gen.num_ws), _index_subset('axes', axes, gen.w_dim)


def _support(gen, space, rows, axes, device):
    """Mask of the entries a direction may use: [w_dim] (W) or [num_ws, w_dim] (W+)."""
    a = torch.ones(gen.w_dim, device=device)
    if axes is not None:
        a = torch.zeros(gen.w_dim, device=device)
        a[axes] = 1
    if space == 'w':
        return a
    return row_mask(gen.num_ws, rows, device)[:, None] * a[None]


def _normalise(p, space, support, norm):
    """Scales p to `norm`: the whole vector (W), or every used row over w_dim (W+)."""
    if space == 'w':
        return p * (norm / p.norm().clamp(min=1e-12))
    used = support.amax(dim=1, keepdim=True)
    return p * used * (norm / p.norm(dim=1, keepdim=True).clamp(min=1e-12))


def find_directions(gen, region, num_directions=DEFAULTS['num_directions'], space=DEFAULTS['space'], rows=None,
                    axes=None, steps=DEFAULTS['steps'], batch=DEFAULTS['batch'], lr=DEFAULTS['lr'],
                    lr_halve_every=DEFAULTS['lr_halve_every'], alpha_max=DEFAULTS['alpha_max'], gamma=DEFAULTS['gamma'],
                    truncation=DEFAULTS['truncation'], unit_norm=DEFAULTS['unit_norm'], mask_mode=DEFAULTS['mask_mode'],
                    eps=DEFAULTS['eps'], seed=DEFAULTS['seed'], init_norm=DEFAULTS['init_norm'],
                    eval_samples=DEFAULTS['eval_samples'], layers=None, progress=None):
    """Finds `num_directions` LELSD directions of one region.

    Args:
        gen:          GeneratorAdapter (on the device to run on).
        region:       a one-link LinkSpec (region_spec, or spec.select([name])): the region of the edits.
        space:        'w' or 'wplus'; rows: ws rows to edit (None: all); axes: W axes to use (None: all).
        steps:        steps per direction (each a batch of `batch` fresh latents at `truncation`).
        lr, lr_halve_every: Adam's rate, halved every that many of a direction's steps.
        alpha_max:    edit strengths a ~ U[-alpha_max, alpha_max] per sample.
        gamma:        weight of the correlation penalty (K > 1).
        unit_norm:    renormalise after every step (W: the vector; W+: each row over w_dim).
        mask_mode:    semantic regions: 'mean' | 'union' | 'intersection' | 'source'.
        init_norm:    norm of the random initial directions (W+: of each used row).
        eval_samples: held-out latents the final scores are measured on (0: skip).
        layers:       SynthesisLayerInfo list (default: synthesis_layers(gen.G)).
        progress:     callable(n) after every step.
    Returns:
        LelsdResult.
    """
    rows, axes = _check_settings(gen, space, rows, axes, num_directions)
    layers = layers if layers is not None else synthesis_layers(gen.G)
    rmask, used_layers = layers_for_rows(gen, layers, rows)
    masker = RegionMasker(region, mask_mode)
    support = _support(gen, space, rows, axes, gen.device)
    settings = dict(num_directions=num_directions, steps=steps, batch=batch, lr=lr, lr_halve_every=lr_halve_every,
                    alpha_max=alpha_max, gamma=gamma, truncation=truncation, unit_norm=unit_norm,
                    mask_mode=mask_mode, eps=eps, seed=seed, init_norm=init_norm, eval_samples=eval_samples)
    params = _initial_directions(support, space, num_directions, init_norm, seed)
    start = time.perf_counter()
    score = lambda ws, u, a, c: batch_scores(gen, used_layers, masker, ws, u, a, rmask, c, eps, grad=True).mean()
    history = _optimise_directions(gen, params, support, space, score, settings, progress)
    directions = torch.stack([(p * support).detach() for p in params]).cpu().numpy().astype(np.float32)
    result = LelsdResult(
        directions=directions, space=space, rows=rows, axes=axes, region=region.links[0].region.to_dict(),
        link=region.links[0].name, num_ws=gen.num_ws, w_dim=gen.w_dim, network_hash=network_hash(gen.G),
        settings=settings, history=history, layer_names=[l.name for l in used_layers],
        seconds=time.perf_counter() - start)
    if eval_samples:
        result.scores = evaluate_directions(gen, region, result, samples=eval_samples, seed=seed + 1,
                                            truncation=truncation, mask_mode=mask_mode, layers=layers).tolist()
    return result


def layers_for_rows(gen, layers, rows):
    """(row mask [num_ws], the layers an edit of those rows reaches); ValueError when it reaches none."""
    rmask = row_mask(gen.num_ws, rows, gen.device)
    used_layers = layers_reached(layers, rmask)
    if not used_layers:
        raise ValueError(f'rows {rows} reach no synthesis layer (the layers use rows '
                         f'{sorted(set(l.ws_index for l in layers))})')
    return rmask, used_layers


def _initial_directions(support, space, num_directions, init_norm, seed):
    """`num_directions` random directions on `support`, scaled to init_norm (see _normalise), requiring grad."""
    g_init = seeded_generator(seed, 10)
    params = []
    for _ in range(num_directions):
        p = torch.randn(support.shape, generator=g_init).to(support.device) * support
        params.append(_normalise(p, space, support, init_norm).requires_grad_(True))
    return params


def _optimise_directions(gen, params, support, space, score, settings, progress=None):
    """settings['steps'] rounds of one Adam step per direction (in a random order each round), each on a fresh batch
    of latents edited at strengths a ~ U[-alpha_max, alpha_max]; the rate halves every lr_halve_every rounds.

    Args:
        params:   directions (changed in place); score: callable(ws, u, a, c) -> mean localization score (with grad).
        settings: find_directions' settings dict; progress: callable(n) after every step.
    Returns:
        history: per direction, the training score of each of its steps.
    """
    s = settings
    g_order, g_alpha = seeded_generator(s['seed'], 11), seeded_generator(s['seed'], 12)
    optims = [torch.optim.Adam([p], lr=s['lr']) for p in params]
    history = [[] for _ in params]
    batch_index = 0
    for step in range(s['steps']):
        for k in torch.randperm(len(params), generator=g_order).tolist():
            ws, c = sample_latents(gen, s['batch'], s['seed'], stream=100 + batch_index, truncation=s['truncation'])
            batch_index += 1
            a = ((torch.rand([s['batch']], generator=g_alpha) * 2 - 1) * s['alpha_max']).to(gen.device)
            for group in optims[k].param_groups:
                group['lr'] = s['lr'] * 0.5 ** (step // s['lr_halve_every'])
            history[k].append(_direction_step(params, k, optims[k], support, space, lambda u: score(ws, u, a, c),
                                              s['gamma'], s['unit_norm']))
            if progress is not None:
                progress(1)
    return history


def _direction_step(params, k, optim, support, space, score, gamma, unit_norm):
    """One step of direction k: maximise score(u) minus gamma * the correlation penalty against the other directions
    (held fixed); keeps it on `support` (and at unit norm with unit_norm). Returns the score (float)."""
    u = params[k] * support
    ls = score(u)
    loss = -ls
    if len(params) > 1 and gamma:
        stack = torch.stack([u if j == k else (params[j] * support).detach() for j in range(len(params))])
        loss = loss + gamma * correlation_penalty(stack)
    optim.zero_grad(set_to_none=True)
    loss.backward()
    optim.step()
    with torch.no_grad():
        params[k].mul_(support)
        if unit_norm:
            params[k].copy_(_normalise(params[k], space, support, 1.0))
    return float(ls.detach())

#----------------------------------------------------------------------------
# Held-out scores.

@torch.no_grad()
def evaluate_directions(gen, region, result, samples=64, batch=16, seed=1, truncation=DEFAULTS['truncation'],
                        strengths=None, mask_mode=DEFAULTS['mask_mode'], layers=None):
    """Mean localization score of every direction of `result` on `samples` fixed-seed latents.

    Every sample is scored at each strength of `strengths` (default +-alpha_max of the search) and the scores are
    averaged; per-sample scores make the result independent of `batch`.
    Returns:
        float64 numpy [K].
    """
    layers = layers if layers is not None else synthesis_layers(gen.G)
    rmask = result.row_mask(gen.device)
    used = layers_reached(layers, rmask)
    masker = RegionMasker(region, mask_mode)
    a = float(result.settings.get('alpha_max', 1.0))
    strengths = list(strengths) if strengths is not None else [-a, a]
    ws_all, c_all = sample_latents(gen, samples, seed, stream=0, truncation=truncation)
    out = []
    for k in range(result.num_directions):
        u = result.direction(k, gen.device)
        per_sample = []
        for i in range(0, samples, batch):
            ws, c = ws_all[i:i + batch], c_all[i:i + batch]
            s = torch.stack([batch_scores(gen, used, masker, ws, u, st, rmask, c, result.settings.get('eps', 1e-8))
                             .mean(dim=1) for st in strengths]).mean(dim=0)
            per_sample.append(s.double().cpu())
        out.append(float(torch.cat(per_sample).mean()))
    return np.array(out)

#----------------------------------------------------------------------------
