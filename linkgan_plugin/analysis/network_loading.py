"""Loading a trained generator and the link spec it was trained with, for `linkgan eval` and `linkgan edit`.

    net  = load_network('run/network-snapshot-000200.pkl', upstream='/src/stylegan3')
    spec, origin = resolve_spec(net, explicit=None)      # explicit > checkpoint > training_options.json > error
    gen  = make_adapter(net, camera='frontal', device='cpu')

Two file formats are accepted:
  1. Upstream snapshot pickles (`network-snapshot-*.pkl` of stylegan2-ada-pytorch, stylegan3, eg3d): a plain pickle
     of a dict with 'G', 'D', 'G_ema', 'augment_pipe', 'training_set_kwargs'. Their networks are
     `torch_utils.persistence` objects: unpickling imports upstream's `dnnlib` / `torch_utils` (eg3d also
     `training`), so the upstream checkout must be importable: `upstream=DIR` (CLI `--upstream`, environment
     `LINKGAN_UPSTREAM`) puts DIR first on sys.path for the rest of the process (lazily built upstream ops import
     from it later). An eg3d repository root is accepted: its code lives under `eg3d/`.
  2. linkgan toy checkpoints (`torch.save` zip files) of `linkgan demo`, `linkgan-research study` and the tests, written by
     toy.checkpoint.save_checkpoint: tensors and plain values ('flavour', 'G_init_kwargs' + 'G_ema_state' to rebuild
     the toy generator, 'spec', ...), read with weights_only and no pickle warning. Older demo checkpoints also hold
     'G_ema' (the pickled module), used when its class still imports, else rebuilt from the state.

Only the file the user names is unpickled (pickles run code: one warning per process), plus the JSON file
`training_options.json` beside it, which is read, never executed.
"""

import hashlib
import json
import os
import pickle
import sys
import types
import zipfile
from dataclasses import dataclass, field
from typing import Optional

import torch

from linkgan_plugin.analysis.generator import GeneratorAdapter
from linkgan_plugin.checks import file_kind, LinkganError, short_repr, short_text
from linkgan_plugin.spec import load_spec, split_loss_kwargs
from linkgan_plugin.toy.checkpoint import generator_from_checkpoint
from linkgan_plugin.toy.networks import FLAVOURS
from linkgan_plugin.upstream.flavours import flavour_of_generator

UPSTREAM_ENV = 'LINKGAN_UPSTREAM'
UPSTREAM_MODULES = ('dnnlib', 'torch_utils', 'training')     # Top-level modules upstream pickles import.
PICKLE_WARNING = ('linkgan: warning: {path} is a pickle; unpickling runs code stored in it. '
                  'Load only networks from sources you trust.')

_pickle_warned = False

#----------------------------------------------------------------------------

class NetworkLoadError(LinkganError, RuntimeError):
    """A network file that cannot be loaded; the message says what to do."""


class SpecResolutionError(LinkganError, RuntimeError):
    """No link spec could be found for a network."""


@dataclass
class LoadedNetwork:
    """A generator and what is known about the run it came from.

    G:                   the generator (G_ema), on the CPU, in eval mode, requires_grad False.
    path:                absolute path of the file.
    kind:                'upstream' (snapshot pickle) or 'demo' (linkgan checkpoint).
    flavour:             'sg2ada' | 'sg3' | 'eg3d' (guessed from the interface for upstream pickles).
    checkpoint_spec:     spec stored in a demo checkpoint (dict), or None.
    has_checkpoint_spec: True when the checkpoint has a 'spec' entry at all (None there means "baseline").
    eval_spec:           the spec a `linkgan demo` checkpoint was evaluated with (its baseline and control too).
    training_set_kwargs: from the snapshot (upstream) or training_options.json, or None.
    rebuilt:             True when a demo G was rebuilt from G_init_kwargs + G_ema_state.
    """
    G: torch.nn.Module
    path: str
    kind: str
    flavour: str
    checkpoint_spec: Optional[dict] = None
    has_checkpoint_spec: bool = False
    eval_spec: Optional[dict] = None
    training_set_kwargs: Optional[dict] = None
    rebuilt: bool = False
    info: dict = field(default_factory=dict)

    @property
    def run_dir(self):
        return os.path.dirname(self.path)

    @property
    def training_options_path(self):
        return os.path.join(self.run_dir, 'training_options.json')

#----------------------------------------------------------------------------
# Upstream code on the path.

def resolve_upstream(upstream=None):
    """The directory to import upstream's dnnlib/torch_utils from, or None.

    Args:
        upstream: a checkout (stylegan2-ada-pytorch, stylegan3, eg3d or eg3d/eg3d); default $LINKGAN_UPSTREAM.
    Raises:
        NetworkLoadError when the directory does not exist or holds no torch_utils/ and dnnlib/.
    """
    origin = '--upstream'
    if not upstream:
        upstream, origin = os.environ.get(UPSTREAM_ENV) or None, UPSTREAM_ENV
    if not upstream:
        return None
    path = os.path.abspath(os.path.expanduser(str(upstream)))
    if not os.path.isdir(path):
        raise NetworkLoadError(f'{origin}: upstream directory not found: {path}')
    for candidate in (path, os.path.join(path, 'eg3d')):
        if all(os.path.isdir(os.path.join(candidate, m)) for m in ('dnnlib', 'torch_utils')):
            return candidate
    raise NetworkLoadError(f'{origin}: {path} has no dnnlib/ and torch_utils/: give the root of a stylegan2-ada-pytorch, '
                           'stylegan3 or eg3d checkout')


def add_upstream_to_path(directory):
    """Puts `directory` first on sys.path (once). Kept for the process: upstream ops import lazily at first use."""
    if directory and directory not in sys.path:
        sys.path.insert(0, directory)


def _missing_upstream_message(path, error, upstream_dir):
    where = (f'it is not importable from {upstream_dir}' if upstream_dir else
             f'no upstream checkout was given: pass --upstream DIR or set {UPSTREAM_ENV}=DIR')
    return (f'{path} is an upstream snapshot pickle: loading it needs upstream\'s dnnlib/torch_utils '
            f'(module {error.name!r} is missing; {where}). DIR is a stylegan2-ada-pytorch, stylegan3 or eg3d '
            f'checkout (--upstream / {UPSTREAM_ENV}).')

#----------------------------------------------------------------------------
# Loading.

def warn_pickle_once(path, stream=None):
    """Prints PICKLE_WARNING once per process (to stderr)."""
    global _pickle_warned
    if not _pickle_warned:
        _pickle_warned = True
        print(PICKLE_WARNING.format(path=path), file=stream or sys.stderr)


def load_network(path, upstream=None):
    """Loads G_ema from an upstream snapshot pickle or a linkgan demo checkpoint.

    Args:
        path:     the file.
        upstream: directory with upstream's dnnlib/torch_utils (default $LINKGAN_UPSTREAM); needed by upstream pickles.
    Returns:
        LoadedNetwork (G on the CPU, eval mode, no grad).
    Raises:
        NetworkLoadError with a message naming the file and the fix.
    """
    path = os.path.abspath(os.path.expanduser(str(path)))
    if not os.path.exists(path):
        raise NetworkLoadError(f'--network: file not found: {path}')
    if os.path.isdir(path):
        raise NetworkLoadError(f'--network: {path} is a directory; name one network-snapshot-*.pkl or checkpoint file')
    upstream_dir = resolve_upstream(upstream)
    file_format = network_file_format(path)     # Before the warning: only files that will be unpickled get it.
    add_upstream_to_path(upstream_dir)
    if file_format == 'zip':
        data = _load_tensors_only(path)         # A checkpoint of state dicts and plain values needs no unpickling.
        if data is None:
            warn_pickle_once(path)
        return _load_torch_checkpoint(path, upstream_dir, data)
    warn_pickle_once(path)
    return _load_plain_pickle(path, upstream_dir)


def _load_tensors_only(path):
    """The checkpoint's dict when torch.load(weights_only=True) can read it (tensors and plain values: e.g. the
    networks `linkgan-research study` saves), else None (it holds pickled objects, such as a demo checkpoint's G_ema)."""
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except Exception:
        return None


def network_file_format(path):
    """'zip' (a torch.save checkpoint: a zip archive holding data.pkl) or 'pickle' (protocol 2+), from the file's
    first bytes and, for zips, its directory; nothing is unpickled.
    Raises:
        NetworkLoadError naming the file for anything else (text, images, datasets, empty or corrupt files).
    """
    try:
        with open(path, 'rb') as f:
            head = f.read(64)
    except OSError as e:
        raise NetworkLoadError(f'--network: cannot read {path}: {e.strerror or e}') from None
    kind, description = file_kind(head)
    if kind == 'pickle':
        return 'pickle'
    if kind == 'zip':
        try:
            with zipfile.ZipFile(path) as z:
                names = z.namelist()
        except Exception as e:  # BadZipFile, EOFError, ... for a truncated or damaged archive.
            raise NetworkLoadError(f'{path}: not a network pickle or checkpoint: a truncated or damaged zip archive '
                                   f'({type(e).__name__}: {short_text(str(e))})') from None
        if not any(name == 'data.pkl' or name.endswith('/data.pkl') for name in names):
            raise NetworkLoadError(f'{path}: not a network pickle or checkpoint: a zip archive without a torch '
                                   'checkpoint (data.pkl) in it (a dataset?)')
        return 'zip'
    what = description or (f'a file starting with {head[:16]!r}' if head else 'an empty file')
    raise NetworkLoadError(f'{path}: not a network pickle or checkpoint ({what})')


def _load_plain_pickle(path, upstream_dir):
    try:
        with open(path, 'rb') as f:
            data = pickle.load(f)
    except ModuleNotFoundError as e:
        if (e.name or '').split('.')[0] in UPSTREAM_MODULES:
            raise NetworkLoadError(_missing_upstream_message(path, e, upstream_dir)) from None
        raise NetworkLoadError(f'{path}: cannot unpickle: module {e.name!r} is missing ({short_text(str(e))})') from None
    except Exception as e:  # Unpickling a damaged or foreign file can raise almost anything.
        raise NetworkLoadError(_unpickling_message(path, e)) from None
    G = _get_G_ema(data, path)
    kwargs = data.get('training_set_kwargs')
    return LoadedNetwork(G=_prepare(G), path=path, kind='upstream', flavour=guess_flavour(G),
                         training_set_kwargs=dict(kwargs) if isinstance(kwargs, dict) else None)


def _unpickling_message(path, error):
    hint = ''
    if isinstance(error, (ImportError, AttributeError)):
        hint = '; a class it names is missing: was it written by another version of the code (--upstream)?'
    elif isinstance(error, (EOFError, pickle.UnpicklingError, RuntimeError, MemoryError, OverflowError)):
        hint = '; the file may be truncated or damaged'
    detail = f'{type(error).__name__}: {short_text(str(error))}' if str(error) else type(error).__name__
    return f'{path}: not a network pickle or checkpoint, or a damaged one ({detail}{hint})'


def _get_G_ema(data, path):
    if not isinstance(data, dict):
        raise NetworkLoadError(f'{path}: expected a dict with \'G_ema\' (an upstream snapshot or a linkgan checkpoint), '
                               f'got {type(data).__name__}')
    if 'G_ema' not in data:
        keys = ', '.join(short_text(k if isinstance(k, str) else short_repr(k), 40) for k in list(data)[:8])
        keys += f', ... ({len(data)} keys)' if len(data) > 8 else ''
        raise NetworkLoadError(f'{path}: has no \'G_ema\' (keys: {keys or "none"}); expected an upstream '
                               'network-snapshot-*.pkl or a linkgan demo checkpoint')
    G = data['G_ema']
    if not isinstance(G, torch.nn.Module):
        raise NetworkLoadError(f'{path}: \'G_ema\' is a {type(G).__name__}, not a torch module')
    return G


class _Placeholder:
    """Stands for a class that cannot be imported while reading a demo checkpoint (its state is kept, unused)."""

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        self.__dict__['_state'] = state


class _TolerantUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        try:
            return super().find_class(module, name)
        except (ImportError, AttributeError):
            return type(name, (_Placeholder,), {'__module__': '_linkgan_missing.' + module})


_tolerant_pickle = types.SimpleNamespace(Unpickler=_TolerantUnpickler, load=pickle.load, __name__='_tolerant_pickle')


def _unpickle_checkpoint(path):
    """(data, first_error): the checkpoint unpickled, with classes that moved or vanished stood in for (first_error
    is then the error that made the stand-ins necessary, else None)."""
    try:
        try:
            return torch.load(path, map_location='cpu', weights_only=False), None
        except (ImportError, AttributeError) as e:  # The pickled module's class moved or vanished: rebuild it.
            return torch.load(path, map_location='cpu', weights_only=False, pickle_module=_tolerant_pickle), e
    except Exception as e:  # Truncated archives, damaged records, foreign pickles: anything can be raised.
        raise NetworkLoadError(_unpickling_message(path, e)) from None


def _load_torch_checkpoint(path, upstream_dir, data=None):
    """LoadedNetwork of a torch checkpoint; `data` is its dict when already read without unpickling."""
    data, first_error = (data, None) if data is not None else _unpickle_checkpoint(path)
    if not isinstance(data, dict):
        raise NetworkLoadError(f'{path}: expected a dict with \'G_ema\', got {type(data).__name__}')
    flavour = data.get('flavour') if isinstance(data.get('flavour'), str) else None
    G, rebuilt = data.get('G_ema'), False
    if not isinstance(G, torch.nn.Module):
        if 'G_ema_state' not in data or 'G_init_kwargs' not in data:
            if first_error is not None:
                raise NetworkLoadError(f'{path}: cannot unpickle G_ema ({type(first_error).__name__}: {first_error}) and '
                                       'there is no G_ema_state + G_init_kwargs to rebuild it from') from None
            _get_G_ema(data, path)  # Raises the 'no G_ema' message.
        G, rebuilt = _rebuild_toy(data, path), True
    kwargs = data.get('training_set_kwargs')
    info = {k: data[k] for k in ('format', 'linked', 'role', 'kimg', 'settings') if k in data and _jsonable(data[k])}
    return LoadedNetwork(G=_prepare(G), path=path, kind='demo', flavour=flavour or guess_flavour(G),
                         checkpoint_spec=data.get('spec'), has_checkpoint_spec='spec' in data,
                         eval_spec=data.get('eval_spec') if isinstance(data.get('eval_spec'), dict) else None,
                         training_set_kwargs=kwargs if isinstance(kwargs, dict) else None, rebuilt=rebuilt, info=info)


def _rebuild_toy(data, path):
    flavour = data.get('flavour')
    if flavour not in FLAVOURS:
        raise NetworkLoadError(f'{path}: cannot rebuild G_ema: flavour {flavour!r} is not one of {", ".join(FLAVOURS)}')
    try:
        G = generator_from_checkpoint(data)
    except Exception as e:
        raise NetworkLoadError(f'{path}: cannot rebuild G_ema from G_init_kwargs + G_ema_state ({type(e).__name__}: {e})') from None
    return G


def _jsonable(value):
    try:
        json.dumps(value)
        return True
    except (TypeError, ValueError, RecursionError):
        return False


def _prepare(G):
    return G.eval().requires_grad_(False).cpu()


def guess_flavour(G):
    """'eg3d', 'sg3' or 'sg2ada': the flavour that matches G (upstream.flavours.flavour_of_generator)."""
    return flavour_of_generator(G).name

#----------------------------------------------------------------------------
# Spec resolution.

def read_training_options(net):
    """training_options.json beside the network, as a dict, or None when there is none."""
    path = net.training_options_path
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding='utf-8') as f:
            options = json.load(f)
    except (OSError, ValueError, RecursionError) as e:  # ValueError: invalid JSON or not UTF-8.
        raise SpecResolutionError(f'{path}: cannot read ({type(e).__name__}: {short_text(str(e))})') from None
    if not isinstance(options, dict):
        raise SpecResolutionError(f'{path}: expected a JSON object, got {type(options).__name__}')
    return options


def spec_from_training_options(options, run_dir):
    """(spec source or None, loss class name) from training_options.json's loss_kwargs.

    Relative spec paths are tried as written (the training's working directory) and then beside the run dir.
    """
    loss_kwargs = options.get('loss_kwargs') or {}
    if not isinstance(loss_kwargs, dict):
        raise SpecResolutionError(f'{os.path.join(run_dir, "training_options.json")}: loss_kwargs must be an object, '
                                  f'got {short_repr(loss_kwargs)}')
    loss_kwargs = dict(loss_kwargs)
    class_name = loss_kwargs.pop('class_name', None)
    spec, _, _ = split_loss_kwargs(loss_kwargs)
    if isinstance(spec, str) and not spec.lstrip().startswith('{') and not os.path.isabs(spec) \
            and not os.path.isfile(spec) and os.path.isfile(os.path.join(run_dir, spec)):
        spec = os.path.join(run_dir, spec)
    return spec, class_name


def resolve_spec(net, explicit=None, w_dim=None):
    """The link spec to measure or edit with, and where it came from.

    Order: 1. `explicit` (a file, inline JSON or dict: overrides everything, and evaluates a baseline network);
           2. the 'spec' stored in a demo checkpoint; 3. the loss kwargs in training_options.json beside the file;
           4. the 'eval_spec' of a demo checkpoint trained without links (its baseline and control: the spec the
           demo measured them with); 5. SpecResolutionError saying to pass --spec.
    Returns:
        (LinkSpec, origin) with origin 'explicit' | 'checkpoint' | 'training_options.json' | 'checkpoint (eval_spec)'.
    Raises:
        SpecResolutionError, or SpecError for an invalid spec (axes beyond w_dim included, when given).
    """
    w_dim = w_dim if w_dim is not None else getattr(net.G, 'w_dim', None)
    if explicit is not None:
        return load_spec(explicit, w_dim=w_dim), 'explicit'
    if net.checkpoint_spec is not None:
        return load_spec(net.checkpoint_spec, base_dir=net.run_dir, w_dim=w_dim), 'checkpoint'
    options = read_training_options(net)
    if options is not None:
        source, class_name = spec_from_training_options(options, net.run_dir)
        if source is not None:
            return load_spec(source, base_dir=None if isinstance(source, str) else net.run_dir, w_dim=w_dim), \
                'training_options.json'
        raise SpecResolutionError(f'no link spec: {net.training_options_path} records loss {short_repr(class_name)} without '
                                  'links (a network trained without LinkGAN). Pass --spec FILE to measure it as a baseline.')
    if net.eval_spec is not None:     # A demo's baseline or control: the spec the demo measured it with.
        return load_spec(net.eval_spec, base_dir=net.run_dir, w_dim=w_dim), 'checkpoint (eval_spec)'
    if net.has_checkpoint_spec:
        raise SpecResolutionError(f'no link spec: {net.path} is a baseline checkpoint (spec: null) and has no '
                                  'training_options.json beside it. Pass --spec FILE.')
    raise SpecResolutionError(f'no link spec: pass --spec FILE; {net.path} stores none and there is no '
                              f'training_options.json beside it.')

#----------------------------------------------------------------------------
# Cameras and the adapter.

CAMERAS = ('frontal', 'sampled', 'dataset')


def dataset_labels(training_set_kwargs):
    """Camera / class labels [num_images, label_dim] from an upstream dataset's dataset.json (zip or folder), or None."""
    path = (training_set_kwargs or {}).get('path') if isinstance(training_set_kwargs, dict) else None
    if not isinstance(path, str) or not path or not os.path.exists(path):
        return None
    try:
        if os.path.isdir(path):
            name = os.path.join(path, 'dataset.json')
            if not os.path.isfile(name):
                return None
            with open(name, encoding='utf-8') as f:
                meta = json.load(f)
        else:
            with zipfile.ZipFile(path) as z:
                if 'dataset.json' not in z.namelist():
                    return None
                meta = json.loads(z.read('dataset.json'))
        values = [lab[1] for lab in meta['labels'] if lab is not None and lab[1] is not None]
        return torch.tensor(values, dtype=torch.float32) if values else None
    except (OSError, ValueError, RecursionError, zipfile.BadZipFile, KeyError, TypeError, IndexError, OverflowError):
        return None     # Unreadable or malformed: the caller says no labels were found.


def make_adapter(net, camera='frontal', device='cpu'):
    """A GeneratorAdapter on `device`. camera (EG3D): 'frontal', 'sampled' (yaw jitter), or 'dataset' (the run's
    camera labels, drawn with the caller's generator)."""
    if camera not in CAMERAS:
        raise ValueError(f'camera must be one of {", ".join(CAMERAS)}, got {camera!r}')
    G = net.G.to(device)
    if camera != 'dataset':
        return GeneratorAdapter(G, camera=camera)
    labels = dataset_labels(net.training_set_kwargs or (read_training_options(net) or {}).get('training_set_kwargs'))
    if labels is None:
        raise NetworkLoadError('--camera dataset: no camera labels found (dataset.json of the run\'s training set '
                               'is missing or unreadable); use --camera frontal or sampled')
    return DatasetCameraAdapter(G, labels)


class DatasetCameraAdapter(GeneratorAdapter):
    """Draws EG3D cameras from the run's dataset labels [num_images, 25] with the caller's generator."""

    def __init__(self, G, labels):
        super().__init__(G, camera='dataset')
        if labels.shape[1] != self.c_dim:
            raise NetworkLoadError(f'--camera dataset: labels have {labels.shape[1]} values, G expects c_dim={self.c_dim}')
        self.labels = labels

    def default_c(self, batch, generator=None):
        if not self.is_eg3d:
            return super().default_c(batch, generator)
        idx = torch.randint(len(self.labels), [batch], generator=generator)
        return self.labels[idx].to(self.device)

#----------------------------------------------------------------------------

def resolve_device(device='auto'):
    """'auto' -> 'cuda' when available, else 'cpu'; 'cpu', 'cuda' and 'cuda:N' are checked and returned as a
    torch.device. ValueError naming --device for anything else (unknown names, missing CUDA, N out of range)."""
    if device in (None, 'auto'):
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        dev = None
    if dev is None or dev.type not in ('cpu', 'cuda'):
        raise ValueError(f'device {short_repr(device)} is not one this tool runs on: use auto, cpu, cuda or cuda:N')
    if dev.type == 'cuda' and not torch.cuda.is_available():
        raise ValueError(f'device {short_repr(device)}: CUDA is not available on this machine (use --device cpu or auto)')
    if dev.type == 'cuda' and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(f'device {short_repr(device)}: this machine has {torch.cuda.device_count()} CUDA device(s)')
    return dev

#----------------------------------------------------------------------------


def file_sha256(path, chunk=1 << 20):
    """Hex SHA-256 of a file (identifies the network a codes file was made for)."""
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(chunk), b''):
            h.update(block)
    return h.hexdigest()
