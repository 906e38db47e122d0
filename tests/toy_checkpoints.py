"""Small toy generators and demo-format checkpoints shared by the eval, edit and loading tests."""

import torch

from linkgan_plugin.toy.networks import make_toy_networks

SMALL = dict(z_dim=8, w_dim=32, img_resolution=16, channels=8, mapping_layers=2)


def save_demo_checkpoint(path, G, flavour, spec):
    """The demo's checkpoint format: torch.save of a dict."""
    torch.save({'G_ema': G, 'G_ema_state': G.state_dict(), 'G_init_kwargs': dict(G.init_kwargs), 'flavour': flavour,
                'spec': spec}, path)


def toy_G(flavour='sg2ada', seed=0):
    torch.manual_seed(seed)
    return make_toy_networks(flavour, **SMALL)[0].eval().requires_grad_(False)
