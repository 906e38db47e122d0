"""The masked-difference op behind the LinkGAN regularizer: `masked_diff(x, x1, x2, mask, impl='auto')`."""

from linkgan_plugin.ops.masked_diff import masked_diff

__all__ = ['masked_diff']
