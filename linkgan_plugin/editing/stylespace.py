"""StyleSpace (Wu, Lischinski, Shechtman: "StyleSpace Analysis", CVPR 2021): single style channels whose edits stay
inside one region, found post hoc, and edits in S through forward hooks. Written from the paper (no code of its
repository).

S is the space of the affine outputs: every modulated convolution and ToRGB layer turns its ws row into a style
s_l [N, C_l] (one scale per input channel) with its affine layer; a channel is a pair (layer l, index c).

Layers (`style_layers`): the affines of the synthesis layers that `upstream.synthesis_layers` finds (any submodule
named 'affine' inside one: toy `layers[i].conv.affine`, sg2ada / sg3 / EG3D `.affine`), then those of the ToRGB
layers beside them (submodules whose dotted path has a part starting with 'torgb' under the module that holds the
synthesis layers: toy `synthesis.torgbs[k]`, sg2ada / EG3D super-resolution blocks' `torgb`; sg3's last layer is its
ToRGB and already a synthesis layer). A network with synthesis layers but no affine has no style space: ValueError.

Score of channel (l, c) on a sample: the share of the image's squared gradient with respect to s_lc that lies in
the region,

    share = sum_p m_p |dx_p / ds_lc|^2 / sum_p |dx_p / ds_lc|^2          (|.|^2 summed over colour; in [0, 1])

with m the sample's region mask in [0, 1] (semantic regions: segmented on the sample's image). To first order it is
the share of a small edit's squared image change that falls inside the region: what `linkgan compare` measures
(in/out squared change). The paper weighs |gradient| (L1); this weighs its square, which the estimator below gives
for every channel at once.

Estimator (Hutchinson's, random-sign pixel projections): for r with independent +-1 entries per pixel and colour,
E[(sum_p r_p a_p)^2] = sum_p a_p^2. One backward pass of sum(x * r * sqrt(m)) gives sum_p r_p sqrt(m_p) dx_p/ds for
every style channel at once, whose square estimates the in-region part; sum(x * r * sqrt(1 - m)) the rest. With
`probes` P draws per sample: one forward and 2P backward passes per batch, whatever the number of channels (exact
gradient maps need a backward pass per pixel, or a forward per channel and sample). Each sample's share estimate has
a relative noise of about sqrt(2 / P) in each part; shares are averaged over the samples (a sample on which a
channel's gradient is zero does not count for it; a channel that never moves the image scores 0). It is exact where
it matters most: a channel with no gradient outside the region scores exactly 1.

Ranking: the channels of all layers by mean share, largest first; `count` of them are kept. The edit's unit is the
paper's: the standard deviation of s_lc over the samples (`std`), so an edit of strength a sets s_lc += a * std.

Edits go through forward hooks on the affines (`StyleHooks`), so they work on the toy networks and on upstream
snapshots alike: `render_channel_edit(gen, ws, result, k, a)`.

File: editing/directions_file.py (kind 'channels': the layers, channel indices, stds and shares). It holds no W
direction: `linkgan edit --direction` refuses it (naming the file); it is an S-space edit.

    result = find_channels(gen, masking.region_spec({'box': [0, 0, 0.5, 0.5]}), count=5, samples=64)
    directions_file.save('channels.npz', result)
    x = render_channel_edit(gen, ws, directions_file.load('channels.npz', gen), 0, strength=3.0)['image']
"""

import dataclasses
import time

import torch

from linkgan_plugin.editing.lelsd import network_hash
from linkgan_plugin.editing.masking import RegionMasker
from linkgan_plugin.editing.lelsd_scale import sample_latents
from linkgan_plugin.render import seeded_generator
from linkgan_plugin.upstream.ddp import unwrap
from linkgan_plugin.upstream.synthesis_layers import LayerHooks, synthesis_layers

STYLESPACE_STREAM = 0x575e      # Seeded streams (render.seeded_generator): never LELSD's, ReSeFa's nor compare's.
METHOD = 'stylespace'

DEFAULTS = dict(count=5, samples=64, seed=0, truncation=1.0, probes=8, batch=8)

#----------------------------------------------------------------------------
# Style layers.

@dataclasses.dataclass
class StyleLayer:
    """One affine layer of S.

    name:     dotted path of the affine from G (e.g. 'synthesis.b8.conv0.affine', 'synthesis.torgbs.1.conv.affine').
    module:   the affine module; its forward output is the style s [N, C].
    ws_index: the ws row of its synthesis layer (None for a ToRGB layer found beside them).
    """
    name: str
    module: torch.nn.Module
    ws_index: object = None


def affines_in(module, prefix):
    """[(dotted name, module)] of the submodules of `module` named 'affine' (itself included), names under `prefix`."""
    return [(f'{prefix}.{name}' if name else prefix, m) for name, m in module.named_modules()
            if (name or prefix).rsplit('.', 1)[-1] == 'affine']


def common_prefix(names):
    """The longest dotted prefix shared by every name of `names` ('' when none)."""
    parts = [n.split('.') for n in names]
    out = []
    for group in zip(*parts):
        if len(set(group)) != 1:
            break
        out.append(group[0])
    return '.'.join(out)


def style_layers(G):
    """The style layers of G (upstream G_ema of any flavour or a toy G): synthesis layers' affines, then ToRGBs'.

    Returns:
        list of StyleLayer (non-empty).
    Raises:
        SynthesisLayersNotFound (a TypeError) when G has no synthesis layers; ValueError naming G's class and its
        synthesis layers when none of them has an affine (no style space).
    """
    G = unwrap(G)
    layers = synthesis_layers(G)
    out = [StyleLayer(name, module, info.ws_index)
           for info in layers for name, module in affines_in(info.module, info.name)]
    holder = common_prefix([info.name.rsplit('.', 1)[0] for info in layers])      # What holds the layers ...
    if holder and isinstance(G.get_submodule(holder), (torch.nn.ModuleList, torch.nn.Sequential)):
        holder = holder.rsplit('.', 1)[0] if '.' in holder else ''                  # ... beside their ToRGBs.
    prefix, inside = (holder + '.' if holder else ''), tuple(info.name + '.' for info in layers)
    for name, module in G.named_modules():
        if (name.startswith(prefix) and name.rsplit('.', 1)[-1] == 'affine' and not name.startswith(inside)
                and any(part.startswith('torgb') for part in name.split('.'))):
            out.append(StyleLayer(name, module, None))
    if not out:
        cls = type(G)
        raise ValueError(f'{cls.__module__}.{cls.__qualname__} has no style space: none of its synthesis layers '
                         f'({", ".join(info.name for info in layers)}) has an affine layer (a submodule named '
                         '\'affine\' that maps a ws row to per-channel styles)')
    return out


class StyleHooks(LayerHooks):
    """Forward hooks on the affines of `layers` while active: each output s_l [N, C_l] is recorded (`styles`, detached,
    before any edit) and replaced by `edits[l](s_l)` (a callable [N, C_l] -> [N, C_l]; None: unchanged).

        with StyleHooks(layers, [None, shift_channel(3, 0.5), ...]) as hooks:
            gen.synthesize(ws)
        hooks.styles      # list, one [N, C_l] per layer
    """

    def __init__(self, layers, edits=None):
        super().__init__(layers)
        self.edits = list(edits) if edits is not None else [None] * len(layers)
        if len(self.edits) != len(layers):
            raise ValueError(f'StyleHooks: {len(self.edits)} edits for {len(layers)} layers')
        self.styles = [None] * len(layers)

    def reset(self):
        self.styles = [None] * len(self.layers)

    def hook(self, index):
        def edit_style(module, inputs, output):
            self.styles[index] = output.detach()
            edit = self.edits[index]
            return output if edit is None else edit(output)
        return edit_style


def shift_channel(channel, amount):
    """The edit s[:, channel] += amount (a number or [N]) of a style s [N, C]: a StyleHooks edit."""
    def edit(style):
        if not 0 <= channel < style.shape[1]:
            raise ValueError(f'style channel {channel} is outside the layer\'s {style.shape[1]} channels')
        delta = torch.zeros_like(style)
        delta[:, channel] = torch.as_tensor(amount, dtype=style.dtype, device=style.device).reshape(-1)
        return style + delta
    return edit


def zero_offset(store, index):
    """The edit s + o with o = zeros like s requiring grad, kept as store[index]: d(image)/ds is then d(image)/do."""
    def edit(style):
        store[index] = torch.zeros_like(style, requires_grad=True)
        return style + store[index]
    return edit

#----------------------------------------------------------------------------
# Scores.

def channel_energies(gen, layers, masker, ws, c, probes, generator):
    """In-region and out-of-region squared-gradient estimates of every style channel on one batch (Hutchinson).

    Args:
        gen: GeneratorAdapter; layers: StyleLayer list; masker: lelsd.RegionMasker; ws: [N, num_ws, w_dim];
        c: [N, c_dim] or None; probes: random-sign projections P; generator: CPU torch.Generator of the signs.
    Returns:
        (inside, outside: lists, one [N, C_l] per layer, float64 >= 0; styles: list of [N, C_l] (the affine outputs)).
    """
    offsets = [None] * len(layers)
    with torch.enable_grad():
        with StyleHooks(layers, [zero_offset(offsets, i) for i in range(len(layers))]) as tap:
            x = gen.synthesize(ws.detach(), c)['image'].float()
        if any(o is None for o in offsets):
            unused = [layer.name for layer, o in zip(layers, offsets) if o is None]
            raise ValueError(f'style layers not run by the forward pass: {", ".join(unused)}')
        m = masker.at(x.shape[2], x.shape[3], x.device, masker.segment(x.detach()))[:, None]     # [1 or N, 1, H, W]
        weights = {'inside': m.sqrt(), 'outside': (1 - m).sqrt()}
        sums = {k: [torch.zeros(s.shape, dtype=torch.float64, device=s.device) for s in tap.styles] for k in weights}
        for p in range(probes):
            signs = (torch.randint(0, 2, x.shape, generator=generator) * 2 - 1).to(x)
            for k, w in weights.items():
                last = p == probes - 1 and k == 'outside'
                grads = torch.autograd.grad((x * signs * w).sum(), offsets, retain_graph=not last, allow_unused=True)
                for acc, g in zip(sums[k], grads):
                    if g is not None:
                        acc += g.double().square()
    return [s / probes for s in sums['inside']], [s / probes for s in sums['outside']], tap.styles


def channel_shares(inside, outside):
    """Per channel the mean over samples of inside / (inside + outside), over the samples where it is non-zero.

    Args:
        inside, outside: [N, C] squared-gradient estimates.
    Returns:
        (sum of the shares [C], number of samples counted [C]), float64.
    """
    total = inside + outside
    moved = total > 0
    share = torch.where(moved, inside / total.clamp(min=1e-300), torch.zeros_like(total))
    return share.sum(dim=0), moved.sum(dim=0).double()

#----------------------------------------------------------------------------
# Result and I/O.

@dataclasses.dataclass
class StyleChannels:
    """The most local style channels of one region.

    layers:   [K] dotted path of each channel's affine from G; channels: [K] its index in that style.
    stds:     [K] the std of s over the samples: the edit's unit; shares: [K] mean in-region share, in [0, 1].
    region:   the region's spec dict; link: its name; settings: the search's options; num_channels: channels scanned.
    """
    layers: list
    channels: list
    stds: list
    shares: list
    region: dict
    link: str
    network_hash: str = ''
    network_path: str = ''
    settings: dict = dataclasses.field(default_factory=dict)
    num_channels: int = 0
    seconds: float = 0.0

    @property
    def count(self):
        return len(self.channels)


#----------------------------------------------------------------------------
# The search.

@torch.no_grad()
def channel_counts(gen, layers):
    """[C_l]: the number of style channels of each layer (one render of one sample through StyleHooks)."""
    with StyleHooks(layers) as tap:
        gen.synthesize(gen.map(torch.zeros([1, gen.z_dim], device=gen.device)))
    missing = [layer.name for layer, s in zip(layers, tap.styles) if s is None]
    if missing:
        raise ValueError(f'style layers not run by the forward pass: {", ".join(missing)}')
    return [int(s.shape[1]) for s in tap.styles]


def check_count(gen, layers, count):
    """The total number of style channels; ValueError unless 1 <= count <= it."""
    total = sum(channel_counts(gen, layers))
    if not 1 <= count <= total:
        raise ValueError(f'count must lie in 1..{total} (the style channels of this network), got {count}')
    return total


def find_channels(gen, region, count=DEFAULTS['count'], samples=DEFAULTS['samples'], seed=DEFAULTS['seed'],
                  truncation=DEFAULTS['truncation'], probes=DEFAULTS['probes'], batch=DEFAULTS['batch'], layers=None,
                  progress=None):
    """The `count` style channels of the largest mean in-region share (the module docstring's score and estimator).

    Args:
        gen:      GeneratorAdapter (on the device to run on).
        region:   a one-link LinkSpec (lelsd.region_spec, or spec.select([name])).
        samples:  latents (seeded stream STYLESPACE_STREAM of `seed`, at `truncation`), >= 2 (the std needs two).
        probes:   random-sign projections per sample; batch: samples per forward pass.
        layers:   StyleLayer list (default: style_layers(gen.G)); progress: callable(n) per n samples done.
    Returns:
        StyleChannels, best first.
    Raises:
        ValueError for samples < 2, probes < 1, count outside 1..channels; style_layers' errors.
    """
    if samples < 2 or probes < 1 or batch < 1:
        raise ValueError(f'need samples >= 2, probes >= 1, batch >= 1; got {samples}, {probes}, {batch}')
    start = time.perf_counter()
    layers = layers if layers is not None else style_layers(gen.G)
    ws, c = sample_latents(gen, samples, seed, (STYLESPACE_STREAM, 1), truncation)
    check_count(gen, layers, count)
    masker = RegionMasker(region, 'source')
    signs = seeded_generator(seed, STYLESPACE_STREAM, 2)
    share_sum = share_n = None
    styles = [[] for _ in layers]
    for i in range(0, samples, batch):
        inside, outside, s = channel_energies(gen, layers, masker, ws[i:i + batch], c[i:i + batch], probes, signs)
        sums, counts = zip(*[channel_shares(a, b) for a, b in zip(inside, outside)])
        share_sum = list(sums) if share_sum is None else [a + b for a, b in zip(share_sum, sums)]
        share_n = list(counts) if share_n is None else [a + b for a, b in zip(share_n, counts)]
        for kept, new in zip(styles, s):
            kept.append(new.double())
        if progress is not None:
            progress(ws[i:i + batch].shape[0])
    mean_share = torch.cat([a / n.clamp(min=1) for a, n in zip(share_sum, share_n)])
    stds = torch.cat([torch.cat(s).std(dim=0, correction=0) for s in styles])
    index = [(l, ch) for l, s in enumerate(share_sum) for ch in range(s.shape[0])]
    best = torch.argsort(mean_share.cpu(), descending=True, stable=True)[:count].tolist()
    settings = dict(method=METHOD, samples=samples, seed=seed, truncation=truncation, probes=probes, batch=batch,
                    estimator='hutchinson-squared-gradient')
    return StyleChannels(
        layers=[layers[index[k][0]].name for k in best], channels=[index[k][1] for k in best],
        stds=[float(stds[k]) for k in best], shares=[float(mean_share[k]) for k in best],
        region=region.links[0].region.to_dict(), link=region.links[0].name, network_hash=network_hash(gen.G),
        settings=settings, num_channels=len(index), seconds=time.perf_counter() - start)

#----------------------------------------------------------------------------
# Edits.

def channel_edits(layers, result, index, strength):
    """StyleHooks edits that move channel `index` of `result` by strength * std, every other channel unchanged.

    Args:
        layers: StyleLayer list of the network; strength: a number or [N] (per sample).
    Raises:
        IndexError for an index outside the result; ValueError when its layer is not in `layers`.
    """
    if not 0 <= index < result.count:
        raise IndexError(f'channel index {index} out of range: the result has {result.count}')
    names = [layer.name for layer in layers]
    if result.layers[index] not in names:
        raise ValueError(f'style layer {result.layers[index]!r} is not in this network')
    edits = [None] * len(layers)
    amount = torch.as_tensor(strength, dtype=torch.float32) * result.stds[index]
    edits[names.index(result.layers[index])] = shift_channel(result.channels[index], amount)
    return edits


@torch.no_grad()
def render_channel_edit(gen, ws, result, index, strength, c=None, layers=None):
    """Renders ws with channel `index` of `result` moved by strength * std (constant noise, as gen.synthesize).

    Args:
        ws: [N, num_ws, w_dim]; strength: a number or [N]; layers: StyleLayer list (default style_layers(gen.G)).
    Returns:
        gen.synthesize's dict: {'image': [N, C, H, W], ...}.
    """
    layers = layers if layers is not None else style_layers(gen.G)
    with StyleHooks(layers, channel_edits(layers, result, index, strength)):
        return gen.synthesize(ws, c)

#----------------------------------------------------------------------------
