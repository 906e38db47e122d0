"""render.render_variants: [batch, w_dim] offsets go to every row of ws, [batch, num_ws, w_dim] offsets row by row;
the RNG is replayed for every render; offsets of any other shape are refused with a message giving both shapes.
render.seeded_generator: one reproducible stream per (seed, keys)."""

import pytest
import torch

from linkgan_plugin.render import render_variants, seeded_generator
from toy_checkpoints import recording

pytestmark = pytest.mark.usefixtures('one_thread')


def _recording():
    return recording(lambda ws: ws.sum(dim=2)[:, None, :, None])              # [batch, 1, num_ws, 1]


def test_two_dimensional_offsets_are_added_to_every_row():
    ws = torch.randn(2, 3, 4)
    d = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 2.0, 0.0]])
    seen, synthesize = _recording()
    render_variants(synthesize, ws, [d])
    assert torch.allclose(seen[1] - ws, d[:, None, :].expand(2, 3, 4))


def test_per_row_offsets_are_added_row_by_row():
    ws = torch.randn(2, 3, 4)
    d = torch.arange(24, dtype=torch.float32).reshape(2, 3, 4)     # Every row of every sample its own offset.
    seen, synthesize = _recording()
    x, variants = render_variants(synthesize, ws, [d, d[:, 0]])    # Both kinds in one call.
    assert torch.allclose(seen[1], ws + d)
    assert torch.allclose(seen[2], ws + d[:, :1])
    assert torch.allclose(variants[0] - x, d.sum(dim=2)[:, None, :, None])


def test_per_row_offsets_replay_the_rng():
    synthesize = lambda ws: ws.sum(dim=2)[:, None, :, None] + torch.randn(ws.shape[0], 1, ws.shape[1], 1)
    ws = torch.randn(2, 3, 4)
    x, (same, _) = render_variants(synthesize, ws, [torch.zeros(2, 3, 4), torch.zeros(2, 4)])
    assert torch.equal(x, same)


@pytest.mark.parametrize('shape', [[2, 5], [3, 4], [2, 2, 4], [2, 3, 5], [2, 3, 4, 1], [4]])
def test_offsets_of_other_shapes_are_refused(shape):
    with pytest.raises(ValueError, match=r'\[batch, w_dim\] = \[2, 4\] or \[batch, num_ws, w_dim\] = \[2, 3, 4\]'):
        render_variants(lambda ws: ws, torch.randn(2, 3, 4), [torch.zeros(shape)])


def test_seeded_generator_streams_are_reproducible_and_apart():
    draw = lambda *keys: torch.randn(4, generator=seeded_generator(*keys))
    assert torch.equal(draw(0, 1), draw(0, 1)) and torch.equal(draw(7, 2, 99), draw(7, 2, 99))
    streams = [draw(0, 1), draw(0, 2), draw(1, 1), draw(0, 1, 5), draw(3)]
    assert all(not torch.equal(a, b) for i, a in enumerate(streams) for b in streams[i + 1:])
