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
"""

from dataclasses import dataclass, field

import torch
from torch.profiler import record_function

from linkgan_plugin.ops import masked_diff
from linkgan_plugin.regions import RegionMasks
from linkgan_plugin.render import render_variants

#----------------------------------------------------------------------------

class BoundSpec:
    """A LinkSpec bound to a generator's latent layout.

    Attributes:
        spec:       the LinkSpec.
        w_dim:      latent width.
        axis_masks: float32 [links, w_dim], 1 on each link's axes.
        masks:      RegionMasks (cached fixed masks per resolution).
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

    @property
    def num_links(self):
        return len(self.spec.links)

    def axis_masks_on(self, device):
        key = str(device)
        if key not in self._device_axis_masks:
            self._device_axis_masks[key] = self.axis_masks.to(device)
        return self._device_axis_masks[key]


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
    """The one call site of the masked-difference op.

    Args:
        x:        [batch, C, H, W].
        x1, x2:   [batch, links, C, H, W].
        mask_in:  [batch or 1, links, H, W] region masks for L_in.
        mask_out: masks for L_out when they differ (semantic 'union'/'mean' modes); default mask_in.
    Returns:
        (L_in, L_out) masked sums, each [batch, links], fp32.
    """
    if mask_out is None or mask_out is mask_in:
        return masked_diff(x, x1, x2, mask_in)
    l_in, _ = masked_diff(x, x1, x2, mask_in)
    _, l_out = masked_diff(x, x1, x2, mask_out)
    return l_in, l_out


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
# The whole term.

def link_penalty(synthesize, ws, bound, targets=None, noise=None, alpha_scale=None, primary='image'):
    """Computes the LinkGAN regularizer for a batch.

    Args:
        synthesize:  callable ws [batch, num_ws, w_dim] -> image [batch, C, H, W] or dict of images.
        ws:          [batch, num_ws, w_dim] latents without style mixing.
        bound:       BoundSpec.
        targets:     for dict outputs, the keys that are masked (default: all 4-D tensors in the dict).
        noise:       optional [batch, links, w_dim] standard normal (default: freshly sampled).
        alpha_scale: optional [w_dim] per-axis scale for alpha_mode='w_std'.
        primary:     for dict outputs, the RGB output semantic regions are segmented from.
    Returns:
        LinkTerms (loss is differentiable w.r.t. the generator; masks are constants).
    """
    spec = bound.spec
    if ws.ndim != 3 or ws.shape[2] != bound.w_dim:
        raise ValueError(f'link_penalty: ws must be [batch, num_ws, {bound.w_dim}], got {list(ws.shape)}')
    L = bound.num_links
    if noise is None:
        noise = sample_link_noise(ws.shape[0], L, bound.w_dim, ws.device)
    d_linked, d_complement = perturbation_offsets(noise, bound, spec.alpha, alpha_scale)
    offsets = [d for i in range(L) for d in (d_linked[:, i], d_complement[:, i])]
    with record_function('linkgan:renders'):
        x, variants = render_variants(synthesize, ws, offsets)
    x1, x2 = variants[0::2], variants[1::2]
    outputs, px, pvars = split_outputs(x, variants, targets, primary)
    with record_function('linkgan:masks+diff'):
        masks_in = bound.masks.for_batch(px, pvars[1::2])       # L_in compares complement-perturbed renders.
        masks_out = masks_in if not bound.masks.uses_variants else bound.masks.for_batch(px, pvars[0::2])

    terms = LinkTerms(loss=ws.new_zeros([ws.shape[0]], dtype=torch.float32), x=x, x1=x1, x2=x2)
    for key, (img, imgs) in outputs.items():
        _, C, H, W = img.shape
        mask_in, mask_out = masks_in.at(H, W), masks_out.at(H, W)
        with record_function('linkgan:masks+diff'):
            l_in, l_out = masked_terms(img, torch.stack(imgs[0::2], dim=1), torch.stack(imgs[1::2], dim=1),
                                       mask_in, mask_out)
        if spec.reduction == 'mean':
            l_in, l_out = l_in / (C * H * W), l_out / (C * H * W)
        terms.l_in[key], terms.l_out[key] = l_in, l_out
        terms.loss = terms.loss + (spec.lambda_in * l_in + spec.lambda_out * l_out).sum(dim=1)
    return terms

#----------------------------------------------------------------------------
