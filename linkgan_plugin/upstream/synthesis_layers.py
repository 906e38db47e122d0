"""Which modules of a generator are its synthesis layers: the feature maps LELSD reads through forward hooks.

LELSD (method.md sec. 4) scores a latent edit by where it changes the generator's intermediate feature maps: every
synthesis convolution's output except the constant input. Which modules those are is each flavour's knowledge,
found here by structure (attribute names and shapes of the modules), never by class name:

| generator                         | synthesis layers (in forward order)                          | ws row of layer          |
|-----------------------------------|--------------------------------------------------------------|--------------------------|
| toy sg2ada / sg3 (`linkgan_plugin.toy`) | `G.synthesis.layers[i]` (the constant is a Parameter, not a layer) | i                  |
| toy EG3D                          | `G.backbone.synthesis.layers[i]` (its feature planes are image-aligned) | i                   |
| real sg2ada, sg3 `--cfg=stylegan2` | blocks `G.synthesis.b4, b8, ...`: `conv0` (not in b4, which holds the constant) and `conv1` | counted as upstream's forward does: `block.num_conv` rows per block |
| real sg3 (stylegan3-t / -r)       | `G.synthesis.L0_..., L1_..., ...` (its `layer_names`); `input`, the Fourier-feature stand-in for the constant, is excluded | i + 1 (row 0 drives `input`) |
| real EG3D                         | the super-resolution blocks' `conv0` / `conv1` (`G.superresolution.block*`) | num_ws - 1 (EG3D feeds the last row to them) |

Real EG3D's backbone is excluded on purpose: its feature maps are tri-planes (features on three axis-aligned planes
of 3-D space), not image-space maps, so an image-space region mask does not apply to them. The super-resolution
blocks work in image space and see every change of the backbone through the rendered features.

StyleGAN3 layers carry a margin of pixels beyond the image (`margin_size`, 10 by default): a layer of output size S
and sampling rate s holds the image in its central s x s pixels, so `margin = (S - s) / 2` is cropped before a mask
is applied (the last layers, at the image's resolution, have none).

    layers = synthesis_layers(G)          # [SynthesisLayerInfo(name, module, ws_index, margin), ...]
"""

from dataclasses import dataclass

import torch

from linkgan_plugin.upstream.ddp import unwrap
from linkgan_plugin.checks import LinkganError

#----------------------------------------------------------------------------

class SynthesisLayersNotFound(LinkganError, TypeError):
    """No synthesis layers could be found in a generator; the message names its class and what was looked for."""


@dataclass
class SynthesisLayerInfo:
    """One synthesis layer.

    name:     dotted module path from G (e.g. 'synthesis.b8.conv0'), for messages and reports.
    module:   the torch module whose forward output is the feature map [N, C, H, W].
    ws_index: the row of ws [N, num_ws, w_dim] that modulates it (an edit on earlier rows reaches it too).
    margin:   pixels to crop on each side of its output before comparing it with an image-space mask.
    """
    name: str
    module: torch.nn.Module
    ws_index: int
    margin: int = 0


def crop_margin(features, margin):
    """features [N, C, H, W] without `margin` pixels on each side."""
    if margin <= 0:
        return features
    return features[:, :, margin:features.shape[2] - margin, margin:features.shape[3] - margin]

#----------------------------------------------------------------------------
# One finder per structure.

def _toy_layers(synthesis, prefix):
    layers = getattr(synthesis, 'layers', None)
    if not isinstance(layers, torch.nn.ModuleList) or len(layers) == 0:
        return None
    return [SynthesisLayerInfo(f'{prefix}.layers.{i}', layer, i) for i, layer in enumerate(layers)]


def _block_layers(synthesis, prefix):
    """sg2ada-style SynthesisNetwork: blocks b{res} in `block_resolutions`, each with conv0 (unless it holds the
    constant) and conv1; ws rows advance by the block's number of convolutions, as upstream's forward does."""
    resolutions = getattr(synthesis, 'block_resolutions', None)
    if not resolutions:
        return None
    out, row = [], 0
    for res in resolutions:
        block = getattr(synthesis, f'b{res}', None)
        if not isinstance(block, torch.nn.Module):
            return None
        convs = [(n, getattr(block, n)) for n in ('conv0', 'conv1') if isinstance(getattr(block, n, None), torch.nn.Module)]
        for k, (name, module) in enumerate(convs):
            out.append(SynthesisLayerInfo(f'{prefix}.b{res}.{name}', module, row + k))
        row += int(getattr(block, 'num_conv', len(convs)))
    return out or None


def _sg3_margin(layer):
    size = getattr(layer, 'out_size', None)
    rate = getattr(layer, 'out_sampling_rate', None)
    if size is None or rate is None:
        return 0
    size = int(size[0]) if hasattr(size, '__len__') else int(size)
    return max((size - int(rate)) // 2, 0)


def _named_layers(synthesis, prefix):
    """sg3-style SynthesisNetwork: `layer_names` lists the layers after the Fourier `input` (which takes row 0)."""
    names = getattr(synthesis, 'layer_names', None)
    if not names:
        return None
    out = []
    for i, name in enumerate(names):
        layer = getattr(synthesis, name, None)
        if not isinstance(layer, torch.nn.Module):
            return None
        out.append(SynthesisLayerInfo(f'{prefix}.{name}', layer, i + 1, _sg3_margin(layer)))
    return out


def _superresolution_layers(sr, prefix, num_ws):
    """EG3D's super-resolution module: the conv0 / conv1 of its blocks, in module order; all use the last ws row."""
    out = []
    for name, module in sr.named_modules():
        if name.rsplit('.', 1)[-1] in ('conv0', 'conv1'):
            out.append(SynthesisLayerInfo(f'{prefix}.{name}', module, num_ws - 1))
    return out or None

#----------------------------------------------------------------------------

def synthesis_layers(G):
    """The synthesis layers of G (an upstream G_ema of any flavour, or a toy G), in forward order.

    Returns:
        list of SynthesisLayerInfo (non-empty).
    Raises:
        SynthesisLayersNotFound naming G's class and the structures looked for.
    """
    G = unwrap(G)
    backbone = getattr(G, 'backbone', None)
    if isinstance(backbone, torch.nn.Module):       # EG3D.
        synthesis = getattr(backbone, 'synthesis', None)
        found = _toy_layers(synthesis, 'backbone.synthesis') if isinstance(synthesis, torch.nn.Module) else None
        if found is None and isinstance(getattr(G, 'superresolution', None), torch.nn.Module):
            found = _superresolution_layers(G.superresolution, 'superresolution', int(backbone.num_ws))
    else:
        synthesis = getattr(G, 'synthesis', None)
        found = None
        if isinstance(synthesis, torch.nn.Module):
            for finder in (_toy_layers, _named_layers, _block_layers):
                found = finder(synthesis, 'synthesis')
                if found:
                    break
    if not found:
        cls = type(G)
        syn = getattr(G, 'synthesis', None)
        syn_text = f'; G.synthesis is {type(syn).__module__}.{type(syn).__qualname__}' if syn is not None else ''
        raise SynthesisLayersNotFound(
            f'cannot find the synthesis layers of {cls.__module__}.{cls.__qualname__}{syn_text}: looked for '
            'G.synthesis.layers (toy), G.synthesis.layer_names (StyleGAN3), G.synthesis.b4.. blocks with conv0/conv1 '
            '(StyleGAN2-ADA), G.backbone.synthesis.layers or G.superresolution blocks (EG3D)')
    return found

#----------------------------------------------------------------------------

#----------------------------------------------------------------------------

class LayerHooks:
    """Base of the context managers that hook a list of layers (anything with a `.module`): while active, layer i's
    module carries the forward hook `self.hook(i)` (a subclass defines it: (module, inputs, output) -> None or a
    replacement output); `reset()` runs on entry (a subclass clears what it records). Hooks are removed on exit."""

    def __init__(self, layers):
        self.layers = layers
        self.handles = []

    def reset(self):
        pass

    def hook(self, index):
        raise NotImplementedError

    def __enter__(self):
        self.reset()
        self.handles = [layer.module.register_forward_hook(self.hook(i)) for i, layer in enumerate(self.layers)]
        return self

    def __exit__(self, *exc):
        for h in self.handles:
            h.remove()
        self.handles = []
        return False
