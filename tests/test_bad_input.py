"""Bad input of every kind gets one clear message naming the field or argument and a non-zero exit, never a
traceback (issue 10). One test per kind of input, a handful of cases each; the CLI is driven through `linkgan`."""

import json
import pickle
import sys
import tracemalloc
import types
import zipfile

import pytest
from PIL import Image

from linkgan_plugin.analysis import network_loading as nl
from linkgan_plugin import smoke
from linkgan_plugin.loss import resolve_class
from linkgan_plugin.analysis.network_loading import NetworkLoadError, load_network, resolve_device
from linkgan_plugin.checks import MAX_ERRORS, SpecError, short_repr
from linkgan_plugin.spec import load_spec
from toy_checkpoints import cli, save_demo_checkpoint, toy_G

pytestmark = pytest.mark.usefixtures('one_thread')

SPEC = {'links': [{'name': 'a', 'axes': '0:8', 'region': {'box': [0, 0, 0.5, 0.5]}}]}


def check_fails(spec, *extra):
    """Output of a failing `linkgan spec check SPEC` (a dict is sent as inline JSON, Infinity/NaN included)."""
    code, out = cli('spec', 'check', spec if isinstance(spec, str) else json.dumps(spec), *extra)
    assert code == 1, out
    return out


def link(**fields):
    return {'links': [{'name': 'a', 'axes': '0:8', 'region': 'eyes', **fields}]}


def segmenter(**fields):
    return link(region={'segmenter': 'linkgan_plugin.regions:preset_box', 'classes': [1], **fields})


@pytest.fixture
def network(tmp_path):
    save_demo_checkpoint(tmp_path / 'net.pt', toy_G(), 'sg2ada', SPEC)
    return tmp_path / 'net.pt'

#----------------------------------------------------------------------------
# Spec values.

@pytest.mark.parametrize('spec, path', [
    (link(name=['x']), 'links[0].name'),
    (link(name={'a': 1}), 'links[0].name'),
    (link(region={'preset': ['eyes']}), 'links[0].region.preset'),
    (segmenter(mode=['union']), 'links[0].region.mode'),
    (segmenter(classes=[[1]]), 'links[0].region.classes'),
    (link(region={'segmenter': {'ref': 'x'}, 'classes': [1]}), 'links[0].region.segmenter'),
    (link(region={'box': [[0], 0, 1, 1]}), 'links[0].region.box'),
    ({**link(), 'eg3d_camera': ['frontal']}, 'eg3d_camera'),
])
def test_wrong_json_type_where_a_scalar_is_expected(spec, path):
    assert f'error: {path}: ' in check_fails(spec)


@pytest.mark.parametrize('axes', ['0:²', '٣:5', '0:1_0', '--3:5', '+-1:4'])
def test_axis_ranges_take_ascii_digits_and_one_sign(axes):
    assert 'links[0].axes: range must look like "start:stop"' in check_fails(link(axes=axes))


@pytest.mark.parametrize('spec, expected', [
    ({**link(), 'alpha': float('inf')}, 'alpha: must be a finite number, got inf'),
    ({**link(), 'lambda_in': float('-inf')}, 'lambda_in: must be a finite number'),
    ({**link(), 'fake_to_D_weight': float('nan')}, 'fake_to_D_weight: must be a finite number'),
    (link(region={'box': [0, 0, float('inf'), 1]}), 'links[0].region.box: box coordinates must be finite'),
    (link(region={'box': [0, 0, 1, 1]}), 'links[0].region.box: covers the whole image'),
    (link(region={'boxes': [[0, 0, 0.5, 1], [0.5, 0, 1, 1]]}), 'links[0].region.boxes: covers the whole image'),
])
def test_non_finite_numbers_and_regions_that_leave_a_term_empty(spec, expected):
    assert expected in check_fails(spec)


def test_masks_empty_or_full_everywhere(tmp_path):
    Image.new('L', (8, 8), 0).save(tmp_path / 'zeros.png')
    Image.new('L', (8, 8), 255).save(tmp_path / 'ones.png')
    out = check_fails(link(region={'mask': str(tmp_path / 'zeros.png')}))
    assert 'links[0].region.mask: ' in out and 'is empty everywhere' in out
    out = check_fails(link(region={'mask': str(tmp_path / 'ones.png')}))
    assert 'links[0].region.mask: ' in out and 'covers every pixel' in out

#----------------------------------------------------------------------------
# Sizes: refused before anything is expanded or converted.

def test_huge_ranges_are_refused_without_expanding_them():
    tracemalloc.start()
    try:
        with pytest.raises(SpecError, match=r'links\[0\].axes: 65536 is out of range for any latent'):
            load_spec(link(axes='0:10000000000'))
        with pytest.raises(SpecError, match=r'links\[0\].axes: 512 is out of range for w_dim=512'):
            load_spec(link(axes={'start': 0, 'stop': 10**30}), w_dim=512)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20
    assert 'links[0].axes: 65536 is out of range' in check_fails(link(axes=list(range(100000))))


def test_huge_numbers_and_deep_nesting(tmp_path):
    text = json.dumps(link())[:-1] + ', "alpha": 1' + '0' * 400 + '}'
    assert 'alpha: must be a finite number' in check_fails(text)
    assert 'interval: must be <= ' in check_fails({**link(), 'interval': 10**30})
    deep = '{"links": ' + '[' * 100000 + ']' * 100000 + '}'
    assert 'spec: the inline JSON is nested too deeply' in check_fails(deep)
    (tmp_path / 'deep.json').write_text(deep)
    assert 'is nested too deeply' in check_fails(str(tmp_path / 'deep.json'))


@pytest.mark.parametrize('seeds, expected', [
    ('0-10000000000', 'seeds must lie in [0, 2^32)'),
    ('0-4294967295', '4294967296 seeds given: need 1 to 1000'),
    ('²', 'expected seeds like'),
    ('٣', 'expected seeds like'),
    ('1_0', 'expected seeds like'),
    ('--3', 'expected seeds like'),
])
def test_seed_lists(tmp_path, seeds, expected):
    code, out = cli('edit', '--network', tmp_path / 'unused.pt', '--seeds', seeds)
    assert code == 2 and "'--seeds'" in out and expected in out, out


def test_messages_stay_short():
    assert short_repr(list(range(100000))) == '[0, 1, 2, 3, ... (100000 items)]'
    assert short_repr(10**400) == '<an integer of about 401 digits>'
    out = check_fails(link(axes=[0.5] + list(range(100000))))
    assert 'links[0].axes: axis indices must be integers, got [0.5, 0, 1, 2, ... (100001 items)]' in out
    assert len(out) < 1000
    many = {'links': [{'name': f'n{i}', 'axes': [i], 'region': 'nope'} for i in range(200)]}
    with pytest.raises(SpecError) as info:
        load_spec(many)
    assert len(info.value.errors) == MAX_ERRORS + 1 and info.value.errors[-1] == '... and 150 more problems'

#----------------------------------------------------------------------------
# Files.

def test_spec_files_that_are_not_utf8_json(tmp_path, network):
    (tmp_path / 'latin1.json').write_bytes('{"links": [{"name": "é"}]}'.encode('latin-1'))
    assert 'spec: ' in (out := check_fails(str(tmp_path / 'latin1.json'))) and 'is not UTF-8 text' in out
    assert 'is a zip archive (a torch checkpoint' in check_fails(str(network))
    with open(tmp_path / 'snap.pkl', 'wb') as f:
        pickle.dump({'G_ema': None}, f)
    assert 'is a pickle (a network snapshot?), not a JSON link spec' in check_fails(str(tmp_path / 'snap.pkl'))
    code, out = cli('eval', '--network', network, '--spec', network, '--samples', 2)
    assert code == 2 and '--spec' in out and 'not a JSON link spec' in out


def test_directories_where_files_are_expected(tmp_path):
    (tmp_path / 'd.json').mkdir()
    (tmp_path / 'seg.py').mkdir()
    (tmp_path / 'model.pt').mkdir()
    assert 'd.json is a directory, not a spec file' in check_fails(str(tmp_path / 'd.json'))
    out = check_fails(link(region={'mask': str(tmp_path / 'd.json')}))
    assert 'links[0].region.mask: ' in out and 'is a directory' in out
    for ref in (f'{tmp_path / "seg.py"}:segment', str(tmp_path / 'model.pt')):
        out = check_fails(link(region={'segmenter': ref, 'classes': [1]}))
        assert 'links[0].region.segmenter: ' in out and 'is a directory' in out


def _damaged_files(tmp_path, network):
    raw = network.read_bytes()
    (tmp_path / 'truncated.pt').write_bytes(raw[:len(raw) // 2])
    with open(tmp_path / 'snap.pkl', 'wb') as f:
        pickle.dump({'G_ema': toy_G()}, f)
    pkl = (tmp_path / 'snap.pkl').read_bytes()
    (tmp_path / 'truncated.pkl').write_bytes(pkl[:len(pkl) // 2])
    flipped = bytearray(pkl)
    for i in range(200, len(flipped), 97):
        flipped[i] ^= 0x5A
    (tmp_path / 'corrupt.pkl').write_bytes(bytes(flipped))
    (tmp_path / 'notes.pkl').write_text('hello')
    (tmp_path / 'empty.pkl').write_bytes(b'')
    with zipfile.ZipFile(tmp_path / 'dataset.zip', 'w') as z:
        z.writestr('dataset.json', '{"labels": null}')
    # name -> (message fragment, unpickled: the pickle warning is printed)
    return {'truncated.pt': ('truncated or damaged zip', False), 'truncated.pkl': ('truncated', True),
            'corrupt.pkl': ('or a damaged one', True), 'notes.pkl': ("starting with b'hello'", False),
            'empty.pkl': ('an empty file', False), 'dataset.zip': ('without a torch checkpoint', False)}


def test_damaged_or_foreign_network_files(tmp_path, network, monkeypatch):
    for name, (fragment, unpickled) in _damaged_files(tmp_path, network).items():
        monkeypatch.setattr(nl, '_pickle_warned', False)
        with pytest.raises(NetworkLoadError, match='not a network pickle or checkpoint') as info:
            load_network(tmp_path / name)
        assert str(tmp_path / name) in str(info.value) and fragment in str(info.value), name
        monkeypatch.setattr(nl, '_pickle_warned', False)
        code, out = cli('eval', '--network', tmp_path / name, '--samples', 2)
        assert code == 1 and fragment in out, (name, out)
        assert ('unpickling runs code' in out) == unpickled, (name, out)

#----------------------------------------------------------------------------
# Arguments.

@pytest.mark.parametrize('device', ['foo', 'cuda:abc', 'cpu:x:y'])
def test_unknown_device(network, device):
    with pytest.raises(ValueError, match=f"device '{device}' is not one this tool runs on"):
        resolve_device(device)
    code, out = cli('eval', '--network', network, '--device', device, '--samples', 2)
    assert code == 2 and '--device' in out


def test_base_loss_names_the_problem_whatever_was_imported(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="'StyleGAN2Loss' has no module part"):
        resolve_class('StyleGAN2Loss')
    package = tmp_path / 'lossy_pkg'
    package.mkdir()
    (package / '__init__.py').write_text('')
    (package / 'losses.py').write_text('class MyLoss:\n    pass\nTABLE = {}\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    for _ in ('before the submodule is imported', 'after'):
        with pytest.raises(ValueError, match="'lossy_pkg.losses' names a module, not a class"):
            resolve_class('lossy_pkg.losses')
        __import__('lossy_pkg.losses')
    with pytest.raises(TypeError, match='is a dict, not a class'):
        resolve_class('lossy_pkg.losses.TABLE')
    assert resolve_class('lossy_pkg.losses:MyLoss').__name__ == 'MyLoss'
    for name in [k for k in sys.modules if k.startswith('lossy_pkg')]:
        monkeypatch.delitem(sys.modules, name)


def test_smoke_names_missing_upstream_requirements(tmp_path, monkeypatch):
    assert smoke.missing_requirements(requirements={'json': 'x', 'no_such_module_xyz': 'no-such-package'}) == \
        ['no_such_module_xyz']
    det = types.SimpleNamespace(code_dir=str(tmp_path), upstream=types.SimpleNamespace(key='sg2ada'),
                                describe=lambda: 'fake upstream')
    monkeypatch.setattr('linkgan_plugin.patching.is_loss_patched', lambda *a, **k: (det, True))
    monkeypatch.setattr(smoke, 'UPSTREAM_REQUIREMENTS', {'json': 'json', 'no_such_module_xyz': 'no-such-package'})
    monkeypatch.setattr(smoke.subprocess, 'run', _only_the_probe(smoke.subprocess.run))
    code, out = cli('smoke', tmp_path, '--outdir', tmp_path / 'runs')
    assert code == 1 and 'no_such_module_xyz' in out and '-m pip install no-such-package' in out, out
    assert 'json' not in out.split('cannot import:')[1]
    assert not (tmp_path / 'runs').exists()
    # With its requirements met, a bad --spec is still refused before train.py runs.
    monkeypatch.setattr(smoke, 'UPSTREAM_REQUIREMENTS', {'json': 'json'})
    (tmp_path / 'bad.json').write_text(json.dumps(link(axes='0:²')))
    code, out = cli('smoke', tmp_path, '--outdir', tmp_path / 'runs', '--spec', tmp_path / 'bad.json')
    assert code == 2 and '--spec' in out and 'links[0].axes: range must look like' in out, out


def _only_the_probe(run):
    def guarded(cmd, *args, **kwargs):
        assert cmd[1] == '-c', f'train.py must not run: {cmd}'
        return run(cmd, *args, **kwargs)
    return guarded
