"""A tiny, self-written sky segmenter for the church example: no weights, no downloads.

`segment(images)` maps images [N, 3, H, W] in [-1, 1] to labels [N, H, W] (1 = sky, 0 = other). A pixel is sky
when it is bright and blue-ish (or bright and grey, for overcast skies) and lies in the upper part of the image;
the result is smoothed with a small box filter so that the mask has no speckles. It is a heuristic meant to show
the segmenter interface (`"segmenter": "segmenters/sky_by_colour.py:segment"` in a spec); swap in a real semantic
segmenter (a TorchScript file or a `pkg.module:callable`) for serious work.
"""

import torch
import torch.nn.functional as F


def segment(images):
    """images [N, 3, H, W] in [-1, 1] -> labels [N, H, W] (int64: 1 sky, 0 other)."""
    x = (images.float().clamp(-1, 1) + 1) / 2                       # [N, 3, H, W] in [0, 1].
    r, g, b = x[:, 0], x[:, 1], x[:, 2]
    brightness = (r + g + b) / 3
    blueish = (b - torch.maximum(r, g)) > -0.02                      # Blue at least as strong as red and green.
    greyish = (torch.maximum(torch.maximum(r, g), b) - torch.minimum(torch.minimum(r, g), b)) < 0.08
    colour = (brightness > 0.45) & (blueish | greyish)
    h = images.shape[-2]
    rows = torch.arange(h, device=images.device, dtype=torch.float32) / max(h - 1, 1)
    upper = (rows < 0.65).view(1, h, 1)                              # Sky is in the upper two thirds.
    sky = (colour & upper).float().unsqueeze(1)
    k = max(3, (h // 32) | 1)                                        # Odd smoothing window, ~3% of the height.
    sky = F.avg_pool2d(sky, kernel_size=k, stride=1, padding=k // 2, count_include_pad=False)
    return (sky[:, 0] > 0.5).long()
