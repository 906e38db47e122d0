"""One file for what every post-hoc method finds: LELSD's and ReSeFa's W directions (`lelsd.LelsdResult`) and
StyleSpace's S channels (`stylespace.StyleChannels`), with one writer (`save`) and one reader (`load`).

Layout: an .npz without pickles. 'meta' is JSON text with 'format' (FORMAT), 'kind' ('directions' | 'channels'),
'method' ('lelsd' | 'resefa' | 'stylespace') and every other field of the result; the arrays are
    kind 'directions':  'directions' float32 [K, w_dim] (space 'w') or [K, num_ws, w_dim] ('wplus');
    kind 'channels':    'layers' unicode [K] (the affine's dotted path from G), 'channels' int64 [K], 'stds' and
                        'shares' float32 [K].
The files of earlier versions stay readable: W directions of format 2 (no 'kind') and StyleSpace channels of format 1.

    directions_file.save('dirs.npz', result)
    result = directions_file.load('dirs.npz', gen)                      # either kind, checked against the network
    result = directions_file.load('dirs.npz', gen, kind='directions')   # refuses S channels, saying what they are
"""

import dataclasses
import json
import os

import numpy as np

from linkgan_plugin.editing.lelsd import LelsdResult
from linkgan_plugin.editing.stylespace import StyleChannels, style_layers

FORMAT = 3
KINDS = ('directions', 'channels')
LEGACY_FORMATS = {'directions': 2, 'channels': 1}       # What each kind's files were before FORMAT.
CHANNEL_ARRAYS = ('layers', 'channels', 'stds', 'shares')
DESCRIBED = {'directions': 'W directions (LELSD or ReSeFa)', 'channels': 'StyleSpace S channels'}

#----------------------------------------------------------------------------

def kind_of(result):
    """'directions' for a LelsdResult, 'channels' for StyleChannels; TypeError otherwise."""
    if isinstance(result, LelsdResult):
        return 'directions'
    if isinstance(result, StyleChannels):
        return 'channels'
    raise TypeError(f'not a post-hoc result: {type(result).__name__}')


def save(path, result):
    """Writes `result` (a LelsdResult or StyleChannels) to the .npz `path` (module docstring)."""
    kind = kind_of(result)
    fields = dataclasses.asdict(result)
    if kind == 'directions':
        arrays = {'directions': np.asarray(result.directions, dtype=np.float32)}
        method = result.settings.get('method', 'lelsd')
    else:
        arrays = {'layers': np.array(result.layers, dtype=str), 'channels': np.asarray(result.channels, dtype=np.int64),
                  'stds': np.asarray(result.stds, dtype=np.float32), 'shares': np.asarray(result.shares, dtype=np.float32)}
        method = 'stylespace'
    meta = {k: v for k, v in fields.items() if k not in arrays}
    meta.update(format=FORMAT, kind=kind, method=method)
    os.makedirs(os.path.dirname(os.path.abspath(path)) or '.', exist_ok=True)
    np.savez(path, meta=np.array(json.dumps(meta)), **arrays)


def load(path, gen=None, kind=None):
    """Reads a file of `save` (or of an earlier version). With `gen` (a GeneratorAdapter) checks it fits: W
    directions their w_dim and num_ws, S channels that every layer is one of its style layers. With `kind`, refuses
    the other kind.

    Returns:
        LelsdResult or StyleChannels.
    Raises:
        ValueError naming the file and the problem.
    """
    arrays, meta = _read(path)
    found = meta.pop('kind', None) or ('directions' if 'directions' in arrays else
                                       'channels' if meta.get('method') == 'stylespace' else None)
    if found not in KINDS:
        raise ValueError(f'{path}: not a directions file (`linkgan directions` writes them; has arrays '
                         f'{", ".join(arrays) or "none"})')
    if kind is not None and found != kind:
        raise ValueError(f'{path}: holds {DESCRIBED[found]}, not {DESCRIBED[kind]}')
    version = meta.pop('format', None)
    if version not in (FORMAT, LEGACY_FORMATS[found]):
        hint = (' (format 1 directions were searched with the paper\'s settings, at truncation 0.7 and edits below '
                'compare\'s strengths: search again)' if found == 'directions' and version == 1 else '')
        raise ValueError(f'{path}: format {version}; this version reads format {FORMAT} (and '
                         f'{LEGACY_FORMATS[found]} of {DESCRIBED[found]}){hint}')
    method = meta.pop('method', None)
    result = (_directions if found == 'directions' else _channels)(path, arrays, meta, gen)
    if found == 'directions' and method and 'method' not in result.settings:
        result.settings['method'] = method
    return result

#----------------------------------------------------------------------------

def _read(path):
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        meta = json.loads(str(arrays.pop('meta'))) if 'meta' in arrays else None
    except Exception as e:
        raise ValueError(f'{path}: cannot read as .npz ({type(e).__name__}: {e})') from None
    if not isinstance(meta, dict):
        raise ValueError(f'{path}: not a directions file (no JSON object \'meta\'; has arrays '
                         f'{", ".join(arrays) or "none"})')
    return arrays, meta


def _fields(cls, meta):
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in meta.items() if k in names}


def _directions(path, arrays, meta, gen):
    result = LelsdResult(directions=arrays['directions'], **_fields(LelsdResult, meta))
    expect = (result.w_dim,) if result.space == 'w' else (result.num_ws, result.w_dim)
    if result.directions.ndim != 2 + (result.space == 'wplus') or tuple(result.directions.shape[1:]) != expect:
        raise ValueError(f'{path}: directions have shape {list(result.directions.shape)}, expected [K, '
                         f'{", ".join(map(str, expect))}] for space {result.space!r}')
    if gen is not None and (gen.w_dim != result.w_dim or gen.num_ws != result.num_ws):
        raise ValueError(f'{path}: directions are for w_dim={result.w_dim}, num_ws={result.num_ws}; this network has '
                         f'w_dim={gen.w_dim}, num_ws={gen.num_ws}')
    return result


def _channels(path, arrays, meta, gen):
    missing = [k for k in CHANNEL_ARRAYS[:3] if k not in arrays]
    if missing:
        raise ValueError(f'{path}: StyleSpace channels need arrays {", ".join(CHANNEL_ARRAYS[:3])}; '
                         f'{", ".join(missing)} missing')
    result = StyleChannels(layers=[str(v) for v in arrays['layers']], channels=[int(v) for v in arrays['channels']],
                           stds=[float(v) for v in arrays['stds']],
                           shares=[float(v) for v in arrays.get('shares', np.zeros(len(arrays['channels'])))],
                           **_fields(StyleChannels, meta))
    if gen is not None:
        known = {layer.name for layer in style_layers(gen.G)}
        unknown = [name for name in result.layers if name not in known]
        if unknown:
            raise ValueError(f'{path}: style layer {unknown[0]!r} is not in this network (its style layers: '
                             f'{", ".join(sorted(known))})')
    return result

#----------------------------------------------------------------------------
