"""Regions -> masks: boxes, presets and mask images rasterised at any resolution, and semantic masks.

All masks are float tensors with values in [0, 1]:
- boxes: each pixel's value is the fraction of its area the union of boxes covers (exact at every resolution,
  binary when box edges fall on the pixel grid);
- mask images: luminance / 255, resized with antialiasing;
- semantic: 1 where the segmenter's label is one of the chosen classes, computed under no_grad.
"""

import functools
import importlib
import importlib.util
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

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


@functools.lru_cache(maxsize=64)
def _read_mask_image(path):
    from PIL import Image
    with Image.open(path) as img:
        if img.mode in ('RGBA', 'LA'):
            arr = np.asarray(img.getchannel('A'), dtype=np.float32)
        else:
            arr = np.asarray(img.convert('L'), dtype=np.float32)
    return torch.from_numpy(arr / 255.0)


def mask_image(path, height, width):
    """A mask image resized to [height, width] (bilinear with antialiasing), values in [0, 1]."""
    m = _read_mask_image(path)[None, None]
    if m.shape[2:] != (height, width):
        m = F.interpolate(m, size=(height, width), mode='bilinear', align_corners=False, antialias=True)
    return m[0, 0].clamp(0, 1)


def fixed_region_mask(region, height, width):
    """Mask [height, width] of a region that does not depend on the image (boxes, presets, mask files)."""
    if region.kind == 'boxes':
        return box_coverage(region.boxes, height, width)
    if region.kind == 'mask':
        return mask_image(region.mask_path, height, width)
    raise ValueError(f'region of kind {region.kind!r} depends on the image: use SemanticMasker')

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
        if not os.path.isfile(path):
            raise SegmenterError(f'TorchScript segmenter file not found: {path} '
                                 '(or use "module:callable" / "file.py:callable")')
        ref = path
    else:
        target, attr = ref.rsplit(':', 1)
        if target.endswith('.py'):
            path = target if os.path.isabs(target) else os.path.normpath(os.path.join(base_dir, target))
            if not os.path.isfile(path):
                raise SegmenterError(f'segmenter file not found: {path}')
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
            raise SegmenterError(f'cannot load TorchScript segmenter {ref}: {type(e).__name__}: {e}') from None
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
        raise SegmenterError(f'cannot import segmenter module {target!r}: {type(e).__name__}: {e}') from None
    fn = getattr(module, attr, None)
    if fn is None:
        raise SegmenterError(f'segmenter module {target!r} has no attribute {attr!r}')
    if isinstance(fn, type):  # A module class: instantiate with no arguments.
        try:
            fn = fn()
        except Exception as e:
            raise SegmenterError(f'cannot instantiate segmenter {ref}: {type(e).__name__}: {e}') from None
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
    """Masks of every link of a spec, cached per resolution and device.

    fixed(height, width, device) -> [1, links, height, width] with zeros for semantic links;
    semantic links are filled per batch by `for_images`.
    """

    def __init__(self, spec):
        self.spec = spec
        self._cache = {}

    @property
    def has_semantic(self):
        return any(not link.region.is_fixed for link in self.spec.links)

    def fixed(self, height, width, device):
        key = (height, width, str(device))
        if key not in self._cache:
            masks = [fixed_region_mask(link.region, height, width) if link.region.is_fixed
                     else torch.zeros(height, width) for link in self.spec.links]
            self._cache[key] = torch.stack(masks)[None].to(device)
        return self._cache[key]

    def for_images(self, images, height=None, width=None):
        """Masks for a batch: [1 or N, links, height, width]; semantic links segment `images` [N, C, H, W]."""
        height = height or images.shape[2]
        width = width or images.shape[3]
        fixed = self.fixed(height, width, images.device)
        if not self.has_semantic:
            return fixed
        masks = fixed.expand(images.shape[0], -1, -1, -1).clone()
        for i, link in enumerate(self.spec.links):
            if not link.region.is_fixed:
                seg = load_segmenter(link.region.segmenter)
                masks[:, i] = semantic_mask(seg, images, link.region.classes, height, width)
        return masks

#----------------------------------------------------------------------------
