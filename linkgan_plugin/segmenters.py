"""Segmenters: the callables a semantic region's masks come from (`{"segmenter": REF, "classes": [...]}`), checked
while a spec is parsed (`resolve_segmenter_ref`), loaded once (`load_segmenter`) and applied per batch
(`semantic_mask`). A segmenter file is a torch.export program (.pt2) or TorchScript (model_files.py).
"""

import functools
import importlib
import importlib.util
import os
import sys

import torch
import torch.nn.functional as F

from linkgan_plugin.checks import file_problem, LinkganError, short_text
from linkgan_plugin.model_files import is_model_file, load_model_file

#----------------------------------------------------------------------------

class SegmenterError(LinkganError, ValueError):
    """A segmenter reference that cannot be loaded, or a segmenter whose output is not scores or labels."""


def resolve_segmenter_ref(ref, base_dir='.'):
    """Checks a segmenter reference can be loaded and returns it in normalised form (file paths made absolute).

    Forms: 'pkg.module:callable', 'path/file.py:callable', 'path/model.pt2' (torch.export) or 'path/model.pt'
    (TorchScript).
    """
    ref = ref.strip()
    if ':' not in ref or is_model_file(ref):
        path = ref if os.path.isabs(ref) else os.path.normpath(os.path.join(base_dir, ref))
        problem = file_problem(path, 'segmenter file (.pt2 or TorchScript)')
        if problem:
            raise SegmenterError(f'{problem} (or use "module:callable" / "file.py:callable")')
        ref = path
    else:
        target, attr = ref.rsplit(':', 1)
        if target.endswith('.py'):
            path = target if os.path.isabs(target) else os.path.normpath(os.path.join(base_dir, target))
            problem = file_problem(path, 'segmenter file')
            if problem:
                raise SegmenterError(problem)
            ref = f'{path}:{attr}'
    load_segmenter(ref)
    return ref


@functools.lru_cache(maxsize=16)
def load_segmenter(ref):
    """Loads a (normalised) segmenter reference and returns a callable images -> scores or labels."""
    if ':' not in ref or is_model_file(ref):
        try:
            return load_model_file(ref, what='segmenter')
        except LinkganError as e:
            raise SegmenterError(short_text(str(e), 400)) from None
    target, attr = ref.rsplit(':', 1)
    try:
        if target.endswith('.py'):
            name = '_linkgan_segmenter_' + str(abs(hash(target)))
            spec = importlib.util.spec_from_file_location(name, target)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(target)
    except Exception as e:
        raise SegmenterError(f'cannot import segmenter module {target!r}: {type(e).__name__}: {short_text(str(e))}') from None
    fn = getattr(module, attr, None)
    if fn is None:
        raise SegmenterError(f'segmenter module {target!r} has no attribute {attr!r}')
    if isinstance(fn, type):  # A module class: instantiate with no arguments.
        try:
            fn = fn()
        except Exception as e:
            raise SegmenterError(f'cannot instantiate segmenter {ref}: {type(e).__name__}: {short_text(str(e))}') from None
    if not callable(fn):
        raise SegmenterError(f'segmenter {ref} is not callable')
    if isinstance(fn, torch.nn.Module):
        fn.eval()
    return fn


@torch.no_grad()
def semantic_mask(segmenter, images, classes, height, width):
    """Union-of-classes mask of `images` by `segmenter`.

    Args:
        segmenter: callable, images [N, 3, H, W] in [-1, 1] -> class scores [N, K, h, w] or labels [N, h, w].
        images:    [N, C, H, W].
        classes:   class ids to union.
    Returns:
        float32 [N, height, width] in {0, 1}.
    """
    if isinstance(segmenter, torch.nn.Module):
        param = next(segmenter.parameters(), None)
        if param is not None and param.device != images.device:
            segmenter.to(images.device)
    out = segmenter(images.detach().float())
    if not isinstance(out, torch.Tensor):
        raise SegmenterError(f'segmenter returned {type(out).__name__}, expected a tensor of scores or labels')
    if out.ndim == 4 and out.shape[1] > 1:
        labels = out.argmax(dim=1)
    elif out.ndim == 4:
        labels = out[:, 0].round().long()
    elif out.ndim == 3:
        labels = out.round().long()
    else:
        raise SegmenterError(f'segmenter output must be [N, K, h, w] or [N, h, w], got {list(out.shape)}')
    if labels.shape[0] != images.shape[0]:
        raise SegmenterError(f'segmenter returned {labels.shape[0]} masks for {images.shape[0]} images')
    ids = torch.as_tensor(classes, device=labels.device)
    m = torch.isin(labels, ids).float()[:, None]
    if m.shape[2:] != (height, width):
        m = F.interpolate(m, size=(height, width), mode='nearest')
    return m[:, 0]

#----------------------------------------------------------------------------
