"""Toy-network checkpoints: the one writer, and the networks rebuilt from what it wrote.

`linkgan demo` (baseline.pt, control.pt, linked.pt and the files its two fine-tune processes hand back), `linkgan
study` (OUT/runs/*.pt) and the tests write this layout with `save_checkpoint`; `analysis.network_loading.load_network`
reads it (and the older layouts below) for `linkgan eval`, `edit`, `compare`, ...

Layout: `torch.save` of a dict of tensors and plain values, so `torch.load(path, weights_only=True)` reads it and
nothing is unpickled:

    'format'                                CHECKPOINT_FORMAT (3);
    'flavour'                               'sg2ada' | 'sg3' | 'eg3d': the toy classes (toy.networks.TOY_NETWORKS);
    'G_init_kwargs', 'G_ema_state'          the generator: its class's kwargs and the state of the smoothed G_ema;
    'G_state', 'D_init_kwargs', 'D_state'   the training G and D, when given (a run that can be continued);
    'spec'                                  the link spec it was trained with (a dict), None: trained without links;
    'linked'                                spec is not None;
    INFO_KEYS, when given                   'eval_spec' (the spec a baseline or control is measured with), 'role'
                                            ('baseline' | 'control' | 'linked'), 'kimg', 'settings', 'loss_kwargs',
                                            'trainer_kwargs', 'evaluation', 'seconds' (plain JSON-able values).

Older layouts that stay readable: format 1 (the demo's checkpoints before this one: the same keys plus the pickled
'G_ema' module, read by network_loading with a pickle warning), the study's runs before this module (no 'format',
the generator keys only) and the shipped demo baselines (format 2: the same network keys, no 'spec').
"""

import os

import torch

from linkgan_plugin.spec import LinkSpec
from linkgan_plugin.toy.networks import toy_classes

CHECKPOINT_FORMAT = 3
INFO_KEYS = ('eval_spec', 'role', 'kimg', 'settings', 'loss_kwargs', 'trainer_kwargs', 'evaluation', 'seconds')

#----------------------------------------------------------------------------

def state_copy(module, half=False):
    """The state dict of `module`, every tensor detached, cloned and contiguous (the same bytes on every run);
    floating tensors in float16 with `half` (a shipped asset: half the bytes; loading upcasts to the module's
    float32)."""
    cast = (lambda v: v.half() if v.is_floating_point() else v) if half else (lambda v: v)
    return {k: cast(v.detach().clone().contiguous()) for k, v in module.state_dict().items()}


def save_checkpoint(path, G_ema, flavour, spec=None, G=None, D=None, half=False, **info):
    """Writes a toy checkpoint (layout in the module docstring).

    Args:
        G_ema:   the (smoothed) toy generator; flavour: its flavour.
        spec:    the LinkSpec or spec dict it was trained with; None for a network trained without links.
        G, D:    the training networks, both or neither.
        half:    store the floating tensors in float16 (state_copy).
        info:    any of INFO_KEYS, plain values (a LinkSpec for eval_spec is written as its dict).
    Raises:
        ValueError naming an unknown flavour, an unknown info key, or G without D.
    """
    toy_classes(flavour)
    unknown = [key for key in info if key not in INFO_KEYS]
    if unknown:
        raise ValueError(f'unknown checkpoint entry {unknown[0]!r} (known: {", ".join(INFO_KEYS)})')
    if (G is None) != (D is None):
        raise ValueError('give both training networks G and D, or neither')
    as_dict = lambda s: s.to_dict() if isinstance(s, LinkSpec) else s
    data = {'format': CHECKPOINT_FORMAT, 'flavour': flavour, 'G_init_kwargs': dict(G_ema.init_kwargs),
            'G_ema_state': state_copy(G_ema, half), 'spec': as_dict(spec), 'linked': spec is not None}
    if G is not None:
        data.update(G_state=state_copy(G, half), D_init_kwargs=dict(D.init_kwargs), D_state=state_copy(D, half))
    data.update({key: as_dict(value) for key, value in info.items()})
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    torch.save(data, path)


def generator_from_checkpoint(data, key='G_ema_state'):
    """The toy generator of a checkpoint dict (any layout above), with the state `key` ('G_ema_state' or
    'G_state'), in the mode a new module has. ValueError saying what is missing or does not fit."""
    missing = [k for k in ('flavour', 'G_init_kwargs', key) if k not in data]
    if missing:
        raise ValueError(f'no {" or ".join(missing)} to rebuild the generator from')
    G = toy_classes(data['flavour'])[0](**dict(data['G_init_kwargs']))
    G.load_state_dict(data[key])
    return G


def networks_from_checkpoint(data):
    """(G, D, G_ema) of a checkpoint dict that holds the training networks (this layout with G and D, or a demo
    baseline); G_ema in eval mode without gradients. ValueError when G or D is missing."""
    missing = [k for k in ('G_state', 'D_init_kwargs', 'D_state') if k not in data]
    if missing:
        raise ValueError(f'no {" or ".join(missing)}: the checkpoint holds no training networks')
    G = generator_from_checkpoint(data, 'G_state')
    G_ema = generator_from_checkpoint(data).eval().requires_grad_(False)
    d_kwargs = dict(data['D_init_kwargs'])
    if 'per_location' in d_kwargs:          # Written before the D moved to the toy networks (same parameters).
        d_kwargs['mbstd_per_location'] = d_kwargs.pop('per_location')
    D = toy_classes(data['flavour'])[1](**d_kwargs)
    D.load_state_dict(data['D_state'])
    return G, D, G_ema

#----------------------------------------------------------------------------
