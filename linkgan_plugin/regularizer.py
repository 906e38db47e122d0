"""The LinkGAN regularizer (paper Sec. 3.2, Eqs. 3-6) as pure functions over a synthesis callable.

For a batch of latents w and every link i (axes w_i, region mask M_i):

    x   = G(w)
    x1  = G(w with w_i   += a * p_i)         p_i   ~ N(0, I), only the linked axes
    x2  = G(w with w_i^c += a * p_i^c)       p_i^c ~ N(0, I), only the complement axes
    L_in_i  = sum(M_i       * (x2 - x)^2)    perturbing the complement must not change the region
    L_out_i = sum((1 - M_i) * (x1 - x)^2)    perturbing the linked axes must not change the rest
    L = sum_i lambda_in * L_in_i + lambda_out * L_out_i          (per sample)

The same offset is added to all `num_ws` rows of ws (style mixing is off in the link pass). All 1 + 2K renders of
a sample share the generator's random numbers (noise inputs, EG3D ray jitter): the RNG state is replayed for each
render, so differences measure the latent perturbation alone. With reduction 'mean' every masked sum is divided
by C*H*W of its output (the normalisation of the paper's MSE tables); 'sum' keeps Eq. 3-4 as written.

Two passes compute the same terms (`link_terms` is the one place they are measured):
    link_penalty  'batched': all 1 + 2K renders at once, one backward by the caller; activation memory grows with K.
    PerLinkPass   'per_link': x rendered once, then one link at a time, rendered, measured and backpropagated before
                  the next is rendered; activation memory stays that of about three renders whatever K. Gradients
                  equal the batched pass's up to float rounding (the sums run in another order).
"""

from dataclasses import dataclass, field

import torch
from torch.profiler import record_function

from linkgan_plugin.ops import masked_diff
from linkgan_plugin.regions import RegionMasks
from linkgan_plugin.render import render_variants, RngReplay

#----------------------------------------------------------------------------

class BoundSpec:
    """A LinkSpec bound to a generator's latent layout.

    Attributes:
        spec:       the LinkSpec.
        w_dim:      latent width.
        axis_masks: float32 [links, w_dim], 1 on each link's axes.
        masks:      RegionMasks (cached fixed masks per resolution); `link_masks(i)`: link i's alone.
    """

    def __init__(self, spec, w_dim):
        spec.check_w_dim(w_dim)
        self.spec = spec
        self.w_dim = w_dim
        self.axis_masks = torch.zeros(len(spec.links), w_dim)
        for i, link in enumerate(spec.links):
            self.axis_masks[i, link.axes] = 1
        self.masks = RegionMasks(spec)
        self._device_axis_masks = {}
        self._link_masks = {}

    @property
    def num_links(self):
        return len(self.spec.links)

    def axis_masks_on(self, device):
        key = str(device)
        if key not in self._device_axis_masks:
            self._device_axis_masks[key] = self.axis_masks.to(device)
        return self._device_axis_masks[key]

    def link_masks(self, index):
        """RegionMasks of link `index` alone (cached): the masks `masks` gives that link, segmented from the same
        images, for the per-link pass."""
        if index not in self._link_masks:
            self._link_masks[index] = RegionMasks(self.spec.select([self.spec.links[index].name]))
        return self._link_masks[index]


@dataclass
class LinkTerms:
    """What one link pass produced.

    loss:    [batch] weighted penalty per sample (lambda-weighted, reduced, summed over links and outputs).
    l_in:    {output: [batch, links]} reduced L_in per link, before lambda.
    l_out:   {output: [batch, links]} reduced L_out per link, before lambda.
    x:       G(w): a tensor [batch, C, H, W] or a dict of them.
    x1, x2:  per link, G with the linked / complement axes perturbed (same layout as x).
    """
    loss: torch.Tensor
    l_in: dict = field(default_factory=dict)
    l_out: dict = field(default_factory=dict)
    x: object = None
    x1: list = field(default_factory=list)
    x2: list = field(default_factory=list)

#----------------------------------------------------------------------------
# Step 1: perturbations.

def sample_link_noise(batch, num_links, w_dim, device, generator=None):
    """p ~ N(0, I) of shape [batch, links, w_dim]; link i uses p[:, i] on its axes (x1) and on the rest (x2)."""
    return torch.randn([batch, num_links, w_dim], device=device, generator=generator)


def perturbation_offsets(noise, bound, alpha, alpha_scale=None):
    """Offsets to add to w for the linked and the complement perturbations.

    Args:
        noise:       [batch, links, w_dim] standard normal.
        alpha:       strength a.
        alpha_scale: optional [w_dim] per-axis scale (alpha_mode='w_std').
    Returns:
        (delta_linked, delta_complement), each [batch, links, w_dim].
    """
    scale = alpha if alpha_scale is None else alpha * alpha_scale.to(noise.device)
    m = bound.axis_masks_on(noise.device)
    step = noise * scale
    return step * m, step * (1 - m)

#----------------------------------------------------------------------------
# Step 2: masked differences (renders: linkgan_plugin.render; masks: linkgan_plugin.regions).

def masked_terms(x, x1, x2, mask_in, mask_out=None):
    """The one call site of the masked-difference op: one call, the renders read where they are.

    Args:
        x:        [batch, C, H, W].
        x1, x2:   lists of K renders [batch, C, H, W], link i's at index i: passed as they are (the op reads each
                  in place, a channel slice such as EG3D's image_raw included; no torch.stack copy).
        mask_in:  [batch or 1, links, H, W] region masks for L_in.
        mask_out: masks for L_out when they differ (semantic 'union'/'mean' modes); default mask_in. Either way
                  one call: with its own mask_out the op computes L_out with it in the same pass.
    Returns:
        (L_in, L_out) masked sums, each [batch, links], fp32.
    """
    return masked_diff(x, list(x1), list(x2), mask_in, mask_out=None if mask_out is mask_in else mask_out)


def split_outputs(x, variants, targets=None, primary='image'):
    """Per-output views of renders: ({output: (x, [variant renders])}, primary RGB images, [primary variants]).

    Args:
        x, variants: a render (tensor [batch, C, H, W] or dict of them) and a list of renders of the same layout.
        targets:     dict outputs only: the keys to measure (default: every 4-D tensor).
        primary:     dict outputs only: the RGB output semantic regions are segmented from (EG3D 'image').
    """
    if not isinstance(x, dict):
        return {'image': (x, variants)}, x, variants
    keys = list(targets) if targets else [k for k, v in x.items() if torch.is_tensor(v) and v.ndim == 4]
    missing = [k for k in keys + [primary] if k not in x]
    if missing:
        raise KeyError(f'generator output has no {missing[0]!r} (has {sorted(x)})')
    return {k: (x[k], [v[k] for v in variants]) for k in keys}, x[primary], [v[primary] for v in variants]

#----------------------------------------------------------------------------
# The terms of renders already made: the one place both passes measure them.

def link_terms(masks, spec, x, variants, targets=None, primary='image'):
    """Masked, reduced and weighted terms of some links, from their renders.

    Args:
        masks:    RegionMasks of those links, in their order (`bound.masks` for all, `bound.link_masks(i)` for one).
        spec:     the LinkSpec (lambda_in, lambda_out, reduction).
        x:        G(w): [batch, C, H, W] or a dict of them.
        variants: [x1 of link a, x2 of link a, x1 of link b, ...] for the links of `masks`, in their order.
        targets, primary: as in `link_penalty`.
    Returns:
        LinkTerms of those links (l_in / l_out [batch, links of `masks`]; loss differentiable, masks constants).
    """
    outputs, px, pvars = split_outputs(x, variants, targets, primary)
    with record_function('linkgan:masks+diff'):
        masks_in = masks.for_batch(px, pvars[1::2])           # L_in compares complement-perturbed renders.
        masks_out = masks_in if not masks.uses_variants else masks.for_batch(px, pvars[0::2])
    l_in, l_out = {}, {}
    for key, (img, imgs) in outputs.items():
        _, C, H, W = img.shape
        mask_in = masks_in.at(H, W)
        mask_out = mask_in if masks_out is masks_in else masks_out.at(H, W)
        with record_function('linkgan:masks+diff'):
            l_in[key], l_out[key] = masked_terms(img, imgs[0::2], imgs[1::2], mask_in, mask_out)
        if spec.reduction == 'mean':
            l_in[key], l_out[key] = l_in[key] / (C * H * W), l_out[key] / (C * H * W)
    return LinkTerms(loss=weighted_penalty(spec, l_in, l_out, px.shape[0], px.device), l_in=l_in, l_out=l_out, x=x,
                     x1=variants[0::2], x2=variants[1::2])


def weighted_penalty(spec, l_in, l_out, batch, device):
    """[batch] penalty per sample: sum over outputs and links of lambda_in * L_in + lambda_out * L_out.

    Args:
        l_in, l_out: {output: [batch, links]} reduced terms.
    """
    loss = torch.zeros([batch], dtype=torch.float32, device=device)
    for key in l_in:
        loss = loss + (spec.lambda_in * l_in[key] + spec.lambda_out * l_out[key]).sum(dim=1)
    return loss


def _offsets(ws, bound, noise, alpha_scale):
    """(delta_linked, delta_complement) [batch, links, w_dim] of a pass; ValueError for ws of the wrong shape."""
    if ws.ndim != 3 or ws.shape[2] != bound.w_dim:
        raise ValueError(f'link_penalty: ws must be [batch, num_ws, {bound.w_dim}], got {list(ws.shape)}')
    if noise is None:
        noise = sample_link_noise(ws.shape[0], bound.num_links, bound.w_dim, ws.device)
    return perturbation_offsets(noise, bound, bound.spec.alpha, alpha_scale)

#----------------------------------------------------------------------------
# The whole term, batched: every render at once.

def link_penalty(synthesize, ws, bound, targets=None, noise=None, alpha_scale=None, primary='image'):
    """Computes the LinkGAN regularizer for a batch, all 1 + 2K renders at once (the 'batched' link pass).

    Args:
        synthesize:  callable ws [batch, num_ws, w_dim] -> image [batch, C, H, W] or dict of images.
        ws:          [batch, num_ws, w_dim] latents without style mixing.
        bound:       BoundSpec.
        targets:     for dict outputs, the keys that are masked (default: all 4-D tensors in the dict).
        noise:       optional [batch, links, w_dim] standard normal (default: freshly sampled).
        alpha_scale: optional [w_dim] per-axis scale for alpha_mode='w_std'.
        primary:     for dict outputs, the RGB output semantic regions are segmented from.
    Returns:
        LinkTerms (loss is differentiable w.r.t. the generator; masks are constants). The graphs of all renders
        stay alive until the caller's backward.
    """
    d_linked, d_complement = _offsets(ws, bound, noise, alpha_scale)
    offsets = [d for i in range(bound.num_links) for d in (d_linked[:, i], d_complement[:, i])]
    with record_function('linkgan:renders'):
        x, variants = render_variants(synthesize, ws, offsets)
    return link_terms(bound.masks, bound.spec, x, variants, targets, primary)

#----------------------------------------------------------------------------
# The whole term, one link at a time.

def _detached(renders, requires_grad=False):
    """A render (tensor or dict of them) detached; floating tensors that required grad become leaves that do."""
    def leaf(v):
        if not torch.is_tensor(v):
            return v
        return v.detach().requires_grad_(requires_grad and v.requires_grad and v.is_floating_point())
    return {k: leaf(v) for k, v in renders.items()} if isinstance(renders, dict) else leaf(renders)


def _tensors(render):
    return [v for v in render.values() if torch.is_tensor(v)] if isinstance(render, dict) else [render]


class PerLinkPass:
    """The link pass one link at a time (the 'per_link' pass): the terms of `link_penalty`, its gradients up to float
    rounding, with activation memory that does not grow with the number of links K.

        lp = PerLinkPass(synthesize, ws, bound, ...)    # renders x = G(ws) and keeps its graph
        for i in range(bound.num_links):
            lp.link(i, weight, last=i == K - 1)         # renders x1_i, x2_i; backpropagates weight * mean(loss_i)
        terms = lp.terms()                              # LinkTerms of all links, detached (for reports, D's pool)

    Link i's terms are measured against a detached copy of x (the very values x holds), so its backward runs through
    its own two renders only, frees them, and adds d(loss_i)/dx to that copy's .grad; the last backward (`last=True`
    on the last `link` or `backward_render` call) also carries that summed gradient through x's graph, once, and
    frees it. Alive at once: x's graph and one link's two renders (x1_i, x2_i), plus detached images.

    `ws` is typically a leaf (ws.detach().requires_grad_()): the gradient w.r.t. ws then collects in ws.grad over all
    backward calls, and the caller carries it through the mapping network once, after the last one.

    Random numbers: the generator's RNG state is captured before x, and every render (x1_i, x2_i, and re-renders)
    starts from it, as render_variants does, so all renders draw the numbers x drew; after the link loop the RNG is
    where link_penalty leaves it (after one render). `backward_render` leaves the RNG as it found it.

    Args:
        synthesize:   callable ws [batch, num_ws, w_dim] -> image [batch, C, H, W] or dict of images.
        ws:           [batch, num_ws, w_dim] latents without style mixing.
        bound:        BoundSpec.
        targets, noise, alpha_scale, primary: as in `link_penalty`.
        keep_renders: keep detached copies of the perturbed renders (x1 / x2 of `terms()`; images, not graphs),
                      for a pool D draws perturbed fakes from.
    """

    def __init__(self, synthesize, ws, bound, targets=None, noise=None, alpha_scale=None, primary='image',
                 keep_renders=False):
        d_linked, d_complement = _offsets(ws, bound, noise, alpha_scale)
        K = bound.num_links
        self.synthesize, self.ws, self.bound = synthesize, ws, bound
        self.targets, self.primary, self.keep_renders = targets, primary, keep_renders
        self.offsets = [d_linked[:, i] for i in range(K)] + [d_complement[:, i] for i in range(K)]   # Pool order.
        self.replay = RngReplay(ws.device)
        with record_function('linkgan:renders'):
            self.x = synthesize(ws)
        self.x_leaf = _detached(self.x, requires_grad=True)
        self.parts = [None] * K         # Per link: LinkTerms, detached.

    @property
    def num_links(self):
        return self.bound.num_links

    def render(self, variant, synthesize=None):
        """Perturbed render `variant` of the pool [x1 of links 0..K-1, x2 of links 0..K-1] (LinkLoss's order), from
        the RNG state x was rendered with: the values the pass measured (for a deterministic synthesis)."""
        self.replay.rewind()
        with record_function('linkgan:renders'):
            return (synthesize or self.synthesize)(self.ws + self.offsets[variant][:, None, :])

    def link(self, index, weight, synthesize=None, last=False):
        """Renders link `index`'s x1 and x2 (with `synthesize`, default the pass's), measures its terms and
        backpropagates weight * mean over samples of its penalty; `last`: also x's summed gradient (see class).

        Returns:
            LinkTerms of that link alone, detached (loss [batch], l_in / l_out {output: [batch, 1]}).
        """
        if self.parts[index] is not None:
            raise RuntimeError(f'PerLinkPass: link {index} was already backpropagated')
        x1, x2 = self.render(index, synthesize), self.render(self.num_links + index, synthesize)
        terms = link_terms(self.bound.link_masks(index), self.bound.spec, self.x if last else self.x_leaf, [x1, x2],
                           self.targets, self.primary)
        self._backward([terms.loss.mean() * weight], [None], last)
        kept = self.keep_renders
        self.parts[index] = LinkTerms(loss=terms.loss.detach(), l_in={k: v.detach() for k, v in terms.l_in.items()},
                                      l_out={k: v.detach() for k, v in terms.l_out.items()},
                                      x1=[_detached(x1)] if kept else [], x2=[_detached(x2)] if kept else [])
        return self.parts[index]

    def backward_render(self, variant, grads, synthesize=None, last=False):
        """Renders pool variant `variant` again and backpropagates `grads` (a tensor, or {output: tensor} for dict
        renders, each shaped like that output) through it; `last`: also x's summed gradient. For a term on
        perturbed renders whose gradient is known only after every link was rendered (D's score of them). The RNG
        is left as it was found."""
        state = RngReplay(self.ws.device)
        out = self.render(variant, synthesize)
        state.rewind()
        if isinstance(out, dict):
            tensors, grads = [out[k] for k in grads], list(grads.values())
        else:
            tensors, grads = [out], [grads]
        self._backward(tensors, grads, last)

    def _backward(self, tensors, grads, last):
        if self.x_leaf is None:
            raise RuntimeError('PerLinkPass: x\'s gradient was already carried through its graph (last=True)')
        if last:
            pending = [(t, leaf.grad) for t, leaf in zip(_tensors(self.x), _tensors(self.x_leaf))
                       if leaf.grad is not None]
            tensors, grads = tensors + [t for t, _ in pending], grads + [g for _, g in pending]
        with record_function('linkgan:backward'):
            torch.autograd.backward(tensors, grads)
        if last:
            self.x, self.x_leaf = _detached(self.x), None       # x's graph is freed.

    def terms(self):
        """LinkTerms of every link, detached: l_in / l_out {output: [batch, links]}, loss [batch] (the same formula
        as link_penalty's), x, and x1 / x2 (detached copies when keep_renders, else empty). Every link must have
        run."""
        missing = [i for i, part in enumerate(self.parts) if part is None]
        if missing:
            raise RuntimeError(f'PerLinkPass: link {missing[0]} has not run')
        keys = list(self.parts[0].l_in)
        l_in = {k: torch.cat([p.l_in[k] for p in self.parts], dim=1) for k in keys}
        l_out = {k: torch.cat([p.l_out[k] for p in self.parts], dim=1) for k in keys}
        batch = self.ws.shape[0]
        return LinkTerms(loss=weighted_penalty(self.bound.spec, l_in, l_out, batch, self.ws.device), l_in=l_in,
                         l_out=l_out, x=_detached(self.x), x1=[r for p in self.parts for r in p.x1],
                         x2=[r for p in self.parts for r in p.x2])

#----------------------------------------------------------------------------
