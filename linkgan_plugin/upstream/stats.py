"""Statistics reporting: upstream's `torch_utils.training_stats` when running inside an upstream checkout,
and always a local record of the latest values (for tests, the demo and `linkgan smoke`)."""

import importlib

import torch

_training_stats = None
_looked_up = False
class _Latest(dict):
    """name -> the mean of the last reported value. Stored as a tensor so reporting never waits for the GPU;
    converted to float when read."""

    def __getitem__(self, name):
        return float(super().__getitem__(name))

    def get(self, name, default=None):
        return self[name] if name in self else default

    def items(self):
        return [(name, self[name]) for name in self]

    def values(self):
        return [self[name] for name in self]


latest = _Latest()


def _upstream_stats():
    global _training_stats, _looked_up
    if not _looked_up:
        _looked_up = True
        try:
            module = importlib.import_module('torch_utils.training_stats')
            _training_stats = module if hasattr(module, 'report') else None
        except Exception:
            _training_stats = None
    return _training_stats


def report(name, value):
    """Reports a tensor (any shape) under `name`, like `training_stats.report`."""
    value = value.detach()
    latest[name] = value.float().mean() if value.numel() else torch.tensor(float('nan'))
    stats = _upstream_stats()
    if stats is not None:
        stats.report(name, value)
