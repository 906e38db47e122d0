"""The scene as an oracle (demo/oracle.py) and the tint metric (analysis/metrics.tint_share): a synthetic scene whose
shared and own variances are known analytically gives back its ratio, tint shares and ties; bad input is named."""

import pytest
import torch

from linkgan_plugin.analysis.metrics import tint_energies, tint_share
from linkgan_plugin.demo.faces import FACTOR_PARTS, faces, SHARED_FACTORS
from linkgan_plugin.demo.oracle import CROSSING_GROUPS, oracle_report
from linkgan_plugin.regions import preset_box

pytestmark = pytest.mark.usefixtures('one_thread')

# Two regions, the left and right halves of an 8 x 8 image. Every factor is uniform in [-1, 1] (variance 1/3).
# A shared factor s adds SHARED[r] * s to every value of region r (a uniform tint); region r's own factor adds
# OWN[r] * its value times a +-1 checkerboard (zero mean over the half). So per value, the variance from s is
# SHARED[r]^2 / 3 and from the own factor OWN[r]^2 / 3: the ratio is (SHARED[r] / OWN[r])^2, the own edits' tint
# share 0, the shared edits' 1, and the halves' mean shifts under s are perfectly correlated.
SHARED, OWN = {'left': 0.6, 'right': 0.3}, {'left': 0.2, 'right': 0.3}
BOXES = {'left': [0.0, 0.0, 0.5, 1.0], 'right': [0.5, 0.0, 1.0, 1.0]}
PARTS = {'left': ('a',), 'right': ('b',)}


def synthetic(batch, resolution, generator=None, overrides=None):
    f = {name: 2 * torch.rand(batch, generator=generator) - 1 for name in ('s', 'a', 'b', 'unused')}
    f.update({k: torch.as_tensor(v, dtype=torch.float32).expand(batch).clone() for k, v in (overrides or {}).items()})
    R = resolution
    rows, cols = torch.arange(R)[:, None], torch.arange(R)[None, :]
    checker = ((rows + cols) % 2 * 2 - 1).float()
    left = (cols < R // 2).float()
    img = torch.zeros(batch, 3, R, R)
    for region, side, own in (('left', left, 'a'), ('right', 1 - left, 'b')):
        value = SHARED[region] * f['s'][:, None, None] + OWN[region] * f[own][:, None, None] * checker
        img += (side * value)[:, None]
    return img, torch.zeros(batch, R, R, dtype=torch.int64), f

#----------------------------------------------------------------------------

def test_tint_share_of_a_pure_tint_is_one_of_a_zero_mean_pattern_zero_and_of_a_mix_its_energy_share():
    mask = torch.zeros(1, 1, 6, 6)
    mask[..., 1:5, 1:5] = 1
    tint = torch.tensor([0.3, -0.2, 0.1])[None, :, None, None].expand(2, 3, 6, 6)
    checker = ((torch.arange(6)[:, None] + torch.arange(6)[None, :]) % 2 * 2 - 1).float().expand(2, 3, 6, 6)
    assert torch.allclose(tint_share(tint, mask), torch.ones(2, dtype=torch.float64))
    assert torch.allclose(tint_share(0.5 * checker, mask), torch.zeros(2, dtype=torch.float64), atol=1e-12)
    mix = tint + 0.4 * checker                                        # Tint energy 0.14 per pixel, pattern 3 * 0.16.
    assert torch.allclose(tint_share(mix, mask), torch.full([2], 0.14 / (0.14 + 0.48), dtype=torch.float64))
    outside = torch.zeros(1, 3, 6, 6)
    outside[..., 0, :] = 1.0                                          # A change outside the mask counts for nothing.
    assert tint_share(outside, mask).tolist() == [0.0] and tint_energies(outside, mask)[1].tolist() == [0.0]
    soft = mask * 0.5                                                 # Weights: the same shares for a scaled mask.
    assert torch.allclose(tint_share(mix, soft), tint_share(mix, mask))


@pytest.mark.parametrize('diff, mask, message', [
    (torch.zeros(3, 8, 8), torch.ones(1, 1, 8, 8), 'diff'),
    (torch.zeros(2, 3, 8, 8), torch.ones(1, 3, 8, 8), 'mask'),
    (torch.zeros(2, 3, 8, 8), torch.ones(3, 1, 8, 8), 'mask'),
    (torch.zeros(2, 3, 8, 8), torch.ones(1, 1, 4, 4), 'mask'),
])
def test_tint_share_names_a_bad_shape(diff, mask, message):
    with pytest.raises(ValueError, match=message):
        tint_share(diff, mask)


def test_the_oracle_recovers_the_known_ratios_tint_shares_and_ties_of_a_synthetic_scene():
    report = oracle_report(synthetic, ('s', 'unused'), PARTS, BOXES, 8, samples=4096, batch=1024,
                           groups={'s alone': ('s',)}, per_factor=True)
    for region in BOXES:
        entry = report['regions'][region]
        assert entry['shared_variance'] == pytest.approx(SHARED[region] ** 2 / 3, rel=0.06)
        assert entry['own_variance'] == pytest.approx(OWN[region] ** 2 / 3, rel=0.06)
        assert entry['ratio'] == pytest.approx((SHARED[region] / OWN[region]) ** 2, rel=0.1)
        assert entry['all_variance'] == pytest.approx((SHARED[region] ** 2 + OWN[region] ** 2) / 3, rel=0.06)
        assert entry['tint_share_own'] == pytest.approx(0, abs=1e-9)
        assert entry['tint_share_shared'] == pytest.approx(1)
        assert entry['groups']['s alone']['over_own'] == pytest.approx(entry['ratio'], rel=1e-9)
        assert list(entry['other_parts_over_own'].values()) == [0.0]          # The halves' own factors stay apart.
        assert entry['factors_over_own'] == {PARTS[region][0]: pytest.approx(1, rel=1e-9)}
        assert (entry['box_height_px'], entry['box_width_px'], entry['box_rows'], entry['box_pixels']) == (8, 4, 8, 32)
    assert report['ties']['shared_mean_shift_correlation']['left-right'] == pytest.approx(1)
    assert report['masks'] == 'binary' and report['samples'] == 4096


def test_shared_factors_that_do_not_cross_the_regions_show_as_uncorrelated_shifts():
    # The independent cells in disguise: each "shared" factor tints one half only. The ratio alone cannot tell;
    # the ties do.
    def cells(batch, resolution, generator=None, overrides=None):
        f = {name: 2 * torch.rand(batch, generator=generator) - 1 for name in ('s1', 's2', 'a', 'b')}
        f.update({k: torch.as_tensor(v).float().expand(batch).clone() for k, v in (overrides or {}).items()})
        R = resolution
        left = (torch.arange(R) < R // 2).float()[None, None, None, :]
        checker = ((torch.arange(R)[:, None] + torch.arange(R)[None, :]) % 2 * 2 - 1).float()
        per = lambda name: f[name][:, None, None, None]
        img = left * (per('s1') + per('a') * checker) + (1 - left) * (per('s2') + per('b') * checker)
        return img.expand(batch, 3, R, R), None, f
    report = oracle_report(cells, ('s1', 's2'), PARTS, BOXES, 8, samples=2048, batch=512)
    assert abs(report['ties']['shared_mean_shift_correlation']['left-right']) < 0.1
    for region in BOXES:
        assert report['regions'][region]['ratio'] == pytest.approx(1, rel=0.1)


def test_the_old_faces_nose_box_is_mostly_shared_content():
    # What blocked the in-region term at 32 px (issue 30): the shared factors swamp the nose's own, and the mean
    # in-box shifts of the three regions move together.
    boxes = {name: preset_box(name) for name in FACTOR_PARTS}
    report = oracle_report(faces, SHARED_FACTORS, FACTOR_PARTS, boxes, 32, samples=128, batch=128,
                           groups=CROSSING_GROUPS, binary=False)
    nose = report['regions']['nose']
    assert nose['ratio'] > 50 and nose['shared_of_all'] > 0.9 and nose['groups']['skin']['over_own'] > 10
    assert report['ties']['min_shared_mean_shift_correlation'] > 0.5
    assert nose['box_height_px'] == pytest.approx(5.0) and report['regions']['eyes']['box_height_px'] == 2.5


@pytest.mark.parametrize('kwargs, message', [
    (dict(boxes={'left': [0.0, 0.0, 0.5, 1.2], 'right': BOXES['right']}), r"boxes\['left'\].*does not fit the image"),
    (dict(boxes={'left': [0.5, 0.0, 0.4, 1.0], 'right': BOXES['right']}), r"boxes\['left'\].*does not fit the image"),
    (dict(boxes={'left': [0.0, 0.0, 0.5], 'right': BOXES['right']}), r"boxes\['left'\] must be"),
    (dict(boxes={'left': [0.0, 0.0, 0.5, 0.05], 'right': BOXES['right']}), r"boxes\['left'\].*no pixel centre"),
    (dict(boxes={'left': BOXES['left']}), 'boxes must name the regions of parts'),
    (dict(parts={'left': ('a', 'moustache'), 'right': ('b',)}), r"parts\['left'\]: unknown factor 'moustache'"),
    (dict(parts={'left': ('a', 's'), 'right': ('b',)}), r"parts\['left'\]: 's' is also a shared factor"),
    (dict(shared=('s', 'beard')), "shared: unknown factor 'beard'"),
    (dict(groups={'skin': ('tone',)}), r"groups\['skin'\]: unknown factor 'tone'"),
    (dict(samples=1), 'samples must be an integer >= 2'),
    (dict(resolution=8.0), 'resolution must be an integer'),
])
def test_bad_oracle_input_names_the_argument(kwargs, message):
    args = dict(draw=synthetic, shared=('s',), parts=PARTS, boxes=BOXES, resolution=8, samples=4, batch=4)
    with pytest.raises(ValueError, match=message):
        oracle_report(**{**args, **kwargs})
