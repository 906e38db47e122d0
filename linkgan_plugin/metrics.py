"""Linkage metrics (method.md sec. 3): masked MSE of images in [-1, 1], fixed seeds.

For each link, with x = G(w):
    mse_i  -- change INSIDE the region when the UNLINKED axes are perturbed by alpha * N(0, I)    (Table 3, lower better)
    mse_o  -- change OUTSIDE the region when the LINKED axes are perturbed by alpha * N(0, I)     (Table 3, lower better)
    edit_i -- change INSIDE the region when the linked axes are RESAMPLED (fresh z mapped, its linked axes copied)
                                                                                                 (Table 2, higher better)
    edit_o -- change OUTSIDE the region under the same resampling                                (Table 2, lower better)
Two normalisations: `<metric>` divides the masked sum of squares by all values (C*H*W; what the paper's numbers
fit) and `<metric>_region` by the values the mask selects (C*sum(M) inside, C*sum(1-M) outside).
"""

import numpy as np
import torch

from linkgan_plugin.ops import masked_diff
from linkgan_plugin.regularizer import perturbation_offsets, sample_link_noise, semantic_link_masks, output_masks

METRICS = ('mse_i', 'mse_o', 'edit_i', 'edit_o')

#----------------------------------------------------------------------------

def resample_offsets(ws, ws_new, bound):
    """Offsets [N, links, w_dim] that replace each link's axes of ws[:, 0] by those of ws_new[:, 0]."""
    return (ws_new[:, 0] - ws[:, 0])[:, None, :] * bound.axis_masks_on(ws.device)[None]


def sample_inputs(gen, num_links, samples, seed):
    """Every random input of an evaluation, drawn up front from one generator per stream.

    Each stream (z, z_new, noise, camera) has its own generator seeded from `seed`, so sample i is the same for any
    batch size and any `samples` >= i + 1.
    Returns:
        (z [samples, z_dim], z_new [samples, z_dim], noise [samples, links, w_dim], c [samples, c_dim]) on the CPU.
    """
    # The CPU generator keeps 32 bits of its seed: derive distinct stream seeds with numpy's SeedSequence.
    stream = lambda k: torch.Generator().manual_seed(int(np.random.SeedSequence([seed, k]).generate_state(1)[0]))
    z = torch.randn([samples, gen.z_dim], generator=stream(0))
    z_new = torch.randn([samples, gen.z_dim], generator=stream(1))
    noise = sample_link_noise(samples, num_links, gen.w_dim, 'cpu', generator=stream(2))
    c = gen.default_c(samples, generator=stream(3)).cpu()
    return z, z_new, noise, c


@torch.no_grad()
def link_metrics_batch(gen, bound, z, z_new, noise, c=None, alpha=1.0, truncation_psi=1.0, output='image', alpha_scale=None):
    """Per-sample metrics for one batch.

    Args:
        gen:     GeneratorAdapter.
        bound:   BoundSpec of the links to measure.
        z:       [N, z_dim] latents; z_new: [N, z_dim] latents for resampling.
        noise:   [N, links, w_dim] standard normal perturbations.
        output:  which generator output to measure ('image'; EG3D also 'image_raw', 'image_depth').
        alpha_scale: optional [w_dim] per-axis scale of alpha (alpha_mode='w_std').
    Returns:
        {metric: [N, links]} for every metric in METRICS and its '_region' twin.
    """
    ws = gen.map(z, c, truncation_psi)
    ws_new = gen.map(z_new, c, truncation_psi)
    d_linked, d_complement = perturbation_offsets(noise, bound, alpha, alpha_scale)
    d_resample = resample_offsets(ws, ws_new, bound)
    render = lambda w: gen.synthesize(w, c)[output].float()
    x = render(ws)
    x1 = [render(ws + d_linked[:, i, None]) for i in range(bound.num_links)]
    x2 = [render(ws + d_complement[:, i, None]) for i in range(bound.num_links)]
    xr = [render(ws + d_resample[:, i, None]) for i in range(bound.num_links)]
    N, C, H, W = x.shape
    sem_in, _ = semantic_link_masks(bound, x, x1, x2)
    mask = output_masks(bound, sem_in, H, W, x.device).expand(N, -1, -1, -1)
    X1, X2, XR = (torch.stack(v, dim=1) for v in (x1, x2, xr))
    mse_i, mse_o = masked_diff(x, X1, X2, mask)
    edit_i, edit_o = masked_diff(x, XR, XR, mask)
    inside = C * mask.sum(dim=[2, 3]).clamp(min=1e-8)
    outside = C * (1 - mask).sum(dim=[2, 3]).clamp(min=1e-8)
    out = {}
    for name, value, region in (('mse_i', mse_i, inside), ('mse_o', mse_o, outside),
                                ('edit_i', edit_i, inside), ('edit_o', edit_o, outside)):
        out[name] = value / (C * H * W)
        out[name + '_region'] = value / region
    return out


def evaluate_links(gen, bound, num_samples=256, batch=32, seed=0, alpha=1.0, truncation_psi=1.0, output='image',
                   progress=None):
    """Mean and std of every metric over `num_samples` fixed-seed samples (independent of `batch`).

    Returns:
        {link_name: {metric: mean, metric + '_std': std, ...}} (metric over METRICS and their '_region' twins),
        plus 'samples_per_second' at the top level.
    """
    import time
    z, z_new, noise, c = sample_inputs(gen, bound.num_links, num_samples, seed)
    dev = gen.device
    parts = []
    start = time.perf_counter()
    for i in range(0, num_samples, batch):
        sl = slice(i, min(i + batch, num_samples))
        parts.append({k: v.cpu() for k, v in link_metrics_batch(
            gen, bound, z[sl].to(dev), z_new[sl].to(dev), noise[sl].to(dev), c[sl].to(dev), alpha, truncation_psi, output).items()})
        if progress is not None:
            progress(sl.stop - sl.start)
    seconds = time.perf_counter() - start
    result = {}
    for i, name in enumerate(bound.spec.names):
        entry = {}
        for key in parts[0]:
            values = torch.cat([p[key][:, i] for p in parts]).double().numpy()
            entry[key] = float(np.mean(values))
            entry[key + '_std'] = float(np.std(values))
        result[name] = entry
    result['samples_per_second'] = num_samples / max(seconds, 1e-9)
    return result
