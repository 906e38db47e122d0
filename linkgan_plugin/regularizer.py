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
import torch.nn.functional as F

from linkgan_plugin.ops import masked_diff
from linkgan_plugin.regions import RegionMasks, load_segmenter, semantic_mask

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
# Step 2: renders with common random numbers.

class _RngReplay:
    """Captures the RNG state once and restores it before each render, so all renders draw the same numbers."""

    def __init__(self, device):
        self.device = torch.device(device)
        self.cpu_state = torch.get_rng_state()
        self.cuda_state = torch.cuda.get_rng_state(self.device) if self.device.type == 'cuda' else None

    def rewind(self):
        torch.set_rng_state(self.cpu_state)
        if self.cuda_state is not None:
            torch.cuda.set_rng_state(self.cuda_state, self.device)


def render_variants(synthesize, ws, delta_linked, delta_complement):
    """Renders G(w), then for each link G(w + delta_linked[:, i]) and G(w + delta_complement[:, i]).

    Args:
        synthesize:       callable ws [batch, num_ws, w_dim] -> tensor [batch, C, H, W] or dict of tensors.
        ws:               [batch, num_ws, w_dim].
        delta_*:          [batch, links, w_dim].
    Returns:
        (x, x1_list, x2_list).
    """
    replay = _RngReplay(ws.device)
    x = synthesize(ws)
    x1, x2 = [], []
    for i in range(delta_linked.shape[1]):
        replay.rewind()
        x1.append(synthesize(ws + delta_linked[:, i, None, :]))
        replay.rewind()
        x2.append(synthesize(ws + delta_complement[:, i, None, :]))
    return x, x1, x2

#----------------------------------------------------------------------------
# Step 3: masks and masked differences.

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


def _combine(mode, source, perturbed):
    if mode == 'union':
        return torch.maximum(source, perturbed)
    if mode == 'mean':
        return 0.5 * (source + perturbed)
    return source


@torch.no_grad()
def semantic_link_masks(bound, x, x1, x2):
    """Semantic masks of every semantic link at the resolution of `x`, or (None, None) when the spec has none.

    Args:
        x:      [batch, C, H, W] original images (segmented under no_grad).
        x1, x2: lists (per link) of [batch, C, H, W] perturbed images, used by 'union' / 'mean' modes.
    Returns:
        (mask_in, mask_out), each [batch, links, H, W]; entries of non-semantic links are zero.
    """
    links = bound.spec.links
    if all(link.region.is_fixed for link in links):
        return None, None
    N, _, H, W = x.shape
    m_in = x.new_zeros([N, len(links), H, W], dtype=torch.float32)
    m_out = m_in.clone()
    for i, link in enumerate(links):
        region = link.region
        if region.is_fixed:
            continue
        seg = load_segmenter(region.segmenter)
        source = semantic_mask(seg, x, region.classes, H, W)
        m_in[:, i] = source
        m_out[:, i] = source
        if region.mode != 'source':
            m_in[:, i] = _combine(region.mode, source, semantic_mask(seg, x2[i], region.classes, H, W))
            m_out[:, i] = _combine(region.mode, source, semantic_mask(seg, x1[i], region.classes, H, W))
    return m_in, m_out


def output_masks(bound, semantic, height, width, device):
    """Final masks [1 or batch, links, height, width] for one output: fixed regions rasterised at this size,
    semantic ones resized from the primary output."""
    fixed = bound.masks.fixed(height, width, device)
    if semantic is None:
        return fixed
    if semantic.shape[2:] != (height, width):
        semantic = F.interpolate(semantic, size=(height, width), mode='area')
    is_sem = torch.tensor([not link.region.is_fixed for link in bound.spec.links], device=device)
    return torch.where(is_sem[None, :, None, None], semantic, fixed)

#----------------------------------------------------------------------------
# The whole term.

def link_penalty(synthesize, ws, bound, targets=None, noise=None, alpha_scale=None):
    """Computes the LinkGAN regularizer for a batch.

    Args:
        synthesize:  callable ws [batch, num_ws, w_dim] -> image [batch, C, H, W] or dict of images.
        ws:          [batch, num_ws, w_dim] latents without style mixing.
        bound:       BoundSpec.
        targets:     for dict outputs, the keys that are masked (default: all 4-D tensors in the dict);
                     the first is the primary one (segmented for semantic masks).
        noise:       optional [batch, links, w_dim] standard normal (default: freshly sampled).
        alpha_scale: optional [w_dim] per-axis scale for alpha_mode='w_std'.
    Returns:
        LinkTerms (loss is differentiable w.r.t. the generator; masks are constants).
    """
    spec = bound.spec
    if ws.ndim != 3 or ws.shape[2] != bound.w_dim:
        raise ValueError(f'link_penalty: ws must be [batch, num_ws, {bound.w_dim}], got {list(ws.shape)}')
    if noise is None:
        noise = sample_link_noise(ws.shape[0], bound.num_links, bound.w_dim, ws.device)
    d_linked, d_complement = perturbation_offsets(noise, bound, spec.alpha, alpha_scale)
    x, x1, x2 = render_variants(synthesize, ws, d_linked, d_complement)

    if isinstance(x, dict):
        keys = list(targets) if targets else [k for k, v in x.items() if torch.is_tensor(v) and v.ndim == 4]
        missing = [k for k in keys if k not in x]
        if missing:
            raise KeyError(f'link_penalty: generator output has no {missing[0]!r} (has {sorted(x)})')
        outputs = {k: (x[k], [v[k] for v in x1], [v[k] for v in x2]) for k in keys}
    else:
        keys = ['image']
        outputs = {'image': (x, x1, x2)}

    primary, p1, p2 = outputs[keys[0]]
    sem_in, sem_out = semantic_link_masks(bound, primary, p1, p2)

    terms = LinkTerms(loss=ws.new_zeros([ws.shape[0]], dtype=torch.float32), x=x, x1=x1, x2=x2)
    for key in keys:
        img, img1, img2 = outputs[key]
        _, C, H, W = img.shape
        mask_in = output_masks(bound, sem_in, H, W, img.device)
        mask_out = mask_in if sem_out is None else output_masks(bound, sem_out, H, W, img.device)
        l_in, l_out = masked_terms(img, torch.stack(img1, dim=1), torch.stack(img2, dim=1), mask_in, mask_out)
        if spec.reduction == 'mean':
            l_in, l_out = l_in / (C * H * W), l_out / (C * H * W)
        terms.l_in[key], terms.l_out[key] = l_in, l_out
        terms.loss = terms.loss + (spec.lambda_in * l_in + spec.lambda_out * l_out).sum(dim=1)
    return terms

#----------------------------------------------------------------------------
