"""MTAG graph construction: pseudo-alignment windows, edge types, pruning."""

from __future__ import annotations

import pytest
import torch

from mmalign.implicit.mtag import (
    FUTURE,
    PAST,
    PRESENT,
    _prune,
    build_graph,
    pseudo_alignment_windows,
)


@pytest.mark.parametrize(
    "n,m,expected",
    [
        (1, 1, [[0, 0]]),
        (1, 4, [[0, 3]]),
        (2, 2, [[0, 1], [0, 1]]),
        (3, 3, [[0, 1], [1, 2], [1, 2]]),
        (3, 4, [[0, 1], [1, 2], [2, 3]]),
        (3, 5, [[0, 1], [2, 3], [3, 4]]),
        (2, 5, [[0, 1], [3, 4]]),
        (3, 10, [[0, 3], [3, 6], [6, 9]]),
    ],
)
def test_windows_hand_values(n, m, expected):
    # values read off the reference's pseudo_align_cross_modal
    assert pseudo_alignment_windows(n, m).tolist() == expected


@pytest.mark.parametrize("n,m", [(1, 7), (4, 7), (10, 37), (13, 13), (50, 500), (17, 500)])
def test_windows_properties(n, m):
    w = pseudo_alignment_windows(n, m)
    assert w.shape == (n, 2)
    assert int(w[0, 0]) == 0 and int(w[-1, 1]) == m - 1
    assert bool((w[:, 1] >= w[:, 0]).all()) and bool((w[:, 0] >= 0).all())
    assert bool((w[1:, 0] >= w[:-1, 0]).all())  # monotone


def test_windows_reject_bad_lengths():
    with pytest.raises(ValueError, match="need 1 <= n_short <= n_long"):
        pseudo_alignment_windows(5, 3)


def test_graph_edges_and_types():
    # one sample, modality 0 with 2 steps, modality 1 with 3 steps (of 4 padded)
    lengths = [torch.tensor([2]), torch.tensor([3])]
    graph, dst_step, src_step = build_graph(lengths, [2, 4])
    n_mod = 2
    pair = graph.edge_type // 3
    rel = graph.edge_type % 3
    within0 = pair == 0 * n_mod + 0
    assert int(within0.sum()) == 2 + 2  # 2 self + past + future
    cross = pair == 1 * n_mod + 0  # modality 1 -> modality 0
    assert int(cross.sum()) == 2 * 3  # all pairs, never padded step 3
    assert int(src_step[pair == 1 * n_mod + 1].max()) == 2
    # windows of (2 short, 3 long): [[0, 1], [1, 2]]; relation of source (long) to target (short)
    got = {
        (int(i), int(j)): int(r) for i, j, r in zip(dst_step[cross], src_step[cross], rel[cross])
    }
    assert got == {
        (0, 0): PRESENT,
        (0, 1): PRESENT,
        (0, 2): FUTURE,
        (1, 0): PAST,
        (1, 1): PRESENT,
        (1, 2): PRESENT,
    }
    # the reverse direction carries the mirrored relation
    rev = pair == 0 * n_mod + 1
    back = {(int(j), int(i)): int(r) for i, j, r in zip(dst_step[rev], src_step[rev], rel[rev])}
    assert back == {k: 2 - v for k, v in got.items()}
    # within a modality: step 0 -> step 1 is "past" (the source is earlier)
    e = within0 & (src_step == 0) & (dst_step == 1)
    assert rel[e].tolist() == [PAST]


def test_all_to_all_within():
    lengths = [torch.tensor([4]), torch.tensor([2])]
    graph, dst_step, src_step = build_graph(lengths, [4, 2], all_to_all=True)
    within0 = graph.edge_type // 3 == 0
    assert int(within0.sum()) == 16  # every ordered pair incl. self


def test_prune_keeps_the_top_fraction_per_sample():
    lengths = [torch.tensor([3, 2]), torch.tensor([4, 2])]
    graph, dst_step, src_step = build_graph(lengths, [3, 4])
    counts = torch.bincount(graph.sample)
    alpha = torch.rand(graph.src.numel(), 2, generator=torch.Generator().manual_seed(0))
    g2, d2, s2 = _prune(graph, alpha, 0.5, dst_step, src_step)
    assert torch.bincount(g2.sample).tolist() == (counts // 2).tolist()
    score = alpha.mean(1)
    kept = {(int(a), int(b)) for a, b in zip(g2.src, g2.dst)}
    for b in range(2):
        idx = torch.nonzero(graph.sample == b).flatten()
        top = idx[score[idx].argsort(descending=True)[: int(counts[b]) // 2]]
        expected = {(int(graph.src[e]), int(graph.dst[e])) for e in top}
        assert expected <= kept
    assert d2.numel() == s2.numel() == g2.src.numel()
