"""`demo.baseline.train_baseline_snapshots(resume=...)`: a long baseline goes on from its last snapshot."""

import pytest
import torch

from linkgan_plugin.checks import LinkganError
from linkgan_plugin.demo.baseline import load_baseline_state, train_baseline_snapshots
from linkgan_plugin.demo.settings import DEMO_DEFAULTS

SMALL = {**DEMO_DEFAULTS, 'resolution': 16, 'channels': 8, 'batch': 4, 'seed': 3}


@pytest.fixture
def snapshots(tmp_path):
    torch.set_num_threads(1)
    path = lambda kimg: str(tmp_path / f'b-{kimg:06.3f}.pt')
    train_baseline_snapshots(SMALL, 0.016, snapshot_every=0.008, snapshot_path=path)     # 4 steps, 2 snapshots
    return path


def test_resume_goes_on_from_the_snapshot(snapshots):
    snap = load_baseline_state(snapshots(0.008))
    same = train_baseline_snapshots(SMALL, 0.008, resume=snap)              # Nothing left to train.
    assert same.cur_nimg == 8
    for name, value in same.G_ema.state_dict().items():
        assert torch.equal(value, snap['G_ema_state'][name].float()), name
    for name, value in same.D.state_dict().items():
        assert torch.equal(value, snap['D_state'][name].float()), name
    more = train_baseline_snapshots(SMALL, 0.016, resume=snap)              # Two more steps.
    assert more.cur_nimg == 16
    assert any(not torch.equal(a, b) for a, b in zip(more.G.parameters(), same.G.parameters()))


def test_resume_refuses_a_snapshot_of_other_settings(snapshots):
    snap = load_baseline_state(snapshots(0.008))
    with pytest.raises(LinkganError, match="--resume: .*channels 8, not 16"):
        train_baseline_snapshots({**SMALL, 'channels': 16}, 0.016, resume=snap)
