"""Small toy generators, analytic generators of known linkage, toy checkpoints (the current layout and the older
one), the analytic linked / control pair `linkgan view`'s tests load, and a `linkgan` runner shared by the tests."""

import os

import torch
from PIL import Image
import torch.nn.functional as F
from click.testing import CliRunner

from linkgan_plugin.cli import main
from linkgan_plugin.demo.settings import BUILTIN_SPEC
from linkgan_plugin.spec import load_spec
from linkgan_plugin.toy.checkpoint import save_checkpoint
from linkgan_plugin.toy.networks import make_toy_networks

SMALL = dict(z_dim=8, w_dim=32, img_resolution=16, channels=8, mapping_layers=2)


def cli(*args):
    """(exit code, output) of `linkgan ARGS`, after checking that no exception or traceback escaped."""
    res = CliRunner().invoke(main, [str(a) for a in args])
    assert res.exception is None or isinstance(res.exception, SystemExit), (res.output, res.exc_info)
    assert 'Traceback' not in res.output
    return res.exit_code, res.output


def recording(synthesize, keep=lambda ws: ws):
    """A spy on a synthesis: (seen, wrapped); wrapped(ws, **kwargs) appends a copy of keep(ws) to the list `seen`,
    then returns synthesize(ws, **kwargs)."""
    seen = []

    def wrapped(ws, **kwargs):
        seen.append(keep(ws).clone())
        return synthesize(ws, **kwargs)
    return seen, wrapped


class AnalyticG(torch.nn.Module):
    """A generator whose linkage is known by construction (upstream-shaped: mapping, synthesis, z_dim, ...).

    w = z (times the truncation psi), repeated over num_ws = 2 rows; u sums w's `linked` axes and v the others. The
    image, `channels` copies of one [resolution, resolution] plane, is f(u + eps * v) in the left half of the columns
    (the box [0, 0, 0.5, 1]) and keep * f(v + eps * u) in the right half, with f(t) = tanh(scale * t) (f(t) = t when
    scale is None). eps = 0 is a perfect linkage; keep = 0 is a generator whose non-linked axes do nothing.
    """

    def __init__(self, linked=(0, 1), w_dim=4, resolution=8, channels=3, eps=0.0, scale=None, keep=1.0):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = w_dim, 0, w_dim, 2
        self.img_resolution, self.img_channels = resolution, channels
        self.eps, self.scale, self.keep = eps, scale, keep
        m = torch.zeros(w_dim)
        m[list(linked)] = 1
        self.register_buffer('axis_mask', m)
        mask = torch.zeros(resolution, resolution)
        mask[:, :resolution // 2] = 1
        self.register_buffer('mask', mask)

    def mapping(self, z, c, truncation_psi=1, truncation_cutoff=None, **_):
        return (z * truncation_psi)[:, None].repeat(1, self.num_ws, 1)

    def synthesis(self, ws, noise_mode='const', **_):
        w = ws[:, 0]
        u = (w * self.axis_mask).sum(dim=1)[:, None, None, None]
        v = (w * (1 - self.axis_mask)).sum(dim=1)[:, None, None, None]
        f = (lambda t: (t * self.scale).tanh()) if self.scale is not None else (lambda t: t)
        img = self.mask * f(u + self.eps * v) + (1 - self.mask) * self.keep * f(v + self.eps * u)
        return img.expand(-1, self.img_channels, -1, -1).contiguous()


def save_demo_checkpoint(path, G, flavour, spec):
    """A toy checkpoint of G trained with `spec` (dict or None), in the one layout every writer uses
    (toy.checkpoint.save_checkpoint)."""
    save_checkpoint(path, G, flavour, spec)


def save_format1_checkpoint(path, G, flavour, spec):
    """The demo's older checkpoint layout (format 1), which pickled the G_ema module beside its state: loading
    checkpoints already written this way must keep working."""
    torch.save({'format': 1, 'G_ema': G, 'G_ema_state': G.state_dict(), 'G_init_kwargs': dict(G.init_kwargs),
                'flavour': flavour, 'spec': spec}, path)


def toy_G(flavour='sg2ada', seed=0, frozen=True):
    """A SMALL toy G of `flavour` in eval mode, its weights drawn from `seed`; frozen: requires_grad off (the
    loading tests keep it on, to see that the loader turns it off)."""
    torch.manual_seed(seed)
    return make_toy_networks(flavour, **SMALL)[0].eval().requires_grad_(not frozen)


#----------------------------------------------------------------------------
# A generator linked to the boxes of a spec by construction, and the linked / control pair of `linkgan view`'s tests.

def axis_owners(spec, w_dim, resolution):
    """Which pixels each W axis may change: bool [w_dim, resolution, resolution].

    An axis of a link owns the pixels its box covers at all (regions: rasterise > 0; an axis in several links owns
    all their boxes); the spec's free axes (in no link) own the pixels that no box covers. ValueError for a spec with
    a semantic region (its pixels depend on the image).
    """
    links = load_spec(spec, w_dim=w_dim).links
    owners = torch.zeros(w_dim, resolution, resolution, dtype=torch.bool)
    covered = torch.zeros(resolution, resolution, dtype=torch.bool)
    for link in links:
        if not link.region.is_fixed:
            raise ValueError(f'link {link.name!r}: BoxLinkedG needs fixed regions (boxes), not semantic ones')
        box = link.region.rasterise(resolution, resolution) > 0
        owners[link.axes] |= box
        covered |= box
    free = sorted(set(range(w_dim)) - {a for link in links for a in link.axes})
    owners[free] = ~covered
    return owners


def unit_patterns(patterns, keep):
    """patterns [w_dim, C, H, W] zeroed where keep [w_dim, 1, H, W] is False, then scaled so that at every pixel and
    channel the sum over the axes of their squares is 1 (0 where no axis is kept)."""
    kept = patterns * keep
    return kept / kept.norm(dim=0, keepdim=True).clamp_min(1e-12)


class BoxLinkedG(torch.nn.Module):
    """An upstream-shaped generator (z_dim, w_dim, c_dim 0, num_ws, img_resolution, img_channels, mapping,
    synthesis) whose linkage to the boxes of a spec is known by construction.

    mapping: w = truncation_psi * z (z_dim = w_dim; w_avg = 0), the same on all num_ws rows. synthesis: images
    [N, channels, resolution, resolution] in [-1, 1], tanh(sum_k w_k * D_k) with w the mean of the ws rows and
    D [w_dim, channels, resolution, resolution] smooth random patterns (drawn from `seed`: bilinear enlargements of
    [detail, detail] normal noise). D_k is nonzero only on the pixels axis k owns (axis_owners: a link's axes its box,
    the free axes the pixels no box covers), scaled so every pixel's pre-activation has unit variance for z ~ N(0, I).
    eps = 0 is a perfect linkage: a link's axes change nothing outside its box. eps > 0 adds eps times a second such
    pattern on the pixels an axis does not own (cross-talk: a control network's leakage); the first pattern is the
    same for every eps, so networks of one seed differ only by their cross-talk.
    """

    def __init__(self, spec, w_dim=64, resolution=32, channels=3, eps=0.0, seed=0, num_ws=4, detail=8):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = w_dim, 0, w_dim, num_ws
        self.img_resolution, self.img_channels, self.eps = resolution, channels, eps
        owners = axis_owners(spec, w_dim, resolution)[:, None]
        rng = torch.Generator().manual_seed(seed)
        own, cross = (F.interpolate(torch.randn(w_dim, channels, detail, detail, generator=rng),
                                    size=(resolution, resolution), mode='bilinear', align_corners=False)
                      for _ in range(2))
        self.register_buffer('patterns', unit_patterns(own, owners) + eps * unit_patterns(cross, ~owners))

    def mapping(self, z, c, truncation_psi=1, truncation_cutoff=None, **_):
        return (z * truncation_psi)[:, None].repeat(1, self.num_ws, 1)

    def synthesis(self, ws, noise_mode='const', **_):
        return torch.einsum('nk,kchw->nchw', ws.mean(dim=1), self.patterns).tanh()


VIEW_PAIR_NAMES = ('analytic-linked', 'analytic-control')
CONTROL_EPS = 0.5


def write_view_pair(directory, seed=0):
    """The linked network and its control that `linkgan view`'s tests (and examples/view_screenshot.py) load:
    [linked path, control path], DIRECTORY/analytic-linked.pt and DIRECTORY/analytic-control.pt.

    Both are BoxLinkedG of the demo's BUILTIN_SPEC (top_left: axes 0-15, bottom_right: axes 16-31, of w_dim 64) at
    32 px with the same patterns (`seed`): the linked one with eps 0, stored with the spec ('linked': True); the
    control with CONTROL_EPS cross-talk and no spec of its own ('spec': None, 'linked': False: a view takes the
    linked network's). The files are torch.save'd dicts holding the pickled module as 'G_ema' (network_loading
    reads them with its pickle warning); they unpickle where this module imports as `toy_checkpoints`.
    """
    os.makedirs(directory, exist_ok=True)
    paths = [os.path.join(str(directory), f'{name}.pt') for name in VIEW_PAIR_NAMES]
    for path, eps, spec in zip(paths, (0.0, CONTROL_EPS), (BUILTIN_SPEC, None)):
        G = BoxLinkedG(BUILTIN_SPEC, eps=eps, seed=seed).eval()
        torch.save({'G_ema': G, 'flavour': 'sg2ada', 'spec': spec, 'linked': spec is not None}, path)
    return paths


def read_image(path_or_file):
    """A PIL image read whole and its file closed (Image.open alone leaves the file open until the image is loaded)."""
    with Image.open(path_or_file) as img:
        img.load()
        return img.copy()


def read_text(path, mode='r'):
    """The whole content of the file `path` (text as UTF-8, or bytes with mode 'rb'), the file closed."""
    with open(path, mode, **({} if 'b' in mode else {'encoding': 'utf-8'})) as f:
        return f.read()
