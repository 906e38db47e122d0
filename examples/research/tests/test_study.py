"""`linkgan-research study`: every recipe is paired with the right control, from-scratch recipes train fresh networks, and the
command writes its table, JSON and frontier plot and resumes finished jobs.
"""

import json

import pytest
import torch
from click.testing import CliRunner

from linkgan_plugin.cli import main as linkgan_main
from linkgan_research.cli import main
from linkgan_plugin.demo.settings import DEMO_DEFAULTS, demo_spec
from linkgan_plugin.checks import OptionError
from linkgan_research.study import check_recipe_settings, control_key, make_jobs, recipe_spec, study_markdown, summarise_rows


def _jobs(recipes, **settings):
    return make_jobs(recipes, {**DEMO_DEFAULTS, **settings}, recipe_spec)


def test_recipes_share_a_control_only_when_their_training_matches():
    recipes = {'a': {'spec': {'lambda_in': 20.0}}, 'b': {'spec': {'perturbation': 'resample'}},
               'long': {'settings': {'finetune_kimg': 32.0}},
               'scratch': {'settings': {'scratch_kimg': 8.0}},
               'scratch-wide': {'settings': {'scratch_kimg': 8.0, 'channels': 48}}}
    jobs, rows = _jobs(recipes)
    control = {r['name']: r['control_job'] for r in rows}
    assert control['a'] == control['b']                       # A spec change keeps the control.
    assert len({control['a'], control['long'], control['scratch'], control['scratch-wide']}) == 4
    assert len({r['job'] for r in rows}) == 5 and len(jobs) == 5 + 4
    assert jobs[control['a']]['linked_spec'] is None and jobs[rows[0]['job']]['linked_spec']['lambda_in'] == 20.0
    # The control is evaluated with every spec its recipes use (the link sets may differ).
    assert len(jobs[control['a']]['eval_specs']) == 2
    # A fine-tune's control does not depend on the width (it comes from the baseline): keys of earlier studies hold.
    assert control_key({**DEMO_DEFAULTS, 'channels': 48}) == control_key(DEMO_DEFAULTS)


def test_face_recipes_have_their_own_control_and_the_faces_spec():
    recipes = {'cells': {'settings': {'scratch_kimg': 8.0}},
               'faces': {'settings': {'scratch_kimg': 8.0, 'scene': 'faces'}},
               'faces-resample': {'spec': {'perturbation': 'resample'}, 'settings': {'scratch_kimg': 8.0, 'scene': 'faces'}}}
    jobs, rows = _jobs(recipes)
    control = {r['name']: r['control_job'] for r in rows}
    assert control['faces'] == control['faces-resample'] != control['cells']
    names = lambda job: [link['name'] for link in jobs[job]['linked_spec']['links']]
    assert names(rows[0]['job']) == ['top_left', 'bottom_right'] and names(rows[1]['job']) == ['eyes', 'nose', 'mouth']
    # The cells' keys stay those of studies run before the scene setting existed (their finished runs are reused).
    assert control_key({**DEMO_DEFAULTS, 'scratch_kimg': 8.0}) == control_key({**DEMO_DEFAULTS, 'scratch_kimg': 8.0,
                                                                               'scene': 'cells'})


def test_scratch_recipe_trains_fresh_networks_from_shared_initial_weights(monkeypatch):
    from linkgan_plugin.demo import training as demo_training
    from linkgan_plugin.toy.loop import ToyTrainer
    settings = {**DEMO_DEFAULTS, 'resolution': 16, 'channels': 8, 'batch': 8, 'scratch_kimg': 0.024}
    spec = demo_spec(recipe_spec({'spec': {'interval': 1}}), w_dim=settings['w_dim'])
    first = {}
    original_step = ToyTrainer.step

    def recording_step(self, real_img, real_c):
        # Every parameter and buffer of G, D and G_ema as the run's first step finds them.
        first.setdefault(self.loss.__class__.__name__, {
            f'{name}.{key}': value.detach().clone() for name in ('G', 'D', 'G_ema')
            for key, value in getattr(self, name).state_dict().items()})
        return original_step(self, real_img, real_c)
    monkeypatch.setattr(ToyTrainer, 'step', recording_step)
    control = demo_training.finetune(None, spec, settings, linked=False)   # No baseline is read.
    linked = demo_training.finetune(None, spec, settings, linked=True)
    start_control, start_linked = first['ToySG2ADALoss'], first['LinkLoss']
    assert start_control.keys() == start_linked.keys()
    assert {k.split('.')[0] for k in start_control} == {'G', 'D', 'G_ema'}
    unequal = [k for k in start_control if not torch.equal(start_control[k], start_linked[k])]
    assert not unequal, f'the runs start from different {unequal[:5]}'
    for trainer in (control, linked):
        assert trainer.G.init_kwargs['channels'] == 8 and trainer.cur_nimg == 24
    assert not torch.equal(control.G.synthesis.const, linked.G.synthesis.const)


def _evaluation(locality, swd, recall=None):
    links = {'a': {'mse_i': 0.1, 'mse_o': 0.2, 'edit_i': 0.3, 'keep_o': 0.4, 'locality': locality}}
    out = {'links': links, 'quality': {'mean': swd}}
    if recall is not None:                      # Evaluations made before coverage existed have neither key.
        out['quality_floor'] = {'mean': 20.0, 'levels': {}, 'images': 64}
        out['coverage'] = {'recall': recall, 'precision': 0.8, 'features': 'factors:cells',
                           'floor': {'recall': 0.9, 'precision': 0.92}}
    return out


def test_study_rows_carry_recall_and_floors():
    rows = [{'name': 'new', 'job': 'l1', 'control_job': 'c1', 'eval_key': 'k', 'note': ''},
            {'name': 'old', 'job': 'l2', 'control_job': 'c2', 'eval_key': 'k', 'note': ''}]
    results = {'l1': {'evaluations': {'k': _evaluation(0.2, 120.0, 0.3)}},
               'c1': {'evaluations': {'k': _evaluation(0.9, 80.0, 0.5)}},
               'l2': {'evaluations': {'k': _evaluation(0.2, 120.0)}}, 'c2': {'evaluations': {'k': _evaluation(0.9, 80.0)}}}
    new, old = summarise_rows(rows, results)
    assert new['recall_ratio'] == pytest.approx(0.6) and (new['linked_recall'], new['control_recall']) == (0.3, 0.5)
    assert (new['recall_floor'], new['precision_floor'], new['quality_floor']) == (0.9, 0.92, 20.0)
    assert (new['linked_quality'], new['control_quality']) == (120.0, 80.0) and new['quality_ratio'] == 1.5
    assert old['recall_ratio'] is None and old['linked_recall'] is None and old['quality_floor'] is None
    md = study_markdown([new, old], 't')
    assert '| 0.600 (0.30 / 0.50) |' in md and '| n/a (n/a / n/a) |' in md
    assert 'SWD 20.0, recall 0.900, precision 0.920 (features factors:cells)' in md


@pytest.mark.slow
def test_study_command_writes_table_and_resumes(tmp_path):
    baseline = tmp_path / 'baseline.pt'
    r = CliRunner().invoke(main, ['baseline', '--kimg', '0.032', '--out', str(baseline)])
    assert r.exit_code == 0, r.output
    recipes = tmp_path / 'recipes.json'
    recipes.write_text(json.dumps({'every-step': {'spec': {'interval': 1}, 'settings': {'finetune_kimg': 0.032},
                                                  'note': 'tiny'}}))
    out = tmp_path / 'study'
    args = ['study', '--recipes', str(recipes), '--out', str(out), '--baseline', str(baseline), '--samples', '16',
            '--workers', '1']
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    report = json.loads((out / 'study.json').read_text())
    rows = report['rows']
    assert [e['link'] for e in rows] == ['top_left', 'bottom_right']
    for e in rows:
        for k in ('mse_i', 'mse_o', 'edit_i', 'keep_o'):
            assert e[k] == pytest.approx(e['linked_values'][k] / e['control_values'][k])
        assert e['quality_ratio'] > 0 and isinstance(e['floor_met'], bool)
        # Coverage beside SWD: both recalls, their ratio, and the real-vs-real floors.
        assert 0 <= e['linked_recall'] <= 1 and 0 <= e['control_recall'] <= 1 and 0 < e['recall_floor'] <= 1
        assert e['recall_ratio'] == (pytest.approx(e['linked_recall'] / e['control_recall'])
                                     if e['control_recall'] else None)
        assert e['quality_floor'] > 0 and e['quality_ratio'] == pytest.approx(e['linked_quality'] / e['control_quality'])
    md = (out / 'study.md').read_text()
    assert '| every-step | top_left |' in md and '| recall |' in md and 'Real vs real' in md
    assert (out / 'frontier.png').stat().st_size > 0
    # Each job's G_ema is saved as a checkpoint the evaluation tools load, with the spec it was trained with.
    from linkgan_plugin.analysis.network_loading import load_network
    linked = load_network(next((out / 'runs').glob('every-step-*.pt')))
    control = load_network(next((out / 'runs').glob('control-*.pt')))
    assert linked.checkpoint_spec['interval'] == 1 and control.checkpoint_spec is None
    assert linked.G.synthesis.const.shape == control.G.synthesis.const.shape
    assert not torch.equal(linked.G.synthesis.const, control.G.synthesis.const)
    # A second run reuses the finished jobs.
    before = {p.name: p.stat().st_mtime_ns for p in (out / 'runs').iterdir()}
    assert len(before) == 4
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0 and '0 runs to do (2 done before)' in r.output, r.output
    assert {p.name: p.stat().st_mtime_ns for p in (out / 'runs').iterdir()} == before
    # A recipe on another spec: its control is not retrained, only evaluated with the new spec from its saved G_ema.
    control_pt = next((out / 'runs').glob('control-*.pt'))
    recipes.write_text(json.dumps({
        'every-step': {'spec': {'interval': 1}, 'settings': {'finetune_kimg': 0.032}},
        'band': {'spec': {'links': [{'name': 'band', 'axes': '0:8', 'region': {'box': [0, 0, 1, 0.25]}}]},
                 'settings': {'finetune_kimg': 0.032}}}))
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0 and '2 runs to do (1 done before)' in r.output, r.output
    assert control_pt.stat().st_mtime_ns == before[control_pt.name]
    control = json.loads(control_pt.with_suffix('.json').read_text())
    assert len(control['evaluations']) == 2
    assert [e['link'] for e in json.loads((out / 'study.json').read_text())['rows']] == ['top_left', 'bottom_right', 'band']
    # A job evaluated before the coverage measure existed is evaluated again from its saved network, not retrained:
    # the same link numbers, coverage added.
    old = {k: {**e, 'quality': e['quality']['swd']} for k, e in control['evaluations'].items()}   # The old layout.
    control_pt.with_suffix('.json').write_text(json.dumps({**control, 'evaluations': old}))
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0 and '1 runs to do (2 done before)' in r.output, r.output
    assert control_pt.stat().st_mtime_ns == before[control_pt.name]
    again = json.loads(control_pt.with_suffix('.json').read_text())['evaluations']
    assert all(e['quality']['coverage'] is not None for e in again.values())
    assert {k: e['links'] for k, e in again.items()} == {k: e['links'] for k, e in control['evaluations'].items()}
    assert all(e['control_recall'] is not None for e in json.loads((out / 'study.json').read_text())['rows'])


def test_study_rejects_bad_input(tmp_path):
    bad = tmp_path / 'bad.json'
    bad.write_text('[1, 2]')
    r = CliRunner().invoke(main, ['study', '--recipes', str(bad), '--out', str(tmp_path / 'o')])
    assert r.exit_code == 2 and '--recipes' in r.output
    r = CliRunner().invoke(main, ['study', '--axes-sweep', '2,x', '--out', str(tmp_path / 'o')])
    assert r.exit_code == 2 and '--axes-sweep' in r.output
    r = CliRunner().invoke(main, ['study', '--out', str(tmp_path / 'o')])
    assert r.exit_code == 2 and 'exactly one' in r.output
    for settings, message in (({'scratch_kimgs': 160}, 'settings.scratch_kimgs: unknown'),
                              ({'finetune_kimg': -1}, 'settings.finetune_kimg: expected a positive number'),
                              ({'scratch_kimg': 8, 'batch': 2.5}, 'settings.batch: expected an integer'),
                              ({'channels': 48}, 'settings.channels only applies with scratch_kimg'),
                              ({'scene': 'faces'}, 'settings.scene only applies with scratch_kimg'),
                              ({'scratch_kimg': 8, 'scene': 'skies'}, "settings.scene: 'skies' is not a box scene"),
                              ({'scratch_kimg': 8, 'scene': 'faces', 'light': 0.5},
                               'settings.light only applies to the cells scene')):
        bad.write_text(json.dumps({'r': {'settings': settings}}))
        r = CliRunner().invoke(main, ['study', '--recipes', str(bad), '--out', str(tmp_path / 'o')])
        assert r.exit_code == 2 and 'r: ' + message in r.output, r.output


def test_demo_from_scratch_refuses_fine_tune_options(tmp_path):
    r = CliRunner().invoke(linkgan_main, ['demo', '--outdir', str(tmp_path), '--from-scratch', '8', '--finetune-kimg', '4'])
    assert r.exit_code == 2 and '--finetune-kimg do not apply with --from-scratch' in r.output, r.output


def test_layer_leakage_resamples_one_row_at_a_time():
    # A G that reads only row 2 of ws: resampling any other row changes nothing, row 2 alone does what all rows do.
    from linkgan_plugin.analysis.generator import GeneratorAdapter
    from linkgan_plugin.spec import load_spec
    from conftest import toy_G
    from linkgan_research import layer_leakage
    G = toy_G()
    forward = G.synthesis.forward
    G.synthesis.forward = lambda ws, **kw: forward(ws[:, 2:3].expand(-1, ws.shape[1], -1), **kw)
    gen = GeneratorAdapter(G)
    spec = load_spec({'links': [{'name': 'a', 'axes': '0:4', 'region': {'box': [0, 0, 0.5, 0.5]}}]}, w_dim=gen.w_dim)
    rows = layer_leakage.per_row_edits(gen, spec, samples=8, seed=0, batch=4)
    assert rows['all']['a']['edit_i'] > 0
    for r in range(gen.num_ws):
        expected = rows['all']['a'] if r == 2 else {'edit_i': 0.0, 'edit_o': 0.0}
        assert rows[r]['a']['edit_i'] == pytest.approx(expected['edit_i'], rel=1e-5, abs=1e-9)
        assert rows[r]['a']['edit_o'] == pytest.approx(expected['edit_o'], rel=1e-5, abs=1e-9)
    labels = layer_leakage.row_labels(G)
    assert len(labels) == gen.num_ws and labels[:2] == ['4x4', '8x8 up + ToRGB 4x4'] and labels[-1].startswith('ToRGB')


def test_lit_scenes_have_their_own_control_and_refuse_a_bad_strength(tmp_path):
    base = {'finetune_kimg': 16.0, 'finetune_batch': 16, 'seed': 0, 'scratch_kimg': 160.0, 'channels': 32, 'batch': 32}
    assert control_key(base) != control_key({**base, 'light': 1.0})
    assert control_key(base) == control_key({**base, 'light': 0.0})
    check_recipe_settings('lit', {'scratch_kimg': 160, 'light': 0.5})
    with pytest.raises(OptionError, match='settings.light') as e:
        check_recipe_settings('lit', {'scratch_kimg': 160, 'light': 2})
    assert e.value.option == '--recipes'

#----------------------------------------------------------------------------
