"""Link spec: every accepted form, every error path (with its JSON path), JSON round-trip, `linkgan spec check`."""

import json
import os

import pytest
from click.testing import CliRunner
from PIL import Image

from linkgan_plugin.cli import main
from linkgan_plugin.checks import SpecError
from linkgan_plugin.regions import preset_box
from linkgan_plugin.spec import DEFAULTS, OPTIONS, load_spec, options_markdown, split_loss_kwargs
from toy_checkpoints import read_text


def one_link(**region):
    return {'links': [{'name': 'a', 'axes': '0:8', 'region': region or {'box': [0, 0, 0.5, 0.5]}}]}


def errors_of(data, **kwargs):
    with pytest.raises(SpecError) as info:
        load_spec(data, **kwargs)
    return info.value.errors


def test_defaults_and_axis_forms():
    spec = load_spec({'links': [
        {'name': 'r', 'axes': '0:4', 'region': {'box': [0, 0, 0.5, 0.5]}},
        {'name': 'd', 'axes': {'start': 4, 'stop': 6}, 'region': 'eyes'},
        {'name': 'l', 'axes': [9, 7, 8], 'region': {'boxes': [[0.5, 0.5, 1, 1], [0, 0.5, 0.25, 1]]}},
    ]})
    assert [link.axes for link in spec.links] == [[0, 1, 2, 3], [4, 5], [7, 8, 9]]
    assert spec.links[1].region.boxes == [preset_box('eyes')]
    assert len(spec.links[2].region.boxes) == 2
    for key, value in DEFAULTS.items():
        assert getattr(spec, key) == value


def test_round_trip_through_json(tmp_path):
    mask = Image.new('L', (10, 6), 0)
    mask.paste(255, (0, 0, 5, 6))                   # Left half: a mask that is neither empty nor everything.
    mask.save(tmp_path / 'm.png')
    data = {'links': [{'name': 'eyes', 'axes': '0:64', 'region': {'preset': 'eyes'}},
                      {'name': 'm', 'axes': [70, 72], 'region': {'mask': 'm.png'}}],
            'alpha': 0.5, 'interval': 4, 'reduction': 'sum', 'eg3d_targets': ['image']}
    path = tmp_path / 'spec.json'
    path.write_text(json.dumps(data))
    spec = load_spec(str(path))
    assert spec.links[1].region.mask_path == str(tmp_path / 'm.png')  # relative to the spec file
    again = load_spec(json.loads(json.dumps(spec.to_dict())))
    assert again.to_dict() == spec.to_dict()
    assert again.alpha == 0.5 and again.interval == 4 and again.reduction == 'sum'


def test_select_keeps_the_spec_order_and_options_and_names_an_unknown_link():
    spec = load_spec({'links': [{'name': n, 'axes': [i], 'region': 'eyes'} for i, n in enumerate('abc')], 'alpha': 0.5})
    assert spec.select(None) is spec and spec.select([]) is spec
    part = spec.select(['c', 'a'])
    assert part.names == ['a', 'c'] and part.alpha == 0.5 and part.links[1] is spec.links[2]
    with pytest.raises(ValueError, match=r"unknown link 'x' \(the spec has: a, b, c\)"):
        spec.select(['a', 'x'])


def test_python_arguments_are_checked_by_the_spec_validators():
    from linkgan_plugin.editing import lelsd, project
    from linkgan_plugin.checks import Choice, check_argument
    assert check_argument('space', 'w', Choice(('w', 'wplus'))) == 'w'
    for bad in ('z', ['w'], None):
        with pytest.raises(ValueError, match=r'^space must be one of w, wplus, got '):
            check_argument('space', bad, Choice(('w', 'wplus')))
    with pytest.raises(ValueError, match='^space must be one of w, wplus'):
        project.project_images(None, None, space='W+')
    with pytest.raises(ValueError, match='^space must be one of w, wplus'):
        lelsd.find_directions(None, None, space='W+')


def test_inline_json_string():
    spec = load_spec('{"links": [{"name": "a", "axes": "3:5", "region": "mouth"}]}')
    assert spec.links[0].axes == [3, 4]


@pytest.mark.parametrize('data, path, fragment', [
    ({'links': []}, 'links', 'non-empty'),
    ({}, 'links', 'missing'),
    ({**one_link(), 'bogus': 1}, 'bogus', 'unknown key'),
    ({'links': [{'name': 'a', 'axes': '0:8', 'region': 'eyes', 'extra': 1}]}, 'links[0].extra', 'unknown key'),
    ({'links': [{'name': 'a', 'axes': '8:8', 'region': 'eyes'}]}, 'links[0].axes', 'empty range'),
    ({'links': [{'name': 'a', 'axes': [], 'region': 'eyes'}]}, 'links[0].axes', 'empty'),
    ({'links': [{'name': 'a', 'axes': 'x', 'region': 'eyes'}]}, 'links[0].axes', 'start:stop'),
    ({'links': [{'name': 'a', 'axes': [1, 1], 'region': 'eyes'}]}, 'links[0].axes', 'twice'),
    ({'links': [{'name': 'a', 'axes': [1.5], 'region': 'eyes'}]}, 'links[0].axes', 'integers'),
    ({'links': [{'name': 'a', 'axes': '0:8', 'region': 'eyes'}, {'name': 'b', 'axes': '4:12', 'region': 'nose'}]},
     'links[1].axes', 'overlaps links[0].axes'),
    ({'links': [{'name': 'a', 'axes': '0:8', 'region': 'eyes'}, {'name': 'a', 'axes': '8:12', 'region': 'nose'}]},
     'links[1].name', 'duplicate'),
    (one_link(box=[0.5, 0, 0.5, 1]), 'links[0].region.box', 'degenerate'),
    (one_link(box=[0, 0, 1.5, 1]), 'links[0].region.box', '[0, 1]'),
    (one_link(box=[0, 0, 1]), 'links[0].region.box', 'four numbers'),
    (one_link(boxes=[]), 'links[0].region.boxes', 'non-empty'),
    (one_link(preset='ears'), 'links[0].region.preset', 'unknown preset'),
    (one_link(mask='missing.png'), 'links[0].region.mask', 'not found'),
    (one_link(box=[0, 0, 1, 1], preset='eyes'), 'links[0].region', 'exactly one'),
    (one_link(segmenter='no_such_module_xyz:fn', classes=[1]), 'links[0].region.segmenter', 'cannot import'),
    (one_link(segmenter='linkgan_plugin.spec:nope', classes=[1]), 'links[0].region.segmenter', 'no attribute'),
    (one_link(segmenter='model.pt', classes=[1]), 'links[0].region.segmenter', 'not found'),
    (one_link(segmenter='linkgan_plugin.regions:preset_box', classes=[]), 'links[0].region.classes', 'non-empty'),
    (one_link(segmenter='linkgan_plugin.regions:preset_box', classes=[1], mode='max'), 'links[0].region.mode', 'one of'),
    ({**one_link(), 'interval': 0}, 'interval', '>= 1'),
    ({**one_link(), 'interval': 2.5}, 'interval', 'integer'),
    ({**one_link(), 'batch_shrink': 0}, 'batch_shrink', '>= 1'),
    ({**one_link(), 'lambda_in': -1}, 'lambda_in', 'non-negative'),
    ({**one_link(), 'fake_to_D_weight': -0.1}, 'fake_to_D_weight', 'non-negative'),
    ({**one_link(), 'alpha': 0}, 'alpha', 'positive'),
    ({**one_link(), 'alpha': 'big'}, 'alpha', 'number'),
    ({**one_link(), 'fake_to_D': 'yes'}, 'fake_to_D', 'true or false'),
    ({**one_link(), 'reduction': 'max'}, 'reduction', 'one of'),
    ({**one_link(), 'eg3d_targets': ['image', 'normals']}, 'eg3d_targets', 'normals'),
])
def test_error_names_the_json_path(data, path, fragment):
    errors = errors_of(data)
    assert any(e.startswith(f'{path}:') and fragment in e for e in errors), errors


def test_axes_beyond_w_dim_and_small_boxes():
    errors = errors_of({'links': [{'name': 'a', 'axes': [60, 600], 'region': 'eyes'}]}, w_dim=512)
    assert errors == ['links[0].axes: 600 is out of range for w_dim=512']
    errors = errors_of({'links': [{'name': 'a', 'axes': '0:512', 'region': 'eyes'}]}, w_dim=512)
    assert 'complement would be empty' in errors[0]
    errors = errors_of(one_link(box=[0, 0, 0.01, 0.5]), resolution=32)
    assert 'smaller than one pixel' in errors[0]
    load_spec(one_link(box=[0, 0, 0.01, 0.5]), resolution=256)


def test_all_errors_are_collected():
    errors = errors_of({'links': [{'name': 'a', 'axes': '5:1', 'region': {'preset': 'x'}}], 'interval': -1})
    assert len(errors) == 3


def test_unreadable_mask_and_bad_json(tmp_path):
    (tmp_path / 'bad.png').write_bytes(b'not an image')
    assert 'cannot read mask image' in errors_of(one_link(mask=str(tmp_path / 'bad.png')))[0]
    (tmp_path / 'broken.json').write_text('{"links": [')
    assert 'not valid JSON' in errors_of(str(tmp_path / 'broken.json'))[0]
    assert 'file not found' in errors_of(str(tmp_path / 'nope.json'))[0]
    with pytest.raises(SpecError, match='expected a dict'):
        load_spec(42)


def test_split_loss_kwargs():
    spec, base, rest = split_loss_kwargs({'links': [1], 'interval': 2, 'r1_gamma': 10, 'base': 'x.Y'})
    assert spec == {'links': [1], 'interval': 2} and base == 'x.Y' and rest == {'r1_gamma': 10}
    spec, base, rest = split_loss_kwargs({'spec': 'a.json', 'pl_weight': 0})
    assert spec == 'a.json' and base is None and rest == {'pl_weight': 0}
    with pytest.raises(SpecError, match='not both'):
        split_loss_kwargs({'spec': 'a.json', 'links': []})


def test_spec_check_command(tmp_path):
    good = tmp_path / 'good.json'
    good.write_text(json.dumps({'links': [{'name': 'eyes', 'axes': '0:64', 'region': 'eyes'}]}))
    result = CliRunner().invoke(main, ['spec', 'check', str(good), '--w-dim', '512', '--resolution', '256'])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)['links'][0]['region'] == {'preset': 'eyes'}
    result = CliRunner().invoke(main, ['spec', 'check', str(good), '--w-dim', '32'])
    assert result.exit_code == 1
    assert 'links[0].axes: 32 is out of range for w_dim=32' in result.output

#----------------------------------------------------------------------------
# The declared schema.

def test_options_are_declared_once():
    assert DEFAULTS == {o.name: o.default for o in OPTIONS}
    spec = load_spec(one_link())
    assert list(spec.to_dict()) == ['links'] + [o.name for o in OPTIONS]
    assert spec.options == DEFAULTS and spec.options['eg3d_targets'] is not DEFAULTS['eg3d_targets']
    result = CliRunner().invoke(main, ['spec', 'check', '--help'])
    text = ' '.join(result.output.split())
    for o in OPTIONS:
        assert f'{o.name} {o.check.describe}'.replace('`', '') in text
        assert ' '.join(o.help.replace('`', '').split()) in text, o.name
    for selector in ('box / boxes', 'preset', 'mask', 'segmenter'):
        assert selector in text


def test_readme_options_table_matches_the_schema():
    readme = read_text(os.path.join(os.path.dirname(os.path.dirname(__file__)), 'README.md'))
    section = readme.split('\n## The link spec\n', 1)[1].split('\n## ', 1)[0]
    table = section[section.index('| key |'):].split('\n\n', 1)[0].strip()
    assert table == options_markdown()


def test_load_spec_with_defaults():
    recipe = {'interval': 4, 'lambda_in': 5.0}
    spec = load_spec({**one_link(), 'interval': 2}, defaults=recipe)
    assert (spec.interval, spec.lambda_in, spec.alpha) == (2, 5.0, DEFAULTS['alpha'])   # the source wins
    assert load_spec(json.dumps(one_link()), defaults=recipe).interval == 4
    with pytest.raises(SpecError, match=r'interval \(default\): must be >= 1'):
        load_spec(one_link(), defaults={'interval': 0})
    with pytest.raises(SpecError, match="defaults: 'lr' is not a spec option"):
        load_spec(one_link(), defaults={'lr': 1})


def test_w_dim_check_gives_one_message_whatever_the_source():
    data = {'links': [{'name': 'a', 'axes': '0:8', 'region': 'eyes'}, {'name': 'b', 'axes': [9, 40], 'region': 'nose'}]}
    with pytest.raises(SpecError) as parsed:
        load_spec(data, w_dim=32)
    with pytest.raises(SpecError) as bound:
        load_spec(data).check_w_dim(32)
    with pytest.raises(SpecError) as again:
        load_spec(load_spec(data), w_dim=32)
    assert parsed.value.errors == bound.value.errors == again.value.errors == \
        ['links[1].axes: 40 is out of range for w_dim=32']
    with pytest.raises(SpecError, match='w_dim: must be an integer'):
        load_spec(data, w_dim=0)
    # Axes are checked even when the rest of their link is wrong too.
    errors = errors_of({'links': [{'name': 'a', 'axes': '0:80', 'region': 'ears'}]}, w_dim=64)
    assert errors == ['links[0].region.preset: unknown preset \'ears\' (known: eyes, left_eye, right_eye, nose, mouth, '
                      'chin, eyebrow)', 'links[0].axes: 64 is out of range for w_dim=64']
