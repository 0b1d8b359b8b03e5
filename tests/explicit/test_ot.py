import warnings

import numpy as np
import ot as pot
import pytest

from mmalign.explicit import Assignment, OTAlignment, assign, ot_align
from mmalign.explicit._ot_ipot import ipot
from mmalign.explicit.ot import pairwise_cost


def _sets(n=6, m=5, d=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(size=(m, d))


def test_pairwise_cost_hand_values():
    x = np.array([[1.0, 0.0], [0.0, 2.0]])
    y = np.array([[3.0, 0.0], [0.0, -1.0]])
    np.testing.assert_allclose(pairwise_cost(x, y), [[0.0, 1.0], [1.0, 2.0]], atol=1e-12)
    np.testing.assert_allclose(pairwise_cost(x, y, metric="sqeuclidean"), [[4, 2], [13, 9]])
    np.testing.assert_allclose(pairwise_cost(x, y, metric="euclidean"), np.sqrt([[4, 2], [13, 9]]))


@pytest.mark.parametrize("method", ["sinkhorn", "ipot", "emd"])
def test_balanced_plans_match_marginals(method):
    x, y = _sets()
    res = ot_align(x, y, method=method, max_iter=3000)
    assert isinstance(res, OTAlignment) and res.converged
    np.testing.assert_allclose(res.plan.sum(1), np.full(6, 1 / 6), atol=1e-6)
    np.testing.assert_allclose(res.plan.sum(0), np.full(5, 1 / 5), atol=1e-6)
    assert res.cost == pytest.approx((res.plan * res.cost_matrix).sum())


def test_sinkhorn_equals_pot_and_ipot_reaches_emd():
    x, y = _sets(seed=1)
    C = pairwise_cost(x, y)
    a, b = np.full(6, 1 / 6), np.full(5, 1 / 5)
    sk = ot_align(x, y, method="sinkhorn", reg=0.1, tol=1e-12)
    np.testing.assert_allclose(sk.plan, pot.sinkhorn(a, b, C, 0.1, stopThr=1e-12), atol=1e-8)
    exact = pot.emd2(a, b, C)
    assert ot_align(x, y, method="emd").cost == pytest.approx(exact, abs=1e-12)
    # IPOT converges to the exact (unregularized) optimum, unlike Sinkhorn
    ip = ot_align(x, y, method="ipot", reg=0.5, max_iter=3000)
    assert ip.cost == pytest.approx(exact, abs=1e-6)
    assert sk.cost > exact + 1e-4


def test_ipot_one_outer_step_is_sinkhorn():
    x, y = _sets(seed=2)
    C = pairwise_cost(x, y)
    a, b = np.full(6, 1 / 6), np.full(5, 1 / 5)
    plan, n_iter, _ = ipot(C, a, b, beta=0.3, max_iter=1, inner_steps=2000)
    assert n_iter == 1
    np.testing.assert_allclose(plan, pot.sinkhorn(a, b, C, 0.3, stopThr=1e-14), atol=1e-10)


def test_identity_recovered_by_every_method():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(5, 8))
    perm = np.array([3, 0, 4, 1, 2])
    y = x[perm] + 0.01 * rng.normal(size=(5, 8))
    truth = np.argsort(perm)  # x[i] is y[truth[i]]
    for method in ("sinkhorn", "ipot", "emd", "unbalanced"):
        np.testing.assert_array_equal(ot_align(x, y, method=method, reg=0.02).matches, truth)
    np.testing.assert_array_equal(assign(x, y).matches, truth)


@pytest.mark.filterwarnings("ignore:ot_align:RuntimeWarning")  # slow Sinkhorn; same stop both ways
def test_masks_equal_cropping():
    x, y = _sets(n=7, m=6, seed=4)
    xm = np.array([1, 1, 0, 1, 1, 0, 1], bool)
    ym = np.array([1, 0, 1, 1, 1, 1], bool)
    for method in ("sinkhorn", "ipot", "emd", "partial", "unbalanced"):
        full = ot_align(x, y, method=method, x_mask=xm, y_mask=ym)
        crop = ot_align(x[xm], y[ym], method=method)
        np.testing.assert_allclose(full.plan[np.ix_(xm, ym)], crop.plan, atol=1e-10)
        assert full.plan[~xm].sum() == 0 and full.plan[:, ~ym].sum() == 0
        assert full.cost == pytest.approx(crop.cost)
    res = ot_align(x, y, x_mask=xm)
    assert np.all(res.matches[~xm] == -1)
    asg = assign(x, y, x_mask=xm, y_mask=ym)
    assert set(asg.pairs[:, 0]) <= set(np.flatnonzero(xm))
    assert set(asg.pairs[:, 1]) <= set(np.flatnonzero(ym))


def test_partial_and_unbalanced_mass():
    x, y = _sets(seed=5)
    part = ot_align(x, y, method="partial", mass=0.4)
    assert part.plan.sum() == pytest.approx(0.4)
    assert np.all(part.plan.sum(1) <= 1 / 6 + 1e-12)
    # a small marginal penalty lets the plan drop mass; a large one approaches balanced OT
    loose = ot_align(x, y, method="unbalanced", reg=0.05, reg_m=0.05)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # reg_m=100 converges slowly
        tight = ot_align(x, y, method="unbalanced", reg=0.05, reg_m=100.0, max_iter=5000)
    assert loose.plan.sum() < 0.9
    assert tight.plan.sum() == pytest.approx(1.0, abs=1e-2)


def test_weights_are_used():
    x, y = _sets(n=3, m=3, seed=6)
    res = ot_align(x, y, method="emd", a=[2, 1, 1], b=[1, 1, 2])
    np.testing.assert_allclose(res.plan.sum(1), [0.5, 0.25, 0.25])
    np.testing.assert_allclose(res.plan.sum(0), [0.25, 0.25, 0.5])


def test_assign_matches_brute_force():
    from itertools import permutations

    x, y = _sets(n=4, m=4, seed=7)
    C = pairwise_cost(x, y, metric="euclidean")
    best = min(sum(C[i, p[i]] for i in range(4)) for p in permutations(range(4)))
    res = assign(x, y, metric="euclidean")
    assert isinstance(res, Assignment)
    assert res.cost == pytest.approx(best)
    rect = assign(x[:2], y)  # n < m: every x matched once, distinct y
    assert rect.pairs.shape == (2, 2) and len(set(rect.pairs[:, 1])) == 2


def test_nonconvergence_warns():
    x, y = _sets(seed=8)
    with pytest.warns(RuntimeWarning, match="increase max_iter"):
        ot_align(x, y, method="sinkhorn", reg=1e-3, max_iter=2, tol=1e-12)


def test_validation_messages():
    x, y = _sets()
    with pytest.raises(ValueError, match="Unknown method 'sinkhorn2'.*valid options"):
        ot_align(x, y, method="sinkhorn2")
    with pytest.raises(ValueError, match="Unknown metric"):
        assign(x, y, metric="l1")
    with pytest.raises(ValueError, match="same number of features"):
        ot_align(x, y[:, :2])
    with pytest.raises(ValueError, match=r"x_mask must have shape \(6,\)"):
        ot_align(x, y, x_mask=[True] * 3)
    with pytest.raises(ValueError, match="y_mask masks out every element"):
        ot_align(x, y, y_mask=np.zeros(5, bool))
    with pytest.raises(ValueError, match="reg must be a positive"):
        ot_align(x, y, reg=-1.0)
    with pytest.raises(ValueError, match="mass must be in"):
        ot_align(x, y, method="partial", mass=1.5)
    with pytest.raises(ValueError, match="a must hold finite non-negative"):
        ot_align(x, y, a=-np.ones(6))
    with pytest.raises(ValueError, match="x holds NaN"):
        ot_align(np.full((2, 4), np.nan), y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ot_align(x, y)  # the defaults converge quietly


def test_reprs_summarise_instead_of_printing_arrays():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(60, 4)), rng.normal(size=(50, 4))
    r = repr(ot_align(x, y, method="sinkhorn"))
    assert r.startswith("OTAlignment(method='sinkhorn', cost=") and "shape=(60, 50)" in r
    assert "converged=True" in r and "[" not in r and len(r) < 160
    r = repr(assign(x, y))
    assert r.startswith("Assignment(cost=") and "shape=(60, 50), n_pairs=50)" in r
    assert "[" not in r and len(r) < 100
