"""Coverage of the data: improved precision and recall (Kynkaanniemi et al., NeurIPS 2019, "Improved precision and
recall metric for assessing generative models") on any feature space, and feature spaces that need no download.

A distance between patch distributions (quality.sliced_wasserstein) cannot see a generator that draws a few good
images over and over: 16 real images repeated 64 times score a better SWD than a trained generator. Precision and
recall separate the two things a generator can get wrong:
    precision  the share of generated samples that look real: that fall inside the real manifold;
    recall     the share of real samples the generator can produce: that fall inside the generated manifold.
A manifold is estimated from a feature set [N, D] as the union of closed balls, one around each feature, whose
radius is the distance to its k-th nearest other feature of the same set (k = 3 by default, as in the paper):
    1. radii_real[i] = distance from real[i] to its k-th nearest other real feature; the same for the fakes;
    2. precision = share of fakes f with |f - real[i]| <= radii_real[i] for some i;
    3. recall    = share of reals r with |r - fake[j]| <= radii_fake[j] for some j.
Both are in [0, 1], higher is better. A collapsed generator (repeated or frozen content) keeps its precision and
loses its recall: repeated samples have radius 0, so their balls cover nothing but themselves. Two independent sets
of real images do not score 1: the real-vs-real value is the floor (it grows with N; compare sets of the same size,
k and features only).

Distances are Euclidean, in float64, computed in blocks of `chunk` rows (a [chunk, N] matrix at a time): 4096
samples of ~100 dimensions take about a second on one CPU core. Exact duplicates are at distance 0.

Normalisation (`normalise_features`): features are centred on the real set's mean and every *group* of columns is
scaled to unit total variance on the real set, so each group (a colour, a shape, a detail energy, ...) weighs the
same in a distance whatever its units.

Parts (`feature_coverage(..., parts=...)`): a feature space whose factors fall into independent parts (the demo's
cells) is also scored part by part, and the headline is the worst part. With k-NN manifolds on few samples, the
joint recall over ~30 independent dimensions is tiny for any imperfect generator (the demo's shipped baseline: 0.02
at 1024 samples, below a real set with one cell frozen), while per part (~7 dimensions) it separates a generator
that is roughly right everywhere (~0.5) from one that never varies one part (0). Both are reported.

Feature spaces: the paper uses VGG-16 features, which need a download. Here:
    - demo/factors.py: a small regressor trained on the demo's procedural scenes reads each image's factors;
    - `RandomConvFeatures`, the fallback for any image data: an *untrained* convolutional network with fixed-seed
      random weights (the same in every process), plus `detail_energy`. It keeps colour, layout and texture
      statistics but knows no semantics. Compare numbers only within one feature space.

    pr = precision_recall(real_features, fake_features, k=3)   # {'precision', 'recall', 'k', 'real', 'fake'}
    cov = coverage(fake_images, real_images)                   # RandomConvFeatures; + 'joint', 'measure', 'features'
    cov = coverage(fake_images, real_images, factor_features(settings))    # the demo's space: + 'parts'
"""

import math

import torch
import torch.nn.functional as F

from linkgan_plugin.analysis.quality import laplacian_pyramid

DEFAULTS = dict(k=3, chunk=1024, feature_seed=0, feature_resolution=64, feature_width=32)

#----------------------------------------------------------------------------
# k-NN manifolds.

def _check_features(name, x):
    if not isinstance(x, torch.Tensor) or x.ndim != 2:
        raise ValueError(f'{name}: need a feature tensor [N, D], got '
                         f'{list(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}')
    if not torch.isfinite(x).all():
        raise ValueError(f'{name}: features contain NaN or inf')
    return x.detach().to('cpu', torch.float64)


def _squared_distances(a, b, na, nb):
    """|a_i - b_j|^2 [Ma, Mb] in float64 via the norm expansion; round-off of exact duplicates snaps to 0."""
    d2 = na[:, None] + nb[None, :] - 2 * (a @ b.T)
    return torch.where(d2 <= 1e-12 * (na[:, None] + nb[None, :]), torch.zeros_like(d2), d2)


def knn_radii(features, k=DEFAULTS['k'], chunk=DEFAULTS['chunk']):
    """Squared distance from every feature to its k-th nearest *other* feature of the same set.

    Args:
        features: [N, D] (N > k).
        k:        neighbourhood size.
        chunk:    rows per distance block.
    Returns:
        float64 [N] squared radii.
    """
    x = _check_features('features', features)
    if x.shape[0] <= k:
        raise ValueError(f'knn_radii: need more than k={k} features, got {x.shape[0]}')
    n2 = x.square().sum(dim=1)
    out = []
    for i in range(0, x.shape[0], chunk):
        d2 = _squared_distances(x[i:i + chunk], x, n2[i:i + chunk], n2)
        out.append(d2.kthvalue(k + 1, dim=1).values)        # Index 1 is the point itself (distance 0).
    return torch.cat(out)


def inside_manifold(points, centres, radii2, chunk=DEFAULTS['chunk']):
    """Which points lie in the union of the closed balls |p - centres[i]|^2 <= radii2[i].

    Args:
        points: [M, D]; centres: [N, D]; radii2: [N] squared radii (knn_radii).
    Returns:
        bool [M].
    """
    p, c = _check_features('points', points), _check_features('centres', centres)
    if p.shape[1] != c.shape[1]:
        raise ValueError(f'inside_manifold: points have {p.shape[1]} dimensions, centres {c.shape[1]}')
    np2, nc2 = p.square().sum(dim=1), c.square().sum(dim=1)
    r2 = radii2.to(torch.float64)
    out = []
    for i in range(0, p.shape[0], chunk):
        d2 = _squared_distances(p[i:i + chunk], c, np2[i:i + chunk], nc2)
        out.append((d2 - r2[None]).amin(dim=1) <= 0)
    return torch.cat(out) if out else torch.zeros([0], dtype=torch.bool)


def precision_recall(real_features, fake_features, k=DEFAULTS['k'], chunk=DEFAULTS['chunk']):
    """Improved precision and recall of a generated feature set against a real one (module docstring).

    Args:
        real_features: [N, D] features of real images.
        fake_features: [M, D] features of generated images, the same feature space (N = M recommended: the radii
                       depend on the density of samples).
        k:             neighbourhood size (the paper: 3).
        chunk:         rows per distance block (memory: chunk x max(N, M) float64 values).
    Returns:
        {'precision': float in [0, 1], 'recall': float in [0, 1], 'k': k, 'real': N, 'fake': M}.
    """
    real, fake = _check_features('real_features', real_features), _check_features('fake_features', fake_features)
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f'precision_recall: real features have {real.shape[1]} dimensions, fake {fake.shape[1]}')
    precision = inside_manifold(fake, real, knn_radii(real, k, chunk), chunk).double().mean()
    recall = inside_manifold(real, fake, knn_radii(fake, k, chunk), chunk).double().mean()
    return {'precision': float(precision), 'recall': float(recall), 'k': k, 'real': real.shape[0],
            'fake': fake.shape[0]}

#----------------------------------------------------------------------------
# Parts and normalisation.

def columns_of(groups, names):
    """Column indices (int64) of the named groups, from groups [(name, start, stop)]."""
    spans = {name: (start, stop) for name, start, stop in groups}
    missing = [n for n in names if n not in spans]
    if missing:
        raise ValueError(f'columns_of: unknown groups {missing}; known: {sorted(spans)}')
    return torch.cat([torch.arange(*spans[n]) for n in names])


def normalise_features(reference, others, groups=None):
    """Centres every column on the reference set's mean and scales every group to unit total variance on the
    reference set (its columns keep their relative scales), so each group weighs the same in a distance.

    Args:
        reference: [N, D] (the real features); others: a list of [M, D] in the same space.
        groups:    [(name, start, stop)] covering the columns (default: one group of all D).
    Returns:
        (reference [N, D], [others]) float64.
    """
    ref = _check_features('reference', reference)
    outs = [_check_features('others', o) for o in others]
    groups = groups or [('all', 0, ref.shape[1])]
    mean = ref.mean(dim=0)
    scale = torch.ones_like(mean)
    for _, start, stop in groups:
        scale[start:stop] = ref[:, start:stop].var(dim=0).sum().sqrt().clamp(min=1e-8)
    return (ref - mean) / scale, [(o - mean) / scale for o in outs]


def part_precision_recall(real_features, fake_features, parts, groups, k=DEFAULTS['k'], chunk=DEFAULTS['chunk']):
    """precision_recall on each part's columns.

    Args:
        real_features, fake_features: [N, D], [M, D] (normalised: normalise_features).
        parts:  {part name: [group names]}; groups: [(name, start, stop)].
    Returns:
        {part name: {'precision', 'recall'}}.
    """
    out = {}
    for name, group_names in parts.items():
        cols = columns_of(groups, group_names)
        pr = precision_recall(real_features[:, cols], fake_features[:, cols], k, chunk)
        out[name] = {'precision': pr['precision'], 'recall': pr['recall']}
    return out

#----------------------------------------------------------------------------
# Feature spaces that need no download.

def detail_energy(images, grid=2, eps=1e-4, masks=None):
    """How much fine detail each region holds: log(eps + mean square of the finest Laplacian band) per block, or
    per mask.

    Args:
        images: [N, C, H, W] in [-1, 1] (H, W even and multiples of grid).
        grid:   blocks per side (ignored with `masks`).
        eps:    floor of the energy (1e-4: about the noise of 8-bit quantisation, so a flat region reads
                log(1e-4) ~ -9.2, a sharp edge about -3).
        masks:  optional [G, H, W] pixel weights in [0, 1] (each with some weight): one region per mask, its energy
                the weighted mean over its pixels (e.g. regions.box_coverage of a box), instead of the grid's blocks.
    Returns:
        float32 [N, grid * grid], row-major blocks ([N, G] with masks).
    """
    x = images.float()
    N, C, H, W = x.shape
    if masks is None and (H % (2 * grid) or W % (2 * grid)):
        raise ValueError(f'detail_energy: image size {H}x{W} must be a multiple of {2 * grid}')
    if masks is not None and (H % 2 or W % 2 or tuple(masks.shape[1:]) != (H, W)):
        raise ValueError(f'detail_energy: image size {H}x{W} must be even and masks [G, {H}, {W}], got '
                         f'{list(masks.shape)}')
    band = laplacian_pyramid(x, min_resolution=H // 2)[H]                     # [N, C, H, W], the finest band.
    energy = band.square().mean(dim=1)                                        # [N, H, W]
    if masks is not None:
        m = masks.float()
        return torch.log((energy[:, None] * m).sum(dim=(2, 3)) / m.sum(dim=(1, 2)) + eps)
    e = energy.reshape(N, grid, H // grid, grid, W // grid).mean(dim=(2, 4))
    return torch.log(e + eps).flatten(1)


class RandomConvFeatures:
    """The fallback feature space for any images: a fixed-seed, *untrained* convolutional network, plus the
    detail energy of the four quadrants. images [N, C, H, W] in [-1, 1] -> float32 [N, 48 * width + 4].

    1. Resize to `resolution` x `resolution` (area averaging when shrinking, bilinear when growing); 1 channel is
       repeated to 3, a 4th (alpha) is dropped.
    2. Four 3x3 convolutions with stride 2 (3 -> width -> 2 width -> 4 width -> 8 width channels), each followed by
       a leaky ReLU (slope 0.2); weights N(0, 2 / fan_in) drawn once from torch.Generator(seed) (the same weights
       in every process and on every machine), no biases.
    3. The last layer's per-channel spatial mean and std and its 2 x 2 average pool: [N, 48 * width] (group
       'random-conv'); then detail_energy(images, 2) at the input resolution: [N, 4] (group 'detail').
    A random network keeps colour, layout and texture statistics but knows no semantics; the detail group makes a
    blurred set visible. No parts: coverage scores the whole vector.
    """

    def __init__(self, seed=DEFAULTS['feature_seed'], resolution=DEFAULTS['feature_resolution'],
                 width=DEFAULTS['feature_width']):
        g = torch.Generator().manual_seed(seed)
        chans = [3, width, 2 * width, 4 * width, 8 * width]
        self.weights = [torch.randn([chans[i + 1], chans[i], 3, 3], generator=g) * math.sqrt(2 / (chans[i] * 9))
                        for i in range(4)]
        self.resolution, self.seed, self.width = resolution, seed, width
        self.groups = [('random-conv', 0, 48 * width), ('detail', 48 * width, 48 * width + 4)]
        self.parts = None
        self.name = f'random-conv(seed={seed}, {resolution}px)+detail'

    def _prepare(self, images):
        x = images.float().cpu()
        x = x.repeat(1, 3, 1, 1) if x.shape[1] == 1 else x[:, :3]
        R = self.resolution
        if x.shape[2] > R or x.shape[3] > R:
            x = F.adaptive_avg_pool2d(x, [min(R, x.shape[2]), min(R, x.shape[3])])
        if x.shape[2] != R or x.shape[3] != R:
            x = F.interpolate(x, size=[R, R], mode='bilinear', align_corners=False)
        return x

    @torch.no_grad()
    def __call__(self, images, batch=256):
        if images.ndim != 4 or images.shape[1] not in (1, 3, 4):
            raise ValueError(f'RandomConvFeatures: need images [N, 1|3|4, H, W], got {list(images.shape)}')
        out = []
        for i in range(0, images.shape[0], batch):
            x = self._prepare(images[i:i + batch])
            for w in self.weights:
                x = F.leaky_relu(F.conv2d(x, w, stride=2, padding=1), 0.2)
            stats = [x.mean(dim=(2, 3)), x.std(dim=(2, 3)), F.adaptive_avg_pool2d(x, 2).flatten(1)]
            out.append(torch.cat(stats + [detail_energy(images[i:i + batch].cpu(), 2)], dim=1))
        return torch.cat(out) if out else torch.zeros([0, self.groups[-1][2]])

#----------------------------------------------------------------------------
# Features in, coverage out.

def feature_coverage(real_features, fake_features, groups=None, parts=None, k=DEFAULTS['k'],
                     chunk=DEFAULTS['chunk']):
    """Precision and recall of generated features against real ones:

    1. normalise_features with the real set as the reference and `groups`;
    2. precision_recall of the whole vectors ('joint');
    3. with `parts` (a space whose factors fall into independent parts): precision_recall of each part, and the
       headline is the worst part (lowest precision, lowest recall): a collapse of one part is a collapse however
       well the others are covered. Without parts the headline is the joint value.

    Args:
        real_features, fake_features: [N, D], [M, D] (N = M recommended: radii depend on density).
        groups: [(name, start, stop)] over the columns (default: one group).
        parts:  {part name: [group names]} (default: none).
        k, chunk: as precision_recall.
    Returns:
        {'precision', 'recall' (the headline), 'measure': 'worst part' | 'joint', 'joint': {'precision', 'recall'},
         'parts': {name: {'precision', 'recall'}} (with parts only), 'k', 'real': N, 'fake': M}.
    """
    real, (fake,) = normalise_features(real_features, [fake_features], groups)
    joint = precision_recall(real, fake, k, chunk)
    out = {'precision': joint['precision'], 'recall': joint['recall'], 'measure': 'joint',
           'joint': {'precision': joint['precision'], 'recall': joint['recall']}}
    if parts:
        by_part = part_precision_recall(real, fake, parts, groups, k, chunk)
        out.update(precision=min(p['precision'] for p in by_part.values()),
                   recall=min(p['recall'] for p in by_part.values()), measure='worst part', parts=by_part)
    out.update(k=k, real=real.shape[0], fake=fake.shape[0])
    return out


def coverage(fake_images, real_images, features=None, k=DEFAULTS['k'], chunk=DEFAULTS['chunk']):
    """feature_coverage of two image sets in a feature space.

    Args:
        fake_images, real_images: [N, C, H, W] in [-1, 1] (the same N recommended).
        features: a callable images -> [N, D] with optional attributes `groups`, `parts` and `name`
                  (default: RandomConvFeatures()); demo/factors.py's FactorFeatures is one.
        k, chunk: as precision_recall.
    Returns:
        feature_coverage(...) plus 'features': the space's name.
    """
    features = RandomConvFeatures() if features is None else features
    out = feature_coverage(features(real_images), features(fake_images), getattr(features, 'groups', None),
                           getattr(features, 'parts', None), k, chunk)
    out['features'] = getattr(features, 'name', type(features).__name__)
    return out

#----------------------------------------------------------------------------
