"""Opt-in: LELSD directions on a real StyleGAN2-ADA snapshot made by `linkgan smoke` (a tiny CPU training run).

    LINKGAN_UPSTREAM_SG2ADA=~/src/stylegan2-ada-pytorch python -m pytest -m upstream tests/test_lelsd_upstream.py

The checkout is copied (test_upstream_real.copy_checkout), patched, trained for a few images with LinkLoss, and the
snapshot is loaded with upstream's own classes. Minutes on a CPU-only machine.
"""

import os

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from linkgan_plugin.editing import directions_file, lelsd, masking
from linkgan_plugin.cli.directions import directions_command
from linkgan_plugin import patching, smoke
from linkgan_plugin.analysis.network_loading import load_network, make_adapter
from linkgan_plugin.upstream.synthesis_layers import synthesis_layers
from test_upstream_real import copy_checkout

pytestmark = [pytest.mark.upstream, pytest.mark.slow]


@pytest.fixture(scope='module')
def snapshot(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('lelsd-upstream')
    root = copy_checkout('sg2ada', tmp)
    patching.run_patch(root)
    s = smoke.run_smoke(root, outdir=str(tmp / 'runs'), timeout=1800, echo=lambda *_: None)
    assert s['returncode'] == 0 and s['snapshots'], s
    return os.path.join(s['run_dir'], s['snapshots'][-1]), patching.detect(root).code_dir


def test_directions_on_a_real_sg2ada_snapshot(snapshot, tmp_path):
    pkl, code_dir = snapshot
    net = load_network(pkl, upstream=code_dir)
    gen = make_adapter(net, device='cpu')
    layers = synthesis_layers(net.G)
    # Upstream's blocks: b4 holds the constant and conv1; every later block conv0 and conv1.
    assert layers[0].name == 'synthesis.b4.conv1' and layers[0].ws_index == 0
    assert [l.name.rsplit('.', 1)[-1] for l in layers[1:]] == ['conv0', 'conv1'] * ((len(layers) - 1) // 2)
    assert [l.ws_index for l in layers] == list(range(len(layers))) and len(layers) == gen.num_ws - 1
    with lelsd.FeatureTap(layers) as tap:
        gen.synthesize(gen.map(torch.randn(2, gen.z_dim)))
    assert [f.shape[2] for f in tap.features] == [4] + [r for r in (8, 16, 32, 64, 128, 256, 512, 1024)
                                                       if r <= gen.img_resolution for _ in (0, 1)]

    region = masking.region_spec({'box': [0, 0, 0.5, 0.5]})
    res = lelsd.find_directions(gen, region, num_directions=2, space='wplus', rows=[1, 2, 3], max_steps=5,
                                eval_samples=4)
    assert res.directions.shape == (2, gen.num_ws, gen.w_dim)
    assert np.all(res.directions[:, [0] + list(range(4, gen.num_ws))] == 0)
    assert all(0 < s < 1 for s in res.scores) and res.network_hash == lelsd.network_hash(net.G)

    out = str(tmp_path / 'dirs.npz')
    r = CliRunner().invoke(directions_command, ['--method', 'lelsd', '--network', pkl, '--upstream', code_dir, '--max-steps', '3',
                                                 '--eval-samples', '2', '--device', 'cpu', '--out', out])
    assert r.exit_code == 0, r.output
    back = directions_file.load(out, gen)
    assert back.directions.shape == (1, gen.w_dim) and back.link == smoke.DEFAULT_SPEC['links'][0]['name']
