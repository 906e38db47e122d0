"""linkgan-plugin: LinkGAN (ICCV 2023) as a drop-in loss for NVIDIA's StyleGAN2-ADA, StyleGAN3 and EG3D.

Use in upstream train.py as `--loss=linkgan_plugin.LinkLoss`. Heavy parts are imported on first use, so
`import linkgan_plugin` needs neither an upstream checkout nor a compiler.
"""

__version__ = '0.1.0'

_LAZY = {
    'LinkLoss':   'linkgan_plugin.loss',
    'LinkSpec':   'linkgan_plugin.spec',
    'SpecError':  'linkgan_plugin.checks',
    'load_spec':  'linkgan_plugin.spec',
    'masked_diff': 'linkgan_plugin.ops',
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
