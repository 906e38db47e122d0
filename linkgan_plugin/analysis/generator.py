"""A uniform view of a trained generator (upstream G_ema of any flavour, or a toy G) for evaluation and editing.

    gen = GeneratorAdapter(G)
    ws  = gen.map(z, c, truncation_psi)        # [N, num_ws, w_dim]
    out = gen.synthesize(ws, c)                # {'image': [N, C, H, W], ...} (EG3D adds image_raw, image_depth)

What differs between upstreams (num_ws, labels, outputs, how to render) is asked of the generator's flavour
(`upstream.flavours.flavour_of_generator`). Noise inputs are rendered in 'const' mode, so every difference between
two renders comes from the latent (EG3D's ray jitter is replayed by render.render_variants).
"""

import torch

from linkgan_plugin.upstream.ddp import unwrap
from linkgan_plugin.upstream.flavours import flavour_of_generator


class GeneratorAdapter:
    """Wraps G. camera: for flavours whose labels are cameras (EG3D), 'frontal' or 'sampled' (yaw-jittered)."""

    def __init__(self, G, camera='frontal'):
        self.G = unwrap(G)
        for attr in ('z_dim', 'c_dim', 'w_dim', 'img_resolution'):
            if not hasattr(self.G, attr):
                raise TypeError(f'network has no {attr!r}: expected a StyleGAN2-ADA, StyleGAN3 or EG3D generator')
        self.flavour = flavour_of_generator(self.G)
        self.camera = camera
        self.z_dim, self.c_dim, self.w_dim = int(self.G.z_dim), int(self.G.c_dim), int(self.G.w_dim)
        self.img_resolution = int(self.G.img_resolution)
        self.num_ws = self.flavour.num_ws_of(self.G)

    @property
    def is_eg3d(self):
        """True when the labels are cameras (EG3D): commands offer --camera / --c-file then."""
        return self.flavour.camera_labels

    @property
    def outputs(self):
        """The outputs this generator renders ('image'; EG3D also 'image_raw', 'image_depth')."""
        return self.flavour.outputs

    @property
    def device(self):
        param = next(self.G.parameters(), None)
        return param.device if param is not None else torch.device('cpu')

    def default_c(self, batch, generator=None):
        """Labels for `batch` samples: zeros [batch, c_dim], or EG3D cameras [batch, 25]."""
        return self.flavour.labels(batch, self.c_dim, self.device, self.camera, generator)

    def map(self, z, c=None, truncation_psi=1.0):
        c = self.default_c(z.shape[0]) if c is None else c
        return self.G.mapping(z, c, truncation_psi=truncation_psi)

    def synthesize(self, ws, c=None):
        """Renders ws [N, num_ws, w_dim]; returns a dict of images (key 'image' always present)."""
        c = self.default_c(ws.shape[0]) if c is None else c
        return self.flavour.render(self.G, ws, c)
