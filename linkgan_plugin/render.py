"""The one render primitive: a sample's variants, with the generator's random numbers replayed for every render.

Training (the link penalty), the metrics, `linkgan edit` and the demo's pictures all render a sample several times:
the original w, then w plus an offset (one link's axes perturbed or resampled, or its complement). Generators draw
random numbers while rendering (noise inputs in 'random' mode, EG3D's ray sampling jitter). Two renders that draw
different numbers differ even for the same w, and that difference would be counted as leakage. So the RNG state
is captured once and restored before every render: every variant sees the same random numbers as the original,
and a difference measures the latent offset alone.

    x, variants = render_variants(synthesize, ws, [d_1, d_2, ...])

    synthesize: callable ws [batch, num_ws, w_dim] -> image [batch, C, H, W], or a dict of them (EG3D).
    ws:         [batch, num_ws, w_dim].
    offsets:    list of [batch, w_dim] tensors, each added to every row of ws (as the paper perturbs w), or of
                [batch, num_ws, w_dim] tensors, added row by row (W+ codes, whose rows differ, need a different
                offset per row to set a link's axes of every row to one value).
Returns x = synthesize(ws) and the list of synthesize(ws + d) (a [batch, w_dim] d broadcast over the rows), in
the order of `offsets`.

Random inputs of the measurements (latents, resampling latents, noise, cameras, LELSD's batches) come from seeded
streams: `seeded_generator(seed, *keys)` is a CPU torch.Generator of its own for every (seed, keys), so sample k's
inputs do not depend on the batch size or on what else is drawn.
"""

import numpy as np
import torch

#----------------------------------------------------------------------------

class RngReplay:
    """Captures the CPU (and the device's CUDA) RNG state once; `rewind()` restores it before each render."""

    def __init__(self, device):
        self.device = torch.device(device)
        self.cpu_state = torch.get_rng_state()
        self.cuda_state = torch.cuda.get_rng_state(self.device) if self.device.type == 'cuda' else None

    def rewind(self):
        torch.set_rng_state(self.cpu_state)
        if self.cuda_state is not None:
            torch.cuda.set_rng_state(self.cuda_state, self.device)


def render_variants(synthesize, ws, offsets, progress=None):
    """x = synthesize(ws), then synthesize(ws + d) for every d in `offsets`, all with the same RNG state.

    Args:
        synthesize: callable ws -> image tensor [batch, C, H, W] or dict of tensors.
        ws:         [batch, num_ws, w_dim].
        offsets:    iterable of offsets, each [batch, w_dim] (added to every row of ws) or [batch, num_ws, w_dim]
                    (added row by row); both kinds may be mixed.
        progress:   optional callable(n) called after every render.
    Returns:
        (x, [variant renders]) in the order of `offsets`.
    """
    replay = RngReplay(ws.device)
    x = synthesize(ws)
    if progress is not None:
        progress(1)
    variants = []
    for d in offsets:
        if d.ndim == 2 and tuple(d.shape) == (ws.shape[0], ws.shape[2]):
            d = d[:, None, :]
        elif d.ndim != 3 or tuple(d.shape) != tuple(ws.shape):
            raise ValueError(f'render_variants: offsets must be [batch, w_dim] = {[ws.shape[0], ws.shape[2]]} or '
                             f'[batch, num_ws, w_dim] = {list(ws.shape)}, got {list(d.shape)}')
        replay.rewind()
        variants.append(synthesize(ws + d))
        if progress is not None:
            progress(1)
    return x, variants

#----------------------------------------------------------------------------
# Seeded random streams.

def seeded_generator(seed, *keys):
    """A CPU torch.Generator for stream `keys` (ints) of `seed`. The CPU generator keeps 32 bits of its seed: the
    stream's seed is derived with numpy's SeedSequence, which keeps streams apart."""
    return torch.Generator().manual_seed(int(np.random.SeedSequence([seed, *keys]).generate_state(1)[0]))

#----------------------------------------------------------------------------
