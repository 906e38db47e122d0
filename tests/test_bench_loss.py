"""`linkgan bench loss`: phases read from the library's record_function labels, nesting resolved, profiler kept
out of the timed blocks, the call site against the one before it, the implementation that ran (a tiny run: the real
benchmark is run by hand; no timing is asserted)."""

import os
import re

import pytest
import torch
from click.testing import CliRunner
from torch.profiler import ProfilerActivity, profile, record_function

from linkgan_plugin.workflows import bench_loss
from linkgan_plugin.workflows.bench_loss import D_PASS_FAKES, LINK_PASS, RENDERS
from linkgan_plugin.cli import main

G_FAKES = LINK_PASS + ('linkgan:D on fakes',)

#----------------------------------------------------------------------------

def _work(n=96):
    x = torch.randn(n, n)
    return (x @ x).sum()


def test_phase_times_splits_a_label_by_where_it_runs_and_counts_nested_time_once(one_thread):
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(2):
            with record_function('linkgan:link pass'):
                _work()                                     # The link pass's own time.
                with record_function('linkgan:renders'):
                    _work()
                with record_function('linkgan:D on fakes'):
                    _work()
            with record_function('linkgan:D on fakes'):   # Alone: the D pass's term.
                _work()
        with record_function('other:label'):
            _work()
    phases = bench_loss.phase_times(prof)
    assert list(phases) == [LINK_PASS, RENDERS, G_FAKES, D_PASS_FAKES]
    assert all(row['count'] == 2 and row['total'] > 0 for row in phases.values())
    outer = phases[LINK_PASS]
    assert outer['own'] == pytest.approx(outer['total'] - phases[RENDERS]['total'] - phases[G_FAKES]['total'])
    assert 0 < outer['own'] < outer['total']
    for leaf in (RENDERS, G_FAKES, D_PASS_FAKES):
        assert phases[leaf]['own'] == phases[leaf]['total']
    # The two rows of one label add up to torch's own aggregate for it.
    averages = {e.key: e.cpu_time_total * 1e-6 for e in prof.key_averages()}
    assert phases[G_FAKES]['total'] + phases[D_PASS_FAKES]['total'] == pytest.approx(averages['linkgan:D on fakes'])
    assert phases[LINK_PASS]['total'] == pytest.approx(averages['linkgan:link pass'])
    # Each labelled microsecond once: the outer range plus the range outside it.
    total = bench_loss.labelled_total(phases)
    assert total == pytest.approx(outer['total'] + phases[D_PASS_FAKES]['total'])
    rows = bench_loss.breakdown_rows(phases, per=2)
    assert [depth for depth, _, _ in rows] == [0, 1, 1, 1, 0]
    assert rows[3][1].startswith('rest') and rows[3][2] == pytest.approx(outer['own'] / 2)
    assert rows[0][2] == pytest.approx(rows[1][2] + rows[2][2] + rows[3][2])
    assert sum(s for d, _, s in rows if d == 1) + rows[4][2] == pytest.approx(total / 2)

#----------------------------------------------------------------------------

@pytest.fixture(scope='module')
def tiny_bench():
    """One CLI run (1 timed + 2 profiled blocks, batch 4), recording whether the profiler was on at each step."""
    from linkgan_plugin.toy.loop import ToyTrainer
    seen, results = [], []
    step, measure = ToyTrainer.step, bench_loss.measure

    def recording_step(self, *args, **kwargs):
        seen.append((self.loss.__class__.__name__, torch.autograd._profiler_enabled()))
        return step(self, *args, **kwargs)
    threads = torch.get_num_threads()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ToyTrainer, 'step', recording_step)
        mp.setattr(bench_loss, 'measure', lambda *a, **k: results.append(measure(*a, **k)) or results[-1])
        result = CliRunner().invoke(main, ['bench', 'loss', '--blocks', '1', '--profiled-blocks', '2', '--batch', '4',
                                           '--base', 'demo', '--no-scaling', '--no-passes'])
    torch.set_num_threads(threads)
    return result, seen, results


def test_timed_blocks_run_without_the_profiler(tiny_bench):
    result, seen, results = tiny_bench
    assert result.exit_code == 0, result.output
    interval = 8
    profiled = [name for name, on in seen if on]
    assert profiled == ['LinkLoss'] * 2                             # The link iteration of each profiled block.
    timed = [name for name, on in seen if not on]
    assert timed.count('ToySG2ADALoss') == 2 * interval                          # Warm-up + 1 timed block.
    assert timed.count('LinkLoss') == 2 * interval + 2 * (interval - 1)          # ... + the profiled blocks' rest.
    r, = results
    assert len(r['base']) == len(r['link']) == 1 and len(r['profiled']) == 2


def test_every_labelled_phase_ran_once_per_link_iteration(tiny_bench):
    _, _, (r,) = tiny_bench
    phases = r['phases']
    expected = [LINK_PASS, RENDERS, LINK_PASS + ('linkgan:masks+diff',), G_FAKES, LINK_PASS + ('linkgan:backward',),
                D_PASS_FAKES]
    assert sorted(phases) == sorted(expected)
    assert r['link_iterations'] == 2                                # Summed over both blocks.
    for path in expected:
        assert phases[path]['total'] > 0, path
    assert phases[RENDERS]['count'] == phases[G_FAKES]['count'] == phases[D_PASS_FAKES]['count'] == 2
    assert phases[LINK_PASS]['own'] > 0


def test_output_has_ratio_and_every_labelled_phase(tiny_bench):
    result, _, _ = tiny_bench
    out = result.output
    assert 'D sees 4 perturbed fakes, as many as its regular fake batch' in out
    assert 'link pass on 2 samples x 5 renders' in out
    assert re.search(r'ratio\s+\d+\.\d+ wall\s+\d+\.\d+ cpu', out)
    described = list(bench_loss.DESCRIPTIONS.values()) + list(bench_loss.REST.values())
    for name in described + ['labelled total (each range counted once)']:
        line = next((l for l in out.splitlines() if name in l), None)
        assert line is not None, f'{name!r} missing from:\n{out}'
        ms = float(line[line.index(name) + len(name):].split()[0])
        assert ms >= 0, line
    assert 'no link iteration was profiled' not in out

def test_call_site_table_has_new_and_old_side_by_side_and_says_the_kernel_ran(tiny_bench):
    result, _, _ = tiny_bench
    lines = result.output.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith('call site of the masked-difference op'))
    assert 'forward + backward on 2 x 3 x 32^2 renders' in lines[head]
    assert lines[head + 1].split() == ['links', 'L_out', 'mask', 'new', 'ms', 'old', 'ms', 'new/old', 'wall', 'cpu',
                                       'new', 'MB', 'old', 'MB', 'new/old', 'MB']
    rows = [line.replace('one mask', 'one-mask').split() for line in lines[head + 2:head + 8]]
    assert [(int(r[0]), r[1]) for r in rows] == [(k, kind) for k in (1, 2, 4) for kind in ('one-mask', 'mask_out')]
    for _, kind, new_ms, old_ms, wall, cpu, new_mb, old_mb, mb_ratio in rows:
        assert float(new_ms) > 0 and float(old_ms) > 0 and float(wall) > 0 and float(cpu) > 0
        # Memory is deterministic: the old call site holds the stacked copies (and, with mask_out, a second
        # call's zero gradients) on top of what the new one needs.
        assert 0 < float(new_mb) < float(old_mb) and float(mb_ratio) == pytest.approx(float(new_mb) / float(old_mb), rel=0.02, abs=0.01)
    assert [line for line in lines if line.startswith('masked_diff ran on:')] == \
        ['masked_diff ran on: cpu (%s calls on cpu tensors; tensors are on cpu)' % lines[-1].split('(')[1].split()[0]]


@pytest.mark.parametrize('separate_out_mask', [False, True])
def test_the_old_call_site_computes_what_the_new_one_does(cpu_kernel, separate_out_mask):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 8, 8, generator=g, dtype=torch.float64, requires_grad=True)
    renders = [torch.randn(2, 3, 8, 8, generator=g, dtype=torch.float64, requires_grad=True) for _ in range(4)]
    mask_in = torch.rand(1, 2, 8, 8, generator=g, dtype=torch.float64)
    mask_out = torch.rand(2, 2, 8, 8, generator=g, dtype=torch.float64) if separate_out_mask else None
    results = []
    for fn in bench_loss.CALL_SITES.values():
        l_in, l_out = fn(x, renders[0::2], renders[1::2], mask_in, mask_out)
        results.append([l_in, l_out, *torch.autograd.grad(l_in.sum() + 2 * l_out.sum(), [x, *renders])])
    for new, old in zip(*results):
        torch.testing.assert_close(new, old, rtol=1e-12, atol=1e-12)

#----------------------------------------------------------------------------
# The link passes: peak memory, side-by-side time, a quiet profiler.

def test_peak_memory_sees_torch_allocations_above_the_start(one_thread):
    kept = torch.zeros(2**20)                                       # 4 MiB held before: not counted.

    def work():
        a = torch.ones(2**20)                                       # 4 MiB ...
        b = a * 2                                                   # ... + 4 MiB at the peak
        del a, b
        return kept.sum()
    peak = bench_loss.peak_memory(work)
    assert 8 * 2**20 <= peak < 9 * 2**20
    assert bench_loss.peak_memory(lambda: None) == 0


def test_quiet_profile_drops_kineto_lines_only(capfd, one_thread):
    with bench_loss.quiet_profile(activities=[ProfilerActivity.CPU]):
        _work()
        os.write(2, b'said inside\n')
    err = capfd.readouterr().err
    assert 'USDT' not in err and 'profiler_start' not in err and 'profiler_stop' not in err
    assert 'said inside' in err


def test_passes_table_reports_memory_and_time_of_both_passes(capfd, one_thread):
    result = CliRunner().invoke(main, ['bench', 'loss', '--blocks', '1', '--profiled-blocks', '1', '--batch', '4',
                                       '--base', 'demo', '--no-scaling', '--pass-links', '1,2', '--pass-steps', '1',
                                       '--no-call-site'])
    assert result.exit_code == 0, result.output
    assert 'USDT' not in capfd.readouterr().err
    lines = result.output.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith('link passes'))
    assert 'link pass on 2 samples' in lines[head]
    assert lines[head + 1].split() == ['links', 'renders', 'base', 'MB', 'batched', 'MB', 'x', 'base', 'per_link', 'MB',
                                       'x', 'base', 'batched', 'ms', 'per_link', 'ms', 'per_link/batched', 'wall', 'cpu']
    rows = [[float(v) for v in line.split()] for line in lines[head + 2:head + 4]]
    assert [row[:2] for row in rows] == [[1, 3], [2, 5]]
    for links, renders, base, batched, batched_x, per_link, per_link_x, batched_ms, per_link_ms, wall, cpu in rows:
        assert base > 0 and batched > base and per_link > base
        assert batched_x == pytest.approx(batched / base, rel=0.1) and per_link_x == pytest.approx(per_link / base, rel=0.1)
        assert batched_ms > 0 and per_link_ms > 0 and wall > 0 and cpu > 0
    assert rows[1][3] > rows[0][3]                  # Batched grows with the links ...
    assert rows[1][5] < rows[1][3]                  # ... per_link keeps less at 2 links.


def test_pass_links_are_checked():
    result = CliRunner().invoke(main, ['bench', 'loss', '--pass-links', '1,9'])
    assert result.exit_code == 2 and 'link counts from 1 to 8' in result.output


def test_sizes_reach_the_networks_and_the_header(monkeypatch):
    """--resolution, --channels and --w-dim size the toy networks the loss is timed on, and the header says so."""
    built = []
    make = bench_loss.demo.make_networks

    def recording_make(settings):
        G, D = make(settings)
        built.append((G.img_resolution, G.w_dim, G.synthesis.const.shape[0]))
        return G, D
    monkeypatch.setattr(bench_loss.demo, 'make_networks', recording_make)
    threads = torch.get_num_threads()
    result = CliRunner().invoke(main, ['bench', 'loss', '--blocks', '1', '--profiled-blocks', '1', '--batch', '4',
                                       '--base', 'demo', '--no-scaling', '--no-passes', '--resolution', '16',
                                       '--channels', '8', '--w-dim', '96', '--no-call-site'])
    torch.set_num_threads(threads)
    assert result.exit_code == 0, result.output
    assert built == [(16, 96, 8)]
    assert '(batch 4, 16px, 8 channels, w_dim 96) on 1 CPU thread(s)' in result.output


@pytest.mark.parametrize('args, message', [
    (['--device', 'cuda:7'], '--device'),
    (['--device', 'tpu'], "'tpu' is not a torch device"),
    (['--resolution', '48'], '--resolution'),
    (['--w-dim', '32'], '--w-dim'),
])
def test_bad_device_or_size_is_named(args, message):
    if args[1].startswith('cuda') and torch.cuda.device_count() > 7:
        pytest.skip('this machine has a cuda:7')
    result = CliRunner().invoke(main, ['bench', 'loss', *args])
    assert result.exit_code == 2
    assert message in result.output
    assert 'Traceback' not in result.output
