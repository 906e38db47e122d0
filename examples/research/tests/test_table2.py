"""`linkgan-research table2`: compares each study's linked network and control per link, resumes, and tabulates over seeds
with the paper's rows, the targets and the Fig. 8 picture; bad input names STUDIES."""

import json
import os

import pytest
from click.testing import CliRunner

from linkgan_plugin.analysis.metrics import PAPER_TABLE2
from linkgan_plugin.demo.settings import DEMO_DEFAULTS
from linkgan_research import table2
from linkgan_research.study import make_jobs, recipe_spec
from linkgan_plugin.toy.checkpoint import save_checkpoint

from conftest import read_image, toy_G

RECIPE = {'faces-tiny': {'spec': {'links': [{'name': 'eyes', 'axes': '0:8', 'region': {'preset': 'eyes'}}]},
                         'settings': {'scratch_kimg': 0.1, 'scene': 'faces'}}}


def fake_study(folder, seed):
    """A finished `linkgan-research study` output of RECIPE at `seed`: study.json, and toy networks (different weights for
    linked and control) where the study would have saved them."""
    settings = {**DEMO_DEFAULTS, 'w_dim': 32, 'seed': seed}
    _, (row,) = make_jobs(RECIPE, settings, recipe_spec)
    (folder / 'runs').mkdir(parents=True)
    spec = recipe_spec(RECIPE['faces-tiny'])
    save_checkpoint(str(folder / 'runs' / f'{row["job"]}.pt'), toy_G(seed=seed), 'sg2ada', spec)
    save_checkpoint(str(folder / 'runs' / f'{row["control_job"]}.pt'), toy_G(seed=seed + 10), 'sg2ada', None)
    rows = [{'recipe': 'faces-tiny', 'link': 'eyes', 'linked_quality': 100.0 + seed, 'control_quality': 90.0,
             'quality_floor': 15.0, 'quality_ratio': (100.0 + seed) / 90.0, 'linked_recall': 0.5, 'control_recall': 0.6,
             'recall_ratio': 0.5 / 0.6, 'recall_floor': 0.9}]
    (folder / 'study.json').write_text(json.dumps({'rows': rows, 'settings': settings, 'recipes': RECIPE}))
    return str(folder)


@pytest.fixture(scope='module')
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp('table2')
    studies = [fake_study(root / f'seed{s}', s) for s in (0, 1)]
    out = root / 'out'
    args = studies + ['--out', str(out), '--samples', '4', '--lelsd-seeds', '2', '--post-hoc-seeds', '2',
                      '--lelsd-max-steps', '2', '--post-hoc-samples', '4']
    first = CliRunner().invoke(table2.table2_command, args)
    second = CliRunner().invoke(table2.table2_command, args)
    return studies, out, first, second


def test_table_over_seeds_with_the_paper_rows_and_targets(run):
    studies, out, first, second = run
    assert first.exit_code == 0, first.output
    assert '1 comparisons to run' not in first.output and '2 comparisons to run (0 done before)' in first.output
    assert second.exit_code == 0 and '0 comparisons to run (2 done before)' in second.output    # Resumed.
    table = json.loads((out / 'table2.json').read_text())
    assert table['seeds'] == [0, 1] and list(table['regions']) == ['eyes']
    region = table['regions']['eyes']
    keys = {(r['method'], r['network']) for r in region['rows']}
    assert {('LinkGAN', 'linked'), ('StyleSpace', 'control'), ('ReSeFa', 'control'), ('LELSD', 'control'),
            ('random direction', 'control')} <= keys
    assert region['paper']['StyleSpace'] == {'mse_i': PAPER_TABLE2['StyleSpace']['eyes'][0],
                                             'mse_o': PAPER_TABLE2['StyleSpace']['eyes'][1]}
    # Each figure per seed from that seed's compare.json, medians over seeds.
    for seed_index, seed in enumerate((0, 1)):
        report = json.loads((out / 'compare' / f'seed{seed}-eyes' / 'compare.json').read_text())
        ours = next(r for r in region['rows'] if r['method'] == 'LinkGAN')
        m = next(m for m in report['methods'] if m['family'] == 'linkgan-resample')
        assert ours['mse_o']['values'][seed_index] == pytest.approx(m['matched']['out_all'] * 1e3)
        assert ours['mse_i']['values'][seed_index] == pytest.approx(report['match']['in_all'] * 1e3)
        assert ours['locality']['values'][seed_index] == pytest.approx(m['matched']['locality'])
    for r in region['rows']:
        for f in ('mse_i', 'mse_o', 'locality'):
            known = [v for v in r[f]['values'] if v is not None]
            if known:
                assert min(known) <= r[f]['median'] <= max(known)
    assert table['quality']['linked_quality']['values'] == [100.0, 101.0]
    assert table['targets']['quality_ok'] is False            # Recall 0.83x < 0.9x.
    assert table['targets']['eyes']['floor_met'] is False
    md = (out / 'table2.md').read_text()
    assert '## eyes' in md and 'StyleCLIP' in md and f'{PAPER_TABLE2["ReSeFa"]["eyes"][1]}' in md
    png = read_image(out / 'table2.png')
    assert png.width > 100 and png.height > 100


def test_bad_studies_are_named(run, tmp_path):
    studies, _, _, _ = run
    r = CliRunner().invoke(table2.table2_command, [studies[0], studies[0], '--out', str(tmp_path / 'o')])
    assert r.exit_code == 2 and 'STUDIES' in r.output and 'share a training seed' in r.output
    broken = tmp_path / 'broken'
    fake_study(broken, 5)
    for pt in (broken / 'runs').glob('control-*.pt'):
        pt.unlink()
    r = CliRunner().invoke(table2.table2_command, [str(broken), '--out', str(tmp_path / 'o')])
    assert r.exit_code == 2 and 'has not finished' in r.output


def test_without_kept_edits_the_table_is_written_and_the_picture_left(run, tmp_path):
    import shutil
    studies, out, _, _ = run
    copy = tmp_path / 'out'
    shutil.copytree(out, copy)
    for npz in copy.glob('compare/*/edits-*.npz'):
        npz.unlink()
    (copy / 'table2.png').unlink()
    r = CliRunner().invoke(table2.table2_command, studies + ['--out', str(copy), '--samples', '4', '--lelsd-seeds', '2',
                                                             '--post-hoc-seeds', '2', '--lelsd-max-steps', '2',
                                                             '--post-hoc-samples', '4'])
    assert r.exit_code == 0, r.output
    assert 'table2.png is not redrawn' in r.output and not (copy / 'table2.png').exists()
    assert json.loads((copy / 'table2.json').read_text()) == json.loads((out / 'table2.json').read_text())


def test_workers_run_the_comparisons_as_processes_with_the_same_table(run, tmp_path):
    """--workers 2: the missing comparisons run in worker processes, two at once, each with its log; the table
    equals the one the in-process comparisons gave (the same seeds, the same sums)."""
    import shutil
    studies, out, _, _ = run
    copy = tmp_path / 'out'
    shutil.copytree(out, copy)
    for done in copy.glob('compare/*/compare.json'):
        done.unlink()
    r = CliRunner().invoke(table2.table2_command, studies + ['--out', str(copy), '--samples', '4', '--lelsd-seeds', '2',
                                                             '--post-hoc-seeds', '2', '--lelsd-max-steps', '2',
                                                             '--post-hoc-samples', '4', '--workers', '2'])
    assert r.exit_code == 0, r.output
    assert '2 comparisons to run (0 done before)' in r.output
    assert sorted(p.parent.name for p in copy.glob('compare/*/compare.log')) == ['seed0-eyes', 'seed1-eyes']
    mine, theirs = (json.loads((d / 'table2.json').read_text())['regions'] for d in (copy, out))
    assert mine == theirs


def test_a_failed_worker_names_its_log(run, tmp_path):
    """A comparison that fails in its worker process fails the command with a message naming its log."""
    import shutil
    studies, out, _, _ = run
    broken = [str(tmp_path / 'studies' / os.path.basename(s)) for s in studies]
    for src, dst in zip(studies, broken):
        shutil.copytree(src, dst)
    pair = table2.study_pair(broken[1])
    with open(pair['linked'], 'wb') as f:                 # Seed 1's linked network: no longer a checkpoint.
        f.write(b'not a checkpoint')
    copy = tmp_path / 'out'
    shutil.copytree(out, copy)
    (copy / 'compare' / 'seed1-eyes' / 'compare.json').unlink()
    r = CliRunner().invoke(table2.table2_command, broken + ['--out', str(copy), '--workers', '2'])
    assert r.exit_code == 1
    assert 'seed 1, eyes:' in r.output and str(copy / 'compare' / 'seed1-eyes' / 'compare.log') in r.output and str(copy / 'compare' / 'seed1-eyes' / 'compare.log') in r.output
