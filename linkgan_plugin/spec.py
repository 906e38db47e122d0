"""The link spec: which latent axes are linked to which image region, and the regularizer's hyper-parameters.

A spec is JSON (a file, an inline string or a dict) of this shape:

    {
      "links": [
        {"name": "eyes", "axes": "0:64",  "region": {"preset": "eyes"}},
        {"name": "sky",  "axes": [64, 65, 66], "region": {"segmenter": "seg.py:segment", "classes": [2]}}
      ],
      "alpha": 1.0, "interval": 8, ...          # every other key is optional; defaults in DEFAULTS
    }

axes   -- "start:stop" (half-open), {"start": a, "stop": b}, or an explicit list of axis indices.
region -- {"box": [x0, y0, x1, y1]}, {"boxes": [[...], ...]}: normalised to [0, 1], x = column, y = row;
          {"preset": NAME} (face presets of aligned FFHQ, see PRESETS_256); {"mask": "file.png"} (any size, resized,
          soft values in [0, 1]); {"segmenter": REF, "classes": [ids], "mode": "source"|"union"|"mean"} where REF
          is "pkg.module:callable", "path/file.py:callable" or a TorchScript file "path/model.pt".
          A plain string is shorthand for a preset.

Validation collects every problem and names its JSON path (`links[1].axes: 600 is out of range for w_dim=512`).
Relative file paths resolve against the spec file's directory (the working directory for inline specs).

Two declared tables drive everything else:
  OPTIONS      -- every option once (name, default, validator, help): parsing, DEFAULTS, `to_dict`,
                  `linkgan spec check --help` and the README's options table (`options_markdown`).
  REGION_KINDS -- every region kind once (BoxesRegion, PresetRegion, MaskRegion, SegmenterRegion): each parses
                  its JSON, serialises itself and (fixed kinds) rasterises itself, so a new kind is one class there.
Nothing a spec holds is expanded in memory before it is checked against the limits below.
"""

import copy
import json
import os
import re
from dataclasses import dataclass
from typing import Any, Callable

from linkgan_plugin.checks import (
    Boolean, checked_value, Choice, file_kind, file_problem, Integer, is_int, is_number, key_path,
    MAX_BOXES, MAX_INT, MAX_NAME, MAX_SPEC_BYTES, MAX_W_DIM, Number, Problems, read_mask, short_repr, short_text,
    SpecError, Subset)
from linkgan_plugin.regions import box_coverage, mask_image, resolve_segmenter_ref, SegmenterError

#----------------------------------------------------------------------------
# The options: declared once (method.md sec. 2).

ALPHA_MODES = ('absolute', 'w_std')
PERTURBATIONS = ('noise', 'resample')
REDUCTIONS = ('mean', 'sum')
MASK_MODES = ('source', 'union', 'mean')
EG3D_TARGETS = ('image', 'image_raw', 'image_depth')
EG3D_CAMERAS = ('sampled', 'frontal')


@dataclass(frozen=True)
class Option:
    """One spec option. check: JSON value -> value (raises Invalid); help: one line of markdown."""
    name: str
    default: Any
    check: Callable
    help: str

    def parse(self, value, errors, path=None):
        """The checked value, or `value` itself after adding an error at `path` (default: the option's name)."""
        return checked_value(self.check, value, path or self.name, errors)[1]


OPTIONS = (
    Option('alpha', 1.0, Number(positive=True),
           'perturbation strength: `w_i += alpha * p`, `p ~ N(0, I)`'),
    Option('alpha_mode', 'absolute', Choice(ALPHA_MODES),
           '`w_std` scales alpha per axis by the std of W (estimated once from the mapping network)'),
    Option('perturbation', 'noise', Choice(PERTURBATIONS),
           '`noise`: `p ~ N(0, I)` as the paper; `resample`: `p = w(z\') − w(z)` for a fresh `z\'`, the offset of '
           'resampling the axes (as the editing protocol does), scaled by alpha'),
    Option('lambda_in', 1.0, Number(),
           'weight of `L_in = ‖M ⊙ (x2 − x)‖²`: resampling the other axes must not touch the region'),
    Option('lambda_out', 1.0, Number(),
           'weight of `L_out = ‖(1−M) ⊙ (x1 − x)‖²`: resampling the linked axes must not touch the rest'),
    Option('reduction', 'mean', Choice(REDUCTIONS),
           '`mean`: masked sums divided by C·H·W (the normalisation of the paper\'s MSE tables; weights do not '
           'depend on resolution); `sum`: Eq. 3–4 as written'),
    Option('interval', 8, Integer(),
           'the term runs every `interval` G steps and is multiplied by `interval` (lazy-regularization gain)'),
    Option('batch_shrink', 2, Integer(),
           'the link pass uses `batch_gpu // batch_shrink` samples (at least 1)'),
    Option('fake_to_D', True, Boolean(),
           'at link steps, `batch_gpu` perturbed images (as many as a regular fake batch) join G\'s adversarial '
           'loss and D\'s fake loss'),
    Option('fake_to_D_weight', 1.0, Number(),
           'weight of those extra adversarial terms'),
    Option('eg3d_targets', ['image', 'image_raw'], Subset(EG3D_TARGETS),
           'EG3D outputs that are masked (`image_depth` adds geometry)'),
    Option('eg3d_camera', 'sampled', Choice(EG3D_CAMERAS),
           'EG3D link pass camera: the training camera (`sampled`) or `frontal`'),
)
OPTIONS_BY_NAME = {option.name: option for option in OPTIONS}
DEFAULTS = {option.name: copy.deepcopy(option.default) for option in OPTIONS}


def _markdown_value(value):
    """A default as the README shows it: numbers and booleans plain, strings and lists in backticks."""
    if isinstance(value, bool) or is_number(value):
        return json.dumps(value)
    return f'`{value}`' if isinstance(value, str) else f'`{json.dumps(value)}`'


def options_markdown():
    """The options table of README.md's section "The link spec", rendered from OPTIONS."""
    rows = ['| key | type | default | meaning |', '|---|---|---|---|']
    rows += [f'| `{o.name}` | {o.check.describe} | {_markdown_value(o.default)} | {o.help} |' for o in OPTIONS]
    return '\n'.join(rows)


def options_text():
    """[(name, plain-text description)] of the options, for `linkgan spec check --help`."""
    return [(o.name, f'{o.check.describe}, default {json.dumps(o.default)}: {o.help}'.replace('`', '')) for o in OPTIONS]

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
        rasterise(height, width) -> float32 tensor [height, width] in [0, 1] (fixed kinds only; imports torch).
    The attributes below stay None where a kind has no use for them.
    """
    selectors = ()
    fields = ()
    kind = None
    is_fixed = True
    boxes = None            # list of [x0, y0, x1, y1], normalised, x = column, y = row.
    preset = None           # the preset name the boxes came from.
    mask_path = None        # absolute path of a mask image.
    segmenter = None        # normalised segmenter reference (loaded by regions.load_segmenter).
    classes = None          # class ids whose union forms the region.
    mode = 'source'         # semantic mask mode, one of MASK_MODES.

    @classmethod
    def parse(cls, value, path, base_dir, errors):
        raise NotImplementedError

    def to_dict(self):
        raise NotImplementedError

    def rasterise(self, height, width):
        raise ValueError(f'a {self.kind} region depends on the image: its masks come from its segmenter')

    def __repr__(self):
        return f'{type(self).__name__}({json.dumps(self.to_dict())})'


class BoxesRegion(Region):
    """{"box": [x0, y0, x1, y1]} or {"boxes": [[...], ...]} (at most 256: MAX_BOXES), normalised to [0, 1]. A pixel's
    mask value is the fraction of its area the union of boxes covers. The union must leave some of the image out."""
    selectors = ('box', 'boxes')
    kind = 'boxes'

    def __init__(self, boxes):
        self.boxes = boxes

    @classmethod
    def parse(cls, value, path, base_dir, errors):
        key = 'box' if 'box' in value else 'boxes'
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
        return cls(boxes)

    def to_dict(self):
        return {'boxes': [list(b) for b in self.boxes]}

    def rasterise(self, height, width):
        return box_coverage(self.boxes, height, width)


class PresetRegion(BoxesRegion):
    """{"preset": NAME}: a face part of aligned FFHQ (PRESETS_256: eyes, left_eye, right_eye, nose,
    mouth, chin, eyebrow), as one box. A plain string is shorthand."""
    selectors = ('preset',)

    def __init__(self, preset):
        super().__init__([preset_box(preset)])
        self.preset = preset

    @classmethod
    def parse(cls, value, path, base_dir, errors):
        name = value['preset']
        if not isinstance(name, str) or name not in PRESETS_256:
            errors.add(f'{path}.preset', f'unknown preset {short_repr(name)} (known: {", ".join(PRESETS_256)})')
            return None
        return cls(name)

    def to_dict(self):
        return {'preset': self.preset}


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
    """{"segmenter": REF, "classes": [ids], "mode": "source" | "union" | "mean"}: the union of `classes` in the
    segmentation of each generated image. REF: "pkg.module:callable", "path/file.py:callable" or a TorchScript
    file; it is loaded (with torch) while the spec is parsed, so a broken reference fails before training."""
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
# A parsed spec.

class Link:
    """One link: latent axes `axes` (sorted ints) drive the pixels of `region` (a Region kind)."""

    def __init__(self, name, axes, region, axes_form):
        self.name = name
        self.axes = axes                # While parsing, a range is kept unexpanded until it passed the w_dim check.
        self.region = region
        self._axes_form = axes_form     # The axes as given: a range (written back as 'a:b') or a sorted list.

    def to_dict(self):
        form = self._axes_form
        axes = f'{form.start}:{form.stop}' if isinstance(form, range) else list(form)
        return {'name': self.name, 'axes': axes, 'region': self.region.to_dict()}


class LinkSpec:
    """A validated link spec. Build with `load_spec`; serialise with `to_dict` (round-trips through JSON)."""

    def __init__(self, links, options):
        self.links = links
        self.options = options
        for key, value in options.items():
            setattr(self, key, value)

    @property
    def names(self):
        return [link.name for link in self.links]

    def select(self, names):
        """The spec restricted to the links named, in the spec's order (itself when `names` is empty or None); a
        link's complement stays 'every other axis', so restricting changes no link's numbers. ValueError
        'unknown link ...' naming the first unknown name."""
        if not names:
            return self
        unknown = [n for n in names if n not in self.names]
        if unknown:
            raise ValueError(f'unknown link {short_repr(unknown[0])} (the spec has: {", ".join(self.names)})')
        return LinkSpec([link for link in self.links if link.name in names], dict(self.options))

    def to_dict(self):
        out = {'links': [link.to_dict() for link in self.links]}
        out.update(copy.deepcopy(self.options))
        return out

    def check_w_dim(self, w_dim):
        """Raises SpecError when any link's axes fall outside [0, w_dim) or cover all of them."""
        errors = Problems()
        _fit_w_dim(list(enumerate(self.links)), _checked_size('w_dim', w_dim), errors)
        errors.raise_if_any()

    def check_resolution(self, resolution):
        """Raises SpecError when a box is narrower or shorter than one pixel at `resolution`."""
        errors = Problems()
        for i, link in enumerate(self.links):
            for j, (x0, y0, x1, y1) in enumerate(link.region.boxes or []):
                if (x1 - x0) * resolution < 1 or (y1 - y0) * resolution < 1:
                    errors.add(f'links[{i}].region', f'box {j} is smaller than one pixel at resolution {resolution}')
        errors.raise_if_any()

    def __repr__(self):
        return f'LinkSpec({json.dumps(self.to_dict())})'

#----------------------------------------------------------------------------
# Parsing.

def load_spec(source, base_dir=None, w_dim=None, resolution=None, defaults=None):
    """Parses and validates a spec.

    Args:
        source:     a LinkSpec, a dict, a path to a JSON file, or an inline JSON string (starting with '{').
        base_dir:   where relative file paths resolve (default: the spec file's directory, else the cwd).
        w_dim:      if given, axes are checked against it (1 to MAX_W_DIM).
        resolution: if given, boxes are checked to cover at least one pixel.
        defaults:   {option: value} replacing DEFAULTS for the options `source` leaves out (the demo's recipe),
                    checked like the spec's own values. A LinkSpec source already holds every option.
    Returns:
        LinkSpec.
    Raises:
        SpecError naming the JSON path of every problem.
    """
    w_dim = None if w_dim is None else _checked_size('w_dim', w_dim)
    resolution = None if resolution is None else _checked_size('resolution', resolution)
    if isinstance(source, LinkSpec):
        spec = source
        if w_dim is not None:
            spec.check_w_dim(w_dim)
    else:
        data, file_dir = read_spec_source(source)
        spec = parse_spec(data, base_dir=base_dir or file_dir or os.getcwd(), w_dim=w_dim, defaults=defaults)
    if resolution is not None:
        spec.check_resolution(resolution)
    return spec


def read_spec_source(source):
    """The raw JSON value of a spec source (dict, file path or inline JSON) and its file's directory (or None),
    before validation and defaults."""
    if isinstance(source, dict):
        return source, None
    if isinstance(source, (str, os.PathLike)):
        text = os.fsdecode(os.fspath(source))
        if text.lstrip().startswith('{') or (text.lstrip().startswith('[') and not os.path.exists(text)):
            return _parse_json(text, 'spec: the inline JSON'), None
        return _parse_json(_read_spec_file(text), f'spec: {short_text(text)}'), os.path.dirname(os.path.abspath(text))
    raise SpecError([f'spec: expected a dict, a file path or a JSON string, got {type(source).__name__}'])


def _read_spec_file(path):
    """The text of a spec file; SpecError for directories, binary or non-UTF-8 files and files over MAX_SPEC_BYTES."""
    shown = short_text(path)
    problem = file_problem(path, 'spec file')
    if problem:
        raise SpecError([f'spec: {short_text(problem, 400)}'])
    try:
        with open(path, 'rb') as f:
            head = f.read(64)
            kind, description = file_kind(head)
            if kind:
                raise SpecError([f'spec: {shown} is {description}, not a JSON link spec'])
            size = os.fstat(f.fileno()).st_size
            if size > MAX_SPEC_BYTES:
                raise SpecError([f'spec: {shown} holds {size / 2**20:.0f} MiB: too large for a link spec '
                                 f'(at most {MAX_SPEC_BYTES >> 20} MiB)'])
            raw = head + f.read()
    except OSError as e:
        raise SpecError([f'spec: cannot read {shown}: {e.strerror or e}']) from None
    try:
        return raw.decode('utf-8-sig')
    except UnicodeDecodeError as e:
        raise SpecError([f'spec: {shown} is not UTF-8 text (byte 0x{raw[e.start]:02x} at offset {e.start}); '
                         'save the spec as UTF-8']) from None


def _parse_json(text, where):
    try:
        return json.loads(text)
    except RecursionError:
        raise SpecError([f'{where} is nested too deeply to be a link spec']) from None
    except json.JSONDecodeError as e:
        raise SpecError([f'{where} is not valid JSON: {short_text(str(e))}']) from None
    except ValueError:  # An integer of more digits than int() converts.
        raise SpecError([f'{where} holds an integer of thousands of digits: no spec value is that large']) from None


def _checked_size(name, value):
    if not (is_int(value) and 1 <= value <= MAX_W_DIM):
        raise SpecError([f'{name}: must be an integer in [1, {MAX_W_DIM}], got {short_repr(value)}'])
    return value


def parse_spec(data, base_dir='.', w_dim=None, defaults=None):
    """Validates a spec dict (see module docstring) and returns a LinkSpec.

    w_dim:    axes are checked against it (without it, against the largest latent, MAX_W_DIM).
    defaults: {option: value} for the options `data` leaves out, instead of DEFAULTS.
    """
    if not isinstance(data, dict):
        raise SpecError([f'spec: expected a JSON object, got {type(data).__name__}'])
    fallback = _defaults(defaults)
    errors = Problems()
    for key in data:
        if key != 'links' and key not in OPTIONS_BY_NAME:
            errors.add(key_path(key), f'unknown key (known: links, {", ".join(OPTIONS_BY_NAME)})')
    options = {o.name: o.parse(data[o.name], errors) if o.name in data else
               o.parse(copy.deepcopy(fallback[o.name]), errors, path=f'{o.name} (default)') for o in OPTIONS}
    parsed = _parse_links(data.get('links'), base_dir, errors)
    fitting = _fit_w_dim([(i, link) for i, link, _ in parsed], w_dim, errors)     # Also links with other errors.
    valid = {i for i, _, ok in parsed if ok}
    links = [(i, link) for i, link in fitting if i in valid]
    for _, link in links:
        link.axes = list(link.axes)     # Now known to lie below w_dim (or MAX_W_DIM).
    _check_link_consistency(links, errors)
    errors.raise_if_any()
    return LinkSpec([link for _, link in links], options)


def _defaults(defaults):
    if defaults is None:
        return DEFAULTS
    if not isinstance(defaults, dict):
        raise SpecError([f'defaults: expected a dict of options, got {type(defaults).__name__}'])
    unknown = [key for key in defaults if key not in OPTIONS_BY_NAME]
    if unknown:
        raise SpecError([f'defaults: {short_repr(unknown[0])} is not a spec option (known: {", ".join(OPTIONS_BY_NAME)})'])
    return {**DEFAULTS, **defaults}


def _parse_links(raw_links, base_dir, errors):
    """[(index, Link, ok)] of the links whose axes parsed (ok: nothing else is wrong with them); errors for the rest."""
    if raw_links is None:
        errors.add('links', 'missing: a spec needs at least one link')
        return []
    if not isinstance(raw_links, list) or not raw_links or len(raw_links) > MAX_W_DIM:
        errors.add('links', f'must be a non-empty list of at most {MAX_W_DIM} links, got {short_repr(raw_links)}')
        return []
    parsed = []
    for i, raw in enumerate(raw_links):
        n_before = len(errors.items)
        link = _parse_link(raw, f'links[{i}]', base_dir, errors)
        if link is not None:
            parsed.append((i, link, len(errors.items) == n_before))
    return parsed


def _fit_w_dim(links, w_dim, errors):
    """The (index, link) pairs whose axes lie below w_dim (None: below MAX_W_DIM) and leave some axes out; an error
    for every other. The one place axes meet w_dim; ranges are checked by their ends, never expanded."""
    limit = MAX_W_DIM if w_dim is None else w_dim
    fitting = []
    for i, link in links:
        axes = link.axes
        if isinstance(axes, range):
            first = max(axes.start, limit) if axes.stop > limit else None
        else:
            first = next((a for a in axes if a >= limit), None)
        if first is not None:
            latent = f'w_dim={w_dim}' if w_dim is not None else f'any latent (w_dim is at most {MAX_W_DIM})'
            errors.add(f'links[{i}].axes', f'{short_repr(first)} is out of range for {latent}')
        elif w_dim is not None and len(axes) == w_dim:
            errors.add(f'links[{i}].axes', f'covers all {w_dim} axes: the complement would be empty')
        else:
            fitting.append((i, link))
    return fitting


LINK_NAME = re.compile(r'[A-Za-z0-9_-]{1,%d}' % MAX_NAME)
AXIS_RANGE = re.compile(r'\s*(-?[0-9]+)\s*:\s*(-?[0-9]+)\s*')     # ASCII digits only: int() also takes '١', '1_0'.


def _parse_link(raw, path, base_dir, errors):
    """The Link, or None when its axes did not parse; its other problems are added to `errors` (its region is
    then None), so that the axes are still checked against w_dim."""
    if not isinstance(raw, dict):
        errors.add(path, f'must be an object with name, axes and region, got {short_repr(raw)}')
        return None
    for key in raw:
        if key not in ('name', 'axes', 'region'):
            errors.add(key_path(key, path), 'unknown key (known: name, axes, region)')
    name = raw.get('name')
    if not (isinstance(name, str) and LINK_NAME.fullmatch(name)):
        errors.add(f'{path}.name', f'must be 1 to {MAX_NAME} ASCII letters, digits, _ or -, got {short_repr(name)}')
    axes, axes_form = _parse_axes(raw.get('axes'), f'{path}.axes', errors)
    region = parse_region(raw.get('region'), f'{path}.region', base_dir, errors)
    return None if axes is None else Link(name, axes, region, axes_form)


def _parse_axes(value, path, errors):
    """(axes, form): a range (not expanded: _fit_w_dim checks its ends) or a sorted list; (None, None) after an error."""
    if value is None:
        errors.add(path, 'missing: give "start:stop", {"start": a, "stop": b} or a list of axis indices')
        return None, None
    if isinstance(value, str):
        match = AXIS_RANGE.fullmatch(value)
        if match is None:
            errors.add(path, f'range must look like "start:stop" (ASCII digits), got {short_repr(value)}')
            return None, None
        try:
            value = {'start': int(match[1]), 'stop': int(match[2])}
        except ValueError:  # More digits than int() converts.
            errors.add(path, f'range bounds are too large, got {short_repr(value)}')
            return None, None
    if isinstance(value, dict):
        start, stop = value.get('start'), value.get('stop')
        extra = [key for key in value if key not in ('start', 'stop')]
        if extra:
            errors.add(path, f'unknown key {short_repr(extra[0])} (known: start, stop)')
        elif not (is_int(start) and is_int(stop)):
            errors.add(path, f'start and stop must be integers, got {short_repr(start)}, {short_repr(stop)}')
        elif start < 0:
            errors.add(path, f'start must be >= 0, got {short_repr(start)}')
        elif stop <= start:
            errors.add(path, f'empty range {short_repr(start)}:{short_repr(stop)}')
        else:
            return range(start, stop), range(start, stop)
        return None, None
    if isinstance(value, list):
        if not value:
            errors.add(path, 'empty list of axes')
        elif not all(is_int(v) for v in value):
            errors.add(path, f'axis indices must be integers, got {short_repr(value)}')
        elif min(value) < 0:
            errors.add(path, f'axis indices must be >= 0, got {short_repr(min(value))}')
        elif len(set(value)) != len(value):
            errors.add(path, 'lists an axis twice')
        else:
            return sorted(value), sorted(value)
        return None, None
    errors.add(path, f'must be "start:stop", {{"start", "stop"}} or a list of integers, got {short_repr(value)}')
    return None, None


def _check_link_consistency(links, errors):
    seen_names = {}
    owner = {}
    for i, link in links:
        if link.name in seen_names:
            errors.add(f'links[{i}].name', f'duplicate name {link.name!r} (also links[{seen_names[link.name]}])')
        seen_names.setdefault(link.name, i)
        clash = [a for a in link.axes if a in owner]
        if clash:
            j = owner[clash[0]]
            errors.add(f'links[{i}].axes', f'overlaps links[{j}].axes at {len(clash)} axes (first: {clash[0]}); '
                       'links must use disjoint axes')
        for a in link.axes:
            owner.setdefault(a, i)

#----------------------------------------------------------------------------
# Where a spec lives inside upstream loss kwargs (training_options.json).

LOSS_KWARG_KEYS = set(DEFAULTS) | {'links'}


def split_loss_kwargs(kwargs):
    """Splits LinkLoss kwargs into (spec source or None, base class name or None, base loss kwargs).

    The spec is either `spec=` (dict or path) or its fields inline (`links=`, `alpha=`, ...), not both.
    """
    kwargs = dict(kwargs)
    spec = kwargs.pop('spec', None)
    base = kwargs.pop('base', None)
    inline = {k: kwargs.pop(k) for k in list(kwargs) if k in LOSS_KWARG_KEYS}
    if spec is not None and inline:
        raise SpecError([f'{sorted(inline)[0]}: give the link spec either as spec=... or inline, not both'])
    if inline:
        spec = inline
    return spec, base, kwargs
