"""Two-process DDP (gloo, CPU) gives the same G gradients as one process on the combined batch (sg2ada flavour).

The link pass carries the DDP sync (the base loss runs unsynced in link rounds); this test fails when the
link pass's gradients are left out of the all-reduce. Perturbation directions are derived from z (`link_noise` override) so both runs
perturb each sample identically; synthesis noise-input strengths see different random noise in the two runs,
so their gradients are left out of the comparison. The per_link pass (many backward calls) must all-reduce in its
last backward only: its gradients match too, and with perturbed fakes for D (drawn differently in the two runs)
both ranks end with the same gradients. Each DDP module all-reduces once (a comm hook counts its buckets).
"""

import os
import tempfile

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import allreduce_hook

from linkgan_plugin.loss import LinkLoss
from linkgan_plugin.ops.build import load_extension
from linkgan_plugin.toy.losses import ToySG2ADALoss
from linkgan_plugin.toy.networks import ToyDiscriminatorSG2ADA, make_toy_networks

SPEC = {'links': [{'name': 'a', 'axes': '0:8', 'region': {'box': [0, 0, 0.5, 1]}},
                  {'name': 'b', 'axes': '8:16', 'region': {'box': [0.5, 0, 1, 1]}}],
        'interval': 1, 'batch_shrink': 1, 'fake_to_D': False}
N = 4  # Samples per process.
ALLREDUCES = []  # The DDP module of every bucket all-reduced in this process (the toy modules fit one bucket).


def _counting(name):
    def hook(state, bucket):
        ALLREDUCES.append(name)
        return allreduce_hook(None, bucket)
    return hook


class ZNoiseLinkLoss(LinkLoss):
    def link_noise(self, z):
        g = torch.Generator().manual_seed(123)
        proj = torch.randn(z.shape[1], self.bound.num_links * self.bound.w_dim, generator=g)
        return torch.sin(z @ proj).reshape(z.shape[0], self.bound.num_links, self.bound.w_dim) * 1.7


def _gradients(G, D, z, c, wrap, link_pass='batched', fake_to_D=False):
    torch.manual_seed(0)
    mapping, synthesis = G.mapping, G.synthesis
    if wrap:  # As sg2ada's training loop: wrap with grads enabled.
        G.requires_grad_(True)
        mapping = torch.nn.parallel.DistributedDataParallel(G.mapping, broadcast_buffers=False)
        synthesis = torch.nn.parallel.DistributedDataParallel(G.synthesis, broadcast_buffers=False)
        mapping.register_comm_hook(None, _counting('mapping'))
        synthesis.register_comm_hook(None, _counting('synthesis'))
    loss = ZNoiseLinkLoss('cpu', G_mapping=mapping, G_synthesis=synthesis, D=D, base=ToySG2ADALoss,
                          spec=dict(SPEC, fake_to_D=fake_to_D), link_pass=link_pass,
                          style_mixing_prob=0, pl_weight=0, r1_gamma=0)
    G.requires_grad_(True)
    loss.accumulate_gradients(phase='Gmain', real_img=None, real_c=c, gen_z=z, gen_c=c, sync=True, gain=1)
    return {name: p.grad.clone() for name, p in G.named_parameters() if 'noise_strength' not in name}


def _networks():
    torch.manual_seed(42)
    G, _ = make_toy_networks('sg2ada', w_dim=32, z_dim=16, img_resolution=16, channels=8, mapping_layers=2)
    # No minibatch-stddev in D here: it mixes the samples of a group, and a rank's groups of 4 are not the
    # single process's groups of 4 out of 8, so D's scores legitimately differ between the two runs.
    D = ToyDiscriminatorSG2ADA(img_resolution=16, mbstd_group_size=0)
    return G.requires_grad_(False), D.requires_grad_(False)


def _inputs():
    g = torch.Generator().manual_seed(7)
    return torch.randn(2 * N, 16, generator=g), torch.zeros(2 * N, 0)


def _worker(rank, init_file, out_dir, link_pass, fake_to_D):
    torch.set_num_threads(1)
    dist.init_process_group('gloo', init_method=f'file://{init_file}', rank=rank, world_size=2)
    try:
        G, D = _networks()
        z, c = _inputs()
        grads = _gradients(G, D, z[rank * N:(rank + 1) * N], c[rank * N:(rank + 1) * N], wrap=True,
                           link_pass=link_pass, fake_to_D=fake_to_D)
        torch.save((grads, ALLREDUCES), os.path.join(out_dir, f'rank{rank}.pt'))
        dist.barrier()  # Neither rank tears gloo down while the other still has work in flight (that aborts).
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
@pytest.mark.parametrize('link_pass, fake_to_D', [('batched', False), ('per_link', False), ('per_link', True)])
def test_two_process_ddp_matches_single_process(tmp_path, link_pass, fake_to_D):
    load_extension('cpu')  # A cold kernel build here, once, not in both ranks racing for the build lock.
    init_file = tempfile.mktemp(dir=tmp_path)
    mp.start_processes(_worker, args=(init_file, str(tmp_path), link_pass, fake_to_D), nprocs=2, start_method='spawn',
                       join=True)
    (rank0, allreduces0), (rank1, allreduces1) = (torch.load(tmp_path / f'rank{rank}.pt') for rank in range(2))
    assert sorted(allreduces0) == sorted(allreduces1) == ['mapping', 'synthesis']     # One sync each, the last.
    if fake_to_D:       # Each rank draws its fakes from its own samples: no single-process reference.
        assert all(torch.equal(rank0[name], rank1[name]) for name in rank0)
        return
    G, D = _networks()
    z, c = _inputs()
    reference = _gradients(G, D, z, c, wrap=False, link_pass=link_pass)
    for grads in (rank0, rank1):
        assert grads.keys() == reference.keys()
        for name, g in grads.items():
            scale = reference[name].abs().max().item()
            # fp32 summation order differs between a batch of 8 and two of 4: ~5e-5 of a tensor's scale.
            assert torch.allclose(g, reference[name], rtol=1e-4, atol=1e-4 * scale + 1e-9), name
