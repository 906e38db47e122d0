"""`linkgan project`: find latent codes that reconstruct given images (GAN inversion), for `linkgan edit --ws`.

For each target image t [C, H, W] in [-1, 1], optimise a code and render it with constant noise
(GeneratorAdapter.synthesize), minimising per image

    L = mse(x, t) + multiscale * mean_l mse(pool_l(x), pool_l(t))           (pool_l: 2^l x 2^l average pooling,
      + feature_weight * sum_k mse(f_k(x), f_k(t))                            l = 1.. while the image is >= 8 px)
      + noise_reg * R(noise maps)                                            (only with --noise-reg > 0)

Codes:   space 'w'     one w [w_dim] per image, repeated over the num_ws rows;
         space 'wplus' one w per row [num_ws, w_dim], optimised as a shared w plus per-row offsets (which start
                       at zero): the rows move together at W's pace and apart only as far as the image needs. On
                       the demo's network this beat free rows on images it made itself (43 -> 46 dB mean, 8
                       images, 500 steps) and matched them on real scenes (26.5 / 26.3 dB).
Start:   the W average: G.mapping.w_avg when the network tracks one (a buffer that was never updated, all zeros,
         does not count), else the mean of `w_avg_samples` mapped z. With `starts` K > 0 (default 256) each image
         starts from whichever of the W average and K mapped z renders closest to it (pixel MSE): from the average
         alone, one image in four of the demo's network stalled in a poor local minimum (16 dB instead of 40+ for
         an image the network made itself). Steps are taken in units of W's spread (w_rms: the root-mean-square
         deviation of the mapped z from their mean, per axis), so one learning rate suits any W scale.
Habits of upstream's projector, re-derived (no code taken from it):
  - learning rate: a linear ramp up over the first 5% of the steps and a cosine ramp down over the last 25%;
  - exploration: Gaussian noise added to the code at every step, std w_noise * w_rms decaying quadratically to
    zero at 75% of the steps (the saved code is the noise-free one); kept small (0.05): on the demo's network,
    0.2-0.5 cost 1-5 dB and helped no image out of a local minimum (the multiple starts do that);
  - noise maps (networks with `noise_const` buffers, only when noise_reg > 0): the constant noise maps are
    optimised too, one image at a time (they are shared by a batch), regularised by R = the squared
    autocorrelation of each map at a one-pixel shift along x and y, summed over a pyramid of 2x2-pooled versions
    down to 8 px, and renormalised to zero mean and unit variance after every step. They are saved beside the
    codes ('noise.<buffer>'), but `linkgan edit --ws` renders with the network's own maps, so the default
    (noise_reg 0) keeps them fixed: then the codes alone reproduce the reconstruction.
An optional feature network f (a TorchScript file the user names; nothing is downloaded) adds a perceptual term:
it takes images [N, C, H, W] in [-1, 1] and returns a tensor or a list/tuple of tensors of features.

PSNR is measured on images clamped to [-1, 1] with peak-to-peak 2: 10 log10(4 / mse) dB, which equals the PSNR of
the [0, 1] or [0, 255] images.

    result = project_images(gen, targets, space='w', steps=500)   # targets [N, C, H, W] in [-1, 1]
    result['ws'], result['images'], result['psnr']                # [N, num_ws, w_dim], [N, C, H, W], [N]

The codes file (`--out`, .npz) holds 'ws' [N, num_ws, w_dim] float32, 'c' [N, c_dim] (networks with labels or
cameras), and the network it was made for ('network_path', 'network_sha256', 'num_ws', 'w_dim'), 'space',
'targets' (names), 'psnr'; `linkgan edit --ws` reads it.
"""

import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

from linkgan_plugin.analysis.pictures import default_tile, stack_horizontal, to_uint8
from linkgan_plugin.checks import check_argument, Choice, OptionError

SPACES = ('w', 'wplus')
IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.webp', '.tif', '.tiff', '.gif', '.ppm', '.pgm')
NOISE_KEY = 'noise.'            # Prefix of the optimised noise maps in the codes file.

# Defaults shared by the API and the CLI.
DEFAULTS = dict(space='w', steps=500, lr=0.2, multiscale=1.0, feature_weight=1.0, noise_reg=0.0, w_noise=0.05,
                rampup=0.05, rampdown=0.25, noise_ramp=0.75, w_avg_samples=4096, starts=256, batch=8, seed=0)

#----------------------------------------------------------------------------
# W statistics and noise buffers.

@torch.no_grad()
def best_start(gen, target, c, w_avg, starts, generator=None, chunk=16):
    """Per target, the code among w_avg and `starts` mapped z whose render is closest to it (pixel MSE).

    Args:
        target: [n, C, H, W]; c: [n, c_dim] (candidates are mapped and rendered once, with c[:1]: the first
                image's labels / camera).
        w_avg:  [w_dim]; starts: number of mapped z (0: w_avg for every target).
        generator: torch.Generator (CPU) for the z.
    Returns:
        [n, w_dim].
    """
    n, dev = target.shape[0], target.device
    if starts <= 0:
        return w_avg[None].repeat(n, 1)
    z = torch.randn([starts, gen.z_dim], generator=generator).to(dev)
    candidates = torch.cat([w_avg[None], gen.map(z, c[:1].expand(starts, -1))[:, 0].float()])   # [K, w_dim]
    errors = []
    for i in range(0, candidates.shape[0], chunk):
        w = candidates[i:i + chunk]
        x = gen.synthesize(w[:, None].expand(-1, gen.num_ws, -1), c[:1].expand(w.shape[0], -1))['image'].float()
        errors.append((x[:, None] - target[None]).square().flatten(2).mean(dim=2))          # [chunk, n]
    return candidates[torch.cat(errors).argmin(dim=0)]


@torch.no_grad()
def w_statistics(gen, c=None, samples=DEFAULTS['w_avg_samples'], seed=DEFAULTS['seed'], batch=1024):
    """The start code and the spread of W.

    Args:
        gen:     GeneratorAdapter.
        c:       [1, c_dim] labels / camera the z are mapped with (default gen.default_c).
        samples: number of z mapped to estimate the spread (and the mean, when G tracks no w_avg).
    Returns:
        (w_avg [w_dim], w_rms float, origin 'G.mapping.w_avg' | 'estimated from N z').
    """
    dev = gen.device
    c1 = gen.default_c(1) if c is None else c[:1].to(dev)
    gen_z = torch.Generator().manual_seed(seed)
    ws = []
    for i in range(0, samples, batch):
        n = min(batch, samples - i)
        z = torch.randn([n, gen.z_dim], generator=gen_z).to(dev)
        ws.append(gen.map(z, c1.expand(n, -1))[:, 0].float())
    ws = torch.cat(ws)                                                    # [samples, w_dim]
    mean = ws.mean(dim=0)
    rms = float((ws - mean).square().mean().sqrt())
    tracked = getattr(gen.flavour.mapping_network_of(gen.G), 'w_avg', None)
    if isinstance(tracked, torch.Tensor) and tracked.shape == mean.shape and bool(tracked.abs().max() > 0):
        return tracked.detach().float().to(dev).clone(), rms, 'G.mapping.w_avg'
    return mean, rms, f'estimated from {samples} z'


def noise_buffers(G):
    """The constant noise maps of G: {qualified name: (module, buffer name)} for every buffer named 'noise_const'."""
    found = {}
    for mod_name, module in G.named_modules():
        for buf_name, buf in module.named_buffers(recurse=False):
            if buf_name == 'noise_const' and buf is not None:
                found[f'{mod_name}.{buf_name}' if mod_name else buf_name] = (module, buf_name)
    return found


def noise_regularisation(maps):
    """R: squared autocorrelation at a one-pixel shift (x and y) of each map, over a pyramid down to 8 px.

    Args:
        maps: list of [H, W] (or [..., H, W]) noise maps.
    Returns:
        scalar tensor.
    """
    total = 0.0
    for m in maps:
        x = m.reshape(1, 1, *m.shape[-2:])
        while True:
            total = total + (x * torch.roll(x, 1, dims=3)).mean().square() + (x * torch.roll(x, 1, dims=2)).mean().square()
            if min(x.shape[2:]) <= 8:
                break
            x = F.avg_pool2d(x, 2) * 2            # x2 keeps white noise at unit variance.
    return total


def _normalise_(m):
    m.sub_(m.mean()).div_(m.std().clamp(min=1e-8))

#----------------------------------------------------------------------------
# Losses and schedules.

def learning_rate(step, steps, base, rampup=DEFAULTS['rampup'], rampdown=DEFAULTS['rampdown']):
    """base * (linear ramp up over the first `rampup` of the steps) * (cosine ramp down over the last `rampdown`)."""
    t = (step + 1) / steps
    up = min(1.0, t / rampup) if rampup > 0 else 1.0
    down = 0.5 - 0.5 * math.cos(math.pi * min(1.0, (1 - t) / rampdown)) if rampdown > 0 else 1.0
    return base * up * max(down, 0.0)


def noise_strength(step, steps, w_noise=DEFAULTS['w_noise'], ramp=DEFAULTS['noise_ramp']):
    """Exploration noise std on the code (in units of w_rms): w_noise * max(0, 1 - t / ramp)^2."""
    return w_noise * max(0.0, 1 - (step / steps) / ramp) ** 2 if ramp > 0 else 0.0


def pyramid(x, min_size=8):
    """[x pooled by 2, by 4, ...] while the pooled image is at least `min_size` pixels on its short side."""
    out = []
    while min(x.shape[2:]) >= 2 * min_size:
        x = F.avg_pool2d(x, 2)
        out.append(x)
    return out


def feature_list(feature_net, images):
    """Features of `images` as a list of [N, ...] tensors (the network may return a tensor, list or tuple)."""
    out = feature_net(images)
    outs = list(out) if isinstance(out, (list, tuple)) else [out]
    if not outs or not all(isinstance(o, torch.Tensor) and o.ndim >= 1 and o.shape[0] == images.shape[0] for o in outs):
        raise ValueError('feature network must return a tensor [N, ...] or a list/tuple of them, got '
                         f'{type(out).__name__}')
    return [o.float() for o in outs]


def per_sample_mse(a, b):
    """Mean squared difference per sample: [N, ...] x2 -> [N]."""
    return (a - b).square().flatten(1).mean(dim=1)


def psnr(images, targets):
    """PSNR in dB per sample of images vs targets ([N, C, H, W] in [-1, 1], clamped): 10 log10(4 / mse). [N]."""
    mse = per_sample_mse(images.clamp(-1, 1).float(), targets.clamp(-1, 1).float())
    return 10 * torch.log10(4 / mse.clamp(min=1e-12))

#----------------------------------------------------------------------------
# Projection.

def project_images(gen, targets, space=DEFAULTS['space'], steps=DEFAULTS['steps'], lr=DEFAULTS['lr'], c=None,
                   multiscale=DEFAULTS['multiscale'], feature_net=None, feature_weight=DEFAULTS['feature_weight'],
                   noise_reg=DEFAULTS['noise_reg'], w_noise=DEFAULTS['w_noise'], seed=DEFAULTS['seed'],
                   w_avg_samples=DEFAULTS['w_avg_samples'], starts=DEFAULTS['starts'], batch=DEFAULTS['batch'],
                   progress=None):
    """Optimises latent codes so that gen renders `targets` (module docstring).

    Args:
        gen:         GeneratorAdapter (on the device to run on; its parameters are not changed).
        targets:     [N, C, H, W] in [-1, 1] at gen.img_resolution, C = the network's image channels.
        space:       'w' (one w per image) or 'wplus' (one w per row of ws).
        steps:       optimisation steps per image.
        lr:          Adam's peak learning rate, in units of w_rms.
        c:           [N, c_dim] labels / EG3D cameras (default gen.default_c: zeros, or the frontal camera).
        multiscale:  weight of the pooled-pyramid MSE term.
        feature_net: optional callable images -> features (perceptual term), weight feature_weight.
        noise_reg:   > 0: also optimise the network's noise_const maps per image, with this regularisation weight.
        w_noise:     initial exploration noise on the code, in units of w_rms.
        w_avg_samples: z mapped to measure W's spread (and its mean when G tracks no w_avg).
        starts:      candidate starts (mapped z) besides the W average; the closest render wins per image.
        seed:        seeds the W statistics' z, the candidate starts and the exploration noise.
        batch:       images optimised together (each image's loss and code are its own); 1 with noise_reg > 0.
        progress:    optional callable(n) after every step of every batch (n = images in the batch).
    Returns:
        {'ws': [N, num_ws, w_dim], 'images': [N, C, H, W] (renders of 'ws'), 'psnr': [N] (dB), 'loss': [N],
         'c': [N, c_dim], 'noise': {buffer: [N, H, W]} (noise_reg > 0, else {}), 'w_avg_origin': str,
         'seconds': float} on the CPU.
    """
    check_argument('space', space, Choice(SPACES))
    if steps < 1:
        raise ValueError(f'steps must be >= 1, got {steps}')
    if targets.ndim != 4 or targets.shape[2:] != (gen.img_resolution, gen.img_resolution):
        raise ValueError(f'targets must be [N, C, {gen.img_resolution}, {gen.img_resolution}], got {list(targets.shape)}')
    channels = getattr(gen.G, 'img_channels', None)
    if channels is not None and targets.shape[1] != int(channels):
        raise ValueError(f'targets have {targets.shape[1]} channels; the network makes {int(channels)}-channel images')
    start = time.perf_counter()
    dev = gen.device
    N = targets.shape[0]
    c = (gen.default_c(N) if c is None else c).to(dev).float()
    w_avg, w_rms, origin = w_statistics(gen, c, w_avg_samples, seed)
    buffers = noise_buffers(gen.G) if noise_reg > 0 else {}
    batch = 1 if buffers else max(1, batch)
    noise_gen = torch.Generator().manual_seed(seed + 1)
    start_gen = torch.Generator().manual_seed(seed + 2)
    out = {'ws': [], 'images': [], 'loss': [], 'noise': {name: [] for name in buffers}}
    for i in range(0, N, batch):
        sl = slice(i, min(i + batch, N))
        part = _project_batch(gen, targets[sl].to(dev).float(), c[sl], space, steps, lr, w_avg, w_rms, multiscale,
                              feature_net, feature_weight, buffers, noise_reg, w_noise, starts, noise_gen, start_gen,
                              progress)
        for key in ('ws', 'images', 'loss'):
            out[key].append(part[key])
        for name in buffers:
            out['noise'][name].append(part['noise'][name])
    images = torch.cat(out['images'])
    return {'ws': torch.cat(out['ws']), 'images': images, 'psnr': psnr(images, targets.cpu()),
            'loss': torch.cat(out['loss']), 'c': c.cpu(), 'w_avg_origin': origin,
            'noise': {name: torch.cat(v) for name, v in out['noise'].items()}, 'seconds': time.perf_counter() - start}


def _project_batch(gen, target, c, space, steps, lr, w_avg, w_rms, multiscale, feature_net, feature_weight, buffers,
                   noise_reg, w_noise, starts, noise_gen, start_gen, progress):
    """One batch of project_images; returns CPU tensors."""
    codes = _Codes(gen, best_start(gen, target, c, w_avg, starts, start_gen), w_avg, w_rms, space)
    losses = _reconstruction_losses(target, multiscale, feature_net, feature_weight)
    originals, maps = _swap_in_noise_maps(buffers)
    try:
        _optimise_codes(gen, c, codes, losses, maps, noise_reg, steps, lr, w_noise, noise_gen, progress)
        with torch.no_grad():
            ws = codes.ws(codes.u().detach())
            x = gen.synthesize(ws, c)['image'].float()
            final = losses(x)
            noise = {name: m.detach().cpu()[None] for name, m in maps.items()}
    finally:
        for name, (module, buf) in buffers.items():
            module._buffers[buf] = originals[name]
    return {'ws': ws.cpu(), 'images': x.cpu(), 'loss': final.cpu(), 'noise': noise}


class _Codes:
    """The codes of one batch: ws = w_avg + w_rms * (shared + offsets); W+ moves its rows together at W's pace and
    apart by the offsets (which start at zero and exist only in W+).

    shared: [n, 1, w_dim] from the starts w0 [n, w_dim]; offsets: [n, rows, w_dim] (rows 1 in W, num_ws in W+).
    """

    def __init__(self, gen, w0, w_avg, w_rms, space):
        n, self.rows, self.num_ws = w0.shape[0], (1 if space == 'w' else gen.num_ws), gen.num_ws
        self.w_avg, self.w_rms = w_avg, w_rms
        self.shared = ((w0 - w_avg) / w_rms)[:, None].clone().requires_grad_(True)
        self.offsets = torch.zeros([n, self.rows, gen.w_dim], device=w0.device, requires_grad=self.rows > 1)
        self.params = [self.shared] + ([self.offsets] if self.rows > 1 else [])

    def u(self):
        """The code in units of w_rms around w_avg: [n, rows, w_dim]."""
        return self.shared + self.offsets

    def ws(self, v):
        """ws [n, num_ws, w_dim] of a code v in the units of u()."""
        ws = self.w_avg + self.w_rms * v
        return ws.expand(-1, self.num_ws, -1) if self.rows == 1 else ws


def _reconstruction_losses(target, multiscale, feature_net, feature_weight):
    """callable(x [n, C, H, W]) -> [n]: the per-image loss of the module docstring against `target` (without the
    noise term), the target's pyramid and features computed once."""
    target_pyr = pyramid(target) if multiscale > 0 else []
    target_feats = None
    if feature_net is not None and feature_weight > 0:
        with torch.no_grad():
            target_feats = feature_list(feature_net, target)

    def losses(x):
        loss = per_sample_mse(x, target)
        for xp, tp in zip(pyramid(x) if target_pyr else [], target_pyr):
            loss = loss + multiscale * per_sample_mse(xp, tp) / len(target_pyr)
        if target_feats is not None:
            for fx, ft in zip(feature_list(feature_net, x), target_feats):
                loss = loss + feature_weight * per_sample_mse(fx, ft)
        return loss
    return losses


def _swap_in_noise_maps(buffers):
    """Replaces every noise buffer by an optimisable float copy (renders then use it); returns (originals, maps),
    both {buffer name: tensor}. The caller puts the originals back."""
    originals = {name: getattr(module, buf) for name, (module, buf) in buffers.items()}
    maps = {}
    for name, (module, buf) in buffers.items():
        maps[name] = originals[name].detach().clone().float().requires_grad_(True)
        module._buffers[buf] = maps[name]
    return originals, maps


def _optimise_codes(gen, c, codes, losses, maps, noise_reg, steps, lr, w_noise, noise_gen, progress):
    """`steps` Adam steps on the codes (and the noise maps): learning-rate schedule, exploration noise on the code,
    maps renormalised after every step; progress(n) after every step."""
    params = codes.params + list(maps.values())
    opt = torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999))
    for step in range(steps):
        for group in opt.param_groups:
            group['lr'] = learning_rate(step, steps, lr)
        u = codes.u()
        sigma = noise_strength(step, steps, w_noise)
        jitter = torch.randn(u.shape, generator=noise_gen).to(u.device) * sigma
        x = gen.synthesize(codes.ws(u + jitter), c)['image'].float()
        loss = losses(x).sum()
        if maps:
            loss = loss + noise_reg * noise_regularisation(list(maps.values()))
        grads = torch.autograd.grad(loss, params)          # Only the codes (and maps): G's weights get no .grad.
        for p, g in zip(params, grads):
            p.grad = g
        opt.step()
        with torch.no_grad():
            for m in maps.values():
                _normalise_(m)
        if progress is not None:
            progress(u.shape[0])

#----------------------------------------------------------------------------
# Targets.

def list_targets(path):
    """Image files of `path` (a file, or a directory's image files sorted by name). OptionError on --target."""
    if os.path.isdir(path):
        files = sorted(os.path.join(path, f) for f in os.listdir(path)
                       if f.lower().endswith(IMAGE_EXTENSIONS) and os.path.isfile(os.path.join(path, f)))
        if not files:
            raise OptionError('--target', f'{path} holds no image files ({", ".join(IMAGE_EXTENSIONS)})')
        return files
    if not os.path.isfile(path):
        raise OptionError('--target', f'{path}: no such file or directory')
    return [path]


def read_target(path, resolution, channels, warn=None):
    """One target image as [channels, resolution, resolution] float32 in [-1, 1].

    Converts other channel layouts (gray -> RGB by repetition, RGBA/LA -> alpha dropped, colour -> gray by
    luminance for 1-channel networks) and resizes other sizes (Lanczos), each with a message to `warn`.
    Raises:
        OptionError naming the file, on --target, when it cannot be read as an image.
    """
    from PIL import Image
    warn = warn or (lambda message: None)
    name = os.path.basename(path)
    try:
        with Image.open(path) as img:
            img.load()
            mode = img.mode
            if mode in ('I;16', 'I;16B', 'I;16L', 'I'):       # 16/32-bit gray: scale to 8 bits first.
                arr = np.asarray(img, dtype=np.float64)
                top = 65535.0 if mode.startswith('I;16') or arr.max() > 255 else 255.0
                img = Image.fromarray(np.clip(arr / top * 255 + 0.5, 0, 255).astype(np.uint8), 'L')
            want = 'RGB' if channels == 3 else 'L'
            if img.mode != want:
                described = {'L': 'gray (1 channel)', 'LA': 'gray + alpha (2 channels)', 'RGBA': 'RGBA (4 channels)',
                             'RGB': 'RGB (3 channels)', 'P': 'palette', 'CMYK': 'CMYK (4 channels)',
                             '1': 'black-and-white (1 bit)'}.get(img.mode, img.mode)
                how = {('L', 'RGB'): 'gray repeated over R, G, B', ('LA', 'RGB'): 'alpha dropped, gray repeated',
                       ('RGBA', 'RGB'): 'alpha dropped', ('RGB', 'L'): 'luminance',
                       ('RGBA', 'L'): 'alpha dropped, luminance'}.get((img.mode, want), 'PIL conversion')
                if img.mode != 'P' or want != 'RGB':
                    warn(f'target {name} is {described}; the network makes {channels}-channel images: converted to '
                         f'{want} ({how})')
                img = img.convert('RGBA' if img.mode == 'P' and 'transparency' in img.info else img.mode).convert(want)
            if img.size != (resolution, resolution):
                w, h = img.size
                aspect = '' if w == h else ' (aspect ratio changed; crop to a square first to keep it)'
                warn(f'target {name} is {w}x{h}; the network makes {resolution}x{resolution}: resized{aspect}')
                img = img.resize((resolution, resolution), Image.LANCZOS)
            arr = np.asarray(img, dtype=np.float32)
    except OptionError:
        raise
    except Exception as e:
        raise OptionError('--target', f'cannot read {path} as an image: {type(e).__name__}: {e}') from None
    arr = arr[:, :, None] if arr.ndim == 2 else arr
    return torch.from_numpy(arr.transpose(2, 0, 1).copy()) / 127.5 - 1


def load_targets(path, resolution, channels=3, warn=None):
    """Targets of a file or directory: (images [N, channels, R, R] in [-1, 1], files [N])."""
    files = list_targets(path)
    return torch.stack([read_target(f, resolution, channels, warn) for f in files]), files

#----------------------------------------------------------------------------
# Outputs.


def save_codes(path, result, network_path, network_sha256, names, space, has_c):
    """Writes the codes file (module docstring) that `linkgan edit --ws` reads."""
    arrays = {'ws': result['ws'].numpy().astype(np.float32), 'num_ws': np.int64(result['ws'].shape[1]),
              'w_dim': np.int64(result['ws'].shape[2]), 'network_path': np.str_(network_path),
              'network_sha256': np.str_(network_sha256), 'space': np.str_(space),
              'targets': np.array([str(n) for n in names]), 'psnr': result['psnr'].numpy().astype(np.float32)}
    if has_c:
        arrays['c'] = result['c'].numpy().astype(np.float32)
    for name, maps in result.get('noise', {}).items():
        arrays[NOISE_KEY + name] = maps.numpy().astype(np.float32)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    np.savez(path, **arrays)


def pair_picture(target, image, tile):
    """PIL image: target | reconstruction, each enlarged to `tile` pixels (nearest), 2-px white gutter."""
    from PIL import Image
    tiles = [Image.fromarray(to_uint8(t)).resize((tile, tile), Image.NEAREST if tile >= t.shape[-1] else Image.LANCZOS)
             for t in (target, image)]
    return stack_horizontal(tiles, pad=2)


def save_pair_pictures(stem, names, targets, images, resolution):
    """<stem>-NNN-<target name>.png (pair_picture at edit's default tile) per target; returns their absolute paths."""
    tile = default_tile(resolution)
    pictures = []
    for k, name in enumerate(names):
        pic = f'{stem}-{k:03d}-{os.path.splitext(name)[0]}.png'
        pair_picture(targets[k], images[k], tile).save(pic)
        pictures.append(os.path.abspath(pic))
    return pictures


def psnr_table(names, psnrs, mean):
    """The PSNR table `linkgan project` prints: one line per target, then the mean."""
    width = max(12, max(len(n) for n in names) + 2)
    lines = [f'{"target":<{width}}{"PSNR (dB)":>10}'] + [f'{n:<{width}}{p:>10.2f}' for n, p in zip(names, psnrs)]
    return '\n'.join(lines + [f'{"mean":<{width}}{mean:>10.2f}'])

#----------------------------------------------------------------------------
