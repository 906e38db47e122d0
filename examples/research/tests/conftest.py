"""The lab's tests: pytest configuration and the small toy generator they share (the product's toy networks)."""

import pytest
import torch
from PIL import Image

from linkgan_plugin.toy.networks import make_toy_networks

SMALL = dict(z_dim=8, w_dim=32, img_resolution=16, channels=8, mapping_layers=2)


def pytest_configure(config):
    config.addinivalue_line('markers', 'slow: takes more than a few seconds')


@pytest.fixture(autouse=True)
def _seeded():
    torch.manual_seed(0)
    yield


@pytest.fixture
def one_thread():
    """Tiny convolutions: one thread avoids oversubscription stalls on a shared 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def toy_G(flavour='sg2ada', seed=0):
    """A SMALL toy G of `flavour` in eval mode without gradients, its weights drawn from `seed`."""
    torch.manual_seed(seed)
    return make_toy_networks(flavour, **SMALL)[0].eval().requires_grad_(False)


def read_image(path_or_file):
    """A PIL image read whole and its file closed (Image.open alone leaves the file open until the image is loaded)."""
    with Image.open(path_or_file) as img:
        img.load()
        return img.copy()
