"""The semantic demo's segmenter: a small CNN trained on procedural landscapes in seconds, saved as TorchScript.

The demo names it in its link spec by file, exactly as a user names their own segmenter, so the spec's TorchScript
path (segmenters.resolve_segmenter_ref / load_segmenter / semantic_mask) is exercised end to end:

    seg = train_segmenter(steps=400, resolution=32, seed=0)      # ~12 s on one CPU thread
    save_segmenter(seg, 'run/seg.pt2')                           # a torch.export program
    spec = landscape_spec('run/seg.pt')                          # {'links': [{'name': 'sky', 'axes': '0:16', ...}]}
    segmenter_accuracy(load_model_file('run/seg.pt2'), images, labels)   # {'pixel_accuracy', 'per_class_iou', ...}

The network maps images [N, 3, H, W] in [-1, 1] to class scores [N, 3, H, W] (landscape.SKY, GROUND, OBJECT) at any
resolution: four 3x3 convolutions (dilations 1, 2, 4, 1: a 17-pixel receptive field) and a 1x1 classifier.
Training images are augmented so the masks hold up on a generator's renders, which are blurrier, noisier and
slightly off in colour: per sample, a Gaussian blur (sigma 0-1.5 px), a colour gain (0.85-1.1) and shift
(+-0.1 per channel), and pixel noise (std 0-0.1). The labels stay the sharp procedural ones.
"""

import math
import os
import time

import torch
import torch.nn.functional as F

from linkgan_plugin.demo.landscape import CLASS_NAMES, landscapes, SKY
from linkgan_plugin.model_files import load_model_file, save_exported

NUM_CLASSES = len(CLASS_NAMES)
HELD_OUT_SEED = 1_000_003       # Seed offset of the held-out scenes accuracy is reported on (never used to train).

# Defaults shared by the API and the demo.
SEGMENTER_DEFAULTS = dict(steps=400, resolution=32, seed=0, batch=32, lr=1e-2, width=16)

#----------------------------------------------------------------------------
# Network.

class LandscapeSegmenter(torch.nn.Module):
    """images [N, 3, H, W] in [-1, 1] -> class scores (logits) [N, NUM_CLASSES, H, W]."""

    def __init__(self, width=16, num_classes=NUM_CLASSES):
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Conv2d(3, width, 3, padding=1), torch.nn.ReLU(),
            torch.nn.Conv2d(width, width, 3, padding=2, dilation=2), torch.nn.ReLU(),
            torch.nn.Conv2d(width, width, 3, padding=4, dilation=4), torch.nn.ReLU(),
            torch.nn.Conv2d(width, width, 3, padding=1), torch.nn.ReLU(),
            torch.nn.Conv2d(width, num_classes, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.body(images)

#----------------------------------------------------------------------------
# Augmentation.

def gaussian_blur(images, sigma):
    """Per-sample separable Gaussian blur (reflect padding).

    Args:
        images: [N, C, H, W]; sigma: [N] in pixels (0 leaves a sample unchanged).
    Returns:
        [N, C, H, W].
    """
    N, C, H, W = images.shape
    radius = 3
    t = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
    s = sigma.to(images.dtype).clamp(min=1e-3)[:, None]
    k = torch.exp(-0.5 * (t[None] / s).square())
    k = k / k.sum(dim=1, keepdim=True)                                   # [N, 2r+1]
    k = k.repeat_interleave(C, dim=0)                                    # [N*C, 2r+1]
    x = images.reshape(1, N * C, H, W)
    x = F.conv2d(F.pad(x, [radius, radius, 0, 0], mode='reflect'), k[:, None, None, :], groups=N * C)
    x = F.conv2d(F.pad(x, [0, 0, radius, radius], mode='reflect'), k[:, None, :, None], groups=N * C)
    return x.reshape(N, C, H, W)


def augment(images, generator=None):
    """The training augmentation (module docstring): blur, colour gain and shift, noise. [N, 3, H, W] -> same."""
    N = images.shape[0]
    rand = lambda *shape: torch.rand(shape, generator=generator)
    x = gaussian_blur(images, 1.5 * rand(N))
    gain = 0.85 + 0.25 * rand(N, 1, 1, 1)
    shift = 0.2 * rand(N, 3, 1, 1) - 0.1
    x = x * gain + shift
    noise = torch.randn(x.shape, generator=generator) * (0.1 * rand(N, 1, 1, 1))
    return (x + noise).clamp(-1, 1)

#----------------------------------------------------------------------------
# Training and measuring.

def train_segmenter(steps=SEGMENTER_DEFAULTS['steps'], resolution=SEGMENTER_DEFAULTS['resolution'],
                    seed=SEGMENTER_DEFAULTS['seed'], progress=None, batch=SEGMENTER_DEFAULTS['batch'],
                    lr=SEGMENTER_DEFAULTS['lr'], width=SEGMENTER_DEFAULTS['width'], skies=False):
    """Trains a LandscapeSegmenter on fresh augmented landscapes (cross-entropy, Adam, cosine learning-rate decay).

    Args:
        steps:      optimiser steps (each on `batch` new scenes).
        resolution: scene size R.
        seed:       seeds the weights, the scenes and the augmentation (deterministic on one thread).
        progress:   optional callable(n) after every step.
        skies:      train on landscapes under varied skies (landscape.landscapes).
    Returns:
        LandscapeSegmenter in eval mode, on the CPU, requires_grad False.
    """
    torch.manual_seed(seed)
    model = LandscapeSegmenter(width)
    gen = torch.Generator().manual_seed(seed)

    def step_loss():
        images, labels = landscapes(batch, resolution, gen, skies)
        return F.cross_entropy(model(augment(images, gen)), labels)
    return fit_small_network(model, step_loss, steps, lr, progress)


def fit_small_network(model, step_loss, steps, lr, progress=None):
    """Adam at `lr` with a cosine decay to 0 over `steps` steps, each minimising `step_loss()` (a callable that
    draws its own batch and returns a scalar loss). Returns `model` in eval mode with requires_grad False."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 0.5 * (1 + math.cos(math.pi * i / max(steps, 1))))
    for _ in range(steps):
        loss = step_loss()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if progress is not None:
            progress(1)
    return model.eval().requires_grad_(False)


def save_segmenter(module, path, resolution=32):
    """Saves `module` as a torch.export program (.pt2, model_files.save_exported: any batch size), loadable by
    segmenters.load_segmenter as a user's segmenter file is. Returns the path."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    return save_exported(module.cpu(), torch.zeros([2, 3, resolution, resolution]), path)


@torch.no_grad()
def segmenter_accuracy(segmenter, images, labels, batch=256):
    """Pixel accuracy and per-class intersection-over-union of a segmenter's argmax labels.

    Args:
        segmenter: callable, images [N, 3, H, W] in [-1, 1] -> scores [N, K, H, W].
        images:    [N, 3, H, W]; labels: int64 [N, H, W] (ground truth).
    Returns:
        {'pixel_accuracy': float, 'per_class_iou': [K floats] (None for a class absent from both maps),
         'mean_iou': mean of the defined per-class IoUs, 'pixels': N*H*W}.
    """
    preds = torch.cat([segmenter(images[i:i + batch].float()).argmax(dim=1) for i in range(0, images.shape[0], batch)])
    labels = labels.to(preds.device)
    ious = []
    for k in range(NUM_CLASSES):
        p, t = preds == k, labels == k
        union = int((p | t).sum())
        ious.append(None if union == 0 else int((p & t).sum()) / union)
    defined = [v for v in ious if v is not None]
    return {'pixel_accuracy': float((preds == labels).float().mean()), 'per_class_iou': ious,
            'mean_iou': sum(defined) / len(defined) if defined else None, 'pixels': labels.numel()}


def held_out_accuracy(segmenter, samples=512, resolution=32, seed=0, blur_sigma=1.0, skies=False):
    """Accuracy on `samples` scenes the training never saw (seed + HELD_OUT_SEED), sharp and blurred by
    `blur_sigma` pixels (a stand-in for a generator's softer renders); varied skies with `skies`.

    Returns:
        {'real': segmenter_accuracy(...), 'blurred': segmenter_accuracy(...), 'samples', 'blur_sigma'}.
    """
    images, labels = landscapes(samples, resolution, torch.Generator().manual_seed(seed + HELD_OUT_SEED), skies)
    blurred = gaussian_blur(images, torch.full([samples], float(blur_sigma)))
    return {'real': segmenter_accuracy(segmenter, images, labels),
            'blurred': segmenter_accuracy(segmenter, blurred, labels),
            'samples': samples, 'blur_sigma': blur_sigma}


def make_segmenter_file(path, steps=SEGMENTER_DEFAULTS['steps'], resolution=SEGMENTER_DEFAULTS['resolution'],
                        seed=SEGMENTER_DEFAULTS['seed'], progress=None, skies=False):
    """Trains, saves (TorchScript) and measures the demo segmenter in one call (on varied skies with `skies`).

    Returns:
        {'path', 'train_seconds', 'steps', 'accuracy': held_out_accuracy(...) of the saved-and-reloaded file}.
    """
    t0 = time.perf_counter()
    module = train_segmenter(steps, resolution, seed, progress, skies=skies)
    seconds = time.perf_counter() - t0
    save_segmenter(module, path, resolution)
    reloaded = load_model_file(path, what='segmenter')
    return {'path': path, 'train_seconds': seconds, 'steps': steps,
            'accuracy': held_out_accuracy(reloaded, resolution=resolution, seed=seed, skies=skies)}

#----------------------------------------------------------------------------
# The semantic demo's spec.

def landscape_spec(segmenter_path, sky_axes='0:16', mode='source'):
    """The built-in semantic spec of the landscape demo: one link 'sky' <-> `sky_axes` (of w_dim 64), its region
    the pixels the segmenter file labels SKY (class 0), recomputed per sample. Only the links: the demo's recipe
    (alpha, lambdas, interval, ...) is filled in by demo.demo_spec like for the box demo.

    Args:
        segmenter_path: TorchScript file (save_segmenter).
        sky_axes:       axes in the spec's syntax ('0:16').
        mode:           one of regions.MASK_MODES.
    Returns:
        dict for spec.load_spec.
    """
    return {'links': [{'name': 'sky', 'axes': sky_axes,
                       'region': {'segmenter': str(segmenter_path), 'classes': [SKY], 'mode': mode}}]}

#----------------------------------------------------------------------------
