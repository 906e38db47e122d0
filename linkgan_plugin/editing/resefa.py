"""ReSeFa (Zhu, Shen, Xu, Zhao, Chen: "Region-Based Semantic Factorization in GANs", ICML 2022): W directions that
change one region of the image and as little as possible elsewhere, found post hoc from the generator's Jacobian.
Written from the paper's maths (no code of its repository).

For a sample's image x(w) [C, H, W] (the same w on every ws row, as LELSD's W edits move it) let J = dx/dw
[C*H*W, w_dim], J_p [C, w_dim] its rows at pixel p, and m [H, W] in [0, 1] the sample's region mask:

    F   = sum_p m_p       J_p^T J_p / n_f,   n_f = sum_p m_p          foreground metric   [w_dim, w_dim]
    B   = sum_p (1 - m_p) J_p^T J_p / n_b,   n_b = sum_p (1 - m_p)    background metric   [w_dim, w_dim]
    M_f, M_b = F, B averaged over the samples (a sample whose region is empty is left out of M_f's average, one whose
               region covers its whole image out of M_b's)
    M_b' = M_b + tau * tr(M_b) / w_dim * I                            (tau relative to M_b's mean eigenvalue)
    directions: the generalised eigenvectors v of M_f v = lambda M_b' v (of M_b'^-1 M_f), largest lambda first.

lambda = v^T M_f v / v^T M_b' v is how much more a small step along v changes a region pixel than a background pixel
(squared change per pixel): the first direction is the most foreground-only one. The regulariser is relative to
the mean eigenvalue of M_b (tr(M_b) / w_dim), so one tau suits every W width and image scale; it keeps directions
that barely change the image at all (v^T M_b v ~ 0 and v^T M_f v ~ 0) from winning, and makes M_b' invertible when the
background ignores some direction (the known-answer case). When the background never changes (tr(M_b) = 0) tau is
taken relative to M_f's mean eigenvalue instead. The problem is solved in float64 by Cholesky: M_b' = L L^T,
eigh(L^-1 M_f L^-T) = Y diag(lambda) Y^T, v = L^-T y.

Jacobian (`image_jacobian`): exact, by double backward (no forward-mode AD, which upstream's custom CUDA ops lack):
g(q) = J^T q is taken with create_graph=True for a dummy image-shaped q, then d(g . e_k)/dq = J e_k is column k. One
forward, one backward and w_dim double-backward passes per batch of samples (all samples at once: they do not
interact). Any network whose backward is itself differentiable works (upstream's path-length regulariser needs
the same of its ops). The image is area-resized to at most `resolution` pixels a side first (resizing is linear, so
this is the resized image's exact Jacobian); J [batch, w_dim, C, h, w] is float32 in memory, batches are sized to
keep it under JACOBIAN_FLOATS floats (512 MB). Cost: about w_dim + 2 backward passes per batch; the demo's toy
network (64-d W, 32 px) takes ~35 s for 64 samples on one shared CPU thread (forward-mode jvp columns measured
slower there); a 512-d 1024 px StyleGAN2 at resolution 256 runs one sample per batch (400 MB of J), ~514 backward
passes of the full network per sample.

Directions are saved in the W-direction format (`lelsd.LelsdResult`, `directions_file.save`): space 'w', all
rows, norm D (the typical distance between two codes, `lelsd_scale.w_scale`), so `linkgan edit --direction` and
`linkgan compare --directions` draw them as LELSD's (edit: ws + s * v on every row, `lelsd.edit_ws`).
settings['method'] is 'resefa'; settings['eigenvalues'] holds lambda and settings['inside_share'] the share of a small
step's squared image change that falls inside the region (pooled over the samples), per direction.

    result = find_directions(gen, masking.region_spec({'box': [0, 0, 0.5, 0.5]}), count=5, samples=64)
    directions_file.save("dirs.npz", result)
"""

import time

import numpy as np
import torch
import torch.nn.functional as F

from linkgan_plugin.editing.lelsd import DEFAULTS as LELSD_DEFAULTS, LelsdResult, network_hash
from linkgan_plugin.editing.masking import RegionMasker
from linkgan_plugin.editing.lelsd_scale import sample_latents, w_scale

RESEFA_STREAM = 0x5efa          # Seeded streams (render.seeded_generator): never LELSD's nor compare's.
JACOBIAN_FLOATS = 2 ** 27       # Most float32 entries of J held at once (512 MB).

DEFAULTS = dict(count=5, samples=64, seed=0, truncation=1.0, tau=0.01, resolution=256)

#----------------------------------------------------------------------------
# The Jacobian.

def resized(images, resolution=None):
    """images [N, C, H, W] area-resized so that neither side exceeds `resolution` (None: unchanged)."""
    H, W = images.shape[2:]
    if resolution is None or max(H, W) <= resolution:
        return images
    scale = resolution / max(H, W)
    return F.interpolate(images, size=(max(1, round(H * scale)), max(1, round(W * scale))), mode='area')


def image_jacobian(gen, ws, c=None, resolution=None):
    """The exact Jacobian of each sample's image with respect to w (one offset added to every ws row).

    Args:
        gen:        GeneratorAdapter; ws: [N, num_ws, w_dim]; c: labels [N, c_dim] or None.
        resolution: the image is area-resized to at most this many pixels a side first (None: full size).
    Returns:
        (x [N, C, h, w] the (resized) images, J [N, w_dim, C, h, w] float32 with J[n, k] = dx_n / dw_k).
    """
    N, _, w_dim = ws.shape
    with torch.enable_grad():
        offset = torch.zeros([N, w_dim], device=ws.device, dtype=ws.dtype, requires_grad=True)
        x = resized(gen.synthesize(ws.detach() + offset[:, None], c)['image'].float(), resolution)
        probe = torch.zeros_like(x, requires_grad=True)
        (jt_probe,) = torch.autograd.grad(x, offset, grad_outputs=probe, create_graph=True, allow_unused=True)
        columns = torch.zeros([N, w_dim, *x.shape[1:]], device=x.device)
        if jt_probe is None or not jt_probe.requires_grad:      # The image does not depend on w.
            return x.detach(), columns
        for k in range(w_dim):
            tangent = torch.zeros_like(jt_probe)
            tangent[:, k] = 1
            (col,) = torch.autograd.grad(jt_probe, probe, grad_outputs=tangent, retain_graph=k < w_dim - 1,
                                         allow_unused=True)
            if col is not None:
                columns[:, k] = col
    return x.detach(), columns


def region_metrics(J, mask):
    """Foreground and background metrics of each sample, unnormalised, and their pixel counts.

    Args:
        J:    [N, w_dim, C, h, w]; mask: [1 or N, h, w] in [0, 1].
    Returns:
        (F [N, w_dim, w_dim] = sum_p m_p J_p^T J_p, B [N, w_dim, w_dim] = sum_p (1 - m_p) J_p^T J_p,
         n_f [N] = sum_p m_p, n_b [N] = sum_p (1 - m_p)), float64.
    """
    N = J.shape[0]
    m = mask.to(J).expand(N, -1, -1)[:, None, None]                     # [N, 1, 1, h, w]
    n_f = m.flatten(1).sum(dim=1).double()
    return weighted_gram(J, m), weighted_gram(J, 1 - m), n_f, m[0].numel() - n_f


def weighted_gram(J, weights):
    """sum_p weights_p J_p^T J_p per sample: J [N, w_dim, C, h, w], weights [N, 1, 1, h, w] >= 0 -> [N, w_dim, w_dim]
    float64 (the product in float32: no float64 copy of J)."""
    j = (J * weights.sqrt()).flatten(2)
    return (j @ j.transpose(1, 2)).double()

#----------------------------------------------------------------------------
# The generalised eigenproblem.

def regularised(M_b, M_f, tau):
    """M_b + tau * tr(M_b) / w_dim * I (tr(M_f) instead when tr(M_b) is 0); ValueError when both are 0."""
    w_dim = M_b.shape[0]
    level = float(torch.trace(M_b)) or float(torch.trace(M_f))
    if not level > 0:
        raise ValueError('the image does not change with w (the Jacobian is zero on every sample)')
    return M_b + tau * level / w_dim * torch.eye(w_dim, dtype=M_b.dtype, device=M_b.device)


def generalized_eigenvectors(M_f, M_b_reg):
    """Solutions of M_f v = lambda M_b_reg v, largest lambda first (M_f symmetric PSD, M_b_reg symmetric PD).

    Returns:
        (lambda [w_dim], V [w_dim, w_dim] with unit rows v_k; each row's largest-magnitude entry is positive), float64.
    """
    M_f, M_b_reg = M_f.double(), M_b_reg.double()
    L = torch.linalg.cholesky(M_b_reg)
    A = torch.linalg.solve_triangular(L, M_f, upper=False)             # L^-1 M_f
    C = torch.linalg.solve_triangular(L, A.T, upper=False)             # L^-1 M_f L^-T (M_f symmetric)
    lam, Y = torch.linalg.eigh(0.5 * (C + C.T))
    V = torch.linalg.solve_triangular(L.T, Y, upper=True).T            # Rows v = L^-T y.
    order = torch.argsort(lam, descending=True)
    lam, V = lam[order], V[order]
    V = V / V.norm(dim=1, keepdim=True)
    signs = torch.sign(V.gather(1, V.abs().argmax(dim=1, keepdim=True)))
    return lam, V * signs

#----------------------------------------------------------------------------
# The search.

def jacobian_batch(gen, resolution):
    """Samples per batch so that J [batch, w_dim, C, h, w] stays under JACOBIAN_FLOATS entries."""
    side = min(resolution or gen.img_resolution, gen.img_resolution)
    per_sample = gen.w_dim * 4 * side * side            # At most 4 image channels (RGB, RGBA).
    return max(1, JACOBIAN_FLOATS // per_sample)


def averaged_metrics(gen, region, ws, c, resolution=DEFAULTS['resolution'], batch=None, progress=None):
    """M_f and M_b (per-sample normalised, averaged over samples) and the pooled unnormalised sums.

    Args:
        region: a one-link LinkSpec (its region: box, mask, preset or segmenter; semantic masks from the originals).
        ws:     [N, num_ws, w_dim]; c: [N, c_dim]; batch: samples per Jacobian (default jacobian_batch).
        progress: callable(n) after each batch of n samples.
    Returns:
        dict M_f, M_b, F_sum, B_sum ([w_dim, w_dim] float64), samples_f, samples_b (samples in each average).
    Raises:
        ValueError when the region is empty on every sample, or covers every sample's whole image.
    """
    masker = RegionMasker(region, 'source')
    batch = batch or jacobian_batch(gen, resolution)
    w_dim = gen.w_dim
    acc = {k: torch.zeros([w_dim, w_dim], dtype=torch.float64, device=ws.device)
           for k in ('M_f', 'M_b', 'F_sum', 'B_sum')}
    count_f = count_b = 0
    for i in range(0, ws.shape[0], batch):
        x, J = image_jacobian(gen, ws[i:i + batch], None if c is None else c[i:i + batch], resolution)
        mask = masker.at(x.shape[2], x.shape[3], x.device, masker.segment(x))
        F_n, B_n, n_f, n_b = region_metrics(J, mask)
        has_f, has_b = n_f > 1e-9, n_b > 1e-9
        acc['M_f'] += (F_n[has_f] / n_f[has_f][:, None, None]).sum(dim=0)
        acc['M_b'] += (B_n[has_b] / n_b[has_b][:, None, None]).sum(dim=0)
        acc['F_sum'] += F_n.sum(dim=0)
        acc['B_sum'] += B_n.sum(dim=0)
        count_f, count_b = count_f + int(has_f.sum()), count_b + int(has_b.sum())
        if progress is not None:
            progress(x.shape[0])
    if not count_f:
        raise ValueError(f'the region {region.links[0].region.to_dict()} is empty on every sample')
    if not count_b:
        raise ValueError(f'the region {region.links[0].region.to_dict()} covers the whole image on every sample: '
                         'there is no background to keep unchanged')
    acc['M_f'] /= count_f
    acc['M_b'] /= count_b
    return dict(acc, samples_f=count_f, samples_b=count_b)


def find_directions(gen, region, count=DEFAULTS['count'], samples=DEFAULTS['samples'], seed=DEFAULTS['seed'],
                    truncation=DEFAULTS['truncation'], tau=DEFAULTS['tau'], resolution=DEFAULTS['resolution'],
                    batch=None, scale=None, progress=None):
    """The `count` leading ReSeFa directions of one region (the module docstring's maths).

    Args:
        gen:        GeneratorAdapter (on the device to run on).
        region:     a one-link LinkSpec (lelsd.region_spec, or spec.select([name])).
        samples:    latents the metrics are averaged over (seeded stream RESEFA_STREAM of `seed`, at `truncation`).
        tau:        the regulariser, relative to the mean eigenvalue of M_b (> 0).
        resolution: the Jacobian's image side at most, pixels (the image is area-resized to it).
        batch:      samples per Jacobian (default: jacobian_batch); scale: lelsd_scale.w_scale's dict (default:
                    measured at `truncation` with `seed`); progress: callable(n) per n samples done.
    Returns:
        lelsd.LelsdResult: directions [count, w_dim] float32 of norm D, space 'w', all rows; settings hold method
        'resefa', the options, 'eigenvalues' and 'inside_share' (per direction, in [0, 1]).
    Raises:
        ValueError for a count outside 1..w_dim, samples < 1, tau <= 0, or a region with no foreground or background.
    """
    if not 1 <= count <= gen.w_dim:
        raise ValueError(f'count must lie in 1..{gen.w_dim} (w_dim), got {count}')
    if samples < 1 or not tau > 0:
        raise ValueError(f'need samples >= 1 and tau > 0, got samples={samples}, tau={tau}')
    start = time.perf_counter()
    scale = dict(scale) if scale is not None else w_scale(gen, truncation, LELSD_DEFAULTS['scale_samples'], seed)
    ws, c = sample_latents(gen, samples, seed, (RESEFA_STREAM, 1), truncation)
    m = averaged_metrics(gen, region, ws, c, resolution, batch, progress)
    lam, V = generalized_eigenvectors(m['M_f'], regularised(m['M_b'], m['M_f'], tau))
    V = V[:count]
    moved_f = torch.einsum('kd,de,ke->k', V, m['F_sum'], V)
    moved = moved_f + torch.einsum('kd,de,ke->k', V, m['B_sum'], V)
    inside = (moved_f / moved.clamp(min=1e-300)).tolist()
    settings = dict(method='resefa', samples=samples, seed=seed, truncation=truncation, tau=tau,
                    resolution=resolution, eigenvalues=lam[:count].tolist(), inside_share=inside,
                    samples_foreground=m['samples_f'], samples_background=m['samples_b'])
    return LelsdResult(
        directions=(V * scale['distance']).float().cpu().numpy().astype(np.float32), space='w', rows=None, axes=None,
        region=region.links[0].region.to_dict(), link=region.links[0].name, num_ws=gen.num_ws, w_dim=gen.w_dim,
        network_hash=network_hash(gen.G), settings=settings, scale=scale, seconds=time.perf_counter() - start)

#----------------------------------------------------------------------------
