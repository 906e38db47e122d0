"""Quality that sees collapse: precision / recall (analysis/coverage.py) in the demo's factor space
(demo/factors.py), beside SWD (analysis/quality.py) and their real-vs-real floors.

The point of the file is `test_coverage_sees_what_swd_cannot`: against the shipped baseline's samples, 16 real
scenes repeated, a set with one quadrant frozen, a blurred set and a constant set each score a lower recall, real
scenes score near their floor, and at least one degenerate set (the repeated one) scores a *better* SWD than the
baseline: SWD alone would rank it above a trained generator.
"""

import math

import pytest
import torch

from linkgan_plugin.analysis.coverage import (columns_of, coverage, detail_energy, feature_coverage, inside_manifold,
                                              knn_radii, normalise_features, precision_recall, RandomConvFeatures)
from linkgan_plugin.analysis.datasets import generated_images
from linkgan_plugin.analysis.generator import GeneratorAdapter
from linkgan_plugin.analysis.metrics import evaluate_links
from linkgan_plugin.analysis.quality import sliced_wasserstein, swd_floor
from linkgan_plugin.demo.baseline import load_baseline_state
from linkgan_plugin.demo.data import scenes
from linkgan_plugin.demo.evaluation import evaluate_model, floor_scenes, real_scenes
from linkgan_plugin.demo.factors import (factor_accuracy, factor_features, FACTOR_DEFAULTS, factor_settings,
                                         FactorFeatures, load_factor_regressor)
from linkgan_plugin.demo.scenes import cell_factors, scene_of
from linkgan_plugin.demo.segmenter import gaussian_blur
from linkgan_plugin.demo.settings import DEMO_DEFAULTS, demo_spec
from linkgan_plugin.toy.networks import ToyGeneratorSG2ADA

#----------------------------------------------------------------------------
# Precision and recall on known point sets.

def test_knn_radii_of_points_on_a_line():
    x = torch.tensor([0.0, 1.0, 3.0, 6.0, 10.0])[:, None]
    assert knn_radii(x, k=1).tolist() == [1.0, 1.0, 4.0, 9.0, 16.0]          # Squared distances.
    assert knn_radii(x, k=2).tolist() == [9.0, 4.0, 9.0, 16.0, 49.0]


def test_identical_sets_score_one_and_one():
    x = torch.randn(300, 8, generator=torch.Generator().manual_seed(0))
    pr = precision_recall(x, x.clone())
    assert pr['precision'] == 1.0 and pr['recall'] == 1.0 and pr['k'] == 3 and pr['real'] == pr['fake'] == 300


def test_far_apart_sets_score_zero_and_zero():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(200, 8, generator=g), torch.randn(200, 8, generator=g) + 100
    pr = precision_recall(a, b)
    assert pr['precision'] == 0.0 and pr['recall'] == 0.0


def test_a_subset_has_full_precision_and_partial_recall():
    real = torch.randn(400, 4, generator=torch.Generator().manual_seed(2))
    fake = real[real[:, 0] < 0]                                     # Half the real points: one side only.
    pr = precision_recall(real, fake)
    assert pr['precision'] == 1.0
    assert 0.4 < pr['recall'] < 0.8


def test_repeated_points_cover_only_themselves():
    real = torch.randn(256, 6, generator=torch.Generator().manual_seed(3))
    fake = real[:16].repeat(16, 1)                                  # 16 distinct points, 16 copies each: radius 0.
    pr = precision_recall(real, fake)
    assert pr['precision'] == 1.0 and pr['recall'] == pytest.approx(16 / 256)


def test_result_does_not_depend_on_the_chunk_size():
    g = torch.Generator().manual_seed(4)
    real, fake = torch.randn(301, 5, generator=g), torch.randn(257, 5, generator=g) * 1.3
    assert precision_recall(real, fake, chunk=7) == precision_recall(real, fake, chunk=1024)
    # The radii agree to float64 round-off (BLAS blocks a [13, N] and a [301, N] product differently).
    assert torch.allclose(knn_radii(real, chunk=13), knn_radii(real), rtol=1e-12, atol=0)


def test_inside_manifold_uses_closed_balls():
    centres, radii2 = torch.tensor([[0.0, 0.0]]), torch.tensor([4.0])
    points = torch.tensor([[2.0, 0.0], [2.0001, 0.0], [0.0, -1.0]])
    assert inside_manifold(points, centres, radii2).tolist() == [True, False, True]


def test_bad_features_are_refused_with_the_argument_name():
    with pytest.raises(ValueError, match='real_features'):
        precision_recall(torch.zeros(10), torch.zeros(10, 2))
    with pytest.raises(ValueError, match='dimensions'):
        precision_recall(torch.zeros(10, 3), torch.zeros(10, 2))
    with pytest.raises(ValueError, match='more than k=3'):
        knn_radii(torch.zeros(3, 2))
    with pytest.raises(ValueError, match='NaN'):
        precision_recall(torch.full([10, 2], float('nan')), torch.zeros(10, 2))

#----------------------------------------------------------------------------
# Normalisation, parts, detail, the floor, the fallback features.

def test_every_group_gets_unit_variance_on_the_reference():
    g = torch.Generator().manual_seed(5)
    ref = torch.cat([torch.randn(500, 3, generator=g) * 100, torch.randn(500, 16, generator=g) * 0.01], dim=1)
    groups = [('colour', 0, 3), ('shape', 3, 19)]
    r, (o,) = normalise_features(ref, [ref[:10]], groups)
    for _, a, b in groups:
        assert float(r[:, a:b].var(dim=0).sum()) == pytest.approx(1.0)
    assert torch.allclose(o, r[:10])
    assert columns_of(groups, ['shape', 'colour']).tolist() == list(range(3, 19)) + [0, 1, 2]


def test_worst_part_is_the_headline():
    g = torch.Generator().manual_seed(6)
    real = torch.randn(256, 4, generator=g)
    fake = torch.randn(256, 4, generator=g)
    fake[:, 2:] = fake[0, 2:]                                       # Part 'b' frozen, part 'a' fine.
    groups, parts = [('a', 0, 2), ('b', 2, 4)], {'a': ['a'], 'b': ['b']}
    cov = feature_coverage(real, fake, groups, parts)
    assert cov['measure'] == 'worst part' and cov['parts']['b']['recall'] == cov['recall'] == 0.0
    assert cov['parts']['a']['recall'] > 0.7
    assert feature_coverage(real, fake, groups)['measure'] == 'joint'


def test_detail_energy_drops_with_blur():
    x = scenes(64, 32, 2, generator=torch.Generator().manual_seed(7))
    sharp = detail_energy(x)
    soft = detail_energy(gaussian_blur(x, torch.full([64], 1.0)))
    assert sharp.shape == (64, 4) and (soft.mean(dim=0) < sharp.mean(dim=0) - 0.5).all()
    assert torch.allclose(detail_energy(torch.zeros(2, 3, 32, 32)), torch.tensor(math.log(1e-4)))


def test_detail_energy_per_mask_as_the_faces_boxes_use_it():
    # A mask per region (the faces' preset boxes) is the weighted mean of the same band energy: quadrant masks give
    # the 2 x 2 grid's values; a fractional mask weighs its pixels.
    x = scenes(8, 32, 2, generator=torch.Generator().manual_seed(7))
    quadrants = torch.zeros(4, 32, 32)
    for i in range(4):
        quadrants[i, 16 * (i // 2):16 * (i // 2 + 1), 16 * (i % 2):16 * (i % 2 + 1)] = 1
    assert torch.allclose(detail_energy(x, masks=quadrants), detail_energy(x, 2), atol=1e-5)
    assert torch.allclose(detail_energy(x, masks=quadrants[:1] * 0.5), detail_energy(x, 2)[:, :1], atol=1e-5)
    with pytest.raises(ValueError, match='masks'):
        detail_energy(x, masks=quadrants[:, :16])


def test_swd_floor_is_two_disjoint_real_sets():
    pool = scenes(64, 32, 2, generator=torch.Generator().manual_seed(8))
    floor = swd_floor(pool, 32, directions=64)
    assert floor['images'] == 32
    assert floor['mean'] == sliced_wasserstein(pool[32:], pool[:32], directions=64)['mean']
    with pytest.raises(ValueError, match='2 x count'):
        swd_floor(pool, 40)


def test_swd_normalised_by_the_reference_sees_a_loss_of_contrast():
    # Half-contrast real scenes (images * 0.5): every per-channel gain cancels in a self-normalised SWD (Progressive
    # GAN's), which scores them exactly like the real set; normalised by the reference set they are far off.
    pool = scenes(512, 32, 2, generator=torch.Generator().manual_seed(10))
    real, other = pool[:256], pool[256:]
    floor = swd_floor(pool, 256)['mean']
    faded = {n: sliced_wasserstein(other * 0.5, real, normalisation=n)['mean'] for n in ('reference', 'own')}
    assert faded['own'] == pytest.approx(sliced_wasserstein(other, real, normalisation='own')['mean'], rel=1e-4)
    assert faded['own'] < 1.2 * floor
    assert faded['reference'] > 3 * floor, (faded, floor)
    assert sliced_wasserstein(other, real)['mean'] == floor          # 'reference' is the default.
    with pytest.raises(ValueError, match='normalisation'):
        sliced_wasserstein(real, real, normalisation='none')


def test_random_features_are_fixed_and_leave_the_global_rng_alone():
    x = scenes(8, 32, 2, generator=torch.Generator().manual_seed(9))
    state = torch.random.get_rng_state()
    a, b = RandomConvFeatures()(x), RandomConvFeatures()(x)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.equal(a, b) and a.shape == (8, RandomConvFeatures().groups[-1][2])
    assert RandomConvFeatures()(torch.zeros(2, 1, 48, 48)).shape == a[:2].shape      # Grey, another size.

#----------------------------------------------------------------------------
# The demo's factor space.

def test_cell_factors_read_a_drawn_scene():
    img = torch.full([1, 3, 32, 32], -0.5)                          # Background everywhere...
    img[:, :, 16:, 16:] = 0.25                                      # ...cell 3: another background,
    img[:, :, 24:, 16:] = 0.75                                      # and a bottom half in a foreground colour.
    f, groups = cell_factors(img, cells=2)
    assert f.shape == (1, 88) and groups[0] == ('cell0/background', 0, 3) and groups[-1] == ('cell3/shape', 72, 88)
    cell0, cell3 = f[0, :22], f[0, 66:]
    assert torch.allclose(cell0[:6], torch.full([6], -0.5)) and cell0[6:].abs().sum() == 0     # Blank: fg = bg.
    assert torch.allclose(cell3[:3], torch.full([3], 0.25)) and torch.allclose(cell3[3:6], torch.full([3], 0.75))
    assert cell3[6:].tolist() == [0.0] * 8 + [1.0] * 8              # The bottom two rows of the 4 x 4 grid.


def test_shipped_regressor_matches_the_code_and_reads_scenes():
    settings = dict(DEMO_DEFAULTS)
    model, key, kwargs = load_factor_regressor(scene_of('cells').regressor_path())
    assert key == ('cells', 32, 2) and kwargs == FACTOR_DEFAULTS
    state = torch.random.get_rng_state()
    features = factor_features(settings, train=False)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert isinstance(features, FactorFeatures) and features.name == 'factors:cells'
    assert set(features.parts) == {'cell0', 'cell1', 'cell2', 'cell3'}
    accuracy = factor_accuracy(features.regressor, settings, samples=256)
    assert accuracy['all'] > 0.75, accuracy
    assert factor_features({**settings, 'resolution': 16}, train=False) is None      # Nothing ships for 16 px.

@pytest.mark.parametrize('scene', ['landscape', 'skies'])
def test_shipped_landscape_regressors_read_their_own_scenes(scene):
    # Each landscape scene ships its own regressor; the varied skies' adds the sky's spread to the sky part, and
    # reads it back from held-out scenes (a regressor of the plain scenes has no such output).
    settings = {**DEMO_DEFAULTS, 'scene': scene}
    model, key, kwargs = load_factor_regressor(scene_of(scene).regressor_path())
    assert key == (scene, 32, 0) and kwargs == FACTOR_DEFAULTS
    features = factor_features(settings, train=False)
    assert features.name == f'factors:{scene}'
    accuracy = factor_accuracy(features.regressor, settings, samples=256)
    assert accuracy['all'] > 0.8 and accuracy['sky'] > 0.8, accuracy
    if scene == 'skies':
        assert features.parts['sky'] == ['sky', 'sky_spread'] and accuracy['sky_spread'] > 0.4, accuracy
    else:
        assert features.parts['sky'] == ['sky'] and 'sky_spread' not in accuracy

def test_shipped_faces_regressor_reads_held_out_faces(one_thread):
    # The faces' space: faces.py's factor values (shared and per part) and the detail of the whole image and of each
    # preset box. At 32 px, with the faces' own settings (factors.SCENE_FACTOR_SETTINGS), held-out R^2, mean over
    # each part's factors, at 256 and 1024 faces: shared 0.91 / 0.91, eyes 0.57 / 0.56, nose 0.02 / 0.02 (a 5 x 6
    # pixel box whose width and length hardly show), mouth 0.41 / 0.40; 'all' 0.78.
    from linkgan_plugin.demo.faces import FACTOR_PARTS, SHARED_FACTORS
    settings = {**DEMO_DEFAULTS, 'scene': 'faces'}
    model, key, kwargs = load_factor_regressor(scene_of('faces').regressor_path())
    assert key == ('faces', 32, 0) and kwargs == factor_settings('faces') != FACTOR_DEFAULTS
    features = factor_features(settings, train=False)
    assert features.name == 'factors:faces'
    assert features.parts == {'shared': [*SHARED_FACTORS, 'shared/detail'],
                              **{part: [*names, f'{part}/detail'] for part, names in FACTOR_PARTS.items()}}
    assert features(torch.zeros(2, 3, 32, 32)).shape == (2, features.groups[-1][2]) == (2, 33 + 4)
    accuracy = factor_accuracy(features.regressor, settings, samples=256)
    part = {name: sum(accuracy[f] for f in names) / len(names)
            for name, names in {'shared': SHARED_FACTORS, **FACTOR_PARTS}.items()}
    assert accuracy['all'] > 0.7 and part['shared'] > 0.85, (part, accuracy)
    assert min(accuracy[f] for f in SHARED_FACTORS) > 0.6, accuracy
    assert part['eyes'] > 0.45 and part['mouth'] > 0.3, part
    assert accuracy['gaze'] > 0.6 and accuracy['brow_height'] > 0.5, accuracy
    assert min(part.values()) > -0.1, part                          # No part reads worse than its mean.


def test_faces_coverage_sees_a_frozen_part_and_collapse(one_thread):
    # Part by part: a set whose mouth box is one face's in every image loses the mouth's recall and keeps the eyes';
    # the same for the eyes; 16 faces repeated cover nothing; real faces cover each other (floor).
    from linkgan_plugin.demo.faces import faces
    from linkgan_plugin.regions import preset_box
    settings = {**DEMO_DEFAULTS, 'scene': 'faces', 'samples': 256}
    features = factor_features(settings, train=False)
    real, other = real_scenes(settings), floor_scenes(settings)

    def frozen(name):
        x0, y0, x1, y1 = [round(v * 32) for v in preset_box(name)]
        x = other.clone()
        x[:, :, y0:y1, x0:x1] = x[:1, :, y0:y1, x0:x1]
        return coverage(x, real, features)['parts']
    floor = coverage(other, real, features)
    assert floor['recall'] > 0.75 and floor['precision'] > 0.75, floor
    repeated = faces(16, 32, torch.Generator().manual_seed(11))[0].repeat(16, 1, 1, 1)
    assert coverage(repeated, real, features)['recall'] == 0.0
    mouth, eyes = frozen('mouth'), frozen('eyes')
    assert mouth['mouth']['recall'] < 0.45 and mouth['eyes']['recall'] > 0.7, mouth
    assert eyes['eyes']['recall'] < 0.5 and eyes['mouth']['recall'] > 0.7, eyes

#----------------------------------------------------------------------------
# Collapse: coverage sees it, SWD does not.

N = 256         # Images per set: every set and the baseline's samples (the margins below hold at 256 and 1024).


@pytest.fixture(scope='module')
def measured():
    """Coverage (the factor space and the fallback) and SWD of every set against one set of real scenes."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    settings = {**DEMO_DEFAULTS, 'samples': N}
    data = load_baseline_state()
    G = ToyGeneratorSG2ADA(**data['G_init_kwargs'])
    G.load_state_dict(data['G_ema_state'])
    real = real_scenes(settings)
    draw = lambda seed, n=N: scenes(n, 32, 2, generator=torch.Generator().manual_seed(seed))
    frozen = draw(12).clone()
    frozen[:, :, :16, :16] = frozen[:1, :, :16, :16]                # The top-left cell: one content in every image.
    sets = {
        'baseline':        generated_images(GeneratorAdapter(G.eval().requires_grad_(False)), N, seed=0),
        'real':            floor_scenes(settings),
        '16 repeated':     draw(11, 16).repeat(N // 16, 1, 1, 1),
        'frozen quadrant': frozen,
        'blurred':         gaussian_blur(draw(13), torch.full([N], 1.0)),   # The baseline is sharper than 0.5 px.
        'constant':        torch.zeros(N, 3, 32, 32),
    }
    factors, fallback = factor_features(settings, train=False), RandomConvFeatures()
    fr, br = factors(real), fallback(real)
    out = {}
    for name, images in sets.items():
        out[name] = {
            'factors': feature_coverage(fr, factors(images), factors.groups, factors.parts),
            'fallback': feature_coverage(br, fallback(images), fallback.groups),
        }
        if name in ('baseline', '16 repeated'):
            out[name]['swd'] = sliced_wasserstein(images, real, seed=0)['mean']
    torch.set_num_threads(threads)
    return out


DEGENERATE = ('16 repeated', 'frozen quadrant', 'blurred', 'constant')


@pytest.mark.parametrize('name', DEGENERATE)
def test_degenerate_sets_cover_less_than_the_baseline(measured, name):
    baseline, degenerate = measured['baseline']['factors'], measured[name]['factors']
    assert degenerate['recall'] < baseline['recall'] - 0.15, (name, degenerate, baseline)
    # The generic fallback space ranks them the same way (its joint recall).
    assert measured[name]['fallback']['recall'] < measured['baseline']['fallback']['recall'] - 0.1


def test_real_scenes_score_near_their_floor(measured):
    real, baseline = measured['real']['factors'], measured['baseline']['factors']
    assert real['recall'] > 0.8 and real['precision'] > 0.8, real
    assert real['recall'] > baseline['recall'] + 0.2                # The baseline is a small, imperfect generator.
    assert measured['real']['fallback']['recall'] > 0.7


def test_coverage_sees_what_swd_cannot(measured):
    """SWD ranks 16 repeated real scenes above the shipped baseline; recall ranks them at 0."""
    assert measured['16 repeated']['swd'] < measured['baseline']['swd']
    assert measured['16 repeated']['factors']['recall'] == 0.0
    assert measured['baseline']['factors']['recall'] > 0.3
    # The joint recall over all cells cannot rank a frozen cell below the baseline; the worst part can.
    assert measured['frozen quadrant']['factors']['parts']['cell0']['recall'] == 0.0

#----------------------------------------------------------------------------
# The demo's evaluation: coverage and floors added, everything else bit-identical.

def test_evaluate_model_adds_coverage_and_keeps_the_other_numbers(one_thread):
    settings = {**DEMO_DEFAULTS, 'samples': 32}
    data = load_baseline_state()
    G = ToyGeneratorSG2ADA(**data['G_init_kwargs'])
    G.load_state_dict(data['G_ema_state'])
    G.eval().requires_grad_(False)
    spec = demo_spec(w_dim=settings['w_dim'])

    torch.manual_seed(123)
    result = evaluate_model(G, spec, settings)
    after = torch.random.get_rng_state()

    torch.manual_seed(123)                                          # What evaluate_model computed before coverage.
    gen = GeneratorAdapter(G)
    links = evaluate_links(gen, spec, samples=32, batch=64, seed=settings['seed'])['results']['image']
    fake = generated_images(gen, 32, seed=settings['seed'])
    swd = sliced_wasserstein(fake, real_scenes(settings), seed=settings['seed'])
    assert torch.equal(torch.random.get_rng_state(), after)         # Coverage drew nothing from the global RNG.
    assert result['links'] == links and result['quality']['swd'] == swd
    assert result['pixel_std'] == float(fake.std(dim=0).mean())

    cov = result['quality']['coverage']
    assert cov['features'] == 'factors:cells' and cov['k'] == 3 and cov['measure'] == 'worst part'
    assert 0 <= cov['recall'] <= 1 and 0 <= cov['precision'] <= 1
    assert set(cov['floor']) == {'precision', 'recall', 'joint', 'parts'}
    floor = result['quality']['swd_floor']
    assert floor['images'] == 32 and floor['mean'] > 0 and result['quality']['images'] == 32
    assert coverage(fake, real_scenes(settings), factor_features(settings, train=False))['recall'] == cov['recall']

#----------------------------------------------------------------------------
