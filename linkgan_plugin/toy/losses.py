"""Base GAN losses with each upstream's exact constructor, run_G/run_D and accumulate_gradients signatures and
phase behaviour, written from the contract in upstream.md (non-saturating logistic loss, R1, path length).

They stand in for `training.loss.StyleGAN2Loss` in tests and the demo:
- ToySG2ADALoss: (device, G_mapping, G_synthesis, D, ...), `sync` + `gain`, ddp_sync, no cur_nimg.
- ToySG3Loss:    (device, G, D, ...), `gain` + `cur_nimg`; Greg/Gboth remapped when pl_weight == 0,
                 Dreg/Dboth when r1_gamma == 0; optional blur of D inputs fading with cur_nimg.
- ToyEG3DLoss:   as sg3 plus camera conditioning swap, a neural rendering resolution schedule, dict images
                 ({'image', 'image_raw'}) for reals and fakes, and Greg remapped when density_reg == 0.
"""

import numpy as np
import torch
import torch.nn.functional as F

from linkgan_plugin.upstream.ddp import ddp_sync
from linkgan_plugin.upstream.stats import report

PHASES = ('Gmain', 'Greg', 'Gboth', 'Dmain', 'Dreg', 'Dboth')

#----------------------------------------------------------------------------

def _blur(img, sigma):
    """Gaussian blur with a (6 sigma + 1)-tap separable kernel; identity for sigma < 1/3."""
    size = int(np.floor(sigma * 3))
    if size <= 0:
        return img
    f = torch.arange(-size, size + 1, device=img.device, dtype=img.dtype).div(sigma).square().neg().exp2()
    f = f / f.sum()
    C = img.shape[1]
    img = F.conv2d(F.pad(img, [size, size, 0, 0], mode='reflect'), f.view(1, 1, 1, -1).repeat(C, 1, 1, 1), groups=C)
    return F.conv2d(F.pad(img, [0, 0, size, size], mode='reflect'), f.view(1, 1, -1, 1).repeat(C, 1, 1, 1), groups=C)


def _style_mix(ws, prob, remap):
    """Replaces rows [cutoff:] of ws with those of another latent with probability `prob` (in place)."""
    if prob <= 0:
        return ws
    cutoff = int(torch.randint(1, ws.shape[1], []))
    if float(torch.rand([])) < prob:
        ws[:, cutoff:] = remap()[:, cutoff:]
    return ws


class _Logistic:
    """Shared maths of the non-saturating logistic loss with lazy R1 and path-length regularization."""

    def _init_common(self, device, D, augment_pipe, r1_gamma, style_mixing_prob, pl_weight, pl_batch_shrink, pl_decay):
        self.device = device
        self.D = D
        self.augment_pipe = augment_pipe
        self.r1_gamma = r1_gamma
        self.style_mixing_prob = style_mixing_prob
        self.pl_weight = pl_weight
        self.pl_batch_shrink = pl_batch_shrink
        self.pl_decay = pl_decay
        self.pl_mean = torch.zeros([], device=device)

    def _g_main(self, fake, logits_of, gain):
        logits = logits_of(fake)
        report('Loss/scores/fake', logits)
        loss = F.softplus(-logits)
        report('Loss/G/loss', loss)
        loss.mean().mul(gain).backward()

    def _g_pl(self, img, ws, gain):
        noise = torch.randn_like(img) / np.sqrt(img.shape[2] * img.shape[3])
        grads, = torch.autograd.grad(outputs=[(img * noise).sum()], inputs=[ws], create_graph=True)
        lengths = grads.square().sum(2).mean(1).sqrt()
        pl_mean = self.pl_mean.lerp(lengths.mean(), self.pl_decay)
        self.pl_mean.copy_(pl_mean.detach())
        penalty = (lengths - pl_mean).square()
        report('Loss/pl_penalty', penalty)
        (img[:, 0, 0, 0] * 0 + penalty * self.pl_weight).mean().mul(gain).backward()

    def _d_fake(self, logits, gain):
        report('Loss/scores/fake', logits)
        loss = F.softplus(logits)
        loss.mean().mul(gain).backward()
        return loss

    def _d_real(self, real, logits_of, do_main, do_r1, gain, loss_fake=0):
        leaves = [t.detach().requires_grad_(do_r1) for t in (real.values() if isinstance(real, dict) else [real])]
        real_in = dict(zip(real.keys(), leaves)) if isinstance(real, dict) else leaves[0]
        logits = logits_of(real_in)
        report('Loss/scores/real', logits)
        loss = logits * 0
        if do_main:
            loss = loss + F.softplus(-logits)
            report('Loss/D/loss', loss_fake + F.softplus(-logits))
        if do_r1:
            grads = torch.autograd.grad(outputs=[logits.sum()], inputs=leaves, create_graph=True)
            penalty = sum(g.square().sum([1, 2, 3]) for g in grads)
            report('Loss/r1_penalty', penalty)
            loss = loss + penalty * (self.r1_gamma / 2)
        loss.mean().mul(gain).backward()

#----------------------------------------------------------------------------

class ToySG2ADALoss(_Logistic):
    def __init__(self, device, G_mapping, G_synthesis, D, augment_pipe=None, style_mixing_prob=0.9, r1_gamma=10,
                 pl_batch_shrink=2, pl_decay=0.01, pl_weight=2):
        self._init_common(device, D, augment_pipe, r1_gamma, style_mixing_prob, pl_weight, pl_batch_shrink, pl_decay)
        self.G_mapping = G_mapping
        self.G_synthesis = G_synthesis

    def run_G(self, z, c, sync):
        with ddp_sync(self.G_mapping, sync):
            ws = self.G_mapping(z, c)
            ws = _style_mix(ws, self.style_mixing_prob, lambda: self.G_mapping(torch.randn_like(z), c, skip_w_avg_update=True))
        with ddp_sync(self.G_synthesis, sync):
            img = self.G_synthesis(ws)
        return img, ws

    def run_D(self, img, c, sync):
        if self.augment_pipe is not None:
            img = self.augment_pipe(img)
        with ddp_sync(self.D, sync):
            return self.D(img, c)

    def accumulate_gradients(self, phase, real_img, real_c, gen_z, gen_c, sync, gain):
        assert phase in PHASES
        do_Gmain = phase in ('Gmain', 'Gboth')
        do_Dmain = phase in ('Dmain', 'Dboth')
        do_Gpl = phase in ('Greg', 'Gboth') and self.pl_weight != 0
        do_Dr1 = phase in ('Dreg', 'Dboth') and self.r1_gamma != 0
        if do_Gmain:
            img, _ = self.run_G(gen_z, gen_c, sync=(sync and not do_Gpl))
            self._g_main(img, lambda x: self.run_D(x, gen_c, sync=False), gain)
        if do_Gpl:
            n = gen_z.shape[0] // self.pl_batch_shrink
            img, ws = self.run_G(gen_z[:n], gen_c[:n], sync=sync)
            self._g_pl(img, ws, gain)
        loss_fake = 0
        if do_Dmain:
            img, _ = self.run_G(gen_z, gen_c, sync=False)
            loss_fake = self._d_fake(self.run_D(img.detach(), gen_c, sync=False), gain)
        if do_Dmain or do_Dr1:
            self._d_real(real_img, lambda x: self.run_D(x, real_c, sync=sync), do_Dmain, do_Dr1, gain, loss_fake)


class ToySG3Loss(_Logistic):
    def __init__(self, device, G, D, augment_pipe=None, r1_gamma=10, style_mixing_prob=0, pl_weight=0, pl_batch_shrink=2,
                 pl_decay=0.01, pl_no_weight_grad=False, blur_init_sigma=0, blur_fade_kimg=0):
        self._init_common(device, D, augment_pipe, r1_gamma, style_mixing_prob, pl_weight, pl_batch_shrink, pl_decay)
        self.G = G
        self.pl_no_weight_grad = pl_no_weight_grad
        self.blur_init_sigma = blur_init_sigma
        self.blur_fade_kimg = blur_fade_kimg

    def blur_sigma(self, cur_nimg):
        if self.blur_fade_kimg <= 0:
            return 0
        return max(1 - cur_nimg / (self.blur_fade_kimg * 1e3), 0) * self.blur_init_sigma

    def run_G(self, z, c, update_emas=False):
        ws = self.G.mapping(z, c, update_emas=update_emas)
        ws = _style_mix(ws, self.style_mixing_prob, lambda: self.G.mapping(torch.randn_like(z), c, update_emas=False))
        return self.G.synthesis(ws, update_emas=update_emas), ws

    def run_D(self, img, c, blur_sigma=0, update_emas=False):
        img = _blur(img, blur_sigma)
        if self.augment_pipe is not None:
            img = self.augment_pipe(img)
        return self.D(img, c, update_emas=update_emas)

    def _remap(self, phase):
        if self.pl_weight == 0:
            phase = {'Greg': 'none', 'Gboth': 'Gmain'}.get(phase, phase)
        if self.r1_gamma == 0:
            phase = {'Dreg': 'none', 'Dboth': 'Dmain'}.get(phase, phase)
        return phase

    def accumulate_gradients(self, phase, real_img, real_c, gen_z, gen_c, gain, cur_nimg):
        assert phase in PHASES
        phase = self._remap(phase)
        sigma = self.blur_sigma(cur_nimg)
        if phase in ('Gmain', 'Gboth'):
            img, _ = self.run_G(gen_z, gen_c)
            self._g_main(img, lambda x: self.run_D(x, gen_c, blur_sigma=sigma), gain)
        if phase in ('Greg', 'Gboth'):
            n = gen_z.shape[0] // self.pl_batch_shrink
            img, ws = self.run_G(gen_z[:n], gen_c[:n])
            self._g_pl(img, ws, gain)
        loss_fake = 0
        if phase in ('Dmain', 'Dboth'):
            img, _ = self.run_G(gen_z, gen_c, update_emas=True)
            loss_fake = self._d_fake(self.run_D(img.detach(), gen_c, blur_sigma=sigma, update_emas=True), gain)
        if phase in ('Dmain', 'Dreg', 'Dboth'):
            self._d_real(real_img, lambda x: self.run_D(x, real_c, blur_sigma=sigma),
                         phase in ('Dmain', 'Dboth'), phase in ('Dreg', 'Dboth'), gain, loss_fake)


class ToyEG3DLoss(ToySG3Loss):
    def __init__(self, device, G, D, augment_pipe=None, r1_gamma=10, style_mixing_prob=0, pl_weight=0, pl_batch_shrink=2,
                 pl_decay=0.01, pl_no_weight_grad=False, blur_init_sigma=0, blur_fade_kimg=0, r1_gamma_init=0,
                 r1_gamma_fade_kimg=0, neural_rendering_resolution_initial=64, neural_rendering_resolution_final=None,
                 neural_rendering_resolution_fade_kimg=0, gpc_reg_fade_kimg=1000, gpc_reg_prob=None,
                 dual_discrimination=False, filter_mode='antialiased'):
        super().__init__(device, G, D, augment_pipe, r1_gamma, style_mixing_prob, pl_weight, pl_batch_shrink, pl_decay,
                         pl_no_weight_grad, blur_init_sigma, blur_fade_kimg)
        self.r1_gamma_init = r1_gamma_init
        self.r1_gamma_fade_kimg = r1_gamma_fade_kimg
        self.neural_rendering_resolution_initial = neural_rendering_resolution_initial
        self.neural_rendering_resolution_final = neural_rendering_resolution_final
        self.neural_rendering_resolution_fade_kimg = neural_rendering_resolution_fade_kimg
        self.gpc_reg_fade_kimg = gpc_reg_fade_kimg
        self.gpc_reg_prob = gpc_reg_prob
        self.dual_discrimination = dual_discrimination
        self.filter_mode = filter_mode

    def rendering_resolution(self, cur_nimg):
        if self.neural_rendering_resolution_final is None:
            return self.neural_rendering_resolution_initial
        t = min(cur_nimg / (self.neural_rendering_resolution_fade_kimg * 1e3), 1) if self.neural_rendering_resolution_fade_kimg > 0 else 1
        return int(np.rint(self.neural_rendering_resolution_initial * (1 - t) + self.neural_rendering_resolution_final * t))

    def swapping_prob(self, cur_nimg):
        if self.gpc_reg_prob is None:
            return None
        t = min(cur_nimg / (self.gpc_reg_fade_kimg * 1e3), 1) if self.gpc_reg_fade_kimg > 0 else 1
        return (1 - t) * 1 + t * self.gpc_reg_prob

    def run_G(self, z, c, swapping_prob, neural_rendering_resolution, update_emas=False):
        if swapping_prob is not None:
            swapped = torch.roll(c.clone(), 1, 0)
            c_cond = torch.where(torch.rand([c.shape[0], 1], device=c.device) < swapping_prob, swapped, c)
        else:
            c_cond = torch.zeros_like(c)
        ws = self.G.mapping(z, c_cond, update_emas=update_emas)
        ws = _style_mix(ws, self.style_mixing_prob, lambda: self.G.mapping(torch.randn_like(z), c, update_emas=False))
        return self.G.synthesis(ws, c, neural_rendering_resolution=neural_rendering_resolution, update_emas=update_emas), ws

    def run_D(self, img, c, blur_sigma=0, blur_sigma_raw=0, update_emas=False):
        img = dict(img)
        img['image'] = _blur(img['image'], blur_sigma)
        return self.D(img, c, update_emas=update_emas)

    def accumulate_gradients(self, phase, real_img, real_c, gen_z, gen_c, gain, cur_nimg):
        assert phase in PHASES
        if self.G.rendering_kwargs.get('density_reg', 0) == 0:
            phase = {'Greg': 'none', 'Gboth': 'Gmain'}.get(phase, phase)
        if self.r1_gamma == 0:
            phase = {'Dreg': 'none', 'Dboth': 'Dmain'}.get(phase, phase)
        sigma = self.blur_sigma(cur_nimg)
        nrr = self.rendering_resolution(cur_nimg)
        swap = self.swapping_prob(cur_nimg)
        real_raw = F.interpolate(real_img, size=(nrr, nrr), mode='bilinear', align_corners=False, antialias=True)
        real = {'image': real_img, 'image_raw': real_raw}
        if phase in ('Gmain', 'Gboth'):
            out, _ = self.run_G(gen_z, gen_c, swap, nrr)
            self._g_main(out, lambda x: self.run_D(x, gen_c, blur_sigma=sigma), gain)
        if phase in ('Greg', 'Gboth'):  # Density-style regularizer: depth must vary smoothly with w.
            ws = self.G.mapping(gen_z, torch.zeros_like(gen_c))
            d0 = self.G.synthesis(ws, gen_c, neural_rendering_resolution=nrr)['image_depth']
            d1 = self.G.synthesis(ws + torch.randn_like(ws) * 1e-2, gen_c, neural_rendering_resolution=nrr)['image_depth']
            reg = (d0 - d1).abs().mean([1, 2, 3]) * self.G.rendering_kwargs['density_reg']
            report('Loss/G/TVloss', reg)
            reg.mean().mul(gain).backward()
        loss_fake = 0
        if phase in ('Dmain', 'Dboth'):
            out, _ = self.run_G(gen_z, gen_c, swap, nrr, update_emas=True)
            fake = {k: v.detach() for k, v in out.items()}
            loss_fake = self._d_fake(self.run_D(fake, gen_c, blur_sigma=sigma, update_emas=True), gain)
        if phase in ('Dmain', 'Dreg', 'Dboth'):
            self._d_real(real, lambda x: self.run_D(x, real_c, blur_sigma=sigma),
                         phase in ('Dmain', 'Dboth'), phase in ('Dreg', 'Dboth'), gain, loss_fake)

#----------------------------------------------------------------------------

TOY_LOSSES = {
    'sg2ada': 'linkgan_plugin.toy.losses.ToySG2ADALoss',
    'sg3':    'linkgan_plugin.toy.losses.ToySG3Loss',
    'eg3d':   'linkgan_plugin.toy.losses.ToyEG3DLoss',
}
