"""Tiny generators and discriminators shaped exactly like each upstream's, for tests and the demo.

They are written from the upstream *interfaces* (upstream.md), not their code: a StyleGAN2-like mapping network
with equalized learning rate and a tracked `w_avg`, a synthesis network of real modulated/demodulated
convolutions with per-pixel noise inputs and skip to-RGB outputs, and small discriminators.

| flavour | G.mapping(z, c, ...)                           | G.synthesis                                   | D                        |
|---------|------------------------------------------------|-----------------------------------------------|--------------------------|
| sg2ada  | truncation_psi, truncation_cutoff, skip_w_avg_update | (ws, noise_mode='random') -> [N, C, R, R] | D(img, c)                |
| sg3     | truncation_psi, truncation_cutoff, update_emas | (ws, update_emas=False, noise_mode=...)       | D(img, c, update_emas)   |
| eg3d    | as sg3 (c is a 25-dim camera)                  | (ws, c, neural_rendering_resolution=None, update_emas=False) -> {'image', 'image_raw', 'image_depth'}; `G.backbone.num_ws` | D({'image', 'image_raw'}, c, update_emas) |
"""

import math

import torch
import torch.nn.functional as F


#----------------------------------------------------------------------------
# Layers.

class FullyConnected(torch.nn.Module):
    """Equalized-learning-rate linear layer: weight stored as N(0, 1/lr_mul^2), scaled at run time."""

    def __init__(self, in_features, out_features, bias_init=0.0, lr_multiplier=1.0, activation=False):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = torch.nn.Parameter(torch.full([out_features], float(bias_init)))
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier
        self.activation = activation

    def forward(self, x):
        x = F.linear(x, self.weight * self.weight_gain, self.bias * self.bias_gain)
        return F.leaky_relu(x, 0.2) * math.sqrt(2) if self.activation else x


class ModulatedConv2d(torch.nn.Module):
    """Conv whose input channels are scaled by a style from w, then (optionally) demodulated.

    forward(x [N, in, H, W], w [N, w_dim]) -> [N, out, H', W'] (H' = 2H when up=True).
    """

    def __init__(self, in_channels, out_channels, kernel_size, w_dim, demodulate=True, up=False):
        super().__init__()
        self.affine = FullyConnected(w_dim, in_channels, bias_init=1.0)
        self.weight = torch.nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.demodulate = demodulate
        self.up = up
        self.padding = kernel_size // 2

    def forward(self, x, w):
        N, I, H, W = x.shape
        styles = self.affine(w)                                              # [N, in]
        weight = self.weight[None] * styles[:, None, :, None, None]          # [N, out, in, k, k]
        weight = weight / math.sqrt(weight[0, 0].numel())
        if self.demodulate:
            weight = weight * (weight.square().sum(dim=[2, 3, 4], keepdim=True) + 1e-8).rsqrt()
        if self.up:
            x = F.interpolate(x, scale_factor=2, mode='bilinear', align_corners=False)
        out = F.conv2d(x.reshape(1, N * I, *x.shape[2:]), weight.reshape(-1, I, *weight.shape[3:]),
                       padding=self.padding, groups=N)
        return out.reshape(N, -1, *out.shape[2:])


class SynthesisLayer(torch.nn.Module):
    """Modulated 3x3 conv + per-pixel noise (learned strength) + bias + leaky ReLU."""

    def __init__(self, in_channels, out_channels, w_dim, resolution, up=False):
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, out_channels, 3, w_dim, up=up)
        self.resolution = resolution
        self.register_buffer('noise_const', torch.randn([resolution, resolution]))
        self.noise_strength = torch.nn.Parameter(torch.zeros([]))
        self.bias = torch.nn.Parameter(torch.zeros([out_channels]))

    def forward(self, x, w, noise_mode='random'):
        x = self.conv(x, w)
        if noise_mode == 'random':
            x = x + torch.randn([x.shape[0], 1, self.resolution, self.resolution], device=x.device) * self.noise_strength
        elif noise_mode == 'const':
            x = x + self.noise_const * self.noise_strength
        return F.leaky_relu(x + self.bias[None, :, None, None], 0.2) * math.sqrt(2)


class ToRGB(torch.nn.Module):
    def __init__(self, in_channels, out_channels, w_dim):
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, out_channels, 1, w_dim, demodulate=False)
        self.bias = torch.nn.Parameter(torch.zeros([out_channels]))

    def forward(self, x, w):
        return self.conv(x, w) + self.bias[None, :, None, None]

#----------------------------------------------------------------------------
# Mapping and synthesis.

class MappingNetwork(torch.nn.Module):
    """z [N, z_dim], c [N, c_dim] -> ws [N, num_ws, w_dim]; tracks w_avg (the truncation centre)."""

    def __init__(self, z_dim, c_dim, w_dim, num_ws, num_layers=4, lr_multiplier=0.01, w_avg_beta=0.995):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        self.w_avg_beta = w_avg_beta
        self.embed = FullyConnected(c_dim, w_dim) if c_dim > 0 else None
        features = [z_dim + (w_dim if c_dim > 0 else 0)] + [w_dim] * num_layers
        self.layers = torch.nn.ModuleList([FullyConnected(a, b, lr_multiplier=lr_multiplier, activation=True)
                                           for a, b in zip(features[:-1], features[1:])])
        self.register_buffer('w_avg', torch.zeros([w_dim]))

    def map(self, z, c, truncation_psi=1, truncation_cutoff=None, update_w_avg=False):
        x = z * (z.square().mean(dim=1, keepdim=True) + 1e-8).rsqrt()
        if self.embed is not None:
            y = self.embed(c.to(torch.float32))
            x = torch.cat([x, y * (y.square().mean(dim=1, keepdim=True) + 1e-8).rsqrt()], dim=1)
        for layer in self.layers:
            x = layer(x)
        if update_w_avg:
            self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        ws = x[:, None].repeat(1, self.num_ws, 1)
        if truncation_psi != 1:
            cutoff = self.num_ws if truncation_cutoff is None else truncation_cutoff
            ws[:, :cutoff] = self.w_avg.lerp(ws[:, :cutoff], truncation_psi)
        return ws


class SynthesisNetwork(torch.nn.Module):
    """ws [N, num_ws, w_dim] -> images [N, img_channels, R, R]: learned 4x4 constant, two modulated convs per
    resolution doubling, skip to-RGB outputs summed across resolutions."""

    def __init__(self, w_dim, img_resolution, img_channels, channels=32):
        super().__init__()
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        self.const = torch.nn.Parameter(torch.randn([channels, 4, 4]))
        self.layers = torch.nn.ModuleList([SynthesisLayer(channels, channels, w_dim, 4)])
        self.torgbs = torch.nn.ModuleList([ToRGB(channels, img_channels, w_dim)])
        self.rgb_after = [0]  # ToRGB k follows layer rgb_after[k].
        res = 4
        while res < img_resolution:
            res *= 2
            self.layers.append(SynthesisLayer(channels, channels, w_dim, res, up=True))
            self.layers.append(SynthesisLayer(channels, channels, w_dim, res))
            self.torgbs.append(ToRGB(channels, img_channels, w_dim))
            self.rgb_after.append(len(self.layers) - 1)
        if res != img_resolution:
            raise ValueError(f'img_resolution must be a power of two >= 4, got {img_resolution}')
        self.num_ws = len(self.layers) + 1  # Each layer takes one row; the last to-RGB takes the extra one.

    def forward(self, ws, noise_mode='random', **_unused):
        if ws.ndim != 3 or ws.shape[1] != self.num_ws or ws.shape[2] != self.w_dim:
            raise ValueError(f'ws must be [batch, {self.num_ws}, {self.w_dim}], got {list(ws.shape)}')
        x = self.const[None].expand(ws.shape[0], -1, -1, -1)
        img = None
        rgb = 0
        for i, layer in enumerate(self.layers):
            x = layer(x, ws[:, i], noise_mode=noise_mode)
            if rgb < len(self.rgb_after) and self.rgb_after[rgb] == i:
                y = self.torgbs[rgb](x, ws[:, i + 1])
                img = y if img is None else F.interpolate(img, scale_factor=2, mode='bilinear', align_corners=False) + y
                rgb += 1
        return img

#----------------------------------------------------------------------------
# Generators of the three flavours.

def _add_mapping_and_synthesis(owner, mapping_class, synthesis_class, z_dim, c_dim, w_dim, resolution, out_channels,
                               channels, mapping_layers):
    """Gives `owner` (a module) its .synthesis (built first, so parameters draw the same random numbers whatever
    the flavour), .num_ws and .mapping."""
    owner.synthesis = synthesis_class(w_dim, resolution, out_channels, channels)
    owner.num_ws = owner.synthesis.num_ws
    owner.mapping = mapping_class(z_dim, c_dim, w_dim, owner.num_ws, mapping_layers)


class _ToyGenerator(torch.nn.Module):
    """What every flavour's G holds; a flavour that declares mapping_class and synthesis_class gets them as
    G.mapping and G.synthesis modules (sg2ada, sg3)."""
    mapping_class = synthesis_class = None

    def __init__(self, z_dim=32, c_dim=0, w_dim=64, img_resolution=32, img_channels=3, channels=32, mapping_layers=4):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.init_kwargs = dict(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, img_resolution=img_resolution,
                                img_channels=img_channels, channels=channels, mapping_layers=mapping_layers)
        if self.synthesis_class is not None:
            _add_mapping_and_synthesis(self, self.mapping_class, self.synthesis_class, z_dim, c_dim, w_dim,
                                       img_resolution, img_channels, channels, mapping_layers)


class SG2ADAMapping(MappingNetwork):
    """sg2ada signature: updates w_avg on every training-mode call unless skip_w_avg_update=True."""

    def forward(self, z, c, truncation_psi=1, truncation_cutoff=None, skip_w_avg_update=False):
        return self.map(z, c, truncation_psi, truncation_cutoff, update_w_avg=self.training and not skip_w_avg_update)


class SG3Mapping(MappingNetwork):
    """sg3/eg3d signature: updates w_avg only when update_emas=True."""

    def forward(self, z, c, truncation_psi=1, truncation_cutoff=None, update_emas=False):
        return self.map(z, c, truncation_psi, truncation_cutoff, update_w_avg=update_emas)


class SG3Synthesis(SynthesisNetwork):
    def forward(self, ws, update_emas=False, noise_mode='random', **kwargs):
        return super().forward(ws, noise_mode=noise_mode)


class ToyGeneratorSG2ADA(_ToyGenerator):
    """StyleGAN2-ADA-shaped G: G.mapping and G.synthesis are handed to the loss separately."""
    mapping_class, synthesis_class = SG2ADAMapping, SynthesisNetwork

    def forward(self, z, c, truncation_psi=1, truncation_cutoff=None, noise_mode='random'):
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return self.synthesis(ws, noise_mode=noise_mode)


class ToyGeneratorSG3(_ToyGenerator):
    """StyleGAN3-shaped G: mapping/synthesis take update_emas."""
    mapping_class, synthesis_class = SG3Mapping, SG3Synthesis

    def forward(self, z, c, truncation_psi=1, truncation_cutoff=None, update_emas=False, **synthesis_kwargs):
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff, update_emas=update_emas)
        return self.synthesis(ws, update_emas=update_emas, **synthesis_kwargs)


class _Backbone(torch.nn.Module):
    """EG3D's backbone: owns mapping + synthesis of feature planes; `num_ws` lives here."""

    def __init__(self, z_dim, c_dim, w_dim, resolution, channels, mapping_layers, planes=8):
        super().__init__()
        _add_mapping_and_synthesis(self, SG3Mapping, SynthesisNetwork, z_dim, c_dim, w_dim, resolution, planes,
                                   channels, mapping_layers)


class ToyGeneratorEG3D(_ToyGenerator):
    """EG3D-shaped G: 25-dim camera labels, dict output, a neural rendering resolution, `backbone.num_ws`.

    The "renderer" is a camera-dependent 1x1 mix of backbone feature planes pooled to the neural rendering
    resolution, which gives image_raw (RGB) and image_depth; a modulated super-resolution layer (last ws row) gives image. Like EG3D, there is
    no `G.num_ws`: the layout is `G.backbone.num_ws`.
    """

    def __init__(self, z_dim=32, c_dim=25, w_dim=64, img_resolution=32, img_channels=3, channels=32,
                 mapping_layers=4, neural_rendering_resolution=16):
        super().__init__(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, img_resolution=img_resolution,
                         img_channels=img_channels, channels=channels, mapping_layers=mapping_layers)
        self.init_kwargs['neural_rendering_resolution'] = neural_rendering_resolution
        self.backbone = _Backbone(z_dim, c_dim, w_dim, img_resolution, channels, mapping_layers)
        self.camera_mix = torch.nn.Linear(c_dim, 8 * 4)
        self.superresolution = ModulatedConv2d(3, img_channels, 3, w_dim)
        self.neural_rendering_resolution = neural_rendering_resolution
        self.ray_jitter = 0.05
        self.rendering_kwargs = {'density_reg': 0.25, 'reg_type': 'l1', 'c_scale': 1.0, 'image_resolution': img_resolution,
                                 'superresolution_noise_mode': 'none'}

    def mapping(self, z, c, truncation_psi=1, truncation_cutoff=None, update_emas=False):
        """Like EG3D, a method (not a module): the backbone's mapping of z and the camera scaled by c_scale."""
        return self.backbone.mapping(z, c * self.rendering_kwargs['c_scale'], truncation_psi=truncation_psi,
                                     truncation_cutoff=truncation_cutoff, update_emas=update_emas)

    def synthesis(self, ws, c, neural_rendering_resolution=None, update_emas=False, noise_mode='random', **kwargs):
        nrr = neural_rendering_resolution or self.neural_rendering_resolution
        planes = self.backbone.synthesis(ws, noise_mode=noise_mode)      # [N, 8, R, R]
        mix = self.camera_mix(c.to(planes.dtype)).reshape(-1, 4, 8)                               # [N, 4, 8]
        raw = torch.einsum('nkc,nchw->nkhw', mix.tanh() + torch.eye(4, 8, device=planes.device), planes)
        # Ray jitter: like EG3D's stratified depth sampling, every render draws random numbers whatever the noise
        # mode, so two renders of one w differ unless the RNG is replayed.
        raw = raw * (1 + getattr(self, "ray_jitter", 0.0) * (torch.rand([raw.shape[0], 1, *raw.shape[2:]], device=raw.device) - 0.5))
        raw = F.interpolate(raw, size=(nrr, nrr), mode='area') if nrr < raw.shape[2] else \
            F.interpolate(raw, size=(nrr, nrr), mode='bilinear', align_corners=False)
        image_raw, image_depth = raw[:, :3], raw[:, 3:4]
        up = F.interpolate(image_raw, size=(self.img_resolution, self.img_resolution), mode='bilinear', align_corners=False)
        image = up + self.superresolution(up, ws[:, -1]) * 0.1
        return {'image': image, 'image_raw': image_raw, 'image_depth': image_depth}

    def forward(self, z, c, truncation_psi=1, truncation_cutoff=None, neural_rendering_resolution=None, update_emas=False, **kwargs):
        ws = self.mapping(z, c, truncation_psi=truncation_psi,
                          truncation_cutoff=truncation_cutoff, update_emas=update_emas)
        return self.synthesis(ws, c, neural_rendering_resolution=neural_rendering_resolution, update_emas=update_emas, **kwargs)

#----------------------------------------------------------------------------
# Discriminators.

def minibatch_stddev(x, group_size=4, per_location=False):
    """The minibatch standard deviation feature of features x [N, C, H, W] -> [N, 1, H, W] (StyleGAN2-ADA's
    DiscriminatorEpilogue, one feature channel).

    Samples are split into groups of min(group_size, N) (smaller if N is not a multiple; sample n is in group
    n % (N / group_size), as upstream does). Per group: the standard deviation over the group's samples of every
    feature, averaged over channels and positions (upstream: one number per group, constant over H x W) or, with
    per_location=True, over channels only (one value per position). Every sample gets its group's map. Because the
    group size follows the batch, D can tell two batches of different sizes apart by this feature alone.
    """
    N, C, H, W = x.shape
    G = min(group_size, N)
    while N % G:
        G -= 1
    y = x.reshape(G, -1, C, H, W)                                           # [G, N/G, C, H, W]
    y = (y - y.mean(dim=0)).square().mean(dim=0).add(1e-8).sqrt()          # [N/G, C, H, W]
    if per_location:
        return y.mean(dim=1, keepdim=True).repeat(G, 1, 1, 1)              # [N, 1, H, W]
    return y.mean(dim=[1, 2, 3]).reshape(-1, 1, 1, 1).repeat(G, 1, H, W)


class _DiscriminatorTrunk(torch.nn.Module):
    """Strided conv stack -> minibatch-stddev feature -> features -> logit, with a projection on c when c_dim > 0.

    mbstd_group_size: upstream's minibatch-stddev group (4; 0 turns the feature off).
    mbstd_per_location: one stddev value per 4x4 position instead of upstream's single number (the demo's D: a link
        fine-tune that leaves one quadrant constant barely moves the image-wide average, but it is plain per
        position; measured on the demo, seed 1, lambda 6, 12 kimg: the top-left link kept 0.28 of the baseline's
        edit_i with upstream's feature and 0.53 with this one, at the same leakage).
    """

    def __init__(self, in_channels, resolution, c_dim=0, channels=32, mbstd_group_size=4, mbstd_per_location=False):
        super().__init__()
        layers, res, ch = [], resolution, in_channels
        while res > 4:
            layers += [torch.nn.Conv2d(ch, channels, 3, padding=1), torch.nn.LeakyReLU(0.2),
                       torch.nn.Conv2d(channels, channels, 3, stride=2, padding=1), torch.nn.LeakyReLU(0.2)]
            ch, res = channels, res // 2
        self.convs = torch.nn.Sequential(*layers)
        self.mbstd_group_size = mbstd_group_size
        self.mbstd_per_location = mbstd_per_location
        self.fc = torch.nn.Linear((ch + (1 if mbstd_group_size else 0)) * res * res, channels)
        self.out = torch.nn.Linear(channels, 1)
        self.cmap = torch.nn.Linear(c_dim, channels) if c_dim > 0 else None

    def forward(self, x, c):
        x = self.convs(x)
        if self.mbstd_group_size:
            x = torch.cat([x, minibatch_stddev(x, self.mbstd_group_size, self.mbstd_per_location)], dim=1)
        x = F.leaky_relu(self.fc(x.flatten(1)), 0.2)
        if self.cmap is None:
            return self.out(x)
        return self.out(x) + (x * self.cmap(c.to(x.dtype))).sum(dim=1, keepdim=True) / math.sqrt(x.shape[1])


class ToyDiscriminatorSG2ADA(torch.nn.Module):
    def __init__(self, c_dim=0, img_resolution=32, img_channels=3, channels=32, mbstd_group_size=4,
                 mbstd_per_location=False):
        super().__init__()
        self.c_dim, self.img_resolution, self.img_channels = c_dim, img_resolution, img_channels
        self.init_kwargs = dict(c_dim=c_dim, img_resolution=img_resolution, img_channels=img_channels, channels=channels,
                                mbstd_group_size=mbstd_group_size, mbstd_per_location=mbstd_per_location)
        self.trunk = _DiscriminatorTrunk(img_channels, img_resolution, c_dim, channels, mbstd_group_size,
                                         mbstd_per_location)

    def forward(self, img, c, **_unused):
        return self.trunk(img, c)


class ToyDiscriminatorSG3(ToyDiscriminatorSG2ADA):
    def forward(self, img, c, update_emas=False, **_unused):
        return self.trunk(img, c)


class ToyDiscriminatorEG3D(torch.nn.Module):
    """Sees image and image_raw (upsampled), concatenated, like EG3D's dual discrimination."""

    def __init__(self, c_dim=25, img_resolution=32, img_channels=3, channels=32, mbstd_group_size=4):
        super().__init__()
        self.c_dim, self.img_resolution, self.img_channels = c_dim, img_resolution, img_channels
        self.init_kwargs = dict(c_dim=c_dim, img_resolution=img_resolution, img_channels=img_channels, channels=channels,
                                mbstd_group_size=mbstd_group_size)
        self.trunk = _DiscriminatorTrunk(2 * img_channels, img_resolution, c_dim, channels, mbstd_group_size)

    def forward(self, img, c, update_emas=False, **_unused):
        raw = F.interpolate(img['image_raw'], size=img['image'].shape[2:], mode='bilinear', align_corners=False)
        return self.trunk(torch.cat([img['image'], raw], dim=1), c)

#----------------------------------------------------------------------------

# The toy classes of each flavour: (generator, discriminator).
TOY_NETWORKS = {
    'sg2ada': (ToyGeneratorSG2ADA, ToyDiscriminatorSG2ADA),
    'sg3':    (ToyGeneratorSG3, ToyDiscriminatorSG3),
    'eg3d':   (ToyGeneratorEG3D, ToyDiscriminatorEG3D),
}
FLAVOURS = tuple(TOY_NETWORKS)


def toy_classes(flavour):
    """(generator class, discriminator class) of a flavour; ValueError naming the flavours for anything else."""
    if flavour not in TOY_NETWORKS:
        raise ValueError(f"flavour must be 'sg2ada', 'sg3' or 'eg3d', got {flavour!r}")
    return TOY_NETWORKS[flavour]


def make_toy_networks(flavour, **kwargs):
    """(G, D) of a flavour ('sg2ada' | 'sg3' | 'eg3d'); kwargs go to G (z_dim, w_dim, img_resolution, ...)."""
    G_class, D_class = toy_classes(flavour)
    G = G_class(**kwargs)
    return G, D_class(c_dim=G.c_dim, img_resolution=G.img_resolution, img_channels=G.img_channels)

#----------------------------------------------------------------------------
