"""A small training loop that drives a loss the way upstream's training_loop does.

Phases: with a reg interval r for a network, `<net>main` (interval 1) and `<net>reg` (interval r) with Adam's lr
and betas scaled by r / (r + 1); without one, `<net>both`. Each phase: zero grads, requires_grad on, one
`accumulate_gradients` call per round (batch split in batch_gpu chunks; sg2ada's `sync` is True on the last
round), requires_grad off, NaN-scrub, step. G_ema follows G. `cur_nimg` advances by the batch after all phases.
"""

import copy

import torch

from linkgan_plugin.loss import LinkLoss, resolve_class
from linkgan_plugin.toy.losses import TOY_LOSSES
from linkgan_plugin.upstream.cameras import random_cameras
from linkgan_plugin.upstream.flavours import FLAVOUR_CLASSES

#----------------------------------------------------------------------------

def build_loss(flavour, G, D, device='cpu', spec=None, **loss_kwargs):
    """The toy base loss of `flavour`, wrapped in LinkLoss when a spec is given."""
    nets = FLAVOUR_CLASSES[flavour].loss_networks(G)
    if spec is None:
        return resolve_class(TOY_LOSSES[flavour])(device=device, D=D, **nets, **loss_kwargs)
    return LinkLoss(device=device, D=D, base=TOY_LOSSES[flavour], spec=spec, **nets, **loss_kwargs)


class ToyTrainer:
    """Upstream-style phases around a loss object.

    Args:
        flavour:        'sg2ada' | 'sg3' | 'eg3d' (selects the accumulate_gradients call convention).
        G, D:           networks (G_ema is a copy of G).
        loss:           object with accumulate_gradients.
        batch, batch_gpu: images per iteration, per round.
        G_reg_interval, D_reg_interval: lazy regularization intervals, None for '<net>both'.
        lr, betas:      Adam settings before the reg-interval scaling.
        ema_kimg:       G_ema half-life in thousands of images.
        latent_seed:    None: latents gen_z (and EG3D cameras gen_c) come from the global RNG (as upstream draws
                        them); an int: from a generator of their own, so two runs whose losses draw different amounts
                        of random numbers (a control and a LinkLoss fine-tune) still see the same latents and cameras
                        in the same order.
    """

    def __init__(self, flavour, G, D, loss, batch=16, batch_gpu=None, G_reg_interval=4, D_reg_interval=16,
                 lr=0.0025, betas=(0.0, 0.99), ema_kimg=0.5, device='cpu', latent_seed=None):
        self.flavour, self.G, self.D, self.loss = flavour, G, D, loss
        self.convention = FLAVOUR_CLASSES[flavour]
        self.batch = batch
        self.batch_gpu = batch_gpu or batch
        if batch % self.batch_gpu:
            raise ValueError(f'batch ({batch}) must be a multiple of batch_gpu ({self.batch_gpu})')
        self.device = torch.device(device)
        self.G_ema = copy.deepcopy(G).eval().requires_grad_(False)
        self.ema_kimg = ema_kimg
        self.cur_nimg = 0
        self.batch_idx = 0
        self.latents = None if latent_seed is None else torch.Generator().manual_seed(latent_seed)
        self.phases = []
        for name, module, reg_interval in (('G', G, G_reg_interval), ('D', D, D_reg_interval)):
            if reg_interval is None:
                opt = torch.optim.Adam(module.parameters(), lr=lr, betas=betas)
                self.phases.append((name + 'both', module, opt, 1))
            else:
                r = reg_interval / (reg_interval + 1)
                opt = torch.optim.Adam(module.parameters(), lr=lr * r, betas=tuple(b ** r for b in betas))
                self.phases += [(name + 'main', module, opt, 1), (name + 'reg', module, opt, reg_interval)]
        G.requires_grad_(False)
        D.requires_grad_(False)

    def _gen_c(self, real_c):
        if self.convention.camera_labels:      # The toy datasets have no cameras: draw yaw-jittered ones.
            return random_cameras(self.batch, self.device, generator=self.latents)
        return real_c[torch.randint(0, real_c.shape[0], [self.batch])]

    def step(self, real_img, real_c):
        """One training iteration on a real batch [batch, C, H, W] in [-1, 1] with labels [batch, c_dim]."""
        real_img = real_img.to(self.device).split(self.batch_gpu)
        real_c_split = real_c.to(self.device).split(self.batch_gpu)
        rounds = len(real_img)
        for name, module, opt, interval in self.phases:
            if self.batch_idx % interval != 0:
                continue
            gen_z = torch.randn([self.batch, self.G.z_dim], generator=self.latents).to(self.device).split(self.batch_gpu)
            gen_c = self._gen_c(real_c).to(self.device).split(self.batch_gpu)
            opt.zero_grad(set_to_none=True)
            module.requires_grad_(True)
            for k in range(rounds):
                self.convention.call_loss(self.loss, name, real_img[k], real_c_split[k], gen_z[k], gen_c[k],
                                          sync=(k == rounds - 1), gain=interval, cur_nimg=self.cur_nimg)
            module.requires_grad_(False)
            for p in module.parameters():
                if p.grad is not None:
                    torch.nan_to_num(p.grad, nan=0, posinf=1e5, neginf=-1e5, out=p.grad)
            opt.step()
        self._update_ema()
        self.cur_nimg += self.batch
        self.batch_idx += 1

    @torch.no_grad()
    def _update_ema(self):
        beta = 0.5 ** (self.batch / max(self.ema_kimg * 1000, 1e-8))
        for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters()):
            p_ema.copy_(p.detach().lerp(p_ema, beta))
        for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):
            b_ema.copy_(b)

#----------------------------------------------------------------------------
