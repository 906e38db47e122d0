"""Image quality and diversity without downloaded weights: the sliced Wasserstein distance (SWD) on
Laplacian-pyramid patches, after Progressive GAN (Karras et al., ICLR 2018, sec. 5 and appendix D), and its
real-vs-real floor.

For two image sets A and B ([N, C, H, W] in [-1, 1]):
    1. Build a Laplacian pyramid of every image, from its resolution down to `min_resolution` (the last level is
       the low-pass residual).
    2. From each level take `patches_per_image` random 7x7 neighbourhoods per image: descriptors of C*7*7 values.
    3. Normalise the descriptors per colour channel with the mean and std of the *reference* set B.
    4. SWD of the two descriptor sets: project both on `directions` random unit vectors, sort each projection,
       and average |sorted A - sorted B|.
The distance is reported per level and as the mean over levels, x1e3 (Progressive GAN's units). Lower is better.

Where this departs from Progressive GAN's SWD (so numbers are not comparable with its tables):
    - patches per image and level: 64 here (`patches_per_image`), 128 there;
    - images per set: what the caller passes (the demo: settings['samples'], 1024; `linkgan eval --data`:
      --quality-images, 1024), 16384 there; with fewer images the distance has a higher floor (below);
    - normalisation (`normalisation='reference'`, the default): both sets with the reference (real) set's
      per-channel mean and std; Progressive GAN normalises each set with its own (`normalisation='own'`), which is
      blind to a global loss of contrast: any per-channel gain and offset cancels, so a generator whose images all
      fade to half contrast scores exactly like the data (tests/test_quality.py checks both);
    - levels: from the image's resolution down to 16 px: at the demo's 32 px only two levels (32: the band-pass
      detail, 16: the low-pass), where Progressive GAN's 1024 px images give seven.
Kept from Progressive GAN: 7 x 7 neighbourhoods, the [1, 4, 6, 4, 1] binomial pyramid, 512 random directions,
the x1e3 units.

What SWD cannot see: it compares *patch* distributions, pooled over all images and positions. A set of a few
real images repeated has real patches and scores well (16 real scenes repeated 64 times beat every trained demo
model); so does a set whose one quadrant never changes. Report a coverage measure beside it (analysis/coverage.py:
precision and recall), and the floor:

Floor: two disjoint sets of real images of the same size are not at distance 0. `swd_floor` measures it with the
same seed protocol as a model's distance, against the same reference set (the demo's cell scenes at 32 px, seed 0,
demo/evaluation.py's real_scenes against floor_scenes: 41.7 at 256 images, 19.0 at 1024; other seeds give a few
units more or less). A model's distance is only meaningful above its floor at that size.

Results depend on the seed (patch positions, directions) by a few percent; compare sets measured with the same
`seed`, the same number of images and the same resolution. Both sets must have the same number of images.

    swd = sliced_wasserstein(fake, real)          # {'levels': {32: ..., 16: ...}, 'mean': ...}
    floor = swd_floor(real_pool, count=1024)      # real_pool[:1024] the reference, real_pool[1024:2048] the other
"""

import torch
import torch.nn.functional as F

DEFAULTS = dict(patch_size=7, patches_per_image=64, directions=512, min_resolution=16, seed=0,
                normalisation='reference')
NORMALISATIONS = ('reference', 'own')

#----------------------------------------------------------------------------

def _binomial_kernel(channels, device, dtype):
    k = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], device=device, dtype=dtype) / 16
    return (k[:, None] * k[None, :]).expand(channels, 1, 5, 5).contiguous()


def _down(x):
    k = _binomial_kernel(x.shape[1], x.device, x.dtype)
    return F.conv2d(F.pad(x, [2, 2, 2, 2], mode='reflect'), k, groups=x.shape[1])[:, :, ::2, ::2]


def _up(x):
    k = _binomial_kernel(x.shape[1], x.device, x.dtype) * 4
    N, C, H, W = x.shape
    y = x.new_zeros([N, C, 2 * H, 2 * W])
    y[:, :, ::2, ::2] = x
    return F.conv2d(F.pad(y, [2, 2, 2, 2], mode='reflect'), k, groups=C)


def laplacian_pyramid(images, min_resolution=16):
    """Levels of the Laplacian pyramid, finest first: {resolution: [N, C, r, r]}; the coarsest is the low-pass."""
    levels = {}
    x = images.float()
    while x.shape[2] > min_resolution and x.shape[2] % 2 == 0:
        down = _down(x)
        levels[x.shape[2]] = x - _up(down)
        x = down
    levels[x.shape[2]] = x
    return levels


def patch_descriptors(level, count, size, generator):
    """`count` random size x size patches per image of level [N, C, r, r] -> [N * count, C, size, size]."""
    N, C, R, _ = level.shape
    size = min(size, R)
    ys = torch.randint(0, R - size + 1, [N, count], generator=generator)
    xs = torch.randint(0, R - size + 1, [N, count], generator=generator)
    offsets = torch.arange(size)
    rows = (ys[..., None] + offsets)[..., :, None].expand(N, count, size, size)      # [N, count, s, s]
    cols = (xs[..., None] + offsets)[..., None, :].expand(N, count, size, size)
    flat = (rows * R + cols).reshape(N, 1, -1).expand(N, C, -1).to(level.device)       # [N, C, count*s*s]
    patches = level.reshape(N, C, R * R).gather(2, flat).reshape(N, C, count, size, size)
    return patches.permute(0, 2, 1, 3, 4).reshape(N * count, C, size, size)


def _channel_stats(desc):
    return desc.mean(dim=[0, 2, 3], keepdim=True), desc.std(dim=[0, 2, 3], keepdim=True).clamp(min=1e-8)


def sliced_distance(a, b, directions, generator):
    """SWD of two descriptor sets [M, D] (same M): mean over random unit directions of mean |sort(a.u) - sort(b.u)|."""
    import numpy as np
    u = torch.randn([directions, a.shape[1]], generator=generator).to(a.device, a.dtype)
    u = u / u.norm(dim=1, keepdim=True)
    # numpy's sort is ~10x faster than torch's on CPU for these [directions, M] rows.
    pa = np.sort((u @ a.T).cpu().numpy(), axis=1)
    pb = np.sort((u @ b.T).cpu().numpy(), axis=1)
    return float(np.abs(pa - pb).mean())


@torch.no_grad()
def sliced_wasserstein(images_a, images_b, patch_size=DEFAULTS['patch_size'],
                       patches_per_image=DEFAULTS['patches_per_image'], directions=DEFAULTS['directions'],
                       min_resolution=DEFAULTS['min_resolution'], seed=DEFAULTS['seed'],
                       normalisation=DEFAULTS['normalisation']):
    """Progressive GAN's SWD between two image sets (B is the reference: by default its statistics normalise both).

    Args:
        images_a, images_b: [N, C, H, W] in [-1, 1], the same N, C, H, W; B is the reference (real images).
        patch_size:         side of the patch neighbourhoods (7 in Progressive GAN).
        patches_per_image:  patches drawn per image and level (Progressive GAN: 128).
        directions:         random projection directions (Progressive GAN: 4 x 128).
        min_resolution:     coarsest pyramid level (16 in Progressive GAN).
        seed:               patch positions and directions.
        normalisation:      'reference': both descriptor sets with B's per-channel mean and std (sees a loss of
                            contrast); 'own': each set with its own, as Progressive GAN (blind to it).
    Returns:
        {'levels': {resolution: swd x1e3}, 'mean': mean over levels x1e3}.
    """
    if normalisation not in NORMALISATIONS:
        raise ValueError(f'sliced_wasserstein: normalisation must be one of {NORMALISATIONS}, got {normalisation!r}')
    if images_a.ndim != 4 or images_a.shape != images_b.shape:
        raise ValueError(f'sliced_wasserstein: need two image sets of one shape [N, C, H, W], got '
                         f'{list(images_a.shape)} and {list(images_b.shape)}')
    g = torch.Generator().manual_seed(seed)
    pa, pb = laplacian_pyramid(images_a, min_resolution), laplacian_pyramid(images_b, min_resolution)
    levels = {}
    for res in pa:
        da = patch_descriptors(pa[res], patches_per_image, patch_size, g)
        db = patch_descriptors(pb[res], patches_per_image, patch_size, g)
        mean, std = _channel_stats(db)
        mean_a, std_a = (mean, std) if normalisation == 'reference' else _channel_stats(da)
        da, db = ((da - mean_a) / std_a).flatten(1), ((db - mean) / std).flatten(1)
        levels[int(res)] = 1e3 * sliced_distance(da, db, directions, g)
    return {'levels': levels, 'mean': sum(levels.values()) / len(levels)}

#----------------------------------------------------------------------------


def swd_floor(real, count=None, **kwargs):
    """The real-vs-real floor of sliced_wasserstein at `count` images: the distance between two disjoint sets of
    real images of that size, measured exactly as a model's (same seed and settings, the same reference set).

    Args:
        real:   [M, C, H, W] in [-1, 1], M >= 2 * count: real[:count] is the reference set (pass the same images
                a model is measured against, first), real[count:2 * count] the other set.
        count:  images per set (default M // 2).
        kwargs: sliced_wasserstein's settings (patch_size, patches_per_image, directions, min_resolution, seed,
                normalisation).
    Returns:
        sliced_wasserstein(real[count:2 * count], real[:count], **kwargs), plus 'images': count.
    """
    count = real.shape[0] // 2 if count is None else int(count)
    if count < 1 or real.shape[0] < 2 * count:
        raise ValueError(f'swd_floor: need at least 2 x count = {2 * count} real images (count >= 1), '
                         f'got {real.shape[0]}')
    out = sliced_wasserstein(real[count:2 * count], real[:count], **kwargs)
    out['images'] = count
    return out

#----------------------------------------------------------------------------
