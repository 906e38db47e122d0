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


def _fade(cur_nimg, fade_kimg):
    """How far a schedule that fades over `fade_kimg` thousand images has come at cur_nimg: 0 .. 1 (1 when
    fade_kimg <= 0)."""
    return min(cur_nimg / (fade_kimg * 1e3), 1) if fade_kimg > 0 else 1


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

    def _init_common(self, args):
        """Keeps every constructor argument (the constructor's locals() on entry) as the attribute of its name, as
        upstream's losses do, plus the path-length running mean."""
        for name, value in args.items():
            if name not in ('self', '__class__'):
                setattr(self, name, value)
        self.pl_mean = torch.zeros([], device=self.device)

    def _phases(self, phase, g_reg_on):
        """(do_Gmain, do_Greg, do_Dmain, do_Dr1) of a phase, with upstream's remapping: Greg / Gboth lose their
        regularization when g_reg_on is False, Dreg / Dboth theirs when r1_gamma == 0."""
        return (phase in ('Gmain', 'Gboth'), phase in ('Greg', 'Gboth') and g_reg_on,
                phase in ('Dmain', 'Dboth'), phase in ('Dreg', 'Dboth') and self.r1_gamma != 0)

    def _accumulate(self, flags, real, real_c, gen_z, gen_c, gain, run_G, run_D, g_reg):
        """The phases every upstream runs in this order, given flags = _phases(...).

        run_G(z, c, step) -> (img, ws) and run_D(img, c, step) -> logits, with step 'Gmain' (G's main term), 'Dmain'
        (fakes for D) or 'Dreal' (reals for D), so each upstream passes its own sync / update_emas / blur;
        g_reg(): G's regularizer.
        """
        do_Gmain, do_Greg, do_Dmain, do_Dr1 = flags
        if do_Gmain:
            img, _ = run_G(gen_z, gen_c, 'Gmain')
            self._g_main(img, lambda x: run_D(x, gen_c, 'Gmain'), gain)
        if do_Greg:
            g_reg()
        loss_fake = 0
        if do_Dmain:
            img, _ = run_G(gen_z, gen_c, 'Dmain')
            fake = {k: v.detach() for k, v in img.items()} if isinstance(img, dict) else img.detach()
            loss_fake = self._d_fake(run_D(fake, gen_c, 'Dmain'), gain)
        if do_Dmain or do_Dr1:
            self._d_real(real, lambda x: run_D(x, real_c, 'Dreal'), do_Dmain, do_Dr1, gain, loss_fake)

    def _g_main(self, fake, logits_of, gain):
        logits = logits_of(fake)
        report('Loss/scores/fake', logits)
        loss = F.softplus(-logits)
        report('Loss/G/loss', loss)
        loss.mean().mul(gain).backward()

    def _g_pl(self, gen_z, gen_c, gain, run_G):
        """Path-length regularization on the first 1 / pl_batch_shrink of the batch; run_G(z, c) -> (img, ws)."""
        n = gen_z.shape[0] // self.pl_batch_shrink
        img, ws = run_G(gen_z[:n], gen_c[:n])
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
        self._init_common(locals())

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
        flags = self._phases(phase, self.pl_weight != 0)
        g_sync = {'Gmain': sync and not flags[1], 'Dmain': False}      # flags[1]: path-length regularization runs.
        d_sync = {'Gmain': False, 'Dmain': False, 'Dreal': sync}
        self._accumulate(flags, real_img, real_c, gen_z, gen_c, gain,
                         run_G=lambda z, c, step: self.run_G(z, c, sync=g_sync[step]),
                         run_D=lambda x, c, step: self.run_D(x, c, sync=d_sync[step]),
                         g_reg=lambda: self._g_pl(gen_z, gen_c, gain, lambda z, c: self.run_G(z, c, sync=sync)))


class ToySG3Loss(_Logistic):
    def __init__(self, device, G, D, augment_pipe=None, r1_gamma=10, style_mixing_prob=0, pl_weight=0, pl_batch_shrink=2,
                 pl_decay=0.01, pl_no_weight_grad=False, blur_init_sigma=0, blur_fade_kimg=0):
        self._init_common(locals())

    def blur_sigma(self, cur_nimg):
        return (1 - _fade(cur_nimg, self.blur_fade_kimg)) * self.blur_init_sigma

    def run_G(self, z, c, update_emas=False):
        ws = self.G.mapping(z, c, update_emas=update_emas)
        ws = _style_mix(ws, self.style_mixing_prob, lambda: self.G.mapping(torch.randn_like(z), c, update_emas=False))
        return self.G.synthesis(ws, update_emas=update_emas), ws

    def run_D(self, img, c, blur_sigma=0, update_emas=False):
        img = _blur(img, blur_sigma)
        if self.augment_pipe is not None:
            img = self.augment_pipe(img)
        return self.D(img, c, update_emas=update_emas)

    # What EG3D's loss overrides: whether G has a regularizer, G at a training step, its regularizer, the reals.
    def _g_reg_on(self):
        return self.pl_weight != 0

    def _generator(self, cur_nimg):
        return self.run_G

    def _g_reg(self, gen_z, gen_c, gain, cur_nimg):
        self._g_pl(gen_z, gen_c, gain, self.run_G)

    def _reals(self, real_img, cur_nimg):
        return real_img

    def accumulate_gradients(self, phase, real_img, real_c, gen_z, gen_c, gain, cur_nimg):
        assert phase in PHASES
        sigma = self.blur_sigma(cur_nimg)
        run_G = self._generator(cur_nimg)
        self._accumulate(self._phases(phase, self._g_reg_on()), self._reals(real_img, cur_nimg), real_c, gen_z, gen_c,
                         gain, run_G=lambda z, c, step: run_G(z, c, update_emas=(step == 'Dmain')),
                         run_D=lambda x, c, step: self.run_D(x, c, blur_sigma=sigma, update_emas=(step == 'Dmain')),
                         g_reg=lambda: self._g_reg(gen_z, gen_c, gain, cur_nimg))


class ToyEG3DLoss(ToySG3Loss):
    def __init__(self, device, G, D, augment_pipe=None, r1_gamma=10, style_mixing_prob=0, pl_weight=0, pl_batch_shrink=2,
                 pl_decay=0.01, pl_no_weight_grad=False, blur_init_sigma=0, blur_fade_kimg=0, r1_gamma_init=0,
                 r1_gamma_fade_kimg=0, neural_rendering_resolution_initial=64, neural_rendering_resolution_final=None,
                 neural_rendering_resolution_fade_kimg=0, gpc_reg_fade_kimg=1000, gpc_reg_prob=None,
                 dual_discrimination=False, filter_mode='antialiased'):
        self._init_common(locals())

    def rendering_resolution(self, cur_nimg):
        if self.neural_rendering_resolution_final is None:
            return self.neural_rendering_resolution_initial
        t = _fade(cur_nimg, self.neural_rendering_resolution_fade_kimg)
        return int(np.rint(self.neural_rendering_resolution_initial * (1 - t) + self.neural_rendering_resolution_final * t))

    def swapping_prob(self, cur_nimg):
        if self.gpc_reg_prob is None:
            return None
        t = _fade(cur_nimg, self.gpc_reg_fade_kimg)
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

    # The phases are ToySG3Loss.accumulate_gradients's; these are what EG3D does differently.
    def _g_reg_on(self):
        return self.G.rendering_kwargs.get('density_reg', 0) != 0

    def _generator(self, cur_nimg):
        nrr, swap = self.rendering_resolution(cur_nimg), self.swapping_prob(cur_nimg)
        return lambda z, c, update_emas=False: self.run_G(z, c, swap, nrr, update_emas=update_emas)

    def _g_reg(self, gen_z, gen_c, gain, cur_nimg):
        """Density-style regularizer: depth must vary smoothly with w."""
        nrr = self.rendering_resolution(cur_nimg)
        ws = self.G.mapping(gen_z, torch.zeros_like(gen_c))
        d0 = self.G.synthesis(ws, gen_c, neural_rendering_resolution=nrr)['image_depth']
        d1 = self.G.synthesis(ws + torch.randn_like(ws) * 1e-2, gen_c, neural_rendering_resolution=nrr)['image_depth']
        reg = (d0 - d1).abs().mean([1, 2, 3]) * self.G.rendering_kwargs['density_reg']
        report('Loss/G/TVloss', reg)
        reg.mean().mul(gain).backward()

    def _reals(self, real_img, cur_nimg):
        nrr = self.rendering_resolution(cur_nimg)
        real_raw = F.interpolate(real_img, size=(nrr, nrr), mode='bilinear', align_corners=False, antialias=True)
        return {'image': real_img, 'image_raw': real_raw}

#----------------------------------------------------------------------------

TOY_LOSSES = {
    'sg2ada': 'linkgan_plugin.toy.losses.ToySG2ADALoss',
    'sg3':    'linkgan_plugin.toy.losses.ToySG3Loss',
    'eg3d':   'linkgan_plugin.toy.losses.ToyEG3DLoss',
}
