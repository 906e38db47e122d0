"""How the demo measures one model: every linkage metric of every link, and the quality distance to real scenes.

    evaluation = evaluate_model(G_ema, spec, settings)
    # {'links': {link: {metric: mean, metric_std: std, 'locality': ...}}, 'quality': {'levels': {...}, 'mean': swd}}

Linkage: `metrics.evaluate_links` on `settings['samples']` fixed-seed samples (the evaluation seed is the demo's
seed, so the baseline, the control and the linked model are measured on the same latents and perturbations).
Quality: the sliced Wasserstein distance (quality.py) between as many generated images and real scenes drawn from
a seed the training stream never uses, so it measures how close the samples are to the data, diversity included.
"""

import torch

from linkgan_plugin.analysis.datasets import generated_images
from linkgan_plugin.analysis.generator import GeneratorAdapter
from linkgan_plugin.analysis.metrics import evaluate_links
from linkgan_plugin.analysis.quality import sliced_wasserstein
from linkgan_plugin.demo.data import scene_images

REAL_SEED_OFFSET = 1_000_003        # Real scenes for the quality distance: a stream no training run draws from.

#----------------------------------------------------------------------------

def real_scenes(settings, count=None):
    """Held-out real scenes [count, 3, R, R] in [-1, 1] (default count: settings['samples'])."""
    g = torch.Generator().manual_seed(settings['seed'] + REAL_SEED_OFFSET)
    return scene_images(settings, count or settings['samples'], generator=g)


def evaluation_work(settings):
    """Units of progress one evaluate_model call reports (for progress bars)."""
    return 2 * settings['samples']


def evaluate_model(G_ema, spec, settings, progress=None):
    """Linkage metrics (image output) and the quality distance of one generator. See module docstring."""
    gen = GeneratorAdapter(G_ema)
    measured = evaluate_links(gen, spec, samples=settings['samples'], batch=64, seed=settings['seed'],
                              progress=progress)
    fake = generated_images(gen, settings['samples'], seed=settings['seed'])
    swd = sliced_wasserstein(fake, real_scenes(settings), seed=settings['seed'])
    if progress is not None:
        progress(settings['samples'])
    return {'links': measured['results']['image'], 'quality': swd, 'pixel_std': float(fake.std(dim=0).mean())}

#----------------------------------------------------------------------------
