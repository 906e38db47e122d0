"""The masked-difference op behind the LinkGAN regularizer: `masked_diff(x, x1, x2, mask, impl='auto', mask_out=None)`;
`paths_run()` says which implementation ran and why."""

from linkgan_plugin.ops.masked_diff import masked_diff, paths_run

__all__ = ['masked_diff', 'paths_run']
