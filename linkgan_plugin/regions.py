"""Regions -> masks: boxes, presets and mask images rasterised at any resolution, and semantic masks.

All masks are float tensors with values in [0, 1]:
- boxes: each pixel's value is the fraction of its area the union of boxes covers (exact at every resolution,
  binary when box edges fall on the pixel grid);
- mask images: alpha (RGBA, LA) or luminance / 255, resized with antialiasing;
- semantic: 1 where the segmenter's label is one of the chosen classes, computed under no_grad.

The region kinds themselves (parse, rasterise, to_dict) are declared in spec.REGION_KINDS; this module holds the
torch primitives they rasterise with, segmenter loading, and the mask assembler.
"""

import functools
import importlib
import importlib.util
import os
import sys

import torch
import torch.nn.functional as F

from linkgan_plugin.checks import file_problem, read_mask, short_text

#----------------------------------------------------------------------------
# Fixed regions.

def box_coverage(boxes, height, width):
    """Fraction of each pixel covered by the union of normalised boxes.

    Args:
        boxes: list of [x0, y0, x1, y1] in [0, 1] (x = column, y = row).
    Returns:
        float32 tensor [height, width] in [0, 1].
    """
    out = torch.zeros(height, width, dtype=torch.float64)
    for x0, y0, x1, y1 in boxes:
        cols = _interval_overlap(x0, x1, width)     # [width]
        rows = _interval_overlap(y0, y1, height)    # [height]
        out = torch.maximum(out, rows[:, None] * cols[None, :])
    return out.float()


def _interval_overlap(a, b, n):
    """Overlap of [a, b) (normalised) with each of n unit cells, as a fraction of the cell."""
    edges = torch.arange(n + 1, dtype=torch.float64) / n
    lo = torch.clamp(edges[:-1], min=a)
    hi = torch.clamp(edges[1:], max=b)
    return ((hi - lo).clamp(min=0) * n).clamp(max=1)


def mask_image(path, height, width):
    """A mask image (values read by spec.read_mask) resized to [height, width] (bilinear with antialiasing),
    float32 in [0, 1]."""
    m = torch.tensor(read_mask(path))[None, None]
    if m.shape[2:] != (height, width):
        m = F.interpolate(m, size=(height, width), mode='bilinear', align_corners=False, antialias=True)
    return m[0, 0].clamp(0, 1)


def fixed_region_mask(region, height, width):
    """Mask [height, width] of a region that does not depend on the image: the region kind rasterises itself
    (spec.REGION_KINDS); ValueError for a semantic region."""
    return region.rasterise(height, width)

#----------------------------------------------------------------------------
# Segmenters.

class SegmenterError(ValueError):
    pass


def resolve_segmenter_ref(ref, base_dir='.'):
    """Checks a segmenter reference can be loaded and returns it in normalised form (file paths made absolute).

    Forms: 'pkg.module:callable', 'path/file.py:callable', 'path/model.pt' (TorchScript).
    """
    ref = ref.strip()
    if ':' not in ref or ref.endswith(('.pt', '.pth', '.ts')):
        path = ref if os.path.isabs(ref) else os.path.normpath(os.path.join(base_dir, ref))
        problem = file_problem(path, 'TorchScript segmenter file')
        if problem:
            raise SegmenterError(f'{problem} (or use "module:callable" / "file.py:callable")')
        ref = path
    else:
        target, attr = ref.rsplit(':', 1)
        if target.endswith('.py'):
            path = target if os.path.isabs(target) else os.path.normpath(os.path.join(base_dir, target))
            problem = file_problem(path, 'segmenter file')
            if problem:
                raise SegmenterError(problem)
            ref = f'{path}:{attr}'
    load_segmenter(ref)
    return ref


@functools.lru_cache(maxsize=16)
def load_segmenter(ref):
    """Loads a (normalised) segmenter reference and returns a callable images -> scores or labels."""
    if ':' not in ref or ref.endswith(('.pt', '.pth', '.ts')):
        try:
            model = torch.jit.load(ref, map_location='cpu')
        except Exception as e:
            raise SegmenterError(f'cannot load TorchScript segmenter {ref}: {type(e).__name__}: {short_text(str(e))}') from None
        return model.eval()
    target, attr = ref.rsplit(':', 1)
    try:
        if target.endswith('.py'):
            name = '_linkgan_segmenter_' + str(abs(hash(target)))
            spec = importlib.util.spec_from_file_location(name, target)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(target)
    except Exception as e:
        raise SegmenterError(f'cannot import segmenter module {target!r}: {type(e).__name__}: {short_text(str(e))}') from None
    fn = getattr(module, attr, None)
    if fn is None:
        raise SegmenterError(f'segmenter module {target!r} has no attribute {attr!r}')
    if isinstance(fn, type):  # A module class: instantiate with no arguments.
        try:
            fn = fn()
        except Exception as e:
            raise SegmenterError(f'cannot instantiate segmenter {ref}: {type(e).__name__}: {short_text(str(e))}') from None
    if not callable(fn):
        raise SegmenterError(f'segmenter {ref} is not callable')
    if isinstance(fn, torch.nn.Module):
        fn.eval()
    return fn


@torch.no_grad()
def semantic_mask(segmenter, images, classes, height, width):
    """Union-of-classes mask of `images` by `segmenter`.

    Args:
        segmenter: callable, images [N, 3, H, W] in [-1, 1] -> class scores [N, K, h, w] or labels [N, h, w].
        images:    [N, C, H, W].
        classes:   class ids to union.
    Returns:
        float32 [N, height, width] in {0, 1}.
    """
    if isinstance(segmenter, torch.nn.Module):
        param = next(segmenter.parameters(), None)
        if param is not None and param.device != images.device:
            segmenter.to(images.device)
    out = segmenter(images.detach().float())
    if not isinstance(out, torch.Tensor):
        raise SegmenterError(f'segmenter returned {type(out).__name__}, expected a tensor of scores or labels')
    if out.ndim == 4 and out.shape[1] > 1:
        labels = out.argmax(dim=1)
    elif out.ndim == 4:
        labels = out[:, 0].round().long()
    elif out.ndim == 3:
        labels = out.round().long()
    else:
        raise SegmenterError(f'segmenter output must be [N, K, h, w] or [N, h, w], got {list(out.shape)}')
    if labels.shape[0] != images.shape[0]:
        raise SegmenterError(f'segmenter returned {labels.shape[0]} masks for {images.shape[0]} images')
    ids = torch.as_tensor(classes, device=labels.device)
    m = torch.isin(labels, ids).float()[:, None]
    if m.shape[2:] != (height, width):
        m = F.interpolate(m, size=(height, width), mode='nearest')
    return m[:, 0]

#----------------------------------------------------------------------------

class RegionMasks:
    """The one mask assembler: inside masks of every link of a spec, for a batch, at any output resolution.

    Fixed regions (boxes, presets, mask images) are rasterised exactly at each resolution and cached per
    (height, width, device). Semantic regions are segmented once per batch from the primary RGB images under
    no_grad, at the primary resolution, and resized ('area') to other outputs: EG3D's image_raw and image_depth get
    the masks of `image`, as training uses them; a depth map is never segmented.

    A link's mode decides which images its semantic mask comes from: 'source' the original images only; 'union' /
    'mean' combine the original's mask with the mask of the variant being compared (the perturbed or resampled
    image of that link), by maximum / average, as LELSD does.

        masks = RegionMasks(spec)
        batch = masks.for_batch(x, variants)    # x [N, 3, H, W]; variants: per link [N, 3, H, W] or None
        m = batch.at(h, w)                      # [1 or N, links, h, w] in [0, 1]; outside mask = 1 - m
    """

    def __init__(self, spec):
        self.spec = spec
        self._cache = {}
        self.semantic = [i for i, link in enumerate(spec.links) if not link.region.is_fixed]

    @property
    def has_semantic(self):
        return bool(self.semantic)

    @property
    def uses_variants(self):
        """True when a semantic link's mask also depends on the compared image (mode 'union' or 'mean')."""
        return any(self.spec.links[i].region.mode != 'source' for i in self.semantic)

    def fixed(self, height, width, device):
        """[1, links, height, width] masks of the fixed regions (zeros for semantic links), cached."""
        key = (height, width, str(device))
        if key not in self._cache:
            masks = [fixed_region_mask(link.region, height, width) if link.region.is_fixed
                     else torch.zeros(height, width) for link in self.spec.links]
            self._cache[key] = torch.stack(masks)[None].to(device)
        return self._cache[key]

    @torch.no_grad()
    def for_batch(self, images, variants=None):
        """Segments what the batch's semantic links need; returns a BatchMasks.

        Args:
            images:   [N, 3, H, W] primary images in [-1, 1] (the original renders).
            variants: optional list, one entry per link, of [N, 3, H, W] images compared with the originals
                      (used by links in mode 'union' / 'mean'); None: every link uses its source mask.
        """
        if not self.has_semantic:
            return BatchMasks(self, None, images.device)
        N, _, H, W = images.shape
        sem = torch.zeros([N, len(self.spec.links), H, W], device=images.device)
        for i in self.semantic:
            region = self.spec.links[i].region
            seg = load_segmenter(region.segmenter)
            source = semantic_mask(seg, images, region.classes, H, W)
            if region.mode != 'source' and variants is not None:
                other = semantic_mask(seg, variants[i], region.classes, H, W)
                source = torch.maximum(source, other) if region.mode == 'union' else 0.5 * (source + other)
            sem[:, i] = source
        return BatchMasks(self, sem, images.device)

    def for_images(self, images, height=None, width=None):
        """Source-mode masks of a batch at (height, width) (default: the images' size): [1 or N, links, h, w]."""
        return self.for_batch(images).at(height or images.shape[2], width or images.shape[3])


class BatchMasks:
    """Masks of one batch (see RegionMasks.for_batch); `at(h, w)` gives [1 or N, links, h, w]."""

    def __init__(self, owner, semantic, device):
        self.owner, self.semantic, self.device = owner, semantic, device

    def at(self, height, width):
        fixed = self.owner.fixed(height, width, self.device)
        if self.semantic is None:
            return fixed
        sem = self.semantic
        if sem.shape[2:] != (height, width):
            sem = F.interpolate(sem, size=(height, width), mode='area')
        is_sem = torch.zeros(len(self.owner.spec.links), dtype=torch.bool, device=self.device)
        is_sem[self.owner.semantic] = True
        return torch.where(is_sem[None, :, None, None], sem, fixed)

#----------------------------------------------------------------------------
