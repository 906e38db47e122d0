"""Shared pytest configuration: markers and small fixtures used across the suite."""

import pytest
import torch


def pytest_configure(config):
    config.addinivalue_line('markers', 'upstream: runs against real upstream checkouts named by LINKGAN_UPSTREAM_* (opt-in)')
    config.addinivalue_line('markers', 'slow: takes more than a few seconds')


@pytest.fixture(autouse=True)
def _deterministic_threads():
    torch.manual_seed(0)
    yield


@pytest.fixture(scope='module')
def cpu_kernel():
    """The CPU masked_diff extension (torch.ops.linkgan_cpu), built or loaded once per test module; the build's
    error fails the test that asks for it."""
    from linkgan_plugin.ops import build
    ops = build.load_extension('cpu')
    assert ops is not None, build.build_error('cpu')
    return ops


@pytest.fixture
def one_thread():
    """Tiny convolutions: one thread avoids oversubscription stalls on a shared 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
