"""DDP helpers shared by the sg2ada flavour and the toy sg2ada loss."""

import contextlib

import torch


def unwrap(module):
    """The module inside a DistributedDataParallel wrapper (or the module itself)."""
    return module.module if isinstance(module, torch.nn.parallel.DistributedDataParallel) else module


@contextlib.contextmanager
def ddp_sync(module, sync):
    """Skips DDP's gradient all-reduce for the backward of forwards run inside, unless `sync` is True."""
    if sync or not isinstance(module, torch.nn.parallel.DistributedDataParallel):
        yield
    else:
        with module.no_sync():
            yield
