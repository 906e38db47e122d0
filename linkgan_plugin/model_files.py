"""Networks a user names by file: a segmenter (a semantic region's `"segmenter": FILE`) and `linkgan project`'s
perceptual feature network. Two formats load:

    .pt2                 a torch.export program (`torch.export.save`), the format torch recommends; export it with a
                         dynamic batch dimension (`save_exported` does) so any batch size runs;
    .pt / .pth / .ts     TorchScript (`torch.jit.save`), which torch 2.13 deprecates; still read, its deprecation
                         warning kept to ourselves (a user's file is not the user's code to change).

Both give a module mapping images [N, C, H, W] to a tensor (or a list of them), run without gradients by the caller.
"""

import warnings

import torch

from linkgan_plugin.checks import LinkganError

EXPORT_SUFFIXES = ('.pt2',)
TORCHSCRIPT_SUFFIXES = ('.pt', '.pth', '.ts')
MODEL_SUFFIXES = EXPORT_SUFFIXES + TORCHSCRIPT_SUFFIXES

#----------------------------------------------------------------------------

def is_model_file(ref):
    """True when `ref` names a network file (MODEL_SUFFIXES) rather than Python code."""
    return ref.endswith(MODEL_SUFFIXES)


def load_model_file(path, device='cpu', what='network'):
    """The module stored at `path` (module docstring), on `device`; TorchScript modules in eval mode (exported
    programs carry the mode they were exported in). LinkganError naming the file and `what` it was for otherwise."""
    try:
        if path.endswith(EXPORT_SUFFIXES):
            return torch.export.load(path).module().to(device)
        with warnings.catch_warnings():
            warnings.filterwarnings('ignore', message='.*torch.jit.*deprecated', category=DeprecationWarning)
            return torch.jit.load(path, map_location=device).eval()
    except Exception as e:
        raise LinkganError(f'cannot load the {what} {path} (a torch.export .pt2 or a TorchScript file): '
                           f'{type(e).__name__}: {e}') from None


def save_exported(module, example, path):
    """Saves `module` (in eval mode) as a torch.export program with a dynamic batch dimension, traced on `example`
    images [N, C, H, W] (N >= 2). Returns the path."""
    module = module.eval()
    batch = torch.export.Dim('batch', min=1, max=1 << 16)
    program = torch.export.export(module, (example,), dynamic_shapes=({0: batch},))
    torch.export.save(program, path)
    return path

#----------------------------------------------------------------------------
