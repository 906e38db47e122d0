"""Binary box masks ("binary": true on box, boxes and preset regions: the paper's masks): a pixel is in the mask iff
its centre lies in a box; soft (covered fraction) stays the default; bad values are named by their JSON path."""

import json

import pytest
import torch
from click.testing import CliRunner

from linkgan_plugin.checks import SpecError
from linkgan_plugin.regions import box_centre_mask, box_coverage, fixed_region_mask, PRESETS_256, preset_box
from linkgan_plugin.spec import load_spec
from linkgan_plugin.cli.spec import check_command


def spec_of(region, resolution=None):
    return load_spec({'links': [{'name': 'r', 'axes': '0:8', 'region': region}]}, w_dim=64, resolution=resolution)


def centre_inside(box, resolution):
    """Bool [R, R] by a per-pixel loop: x0 <= centre < x1 and y0 <= centre < y1."""
    x0, y0, x1, y1 = box
    out = torch.zeros(resolution, resolution, dtype=torch.bool)
    for row in range(resolution):
        for col in range(resolution):
            cx, cy = (col + 0.5) / resolution, (row + 0.5) / resolution
            out[row, col] = x0 <= cx < x1 and y0 <= cy < y1
    return out

#----------------------------------------------------------------------------

@pytest.mark.parametrize('name', sorted(PRESETS_256))
@pytest.mark.parametrize('resolution', [32, 64])
def test_a_binary_preset_holds_exactly_the_pixels_whose_centre_is_inside(name, resolution):
    mask = fixed_region_mask(spec_of({'preset': name, 'binary': True}).links[0].region, resolution, resolution)
    assert mask.dtype == torch.float32 and set(mask.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(mask.bool(), centre_inside(preset_box(name), resolution))
    soft = fixed_region_mask(spec_of({'preset': name}).links[0].region, resolution, resolution)
    assert torch.equal(soft, box_coverage([preset_box(name)], resolution, resolution))    # Soft stays the default.
    assert ((soft > 0) & (soft < 1)).any()                     # The presets' edges are fractional when soft ...
    assert torch.equal(mask.bool() & (soft == 0), torch.zeros_like(mask.bool()))   # ... binary lies inside them.


def test_binary_boxes_are_half_open_so_tiling_boxes_do_not_overlap():
    left, right = [0.0, 0.0, 0.5, 1.0], [0.5, 0.0, 1.0, 1.0]
    a, b = box_centre_mask([left], 6, 6), box_centre_mask([right], 6, 6)
    assert torch.equal(a + b, torch.ones(6, 6))
    # Edges on pixel centres (x0 = 1.5 px, x1 = 4.5 px at 6 px): columns 1, 2, 3 (x1 - x0 = 3 columns).
    mask = box_centre_mask([[1.5 / 6, 0.0, 4.5 / 6, 0.5]], 6, 6)
    assert mask[0].tolist() == [0, 1, 1, 1, 0, 0] and mask[:, 1].tolist() == [1, 1, 1, 0, 0, 0]
    union = box_centre_mask([[0.0, 0.0, 0.4, 0.4], [0.2, 0.2, 0.6, 0.6]], 10, 10)
    assert union.max() == 1 and union.sum() == 16 + 16 - 4        # A union, not a sum.


def test_binary_round_trips_and_soft_specs_keep_their_form():
    spec = spec_of({'boxes': [[0.1, 0.2, 0.5, 0.6]], 'binary': True})
    assert spec.to_dict()['links'][0]['region'] == {'boxes': [[0.1, 0.2, 0.5, 0.6]], 'binary': True}
    again = load_spec(spec.to_dict(), w_dim=64)
    assert again.links[0].region.binary and again.to_dict() == spec.to_dict()
    assert spec_of({'preset': 'eyes', 'binary': True}).to_dict()['links'][0]['region'] == {'preset': 'eyes',
                                                                                          'binary': True}
    for soft in ({'box': [0.1, 0.2, 0.5, 0.6]}, {'preset': 'nose', 'binary': False}, 'mouth'):
        region = spec_of(soft).links[0].region
        assert not region.binary and 'binary' not in region.to_dict()


@pytest.mark.parametrize('region, resolution, path, message', [
    ({'preset': 'eyes', 'binary': 1}, None, 'links[0].region.binary', 'must be true or false'),
    ({'box': [0, 0, 0.5, 0.5], 'binary': 'yes'}, None, 'links[0].region.binary', 'must be true or false'),
    ({'boxes': [[0.001, 0.001, 0.999, 0.999]], 'binary': True}, 32, 'links[0].region.binary', 'every pixel centre'),
    ({'mask': 'x.png', 'binary': True}, None, 'links[0].region.binary', 'unknown key for a mask region'),
])
def test_bad_binary_settings_are_named_by_their_path(region, resolution, path, message):
    with pytest.raises(SpecError) as info:
        spec_of(region, resolution)
    assert any(e.startswith(path + ':') and message in e for e in info.value.errors), info.value.errors


def test_spec_check_prints_the_binary_error_and_accepts_the_field():
    runner = CliRunner()
    bad = json.dumps({'links': [{'name': 'e', 'axes': '0:8', 'region': {'preset': 'eyes', 'binary': 'no'}}]})
    result = runner.invoke(check_command, [bad])
    assert result.exit_code == 1 and "error: links[0].region.binary: must be true or false, got 'no'" in result.output
    good = json.dumps({'links': [{'name': 'e', 'axes': '0:8', 'region': {'preset': 'eyes', 'binary': True}}]})
    result = runner.invoke(check_command, [good, '--resolution', '64'])
    assert result.exit_code == 0 and json.loads(result.output)['links'][0]['region']['binary'] is True
