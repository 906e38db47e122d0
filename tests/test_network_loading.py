"""Loading networks for eval/edit: toy checkpoints (the one layout and the older ones), upstream-style pickles, the
upstream path, spec resolution."""

import json
import os
import pickle
import sys
import textwrap

import pytest
import torch

from linkgan_plugin.analysis import network_loading as nl
from linkgan_plugin.analysis.network_loading import (NetworkLoadError, SpecResolutionError, load_network, resolve_spec,
                                            resolve_upstream)
from linkgan_plugin.checks import SpecError
from linkgan_plugin.toy.checkpoint import CHECKPOINT_FORMAT, networks_from_checkpoint, save_checkpoint
from linkgan_plugin.toy.networks import make_toy_networks
import toy_checkpoints
from toy_checkpoints import SMALL, save_demo_checkpoint, save_format1_checkpoint

SPEC = {'links': [{'name': 'eyes', 'axes': '0:8', 'region': {'preset': 'eyes'}}]}
OTHER_SPEC = {'links': [{'name': 'mouth', 'axes': '8:16', 'region': {'preset': 'mouth'}}]}


pytestmark = pytest.mark.usefixtures('one_thread')


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    monkeypatch.delenv(nl.UPSTREAM_ENV, raising=False)
    monkeypatch.setattr(sys, 'path', list(sys.path))      # Restored after each test: load_network may prepend.


def toy_G(flavour='sg2ada', seed=0):
    """toy_checkpoints.toy_G with requires_grad on: the loader must turn it off."""
    return toy_checkpoints.toy_G(flavour, seed, frozen=False)


def render(G, seed=1):
    z = torch.randn([2, G.z_dim], generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return G.synthesis(G.mapping(z, None), noise_mode='const')

#----------------------------------------------------------------------------
# Demo checkpoints.

@pytest.mark.parametrize('save, rebuilt', [(save_demo_checkpoint, True), (save_format1_checkpoint, False)])
def test_toy_checkpoint_loads_generator_and_spec(tmp_path, save, rebuilt):
    # The one layout (toy.checkpoint) is rebuilt from its state; the older format 1 also pickled G_ema, used as is.
    G = toy_G()
    save(tmp_path / 'linked.pt', G, 'sg2ada', SPEC)
    net = load_network(tmp_path / 'linked.pt')
    assert (net.kind, net.flavour, net.rebuilt) == ('demo', 'sg2ada', rebuilt)
    assert not net.G.training and not any(p.requires_grad for p in net.G.parameters())
    torch.testing.assert_close(render(net.G), render(G))
    spec, origin = resolve_spec(net)
    assert origin == 'checkpoint' and spec.names == ['eyes']


def test_toy_checkpoint_is_read_without_unpickling(tmp_path, monkeypatch, capsys):
    # Tensors and plain values: read with weights_only, no pickle warning.
    monkeypatch.setattr(nl, '_pickle_warned', False)
    save_demo_checkpoint(tmp_path / 'linked.pt', toy_G(), 'sg2ada', SPEC)
    data = torch.load(tmp_path / 'linked.pt', weights_only=True)
    assert data['format'] == CHECKPOINT_FORMAT and data['linked'] and 'G_ema' not in data
    assert load_network(tmp_path / 'linked.pt').info == {'format': CHECKPOINT_FORMAT, 'linked': True}
    assert 'unpickling runs code' not in capsys.readouterr().err


def test_toy_checkpoint_keeps_the_training_networks_and_refuses_unknown_entries(tmp_path):
    G_ema, D = make_toy_networks('sg3', **SMALL)
    G = toy_G('sg3', seed=5)
    save_checkpoint(tmp_path / 'run.pt', G_ema, 'sg3', None, G=G, D=D, role='control', kimg=2.0)
    data = torch.load(tmp_path / 'run.pt', weights_only=True)
    assert (data['role'], data['kimg'], data['spec'], data['linked']) == ('control', 2.0, None, False)
    G2, D2, G_ema2 = networks_from_checkpoint(data)
    for a, b in ((G2, G), (D2, D), (G_ema2, G_ema)):
        assert type(a) is type(b) and a.state_dict().keys() == b.state_dict().keys()
        assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())
    assert not G_ema2.training and not any(p.requires_grad for p in G_ema2.parameters())
    with pytest.raises(ValueError, match="unknown checkpoint entry 'step'"):
        save_checkpoint(tmp_path / 'x.pt', G_ema, 'sg3', step=1)
    with pytest.raises(ValueError, match='both training networks'):
        save_checkpoint(tmp_path / 'x.pt', G_ema, 'sg3', G=G)
    with pytest.raises(ValueError, match='flavour must be'):
        save_checkpoint(tmp_path / 'x.pt', G_ema, 'sg4')
    with pytest.raises(ValueError, match='no G_state or D_init_kwargs or D_state'):
        networks_from_checkpoint({'flavour': 'sg3', 'G_init_kwargs': {}, 'G_ema_state': {}})


def test_demo_checkpoint_rebuilds_from_state_when_class_is_gone(tmp_path, monkeypatch):
    # A G_ema whose class lives in a module that no longer exists at load time: rebuilt from G_init_kwargs + state.
    mod_dir = tmp_path / 'mods'
    mod_dir.mkdir()
    (mod_dir / 'vanishing_toy.py').write_text(textwrap.dedent('''
        from linkgan_plugin.toy.networks import ToyGeneratorSG2ADA
        class MovedGenerator(ToyGeneratorSG2ADA):
            pass
    '''))
    monkeypatch.syspath_prepend(str(mod_dir))
    import vanishing_toy
    torch.manual_seed(3)
    G = vanishing_toy.MovedGenerator(**SMALL).eval()
    save_format1_checkpoint(tmp_path / 'ckpt.pt', G, 'sg2ada', SPEC)
    sys.path.remove(str(mod_dir))
    monkeypatch.delitem(sys.modules, 'vanishing_toy')
    net = load_network(tmp_path / 'ckpt.pt')
    assert net.rebuilt and type(net.G).__name__ == 'ToyGeneratorSG2ADA'
    torch.testing.assert_close(render(net.G), render(G))


def test_demo_checkpoint_sg3_and_eg3d_flavours(tmp_path):
    for flavour in ('sg3', 'eg3d'):
        save_demo_checkpoint(tmp_path / f'{flavour}.pt', toy_G(flavour), flavour, None)
        net = load_network(tmp_path / f'{flavour}.pt')
        assert net.flavour == flavour and net.has_checkpoint_spec and net.checkpoint_spec is None

#----------------------------------------------------------------------------
# Plain pickles and errors.

def test_plain_pickle_with_G_ema(tmp_path):
    G = toy_G('sg3')
    with open(tmp_path / 'network-snapshot-000000.pkl', 'wb') as f:
        pickle.dump({'G': G, 'D': None, 'G_ema': G, 'training_set_kwargs': {'path': 'x.zip'}}, f)
    net = load_network(tmp_path / 'network-snapshot-000000.pkl')
    assert (net.kind, net.flavour) == ('upstream', 'sg3')
    assert net.training_set_kwargs == {'path': 'x.zip'}


def test_pickle_without_G_ema(tmp_path):
    with open(tmp_path / 'bad.pkl', 'wb') as f:
        pickle.dump({'G': toy_G(), 'D': None}, f)
    with pytest.raises(NetworkLoadError, match=r"has no 'G_ema' \(keys: G, D\)"):
        load_network(tmp_path / 'bad.pkl')
    torch.save({'flavour': 'sg2ada'}, tmp_path / 'bad.pt')
    with pytest.raises(NetworkLoadError, match="has no 'G_ema'"):
        load_network(tmp_path / 'bad.pt')


def test_missing_network_and_non_pickle(tmp_path):
    with pytest.raises(NetworkLoadError, match='file not found'):
        load_network(tmp_path / 'nope.pkl')
    with pytest.raises(NetworkLoadError, match='is a directory'):
        load_network(tmp_path)
    (tmp_path / 'text.pkl').write_text('hello')
    with pytest.raises(NetworkLoadError, match='not a network pickle'):
        load_network(tmp_path / 'text.pkl')


def _fake_upstream(root):
    """A directory shaped like an upstream checkout whose torch_utils.persistence defines a tiny generator class."""
    (root / 'dnnlib').mkdir(parents=True)
    (root / 'dnnlib' / '__init__.py').write_text('')
    (root / 'torch_utils').mkdir()
    (root / 'torch_utils' / '__init__.py').write_text('')
    (root / 'torch_utils' / 'persistence.py').write_text(textwrap.dedent('''
        import torch
        class PersistentG(torch.nn.Module):
            z_dim, c_dim, w_dim, num_ws, img_resolution, img_channels = 4, 0, 4, 2, 8, 3
            def __init__(self):
                super().__init__()
                self.weight = torch.nn.Parameter(torch.ones(3))
    '''))
    return root


def test_missing_upstream_names_the_option(tmp_path, monkeypatch, capsys):
    fake = _fake_upstream(tmp_path / 'fake_upstream')
    monkeypatch.syspath_prepend(str(fake))
    saved = {k: v for k, v in sys.modules.items() if k.split('.')[0] in ('torch_utils', 'dnnlib')}
    for k in saved:
        monkeypatch.delitem(sys.modules, k)
    from torch_utils.persistence import PersistentG
    with open(tmp_path / 'network-snapshot-000010.pkl', 'wb') as f:
        pickle.dump({'G': PersistentG(), 'D': None, 'G_ema': PersistentG(), 'augment_pipe': None}, f)
    sys.path.remove(str(fake))
    for k in [k for k in sys.modules if k.split('.')[0] in ('torch_utils', 'dnnlib')]:
        del sys.modules[k]

    try:
        with pytest.raises(NetworkLoadError) as info:
            load_network(tmp_path / 'network-snapshot-000010.pkl')
        message = str(info.value)
        assert "'torch_utils'" in message and '--upstream' in message and 'LINKGAN_UPSTREAM' in message

        # With the checkout named (environment variable), it loads and the path stays importable.
        monkeypatch.setenv('LINKGAN_UPSTREAM', str(fake))
        net = load_network(tmp_path / 'network-snapshot-000010.pkl')
        assert type(net.G).__name__ == 'PersistentG' and str(fake) in sys.path
    finally:
        for k in [k for k in sys.modules if k.split('.')[0] in ('torch_utils', 'dnnlib')]:
            del sys.modules[k]


def test_resolve_upstream(tmp_path, monkeypatch):
    with pytest.raises(NetworkLoadError, match='--upstream: upstream directory not found'):
        resolve_upstream(tmp_path / 'missing')
    (tmp_path / 'empty').mkdir()
    with pytest.raises(NetworkLoadError, match='has no dnnlib/ and torch_utils/'):
        resolve_upstream(tmp_path / 'empty')
    eg3d_root = tmp_path / 'eg3d_repo'
    _fake_upstream(eg3d_root / 'eg3d')                      # eg3d keeps its code under eg3d/.
    assert resolve_upstream(eg3d_root) == str(eg3d_root / 'eg3d')
    assert resolve_upstream(None) is None
    monkeypatch.setenv('LINKGAN_UPSTREAM', str(tmp_path / 'missing'))
    with pytest.raises(NetworkLoadError, match='LINKGAN_UPSTREAM: upstream directory not found'):
        resolve_upstream(None)


def test_pickle_warning_once(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(nl, '_pickle_warned', False)
    save_format1_checkpoint(tmp_path / 'a.pt', toy_G(), 'sg2ada', SPEC)
    load_network(tmp_path / 'a.pt')
    load_network(tmp_path / 'a.pt')
    err = capsys.readouterr().err
    assert err.count('unpickling runs code') == 1


def test_state_dict_checkpoint_loads_without_unpickling(tmp_path, monkeypatch, capsys):
    # Tensors and plain values only, without a format (what `linkgan-research study` saved before the one layout).
    monkeypatch.setattr(nl, '_pickle_warned', False)
    G = toy_G()
    torch.save({'flavour': 'sg2ada', 'G_init_kwargs': dict(G.init_kwargs), 'G_ema_state': G.state_dict(),
                'spec': SPEC, 'kimg': 1.0}, tmp_path / 's.pt')
    loaded = load_network(tmp_path / 's.pt')
    assert 'unpickling runs code' not in capsys.readouterr().err
    assert loaded.rebuilt and loaded.checkpoint_spec == SPEC and not loaded.G.synthesis.const.requires_grad
    assert torch.equal(loaded.G.synthesis.const, G.synthesis.const)

#----------------------------------------------------------------------------
# Spec resolution: explicit > checkpoint > training_options.json > error.

def _write_options(run_dir, loss_kwargs):
    with open(run_dir / 'training_options.json', 'w') as f:
        json.dump({'loss_kwargs': loss_kwargs, 'training_set_kwargs': {'path': 'data.zip'}}, f)


def _snapshot(run_dir, G=None):
    path = run_dir / 'network-snapshot-000000.pkl'
    G = G or toy_G()
    with open(path, 'wb') as f:
        pickle.dump({'G': G, 'D': None, 'G_ema': G}, f)
    return load_network(path)


def test_spec_from_training_options_and_explicit_override(tmp_path):
    _write_options(tmp_path, {'class_name': 'linkgan_plugin.LinkLoss', 'r1_gamma': 1.0, 'spec': SPEC})
    net = _snapshot(tmp_path)
    spec, origin = resolve_spec(net)
    assert (origin, spec.names) == ('training_options.json', ['eyes'])
    spec, origin = resolve_spec(net, explicit=json.dumps(OTHER_SPEC))
    assert (origin, spec.names) == ('explicit', ['mouth'])


def test_spec_inline_and_relative_path_in_training_options(tmp_path):
    _write_options(tmp_path, {'class_name': 'linkgan_plugin.LinkLoss', 'links': OTHER_SPEC['links'], 'alpha': 0.5})
    spec, origin = resolve_spec(_snapshot(tmp_path))
    assert spec.names == ['mouth'] and spec.alpha == 0.5
    (tmp_path / 'my_spec.json').write_text(json.dumps(SPEC))
    _write_options(tmp_path, {'class_name': 'linkgan_plugin.LinkLoss', 'spec': 'my_spec.json'})
    spec, _ = resolve_spec(_snapshot(tmp_path))
    assert spec.names == ['eyes']


def test_checkpoint_spec_beats_training_options(tmp_path):
    _write_options(tmp_path, {'class_name': 'linkgan_plugin.LinkLoss', 'spec': OTHER_SPEC})
    save_demo_checkpoint(tmp_path / 'linked.pt', toy_G(), 'sg2ada', SPEC)
    spec, origin = resolve_spec(load_network(tmp_path / 'linked.pt'))
    assert (origin, spec.names) == ('checkpoint', ['eyes'])


def test_spec_resolution_errors(tmp_path):
    run = tmp_path / 'baseline_run'
    run.mkdir()
    _write_options(run, {'class_name': 'training.loss.StyleGAN2Loss', 'r1_gamma': 1.0})
    with pytest.raises(SpecResolutionError, match=r"'training.loss.StyleGAN2Loss' without links.*--spec"):
        resolve_spec(_snapshot(run))
    bare = tmp_path / 'bare'
    bare.mkdir()
    with pytest.raises(SpecResolutionError, match='pass --spec'):
        resolve_spec(_snapshot(bare))
    save_demo_checkpoint(bare / 'baseline.pt', toy_G(), 'sg2ada', None)
    with pytest.raises(SpecResolutionError, match=r'baseline checkpoint \(spec: null\).*--spec'):
        resolve_spec(load_network(bare / 'baseline.pt'))
    # A baseline is measured with any explicit spec.
    spec, origin = resolve_spec(load_network(bare / 'baseline.pt'), explicit=SPEC)
    assert origin == 'explicit'


def test_spec_axes_beyond_w_dim(tmp_path):
    save_demo_checkpoint(tmp_path / 'b.pt', toy_G(), 'sg2ada', None)
    too_wide = {'links': [{'name': 'eyes', 'axes': '0:40', 'region': 'eyes'}]}      # w_dim is 32.
    with pytest.raises(SpecError, match=r'links\[0\]\.axes: 32 is out of range for w_dim=32'):
        resolve_spec(load_network(tmp_path / 'b.pt'), explicit=too_wide)

#----------------------------------------------------------------------------
# Opt-in: a real upstream snapshot (LINKGAN_UPSTREAM_SG2ADA = checkout, LINKGAN_UPSTREAM_SNAPSHOT = its pickle).

@pytest.mark.upstream
def test_real_upstream_snapshot():
    checkout, snapshot = os.environ.get('LINKGAN_UPSTREAM_SG2ADA'), os.environ.get('LINKGAN_UPSTREAM_SNAPSHOT')
    if not (checkout and snapshot and os.path.isfile(snapshot)):
        pytest.skip('set LINKGAN_UPSTREAM_SG2ADA and LINKGAN_UPSTREAM_SNAPSHOT')
    net = load_network(snapshot, upstream=checkout)
    assert net.kind == 'upstream' and net.G.w_dim > 0
    spec, origin = resolve_spec(net, explicit=SPEC)
    assert origin == 'explicit'


def test_demo_control_checkpoint_is_measured_with_its_eval_spec(tmp_path):
    # A demo's control (and baseline) store spec None but the spec the demo evaluated them with: commands use it.
    from linkgan_plugin.analysis.network_loading import load_network, resolve_spec
    from toy_checkpoints import toy_G
    G = toy_G()
    eval_spec = {'links': [{'name': 'a', 'axes': '0:4', 'region': {'box': [0, 0, 0.5, 0.5]}}]}
    torch.save({'G_ema': G, 'G_ema_state': G.state_dict(), 'G_init_kwargs': dict(G.init_kwargs), 'flavour': 'sg2ada',
                'spec': None, 'eval_spec': eval_spec}, tmp_path / 'control.pt')
    spec, origin = resolve_spec(load_network(tmp_path / 'control.pt'))
    assert origin == 'checkpoint (eval_spec)' and spec.names == ['a']
