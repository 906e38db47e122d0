"""The procedural aligned faces (demo/faces.py): shapes and factors, reproducibility, the eyes, nose and mouth inside
the spec's face presets at 32 and 64 px, shared factors that cross the parts' boxes, part factors that stay in
their own, and the scene's registration in demo/data.py and the demo's commands."""

import hashlib

import pytest
import torch

from linkgan_plugin.cli.demo import demo_command
from linkgan_plugin.cli.scenes import scenes_command
from linkgan_plugin.demo.scenes import scene_images, scene_of, scene_stream, SCENES
from linkgan_plugin.demo.faces import (BACKGROUND, CLASS_NAMES, COLOUR_FACTORS, EYES, FACTOR_NAMES, FACTOR_PARTS,
                                       FACTOR_RANGES, MOUTH, NOSE, PART_FACTORS, PRESET_CLASSES, SHARED_FACTORS,
                                       class_fractions, faces)
from linkgan_plugin.regions import preset_box

pytestmark = pytest.mark.usefixtures('one_thread')


def draw(n=64, resolution=32, seed=0, overrides=None):
    return faces(n, resolution, torch.Generator().manual_seed(seed), overrides=overrides)


def box_mask(name, resolution):
    """Bool [R, R]: the pixels whose centre lies in the preset's box (edges included)."""
    x0, y0, x1, y1 = preset_box(name)
    t = (torch.arange(resolution, dtype=torch.float32) + 0.5) / resolution
    return ((t[:, None] >= y0) & (t[:, None] <= y1)) & ((t[None, :] >= x0) & (t[None, :] <= x1))

#----------------------------------------------------------------------------

@pytest.mark.parametrize('resolution', [32, 64])
def test_faces_have_the_documented_shapes_ranges_classes_and_factors(resolution):
    images, labels, factors = draw(32, resolution)
    assert images.shape == (32, 3, resolution, resolution) and images.dtype == torch.float32
    assert labels.shape == (32, resolution, resolution) and labels.dtype == torch.int64
    assert images.min() >= -1 and images.max() <= 1 and images.std() > 0.2
    assert set(labels.unique().tolist()) == set(range(len(CLASS_NAMES)))
    assert set(SHARED_FACTORS).isdisjoint(PART_FACTORS) and list(factors) == list(FACTOR_NAMES)
    for name, value in factors.items():
        assert value.dtype == torch.float32 and value.shape == ((32, 3) if name in COLOUR_FACTORS else (32,)), name
        low, high = FACTOR_RANGES.get(name, (0.0, 1.0))
        assert value.min() >= low and value.max() <= high and value.std() > 0, name


def test_faces_and_stream_are_reproducible_and_never_touch_the_global_rng():
    a, la, fa = draw(8, seed=3)
    b, lb, fb = draw(8, seed=3)
    c, _, _ = draw(8, seed=4)
    assert torch.equal(a, b) and torch.equal(la, lb) and all(torch.equal(fa[k], fb[k]) for k in fa)
    assert not torch.equal(a, c)
    state = torch.get_rng_state()
    d, _, _ = faces(8)                                               # No generator: a fresh one seeded 0.
    assert torch.equal(torch.get_rng_state(), state) and torch.equal(d, draw(8, seed=0)[0])

    stream = scene_stream({'scene': 'faces', 'resolution': 32}, 4, seed=7)
    x1, y1 = next(stream)
    assert y1.shape == (4, 0) and stream.label_maps.shape == (4, 32, 32) and stream.factors['smile'].shape == (4,)
    g = torch.Generator().manual_seed(7)
    images, labels, _ = faces(4, 32, g)                              # Same draws as the function ...
    assert torch.equal(images, x1) and torch.equal(labels, stream.label_maps)
    x2, _ = next(stream)
    assert torch.equal(faces(4, 32, g)[0], x2) and not torch.equal(x1, x2)   # ... batch after batch.


@pytest.mark.parametrize('resolution', [32, 64])
def test_eyes_nose_and_mouth_lie_inside_their_preset_boxes_on_every_face(resolution):
    _, labels, _ = draw(128 if resolution == 32 else 48, resolution, seed=1)
    for name, cls in PRESET_CLASSES.items():
        part = labels == cls
        count = part.sum(dim=[1, 2])
        inside = (part & box_mask(name, resolution)).sum(dim=[1, 2]) / count.clamp(min=1)
        assert (count > 0).all(), (name, count.min())                 # The part is drawn on every face ...
        assert (inside >= 0.95).all(), (name, inside.min())           # ... inside its preset's box.
        # The box is about the part: it is not mostly something else (hair, background).
        assert ((labels == BACKGROUND) & box_mask(name, resolution)).sum() == 0, name


def test_shared_factors_cross_the_eyes_nose_and_mouth_boxes():
    # Skin tone, lighting and exposure are the whole face's: the mean brightness of the three parts' boxes
    # correlates across faces (regions are not the data's independent factors).
    images, _, _ = draw(512, seed=2)
    brightness = images.mean(dim=1)                                   # [N, R, R]
    means = torch.stack([(brightness * box_mask(name, 32)).sum(dim=[1, 2]) / box_mask(name, 32).sum()
                         for name in ('eyes', 'nose', 'mouth')])      # [3, N]
    corr = torch.corrcoef(means)
    assert (corr[torch.triu_indices(3, 3, 1).unbind()] > 0.3).all(), corr


@pytest.mark.parametrize('factor, low, high, changed, kept', [
    ('mouth_open', 0.0, 1.0, 'mouth', ('eyes', 'nose')),
    ('smile', -0.5, 1.0, 'mouth', ('eyes', 'nose')),
    ('eye_open', 0.4, 1.0, 'eyes', ('nose', 'mouth')),
    ('nose_width', 0.04, 0.06, 'nose', ('mouth',)),
])
def test_a_part_factor_changes_its_own_box_and_leaves_the_others_bit_for_bit(factor, low, high, changed, kept):
    a, la, fa = draw(16, seed=5, overrides={factor: low})
    b, lb, fb = draw(16, seed=5, overrides={factor: torch.full([16], high)})
    assert all(torch.equal(fa[k], fb[k]) for k in FACTOR_NAMES if k != factor)   # Only the one factor moved.
    box = box_mask(changed, 32)
    assert ((a - b).abs().amax(dim=1)[:, box].amax(dim=1) > 0.02).all()        # Its box changes on every face,
    assert (la != lb)[:, box].any(dim=1).float().mean() >= 0.5                  # its part's shape on most ...
    for name in kept:
        other = box_mask(name, 32) & ~box
        assert torch.equal(a[:, :, other], b[:, :, other]) and torch.equal(la[:, other], lb[:, other]), name


def test_class_fractions_vary_between_faces():
    _, labels, _ = draw(128, seed=6)
    frac = class_fractions(labels)                                    # [N, classes]
    assert torch.allclose(frac.sum(dim=1), torch.ones(128))
    assert (frac.std(dim=0) > 0).all()
    for cls in (EYES, NOSE, MOUTH):
        assert frac[:, cls].max() > 1.5 * frac[:, cls].min(), CLASS_NAMES[cls]


@pytest.mark.parametrize('kwargs, message', [
    (dict(batch=4, resolution=8), 'resolution'),
    (dict(batch=4, resolution=32.0), 'resolution'),
    (dict(batch=4, resolution=True), 'resolution'),
    (dict(batch=0), 'batch'),
    (dict(batch=4, overrides={'moustache': 1.0}), "'moustache'"),
])
def test_bad_arguments_give_a_clear_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        faces(**kwargs)


def test_faces_are_a_registered_scene_of_the_demo():
    assert 'faces' in SCENES                                    # A --scene choice of every demo command,
    for command in (demo_command, scenes_command):
        assert 'faces' in next(p for p in command.params if p.name == 'scene').type.choices, command.name
    settings = {'scene': 'faces', 'resolution': 32, 'cells': 2}
    assert not scene_of(settings).semantic                      # a box scene (no segmenter).
    # Every part factor belongs to one face part, named like its preset.
    assert set(FACTOR_PARTS) == set(PRESET_CLASSES) and sum(FACTOR_PARTS.values(), ()) == PART_FACTORS
    images, labels = next(scene_stream(settings, 4, seed=9))
    assert labels.shape == (4, 0) and torch.equal(images, faces(4, 32, torch.Generator().manual_seed(9))[0])
    assert torch.equal(scene_images(settings, 3, torch.Generator().manual_seed(1)), draw(3, seed=1)[0])


# sha256 (first 16 hex digits) of images, labels and factors of seeded batches, taken before faces() was split into
# its painters and its primitives moved to drawing.py (torch 2.13 CPU, one thread): the committed networks were
# trained on this output, so it must stay bit for bit the same.
FROZEN = [((32, 0, None), ('49776b9e58e8aa47', '6bb4bdb8789e5c43', 'c5d87bdb6114fa5d')),
          ((64, 1, None), ('129ca0730433201a', '9d56bd33c1355877', '43d485e97d2126a2')),
          ((32, 2, {'mouth_open': 1.0}), ('9bd2d299d10af5b0', 'bc801b41334b668f', '1148ee096213db12')),
          ((48, 4, {'gaze': -1.0}), ('f3c4e1807e473ce7', 'd1a466ac39c243cd', '12577e64e027780d'))]


def digest(*tensors):
    h = hashlib.sha256()
    for t in tensors:
        h.update(t.contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


@pytest.mark.parametrize('args, expected', FROZEN)
def test_faces_output_is_bit_for_bit_the_frozen_one(args, expected):
    resolution, seed, overrides = args
    images, labels, factors = draw(64, resolution, seed, overrides)
    assert (digest(images), digest(labels), digest(*factors.values())) == expected
