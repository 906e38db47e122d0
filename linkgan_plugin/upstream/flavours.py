"""The one place that knows how StyleGAN2-ADA, StyleGAN3 and EG3D differ.

A flavour class knows, for its upstream (class attributes and classmethods, usable on a bare G_ema):
    matches_generator(G)            -> whether this upstream built G (detection order: FLAVOUR_CLASSES)
    outputs, primary_output, discriminator_inputs, camera_labels, train_w_dim, train_resolutions
    num_ws_of(G), mapping_network_of(G), labels(batch, c_dim, ...), render(G, ws, c)
                                    -> what evaluation and editing need
    loss_networks(G)                -> the networks its loss constructor takes (sg2ada: mapping and synthesis)
    call_loss(loss, ...)            -> its accumulate_gradients call convention
An instance wraps the networks and the base loss upstream built, and offers the link pass what it needs in one
vocabulary:
    parse_call(args, kwargs)        -> (sync, gain, cur_nimg) from accumulate_gradients' arguments
    call_base(base, phase, ...)     -> runs the base loss's accumulate_gradients with upstream's signature
    map(z, c, sync)                 -> ws [N, num_ws, w_dim], no style mixing, w_avg untouched
    synthesizer(c, cur_nimg, sync)  -> callable ws -> image [N, C, H, W] or dict of images (EG3D)
    discriminate(base, img, c, cur_nimg, sync) -> logits, through the base loss's run_D (augment, blur)
    link_camera(c)                  -> the camera the link pass renders with (EG3D)
"""

import torch

from linkgan_plugin.upstream.cameras import frontal_camera, random_cameras
from linkgan_plugin.upstream.ddp import ddp_sync, unwrap

#----------------------------------------------------------------------------

class Flavour:
    name = None
    call_args = ('gain', 'cur_nimg')    # accumulate_gradients' arguments after (phase, real_img, real_c, gen_z, gen_c).
    outputs = ('image',)                # What the synthesis renders (evaluation and editing measure these).
    primary_output = 'image'            # The RGB output semantic regions are segmented from.
    discriminator_inputs = ('image',)   # Outputs D scores (dict outputs only).
    camera_labels = False               # True: the label c is a camera (EG3D's 25 values).
    train_w_dim = 512                   # The w_dim upstream's train.py builds (all three hard-code 512).
    train_resolutions = None            # Dataset resolutions train.py accepts (None: any power of two >= 4).

    # A bare generator (G_ema) ---------------------------------------------------
    @classmethod
    def matches_generator(cls, G):
        raise NotImplementedError

    @classmethod
    def num_ws_of(cls, G):
        return int(unwrap(G).num_ws)

    @classmethod
    def mapping_network_of(cls, G):
        """The mapping network module of G (where upstream tracks w_avg), or None when G has none."""
        mapping = getattr(unwrap(G), 'mapping', None)
        return mapping if isinstance(mapping, torch.nn.Module) else None

    @classmethod
    def labels(cls, batch, c_dim, device, camera='frontal', generator=None):
        """Labels for `batch` samples to render with: zeros [batch, c_dim] (class-conditional networks: class 0)."""
        return torch.zeros([batch, c_dim], device=device)

    @classmethod
    def render(cls, G, ws, c):
        """{output: [N, C, H, W]} of ws [N, num_ws, w_dim] with constant noise (evaluation, editing)."""
        return {'image': unwrap(G).synthesis(ws, noise_mode='const')}

    @classmethod
    def loss_networks(cls, G):
        """The generator arguments its loss constructor takes."""
        return dict(G=G)

    @classmethod
    def call_loss(cls, loss, phase, real_img, real_c, gen_z, gen_c, sync, gain, cur_nimg):
        """Calls loss.accumulate_gradients with this upstream's convention, its `call_args` of (sync, gain,
        cur_nimg), as its training loop does."""
        given = dict(sync=sync, gain=gain, cur_nimg=cur_nimg)
        return loss.accumulate_gradients(phase=phase, real_img=real_img, real_c=real_c, gen_z=gen_z, gen_c=gen_c,
                                         **{name: given[name] for name in cls.call_args})

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

    def generator_parameters(self):
        """G's trainable parameters (mapping and synthesis; DDP wrappers looked through), in a fixed order."""
        modules = [self.G] if self.G is not None else [self.G_mapping, self.G_synthesis]
        return [p for m in modules for p in unwrap(m).parameters() if p.requires_grad]

    # Call conventions ---------------------------------------------------------
    def parse_call(self, args, kwargs):
        """(sync, gain, cur_nimg) from the trailing arguments; cur_nimg is None where the upstream has none."""
        values = dict(zip(self.call_args, args), **kwargs)
        unknown = set(values) - set(self.call_args)
        if unknown:
            raise TypeError(f'{self.name} accumulate_gradients got unexpected arguments {sorted(unknown)}')
        return values.get('sync', True), values.get('gain', 1), values.get('cur_nimg')

    def call_base(self, base, phase, real_img, real_c, gen_z, gen_c, sync, gain, cur_nimg):
        """call_loss on the base loss; cur_nimg None (the caller's upstream has none) counts as 0."""
        return self.call_loss(base, phase, real_img, real_c, gen_z, gen_c, sync, gain, 0 if cur_nimg is None else cur_nimg)

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

    @classmethod
    def matches_generator(cls, G):
        return True             # Tried last: neither EG3D's backbone nor StyleGAN3's update_emas.

    @classmethod
    def loss_networks(cls, G):
        return dict(G_mapping=G.mapping, G_synthesis=G.synthesis)

    @property
    def mapping_module(self):
        return self.G_mapping

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

    @classmethod
    def matches_generator(cls, G):
        import inspect
        try:
            return 'update_emas' in inspect.signature(unwrap(G).mapping.forward).parameters
        except (AttributeError, TypeError, ValueError):
            return False


class EG3D(Flavour):
    """eg3d: camera-conditioned dict outputs at a scheduled neural rendering resolution; `G.backbone.num_ws`."""
    name = 'eg3d'
    outputs = ('image', 'image_raw', 'image_depth')
    discriminator_inputs = ('image', 'image_raw')
    camera_labels = True
    train_resolutions = (128, 256, 512)

    @classmethod
    def matches_generator(cls, G):
        inner = unwrap(G)       # TriPlaneGenerator (or a fork): a `backbone` or `rendering_kwargs`.
        return hasattr(inner, 'backbone') or hasattr(inner, 'rendering_kwargs')

    @classmethod
    def num_ws_of(cls, G):
        return int(unwrap(G).backbone.num_ws)

    @classmethod
    def mapping_network_of(cls, G):
        mapping = getattr(getattr(unwrap(G), 'backbone', None), 'mapping', None)    # G.mapping is a method.
        return mapping if isinstance(mapping, torch.nn.Module) else None

    @classmethod
    def labels(cls, batch, c_dim, device, camera='frontal', generator=None):
        if camera == 'sampled':
            return random_cameras(batch, device, generator=generator)
        return frontal_camera(batch, device)

    @classmethod
    def render(cls, G, ws, c):
        return dict(unwrap(G).synthesis(ws, c, noise_mode='const'))

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
            return frontal_camera(c.shape[0], c.device).to(c.dtype)
        return c

    def synthesizer(self, c, cur_nimg, sync):
        nrr = self.rendering_resolution(self.base, cur_nimg)
        return lambda ws: self.G.synthesis(ws, c, neural_rendering_resolution=nrr, update_emas=False)

    def discriminate(self, base, img, c, cur_nimg, sync):
        sigma = self.blur_sigma(base, cur_nimg)
        return base.run_D({k: img[k] for k in self.discriminator_inputs}, c, blur_sigma=sigma)

#----------------------------------------------------------------------------

FLAVOUR_CLASSES = {'eg3d': EG3D, 'sg3': SG3, 'sg2ada': SG2ADA}     # In detection order.


def flavour_of_generator(G):
    """The flavour class of a generator (G_ema, maybe DDP-wrapped): the first in FLAVOUR_CLASSES that matches."""
    return next(cls for cls in FLAVOUR_CLASSES.values() if cls.matches_generator(G))


def detect_flavour(G=None, G_mapping=None, G_synthesis=None):
    """Which upstream built the networks a loss was constructed with: 'sg2ada' (mapping and synthesis handed
    separately), else the flavour of G ('eg3d' or 'sg3'; a whole G is never sg2ada's convention)."""
    if G_mapping is not None or G_synthesis is not None:
        if G_mapping is None or G_synthesis is None:
            raise TypeError('LinkLoss: sg2ada passes both G_mapping and G_synthesis; got only one')
        return 'sg2ada'
    if G is None:
        raise TypeError('LinkLoss: expected G (sg3, eg3d) or G_mapping and G_synthesis (sg2ada)')
    return 'eg3d' if EG3D.matches_generator(G) else 'sg3'


def make_flavour(G=None, D=None, G_mapping=None, G_synthesis=None, base=None):
    name = detect_flavour(G, G_mapping, G_synthesis)
    return FLAVOUR_CLASSES[name](G=G, D=D, G_mapping=G_mapping, G_synthesis=G_synthesis, base=base)

#----------------------------------------------------------------------------
