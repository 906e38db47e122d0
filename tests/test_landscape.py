"""The landscape scenes (labels follow the colour laws, classes move) and the demo's TorchScript segmenter, used
through a spec's segmenter region exactly as a user's would be."""

import pytest
import torch

from linkgan_plugin.demo.scenes import scene_stream
from linkgan_plugin.demo.segmenter import (held_out_accuracy, landscape_spec, save_segmenter, segmenter_accuracy,
                                           train_segmenter)
from linkgan_plugin.demo.landscape import (CLASS_COLOURS, GROUND, OBJECT, SKY, class_fractions,
                                      colour_labels, follows_colour_law, landscapes)
from linkgan_plugin.regions import RegionMasks
from linkgan_plugin.model_files import load_model_file
from linkgan_plugin.segmenters import semantic_mask
from linkgan_plugin.checks import SpecError
from linkgan_plugin.spec import load_spec

pytestmark = pytest.mark.usefixtures('one_thread')


def draw(n=64, resolution=32, seed=0):
    return landscapes(n, resolution, torch.Generator().manual_seed(seed))


@pytest.fixture(scope='module')
def segmenter_file(tmp_path_factory):
    """A demo segmenter trained briefly (100 steps: ~98% pixel accuracy) and saved as a torch.export program."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        path = tmp_path_factory.mktemp('seg') / 'seg.pt2'
        save_segmenter(train_segmenter(steps=100, seed=0), str(path))
    finally:
        torch.set_num_threads(threads)
    return path

#----------------------------------------------------------------------------
# Scenes.

def test_scenes_have_the_documented_shapes_and_every_pixel_follows_its_class_colour_law():
    images, labels = draw()
    assert images.shape == (64, 3, 32, 32) and images.dtype == torch.float32
    assert labels.shape == (64, 32, 32) and labels.dtype == torch.int64
    assert images.min() >= -1 and images.max() <= 1
    assert set(labels.unique().tolist()) == {SKY, GROUND, OBJECT}
    assert follows_colour_law(images, labels).all()
    # The laws are disjoint, so the colours alone give back the label map.
    assert torch.equal(colour_labels(images), labels)
    # Each class's pixels sit inside its own box and outside the others' (spot-check the separating channels).
    assert (images[:, 2][labels == SKY] >= CLASS_COLOURS[SKY][2][0]).all()
    assert (images[:, 0][labels == OBJECT] >= CLASS_COLOURS[OBJECT][0][0]).all()
    assert (images[:, 0][labels == GROUND] <= CLASS_COLOURS[GROUND][0][1]).all()
    # The law check is not vacuous: a wrong label map breaks it.
    assert not follows_colour_law(images, (labels + 1) % 3).any()
    # Each class has its own colour law with random hue and brightness: its mean colour varies between samples.
    for cls in (SKY, GROUND, OBJECT):
        m = (labels == cls).float()[:, None]
        mean = (images * m).sum(dim=[2, 3]) / m.sum(dim=[2, 3]).clamp(min=1)      # [N, 3]
        assert (mean[m.sum(dim=[1, 2, 3]) > 0].std(dim=0) > 0.08).all(), (cls, mean.std(dim=0))


def test_varied_skies_keep_the_layout_and_laws_and_give_the_sky_its_own_variation():
    # skies=True redraws only the sky: the same label maps and the same ground and object pixels as the plain
    # scenes; the colour laws still hold (colour_labels reads the classes back); and the sky varies far more than
    # the plain gradient, in mean colour (time of day, brightness) and within each image (gradient and clouds).
    plain, labels = draw(256, seed=5)
    skies, sky_labels = landscapes(256, 32, torch.Generator().manual_seed(5), skies=True)
    assert torch.equal(labels, sky_labels)
    rest = (labels != SKY)[:, None].expand_as(plain)
    assert torch.equal(plain[rest], skies[rest]) and not torch.equal(plain, skies)
    assert follows_colour_law(skies, labels).all() and torch.equal(colour_labels(skies), labels)
    assert torch.equal(next(scene_stream({'scene': 'skies', 'resolution': 32}, 8, seed=2))[0],
                       landscapes(8, 32, torch.Generator().manual_seed(2), skies=True)[0])

    def sky_stats(images):
        m = (labels == SKY).float()[:, None]
        count = m.sum(dim=[2, 3]).clamp(min=1)
        mean = (images * m).sum(dim=[2, 3]) / count                                   # [N, 3]
        spread = (((images - mean[:, :, None, None]) ** 2) * m).sum(dim=[2, 3]) / count
        return mean.std(dim=0), spread.sqrt().mean()
    (plain_mean_std, plain_spread), (sky_mean_std, sky_spread) = sky_stats(plain), sky_stats(skies)
    assert (sky_mean_std[:2] > 1.5 * plain_mean_std[:2]).all(), (plain_mean_std, sky_mean_std)      # Red and green.
    assert sky_spread > 1.2 * plain_spread, (plain_spread, sky_spread)


def test_colour_laws_are_disjoint_boxes_that_colour_labels_separates():
    for cls, ranges in CLASS_COLOURS.items():
        corners = torch.cartesian_prod(*[torch.tensor(r) for r in ranges])          # [8, 3] corners of the box
        images = corners.T[None, :, :, None]                                         # [1, 3, 8, 1]
        assert (colour_labels(images) == cls).all(), cls


def test_classes_change_shape_and_place_from_sample_to_sample():
    images, labels = draw(128)
    frac = class_fractions(labels)                                   # [N, 3]
    assert frac[:, SKY].std() > 0.05 and frac[:, SKY].min() < 0.35 and frac[:, SKY].max() > 0.6
    # The horizon: the first ground row of each column, per sample; it moves between samples and tilts/bends.
    ground_rows = (labels == GROUND).float().argmax(dim=1)           # [N, W]
    assert ground_rows.float().mean(dim=1).std() > 2.0               # pixels, between samples
    assert (ground_rows.max(dim=1).values - ground_rows.min(dim=1).values).float().mean() > 2.0
    # The object moves: its centroid column spreads over the image, and it is sometimes in the sky, sometimes not.
    obj = (labels == OBJECT).float()
    cols = (obj.sum(dim=1) * torch.arange(32.0)).sum(dim=1) / obj.sum(dim=[1, 2]).clamp(min=1)
    assert cols[obj.sum(dim=[1, 2]) > 0].std() > 4.0
    in_sky = (obj * (ground_rows[:, None, :] > torch.arange(32)[None, :, None])).sum(dim=[1, 2]) / obj.sum(dim=[1, 2]).clamp(min=1)
    assert (in_sky > 0.9).any() and (in_sky < 0.5).any()


def test_scenes_and_stream_are_reproducible_with_a_seed():
    a, la = draw(8, seed=3)
    b, lb = draw(8, seed=3)
    c, _ = draw(8, seed=4)
    assert torch.equal(a, b) and torch.equal(la, lb) and not torch.equal(a, c)
    s1, s2 = (scene_stream({'scene': 'landscape', 'resolution': 32}, 4, seed=7) for _ in range(2))
    x1, y1 = next(s1)
    x2, _ = next(s2)
    assert torch.equal(x1, x2) and y1.shape == (4, 0)
    assert s1.label_maps.shape == (4, 32, 32) and torch.equal(colour_labels(x1), s1.label_maps)
    x1b, _ = next(s1)
    assert not torch.equal(x1, x1b)                                  # The stream moves on.
    g = torch.Generator().manual_seed(7)
    assert torch.equal(landscapes(4, 32, g)[0], x1)                  # Same draws as the function.

#----------------------------------------------------------------------------
# The segmenter through the spec.

def test_segmenter_accuracy_of_an_oracle_and_of_a_constant_guess():
    images, labels = draw(16)
    oracle = lambda x: torch.nn.functional.one_hot(colour_labels(x), 3).permute(0, 3, 1, 2).float()
    acc = segmenter_accuracy(oracle, images, labels)
    assert acc['pixel_accuracy'] == 1.0 and acc['per_class_iou'] == [1.0, 1.0, 1.0]
    sky_only = lambda x: torch.stack([torch.ones_like(x[:, 0]), x[:, 0] * 0, x[:, 0] * 0], dim=1)
    acc = segmenter_accuracy(sky_only, images, labels)
    assert acc['pixel_accuracy'] == pytest.approx(float((labels == SKY).float().mean()))
    assert acc['per_class_iou'][GROUND] == 0.0 and acc['per_class_iou'][OBJECT] == 0.0


def test_trained_segmenter_is_accurate_on_held_out_sharp_and_blurred_scenes(segmenter_file):
    seg = load_model_file(str(segmenter_file), what='segmenter')
    acc = held_out_accuracy(seg, samples=128, seed=0, blur_sigma=1.0)
    assert acc['real']['pixel_accuracy'] > 0.95 and acc['blurred']['pixel_accuracy'] > 0.95
    assert acc['real']['per_class_iou'][SKY] > 0.95


def test_exported_segmenter_loads_through_a_spec_and_gives_per_sample_masks(segmenter_file):
    spec = load_spec(landscape_spec(segmenter_file.name), base_dir=str(segmenter_file.parent), w_dim=64)
    link = spec.links[0]
    assert link.name == 'sky' and list(link.axes) == list(range(16))
    assert link.region.kind == 'semantic' and link.region.classes == [SKY] and link.region.mode == 'source'
    assert link.region.segmenter == str(segmenter_file)                # Normalised to the absolute file.
    images, labels = draw(6, seed=11)
    masks = RegionMasks(spec).for_images(images)
    assert masks.shape == (6, 1, 32, 32) and masks.dtype == torch.float32
    sky = (labels == SKY).float()
    assert (masks[:, 0] == sky).float().mean() > 0.95
    assert not torch.equal(masks[0, 0], masks[1, 0])                  # Recomputed per sample.
    small = RegionMasks(spec).for_images(images, 16, 16)
    assert small.shape == (6, 1, 16, 16)


def test_landscape_spec_modes_and_errors(segmenter_file):
    for mode in ('source', 'union', 'mean'):
        assert load_spec(landscape_spec(str(segmenter_file), '16:32', mode), w_dim=64).links[0].region.mode == mode
    with pytest.raises(SpecError, match='mode'):
        load_spec(landscape_spec(str(segmenter_file), mode='both'), w_dim=64)
    with pytest.raises(SpecError, match='not found'):
        load_spec(landscape_spec(str(segmenter_file) + '.missing'), w_dim=64)

#----------------------------------------------------------------------------
# Semantic masks: no_grad, per sample, union/mean segment the perturbed images.

CALLS = []


def recording_segmenter(images):
    """Labels from the colour laws; records grad mode and batch size of every call."""
    CALLS.append((torch.is_grad_enabled(), images.requires_grad, images.shape[0]))
    return colour_labels(images)


def test_semantic_masks_are_computed_under_no_grad_per_sample_and_union_mean_use_perturbed_images(tmp_path):
    module = tmp_path / 'segs.py'
    module.write_text('from test_landscape import recording_segmenter\n')
    images, labels = draw(4, seed=5)
    other, other_labels = draw(4, seed=6)
    x = images.clone().requires_grad_(True)
    for mode in ('source', 'union', 'mean'):
        spec = load_spec({'links': [{'name': 'sky', 'axes': '0:8', 'region': {
            'segmenter': f'{module}:recording_segmenter', 'classes': [SKY], 'mode': mode}}]}, w_dim=32)
        CALLS.clear()
        masks = RegionMasks(spec).for_batch(x * 1.0, [other.clone().requires_grad_(True) * 1.0]).at(32, 32)
        assert CALLS and all(not grad and not req for grad, req, _ in CALLS)     # no_grad, detached input.
        assert [n for _, _, n in CALLS] == [4] * (1 if mode == 'source' else 2)  # union/mean: the variant too.
        assert not masks.requires_grad and masks.shape == (4, 1, 32, 32)
        src, per = (labels == SKY).float(), (other_labels == SKY).float()
        expected = {'source': src, 'union': torch.maximum(src, per), 'mean': 0.5 * (src + per)}[mode]
        assert torch.equal(masks[:, 0], expected)
    # Per sample: permuting the batch permutes the masks.
    perm = torch.tensor([2, 0, 3, 1])
    seg = recording_segmenter
    assert torch.equal(semantic_mask(seg, images[perm], [SKY], 32, 32), semantic_mask(seg, images, [SKY], 32, 32)[perm])
