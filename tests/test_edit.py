"""`linkgan edit`: the Fig. 3 grid's layout and content, the GIF, --ws codes, and option errors."""

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from linkgan_plugin.analysis import pictures
from linkgan_plugin.cli.options import SeedList
from linkgan_plugin.analysis.generator import GeneratorAdapter
from linkgan_plugin.analysis.pictures import draw_grid, grid_geometry, heatmap
from linkgan_plugin.cli.edit import edit_command
from linkgan_plugin.editing.edit import link_offsets, region_masks, render_edits, seed_latents
from linkgan_plugin.regularizer import BoundSpec
from linkgan_plugin.spec import load_spec
from toy_checkpoints import AnalyticG, read_image, save_demo_checkpoint, toy_G

SPEC = {'links': [{'name': 'eyes', 'axes': '0:8', 'region': {'preset': 'eyes'}},
                  {'name': 'corner', 'axes': '8:16', 'region': {'box': [0.5, 0.5, 1, 1]}}]}


pytestmark = pytest.mark.usefixtures('one_thread')


def run(args):
    return CliRunner().invoke(edit_command, [str(a) for a in args])


#----------------------------------------------------------------------------

def test_grid_layout_and_content_on_a_perfectly_linked_generator():
    gen = GeneratorAdapter(AnalyticG(linked=(0, 1), w_dim=4, resolution=8, scale=0.3))  # Left half <- axes 0-1.
    bound = BoundSpec(load_spec({'links': [{'name': 'left', 'axes': '0:2', 'region': {'box': [0, 0, 0.5, 1]}}]}), 4)
    N, num, tile = 3, 2, 16
    ws = gen.map(seed_latents([0, 1, 2], 4))
    linked, complement = link_offsets(gen, bound, ws, 0, num, generator=torch.Generator().manual_seed(0))
    renders = render_edits(gen, ws, linked, complement)
    masks = region_masks(bound, 0, renders['original']['image'])
    grid, heat = draw_grid(renders, masks, ['a', 'b', 'c'], 'title', tile)
    geo = grid_geometry(num, N, tile)
    assert geo['cols'] == 2 * num + 3 and grid.size == (geo['width'], geo['height'])
    assert grid.size == (pictures.GUTTER_W + 7 * 16 + 8 * pictures.PAD, pictures.TITLE_H + pictures.HEADER_H + 3 * 16 + 4 * pictures.PAD)
    px = np.asarray(grid)
    black = heatmap(np.zeros([1, 1]))[0, 0]                 # Bottom of the ramp: no change.

    def at(row, col, y, x):
        x0, y0 = geo['origin'](row, col)
        return px[y0 + y, x0 + x]

    inside, outside = (8, 3), (8, 12)                      # Tile pixels away from the outline (left half = region).
    for n in range(N):
        orig = renders['original']['image'][n]
        expected_orig = np.clip((orig[:, 4, 1].numpy() + 1) * 127.5 + 0.5, 0, 255).astype(np.uint8)
        assert (at(n, 0, *inside) == expected_orig).all()
        # Linked resamplings change the region only; complement resamplings change the rest only.
        for j in range(num):
            assert (at(n, 1 + j, *outside) == at(n, 0, *outside)).all()
            assert (at(n, num + 2 + j, *inside) == at(n, 0, *inside)).all()
        assert (at(n, num + 1, *outside) == black).all() and not (at(n, num + 1, *inside) == black).all()
        assert (at(n, 2 * num + 2, *inside) == black).all() and not (at(n, 2 * num + 2, *outside) == black).all()
        # The outline is drawn: red on image tiles, cyan on heatmaps, at the region's edge (column 7 of 16).
        assert tuple(at(n, 0, 8, 7)) == pictures.RED and tuple(at(n, num + 1, 8, 7)) == pictures.CYAN
    assert len(heat['heat_max']) == N and all(h > 0 for h in heat['heat_max'])


def test_link_offsets_touch_only_their_axes():
    G = toy_G()
    gen = GeneratorAdapter(G)
    bound = BoundSpec(load_spec(SPEC), 32)
    ws = gen.map(seed_latents([5, 6], 8))
    for mode, shape in (('resample', (3, 2, gen.num_ws, 32)), ('noise', (3, 2, 32))):
        linked, complement = link_offsets(gen, bound, ws, 1, 3, mode=mode, generator=torch.Generator().manual_seed(1))
        assert linked.shape == complement.shape == shape
        assert (linked[..., :8] == 0).all() and (linked[..., 16:] == 0).all() and (linked[..., 8:16] != 0).all()
        assert (complement[..., 8:16] == 0).all() and (complement[..., :8] != 0).any()
    # Resampling copies the linked axes of a freshly mapped z into every row.
    g = torch.Generator().manual_seed(2)
    linked, complement = link_offsets(gen, bound, ws, 1, 1, generator=g)
    ws_new = gen.map(torch.randn([2, 8], generator=torch.Generator().manual_seed(2)))
    torch.testing.assert_close((ws + linked[0])[:, :, 8:16], ws_new[:, :, 8:16])
    torch.testing.assert_close(ws + linked[0] + complement[0], ws_new)
    # W+ codes (rows differ): every row's linked axes become the fresh w's, its other axes stay its own.
    ws_plus = ws + torch.randn(ws.shape, generator=torch.Generator().manual_seed(3))
    linked, complement = link_offsets(gen, bound, ws_plus, 1, 1, generator=torch.Generator().manual_seed(2))
    edited = ws_plus + linked[0]
    torch.testing.assert_close(edited[:, :, 8:16], ws_new[:, :, 8:16])
    assert torch.equal(edited[:, :, :8], ws_plus[:, :, :8]) and torch.equal(edited[:, :, 16:], ws_plus[:, :, 16:])


def test_edit_command_grid_json_and_gif(tmp_path):
    save_demo_checkpoint(tmp_path / 'linked.pt', toy_G(), 'sg2ada', SPEC)
    out = tmp_path / 'pics' / 'edit.png'
    res = run(['--network', tmp_path / 'linked.pt', '--link', 'corner', '--seeds', '0,3-4', '--num', 3, '--tile', 32,
               '--interp', 5, '--out', out])
    assert res.exit_code == 0, res.output
    geo = grid_geometry(3, 3, 32)
    assert read_image(out).size == (geo['width'], geo['height'])
    with Image.open(tmp_path / 'pics' / 'edit.gif') as gif:
        assert gif.n_frames == 5 and gif.size == (3 * 32 + 4 * pictures.PAD, 32 + 2 * pictures.PAD + pictures.BAR_H)
    summary = json.loads((tmp_path / 'pics' / 'edit.json').read_text())
    assert summary['rows'] == ['seed 0', 'seed 3', 'seed 4'] and summary['link']['name'] == 'corner'
    assert summary['gif_frames'] == 5 and len(summary['linked_change_in']) == 3
    assert 'seed 3' in res.stdout


def test_edit_eg3d_has_depth_rows(tmp_path):
    save_demo_checkpoint(tmp_path / 'eg3d.pt', toy_G('eg3d'), 'eg3d', SPEC)
    res = run(['--network', tmp_path / 'eg3d.pt', '--seeds', '1-2', '--num', 2, '--tile', 32, '--interp', 3,
               '--out', tmp_path / 'e.png'])
    assert res.exit_code == 0, res.output
    geo = grid_geometry(2, 4, 32)                           # Two samples, each an image row and a depth row.
    assert read_image(tmp_path / 'e.png').size == (geo['width'], geo['height'])
    with Image.open(tmp_path / 'e.gif') as gif:
        assert gif.n_frames == 3 and gif.size[1] == 2 * 32 + 3 * pictures.PAD + pictures.BAR_H
    cams = tmp_path / 'cam.json'
    from linkgan_plugin.upstream.cameras import frontal_camera
    cams.write_text(json.dumps(frontal_camera(1)[0].tolist()))
    res = run(['--network', tmp_path / 'eg3d.pt', '--seeds', '1', '--num', 1, '--c-file', cams, '--out', tmp_path / 'c.png'])
    assert res.exit_code == 0, res.output


def test_edit_ws_file_matches_seeds(tmp_path):
    G = toy_G()
    save_demo_checkpoint(tmp_path / 'linked.pt', G, 'sg2ada', SPEC)
    with torch.no_grad():
        ws = GeneratorAdapter(G).map(seed_latents([2, 7], 8))
    np.savez(tmp_path / 'codes.npz', ws=ws.numpy())
    np.savez(tmp_path / 'w.npz', ws=ws[:, 0].numpy())           # [N, w_dim]: repeated over the rows.
    common = ['--network', tmp_path / 'linked.pt', '--num', 2, '--tile', 32]
    assert run(common + ['--seeds', '2,7', '--out', tmp_path / 'seeds.png']).exit_code == 0
    for name in ('codes', 'w'):
        res = run(common + ['--ws', tmp_path / f'{name}.npz', '--out', tmp_path / f'{name}.png'])
        assert res.exit_code == 0, res.output
        a = np.asarray(read_image(tmp_path / 'seeds.png'))[:, pictures.GUTTER_W:]     # The row labels differ.
        b = np.asarray(read_image(tmp_path / f'{name}.png'))[:, pictures.GUTTER_W:]
        assert a.shape == b.shape and np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_edit_errors(tmp_path):
    save_demo_checkpoint(tmp_path / 'linked.pt', toy_G(), 'sg2ada', SPEC)
    net = ['--network', tmp_path / 'linked.pt', '--out', tmp_path / 'x.png']
    np.savez(tmp_path / 'bad.npz', ws=np.zeros([2, 3, 7], np.float32))
    np.savez(tmp_path / 'nokey.npz', w=np.zeros([2, 32], np.float32))
    cases = [
        (['--seeds', '1', '--ws', tmp_path / 'bad.npz'], 'either --seeds or --ws'),
        (['--ws', tmp_path / 'bad.npz'], "has shape [2, 3, 7]; this network needs [N, 6, 32] or [N, 32]"),
        (['--ws', tmp_path / 'nokey.npz'], "has no array 'ws' (has: w)"),
        (['--link', 'nose'], "unknown link 'nose'"),
        (['--alpha', '0.5'], '--alpha only applies with --mode noise'),
        (['--interp', '1'], 'at least 2 frames'),
        (['--seeds', '3-1'], 'runs backwards'),
        (['--c-file', tmp_path / 'bad.npz'], 'only EG3D networks take cameras'),
    ]
    for args, message in cases:
        res = run(net + args)
        assert res.exit_code == 2 and message in res.output, (args, res.output)
    res = run(['--network', tmp_path / 'missing.pt'])
    assert res.exit_code == 1 and 'file not found' in res.output


def test_seed_list():
    assert SeedList().convert('0,3,5-7', None, None) == [0, 3, 5, 6, 7]
