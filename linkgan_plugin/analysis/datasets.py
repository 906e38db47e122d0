"""Real images for the quality distance: upstream's dataset format, read without upstream's code.

StyleGAN2-ADA / StyleGAN3 / EG3D datasets are a folder or a zip of images (PNG or JPEG, any nesting; an optional
dataset.json holds labels, ignored here). `load_images` reads `count` of them, in sorted name order after a seeded
shuffle, converts to RGB and resizes to the generator's resolution, as float32 [N, 3, R, R] in [-1, 1].

`generated_images` draws the matching number of generator samples with fixed seeds, so the quality distance of two
networks is measured on the same latents.
"""

import io
import os
import zipfile

import numpy as np
import torch
from linkgan_plugin.checks import LinkganError

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.webp')

#----------------------------------------------------------------------------

class DatasetError(LinkganError, ValueError):
    """A dataset that cannot be read; the message names the path."""


def list_images(path):
    """(sorted image names, read(name) -> bytes) of a dataset folder or zip; DatasetError for anything else."""
    if os.path.isdir(path):
        names = [os.path.relpath(os.path.join(root, f), path) for root, _, files in os.walk(path) for f in files
                 if f.lower().endswith(IMAGE_EXTENSIONS)]
        return sorted(names), lambda name: _read_bytes(os.path.join(path, name))
    if zipfile.is_zipfile(path):
        archive = zipfile.ZipFile(path)
        names = sorted(n for n in archive.namelist() if n.lower().endswith(IMAGE_EXTENSIONS))
        return names, archive.read
    raise DatasetError(f'{path}: not a folder or a zip of images (upstream dataset format)')


def _read_bytes(path):
    with open(path, 'rb') as f:
        return f.read()


def load_images(path, count, resolution, seed=0):
    """`count` images of a dataset folder or zip as float32 [count, 3, resolution, resolution] in [-1, 1].

    Images are drawn without replacement in a seeded order; fewer than `count` images is an error naming the path.
    """
    from PIL import Image
    if not os.path.exists(path):
        raise DatasetError(f'{path}: no such file or folder')
    names, read = list_images(path)
    if len(names) < count:
        raise DatasetError(f'{path}: has {len(names)} images, {count} are needed')
    order = np.random.RandomState(seed).permutation(len(names))[:count]
    images = []
    for i in order:
        try:
            with Image.open(io.BytesIO(read(names[i]))) as img:
                img = img.convert('RGB')
                if img.size != (resolution, resolution):
                    img = img.resize((resolution, resolution), Image.LANCZOS)
                images.append(np.asarray(img, dtype=np.float32))
        except Exception as e:
            raise DatasetError(f'{path}: cannot read image {names[i]!r} ({type(e).__name__}: {e})') from None
    arr = np.stack(images).transpose(0, 3, 1, 2) / 127.5 - 1
    return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))


@torch.no_grad()
def generated_images(gen, count, seed=0, truncation_psi=1.0, batch=64):
    """`count` samples of a GeneratorAdapter ('image' output, const noise) from fixed seeds: [count, C, R, R] on CPU."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn([count, gen.z_dim], generator=g)
    c = gen.default_c(count, generator=g).cpu()
    out = []
    for i in range(0, count, batch):
        zi, ci = z[i:i + batch].to(gen.device), c[i:i + batch].to(gen.device)
        out.append(gen.synthesize(gen.map(zi, ci, truncation_psi), ci)['image'].float().cpu())
    return torch.cat(out)

#----------------------------------------------------------------------------
