"""Command-line parts shared by the commands that work on a trained network (`eval`, `edit`, `lelsd`, `compare`,
`project`, ...): the option decorators they have in common, network loading that turns every problem into a click
error naming the option, errors of a block turned into a click error naming an option (`option_errors`), a JSON
file option, and the progress bar.

Every option decorator is a factory: `@network_option()` gives the shared option; arguments replace its parameter
declarations and keyword arguments override its settings, e.g. `@network_option('--network', 'networks',
multiple=True)` or `@seeds_option(help='... Default: 0-3.')`. `@network_options()` applies --network, --upstream
and --spec in that order.
"""

import json

import numpy as np
import torch

import click

from linkgan_plugin.analysis.network_loading import (NetworkLoadError, SpecResolutionError, UPSTREAM_ENV, load_network,
                                            make_adapter, resolve_device, resolve_spec)
from linkgan_plugin.checks import SpecError, option_errors

#----------------------------------------------------------------------------
# Parameter types.

class SeedList(click.ParamType):
    """'0,3,5-7' -> [0, 3, 5, 6, 7]: ASCII digits, seeds in [0, 2^32), at most MAX_SEEDS of them (ranges are
    counted before they are expanded)."""
    name = 'seeds'
    MAX_SEEDS = 1000

    def convert(self, value, param, ctx):
        if isinstance(value, (list, tuple)):
            return list(value)
        ranges = []
        for part in str(value).split(','):
            part = part.strip()
            if not part:
                continue
            shown = repr(part if len(part) <= 40 else part[:40] + '...')
            bounds = part.split('-')
            if len(bounds) > 2 or not all(b.isascii() and b.isdigit() for b in bounds):
                self.fail(f'{shown}: expected seeds like "0,3,5-7" (digits 0-9, no signs)', param, ctx)
            if any(len(b) > 10 or int(b) >= 2 ** 32 for b in bounds):
                self.fail(f'{shown}: seeds must lie in [0, 2^32)', param, ctx)
            a, b = int(bounds[0]), int(bounds[-1])
            if b < a:
                self.fail(f'{shown}: the range runs backwards; expected seeds like "0,3,5-7"', param, ctx)
            ranges.append((a, b))
        count = sum(b - a + 1 for a, b in ranges)
        if not 1 <= count <= self.MAX_SEEDS:
            self.fail(f'{count} seeds given: need 1 to {self.MAX_SEEDS}', param, ctx)
        return [seed for a, b in ranges for seed in range(a, b + 1)]

#----------------------------------------------------------------------------
# Option decorators.

def _shared_option(decls, **settings):
    """A factory of click options with these declarations and settings (see the module docstring)."""
    def option(*param_decls, **overrides):
        return click.option(*(param_decls or decls), **{**settings, **overrides})
    option.__doc__ = f'click.option {" ".join(decls)} shared by the network commands; arguments override it.'
    return option


network_option = _shared_option(
    ('--network',), required=True, type=click.Path(dir_okay=False),
    help='Upstream network-snapshot-*.pkl (its G_ema) or a linkgan demo checkpoint.')
upstream_option = _shared_option(
    ('--upstream',), type=click.Path(file_okay=False), envvar=UPSTREAM_ENV, show_envvar=True,
    help='Upstream checkout whose dnnlib/torch_utils unpickle snapshot pickles.')
spec_option = _shared_option(
    ('--spec',), type=str, default=None,
    help='Link spec (file or inline JSON). Default: the checkpoint\'s, else training_options.json beside it.')
device_option = _shared_option(
    ('--device',), type=str, default='auto', show_default=True, help='auto, cpu, cuda or cuda:N.')
truncation_option = _shared_option(
    ('--truncation',), type=click.FloatRange(min=0.0), default=1.0, show_default=True,
    help='Truncation psi of the mapping.')
seeds_option = _shared_option(
    ('--seeds',), type=SeedList(), default=None, help=f'Seeds, e.g. "0,3,5-7" (1 to {SeedList.MAX_SEEDS}).')


def network_options():
    """--network, --upstream and --spec, listed in that order."""
    def decorate(f):
        for option in (spec_option(), upstream_option(), network_option()):   # click lists the last applied first.
            f = option(f)
        return f
    return decorate

#----------------------------------------------------------------------------
# Loading and progress.


def device_for_cli(device):
    """network_loading.resolve_device(device) as a torch.device; a click error naming --device otherwise."""
    with option_errors('--device'):
        return resolve_device(device)


def network_for_cli(path, upstream, device, camera='frontal', param_hint=None):
    """Loads one network file and its GeneratorAdapter on `device` (a torch.device); every problem becomes a click
    error: a file that does not load or a G_ema this tool does not understand names `param_hint` (a plain click
    error when None), a camera problem names --camera.

    Returns (LoadedNetwork, GeneratorAdapter).
    """
    def fail(message):
        if param_hint is None:
            raise click.ClickException(message)
        raise click.BadParameter(message, param_hint=param_hint)
    try:
        net = load_network(path, upstream=upstream)
    except NetworkLoadError as e:
        fail(str(e))
    try:
        with option_errors('--camera', NetworkLoadError):
            gen = make_adapter(net, camera=camera, device=device)
    except TypeError as e:
        fail(f'{net.path}: G_ema is not a generator this tool understands: {e}')
    return net, gen


def load_for_cli(network, upstream, spec, device, camera):
    """Loads network + spec for a command; turns every loading problem into a click error naming the option.

    Returns (LoadedNetwork, GeneratorAdapter, LinkSpec, origin, torch.device).
    """
    dev = device_for_cli(device)
    net, gen = network_for_cli(network, upstream, dev, camera=camera)
    if camera != 'frontal' and not gen.is_eg3d:
        raise click.BadParameter(f'{camera!r} only applies to EG3D networks; {net.path} is {net.flavour}', param_hint='--camera')
    try:
        spec_obj, origin = resolve_spec(net, explicit=spec, w_dim=gen.w_dim)
    except SpecResolutionError as e:
        raise click.UsageError(str(e)) from None
    except SpecError as e:
        where = '--spec' if spec is not None else f'the spec from {net.path if net.checkpoint_spec else net.training_options_path}'
        raise click.BadParameter(f'{e} (network: w_dim={gen.w_dim}, num_ws={gen.num_ws})', param_hint=where) from None
    return net, gen, spec_obj, origin, dev


def read_json_option(path, param_hint):
    """The JSON document in the UTF-8 file `path`, given by option `param_hint`; a click error naming the option
    when the file cannot be read or parsed (not UTF-8, not JSON, nested too deeply)."""
    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    except (OSError, ValueError, RecursionError) as e:
        raise click.BadParameter(f'cannot read {path}: {e}', param_hint=param_hint) from None


def progress_bar(length, label):
    """A click progress bar on stderr (stdout stays clean for the table)."""
    return click.progressbar(length=length, label=label, file=click.get_text_stream('stderr'), show_pos=True)

#----------------------------------------------------------------------------


def load_camera_file(path, batch, c_dim):
    """EG3D camera labels from .npy or .json: [c_dim] (shared) or [batch, c_dim]. Returns [batch, c_dim]."""
    try:
        if path.endswith('.json'):
            with open(path, encoding='utf-8') as f:
                arr = np.asarray(json.load(f), dtype=np.float32)
        else:
            arr = np.load(path).astype(np.float32)
    except Exception as e:
        raise click.BadParameter(f'cannot read {path}: {type(e).__name__}: {e}', param_hint='--c-file') from None
    c = torch.from_numpy(arr)
    if c.ndim == 1:
        c = c[None].repeat(batch, 1)
    if c.ndim != 2 or c.shape[1] != c_dim or c.shape[0] not in (1, batch):
        raise click.BadParameter(f'{path}: expected [{c_dim}] or [{batch}, {c_dim}] camera values, got {list(arr.shape)}',
                                 param_hint='--c-file')
    return c.expand(batch, -1).contiguous()


class NullStream:
    """A text stream that drops what is written to it (a quiet progress bar's `file`)."""

    def write(self, *_):
        pass

    def flush(self):
        pass

    def isatty(self):
        return False
