"""Regions -> masks: the region kinds a link's "region" may be (boxes, presets, mask images, segmenters), each
rasterised exactly at any resolution or segmented per image, the mask modes, and the one mask assembler.

All masks are float tensors with values in [0, 1]:
- boxes: each pixel's value is the fraction of its area the union of boxes covers (soft, the default: exact at
  every resolution, binary when box edges fall on the pixel grid), or with "binary": true 1 where the pixel's
  centre lies in a box, else 0 (the paper's binary masks);
- mask images: alpha (RGBA, LA) or luminance / 255, resized with antialiasing;
- semantic: 1 where the segmenter's label is one of the chosen classes, computed under no_grad.

REGION_KINDS declares every region kind once (BoxesRegion, PresetRegion, MaskRegion, SegmenterRegion): each parses
its JSON (`parse_region`, called by spec.py for every link), serialises itself and (fixed kinds) rasterises
itself, so a new kind is one class there. `RegionMasks` turns the regions of a spec into masks for a batch.
"""

import json
import os

import torch
import torch.nn.functional as F

from linkgan_plugin.checks import (Boolean, check_argument, checked_value, Choice, file_problem, is_int, is_number,
                                   key_path, MAX_BOXES, MAX_INT, read_mask, short_repr, short_text)
from linkgan_plugin.segmenters import load_segmenter, resolve_segmenter_ref, SegmenterError, semantic_mask

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


def box_centre_mask(boxes, height, width):
    """1 where a pixel's centre lies in the union of normalised boxes, else 0: the binary masks.

    A centre (column + 0.5) / width, (row + 0.5) / height is inside [x0, y0, x1, y1] when x0 <= x < x1 and
    y0 <= y < y1 (half-open: boxes that tile the image do not overlap, and a box whose edges fall on pixel centres
    keeps (x1 - x0) * width columns).

    Args:
        boxes: list of [x0, y0, x1, y1] in [0, 1] (x = column, y = row).
    Returns:
        float32 tensor [height, width] in {0, 1}.
    """
    cx = (torch.arange(width, dtype=torch.float64) + 0.5) / width
    cy = (torch.arange(height, dtype=torch.float64) + 0.5) / height
    out = torch.zeros(height, width, dtype=torch.bool)
    for x0, y0, x1, y1 in boxes:
        out |= ((cy >= y0) & (cy < y1))[:, None] & ((cx >= x0) & (cx < x1))[None, :]
    return out.float()


def _interval_overlap(a, b, n):
    """Overlap of [a, b) (normalised) with each of n unit cells, as a fraction of the cell."""
    edges = torch.arange(n + 1, dtype=torch.float64) / n
    lo = torch.clamp(edges[:-1], min=a)
    hi = torch.clamp(edges[1:], max=b)
    return ((hi - lo).clamp(min=0) * n).clamp(max=1)


def mask_image(path, height, width):
    """A mask image (values read by checks.read_mask) resized to [height, width] (bilinear with antialiasing),
    float32 in [0, 1]."""
    m = torch.tensor(read_mask(path))[None, None]
    if m.shape[2:] != (height, width):
        m = F.interpolate(m, size=(height, width), mode='bilinear', align_corners=False, antialias=True)
    return m[0, 0].clamp(0, 1)


def fixed_region_mask(region, height, width):
    """Mask [height, width] of a region that does not depend on the image: the region kind rasterises itself
    (REGION_KINDS); ValueError for a semantic region."""
    return region.rasterise(height, width)

#----------------------------------------------------------------------------
# Mask modes: how a semantic region's mask of the original image meets the mask of the image compared with it.

MASK_MODES = ('source', 'union', 'mean', 'intersection')


def combine_masks(source, other, mode):
    """The semantic mask of a sample from the original's mask and the compared image's, per pixel.

    Args:
        source: [N, ...] mask of the original images; other: the same of the compared images, or None.
        mode:   'source' (the original's only; also when `other` is None), 'union' (maximum), 'mean' (average,
                as LELSD's paper), 'intersection' (minimum).
    Returns:
        [N, ...] in [0, 1].
    """
    if mode == 'source' or other is None:
        return source
    if mode == 'union':
        return torch.maximum(source, other)
    if mode == 'intersection':
        return torch.minimum(source, other)
    return 0.5 * (source + other)

#----------------------------------------------------------------------------
# Region kinds, declared once: REGION_KINDS at the end of this section.

# Face presets of aligned FFHQ (ReSeFa/LowRankGAN convention): [center_row, center_col, height, width] on 256x256.
PRESETS_256 = {
    'eyes':      [120, 128, 20, 115],
    'left_eye':  [120,  95, 20,  38],
    'right_eye': [120, 159, 20,  38],
    'nose':      [142, 131, 40,  46],
    'mouth':     [184, 127, 30,  70],
    'chin':      [217, 130, 42, 110],
    'eyebrow':   [126, 105, 15, 118],
}


def preset_box(name):
    """Normalised [x0, y0, x1, y1] of a face preset."""
    row, col, h, w = PRESETS_256[name]
    return [(col - w / 2) / 256, (row - h / 2) / 256, (col + w / 2) / 256, (row + h / 2) / 256]


class Region:
    """Where a link lives in the image: the base of the region kinds.

    A kind declares
        selectors: the JSON keys that pick it (a region object holds exactly one selector of all kinds);
        fields:    the other keys it accepts;
        kind:      what the rest of the package branches on: 'boxes' | 'mask' | 'semantic';
        is_fixed:  True when its mask does not depend on the image;
    and implements
        parse(value, path, base_dir, errors) -> an instance, or None after errors.add(...) naming the JSON path;
        to_dict() -> its JSON object (parsing it again gives the same region);
        rasterise(height, width) -> float32 tensor [height, width] in [0, 1] (fixed kinds only; imports torch);
        pixel_problem(height, width) -> None, or why its mask is unusable at that size (default None; for binary
                                         boxes, a mask with no pixel or every pixel: reported at its "binary").
    The attributes below stay None (binary False) where a kind has no use for them.
    """
    selectors = ()
    fields = ()
    kind = None
    is_fixed = True
    boxes = None            # list of [x0, y0, x1, y1], normalised, x = column, y = row.
    preset = None           # the preset name the boxes came from.
    mask_path = None        # absolute path of a mask image.
    segmenter = None        # normalised segmenter reference (loaded by load_segmenter).
    classes = None          # class ids whose union forms the region.
    mode = 'source'         # semantic mask mode, one of MASK_MODES.
    binary = False          # boxes: 1 where a pixel's centre is inside, instead of the covered fraction.

    @classmethod
    def parse(cls, value, path, base_dir, errors):
        raise NotImplementedError

    def to_dict(self):
        raise NotImplementedError

    def rasterise(self, height, width):
        raise ValueError(f'a {self.kind} region depends on the image: its masks come from its segmenter')

    def pixel_problem(self, height, width):
        return None

    def __repr__(self):
        return f'{type(self).__name__}({json.dumps(self.to_dict())})'


class BoxesRegion(Region):
    """{"box": [x0, y0, x1, y1]} or {"boxes": [[...], ...]} (at most 256: MAX_BOXES), normalised to [0, 1]. A pixel's
    mask value is the fraction of its area the union of boxes covers; with "binary": true (default false) it is 1
    where the pixel's centre lies in a box, else 0. The union must leave some of the image out."""
    selectors = ('box', 'boxes')
    fields = ('binary',)
    kind = 'boxes'

    def __init__(self, boxes, binary=False):
        self.boxes = boxes
        self.binary = binary

    @classmethod
    def parse(cls, value, path, base_dir, errors):
        key = 'box' if 'box' in value else 'boxes'
        ok_binary, binary = checked_value(Boolean(), value.get('binary', False), f'{path}.binary', errors)
        raw = [value['box']] if key == 'box' else value['boxes']
        if not isinstance(raw, list) or not raw or len(raw) > MAX_BOXES:
            errors.add(f'{path}.boxes', f'must be a non-empty list of at most {MAX_BOXES} boxes [x0, y0, x1, y1] '
                       f'(finer shapes: a mask image), got {short_repr(raw)}')
            return None
        boxes = [_parse_box(b, f'{path}.box' if key == 'box' else f'{path}.boxes[{j}]', errors) for j, b in enumerate(raw)]
        if not all(boxes):
            return None
        if _covers_image(boxes):
            errors.add(f'{path}.{key}', 'covers the whole image: the outside term would always be 0 '
                       '(a region must leave part of the image out)')
            return None
        return cls(boxes, binary) if ok_binary else None

    def to_dict(self):
        return {'boxes': [list(b) for b in self.boxes], **self._binary_dict()}

    def _binary_dict(self):
        return {'binary': True} if self.binary else {}

    def rasterise(self, height, width):
        return (box_centre_mask if self.binary else box_coverage)(self.boxes, height, width)

    def pixel_problem(self, height, width):
        """None, or why the binary mask is unusable at [height, width]: no pixel centre in it, or every one."""
        if not self.binary:
            return None
        count = int(self.rasterise(height, width).sum())
        if count == 0:
            return f'no pixel centre lies in the boxes at {height}x{width} (use larger boxes, or soft masks)'
        if count == height * width:
            return f'every pixel centre lies in the boxes at {height}x{width}: the outside term would always be 0'
        return None


class PresetRegion(BoxesRegion):
    """{"preset": NAME}: a face part of aligned FFHQ (PRESETS_256: eyes, left_eye, right_eye, nose,
    mouth, chin, eyebrow), as one box; "binary" as for boxes. A plain string is shorthand (soft)."""
    selectors = ('preset',)

    def __init__(self, preset, binary=False):
        super().__init__([preset_box(preset)], binary)
        self.preset = preset

    @classmethod
    def parse(cls, value, path, base_dir, errors):
        ok_binary, binary = checked_value(Boolean(), value.get('binary', False), f'{path}.binary', errors)
        name = value['preset']
        if not isinstance(name, str) or name not in PRESETS_256:
            errors.add(f'{path}.preset', f'unknown preset {short_repr(name)} (known: {", ".join(PRESETS_256)})')
            return None
        return cls(name, binary) if ok_binary else None

    def to_dict(self):
        return {'preset': self.preset, **self._binary_dict()}


class MaskRegion(Region):
    """{"mask": "file.png"}: an image of any size, resized to each resolution; its values (alpha channel of RGBA/LA
    images, else luminance / 255) are soft in [0, 1]. It must be non-zero somewhere and below 1 somewhere."""
    selectors = ('mask',)
    kind = 'mask'

    def __init__(self, mask_path):
        self.mask_path = mask_path

    @classmethod
    def parse(cls, value, path, base_dir, errors):
        raw, path = value['mask'], f'{path}.mask'
        if not isinstance(raw, str) or not raw:
            errors.add(path, f'must be a path to an image file, got {short_repr(raw)}')
            return None
        full = raw if os.path.isabs(raw) else os.path.normpath(os.path.join(base_dir, raw))
        problem = file_problem(full, 'mask file')
        if problem is None:
            try:
                values = read_mask(full)
            except Exception as e:  # PIL raises many types for a file that is not an image.
                problem = f'cannot read mask image {full}: {type(e).__name__}: {short_text(str(e))}'
        if problem is None and values.max() <= 0:
            problem = (f'{full} is empty everywhere (every pixel 0): the region has no pixels, so its inside term '
                       'would always be 0')
        elif problem is None and values.min() >= 1:
            problem = f'{full} covers every pixel (every pixel 255): the outside term would always be 0'
        if problem:
            errors.add(path, problem)
            return None
        return cls(full)

    def to_dict(self):
        return {'mask': self.mask_path}

    def rasterise(self, height, width):
        return mask_image(self.mask_path, height, width)


class SegmenterRegion(Region):
    """{"segmenter": REF, "classes": [ids], "mode": "source" | "union" | "mean" | "intersection"}: the union of
    `classes` in the segmentation of each generated image; mode: from the original image only (default), or combined
    with the mask of the image compared with it. REF: "pkg.module:callable", "path/file.py:callable" or a
    TorchScript file; it is loaded (with torch) while the spec is parsed, so a broken reference fails before
    training."""
    selectors = ('segmenter',)
    fields = ('classes', 'mode')
    kind = 'semantic'
    is_fixed = False

    def __init__(self, segmenter, classes, mode='source'):
        self.segmenter = segmenter
        self.classes = classes
        self.mode = mode

    @classmethod
    def parse(cls, value, path, base_dir, errors):
        ok_mode, mode = checked_value(Choice(MASK_MODES), value.get('mode', 'source'), f'{path}.mode', errors)
        classes = value.get('classes')
        ok_classes = isinstance(classes, list) and bool(classes) and all(is_int(c) and 0 <= c <= MAX_INT for c in classes)
        if not ok_classes:
            errors.add(f'{path}.classes', f'must be a non-empty list of class ids in [0, {MAX_INT}], got {short_repr(classes)}')
        ref = value['segmenter']
        if not isinstance(ref, str) or not ref.strip():
            errors.add(f'{path}.segmenter', 'must be "module:callable", "file.py:callable" or a TorchScript file, '
                       f'got {short_repr(ref)}')
            return None
        try:
            ref = resolve_segmenter_ref(ref, base_dir)
        except SegmenterError as e:
            errors.add(f'{path}.segmenter', str(e))
            return None
        return cls(ref, list(classes), mode) if ok_mode and ok_classes else None

    def to_dict(self):
        return {'segmenter': self.segmenter, 'classes': list(self.classes), 'mode': self.mode}


REGION_KINDS = (BoxesRegion, PresetRegion, MaskRegion, SegmenterRegion)


def region_kinds_text():
    """[(selectors, plain-text description)] of the region kinds, for `linkgan spec check --help`."""
    return [(' / '.join(kind.selectors), ' '.join(kind.__doc__.split()).replace('`', '')) for kind in REGION_KINDS]


def parse_region(value, path, base_dir, errors):
    """The Region of a link's "region" JSON: a preset name, or an object with one selector of REGION_KINDS."""
    selectors = [key for kind in REGION_KINDS for key in kind.selectors]
    if isinstance(value, str):
        value = {'preset': value}
    if not isinstance(value, dict):
        errors.add(path, f'must be an object with one of {", ".join(selectors)} (or a preset name), '
                   f'got {short_repr(value)}')
        return None
    given = [key for key in selectors if key in value]
    if len(given) != 1:
        errors.add(path, f'give exactly one of {", ".join(selectors)}; got {", ".join(given) or "none"}')
        return None
    kind = next(kind for kind in REGION_KINDS if given[0] in kind.selectors)
    allowed = (given[0],) + kind.fields
    unknown = [key for key in value if key not in allowed]
    for key in unknown:
        errors.add(key_path(key, path), f'unknown key for a {given[0]} region (known: {", ".join(allowed)})')
    return None if unknown else kind.parse(value, path, base_dir, errors)


def _parse_box(box, path, errors):
    if not (isinstance(box, list) and len(box) == 4 and all(is_number(v) for v in box)):
        errors.add(path, f'a box is [x0, y0, x1, y1] of four numbers, got {short_repr(box)}')
        return None
    if not all(0 <= v <= 1 for v in box):  # NaN and Infinity fail here too; huge integers never reach float().
        errors.add(path, f'box coordinates must be finite numbers in [0, 1] (normalised), got {short_repr(box)}')
        return None
    x0, y0, x1, y1 = (float(v) for v in box)
    if x1 <= x0 or y1 <= y0:
        errors.add(path, f'degenerate box {short_repr(box)}: need x0 < x1 and y0 < y1')
        return None
    return [x0, y0, x1, y1]


def _covers_image(boxes):
    """True when the union of normalised boxes covers all of [0, 1]^2 (exact, on the grid of the boxes' edges)."""
    xs = sorted({0.0, 1.0, *(b[0] for b in boxes), *(b[2] for b in boxes)})
    ys = sorted({0.0, 1.0, *(b[1] for b in boxes), *(b[3] for b in boxes)})
    col, row = {x: i for i, x in enumerate(xs)}, {y: j for j, y in enumerate(ys)}
    covered = [[False] * (len(xs) - 1) for _ in range(len(ys) - 1)]
    for x0, y0, x1, y1 in boxes:
        for j in range(row[y0], row[y1]):
            covered[j][col[x0]:col[x1]] = [True] * (col[x1] - col[x0])
    return all(all(cells) for cells in covered)

#----------------------------------------------------------------------------

class RegionMasks:
    """The one mask assembler: inside masks of every link of a spec, for a batch, at any output resolution.

    Fixed regions (boxes, presets, mask images) are rasterised exactly at each resolution and cached per
    (height, width, device). Semantic regions are segmented once per batch from the primary RGB images under
    no_grad, at the primary resolution, and resized ('area') to other outputs: EG3D's image_raw and image_depth get
    the masks of `image`, as training uses them; a depth map is never segmented.

    A link's mode (MASK_MODES; `mode` overrides every link's, as LELSD's --mask-mode does) decides which images its
    semantic mask comes from: 'source' the original images only; 'union' / 'mean' / 'intersection' combine the
    original's mask with the mask of the variant being compared (the perturbed, resampled or edited image of that
    link) by combine_masks.

        masks = RegionMasks(spec)
        batch = masks.for_batch(x, variants)    # x [N, 3, H, W]; variants: per link [N, 3, H, W] or None
        m = batch.at(h, w)                      # [1 or N, links, h, w] in [0, 1]; outside mask = 1 - m
    """

    def __init__(self, spec, mode=None):
        self.spec = spec
        self.mode = None if mode is None else check_argument('mask mode', mode, Choice(MASK_MODES))
        self._cache = {}
        self.semantic = [i for i, link in enumerate(spec.links) if not link.region.is_fixed]

    @property
    def has_semantic(self):
        return bool(self.semantic)

    def mode_of(self, index):
        """The mask mode of link `index`: the override, else its region's."""
        return self.mode or self.spec.links[index].region.mode

    @property
    def uses_variants(self):
        """True when a semantic link's mask also depends on the compared image (any mode but 'source')."""
        return any(self.mode_of(i) != 'source' for i in self.semantic)

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
                      (or None; used by links whose mode is not 'source'); None: every link uses its source mask.
        """
        if not self.has_semantic:
            return BatchMasks(self, None, images.device)
        N, _, H, W = images.shape
        sem = torch.zeros([N, len(self.spec.links), H, W], device=images.device)
        for i in self.semantic:
            region = self.spec.links[i].region
            seg = load_segmenter(region.segmenter)
            source = semantic_mask(seg, images, region.classes, H, W)
            other = None
            if self.mode_of(i) != 'source' and variants is not None and variants[i] is not None:
                other = semantic_mask(seg, variants[i], region.classes, H, W)
            sem[:, i] = combine_masks(source, other, self.mode_of(i))
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
