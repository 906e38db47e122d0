"""LELSD (Pajouheshgar, Zhang, Süsstrunk, ICASSP 2022): latent directions whose edits stay inside one region,
found post hoc on any generator this project loads. Written from the paper and method.md sec. 4.

An edit moves a latent code along a direction u with strength a: ws' = ws + a * D * u / |u| (on the chosen ws rows),
D the network's typical distance between two codes (mean ||w1 - w2|| of independent mapped z at the search's
truncation), so a is a fraction of "a whole new sample": the unit `linkgan compare` sweeps. Saved directions are
D * u / |u|, so `edit_ws(ws, direction, a)` is that edit. LELSD scores where the edit changes the generator's
synthesis feature maps r_l (every synthesis layer except the constant input: `upstream.synthesis_layers`), read
through forward hooks:

    d_l(u)  = mean over channels of (r_l(ws + a D u/|u|) - r_l(ws))^2                [N, h_l, w_l]
    LS_l(u) = sum_hw(m_l * d_l) / (sum_hw d_l + eps)                                 [N], in [0, 1]
    LS(u)   = mean over layers l and samples of LS_l(u)
    J       = LS(u_k) - gamma * mean|Corr(u_1..u_K) - I|                          (the penalty only when K > 1)

m_l is the region mask at layer l's resolution: fixed regions (box, boxes, preset, mask image) are rasterised
exactly at that resolution (`regions.RegionMasks`); semantic regions (a segmenter) are segmented on the original
image and on the edited image, combined per sample ('mean' of the two by default as the paper does; 'union',
'intersection', or 'source': the original's only) and area-resized. Corr is the matrix of cosines between the
(flattened) directions, so the penalty pushes them towards orthogonality, as the paper says it should.

The search (Adam, a batch of `batch` fresh latents per step, gamma 5 as in the paper) departs from the paper's
notebook settings (lr 1e-3 halved every 50 steps, 200 steps, a ~ U[-1, 1] on a direction of norm ~1, truncation
0.7). On the shipped demo baseline (64-d W, link top_left) those barely turn the random start: the training LS still
climbs at step 200 and direction seeds 0-4 land at compare localities 0.16-0.42 (64 samples); and they train only
edits smaller than the smallest strength compare measures (|a u| <= 1 against 0.125 D ~ 1.1, D ~ 8.7 there). With
the settings below the same seeds stop on a plateau after 300-450 steps (~20 s on one CPU thread), agree to |cos|
0.88-0.97 (up to sign) and land at localities 0.110-0.122:
  - Scale: the direction is a parameter p in units of W's spread w_rms (the root-mean-square per-axis deviation of
    mapped z at the search's truncation, as `linkgan project` steps), u = w_rms * p: the lr is a fraction of w_rms
    per axis and a generator whose W is 10x larger takes 10x larger steps. p is renormalised after every step (u
    keeps norm D; W+: RMS over the used rows), so the lr alone sets how far a step turns the direction.
  - Strengths: |a| ~ log-uniform on [lo, hi] (default compare's direction sweep, 0.125..2), sign +-1 with equal
    odds: the search trains at every strength it is compared at.
  - Truncation 1.0 by default, as compare measures (compare passes its own truncation to the search).
  - Plateau stop (`lelsd_scale.Plateau`): every `plateau_window` steps the mean training LS of the last window is
    compared with the best earlier window's; a relative gain of at most `plateau_tol` is a plateau. The first
    `plateau_halvings` plateaus halve the lr, the next one stops the search; at most `max_steps` steps. The result
    keeps the per-step training LS (`history`) and how the search ended (`stop`).
Held-out scores (`evaluate_directions`) are the mean LS on latents of their own stream (`held_out_latents`: never a
search batch, nor compare's evaluation samples), each sample i edited at every strength of `strength_grid` (octaves
of [lo, hi]) with sign (-1)^i; `linkgan compare` picks a direction among seeds by this score.

Spaces:
    'w':     one direction [w_dim] added to every chosen row of ws;
    'wplus': one direction per row [num_ws, w_dim]; rows outside the chosen subset are zero and stay zero.
    `rows` (the CLI's --layers) selects the ws rows an edit touches, during the search and when editing.
    `axes` (the CLI's --within-link) restricts directions to some W axes (zero elsewhere).
Style space S is not offered: it needs per-flavour hooks on every affine layer.

What this implementation does differently from the public code (method.md's list of its defects): there is one
score (the squared feature change), so no loss-name option whose default could fail its own check; edits always add
the direction (there is no Z space whose layer edits would scale the code instead); W+ directions are normalised over
their used rows (RMS of the row norms, as compare measures them); masks are per sample (no threshold of one sample
applied to a batch); no F1 score is computed (the public one lacks its factor 2): `linkgan compare` measures locality
instead; the device is whatever the generator is on; .npz files are read with numpy (no pickles) and networks by
network_loading (`torch.load(map_location='cpu')`).

    result = find_directions(gen, region, num_directions=2, space='w', progress=bar.update)
    directions_file.save('dirs.npz', result)                   # editing/directions_file.py: every method's file
    result = directions_file.load('dirs.npz', gen)
    ws_edit = edit_ws(ws, result.direction(0), strength, result.row_mask(gen.device))

The command is `linkgan directions --method lelsd` (cli/directions.py); `linkgan edit --direction FILE` draws a saved
direction.
"""

import dataclasses
import hashlib
import math
import time

import numpy as np
import torch

from linkgan_plugin.checks import check_argument, Choice
from linkgan_plugin.editing.lelsd_scale import (draw_strengths, held_out_latents, LELSD_STREAM, Plateau,
                                                search_latents, strength_grid, STREAMS, unit_direction, w_scale)
from linkgan_plugin.editing.masking import MASK_MODE, RegionMasker
from linkgan_plugin.render import RngReplay, seeded_generator
from linkgan_plugin.upstream.ddp import unwrap
from linkgan_plugin.upstream.synthesis_layers import crop_margin, LayerHooks, synthesis_layers

SPACES = ('w', 'wplus')

# Defaults shared by the API and the CLI (the module docstring says why they depart from method.md sec. 4's).
DEFAULTS = dict(num_directions=1, space='w', max_steps=1000, batch=4, lr=0.05, strengths=(0.125, 2.0), gamma=5.0,
                truncation=1.0, mask_mode=MASK_MODE, eps=1e-8, seed=0, plateau_window=50, plateau_tol=0.01,
                plateau_halvings=2, eval_samples=64, scale_samples=2048)

#----------------------------------------------------------------------------
# Feature maps through forward hooks.

class FeatureTap(LayerHooks):
    """Records the output of every synthesis layer (margins cropped, float32) while active.

        with FeatureTap(layers) as tap:
            gen.synthesize(ws)
        tap.features      # list, one [N, C, h, w] per layer, in the order of `layers`
    """

    def __init__(self, layers):
        super().__init__(layers)
        self.features = [None] * len(layers)

    def reset(self):
        self.features = [None] * len(self.layers)

    def hook(self, index):
        margin = self.layers[index].margin

        def record(module, inputs, output):
            out = output[0] if isinstance(output, (tuple, list)) else output
            self.features[index] = crop_margin(out, margin).float()
        return record

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
# Result and I/O.

@dataclasses.dataclass
class LelsdResult:
    """Directions of one region and how they were found.

    directions: float32 [K, w_dim] (space 'w') or [K, num_ws, w_dim] ('wplus').
    rows:       ws rows the directions are applied to (None: all).
    axes:       W axes the directions live on (None: all), e.g. a link's (--within-link).
    region:     the region's spec dict ({'box': ...}, {'segmenter': ...}, ...); link: its name.
    scores:     held-out localization score of each direction (evaluate_directions on held_out_latents).
    history:    per direction, the training LS of each of its steps (the training-score curve).
    stop:       how the search ended: {'reason': 'plateau' | 'max_steps', 'steps', 'halved_at': [steps], 'lr'}.
    scale:      w_scale at the search's truncation: {'w_rms', 'distance', 'samples'}; directions have norm D.
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
    stop: dict = dataclasses.field(default_factory=dict)
    scale: dict = dataclasses.field(default_factory=dict)
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


def _check_settings(gen, space, rows, axes, num_directions, strengths, max_steps):
    check_argument('space', space, Choice(SPACES))
    if num_directions < 1:
        raise ValueError(f'num_directions must be >= 1, got {num_directions}')
    if max_steps < 1:
        raise ValueError(f'max_steps must be >= 1, got {max_steps}')
    strength_grid(*strengths)
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


def _normalise(p, support, norm):
    """p on `support`, scaled to `norm`: the vector (W), the RMS norm of the used rows (W+; see unit_direction)."""
    p = p * support
    return unit_direction(p, support.amax(dim=1) if p.ndim == 2 else None) * norm


def find_directions(gen, region, num_directions=DEFAULTS['num_directions'], space=DEFAULTS['space'], rows=None,
                    axes=None, max_steps=DEFAULTS['max_steps'], batch=DEFAULTS['batch'], lr=DEFAULTS['lr'],
                    strengths=DEFAULTS['strengths'], gamma=DEFAULTS['gamma'], truncation=DEFAULTS['truncation'],
                    mask_mode=DEFAULTS['mask_mode'], eps=DEFAULTS['eps'], seed=DEFAULTS['seed'],
                    plateau_window=DEFAULTS['plateau_window'], plateau_tol=DEFAULTS['plateau_tol'],
                    plateau_halvings=DEFAULTS['plateau_halvings'], eval_samples=DEFAULTS['eval_samples'],
                    eval_seed=None, scale=None, layers=None, progress=None):
    """Finds `num_directions` LELSD directions of one region (the search of the module docstring).

    Args:
        gen:          GeneratorAdapter (on the device to run on).
        region:       a one-link LinkSpec (region_spec, or spec.select([name])): the region of the edits.
        space:        'w' or 'wplus'; rows: ws rows to edit (None: all); axes: W axes to use (None: all).
        max_steps:    most steps per direction, each a batch of `batch` fresh latents at `truncation`.
        lr:           Adam's rate, in units of W's spread w_rms; halved at each of the first plateau_halvings plateaus.
        strengths:    (lo, hi): edit strengths |a| ~ log-uniform on [lo, hi], in units of D, sign +-1.
        gamma:        weight of the correlation penalty (K > 1).
        mask_mode:    semantic regions: 'mean' | 'union' | 'intersection' | 'source'.
        plateau_window, plateau_tol, plateau_halvings: the plateau rule (Plateau); plateau_window 0: max_steps steps.
        eval_samples: held-out latents (held_out_latents of eval_seed, default `seed`) for result.scores (0: skip).
        scale:        w_scale's dict (default: measured at `truncation` with `seed`).
        layers:       SynthesisLayerInfo list (default: synthesis_layers(gen.G)).
        progress:     callable(n) after every step (and with the steps left when a plateau stops the search).
    Returns:
        LelsdResult; directions of norm D (W+: RMS over the used rows).
    """
    rows, axes = _check_settings(gen, space, rows, axes, num_directions, strengths, max_steps)
    layers = layers if layers is not None else synthesis_layers(gen.G)
    rmask, used_layers = layers_for_rows(gen, layers, rows)
    masker = RegionMasker(region, mask_mode)
    support = _support(gen, space, rows, axes, gen.device)
    start = time.perf_counter()
    scale = dict(scale) if scale is not None else w_scale(gen, truncation, DEFAULTS['scale_samples'], seed)
    eval_seed = seed if eval_seed is None else eval_seed
    settings = dict(num_directions=num_directions, max_steps=max_steps, batch=batch, lr=lr,
                    strengths=[float(strengths[0]), float(strengths[1])], gamma=gamma, truncation=truncation,
                    mask_mode=mask_mode, eps=eps, seed=seed, plateau_window=plateau_window, plateau_tol=plateau_tol,
                    plateau_halvings=plateau_halvings, eval_samples=eval_samples, eval_seed=eval_seed)
    norm = scale['distance'] / scale['w_rms']                  # |p| in units of w_rms: u = w_rms * p has norm D.
    params = _initial_directions(support, num_directions, norm, seed)
    renorm = lambda p: _normalise(p, support, norm)

    def score(ws, p, a, c):
        u = scale['distance'] * unit_direction(p, rmask if p.ndim == 2 else None)
        return batch_scores(gen, used_layers, masker, ws, u, a, rmask, c, eps, grad=True).mean()

    history, stop = _optimise_directions(gen, params, support, score, renorm, settings, progress)
    directions = torch.stack([scale['w_rms'] * renorm(p.detach()) for p in params]).cpu().numpy().astype(np.float32)
    result = LelsdResult(
        directions=directions, space=space, rows=rows, axes=axes, region=region.links[0].region.to_dict(),
        link=region.links[0].name, num_ws=gen.num_ws, w_dim=gen.w_dim, network_hash=network_hash(gen.G),
        settings=settings, history=history, stop=stop, scale=scale, layer_names=[l.name for l in used_layers],
        seconds=time.perf_counter() - start)
    if eval_samples:
        result.scores = evaluate_directions(gen, region, result, samples=eval_samples, seed=eval_seed,
                                            layers=layers).tolist()
    return result


def layers_for_rows(gen, layers, rows):
    """(row mask [num_ws], the layers an edit of those rows reaches); ValueError when it reaches none."""
    rmask = row_mask(gen.num_ws, rows, gen.device)
    used_layers = layers_reached(layers, rmask)
    if not used_layers:
        raise ValueError(f'rows {rows} reach no synthesis layer (the layers use rows '
                         f'{sorted(set(l.ws_index for l in layers))})')
    return rmask, used_layers


def _initial_directions(support, num_directions, norm, seed):
    """`num_directions` random directions on `support`, scaled to `norm` (see _normalise), requiring grad."""
    g_init = seeded_generator(seed, LELSD_STREAM, STREAMS['init'])
    return [_normalise(torch.randn(support.shape, generator=g_init).to(support.device), support, norm)
            .requires_grad_(True) for _ in range(num_directions)]


def _optimise_directions(gen, params, support, score, renorm, settings, progress=None):
    """Rounds of one Adam step per direction (in a random order each round), each on a fresh batch of latents edited
    at draw_strengths, until the plateau rule stops them or settings['max_steps'] rounds.

    Args:
        params:   directions in units of w_rms (changed in place); score: callable(ws, p, a, c) -> mean LS (with grad);
        renorm:   callable(p) -> p on the support at its norm; settings: find_directions' settings dict.
    Returns:
        (history: per direction the training LS of each of its steps, stop: LelsdResult.stop).
    """
    s = settings
    g_order = seeded_generator(s['seed'], LELSD_STREAM, STREAMS['order'])
    g_strength = seeded_generator(s['seed'], LELSD_STREAM, STREAMS['strengths'])
    optims = [torch.optim.Adam([p], lr=s['lr']) for p in params]
    rule = Plateau(s['plateau_window'], s['plateau_tol'], s['plateau_halvings']) if s['plateau_window'] else None
    history, lr, halved_at, reason, batch_index = [[] for _ in params], s['lr'], [], 'max_steps', 0
    for step in range(s['max_steps']):
        round_scores = []
        for k in torch.randperm(len(params), generator=g_order).tolist():
            ws, c = search_latents(gen, s['batch'], s['seed'], batch_index, s['truncation'])
            batch_index += 1
            a = draw_strengths(s['batch'], *s['strengths'], g_strength).to(gen.device)
            for group in optims[k].param_groups:
                group['lr'] = lr
            round_scores.append(_direction_step(params, k, optims[k], support, lambda p: score(ws, p, a, c),
                                                s['gamma'], renorm))
            history[k].append(round_scores[-1])
            if progress is not None:
                progress(1)
        action = rule.update(np.mean(round_scores)) if rule is not None else None
        if action == 'halve':
            lr, halved_at = lr * 0.5, halved_at + [step + 1]
        elif action == 'stop':
            reason = 'plateau'
            break
    steps = len(history[0])
    if progress is not None and steps < s['max_steps']:
        progress((s['max_steps'] - steps) * len(params))
    return history, {'reason': reason, 'steps': steps, 'halved_at': halved_at, 'lr': lr}


def _direction_step(params, k, optim, support, score, gamma, renorm):
    """One step of direction k: maximise score(p) minus gamma * the correlation penalty against the other directions
    (held fixed), then renorm (support and norm). Returns the score (float)."""
    p = params[k] * support
    ls = score(p)
    loss = -ls
    if len(params) > 1 and gamma:
        stack = torch.stack([p if j == k else (params[j] * support).detach() for j in range(len(params))])
        loss = loss + gamma * correlation_penalty(stack)
    optim.zero_grad(set_to_none=True)
    loss.backward()
    optim.step()
    with torch.no_grad():
        params[k].copy_(renorm(params[k]))
    return float(ls.detach())

#----------------------------------------------------------------------------
# Held-out scores.

@torch.no_grad()
def evaluate_directions(gen, region, result, samples=DEFAULTS['eval_samples'], batch=16, seed=DEFAULTS['seed'],
                        truncation=None, strengths=None, mask_mode=None, layers=None):
    """Mean localization score of every direction of `result` on `samples` held-out latents (held_out_latents of
    `seed`): sample i is edited by a * (-1)^i * direction (the saved direction: a in units of D) at every strength a
    of `strengths` (default strength_grid of the search's range) and its scores averaged; per-sample scores make the
    result independent of `batch`. truncation and mask_mode default to the search's.
    Returns:
        float64 numpy [K].
    """
    s = result.settings
    layers = layers if layers is not None else synthesis_layers(gen.G)
    rmask = result.row_mask(gen.device)
    used = layers_reached(layers, rmask)
    masker = RegionMasker(region, mask_mode or s.get('mask_mode', DEFAULTS['mask_mode']))
    strengths = list(strengths) if strengths is not None else strength_grid(*s.get('strengths', DEFAULTS['strengths']))
    truncation = s.get('truncation', DEFAULTS['truncation']) if truncation is None else truncation
    ws_all, c_all = held_out_latents(gen, samples, seed, truncation)
    signs = torch.tensor([1.0 if i % 2 == 0 else -1.0 for i in range(samples)], device=gen.device)
    out = []
    for k in range(result.num_directions):
        u = result.direction(k, gen.device)
        per_sample = []
        for i in range(0, samples, batch):
            ws, c, sg = ws_all[i:i + batch], c_all[i:i + batch], signs[i:i + batch]
            sc = torch.stack([batch_scores(gen, used, masker, ws, u, st * sg, rmask, c, s.get('eps', DEFAULTS['eps']))
                              .mean(dim=1) for st in strengths]).mean(dim=0)
            per_sample.append(sc.double().cpu())
        out.append(float(torch.cat(per_sample).mean()))
    return np.array(out)

#----------------------------------------------------------------------------
