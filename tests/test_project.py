"""`linkgan project`: known codes are recovered, the codes file round-trips into `linkgan edit --ws`, and bad
targets or codes files get clear messages."""

import json

import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from linkgan_plugin.analysis import pictures
from linkgan_plugin.editing.edit import load_ws_file, seed_latents
from linkgan_plugin.analysis.generator import GeneratorAdapter
from linkgan_plugin.analysis.pictures import to_uint8
from linkgan_plugin.analysis.network_loading import file_sha256
from linkgan_plugin.checks import LinkganWarning
from linkgan_plugin.editing.project import (learning_rate, noise_regularisation, project_images, psnr, read_target,
                                            w_statistics)
from linkgan_plugin.toy.networks import make_toy_networks
from toy_checkpoints import SMALL, cli, read_image, save_demo_checkpoint, toy_G

pytestmark = pytest.mark.usefixtures('one_thread')

SPEC = {'links': [{'name': 'corner', 'axes': '0:8', 'region': {'box': [0.5, 0.5, 1, 1]}}]}


def generated(gen, seeds):
    """Images the network makes from known codes: (ws [N, num_ws, w_dim], images [N, C, R, R])."""
    with torch.no_grad():
        ws = gen.map(seed_latents(seeds, gen.z_dim).to(gen.device))
        return ws, gen.synthesize(ws)['image']


def save_png(image, path):
    Image.fromarray(to_uint8(image)).save(path)


@pytest.fixture
def checkpoint(tmp_path):
    path = tmp_path / 'net.pt'
    save_demo_checkpoint(path, toy_G('sg2ada'), 'sg2ada', SPEC)
    return path

#----------------------------------------------------------------------------
# The start code.

@pytest.mark.parametrize('flavour', ['sg2ada', 'sg3', 'eg3d'])
def test_start_code_is_the_tracked_w_avg_of_each_flavour(flavour):
    # Where w_avg lives is the flavour's knowledge (EG3D: G.backbone.mapping; G.mapping is a method there).
    G = toy_G(flavour)
    gen = GeneratorAdapter(G)
    mapping = G.backbone.mapping if flavour == 'eg3d' else G.mapping
    assert gen.flavour.mapping_network_of(G) is mapping
    mapping.w_avg.copy_(torch.linspace(-1, 1, gen.w_dim))
    w_avg, _, origin = w_statistics(gen, samples=8)
    assert origin == 'G.mapping.w_avg' and torch.equal(w_avg, mapping.w_avg)
    mapping.w_avg.zero_()                           # Nothing tracked yet: estimated from mapped z.
    assert w_statistics(gen, samples=8)[2] == 'estimated from 8 z'

#----------------------------------------------------------------------------
# Projection.

# Bounds: the targets are renders of known W codes, so an exact solution exists. In W (32 unknowns for 768 pixel
# values, well posed) 300 steps reached >= 49 dB on every image measured (3 toy networks x 3 codes); in W+
# (6 x 32 unknowns: many codes give the same image, and Adam moves slowly along those flat directions) >= 32.5 dB.
# 40 dB / 30 dB are RMS errors of 0.02 / 0.063 in [-1, 1] units (0.5% / 1.6% of the range); the W-average start
# scores 9-15 dB, so only real convergence meets them.
@pytest.mark.parametrize('space, bound', [('w', 40.0), ('wplus', 30.0)])
def test_projection_recovers_an_image_generated_from_a_known_code(space, bound):
    gen = GeneratorAdapter(toy_G('sg2ada'))
    ws, targets = generated(gen, [1, 2, 3])
    w_avg, _, _ = w_statistics(gen)
    with torch.no_grad():
        start = psnr(gen.synthesize(w_avg[None, None].expand(3, gen.num_ws, -1))['image'], targets)
    assert start.max() < 20
    result = project_images(gen, targets, space=space, steps=300)
    assert result['ws'].shape == ws.shape and result['images'].shape == targets.shape
    assert result['psnr'].min() >= bound, result['psnr']
    if space == 'w':                                      # One w repeated over the rows.
        assert torch.equal(result['ws'], result['ws'][:, :1].expand_as(result['ws']))
    with torch.no_grad():                                 # 'images' are the renders of 'ws' (const noise).
        assert torch.allclose(gen.synthesize(result['ws'])['image'], result['images'], atol=1e-5)
    assert not any(p.grad is not None for p in gen.G.parameters())


def test_learning_rate_ramps_and_noise_regularisation_prefers_white_noise():
    lrs = [learning_rate(s, 100, 0.2) for s in range(100)]
    assert lrs[0] < 0.05 and max(lrs) == pytest.approx(0.2) and lrs[-1] < 0.01
    assert all(a <= b + 1e-12 for a, b in zip(lrs[:5], lrs[1:6]))            # Ramps up...
    assert all(a >= b - 1e-12 for a, b in zip(lrs[75:], lrs[76:]))            # ...and down.
    white = torch.randn([32, 32], generator=torch.Generator().manual_seed(0))
    smooth = torch.nn.functional.avg_pool2d(white[None, None], 5, 1, 2)[0, 0]
    smooth = (smooth - smooth.mean()) / smooth.std()
    assert noise_regularisation([smooth]) > 20 * noise_regularisation([white])


def test_feature_network_and_noise_maps(tmp_path):
    gen = GeneratorAdapter(toy_G('sg2ada'))
    _, targets = generated(gen, [4])

    class Features(torch.nn.Module):
        def forward(self, x):
            return [torch.nn.functional.avg_pool2d(x, 4), x.mean(dim=1)]
    net = Features()
    result = project_images(gen, targets, steps=60, multiscale=0.0, feature_net=net, noise_reg=1.0)
    assert result['psnr'][0] > 20
    names = [n for n, _ in gen.G.named_buffers() if n.endswith('noise_const')]
    assert sorted(result['noise']) == sorted(names)
    for name, maps in result['noise'].items():
        assert maps.shape[0] == 1 and abs(float(maps.std()) - 1) < 0.05      # Renormalised every step.
    # The network's own maps are restored.
    assert all(torch.equal(b, toy_G('sg2ada').get_buffer(n)) for n, b in gen.G.named_buffers() if n in names)

#----------------------------------------------------------------------------
# The CLI and the codes file.

def test_codes_file_round_trips_into_linkgan_edit(tmp_path, checkpoint):
    gen = GeneratorAdapter(toy_G('sg2ada'))
    _, images = generated(gen, [5, 6])
    (tmp_path / 'targets').mkdir()
    for i, img in enumerate(images):
        save_png(img, tmp_path / 'targets' / f'img{i}.png')
    codes = tmp_path / 'out' / 'codes.npz'
    code, out = cli('project', '--network', checkpoint, '--target', tmp_path / 'targets', '--steps', 40,
                    '--space', 'wplus', '--out', codes, '--device', 'cpu')
    assert code == 0, out
    with np.load(codes) as data:
        assert data['ws'].shape == (2, gen.num_ws, gen.w_dim) and int(data['num_ws']) == gen.num_ws
        assert str(data['network_sha256']) == file_sha256(checkpoint) and str(data['space']) == 'wplus'
        assert list(data['targets']) == ['img0.png', 'img1.png'] and 'c' not in data.files
        ws_saved, psnr_saved = torch.from_numpy(data['ws']), data['psnr']
    report = json.loads((tmp_path / 'out' / 'codes.json').read_text())
    assert [t['psnr'] for t in report['targets']] == pytest.approx(psnr_saved.tolist(), abs=1e-4)
    assert 'img0.png' in out and 'mean' in out
    pair = np.asarray(read_image(report['targets'][1]['picture']))
    tile = pictures.default_tile(16)
    assert pair.shape == (tile, 2 * tile + 2, 3)
    with torch.no_grad():
        recon = to_uint8(gen.synthesize(ws_saved)['image'][1])
    assert (pair[4, tile + 2 + 4] == recon[0, 0]).all() and (pair[4, 4] == to_uint8(images[1])[0, 0]).all()

    # `linkgan edit --ws` renders exactly these reconstructions as its 'original' column.
    grid = tmp_path / 'edit.png'
    code, out = cli('edit', '--network', checkpoint, '--ws', codes, '--num', 1, '--out', grid, '--device', 'cpu')
    assert code == 0, out
    px = np.asarray(read_image(grid))
    geo = pictures.grid_geometry(1, 2, tile)
    for n in range(2):
        x0, y0 = geo['origin'](n, 0)
        with torch.no_grad():
            recon = to_uint8(gen.synthesize(ws_saved)['image'][n])
        assert (px[y0 + 12, x0 + 12] == recon[1, 1]).all()


def test_wrong_size_and_channel_count_are_converted_with_a_warning(tmp_path):
    gray = tmp_path / 'gray.png'
    Image.fromarray(np.full([20, 24], 200, dtype=np.uint8), 'L').save(gray)
    rgba = tmp_path / 'rgba.png'
    Image.fromarray(np.dstack([np.full([16, 16, 3], 64, np.uint8), np.zeros([16, 16, 1], np.uint8)]), 'RGBA').save(rgba)
    messages = []
    x = read_target(str(gray), 16, 3, messages.append)
    assert x.shape == (3, 16, 16) and torch.allclose(x, torch.full_like(x, 200 / 127.5 - 1), atol=1e-2)
    assert any('gray' in m and 'converted to RGB' in m for m in messages)
    assert any('20' in m and '24' in m and 'resized' in m and 'aspect' in m for m in messages)
    messages.clear()
    x = read_target(str(rgba), 16, 3, messages.append)
    assert torch.allclose(x, torch.full_like(x, 64 / 127.5 - 1)) and len(messages) == 1 and 'alpha dropped' in messages[0]


def test_cli_warns_about_converted_targets_and_refuses_unreadable_ones(tmp_path, checkpoint):
    gray = tmp_path / 'gray.png'
    Image.fromarray(np.full([20, 20], 90, dtype=np.uint8), 'L').save(gray)
    code, out = cli('project', '--network', checkpoint, '--target', gray, '--steps', 2, '--starts', 0,
                    '--out', tmp_path / 'c.npz')
    assert code == 0 and 'warning' in out and 'resized' in out and 'converted to RGB' in out, out

    broken = tmp_path / 'broken.png'
    broken.write_bytes(b'not a png at all')
    code, out = cli('project', '--network', checkpoint, '--target', broken, '--out', tmp_path / 'c.npz')
    assert code == 2 and '--target' in out and 'broken.png' in out and 'cannot read' in out, out
    empty = tmp_path / 'empty'
    empty.mkdir()
    (empty / 'readme.txt').write_text('no images here')
    code, out = cli('project', '--network', checkpoint, '--target', empty, '--out', tmp_path / 'c.npz')
    assert code == 2 and '--target' in out and 'no image files' in out, out


def test_codes_file_for_another_network_is_refused_or_flagged(tmp_path, checkpoint, capsys):
    target = tmp_path / 't.png'
    save_png(torch.zeros(3, 16, 16), target)
    codes = tmp_path / 'codes.npz'
    assert cli('project', '--network', checkpoint, '--target', target, '--steps', 2, '--starts', 0, '--out', codes)[0] == 0
    other = tmp_path / 'wide.pt'
    G = make_toy_networks('sg2ada', **{**SMALL, 'w_dim': 48})[0]
    save_demo_checkpoint(other, G, 'sg2ada', SPEC)
    code, out = cli('edit', '--network', other, '--ws', codes, '--num', 1, '--out', tmp_path / 'e.png')
    assert code == 2 and '--ws' in out and 'made for' in out and str(checkpoint) in out and 'w_dim=32' in out, out
    # Same shapes, different weights: a warning naming the network the codes were made for.
    with pytest.warns(LinkganWarning, match='was made for'):
        ws, _ = load_ws_file(str(codes), 6, 32, network_sha256='0' * 64)
    assert ws.shape == (1, 6, 32)
    with warnings.catch_warnings():
        warnings.simplefilter('error', LinkganWarning)             # The same network: no warning.
        load_ws_file(str(codes), 6, 32, network_sha256=file_sha256(checkpoint))


def test_eg3d_with_a_camera_file(tmp_path):
    from linkgan_plugin.upstream.cameras import frontal_camera
    path = tmp_path / 'eg3d.pt'
    G = toy_G('eg3d')
    save_demo_checkpoint(path, G, 'eg3d', SPEC)
    cam = frontal_camera(1, 'cpu')[0].numpy()
    np.save(tmp_path / 'cam.npy', cam)
    gen = GeneratorAdapter(G)
    c = torch.from_numpy(cam)[None]
    with torch.no_grad():
        img = gen.synthesize(gen.map(seed_latents([1], gen.z_dim), c), c)['image'][0]
    save_png(img, tmp_path / 'face.png')
    codes = tmp_path / 'codes.npz'
    code, out = cli('project', '--network', path, '--target', tmp_path / 'face.png', '--c-file', tmp_path / 'cam.npy',
                    '--steps', 60, '--out', codes)
    assert code == 0, out
    with np.load(codes) as data:
        assert data['c'].shape == (1, 25) and np.allclose(data['c'][0], cam)
        projected = float(data['psnr'][0])
    assert cli('project', '--network', path, '--target', tmp_path / 'face.png', '--c-file', tmp_path / 'cam.npy',
               '--steps', 1, '--starts', 0, '--out', codes)[0] == 0
    with np.load(codes) as data:
        assert projected > float(data['psnr'][0]) + 5          # Far better than the W-average start.
    code, out = cli('project', '--network', tmp_path / 'eg3d.pt', '--target', tmp_path / 'face.png',
                    '--c-file', tmp_path / 'missing.npy', '--out', codes)
    assert code == 2 and '--c-file' in out
