"""The 'per_link' link pass (LinkLoss(link_pass='per_link'), regularizer.PerLinkPass) against the 'batched' one: the
same G and D gradients up to float rounding on the toy networks of every flavour, the same reports, the same
random numbers afterwards, and peak memory that does not grow with the number of links."""

import pytest
import torch

from linkgan_plugin.loss import LinkLoss
from linkgan_plugin.regularizer import BoundSpec, link_penalty, PerLinkPass
from linkgan_plugin.workflows.bench_loss import peak_memory
from linkgan_plugin.spec import load_spec
from linkgan_plugin.toy.losses import TOY_LOSSES
from linkgan_plugin.toy.networks import make_toy_networks
from linkgan_plugin.upstream import stats
from linkgan_plugin.upstream.cameras import random_cameras

pytestmark = pytest.mark.usefixtures('one_thread')

SMALL = dict(w_dim=32, z_dim=16, img_resolution=16, channels=8, mapping_layers=2)
BOXES = [[0, 0, 0.5, 0.5], [0.5, 0.5, 1, 1], [0, 0.5, 1, 1]]


@pytest.fixture(scope='module')
def segmenter(tmp_path_factory):
    path = tmp_path_factory.mktemp('seg') / 'seg.py'
    path.write_text('def segment(x):\n    return (x[:, 0] > 0).long()\n')
    return f'{path}:segment'


def links(count, kind, segmenter):
    """`count` links on axes 8 wide; 'box' regions, or 'semantic' ones (mask modes union, source, mean in turn)."""
    modes = ['union', 'source', 'mean']
    region = lambda i: ({'box': BOXES[i]} if kind == 'box' else
                        {'segmenter': segmenter, 'classes': [1], 'mode': modes[i]})
    return [{'name': f'l{i}', 'axes': f'{8 * i}:{8 * i + 8}', 'region': region(i)} for i in range(count)]


@pytest.fixture
def dtype(request):
    """The two passes sum in different orders: in float32 a gradient that is a small difference of large sums (a
    to-RGB bias's, under 'sum') differs by ~1e-7 of the largest gradient, far more than 1e-5 of itself. So the toy
    networks run in float64 (default dtype), except EG3D's, whose toy mapping casts its camera to float32: there
    float32, and a tolerance of 1e-6 of the network's largest gradient."""
    flavour = request.node.callspec.params['flavour']
    dtype, saved = (torch.float32 if flavour == 'eg3d' else torch.float64), torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    yield dtype
    torch.set_default_dtype(saved)



def run(flavour, spec, link_pass):
    """G's gradients after a link iteration's Gmain, D's after its Dmain, the reports, the RNG state afterwards."""
    torch.manual_seed(0)
    G, D = make_toy_networks(flavour, **SMALL)
    for module in G.modules():
        if hasattr(module, 'noise_strength'):       # Noise inputs that matter: the RNG replay is tested.
            module.noise_strength.data.fill_(0.2)
    G.ray_jitter = 0.3                              # EG3D toy: ray jitter draws random numbers in every render.
    nets = dict(G_mapping=G.mapping, G_synthesis=G.synthesis) if flavour == 'sg2ada' else dict(G=G)
    extra = {'neural_rendering_resolution_initial': 8} if flavour == 'eg3d' else {}
    loss = LinkLoss(device='cpu', D=D, spec=spec, base=TOY_LOSSES[flavour], link_pass=link_pass, pl_weight=0,
                    **nets, **extra)
    n = 4
    c = random_cameras(n) if flavour == 'eg3d' else torch.zeros(n, G.c_dim)
    batch = dict(real_img=torch.rand(n, 3, 16, 16) * 2 - 1, real_c=c, gen_z=torch.randn(n, G.z_dim), gen_c=c)
    stats.latest.clear()
    out = {}
    for phase, module, other in (('Gmain', G, D), ('Dmain', D, G)):
        module.requires_grad_(True)
        other.requires_grad_(False)
        if flavour == 'sg2ada':
            loss.accumulate_gradients(phase=phase, **batch, sync=True, gain=1)
        else:
            loss.accumulate_gradients(phase=phase, **batch, gain=1, cur_nimg=0)
        out[phase] = {name: p.grad.clone() for name, p in module.named_parameters() if p.grad is not None}
        module.requires_grad_(False)
    out['stats'] = dict(stats.latest.items())
    out['rng'] = torch.get_rng_state()
    return out


def assert_same(a, b, dtype):
    for phase in ('Gmain', 'Dmain'):
        assert a[phase].keys() == b[phase].keys(), phase
        scale = max(g.abs().max().item() for g in a[phase].values())
        atol = 1e-7 if dtype == torch.float64 else 1e-6 * scale
        for name, g in a[phase].items():
            assert torch.allclose(b[phase][name], g, rtol=1e-5, atol=atol), (phase, name, (b[phase][name] - g).abs().max())
    assert a['stats'].keys() == b['stats'].keys()
    for name, value in a['stats'].items():
        assert b['stats'][name] == pytest.approx(value, rel=1e-6, abs=1e-9), name
    assert torch.equal(a['rng'], b['rng'])


CASES = [  # flavour, links, region kind, reduction, perturbation, other spec fields
    ('sg2ada', 1, 'box', 'mean', 'noise', {}),
    ('sg2ada', 3, 'semantic', 'sum', 'resample', {}),
    ('sg2ada', 3, 'box', 'mean', 'noise', {'fake_to_D': False}),
    ('sg3', 1, 'semantic', 'sum', 'noise', {}),
    ('sg3', 3, 'box', 'mean', 'resample', {}),
    ('eg3d', 1, 'box', 'sum', 'resample', {'fake_to_D': False}),
    ('eg3d', 3, 'semantic', 'mean', 'noise', {'eg3d_targets': ['image', 'image_raw', 'image_depth']}),
    ('eg3d', 3, 'box', 'sum', 'noise', {'batch_shrink': 1}),
]


@pytest.mark.parametrize('flavour, count, kind, reduction, perturbation, extra', CASES,
                         ids=['-'.join(map(str, case[:5])) + ('-' + '-'.join(case[5]) if case[5] else '') for case in CASES])
def test_per_link_pass_gives_the_batched_gradients_reports_and_D_phase(dtype, segmenter, flavour, count, kind, reduction,
                                                                      perturbation, extra):
    spec = {'links': links(count, kind, segmenter), 'interval': 4, 'reduction': reduction,
            'perturbation': perturbation, **extra}
    batched, per_link = run(flavour, spec, 'batched'), run(flavour, spec, 'per_link')
    assert batched['Gmain'] and batched['Dmain']
    assert_same(batched, per_link, dtype)
    if extra.get('fake_to_D', True):
        assert 'Loss/link/G_adv' in per_link['stats'] and 'Loss/link/D_fake' in per_link['stats']


def test_link_pass_is_validated():
    G, D = make_toy_networks('sg3', **SMALL)
    spec = {'links': links(1, 'box', None)}
    with pytest.raises(ValueError, match="link_pass must be one of batched, per_link, got 'linkwise'"):
        LinkLoss('cpu', G=G, D=D, spec=spec, base=TOY_LOSSES['sg3'], link_pass='linkwise')
    assert LinkLoss('cpu', G=G, D=D, spec=spec, base=TOY_LOSSES['sg3']).link_pass == 'batched'

#----------------------------------------------------------------------------
# PerLinkPass on its own: terms, misuse, memory.

def _synthesis(K):
    torch.manual_seed(1)
    G, _ = make_toy_networks('sg3', **SMALL)
    bound = BoundSpec(load_spec({'links': links(K, 'box', None)}), SMALL['w_dim'])
    ws = G.mapping(torch.randn(2, SMALL['z_dim']), None).detach()
    return G, bound, ws, torch.randn(2, K, SMALL['w_dim'])


def test_per_link_terms_equal_link_penalty_and_misuse_is_refused():
    G, bound, ws, noise = _synthesis(3)
    synthesize = lambda w: G.synthesis(w)
    torch.manual_seed(2)
    want = link_penalty(synthesize, ws, bound, noise=noise)
    torch.manual_seed(2)
    lp = PerLinkPass(synthesize, ws.clone().requires_grad_(), bound, noise=noise)
    with pytest.raises(RuntimeError, match='link 0 has not run'):
        lp.terms()
    for i in range(3):
        lp.link(i, 1.0, last=i == 2)
    got = lp.terms()
    assert torch.allclose(got.loss, want.loss.detach(), rtol=1e-6)
    for key in want.l_in:
        assert got.l_in[key].shape == want.l_in[key].shape == (2, 3)
        assert torch.allclose(got.l_in[key], want.l_in[key].detach(), rtol=1e-6)
        assert torch.allclose(got.l_out[key], want.l_out[key].detach(), rtol=1e-6)
    with pytest.raises(RuntimeError, match='already backpropagated'):
        lp.link(1, 1.0)
    with pytest.raises(RuntimeError, match='already carried'):
        lp.backward_render(0, torch.ones(2, 3, 16, 16))


def _link_pass_peak(K, mode):
    """Peak bytes allocated (torch's CPU allocations) by one link pass with its backward, K links."""
    G, bound, ws, noise = _synthesis(K)
    G.requires_grad_(True)
    synthesize = lambda w: G.synthesis(w)

    def step():
        if mode == 'batched':
            link_penalty(synthesize, ws, bound, noise=noise).loss.mean().backward()
        else:
            lp = PerLinkPass(synthesize, ws, bound, noise=noise)
            for i in range(K):
                lp.link(i, 1.0, last=i == K - 1)
    step()                                                  # Warm: gradient buffers exist before measuring.
    return peak_memory(step)


def test_per_link_peak_memory_does_not_grow_with_links():
    batched = {K: _link_pass_peak(K, 'batched') for K in (1, 3)}
    per_link = {K: _link_pass_peak(K, 'per_link') for K in (1, 3)}
    assert batched[3] > 1.8 * batched[1]                    # 7 renders alive against 3.
    assert per_link[3] < 1.15 * per_link[1]
    assert per_link[3] < 0.7 * batched[3]
