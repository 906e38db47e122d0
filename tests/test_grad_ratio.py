"""LinkLoss's `grad_ratio` (the adaptive weight of VQGAN's discriminator loss, applied to the link term) and
`log_grad_ratio` (the measurement alone): what they report and what they do to G's gradients, on every toy flavour."""

import pytest
import torch

from linkgan_plugin.checks import SpecError
from linkgan_plugin.upstream import stats
from test_loss import batch_for, call, make, SPEC


def link_step(flavour, spec, seed=0):
    """One link iteration's G phase (iteration 0) from seeded networks and latents; returns (G's gradients flattened,
    the reported statistics)."""
    torch.manual_seed(seed)
    G, _, loss = make(flavour, spec=spec)
    torch.manual_seed(seed + 1)
    batch = batch_for(G, flavour)
    stats.latest.clear()
    torch.manual_seed(seed + 2)
    call(loss, flavour, 'Gmain', batch, 0)
    grad = torch.cat([p.grad.flatten() for p in G.parameters() if p.grad is not None])
    return grad, dict(stats.latest.items())


@pytest.mark.parametrize('flavour', ['sg2ada', 'sg3', 'eg3d'])
def test_the_measured_ratio_scales_with_lambda_and_leaves_training_alone(flavour):
    base = {**SPEC, 'log_grad_ratio': True}
    g1, s1 = link_step(flavour, base)
    g2, s2 = link_step(flavour, {**base, 'lambda_in': 2.0, 'lambda_out': 2.0})
    assert s2['Loss/link/grad_ratio'] == pytest.approx(2 * s1['Loss/link/grad_ratio'], rel=1e-4)
    assert s1['Loss/link/grad_cosine'] == pytest.approx(s2['Loss/link/grad_cosine'], abs=1e-4)
    assert -1 <= s1['Loss/link/grad_cosine'] <= 1 and 'Loss/link/weight' not in s1
    g0, _ = link_step(flavour, SPEC)                    # Measuring does not change the step.
    torch.testing.assert_close(g1, g0)


@pytest.mark.parametrize('flavour', ['sg2ada', 'sg3', 'eg3d'])
def test_the_adaptive_weight_holds_the_link_term_at_the_target_ratio(flavour):
    g, s = link_step(flavour, {**SPEC, 'grad_ratio': 3.0})
    assert s['Loss/link/weight'] * s['Loss/link/grad_ratio'] == pytest.approx(3.0, rel=1e-4)
    # The same step with fixed lambdas scaled by that weight gives the same gradients (the weight is all it does).
    w = s['Loss/link/weight']
    g_fixed, _ = link_step(flavour, {**SPEC, 'lambda_in': w, 'lambda_out': w})
    torch.testing.assert_close(g, g_fixed, rtol=1e-4, atol=1e-7)


def test_bad_settings_are_refused_naming_the_field():
    with pytest.raises(SpecError, match='grad_ratio: must be positive'):
        make('sg3', spec={**SPEC, 'grad_ratio': 0})
    with pytest.raises(SpecError, match='log_grad_ratio: must be true or false'):
        make('sg3', spec={**SPEC, 'log_grad_ratio': 'yes'})
    with pytest.raises(SpecError, match='grad_ratio: .*link_pass "batched"'):
        make('sg3', spec={**SPEC, 'grad_ratio': 1.0}, link_pass='per_link')
