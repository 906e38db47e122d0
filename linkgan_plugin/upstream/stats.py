"""Statistics reporting: upstream's `torch_utils.training_stats` when running inside an upstream checkout,
and always a local record of the latest values (for tests, the demo and `linkgan smoke`)."""

import importlib

_training_stats = None
_looked_up = False
latest = {}  # name -> float, the mean of the last reported value.


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
    latest[name] = float(value.float().mean()) if value.numel() else float('nan')
    stats = _upstream_stats()
    if stats is not None:
        stats.report(name, value)
