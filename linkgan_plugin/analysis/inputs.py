"""What the network commands' options name, loaded: the device, a network with its generator adapter, the link
spec that goes with it, a JSON file, EG3D camera labels. Every problem is raised as the project's own error naming
the option (`OptionError`, `UsageProblem`, `LinkganError`), so the command layer turns it into a click error and a
Python caller gets a ValueError that says which argument to mend.
"""

import json

import numpy as np
import torch

from linkgan_plugin.analysis.network_loading import (load_network, make_adapter, NetworkLoadError, resolve_device,
                                                     resolve_spec, SpecResolutionError)
from linkgan_plugin.checks import LinkganError, option_errors, OptionError, SpecError, UsageProblem

#----------------------------------------------------------------------------

def device_from_option(device):
    """network_loading.resolve_device(device) as a torch.device; OptionError naming --device otherwise."""
    with option_errors('--device'):
        return resolve_device(device)


def network_from_option(path, upstream, device, camera='frontal', option=None):
    """Loads one network file and its GeneratorAdapter on `device` (a torch.device). A file that does not load, or
    a G_ema this tool does not understand, raises OptionError naming `option` (LinkganError when None); a camera
    problem names --camera.

    Returns (LoadedNetwork, GeneratorAdapter).
    """
    def fail(message):
        raise LinkganError(message) if option is None else OptionError(option, message)
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


def network_and_spec_from_options(network, upstream, spec, device, camera):
    """Loads --network and the link spec that goes with it (--spec, else the network's own): every problem names
    its option.

    Returns (LoadedNetwork, GeneratorAdapter, LinkSpec, origin, torch.device).
    """
    dev = device_from_option(device)
    net, gen = network_from_option(network, upstream, dev, camera=camera)
    if camera != 'frontal' and not gen.is_eg3d:
        raise OptionError('--camera', f'{camera!r} only applies to EG3D networks; {net.path} is {net.flavour}')
    try:
        spec_obj, origin = resolve_spec(net, explicit=spec, w_dim=gen.w_dim)
    except SpecResolutionError as e:
        raise UsageProblem(str(e)) from None
    except SpecError as e:
        where = '--spec' if spec is not None else f'the spec from {net.path if net.checkpoint_spec else net.training_options_path}'
        raise OptionError(where, f'{e} (network: w_dim={gen.w_dim}, num_ws={gen.num_ws})') from None
    return net, gen, spec_obj, origin, dev


def read_json_option(path, option):
    """The JSON document in the UTF-8 file `path`, given by `option`; OptionError naming it when the file cannot be
    read or parsed (not UTF-8, not JSON, nested too deeply)."""
    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    except (OSError, ValueError, RecursionError) as e:
        raise OptionError(option, f'cannot read {path}: {e}') from None


def load_camera_file(path, batch, c_dim):
    """EG3D camera labels from .npy or .json (--c-file): [c_dim] (shared) or [batch, c_dim]. Returns
    [batch, c_dim] float32; OptionError naming --c-file for a file that does not read or fit."""
    try:
        if path.endswith('.json'):
            with open(path, encoding='utf-8') as f:
                arr = np.asarray(json.load(f), dtype=np.float32)
        else:
            arr = np.load(path).astype(np.float32)
    except Exception as e:
        raise OptionError('--c-file', f'cannot read {path}: {type(e).__name__}: {e}') from None
    c = torch.from_numpy(arr)
    if c.ndim == 1:
        c = c[None].repeat(batch, 1)
    if c.ndim != 2 or c.shape[1] != c_dim or c.shape[0] not in (1, batch):
        raise OptionError('--c-file', f'{path}: expected [{c_dim}] or [{batch}, {c_dim}] camera values, got {list(arr.shape)}')
    return c.expand(batch, -1).contiguous()

#----------------------------------------------------------------------------
