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
          {"preset": NAME} (face presets of aligned FFHQ, see PRESETS); {"mask": "file.png"} (any size, resized,
          soft values in [0, 1]); {"segmenter": REF, "classes": [ids], "mode": "source"|"union"|"mean"} where REF
          is "pkg.module:callable", "path/file.py:callable" or a TorchScript file "path/model.pt".
          A plain string is shorthand for a preset.

Validation collects every problem and names its JSON path (`links[1].axes: 600 is out of range for w_dim=512`).
Relative file paths resolve against the spec file's directory (the working directory for inline specs).
"""

import copy
import json
import os

#----------------------------------------------------------------------------
# Defaults shared by the API, the CLI and LinkLoss (method.md sec. 2).

DEFAULTS = {
    'alpha':            1.0,            # Perturbation strength a: w_i += a * p_i, p_i ~ N(0, I).
    'alpha_mode':       'absolute',     # 'absolute' | 'w_std' (scale a by the per-axis std of W).
    'lambda_in':        1.0,            # Weight of L_in  = ||M * (x2 - x)||^2 (complement must not touch the region).
    'lambda_out':       1.0,            # Weight of L_out = ||(1-M) * (x1 - x)||^2 (linked axes must not touch the rest).
    'reduction':        'mean',         # 'mean': masked sum / (C*H*W), as the paper's MSE tables; 'sum': the paper's Eq. 3-4.
    'interval':         8,              # Lazy regularization: every `interval` G steps, term multiplied by `interval`.
    'batch_shrink':     2,              # The link pass uses batch // batch_shrink samples (at least 1).
    'fake_to_D':        True,           # Perturbed images join D's fake loss and G's adversarial loss at link steps.
    'fake_to_D_weight': 1.0,            # Weight of those extra adversarial terms.
    'eg3d_targets':     ['image', 'image_raw'],   # EG3D outputs that are masked: subset of image, image_raw, image_depth.
    'eg3d_camera':      'sampled',      # EG3D link pass camera: 'sampled' (the training camera) | 'frontal'.
}

ALPHA_MODES = ('absolute', 'w_std')
REDUCTIONS = ('mean', 'sum')
MASK_MODES = ('source', 'union', 'mean')
EG3D_TARGETS = ('image', 'image_raw', 'image_depth')
EG3D_CAMERAS = ('sampled', 'frontal')

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

#----------------------------------------------------------------------------

class SpecError(ValueError):
    """A spec that cannot be used. `errors` lists one 'path: message' string per problem."""

    def __init__(self, errors):
        self.errors = list(errors)
        super().__init__('invalid link spec:\n' + '\n'.join(f'  {e}' for e in self.errors))


class _Errors:
    def __init__(self):
        self.items = []

    def add(self, path, message):
        self.items.append(f'{path}: {message}')

    def raise_if_any(self):
        if self.items:
            raise SpecError(self.items)

#----------------------------------------------------------------------------
# Value objects of a parsed spec.

class Region:
    """Where a link lives in the image. kind: 'boxes' | 'mask' | 'semantic'."""

    def __init__(self, kind, boxes=None, preset=None, mask_path=None, segmenter=None, classes=None, mode='source'):
        self.kind = kind
        self.boxes = boxes              # list of [x0, y0, x1, y1], normalised.
        self.preset = preset            # preset name the boxes came from, if any.
        self.mask_path = mask_path      # absolute path of a mask image.
        self.segmenter = segmenter      # segmenter reference string (resolved lazily by regions.py).
        self.classes = classes          # class ids whose union forms the region.
        self.mode = mode                # semantic mask mode.

    @property
    def is_fixed(self):
        """True when the mask does not depend on the image (boxes, presets, mask files)."""
        return self.kind != 'semantic'

    def to_dict(self):
        if self.kind == 'boxes':
            return {'preset': self.preset} if self.preset else {'boxes': [list(b) for b in self.boxes]}
        if self.kind == 'mask':
            return {'mask': self.mask_path}
        return {'segmenter': self.segmenter, 'classes': list(self.classes), 'mode': self.mode}


class Link:
    """One link: latent axes `axes` (sorted ints) drive the pixels of `region`."""

    def __init__(self, name, axes, region, axes_form):
        self.name = name
        self.axes = axes
        self.region = region
        self._axes_form = axes_form     # normalised JSON form of the axes ('a:b' or a list).

    def to_dict(self):
        return {'name': self.name, 'axes': self._axes_form, 'region': self.region.to_dict()}


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

    @property
    def max_axis(self):
        return max(max(link.axes) for link in self.links)

    def to_dict(self):
        out = {'links': [link.to_dict() for link in self.links]}
        out.update(copy.deepcopy(self.options))
        return out

    def check_w_dim(self, w_dim):
        """Raises SpecError when any link's axes fall outside [0, w_dim)."""
        errors = _Errors()
        for i, link in enumerate(self.links):
            bad = [a for a in link.axes if a >= w_dim]
            if bad:
                errors.add(f'links[{i}].axes', f'{bad[0]} is out of range for w_dim={w_dim}')
            elif len(link.axes) == w_dim:
                errors.add(f'links[{i}].axes', f'covers all {w_dim} axes: the complement would be empty')
        errors.raise_if_any()

    def check_resolution(self, resolution):
        """Raises SpecError when a box is narrower or shorter than one pixel at `resolution`."""
        errors = _Errors()
        for i, link in enumerate(self.links):
            for j, (x0, y0, x1, y1) in enumerate(link.region.boxes or []):
                if (x1 - x0) * resolution < 1 or (y1 - y0) * resolution < 1:
                    errors.add(f'links[{i}].region', f'box {j} is smaller than one pixel at resolution {resolution}')
        errors.raise_if_any()

    def __repr__(self):
        return f'LinkSpec({json.dumps(self.to_dict())})'

#----------------------------------------------------------------------------
# Parsing.

def load_spec(source, base_dir=None, w_dim=None, resolution=None):
    """Parses and validates a spec.

    Args:
        source:     a LinkSpec, a dict, a path to a JSON file, or an inline JSON string (starting with '{').
        base_dir:   where relative file paths resolve (default: the spec file's directory, else the cwd).
        w_dim:      if given, axes are checked against it.
        resolution: if given, boxes are checked to cover at least one pixel.
    Returns:
        LinkSpec.
    Raises:
        SpecError naming the JSON path of every problem.
    """
    if isinstance(source, LinkSpec):
        spec = source
    else:
        data, file_dir = read_spec_source(source)
        spec = parse_spec(data, base_dir=base_dir or file_dir or os.getcwd(), w_dim=w_dim)
    if w_dim is not None:
        spec.check_w_dim(w_dim)
    if resolution is not None:
        spec.check_resolution(resolution)
    return spec


def read_spec_source(source):
    """The raw JSON object of a spec source (dict, file path or inline JSON) and its file's directory (or None),
    before validation and defaults; for callers that apply their own defaults (the demo's recipe)."""
    if isinstance(source, dict):
        return source, None
    if isinstance(source, (str, os.PathLike)):
        text = str(source)
        if text.lstrip().startswith('{'):
            try:
                return json.loads(text), None
            except json.JSONDecodeError as e:
                raise SpecError([f'spec: invalid JSON: {e}']) from None
        if not os.path.isfile(text):
            raise SpecError([f'spec: file not found: {text}'])
        try:
            with open(text, encoding='utf-8') as f:
                return json.load(f), os.path.dirname(os.path.abspath(text))
        except json.JSONDecodeError as e:
            raise SpecError([f'spec: {text} is not valid JSON: {e}']) from None
        except OSError as e:
            raise SpecError([f'spec: cannot read {text}: {e}']) from None
    raise SpecError([f'spec: expected a dict, a file path or a JSON string, got {type(source).__name__}'])


def parse_spec(data, base_dir='.', w_dim=None):
    """Validates a spec dict (see module docstring) and returns a LinkSpec; axes are checked against w_dim if given."""
    errors = _Errors()
    if not isinstance(data, dict):
        raise SpecError([f'spec: expected a JSON object, got {type(data).__name__}'])
    unknown = sorted(set(data) - set(DEFAULTS) - {'links'})
    for key in unknown:
        errors.add(key, f'unknown key (known: links, {", ".join(DEFAULTS)})')
    options = {key: _parse_option(key, data.get(key, default), errors) for key, default in DEFAULTS.items()}

    links = []
    raw_links = data.get('links')
    if raw_links is None:
        errors.add('links', 'missing: a spec needs at least one link')
    elif not isinstance(raw_links, list) or not raw_links:
        errors.add('links', 'must be a non-empty list of links')
    else:
        for i, raw in enumerate(raw_links):
            link = _parse_link(raw, f'links[{i}]', base_dir, errors, w_dim)
            if link is not None:
                links.append((i, link))
        _check_link_consistency(links, errors)
    errors.raise_if_any()
    return LinkSpec([link for _, link in links], options)


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _parse_option(key, value, errors):
    if key in ('alpha', 'lambda_in', 'lambda_out', 'fake_to_D_weight'):
        if not _is_number(value):
            errors.add(key, f'must be a number, got {value!r}')
        elif value < 0 or value != value:
            errors.add(key, f'must be non-negative, got {value}')
        elif key == 'alpha' and value == 0:
            errors.add(key, 'must be positive: alpha=0 perturbs nothing')
        return float(value) if _is_number(value) else value
    if key in ('interval', 'batch_shrink'):
        if not _is_int(value):
            errors.add(key, f'must be an integer, got {value!r}')
        elif value < 1:
            errors.add(key, f'must be >= 1, got {value}')
        return value
    if key == 'fake_to_D':
        if not isinstance(value, bool):
            errors.add(key, f'must be true or false, got {value!r}')
        return value
    choices = {'alpha_mode': ALPHA_MODES, 'reduction': REDUCTIONS, 'eg3d_camera': EG3D_CAMERAS}
    if key in choices:
        if value not in choices[key]:
            errors.add(key, f'must be one of {", ".join(choices[key])}, got {value!r}')
        return value
    if key == 'eg3d_targets':
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            errors.add(key, f'must be a non-empty list drawn from {", ".join(EG3D_TARGETS)}, got {value!r}')
            return value
        for v in value:
            if v not in EG3D_TARGETS:
                errors.add(key, f'{v!r} is not one of {", ".join(EG3D_TARGETS)}')
        if len(set(value)) != len(value):
            errors.add(key, 'lists an output twice')
        return list(value)
    raise AssertionError(key)


def _parse_link(raw, path, base_dir, errors, w_dim=None):
    if not isinstance(raw, dict):
        errors.add(path, f'must be an object with name, axes and region, got {type(raw).__name__}')
        return None
    for key in sorted(set(raw) - {'name', 'axes', 'region'}):
        errors.add(f'{path}.{key}', 'unknown key (known: name, axes, region)')
    name = raw.get('name')
    if not isinstance(name, str) or not name or not all(c.isalnum() or c in '_-' for c in name):
        errors.add(f'{path}.name', f'must be a non-empty string of letters, digits, _ or -, got {name!r}')
    n_before = len(errors.items)
    axes, axes_form = _parse_axes(raw.get('axes'), f'{path}.axes', errors)
    if axes is not None and w_dim is not None and axes[-1] >= w_dim:
        errors.add(f'{path}.axes', f'{[a for a in axes if a >= w_dim][0]} is out of range for w_dim={w_dim}')
        axes = None
    region = _parse_region(raw.get('region'), f'{path}.region', base_dir, errors)
    if len(errors.items) > n_before or region is None or axes is None:
        return None
    return Link(name, axes, region, axes_form)


def _parse_axes(value, path, errors):
    if value is None:
        errors.add(path, 'missing: give "start:stop", {"start": a, "stop": b} or a list of axis indices')
        return None, None
    if isinstance(value, str):
        parts = value.split(':')
        if len(parts) != 2 or not all(p.strip().lstrip('-').isdigit() for p in parts):
            errors.add(path, f'range must look like "start:stop", got {value!r}')
            return None, None
        value = {'start': int(parts[0]), 'stop': int(parts[1])}
    if isinstance(value, dict):
        extra = sorted(set(value) - {'start', 'stop'})
        if extra:
            errors.add(path, f'unknown key {extra[0]!r} (known: start, stop)')
            return None, None
        start, stop = value.get('start'), value.get('stop')
        if not (_is_int(start) and _is_int(stop)):
            errors.add(path, f'start and stop must be integers, got {start!r}, {stop!r}')
            return None, None
        if start < 0:
            errors.add(path, f'start must be >= 0, got {start}')
            return None, None
        if stop <= start:
            errors.add(path, f'empty range {start}:{stop}')
            return None, None
        return list(range(start, stop)), f'{start}:{stop}'
    if isinstance(value, list):
        if not value:
            errors.add(path, 'empty list of axes')
            return None, None
        if not all(_is_int(v) for v in value):
            errors.add(path, f'axis indices must be integers, got {value!r}')
            return None, None
        if any(v < 0 for v in value):
            errors.add(path, f'axis indices must be >= 0, got {min(value)}')
            return None, None
        if len(set(value)) != len(value):
            errors.add(path, 'lists an axis twice')
            return None, None
        return sorted(value), sorted(value)
    errors.add(path, f'must be "start:stop", {{"start", "stop"}} or a list of integers, got {type(value).__name__}')
    return None, None


def _parse_box(box, path, errors):
    if not (isinstance(box, list) and len(box) == 4 and all(_is_number(v) for v in box)):
        errors.add(path, f'a box is [x0, y0, x1, y1] of four numbers, got {box!r}')
        return None
    x0, y0, x1, y1 = (float(v) for v in box)
    if not all(0 <= v <= 1 for v in (x0, y0, x1, y1)):
        errors.add(path, f'box coordinates must lie in [0, 1] (normalised), got {box}')
        return None
    if x1 <= x0 or y1 <= y0:
        errors.add(path, f'degenerate box {box}: need x0 < x1 and y0 < y1')
        return None
    return [x0, y0, x1, y1]


def _parse_region(value, path, base_dir, errors):
    if isinstance(value, str):
        value = {'preset': value}
    if not isinstance(value, dict):
        errors.add(path, 'missing or not an object: give one of box, boxes, preset, mask, segmenter')
        return None
    kinds = [k for k in ('box', 'boxes', 'preset', 'mask', 'segmenter') if k in value]
    if len(kinds) != 1:
        errors.add(path, f'give exactly one of box, boxes, preset, mask, segmenter; got {kinds or "none"}')
        return None
    kind = kinds[0]
    allowed = {'segmenter': {'segmenter', 'classes', 'mode'}}.get(kind, {kind})
    for key in sorted(set(value) - allowed):
        errors.add(f'{path}.{key}', f'unknown key for a {kind} region (known: {", ".join(sorted(allowed))})')

    if kind == 'box':
        box = _parse_box(value['box'], f'{path}.box', errors)
        return Region('boxes', boxes=[box]) if box else None
    if kind == 'boxes':
        raw = value['boxes']
        if not isinstance(raw, list) or not raw:
            errors.add(f'{path}.boxes', 'must be a non-empty list of [x0, y0, x1, y1]')
            return None
        boxes = [_parse_box(b, f'{path}.boxes[{j}]', errors) for j, b in enumerate(raw)]
        return Region('boxes', boxes=boxes) if all(boxes) else None
    if kind == 'preset':
        name = value['preset']
        if name not in PRESETS_256:
            errors.add(f'{path}.preset', f'unknown preset {name!r} (known: {", ".join(PRESETS_256)})')
            return None
        return Region('boxes', boxes=[preset_box(name)], preset=name)
    if kind == 'mask':
        mask = value['mask']
        if not isinstance(mask, str) or not mask:
            errors.add(f'{path}.mask', f'must be a path to an image file, got {mask!r}')
            return None
        full = mask if os.path.isabs(mask) else os.path.normpath(os.path.join(base_dir, mask))
        problem = _mask_file_problem(full)
        if problem:
            errors.add(f'{path}.mask', problem)
            return None
        return Region('mask', mask_path=full)

    # Semantic region.
    ref, classes, mode = value['segmenter'], value.get('classes'), value.get('mode', 'source')
    ok = True
    if mode not in MASK_MODES:
        errors.add(f'{path}.mode', f'must be one of {", ".join(MASK_MODES)}, got {mode!r}')
        ok = False
    if not (isinstance(classes, list) and classes and all(_is_int(c) and c >= 0 for c in classes)):
        errors.add(f'{path}.classes', f'must be a non-empty list of non-negative class ids, got {classes!r}')
        ok = False
    if not isinstance(ref, str) or not ref:
        errors.add(f'{path}.segmenter', f'must be "module:callable", "file.py:callable" or a TorchScript file, got {ref!r}')
        return None
    from linkgan_plugin.regions import resolve_segmenter_ref, SegmenterError  # Lazy: imports torch.
    try:
        ref = resolve_segmenter_ref(ref, base_dir)
    except SegmenterError as e:
        errors.add(f'{path}.segmenter', str(e))
        ok = False
    return Region('semantic', segmenter=ref, classes=classes, mode=mode) if ok else None


def _mask_file_problem(path):
    if not os.path.isfile(path):
        return f'mask file not found: {path}'
    try:
        from PIL import Image
        with Image.open(path) as img:
            img.verify()
    except Exception as e:
        return f'cannot read mask image {path}: {type(e).__name__}: {e}'
    return None


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
