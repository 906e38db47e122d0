"""A uniform view of a trained generator (upstream G_ema of any flavour, or a toy G) for evaluation and editing.

    gen = GeneratorAdapter(G)
    ws  = gen.map(z, c, truncation_psi)        # [N, num_ws, w_dim]
    out = gen.synthesize(ws, c)                # {'image': [N, C, H, W], ...} (EG3D adds image_raw, image_depth)

Noise inputs are rendered in 'const' mode, so every difference between two renders comes from the latent.
"""

import torch

from linkgan_plugin.cameras import frontal_camera, random_cameras
from linkgan_plugin.upstream.ddp import unwrap
from linkgan_plugin.upstream.flavours import is_eg3d_generator


class GeneratorAdapter:
    """Wraps G. camera: EG3D only, 'frontal' (fixed frontal camera) or 'sampled' (yaw-jittered cameras)."""

    def __init__(self, G, camera='frontal'):
        self.G = unwrap(G)
        self.is_eg3d = is_eg3d_generator(self.G)
        self.camera = camera
        for attr in ('z_dim', 'c_dim', 'w_dim', 'img_resolution'):
            if not hasattr(self.G, attr):
                raise TypeError(f'network has no {attr!r}: expected a StyleGAN2-ADA, StyleGAN3 or EG3D generator')
        self.z_dim, self.c_dim, self.w_dim = int(self.G.z_dim), int(self.G.c_dim), int(self.G.w_dim)
        self.img_resolution = int(self.G.img_resolution)
        self.num_ws = int(self.G.backbone.num_ws if self.is_eg3d else self.G.num_ws)

    @property
    def device(self):
        param = next(self.G.parameters(), None)
        return param.device if param is not None else torch.device('cpu')

    def default_c(self, batch, generator=None):
        """Labels for `batch` samples: zeros [batch, c_dim], or EG3D cameras [batch, 25]."""
        if self.is_eg3d:
            if self.camera == 'sampled':
                return random_cameras(batch, self.device, generator=generator)
            return frontal_camera(batch, self.device)
        return torch.zeros([batch, self.c_dim], device=self.device)

    def map(self, z, c=None, truncation_psi=1.0):
        c = self.default_c(z.shape[0]) if c is None else c
        return self.G.mapping(z, c, truncation_psi=truncation_psi)

    def synthesize(self, ws, c=None):
        """Renders ws [N, num_ws, w_dim]; returns a dict of images (key 'image' always present)."""
        if self.is_eg3d:
            c = self.default_c(ws.shape[0]) if c is None else c
            return dict(self.G.synthesis(ws, c, noise_mode='const'))
        return {'image': self.G.synthesis(ws, noise_mode='const')}
