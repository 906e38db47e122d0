"""Small toy generators, an analytic generator of known linkage, toy checkpoints (the current layout and the older
one) and a `linkgan` runner shared by the tests."""

import torch
from click.testing import CliRunner

from linkgan_plugin.cli import main
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
