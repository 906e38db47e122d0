"""What `linkgan view` shows: generators side by side, one view state, and its render (no HTTP here).

A view state (ViewState, the JSON the page sends) names one sample and the edits applied to it:

    seed            the sample: z = np.random.RandomState(seed).randn(1, z_dim) (upstream's convention), w = G.mapping(z)
    link            the link whose axes move (its name in the spec)
    linked          t in [0, 1]: the link's axes lerp from the sample's own (t = 0) to those of `linked_target`'s w
    linked_target   the seed whose w gives the linked axes' target (the page's "resample linked axes" draws a new one)
    other           t in [0, 1]: every other axis lerps from the sample's own to those of `other_target`'s w
    other_target    the seed whose w gives the other axes' target
    directions      one strength per direction slider (`linkgan directions` files, units of D: 1 moves
                    a code as far as resampling it), in [-DIRECTION_RANGE, DIRECTION_RANGE]
    yaw             EG3D: the rendering camera's yaw in radians, in [-YAW_RANGE, YAW_RANGE] (0 = frontal; the
                    mapping keeps the frontal camera)
    heat_max        the heatmap's top in mean |change| units (images in [-1, 1]); null: the largest value shown

Every network maps the same seeds with its own mapping network, so side by side the samples differ but the edit is
the same recipe: with offsets d (metrics.resample_offsets: the link's axes of every ws row set to the target's),

    ws_edit = ws + linked * d_link + other * d_other + sum_k strength_k * u_k

For each network, the unedited sample and the edit are rendered with the one render primitive (render_variants via
edit.render_edits: random numbers replayed, so EG3D's ray jitter cancels), inside a forked RNG seeded with
RENDER_SEED so one state always gives the same pixels. Shown per network:

    image       the edited image [H, W, 3] with the region outlined (red), enlarged to the tile (nearest)
    heat        per pixel |x_edit - x| averaged over channels, one colour scale (heat_max) for every network (cyan outline)
    change_in   mean squared change per region pixel inside the region (edit.change_per_pixel, metrics.region_change)
    change_out  the same outside the region
    depth       EG3D: the edited depth (near = bright)

Directions apply to the network they were found on (the file's network hash), else to every network whose
w_dim / num_ws fit (with a note). `ViewSession` is not thread-safe: the server renders one state at a time.
"""

import base64
import io
import json
import math
import os
import re
import time
from dataclasses import dataclass, field

import torch
from PIL import Image, ImageDraw

from linkgan_plugin.analysis.metrics import resample_offsets
from linkgan_plugin.analysis.network_loading import SpecResolutionError, file_sha256, resolve_spec
from linkgan_plugin.analysis.pictures import (CYAN, RED, default_tile, depth_to_uint8, heat_colors, mask_edge,
                                             mean_abs_change, stack_horizontal, stack_vertical, tile_image, to_rgb_uint8)
from linkgan_plugin.checks import SpecError, short_repr
from linkgan_plugin.editing import directions_file
from linkgan_plugin.editing.edit import change_per_pixel, drawing_masks, region_masks, render_edits, seed_latents
from linkgan_plugin.editing.lelsd import edit_ws, network_hash
from linkgan_plugin.editing.project import save_codes
from linkgan_plugin.regularizer import BoundSpec
from linkgan_plugin.spec import load_spec
from linkgan_plugin.upstream.cameras import yaw_cameras

MAX_SEED = 2 ** 32 - 1          # Seeds: [0, 2^32), as `--seeds` takes them.
DIRECTION_RANGE = 2.0           # Direction sliders: strengths in [-2, 2] (units of D).
YAW_RANGE = 0.5                 # EG3D camera yaw slider: [-0.5, 0.5] radians.
RENDER_SEED = 0                 # The RNG state every render starts from (forked: the process's RNG is untouched).
MAX_NETWORKS = 4
TILE_CAPTIONS = {'original': 'unedited', 'image': 'edited', 'heat': '|change|', 'depth': 'depth (edited)'}
STATE_KEYS = ('seed', 'link', 'linked', 'linked_target', 'other', 'other_target', 'directions', 'yaw', 'heat_max')

#----------------------------------------------------------------------------
# Errors and the state.

class ViewRequestError(ValueError):
    """A view state the session cannot render; the message names the field (the server answers HTTP 400)."""


@dataclass(frozen=True)
class ViewState:
    """One view (the module docstring says what each field means)."""
    seed: int = 0
    link: str = ''
    linked: float = 0.0
    linked_target: int = 1
    other: float = 0.0
    other_target: int = 2
    directions: tuple = ()
    yaw: float = 0.0
    heat_max: float = None

    def to_dict(self):
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}

#----------------------------------------------------------------------------
# Networks, spec, directions.

@dataclass
class ViewNetwork:
    """One generator of the view.

    name:  short unique name (the file's stem), used in the API and in saved file names.
    label: what the page shows (name and role: linked, control, ...).
    net:   LoadedNetwork; gen: its GeneratorAdapter (on the device it renders on); bound: BoundSpec of the view's spec.
    tile:  size of its pictures in pixels (pictures.default_tile: 128-256, small networks enlarged with nearest).
    """
    name: str
    label: str
    net: object
    gen: object
    bound: object
    tile: int
    _mapped: dict = field(default_factory=dict, repr=False)

    @property
    def is_eg3d(self):
        return self.gen.is_eg3d


@dataclass
class ViewDirection:
    """One direction slider: vector [w_dim] (W) or [num_ws, w_dim] (W+, applied on `rows`), the names of the
    networks it applies to, and a label such as 'LELSD dirs.npz #0'."""
    label: str
    vector: torch.Tensor
    rows: object
    networks: tuple


def network_names(paths):
    """Short unique names for network files: their stems ('linked', 'control'), made unique with '-2', '-3', ...;
    characters other than letters, digits, '.', '_' and '-' become '_' (the names go into file names)."""
    names = []
    for path in paths:
        stem = re.sub(r'[^A-Za-z0-9._-]', '_', os.path.splitext(os.path.basename(str(path)))[0]) or 'network'
        name, k = stem, 2
        while name in names:
            name, k = f'{stem}-{k}', k + 1
        names.append(name)
    return names


def network_label(name, net):
    """'name (linked)' / 'name (control)' / 'name (unlinked)' from what the checkpoint records, else the name."""
    role = net.info.get('role') if isinstance(net.info.get('role'), str) else None
    if role is None and isinstance(net.info.get('linked'), bool):
        role = 'linked' if net.info['linked'] else 'unlinked'
    return f'{name} ({role})' if role else name


def resolve_view_spec(entries, explicit=None):
    """The one link spec of a view, and where it came from.

    Args:
        entries:  [(name, LoadedNetwork, GeneratorAdapter)] in the order given.
        explicit: --spec (file, inline JSON or dict), or None.
    Order: `explicit`; else the first network whose spec resolves (network_loading.resolve_spec: its checkpoint's,
    training_options.json, a demo control's eval_spec): a control without one takes the linked network's.
    Returns:
        (LinkSpec, origin text, notes: [warning strings]).
    Raises:
        SpecResolutionError when no network has a spec and none is given; SpecError (its first line names the
        network) when the spec does not fit a network's w_dim or resolution, or is invalid.
    """
    notes, spec, origin = [], None, None
    if explicit is not None:
        name, net, gen = entries[0]
        spec, _ = resolve_spec(net, explicit=explicit, w_dim=gen.w_dim)
        origin = '--spec'
    else:
        for name, net, gen in entries:
            try:
                found, where = resolve_spec(net, w_dim=gen.w_dim)
            except SpecResolutionError:
                continue
            if spec is None:
                spec, origin = found, f'{where} of {name}'
            elif found.to_dict() != spec.to_dict():
                notes.append(f'{name} records another spec ({where}); the view uses the spec from {origin}')
        if spec is None:
            raise SpecResolutionError('no link spec: none of the networks records one; pass --spec FILE')
    for name, net, gen in entries:
        try:
            load_spec(spec, w_dim=gen.w_dim, resolution=gen.img_resolution)
        except SpecError as e:
            raise SpecError([f'the spec from {origin} does not fit network {name} (w_dim={gen.w_dim}, resolution '
                             f'{gen.img_resolution})'] + e.errors) from None
    return spec, origin, notes


def view_directions(path, networks):
    """Direction sliders of one `linkgan directions` file (every direction it holds).

    A file recording the network it was found on applies to the view's networks with that hash; otherwise (or when
    none has it) to every network whose w_dim / num_ws fit, with a note.
    Returns:
        ([ViewDirection], notes).
    Raises:
        ValueError naming the file (unreadable, a StyleSpace channel file, fits no network).
    """
    results, errors = {}, []
    for vn in networks:
        try:
            results[vn.name] = directions_file.load(path, vn.gen, kind='directions')
        except ValueError as e:
            errors.append(e)
    if not results:
        raise errors[0]
    result = next(iter(results.values()))
    hashes = {vn.name: network_hash(vn.gen.G) for vn in networks if vn.name in results and result.network_hash}
    found_on = [name for name, h in hashes.items() if h == result.network_hash]
    notes = []
    if not found_on:
        found_on = list(results)
        notes.append(f'{path} was found on another network ({result.network_path or result.network_hash or "unknown"}): '
                     f'its directions apply to {", ".join(found_on)}')
    method = {'lelsd': 'LELSD', 'resefa': 'ReSeFa'}.get(result.settings.get('method', 'lelsd'), 'direction')
    rows = None if result.rows is None else result.row_mask()
    directions = [ViewDirection(f'{method} {os.path.basename(path)} #{k}', result.direction(k), rows, tuple(found_on))
                  for k in range(result.num_directions)]
    return directions, notes

#----------------------------------------------------------------------------
# The session.

class ViewSession:
    """Networks, the view's spec and its direction sliders; renders view states.

        session = ViewSession(networks, spec)
        state   = session.parse_state({'seed': 3, 'link': 'top_left', 'linked': 0.5})
        view    = session.render(state)          # {'networks': [{'image': PIL, 'heat': PIL, 'change_in': ...}], ...}
        session.payload(view)                    # JSON-ready, pictures as data: URLs of PNGs
    """

    def __init__(self, networks, spec, spec_origin='', truncation=1.0, directions=(), default_seed=0,
                 default_link=None, notes=()):
        if not 1 <= len(networks) <= MAX_NETWORKS:
            raise ValueError(f'a view shows 1 to {MAX_NETWORKS} networks, got {len(networks)}')
        self.networks = list(networks)
        self.spec = spec
        self.spec_origin = spec_origin
        self.truncation = float(truncation)
        self.directions = list(directions)
        self.default_seed = int(default_seed)
        self.default_link = default_link or spec.names[0]
        if self.default_link not in spec.names:
            raise ValueError(f'unknown link {short_repr(self.default_link)} (the spec has: {", ".join(spec.names)})')
        self.notes = list(notes)
        self.has_eg3d = any(vn.is_eg3d for vn in self.networks)

    @classmethod
    def from_loaded(cls, entries, spec, **kwargs):
        """A session of [(name, LoadedNetwork, GeneratorAdapter)] and a LinkSpec that fits them."""
        networks = [ViewNetwork(name, network_label(name, net), net, gen, BoundSpec(spec, gen.w_dim),
                                default_tile(gen.img_resolution)) for name, net, gen in entries]
        return cls(networks, spec, **kwargs)

    def info(self):
        """What the page needs to build its controls (GET /api/info)."""
        links = []
        for link in self.spec.links:
            axes = link.to_dict()['axes']
            links.append({'name': link.name, 'axes': axes if isinstance(axes, str) else f'{len(link.axes)} listed',
                          'num_axes': len(link.axes), 'region': link.to_dict()['region']})
        return {'networks': [{'name': vn.name, 'label': vn.label, 'path': vn.net.path, 'flavour': vn.net.flavour,
                              'resolution': vn.gen.img_resolution, 'w_dim': vn.gen.w_dim, 'num_ws': vn.gen.num_ws,
                              'tile': vn.tile, 'eg3d': vn.is_eg3d, 'device': str(vn.gen.device)} for vn in self.networks],
                'links': links, 'spec_origin': self.spec_origin, 'truncation': self.truncation,
                'directions': [{'label': d.label, 'networks': list(d.networks)} for d in self.directions],
                'eg3d': self.has_eg3d, 'ranges': {'seed': [0, MAX_SEED], 'direction': [-DIRECTION_RANGE, DIRECTION_RANGE],
                                                  'yaw': [-YAW_RANGE, YAW_RANGE]},
                'state': self.default_state().to_dict(), 'notes': self.notes}

    def default_state(self):
        s = self.default_seed
        return ViewState(seed=s, link=self.default_link, linked_target=(s + 1) % (MAX_SEED + 1),
                         other_target=(s + 2) % (MAX_SEED + 1), directions=(0.0,) * len(self.directions))

    #------------------------------------------------------------------------
    # Parsing a request.

    def parse_state(self, data):
        """A ViewState from the page's JSON object (missing fields take the defaults; the targets default to
        seed + 1 and seed + 2).

        Raises:
            ViewRequestError naming the field: unknown fields, wrong types, values out of range, an unknown link,
            a wrong number of direction strengths, a yaw without an EG3D network.
        """
        if not isinstance(data, dict):
            raise ViewRequestError(f'expected a JSON object with the view state, got {type(data).__name__}')
        unknown = sorted(set(data) - set(STATE_KEYS))
        if unknown:
            raise ViewRequestError(f'unknown field {short_repr(unknown[0])} (fields: {", ".join(STATE_KEYS)})')
        d = self.default_state()
        link = data.get('link', d.link)
        if not isinstance(link, str) or link not in self.spec.names:
            raise ViewRequestError(f'link: unknown link {short_repr(link)} (the spec has: {", ".join(self.spec.names)})')
        strengths = data.get('directions', list(d.directions))
        if not isinstance(strengths, list) or len(strengths) != len(self.directions):
            raise ViewRequestError(f'directions: expected a list of {len(self.directions)} strength(s), got '
                                   f'{short_repr(strengths)}')
        strengths = tuple(_number(f'directions[{k}]', v, -DIRECTION_RANGE, DIRECTION_RANGE) for k, v in enumerate(strengths))
        yaw = _number('yaw', data.get('yaw', 0.0), -YAW_RANGE, YAW_RANGE)
        if yaw and not self.has_eg3d:
            raise ViewRequestError('yaw: only EG3D networks have a camera; none of the networks is EG3D')
        heat_max = data.get('heat_max')
        heat_max = None if heat_max is None else _number('heat_max', heat_max, 0.0, math.inf, low_open=True)
        seed = _seed('seed', data.get('seed', d.seed))
        return ViewState(seed=seed, link=link,
                         linked=_number('linked', data.get('linked', 0.0), 0.0, 1.0),
                         linked_target=_seed('linked_target', data.get('linked_target', (seed + 1) % (MAX_SEED + 1))),
                         other=_number('other', data.get('other', 0.0), 0.0, 1.0),
                         other_target=_seed('other_target', data.get('other_target', (seed + 2) % (MAX_SEED + 1))),
                         directions=strengths, yaw=yaw, heat_max=heat_max)

    #------------------------------------------------------------------------
    # Codes and renders.

    def mapped(self, vn, seed):
        """w of `seed` on network vn: [1, num_ws, w_dim] (the mapping's labels: gen.default_c; cached)."""
        if seed not in vn._mapped:
            if len(vn._mapped) >= 64:
                vn._mapped.pop(next(iter(vn._mapped)))
            gen = vn.gen
            z = seed_latents([seed], gen.z_dim).to(gen.device)
            vn._mapped[seed] = gen.map(z, gen.default_c(1), self.truncation)
        return vn._mapped[seed]

    @torch.no_grad()
    def codes(self, vn, state):
        """(ws [1, num_ws, w_dim], ws_edit [1, num_ws, w_dim], c [1, c_dim]: the rendering labels) of a state."""
        link_index = self.spec.names.index(state.link)
        ws = self.mapped(vn, state.seed)
        offset = torch.zeros_like(ws)
        if state.linked:
            offset += state.linked * resample_offsets(ws, self.mapped(vn, state.linked_target), vn.bound)[:, link_index]
        if state.other:
            ws_other = self.mapped(vn, state.other_target)
            d_link = resample_offsets(ws, ws_other, vn.bound)[:, link_index]
            offset += state.other * (ws_other[:, :1] - ws - d_link)
        for direction, strength in zip(self.directions, state.directions):
            if strength and vn.name in direction.networks:
                rows = None if direction.rows is None else direction.rows.to(ws.device)
                offset += edit_ws(ws, direction.vector.to(ws.device), strength, rows) - ws
        c = yaw_cameras(state.yaw, ws.device) if vn.is_eg3d else vn.gen.default_c(1)
        return ws, ws + offset, c

    def render(self, state):
        """Renders one state on every network.

        Returns:
            {'networks': [{'name', 'image', 'heat', 'original', 'depth' (EG3D, else None): PIL tiles,
                           'change_in', 'change_out': floats}],
             'heat_max': the heatmaps' shared top (mean |change|), 'seconds': wall time of the render}
        """
        start = time.perf_counter()
        parts = []
        for vn in self.networks:
            ws, ws_edit, c = self.codes(vn, state)
            with _replayed_rng(ws.device):
                renders = render_edits(vn.gen, ws, [ws_edit - ws], [], c)
            x, x_edit = renders['original'], renders['linked'][0]
            link_index = self.spec.names.index(state.link)
            masks = region_masks(vn.bound, link_index, x['image'])                     # [1, H, W]
            edge = mask_edge(drawing_masks(vn.bound, link_index, masks, vn.tile)[0], vn.tile)
            change_in, change_out = change_per_pixel(x['image'], [x_edit['image']], masks)
            parts.append((vn, x, x_edit, edge, float(change_in[0]), float(change_out[0]),
                          mean_abs_change(x['image'], [x_edit['image']])))
        heat_max = state.heat_max or max(float(p[-1].max()) for p in parts)
        out = []
        for vn, x, x_edit, edge, change_in, change_out, heat in parts:
            entry = {'name': vn.name, 'label': vn.label, 'change_in': change_in, 'change_out': change_out,
                     'original': tile_image(to_rgb_uint8(x['image'])[0], vn.tile, edge, RED),
                     'image': tile_image(to_rgb_uint8(x_edit['image'])[0], vn.tile, edge, RED),
                     'heat': tile_image(heat_colors(heat, [heat_max])[0], vn.tile, edge, CYAN), 'depth': None}
            if 'image_depth' in x_edit:
                both = torch.cat([x['image_depth'], x_edit['image_depth']])
                entry['depth'] = tile_image(depth_to_uint8(x_edit['image_depth'], float(both.min()), float(both.max()))[0],
                                            vn.tile, edge, RED)
            out.append(entry)
        return {'networks': out, 'heat_max': heat_max, 'seconds': time.perf_counter() - start}

    def payload(self, view):
        """The JSON answer of a render: pictures as 'data:image/png;base64,...' URLs, numbers as floats."""
        nets = []
        for entry in view['networks']:
            nets.append({k: (png_data_url(v) if k in ('original', 'image', 'heat', 'depth') and v is not None else v)
                         for k, v in entry.items()})
        return {'networks': nets, 'heat_max': view['heat_max'], 'render_ms': 1000 * view['seconds']}

    #------------------------------------------------------------------------
    # Saving.

    def picture(self, view, state):
        """The view as one PIL image: per network its label, the unedited | edited | |change| (| depth) tiles and the
        numbers, networks left to right, a title line above."""
        blocks = []
        for entry in view['networks']:
            keys = [k for k in ('original', 'image', 'heat', 'depth') if entry[k] is not None]
            tiles = stack_horizontal([entry[k] for k in keys], pad=4)
            text = Image.new('RGB', (tiles.width, 44), (255, 255, 255))
            draw = ImageDraw.Draw(text)
            draw.text((2, 2), entry['label'], fill=(0, 0, 0))
            draw.text((2, 16), f'change per region pixel: in {entry["change_in"]:.4f}  out {entry["change_out"]:.4f}',
                      fill=(0, 0, 0))
            for j, key in enumerate(keys):
                draw.text((2 + j * (entry[key].width + 4), 30), TILE_CAPTIONS[key], fill=(90, 90, 90))
            blocks.append(stack_vertical([text, tiles], pad=2))
        body = stack_horizontal(blocks, pad=16)
        title = Image.new('RGB', (body.width, 16), (255, 255, 255))
        ImageDraw.Draw(title).text((2, 2), self.describe(state) + f'; heat max {view["heat_max"]:.3g}', fill=(0, 0, 0))
        return stack_vertical([title, body], pad=4)

    def describe(self, state):
        """One line: seed, link and the edits of a state."""
        parts = [f'seed {state.seed}', f'link {state.link}', f'linked {state.linked:g} -> seed {state.linked_target}',
                 f'other {state.other:g} -> seed {state.other_target}']
        parts += [f'{d.label} {s:g}' for d, s in zip(self.directions, state.directions) if s]
        if state.yaw:
            parts.append(f'yaw {state.yaw:g}')
        return '; '.join(parts)

    def save(self, state, out_dir):
        """Writes the view of `state` into out_dir: view-NNN.png (the picture), view-NNN-<network>.npz (the edited
        codes, the codes file `linkgan edit --ws` reads: editing.project.save_codes), view-NNN.json (the state and
        the numbers). NNN is the first number not used yet.

        Returns:
            {'png': path, 'codes': {network: path}, 'json': path}.
        """
        view = self.render(state)
        os.makedirs(out_dir, exist_ok=True)
        k = 0
        while any(name.startswith(f'view-{k:03d}') for name in os.listdir(out_dir)):
            k += 1
        stem = os.path.join(out_dir, f'view-{k:03d}')
        self.picture(view, state).save(stem + '.png')
        codes = {}
        for vn in self.networks:
            _, ws_edit, c = self.codes(vn, state)
            ws_edit = ws_edit.float().cpu()
            space = 'w' if bool((ws_edit == ws_edit[:, :1]).all()) else 'wplus'
            result = {'ws': ws_edit, 'psnr': torch.full([1], math.nan), 'c': c.float().cpu()}
            codes[vn.name] = f'{stem}-{vn.name}.npz'
            save_codes(codes[vn.name], result, vn.net.path, file_sha256(vn.net.path), [self.describe(state)], space,
                       has_c=vn.gen.c_dim > 0)
        numbers = {e['name']: {'change_in': e['change_in'], 'change_out': e['change_out']} for e in view['networks']}
        with open(stem + '.json', 'w', encoding='utf-8') as f:
            json.dump({'state': state.to_dict(), 'description': self.describe(state), 'numbers': numbers,
                       'heat_max': view['heat_max'], 'spec': self.spec.to_dict(), 'spec_origin': self.spec_origin,
                       'truncation': self.truncation, 'networks': {vn.name: vn.net.path for vn in self.networks},
                       'png': os.path.abspath(stem + '.png'), 'codes': {n: os.path.abspath(p) for n, p in codes.items()}},
                      f, indent=2)
        return {'png': os.path.abspath(stem + '.png'), 'codes': {n: os.path.abspath(p) for n, p in codes.items()},
                'json': os.path.abspath(stem + '.json')}

#----------------------------------------------------------------------------
# Helpers.

class _replayed_rng:
    """A forked RNG (CPU and the render's CUDA device) seeded with RENDER_SEED: a state renders the same pixels on
    every request, and the process's own random numbers are left as they were."""

    def __init__(self, device):
        self.device = torch.device(device)
        devices = [self.device] if self.device.type == 'cuda' else []
        self.fork = torch.random.fork_rng(devices=devices)

    def __enter__(self):
        self.fork.__enter__()
        torch.default_generator.manual_seed(RENDER_SEED)
        if self.device.type == 'cuda':
            with torch.cuda.device(self.device):
                torch.cuda.manual_seed(RENDER_SEED)
        return self

    def __exit__(self, *exc):
        return self.fork.__exit__(*exc)


def png_data_url(image):
    """A PIL image as 'data:image/png;base64,...' (fast compression: the pictures are small)."""
    buf = io.BytesIO()
    image.save(buf, format='PNG', compress_level=1)
    return 'data:image/png;base64,' + base64.b64encode(buf.getvalue()).decode('ascii')


def _number(name, value, low, high, low_open=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ViewRequestError(f'{name}: expected a finite number, got {short_repr(value)}')
    if value < low or value > high or (low_open and value == low):
        bounds = f'{"(" if low_open else "["}{low:g}, {high:g}]'
        raise ViewRequestError(f'{name}: {value:g} is outside {bounds}')
    return float(value)


def _seed(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEED:
        raise ViewRequestError(f'{name}: expected a seed, an integer in [0, 2^32), got {short_repr(value)}')
    return value

#----------------------------------------------------------------------------
