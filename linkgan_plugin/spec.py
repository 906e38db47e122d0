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
          {"preset": NAME} (face presets of aligned FFHQ, see regions.PRESETS_256); {"mask": "file.png"} (any size,
          resized, soft values in [0, 1]); {"segmenter": REF, "classes": [ids], "mode": one of regions.MASK_MODES}
          where REF is "pkg.module:callable", "path/file.py:callable" or a TorchScript file "path/model.pt".
          A plain string is shorthand for a preset. The region kinds live in regions.py (regions.REGION_KINDS).

Validation collects every problem and names its JSON path (`links[1].axes: 600 is out of range for w_dim=512`).
Relative file paths resolve against the spec file's directory (the working directory for inline specs).

Two declared tables drive everything else:
  OPTIONS                -- every option once (name, default, validator, help): parsing, DEFAULTS, `to_dict`,
                            `linkgan spec check --help` and the README's options table (`options_markdown`).
  regions.REGION_KINDS   -- every region kind once (BoxesRegion, PresetRegion, MaskRegion, SegmenterRegion): each
                            parses its JSON, serialises itself and (fixed kinds) rasterises itself.
Nothing a spec holds is expanded in memory before it is checked against the limits below.
"""

import copy
import json
import os
import re
from dataclasses import dataclass
from typing import Any, Callable

from linkgan_plugin.checks import (
    Boolean, checked_value, Choice, file_kind, file_problem, Integer, is_int, is_number, key_path, MAX_NAME,
    MAX_SPEC_BYTES, MAX_W_DIM, Number, OrNone, Problems, short_repr, short_text, SpecError, Subset)
from linkgan_plugin.regions import parse_region

#----------------------------------------------------------------------------
# The options: declared once (method.md sec. 2).

ALPHA_MODES = ('absolute', 'w_std')
PERTURBATIONS = ('noise', 'resample')
REDUCTIONS = ('mean', 'sum')
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
    Option('grad_ratio', None, OrNone(Number(positive=True)),
           'adaptive weight (VQGAN\'s, applied to the link term): at every link step the term is scaled so that its '
           'gradient norm on G (with the `interval` gain) is this many times the adversarial term\'s; `null`: '
           'the lambdas as given (the paper). Costs two extra backward passes per link step'),
    Option('log_grad_ratio', False, Boolean(),
           'measure and log that ratio (`Loss/link/grad_ratio`, and the cosine of the two gradients) without '
           'adapting the weight: how to calibrate a fixed lambda'),
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
        """Raises SpecError when a box is narrower or shorter than one pixel at `resolution`, or a region's mask is
        unusable there (a binary region holding no pixel centre, or every one)."""
        errors = Problems()
        for i, link in enumerate(self.links):
            for j, (x0, y0, x1, y1) in enumerate(link.region.boxes or []):
                if (x1 - x0) * resolution < 1 or (y1 - y0) * resolution < 1:
                    errors.add(f'links[{i}].region', f'box {j} is smaller than one pixel at resolution {resolution}')
            problem = link.region.pixel_problem(resolution, resolution)
            if problem:
                errors.add(f'links[{i}].region' + ('.binary' if link.region.binary else ''), problem)
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
