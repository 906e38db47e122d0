"""Unit tests of `linkgan smoke` and the in-process CPU shim, without an upstream checkout."""

import json
import os
import sys
import types

import numpy as np
import pytest
import torch

from linkgan_plugin import smoke
from linkgan_plugin.upstream import cpu_compat
from toy_checkpoints import read_image, read_text

#----------------------------------------------------------------------------
# Arguments.

def test_merge_args_user_wins_in_either_spelling():
    defaults = ['--gpus=1', '--batch=4', '--neural_rendering_resolution_initial=32', '--kimg=1']
    out = smoke.merge_args(defaults, ['--batch', '8', '--neural-rendering-resolution-initial=16'])
    assert out == ['--gpus=1', '--kimg=1', '--batch', '8', '--neural-rendering-resolution-initial=16']
    assert smoke.arg_value(out, 'batch') == '8'
    assert smoke.arg_value(out, 'neural_rendering_resolution_initial') == '16'
    assert smoke.arg_value(out, 'cfg') is None


def test_defaults_are_tiny_and_sane():
    for key, d in smoke.SMOKE_DEFAULTS.items():
        args = d['args']
        assert smoke.arg_value(args, 'metrics') == 'none' and smoke.arg_value(args, 'snap') == '1'
        assert int(smoke.arg_value(args, 'batch')) <= 4 and d['nimg'] <= 200
    assert smoke.SMOKE_DEFAULTS['sg2ada']['channel_max'] <= 256        # sg2ada has no --cmax of its own.
    assert smoke.SMOKE_DEFAULTS['eg3d']['resolution'] in (128, 256, 512)
    nrr = int(smoke.arg_value(smoke.SMOKE_DEFAULTS['eg3d']['args'], 'neural_rendering_resolution_initial'))
    assert nrr != 64                                                    # 128 px with nrr 64 fails in backward upstream.
    assert smoke.DEFAULT_SPEC['interval'] <= 2

#----------------------------------------------------------------------------
# Tiny datasets.

def test_make_dataset_2d(tmp_path):
    path = smoke.make_dataset(str(tmp_path / 'd'), resolution=32, count=5)
    files = sorted(os.listdir(path))
    assert files == [f'img{i:05d}.png' for i in range(5)]
    img = np.asarray(read_image(os.path.join(path, files[0])))
    assert img.shape == (32, 32, 3) and img.dtype == np.uint8 and img.std() > 0


@pytest.mark.parametrize('key', ['sg2ada', 'eg3d'])
def test_tiny_dataset_has_camera_labels_where_the_flavour_says(tmp_path, key):
    # The smoke asks the flavour (upstream.flavours) whether labels are cameras; it never branches on the name.
    said = []
    args = smoke._train_args(key, [], smoke.LINK_LOSS, None, None, str(tmp_path), said.append)
    data = smoke.arg_value(args, 'data')
    assert os.path.isfile(os.path.join(data, 'dataset.json')) == (key == 'eg3d')
    assert ('camera labels' in said[0]) == (key == 'eg3d')


def test_make_dataset_eg3d_has_camera_labels(tmp_path):
    path = smoke.make_dataset(str(tmp_path / 'd'), resolution=16, count=3, camera_labels=True)
    labels = json.loads(read_text(os.path.join(path, 'dataset.json')))['labels']
    assert [l[0] for l in labels] == ['img00000.png', 'img00001.png', 'img00002.png']
    for _, lab in labels:
        assert len(lab) == 25
        c2w = np.asarray(lab[:16]).reshape(4, 4)
        R = c2w[:3, :3]
        assert np.allclose(R.T @ R, np.eye(3), atol=1e-6) and np.allclose(c2w[3], [0, 0, 0, 1])
        origin, forward = c2w[:3, 3], R[:, 2]
        assert 2.5 < np.linalg.norm(origin) < 3.0
        to_pivot = np.array([0, 0, 0.2]) - origin
        assert np.dot(forward, to_pivot / np.linalg.norm(to_pivot)) > 0.999   # Looks at the pivot.
        assert np.allclose(np.asarray(lab[16:]).reshape(3, 3)[2], [0, 0, 1])

#----------------------------------------------------------------------------
# Reading a run.

def _write_run(run_dir, loss_class='linkgan_plugin.LinkLoss'):
    os.makedirs(run_dir)
    rows = [
        {'Timing/sec_per_kimg': {'num': 1, 'mean': 900.0, 'std': 0}, 'Loss/link/in': {'num': 2, 'mean': 0.5, 'std': 0}},
        {'Timing/sec_per_kimg': {'num': 1, 'mean': 30.0, 'std': 0}, 'Loss/link/in': {'num': 6, 'mean': 0.1, 'std': 0},
         'Loss/link/eyes/out': {'num': 4, 'mean': 0.2, 'std': 0}, 'Loss/G/loss': {'num': 4, 'mean': 1.0, 'std': 0}},
        {'Timing/sec_per_kimg': {'num': 1, 'mean': 40.0, 'std': 0}, 'Loss/link/in': {'num': 0, 'mean': 0.0, 'std': 0}},
    ]
    with open(os.path.join(run_dir, 'stats.jsonl'), 'w') as f:
        for r in rows:
            f.write(json.dumps(r) + '\n')
    with open(os.path.join(run_dir, 'training_options.json'), 'w') as f:
        json.dump({'loss_kwargs': {'class_name': loss_class, 'r1_gamma': 1.0, 'interval': 2}}, f)
    open(os.path.join(run_dir, 'network-snapshot-000000.pkl'), 'wb').close()


def test_summarize_reads_stats_and_options(tmp_path):
    run = str(tmp_path / '00000-run')
    _write_run(run)
    s = smoke.summarize(run)
    assert s['ticks'] == 3 and s['sec_per_kimg'] == 40.0
    assert s['loss_class'] == 'linkgan_plugin.LinkLoss' and s['loss_kwargs'] == {'r1_gamma': 1.0, 'interval': 2}
    assert s['link']['Loss/link/in'] == {'n': 8, 'mean': pytest.approx((2 * 0.5 + 6 * 0.1) / 8)}
    assert s['link']['Loss/link/eyes/out']['n'] == 4 and 'Loss/G/loss' not in s['link']
    assert s['snapshots'] == ['network-snapshot-000000.pkl']
    text = smoke.format_summary(s, wall=12.0)
    assert run in text and 'Loss/link/in' in text and '40.0' in text and 'linkgan_plugin.LinkLoss' in text
    assert smoke.newest_run_dir(str(tmp_path), set()) == run
    assert smoke.newest_run_dir(str(tmp_path), {'00000-run'}) is None


@pytest.mark.skipif(__import__('shutil').which('git') is None, reason='git is not installed')
def test_smoke_refuses_unpatched_tree(tmp_path):
    from linkgan_plugin.checks import LinkganError
    root = tmp_path / 'up'
    for rel in ['train.py', 'training/training_loop.py']:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("loss = 'training.loss.StyleGAN2Loss'\n")
    pd = tmp_path / 'patches'
    (pd / 'x').mkdir(parents=True)
    (pd / 'x' / 'loss.patch').write_text(
        'diff --git a/train.py b/train.py\n--- a/train.py\n+++ b/train.py\n@@ -1 +1 @@\n'
        "-loss = 'training.loss.StyleGAN2Loss'\n+loss = opts.loss\n")
    (pd / 'manifest.json').write_text(json.dumps({'sg3': dict(code_dir='.', files=['train.py', 'training/training_loop.py'],
                                                              patches=[dict(file='x/loss.patch', required=True)])}))
    with pytest.raises(LinkganError, match='run `linkgan patch'):
        smoke.run_smoke(str(root), patch_dir=str(pd), outdir=str(tmp_path / 'runs'), echo=lambda *_: None)


#----------------------------------------------------------------------------
# The CPU shim.

@pytest.fixture
def restore_sampler():
    saved = vars(torch.utils.data.Sampler).get('__init__')
    yield
    if saved is None:
        if '__init__' in vars(torch.utils.data.Sampler):
            del torch.utils.data.Sampler.__init__
    else:
        torch.utils.data.Sampler.__init__ = saved


def test_sampler_init_accepts_a_data_source(restore_sampler):
    cpu_compat.fix_sampler_init()

    class InfiniteSampler(torch.utils.data.Sampler):  # As upstream writes it.
        def __init__(self, dataset):
            super().__init__(dataset)
            self.dataset = dataset

        def __iter__(self):
            return iter(range(len(self.dataset)))
    assert list(InfiniteSampler([1, 2, 3])) == [0, 1, 2]
    assert cpu_compat.fix_sampler_init() is False                     # Idempotent.


def test_float_betas():
    class EasyDict(dict):
        pass
    kw = EasyDict(class_name='torch.optim.Adam', lr=0.002, betas=[0, 0.99])
    out = cpu_compat.float_betas(kw)
    assert out['betas'] == [0.0, 0.99] and all(isinstance(b, float) for b in out['betas'])
    assert isinstance(out, EasyDict) and kw['betas'] == [0, 0.99]     # A copy; the input is untouched.
    torch.optim.Adam([torch.zeros(1, requires_grad=True)], betas=out['betas'])
    assert cpu_compat.float_betas({'lr': 1}) == {'lr': 1} and cpu_compat.float_betas(None) is None


def test_cpu_torch_maps_cuda_to_cpu_and_times_phases():
    t = cpu_compat.CpuTorch()
    assert t.device('cuda', 0) == torch.device('cpu') and t.device('cuda:1') == torch.device('cpu')
    assert t.device('cpu') == torch.device('cpu')
    assert t.float32 is torch.float32 and t.zeros(2).shape == (2,)    # Everything else is real torch.
    start, end = t.cuda.Event(enable_timing=True), t.cuda.Event(enable_timing=True)
    start.record(t.cuda.current_stream(t.device('cuda', 0)))
    end.record(None)
    end.synchronize()
    assert start.elapsed_time(end) >= 0.0
    assert t.cuda.max_memory_allocated(0) == 0 and t.cuda.max_memory_reserved(0) == 0
    t.cuda.reset_peak_memory_stats()


def test_patch_training_loop_wraps_kwargs_and_grid():
    seen = {}

    def training_loop(**kwargs):
        seen.update(kwargs)

    def setup_snapshot_image_grid(training_set, random_seed=0):
        n = 32 * 18
        return (32, 18), np.zeros([n, 3, 4, 4]), np.zeros([n, 0])

    class EasyDict(dict):
        pass
    tl = types.SimpleNamespace(training_loop=training_loop, setup_snapshot_image_grid=setup_snapshot_image_grid, torch=torch)
    done = cpu_compat.patch_training_loop(tl, cpu=True, smoke=dict(nimg=120, tick_nimg=60, grid=[4, 2], channel_base=4096, channel_max=128))
    assert isinstance(tl.torch, cpu_compat.CpuTorch) and done
    tl.training_loop(G_opt_kwargs=EasyDict(betas=[0, 0.99], lr=1), D_opt_kwargs=EasyDict(betas=[0, 0.99]),
                     data_loader_kwargs=EasyDict(pin_memory=True, num_workers=1), total_kimg=25000, kimg_per_tick=4,
                     G_kwargs=EasyDict(synthesis_kwargs=EasyDict(channel_base=16384, channel_max=512)), D_kwargs=EasyDict(channel_base=16384, channel_max=512))
    assert seen['G_opt_kwargs']['betas'] == [0.0, 0.99] and seen['data_loader_kwargs']['pin_memory'] is False
    assert seen['total_kimg'] == pytest.approx(0.12) and seen['kimg_per_tick'] == pytest.approx(0.06)
    assert seen['G_kwargs']['synthesis_kwargs'] == {'channel_base': 4096, 'channel_max': 128}
    assert seen['D_kwargs'] == {'channel_base': 4096, 'channel_max': 128}
    (gw, gh), images, labels = tl.setup_snapshot_image_grid(training_set=None)
    assert (gw, gh) == (4, 2) and len(images) == len(labels) == 8
    assert cpu_compat.patch_training_loop(tl, cpu=True) == []           # Never wraps twice.


def test_patch_training_loop_leaves_gpu_runs_on_cuda():
    tl = types.SimpleNamespace(training_loop=lambda **kw: kw, torch=torch)
    cpu_compat.patch_training_loop(tl, cpu=False)
    assert tl.torch is torch
    out = tl.training_loop(data_loader_kwargs={'pin_memory': True}, total_kimg=5)
    assert out['data_loader_kwargs']['pin_memory'] is True and out['total_kimg'] == 5


def test_module_standins_are_written_only_when_missing(tmp_path, monkeypatch):
    root, names = cpu_compat.write_module_standins(str(tmp_path / 'a'))
    for name in names:
        assert os.path.isfile(os.path.join(root, name, '__init__.py'))
    monkeypatch.setattr(cpu_compat, '_importable', lambda name: False)
    root, names = cpu_compat.write_module_standins(str(tmp_path / 'b'))
    assert names == ['distutils', 'pkg_resources']
    sys.path.insert(0, root)
    try:
        import importlib.util
        spec = importlib.util.spec_from_file_location('pr_standin', os.path.join(root, 'pkg_resources', '__init__.py'))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        assert mod.parse_version('2.13.0+cpu') >= mod.parse_version('1.11.0a')
        assert not (mod.parse_version('1.9.0') >= mod.parse_version('1.11.0a'))
        spec = importlib.util.spec_from_file_location('du_standin', os.path.join(root, 'distutils', 'util.py'))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        assert mod.strtobool('Yes') == 1 and mod.strtobool('off') == 0
    finally:
        sys.path.remove(root)


def test_cpu_run_usage_message(capsys):
    from linkgan_plugin.upstream import cpu_run
    assert cpu_run.main([]) == 2
    assert 'cpu_run' in capsys.readouterr().err

#----------------------------------------------------------------------------
