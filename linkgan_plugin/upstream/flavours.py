"""The one place that knows how StyleGAN2-ADA, StyleGAN3 and EG3D differ for a loss plugin.

A flavour wraps the networks and the base loss upstream built, and offers the link pass what it needs in one
vocabulary:
    parse_call(args, kwargs)        -> (sync, gain, cur_nimg) from accumulate_gradients' arguments
    call_base(base, phase, ...)     -> runs the base loss's accumulate_gradients with upstream's signature
    map(z, c, sync)                 -> ws [N, num_ws, w_dim], no style mixing, w_avg untouched
    synthesizer(c, cur_nimg, sync)  -> callable ws -> image [N, C, H, W] or dict of images (EG3D)
    discriminate(base, img, c, cur_nimg, sync) -> logits, through the base loss's run_D (augment, blur)
    link_camera(c)                  -> the camera the link pass renders with (EG3D)
"""

import torch

from linkgan_plugin.upstream.ddp import ddp_sync, unwrap

#----------------------------------------------------------------------------

class Flavour:
    name = None
    call_args = ('gain', 'cur_nimg')    # accumulate_gradients' arguments after (phase, real_img, real_c, gen_z, gen_c).
    primary_output = 'image'            # The RGB output semantic regions are segmented from.
    discriminator_inputs = ('image',)   # Outputs D scores (dict outputs only).

    def __init__(self, G=None, D=None, G_mapping=None, G_synthesis=None, base=None):
        self.G, self.D = G, D
        self.G_mapping, self.G_synthesis = G_mapping, G_synthesis
        self.base = base

    # Latent layout ------------------------------------------------------------
    @property
    def z_dim(self):
        return int(unwrap(self.mapping_module).z_dim)

    @property
    def w_dim(self):
        return int(unwrap(self.mapping_module).w_dim)

    @property
    def img_resolution(self):
        return int(unwrap(self.G_synthesis if self.G is None else self.G).img_resolution)

    @property
    def mapping_module(self):
        return self.G.mapping

    # Call conventions ---------------------------------------------------------
    def parse_call(self, args, kwargs):
        """(sync, gain, cur_nimg) from the trailing arguments; cur_nimg is None where the upstream has none."""
        values = dict(zip(self.call_args, args), **kwargs)
        unknown = set(values) - set(self.call_args)
        if unknown:
            raise TypeError(f'{self.name} accumulate_gradients got unexpected arguments {sorted(unknown)}')
        return values.get('sync', True), values.get('gain', 1), values.get('cur_nimg')

    def call_base(self, base, phase, real_img, real_c, gen_z, gen_c, sync, gain, cur_nimg):
        return base.accumulate_gradients(phase=phase, real_img=real_img, real_c=real_c, gen_z=gen_z, gen_c=gen_c,
                                         gain=gain, cur_nimg=0 if cur_nimg is None else cur_nimg)

    def masked_outputs(self, spec):
        """The outputs the link term masks (None: the synthesis returns one image tensor)."""
        return None

    # Link pass ------------------------------------------------------------------
    def map(self, z, c, sync):
        return self.G.mapping(z, c, update_emas=False)

    def map_local(self, z, c):
        """Like map, outside any DDP wrapper (for statistics under no_grad)."""
        return self.map(z, c, sync=True)

    def synthesizer(self, c, cur_nimg, sync):
        return lambda ws: self.G.synthesis(ws, update_emas=False)

    def blur_sigma(self, base, cur_nimg):
        init, fade = getattr(base, 'blur_init_sigma', 0), getattr(base, 'blur_fade_kimg', 0)
        return max(1 - cur_nimg / (fade * 1e3), 0) * init if fade > 0 else 0

    def discriminate(self, base, img, c, cur_nimg, sync):
        return base.run_D(img, c, blur_sigma=self.blur_sigma(base, cur_nimg))

    def link_camera(self, c, mode):
        return c

    def mapping_condition(self, c, base):
        return c


class SG2ADA(Flavour):
    """sg2ada: G_mapping/G_synthesis (maybe DDP-wrapped), `sync` instead of cur_nimg, skip_w_avg_update."""
    name = 'sg2ada'
    call_args = ('sync', 'gain')

    @property
    def mapping_module(self):
        return self.G_mapping

    def call_base(self, base, phase, real_img, real_c, gen_z, gen_c, sync, gain, cur_nimg):
        return base.accumulate_gradients(phase=phase, real_img=real_img, real_c=real_c, gen_z=gen_z, gen_c=gen_c,
                                         sync=sync, gain=gain)

    def map(self, z, c, sync):
        with ddp_sync(self.G_mapping, sync):
            return self.G_mapping(z, c, skip_w_avg_update=True)

    def map_local(self, z, c):
        return unwrap(self.G_mapping)(z, c, skip_w_avg_update=True)

    def synthesizer(self, c, cur_nimg, sync):
        def synthesize(ws):
            with ddp_sync(self.G_synthesis, sync):
                return self.G_synthesis(ws)
        return synthesize

    def discriminate(self, base, img, c, cur_nimg, sync):
        return base.run_D(img, c, sync=sync)


class SG3(Flavour):
    name = 'sg3'


class EG3D(Flavour):
    """eg3d: camera-conditioned dict outputs at a scheduled neural rendering resolution; `G.backbone.num_ws`."""
    name = 'eg3d'
    discriminator_inputs = ('image', 'image_raw')

    @property
    def z_dim(self):
        return int(self.G.z_dim)    # TriPlaneGenerator.mapping is a method, not a module with attributes.

    @property
    def w_dim(self):
        return int(self.G.w_dim)

    def rendering_resolution(self, base, cur_nimg):
        final = getattr(base, 'neural_rendering_resolution_final', None)
        initial = getattr(base, 'neural_rendering_resolution_initial', 64)
        fade = getattr(base, 'neural_rendering_resolution_fade_kimg', 0)
        if final is None:
            return initial
        t = min(cur_nimg / (fade * 1e3), 1) if fade > 0 else 1
        return int(round(initial * (1 - t) + final * t))

    def masked_outputs(self, spec):
        return list(spec.eg3d_targets)

    def mapping_condition(self, c, base):
        # Upstream conditions the mapping on the (maybe swapped) camera whenever gpc_reg_prob is not None (0.0
        # included: the swapping probability is then 0 and the real camera is used), else on zeros.
        return c if getattr(base, 'gpc_reg_prob', None) is not None else torch.zeros_like(c)

    def link_camera(self, c, mode):
        if mode == 'frontal':
            from linkgan_plugin.cameras import frontal_camera
            return frontal_camera(c.shape[0], c.device).to(c.dtype)
        return c

    def synthesizer(self, c, cur_nimg, sync):
        nrr = self.rendering_resolution(self.base, cur_nimg)
        return lambda ws: self.G.synthesis(ws, c, neural_rendering_resolution=nrr, update_emas=False)

    def discriminate(self, base, img, c, cur_nimg, sync):
        sigma = self.blur_sigma(base, cur_nimg)
        return base.run_D({k: img[k] for k in self.discriminator_inputs}, c, blur_sigma=sigma)

#----------------------------------------------------------------------------

def is_eg3d_generator(G):
    """EG3D's TriPlaneGenerator (or a fork of it): it has a `backbone` or `rendering_kwargs`."""
    inner = unwrap(G)
    return hasattr(inner, 'backbone') or hasattr(inner, 'rendering_kwargs')


def detect_flavour(G=None, G_mapping=None, G_synthesis=None):
    """Which upstream built these networks: 'sg2ada' (mapping/synthesis handed separately), 'eg3d' (a
    `backbone` or `rendering_kwargs` on G) or 'sg3'."""
    if G_mapping is not None or G_synthesis is not None:
        if G_mapping is None or G_synthesis is None:
            raise TypeError('LinkLoss: sg2ada passes both G_mapping and G_synthesis; got only one')
        return 'sg2ada'
    if G is None:
        raise TypeError('LinkLoss: expected G (sg3, eg3d) or G_mapping and G_synthesis (sg2ada)')
    return 'eg3d' if is_eg3d_generator(G) else 'sg3'


FLAVOUR_CLASSES = {'sg2ada': SG2ADA, 'sg3': SG3, 'eg3d': EG3D}


def make_flavour(G=None, D=None, G_mapping=None, G_synthesis=None, base=None):
    name = detect_flavour(G, G_mapping, G_synthesis)
    return FLAVOUR_CLASSES[name](G=G, D=D, G_mapping=G_mapping, G_synthesis=G_synthesis, base=base)

#----------------------------------------------------------------------------
