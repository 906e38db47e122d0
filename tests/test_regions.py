"""Regions -> masks: the region kinds, box geometry at any resolution, presets, mask images, segmenters, mask modes."""

import json

import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from linkgan_plugin import regions as regions_module
from linkgan_plugin.regions import (MASK_MODES, PRESETS_256, REGION_KINDS, BoxesRegion, MaskRegion, PresetRegion,
                                    Region, RegionMasks, SegmenterError, SegmenterRegion, box_coverage, combine_masks,
                                    fixed_region_mask, load_segmenter, mask_image, preset_box, semantic_mask)
from linkgan_plugin.checks import SpecError
from linkgan_plugin.model_files import save_exported
from linkgan_plugin.spec import load_spec


def test_box_on_pixel_grid_is_binary_and_exact():
    m = box_coverage([[0.25, 0.5, 0.75, 1.0]], 8, 8)
    expected = torch.zeros(8, 8)
    expected[4:8, 2:6] = 1
    assert torch.equal(m, expected)


def test_box_off_grid_gives_fractional_coverage():
    m = box_coverage([[0.0, 0.0, 0.3, 1.0]], 4, 10)  # 10 columns: 3 full; 4 rows all covered.
    assert torch.allclose(m[0], torch.tensor([1, 1, 1, 0, 0, 0, 0, 0, 0, 0], dtype=torch.float32))
    m = box_coverage([[0.0, 0.0, 0.25, 1.0]], 1, 2)  # half of the first pixel.
    assert torch.allclose(m, torch.tensor([[0.5, 0.0]]))


def test_box_area_is_resolution_independent():
    box = [[0.1, 0.23, 0.61, 0.77]]
    for res in (7, 32, 100, 256):
        assert box_coverage(box, res, res).sum().item() / res**2 == pytest.approx(0.51 * 0.54, abs=1e-6)


def test_union_of_boxes_does_not_double_count():
    m = box_coverage([[0, 0, 0.5, 0.5], [0.25, 0.25, 0.75, 0.75]], 4, 4)
    assert m.max().item() == 1 and m.sum().item() == 7


def test_presets_match_their_pixel_boxes_at_256():
    for name, (row, col, h, w) in PRESETS_256.items():
        m = box_coverage([preset_box(name)], 256, 256)
        assert m.sum().item() == pytest.approx(h * w, abs=1e-3), name
        ys, xs = np.nonzero(m.numpy() > 0.5)
        assert (ys.min() + ys.max() + 1) / 2 == pytest.approx(row, abs=0.5)
        assert (xs.min() + xs.max() + 1) / 2 == pytest.approx(col, abs=0.5)


def test_mask_image_resized_and_soft(tmp_path):
    arr = np.zeros((40, 20), np.uint8)
    arr[:20] = 255
    arr[20:, :10] = 128
    Image.fromarray(arr).save(tmp_path / 'm.png')
    m = mask_image(str(tmp_path / 'm.png'), 8, 4)
    assert m.shape == (8, 4) and 0 <= m.min() and m.max() <= 1
    assert torch.allclose(m[:3], torch.ones(3, 4), atol=1e-3)
    assert m[6, 0].item() == pytest.approx(128 / 255, abs=1e-2) and m[6, 3].item() == pytest.approx(0, abs=1e-3)


def test_every_region_kind_round_trips_and_rasterises(tmp_path):
    arr = np.zeros((6, 10), np.uint8)
    arr[:, :5] = 255
    Image.fromarray(arr).save(tmp_path / 'm.png')
    (tmp_path / 'seg.py').write_text(SEGMENTER_SOURCE)
    regions = [{'box': [0, 0, 0.5, 0.5]}, {'boxes': [[0, 0, 0.5, 0.5], [0.5, 0.5, 1, 1]]}, {'preset': 'mouth'},
               {'mask': 'm.png'}, {'segmenter': 'seg.py:segment', 'classes': [2], 'mode': 'union'}]
    data = {'links': [{'name': f'l{i}', 'axes': [i], 'region': r} for i, r in enumerate(regions)]}
    spec = load_spec(data, base_dir=str(tmp_path))
    assert [type(link.region) for link in spec.links] == [BoxesRegion, BoxesRegion, PresetRegion, MaskRegion,
                                                          SegmenterRegion]
    assert {type(link.region) for link in spec.links} == set(REGION_KINDS)        # Every declared kind is covered.
    again = load_spec(json.loads(json.dumps(spec.to_dict())))
    assert again.to_dict() == spec.to_dict()
    for link in spec.links[:4]:
        m = fixed_region_mask(link.region, 8, 8)
        assert m.shape == (8, 8) and m.dtype == torch.float32 and 0 < m.mean() < 1
    assert torch.equal(fixed_region_mask(spec.links[3].region, 6, 10)[:, :5], torch.ones(6, 5))
    with pytest.raises(ValueError, match='depends on the image'):
        fixed_region_mask(spec.links[4].region, 8, 8)


class DiskRegion(Region):
    """{"disk": [cx, cy, r]}: a disc, normalised (a kind added by the test, to show that a kind is one entry)."""
    selectors = ('disk',)
    kind = 'boxes'

    def __init__(self, disk):
        self.disk = disk

    @classmethod
    def parse(cls, value, path, base_dir, errors):
        return cls(value['disk'])

    def to_dict(self):
        return {'disk': list(self.disk)}

    def rasterise(self, height, width):
        cx, cy, r = self.disk
        ys, xs = torch.meshgrid((torch.arange(height) + 0.5) / height, (torch.arange(width) + 0.5) / width, indexing='ij')
        return (((xs - cx) ** 2 + (ys - cy) ** 2) <= r * r).float()


def test_a_new_region_kind_is_one_entry(monkeypatch):
    monkeypatch.setattr(regions_module, 'REGION_KINDS', regions_module.REGION_KINDS + (DiskRegion,))
    spec = load_spec({'links': [{'name': 'd', 'axes': '0:2', 'region': {'disk': [0.5, 0.5, 0.25]}}]})
    assert spec.to_dict()['links'][0]['region'] == {'disk': [0.5, 0.5, 0.25]}
    m = RegionMasks(spec).fixed(16, 16, 'cpu')
    assert m.shape == (1, 1, 16, 16) and m[0, 0, 8, 8] == 1 and m[0, 0, 0, 0] == 0


def test_region_masks_cache_per_resolution():
    spec = load_spec({'links': [{'name': 'a', 'axes': '0:2', 'region': {'box': [0, 0, 0.5, 0.5]}},
                                {'name': 'b', 'axes': '2:4', 'region': {'box': [0.5, 0.5, 1, 1]}}]})
    masks = RegionMasks(spec)
    m16 = masks.fixed(16, 16, 'cpu')
    assert m16.shape == (1, 2, 16, 16) and masks.fixed(16, 16, 'cpu') is m16
    assert masks.fixed(4, 4, 'cpu')[0, 1].sum().item() == 4


SEGMENTER_SOURCE = '''
import torch
def segment(images):
    """Class 2 where the red channel is positive, else class 0: scores [N, 3, h, w] at half resolution."""
    red = torch.nn.functional.avg_pool2d(images[:, :1], 2)
    return torch.cat([-red, red * 0 - 10, red], dim=1)
'''


def test_semantic_mask_from_a_python_file(tmp_path):
    (tmp_path / 'seg.py').write_text(SEGMENTER_SOURCE)
    spec = load_spec({'links': [{'name': 's', 'axes': '0:2', 'region': {'segmenter': 'seg.py:segment', 'classes': [2]}}]},
                     base_dir=str(tmp_path))
    seg = load_segmenter(spec.links[0].region.segmenter)
    img = -torch.ones(2, 3, 8, 8)
    img[0, 0, :4] = 1
    m = semantic_mask(seg, img, [2], 8, 8)
    assert m.shape == (2, 8, 8)
    assert m[0, :4].min() == 1 and m[0, 4:].max() == 0 and m[1].max() == 0


class Labels(torch.nn.Module):
    """A segmenter of labels: class 3 where the red channel is positive."""
    def forward(self, images):
        return (images[:, 0] > 0).long() * 3


@pytest.mark.parametrize('name', ['labels.pt', 'labels.pt2'], ids=['torchscript', 'torch.export'])
def test_semantic_mask_from_a_segmenter_file(tmp_path, name):
    path = str(tmp_path / name)
    if name.endswith('.pt2'):
        save_exported(Labels(), torch.zeros(2, 3, 4, 4), path)
    else:
        with warnings.catch_warnings():                # torch 2.13 deprecates writing TorchScript; users still do.
            warnings.simplefilter('ignore', DeprecationWarning)
            torch.jit.script(Labels()).save(path)
    spec = load_spec({'links': [{'name': 's', 'axes': '0:2', 'region': {'segmenter': name, 'classes': [3]}}]},
                     base_dir=str(tmp_path))
    img = -torch.ones(3, 3, 4, 4)                     # Another batch size than the export's example.
    img[0, 0, :, :2] = 1
    m = semantic_mask(load_segmenter(spec.links[0].region.segmenter), img, [3], 4, 4)
    assert m[0, :, :2].min() == 1 and m[0, :, 2:].max() == 0 and m[1:].max() == 0


def test_a_segmenter_file_that_does_not_load_is_named(tmp_path):
    bad = tmp_path / 'broken.pt2'
    bad.write_bytes(b'not a program')
    with pytest.raises(SpecError, match='broken.pt2.*torch.export .pt2 or a TorchScript file'):
        load_spec({'links': [{'name': 's', 'axes': '0:2', 'region': {'segmenter': 'broken.pt2', 'classes': [1]}}]},
                  base_dir=str(tmp_path))


def test_bad_segmenter_output_is_named():
    with pytest.raises(SegmenterError, match='must be'):
        semantic_mask(lambda x: x[:, 0, 0], torch.zeros(1, 3, 4, 4), [1], 4, 4)
    with pytest.raises(SegmenterError, match='expected a tensor'):
        semantic_mask(lambda x: 'nope', torch.zeros(1, 3, 4, 4), [1], 4, 4)


def test_one_combiner_for_every_mask_mode(tmp_path):
    # The spec's modes and LELSD's --mask-mode are one table, and RegionMasks combines with one function.
    (tmp_path / 'seg.py').write_text(SEGMENTER_SOURCE)
    a, b = torch.tensor([[1.0, 1.0, 0.0, 0.0]]), torch.tensor([[1.0, 0.0, 1.0, 0.0]])
    expect = {'source': a, 'union': torch.tensor([[1.0, 1.0, 1.0, 0.0]]), 'mean': torch.tensor([[1.0, 0.5, 0.5, 0.0]]),
              'intersection': torch.tensor([[1.0, 0.0, 0.0, 0.0]])}
    assert set(expect) == set(MASK_MODES)
    img, other = -torch.ones(1, 3, 8, 8), -torch.ones(1, 3, 8, 8)
    img[0, 0, :4] = 1               # Class 2 in the top half of the original, in the left half of the compared image.
    other[0, 0, :, :4] = 1
    for mode, want in expect.items():
        assert torch.equal(combine_masks(a, b, mode), want), mode
        region = {'segmenter': 'seg.py:segment', 'classes': [2], 'mode': mode}
        spec = load_spec({'links': [{'name': 's', 'axes': '0:2', 'region': region}]}, base_dir=str(tmp_path))
        assert spec.to_dict()['links'][0]['region']['mode'] == mode
        masks = RegionMasks(spec)
        assert masks.uses_variants == (mode != 'source')
        got = masks.for_batch(img, [other]).at(2, 2)[0, 0]
        assert torch.equal(got, want.reshape(2, 2)), mode
        # An override (LELSD's --mask-mode) replaces every link's mode; without the compared image: the source.
        assert torch.equal(RegionMasks(spec, mode='source').for_batch(img, [other]).at(2, 2)[0, 0], a.reshape(2, 2))
        assert torch.equal(masks.for_batch(img).at(2, 2)[0, 0], a.reshape(2, 2))
    with pytest.raises(ValueError, match='^mask mode must be one of source, union, mean, intersection'):
        RegionMasks(spec, mode='max')
