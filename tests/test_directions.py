"""ReSeFa (`editing.resefa`), StyleSpace (`editing.stylespace`) and `linkgan directions` (`editing.directions_command`):
the exact Jacobian, the generalised eigenproblem, known-answer generators (a W axis / a style channel that only
changes a box), style-layer discovery on toy and upstream-shaped structures, the gradient-share estimator against
real edits, edits through hooks, files, and the command line (its files read by `linkgan edit`, its bad inputs)."""

import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from linkgan_plugin.analysis.generator import GeneratorAdapter
from linkgan_plugin.editing import directions_file, lelsd, masking, resefa, stylespace
from linkgan_plugin.cli.directions import directions_command
from linkgan_plugin.cli.edit import edit_command
from linkgan_plugin.editing.lelsd_scale import sample_latents
from toy_checkpoints import save_demo_checkpoint, toy_G

pytestmark = pytest.mark.usefixtures('one_thread')

TOP_LEFT = {'box': [0, 0, 0.5, 0.5]}
SPEC = {'links': [{'name': 'tl', 'axes': '0:8', 'region': TOP_LEFT}]}


def box_mask(resolution):
    m = torch.zeros(resolution, resolution)
    m[:resolution // 2, :resolution // 2] = 1
    return m

#----------------------------------------------------------------------------
# Known-answer generators (upstream-shaped: mapping, synthesis.layers, z_dim, ...).

class BasisLayer(torch.nn.Module):
    """w [N, w_dim] -> tanh(sum_d w_d basis_d): [N, 3, R, R]. No affine: no style space."""

    def __init__(self, basis):
        super().__init__()
        self.register_buffer('basis', basis)

    def forward(self, w):
        return torch.einsum('nd,dchw->nchw', w, self.basis).tanh()


class AffineLayer(torch.nn.Module):
    """Style s = affine(w) [N, C]; output sum_c s_c basis_c [N, 3, R, R]."""

    def __init__(self, w_dim, basis, generator):
        super().__init__()
        self.affine = torch.nn.Linear(w_dim, basis.shape[0])
        with torch.no_grad():
            self.affine.weight.copy_(torch.randn(self.affine.weight.shape, generator=generator) / math.sqrt(w_dim))
            self.affine.bias.fill_(1.0)
        self.register_buffer('basis', basis)

    def forward(self, w):
        return torch.einsum('nc,ckhw->nkhw', self.affine(w), self.basis)


class Synthesis(torch.nn.Module):
    def __init__(self, layers):
        super().__init__()
        self.layers = torch.nn.ModuleList(layers)

    def forward(self, ws, noise_mode='const', **_):
        return sum(layer(ws[:, i]) for i, layer in enumerate(self.layers)).tanh()


class KnownG(torch.nn.Module):
    """w = z (times psi) on every row; layer i reads row i; the image is tanh of the layers' sum."""

    def __init__(self, layers, w_dim, resolution):
        super().__init__()
        self.z_dim = self.w_dim = w_dim
        self.c_dim, self.img_resolution, self.img_channels, self.num_ws = 0, resolution, 3, len(layers)
        self.synthesis = Synthesis(layers)

    def mapping(self, z, c, truncation_psi=1, truncation_cutoff=None, **_):
        return (z * truncation_psi)[:, None].repeat(1, self.num_ws, 1)


def known_axis_G(axis=3, w_dim=6, resolution=8, seed=0):
    """W axis `axis` changes only the top-left quadrant; every other axis changes the whole image."""
    g = torch.Generator().manual_seed(seed)
    basis = torch.randn(w_dim, 3, resolution, resolution, generator=g) / math.sqrt(w_dim)
    basis[axis] = (torch.rand(3, resolution, resolution, generator=g) + 0.5) * box_mask(resolution)
    return KnownG([BasisLayer(basis)], w_dim, resolution).eval()


def known_channel_G(channel=2, channels=5, w_dim=6, resolution=8, seed=0):
    """Two affine layers of `channels` styles; channel `channel` of layer 1 writes only the top-left quadrant, every
    other channel the whole image."""
    g = torch.Generator().manual_seed(seed)
    layers = []
    for i in range(2):
        basis = torch.randn(channels, 3, resolution, resolution, generator=g) / math.sqrt(channels)
        if i == 1:
            basis[channel] = (torch.rand(3, resolution, resolution, generator=g) + 0.5) * box_mask(resolution)
        layers.append(AffineLayer(w_dim, basis, g))
    return KnownG(layers, w_dim, resolution).eval().requires_grad_(False)

#----------------------------------------------------------------------------
# ReSeFa.

@pytest.mark.parametrize('flavour', ['sg2ada', 'eg3d'])
def test_jacobian_is_exact_and_resizes_linearly(flavour):
    gen = GeneratorAdapter(toy_G(flavour))
    ws, c = gen.map(torch.randn(2, gen.z_dim)), gen.default_c(2)

    def image(offset, size=None):
        torch.manual_seed(1)                        # EG3D's ray jitter: the same draws for every render.
        return resefa.resized(gen.synthesize(ws + offset[:, None], c)['image'], size)

    torch.manual_seed(1)
    x, J = resefa.image_jacobian(gen, ws, c)
    zero = torch.zeros(2, gen.w_dim)
    for k in (0, 9, 22, 31):                        # Column k by forward-mode AD: the image's change along axis k.
        tangent = torch.zeros(2, gen.w_dim)
        tangent[:, k] = 1
        torch.testing.assert_close(J[:, k], torch.func.jvp(image, (zero,), (tangent,))[1], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(x, image(zero))
    torch.manual_seed(1)
    x8, J8 = resefa.image_jacobian(gen, ws, c, resolution=8)
    assert x8.shape[2:] == (8, 8)
    torch.testing.assert_close(J8, torch.nn.functional.avg_pool2d(J.flatten(0, 1), 2).reshape(J8.shape),
                               atol=1e-5, rtol=1e-4)


def test_generalized_eigenvectors_solve_the_pencil():
    lam, V = resefa.generalized_eigenvectors(torch.diag(torch.tensor([1.0, 2.0, 3.0])),
                                             torch.diag(torch.tensor([1.0, 4.0, 1.0])))
    torch.testing.assert_close(lam, torch.tensor([3.0, 1.0, 0.5], dtype=torch.float64))
    torch.testing.assert_close(V, torch.eye(3, dtype=torch.float64)[[2, 0, 1]])
    g = torch.Generator().manual_seed(0)
    A, B = torch.randn(5, 5, generator=g).double(), torch.randn(5, 5, generator=g).double()
    M_f, M_b = A @ A.T, B @ B.T
    M_b_reg = resefa.regularised(M_b, M_f, 0.1)
    torch.testing.assert_close(torch.diagonal(M_b_reg - M_b), torch.full([5], 0.1 * float(torch.trace(M_b)) / 5,
                                                                         dtype=torch.float64))
    lam, V = resefa.generalized_eigenvectors(M_f, M_b_reg)
    torch.testing.assert_close(V @ M_f, lam[:, None] * (V @ M_b_reg))
    assert torch.all(lam[:-1] >= lam[1:]) and torch.allclose(V.norm(dim=1), torch.ones(5, dtype=torch.float64))


def test_resefa_finds_the_axis_that_only_changes_the_box():
    gen = GeneratorAdapter(known_axis_G(axis=3))
    res = resefa.find_directions(gen, masking.region_spec(TOP_LEFT), count=2, samples=8)
    u = res.directions / np.linalg.norm(res.directions, axis=1, keepdims=True)
    assert abs(u[0, 3]) > 0.999
    assert np.linalg.norm(res.directions[0]) == pytest.approx(res.scale['distance'], rel=1e-5)
    s = res.settings
    assert s['method'] == 'resefa' and s['inside_share'][0] > 0.999 > s['inside_share'][1]
    assert s['eigenvalues'][0] > 20 * s['eigenvalues'][1]
    ws = gen.map(torch.randn(3, gen.w_dim))
    x0 = gen.synthesize(ws)['image']
    x1 = gen.synthesize(lelsd.edit_ws(ws, torch.from_numpy(res.directions[0]), 0.5))['image']
    change = (x1 - x0).square().sum(dim=1)
    assert change[:, 4:].sum() + change[:, :4, 4:].sum() < 1e-4 * change[:, :4, :4].sum()


def top_left_labels(images):
    """A segmenter: class 1 in the top-left quadrant, 0 elsewhere ([N, H, W] labels)."""
    return box_mask(images.shape[2])[None].expand(images.shape[0], -1, -1)


def test_resefa_with_a_segmenter_region_and_its_errors():
    gen = GeneratorAdapter(known_axis_G(axis=1))
    semantic = masking.region_spec({'segmenter': 'test_directions:top_left_labels', 'classes': [1]})
    res = resefa.find_directions(gen, semantic, count=1, samples=4)
    assert abs(res.directions[0, 1]) / np.linalg.norm(res.directions[0]) > 0.999
    assert res.region['segmenter'] == 'test_directions:top_left_labels'
    with pytest.raises(ValueError, match='count must lie in 1..6'):
        resefa.find_directions(gen, semantic, count=7, samples=2)
    nowhere = masking.region_spec({'segmenter': 'test_directions:top_left_labels', 'classes': [2]})
    with pytest.raises(ValueError, match='empty on every sample'):
        resefa.find_directions(gen, nowhere, count=1, samples=2)
    everywhere = masking.region_spec({'segmenter': 'test_directions:top_left_labels', 'classes': [0, 1]})
    with pytest.raises(ValueError, match='covers the whole image on every sample'):
        resefa.find_directions(gen, everywhere, count=1, samples=2)

#----------------------------------------------------------------------------
# StyleSpace.

def test_stylespace_finds_the_channel_that_only_changes_the_box():
    gen = GeneratorAdapter(known_channel_G(channel=2))
    res = stylespace.find_channels(gen, masking.region_spec(TOP_LEFT), count=3, samples=8, probes=4)
    assert (res.layers[0], res.channels[0]) == ('synthesis.layers.1.affine', 2)
    assert res.shares[0] == pytest.approx(1.0) and res.shares[1] < 0.9 and res.num_channels == 10
    ws, _ = sample_latents(gen, 8, 0, (stylespace.STYLESPACE_STREAM, 1))
    styles = gen.G.synthesis.layers[1].affine(ws[:, 1])[:, 2]
    assert res.stds[0] == pytest.approx(float(styles.std(correction=0)), rel=1e-5)
    x0 = gen.synthesize(ws)['image']
    change = (stylespace.render_channel_edit(gen, ws, res, 0, 2.0)['image'] - x0).square().sum(dim=1)
    assert change[:, 4:].max() < 1e-12 and change[:, :, 4:].max() < 1e-12 and change[:, :4, :4].min() > 0
    change = (stylespace.render_channel_edit(gen, ws, res, 1, 2.0)['image'] - x0).square().sum(dim=1)
    assert change[:, 4:].sum() > 0.1 * change.sum()
    torch.testing.assert_close(stylespace.render_channel_edit(gen, ws, res, 0, 0.0)['image'], x0)


def test_stylespace_share_estimate_matches_small_edits_on_a_toy_stylegan():
    gen = GeneratorAdapter(toy_G('sg2ada'))
    region = masking.region_spec(TOP_LEFT)
    res = stylespace.find_channels(gen, region, count=3, samples=4, probes=48, batch=4)
    ws, _ = sample_latents(gen, 4, 0, (stylespace.STYLESPACE_STREAM, 1))
    x0 = gen.synthesize(ws)['image']
    inside = box_mask(16)
    for k in range(3):
        change = (stylespace.render_channel_edit(gen, ws, res, k, 1e-3)['image'] - x0).square().sum(dim=1)
        measured = float(((change * inside).sum(dim=[1, 2]) / change.sum(dim=[1, 2])).mean())
        assert abs(res.shares[k] - measured) < 0.1, (k, res.shares[k], measured)


def test_style_layers_of_toy_flavours_and_hooks():
    for flavour, inner in (('sg2ada', 'synthesis'), ('eg3d', 'backbone.synthesis')):
        layers = stylespace.style_layers(toy_G(flavour))
        assert [(l.name, l.ws_index) for l in layers] == (
            [(f'{inner}.layers.{i}.conv.affine', i) for i in range(5)] +
            [(f'{inner}.torgbs.{k}.conv.affine', None) for k in range(3)])
    gen = GeneratorAdapter(toy_G('sg3'))
    layers = stylespace.style_layers(gen.G)
    assert stylespace.channel_counts(gen, layers) == [8] * 8
    ws = gen.map(torch.randn(2, gen.z_dim))
    x0 = gen.synthesize(ws)['image']
    with stylespace.StyleHooks(layers, [None] * 6 + [stylespace.shift_channel(1, 0.0), None]) as hooks:
        torch.testing.assert_close(gen.synthesize(ws)['image'], x0)
    assert [s.shape for s in hooks.styles] == [(2, 8)] * 8
    with stylespace.StyleHooks(layers, [None] * 6 + [stylespace.shift_channel(1, torch.tensor([0.0, 1.0])), None]):
        x1 = gen.synthesize(ws)['image']
    assert torch.equal(x1[0], x0[0]) and not torch.allclose(x1[1], x0[1])


class _Affine(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.affine = torch.nn.Linear(2, 3)


class _Block(torch.nn.Module):
    def __init__(self, first):
        super().__init__()
        if not first:
            self.conv0 = _Affine()
        self.conv1, self.torgb = _Affine(), _Affine()
        self.num_conv = 1 if first else 2


class _Holder(torch.nn.Module):
    def __init__(self, **modules):
        super().__init__()
        for k, v in modules.items():
            setattr(self, k, v)


def test_style_layers_of_upstream_structures_and_a_network_without_affines():
    sg2 = _Holder(block_resolutions=[4, 8], b4=_Block(True), b8=_Block(False))
    layers = stylespace.style_layers(_Holder(synthesis=sg2))
    assert [(l.name, l.ws_index) for l in layers] == [
        ('synthesis.b4.conv1.affine', 0), ('synthesis.b8.conv0.affine', 1), ('synthesis.b8.conv1.affine', 2),
        ('synthesis.b4.torgb.affine', None), ('synthesis.b8.torgb.affine', None)]
    sg3 = _Holder(input=_Affine(), layer_names=['L0_36_8', 'L1_16_3'], L0_36_8=_Affine(), L1_16_3=_Affine())
    assert [l.name for l in stylespace.style_layers(_Holder(synthesis=sg3))] == ['synthesis.L0_36_8.affine',
                                                                                  'synthesis.L1_16_3.affine']
    sr = _Holder(block0=_Block(False))
    eg3d = _Holder(backbone=_Holder(synthesis=_Holder(), num_ws=14), superresolution=sr)
    assert [(l.name, l.ws_index) for l in stylespace.style_layers(eg3d)] == [
        ('superresolution.block0.conv0.affine', 13), ('superresolution.block0.conv1.affine', 13),
        ('superresolution.block0.torgb.affine', None)]
    with pytest.raises(ValueError, match='KnownG has no style space.*synthesis.layers.0.*affine'):
        stylespace.style_layers(known_axis_G())


def test_stylespace_file_round_trip_and_refusals(tmp_path):
    gen = GeneratorAdapter(known_channel_G())
    res = stylespace.find_channels(gen, masking.region_spec(TOP_LEFT), count=2, samples=4, probes=2)
    path = str(tmp_path / 'ss.npz')
    directions_file.save(path, res)
    back = directions_file.load(path, gen)
    assert (back.layers, back.channels, back.region, back.num_channels) == (res.layers, res.channels, res.region, 10)
    np.testing.assert_allclose(back.stds, res.stds, rtol=1e-6)
    assert back.settings == res.settings and back.network_hash == lelsd.network_hash(gen.G)
    with pytest.raises(ValueError, match='holds StyleSpace S channels, not W directions'):
        directions_file.load(path, kind='directions')
    with pytest.raises(ValueError, match='is not in this network'):
        directions_file.load(path, GeneratorAdapter(toy_G('sg2ada')))
    w_dirs = str(tmp_path / 'w.npz')
    directions_file.save(w_dirs, resefa.find_directions(gen, masking.region_spec(TOP_LEFT), count=1, samples=2))
    assert directions_file.load(w_dirs).settings['method'] == 'resefa'      # One reader for every method's file.
    with pytest.raises(ValueError, match='w.npz: holds W directions .LELSD or ReSeFa., not StyleSpace S channels'):
        directions_file.load(w_dirs, kind='channels')

#----------------------------------------------------------------------------
# The command line.

def run(*args):
    return CliRunner().invoke(directions_command, [str(a) for a in args])


def test_cli_resefa_writes_directions_that_edit_draws(tmp_path):
    net = str(tmp_path / 'linked.pt')
    save_demo_checkpoint(net, toy_G('sg2ada'), 'sg2ada', SPEC)
    out = str(tmp_path / 'resefa.npz')
    r = run('--method', 'resefa', '--network', net, '--link', 'tl', '--samples', 4, '--count', 2, '--tau', 0.05,
            '--device', 'cpu', '--out', out)
    assert r.exit_code == 0, r.output
    assert 'direction 1: eigenvalue' in r.output and 'wrote' in r.output
    res = directions_file.load(out)
    assert res.directions.shape == (2, 32) and (res.space, res.rows, res.link) == ('w', None, 'tl')
    assert res.settings['method'] == 'resefa' and res.settings['tau'] == 0.05 and res.network_path == net
    grid = tmp_path / 'grid.png'
    r = CliRunner().invoke(edit_command, ['--network', net, '--direction', out, '--index', '1', '--seeds', '0-1',
                                          '--strengths', '1', '--device', 'cpu', '--out', str(grid)])
    assert r.exit_code == 0, r.output
    assert grid.exists()


def test_cli_stylespace_writes_channels_that_edit_refuses(tmp_path):
    net = str(tmp_path / 'linked.pt')
    save_demo_checkpoint(net, toy_G('sg2ada'), 'sg2ada', SPEC)
    out = str(tmp_path / 'ss.npz')
    r = run('--method', 'stylespace', '--network', net, '--region', '{"box": [0.5, 0.5, 1, 1]}', '--samples', 4,
            '--count', 3, '--out', out)
    assert r.exit_code == 0, r.output
    assert '64 channels in 8 style layers' in r.output and 'channel 2: synthesis.' in r.output
    res = directions_file.load(out)
    assert res.count == 3 and res.region == {'boxes': [[0.5, 0.5, 1.0, 1.0]]} and res.network_path == net
    r = CliRunner().invoke(edit_command, ['--network', net, '--direction', out, '--out', str(tmp_path / 'g.png')])
    assert r.exit_code == 2 and 'ss.npz' in r.output and '--direction' in r.output


def test_cli_lelsd_delegates_to_the_lelsd_search(tmp_path):
    net = str(tmp_path / 'linked.pt')
    save_demo_checkpoint(net, toy_G('sg2ada'), 'sg2ada', SPEC)
    out = str(tmp_path / 'lelsd.npz')
    r = run('--method', 'lelsd', '--network', net, '--samples', 2, '--count', 1, '--max-steps', 2, '--out', out)
    assert r.exit_code == 0, r.output
    res = directions_file.load(out)
    assert res.settings['max_steps'] == 2 and len(res.scores) == 1 and res.link == 'tl' and res.network_path == net
    assert 'held-out LS' in r.output


def test_cli_bad_inputs_name_the_option(tmp_path):
    net = str(tmp_path / 'linked.pt')
    save_demo_checkpoint(net, toy_G('sg2ada'), 'sg2ada', SPEC)
    out = str(tmp_path / 'd.npz')
    checks = [
        (['--method', 'pca'], "'--method'"),
        (['--method', 'resefa', '--link', 'nope'], "'nope'"),
        (['--method', 'resefa', '--region', '{"box": [0, 0, 2, 1]}'], '--region'),
        (['--method', 'resefa', '--region', '{"box": [0, 0, 0.01, 0.5]}'], 'smaller than one pixel'),
        (['--method', 'resefa', '--count', '33'], '--count'),
        (['--method', 'stylespace', '--tau', '0.1'], '--tau'),
        (['--method', 'resefa', '--max-steps', '3'], '--max-steps'),
        (['--method', 'stylespace', '--count', '65'], '--count'),
    ]
    for args, expect in checks:
        r = run('--network', net, *args, '--out', out)
        assert r.exit_code == 2 and expect in r.output, (args, r.output)
    r = run('--network', net, '--method', 'resefa', '--link', 'nope', '--out', out)
    assert '--link' in r.output
    r = run('--network', net, '--method', 'resefa', '--out', str(tmp_path / 'd.txt'))
    assert r.exit_code == 2 and '--out' in r.output
    plain = str(tmp_path / 'no_affines.pt')
    torch.save({'G_ema': known_axis_G(), 'spec': {'links': [{'name': 'tl', 'axes': '0:2', 'region': TOP_LEFT}]}}, plain)
    r = run('--network', plain, '--method', 'stylespace', '--samples', 2, '--out', out)
    assert r.exit_code == 2 and '--network' in r.output and 'affine' in r.output, r.output

#----------------------------------------------------------------------------
