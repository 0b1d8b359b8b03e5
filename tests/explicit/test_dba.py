"""DTW barycenter averaging: monotone cost, beats the medoid, agrees with tslearn."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from mmalign.explicit._dba import DBAResult, dba

pytest.importorskip("mmalign.explicit._dtw")
from mmalign.explicit._dtw import cdist_dtw, dtw  # noqa: E402


def _warped_set(seed: int, n_series: int = 8):
    """Noisy, randomly time-warped copies of one 2-D curve, 40 to 70 frames each."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, 200)
    out = []
    for _ in range(n_series):
        n = int(rng.integers(40, 70))
        tt = np.linspace(0, 1, n)
        w = np.interp(tt, t, t ** rng.uniform(0.7, 1.4))
        curve = np.stack([np.sin(6 * w), np.cos(4 * w)], axis=1)
        out.append(curve + 0.05 * rng.normal(size=(n, 2)))
    return out


def _medoid(seqs):
    costs = cdist_dtw(seqs, step_pattern="symmetric1")
    return seqs[int(np.argmin(costs.sum(1)))]


def test_lowers_dtw_cost_below_the_medoid():
    seqs = _warped_set(0)
    res = dba(seqs)
    assert isinstance(res, DBAResult) and res.converged
    medoid = _medoid(seqs)
    cost_medoid = np.mean([dtw(s, medoid, step_pattern="symmetric1") for s in seqs])
    cost_dba = np.mean([dtw(s, res.barycenter, step_pattern="symmetric1") for s in seqs])
    assert res.cost_history[0] == pytest.approx(cost_medoid)
    assert res.cost == pytest.approx(cost_dba)
    assert cost_dba < 0.8 * cost_medoid
    assert np.all(np.diff(res.cost_history) <= 0)
    assert len(res.cost_history) == res.n_iter + 1
    assert res.barycenter.shape == medoid.shape


@pytest.mark.slow  # tslearn compiles its numba kernels on first use
def test_agrees_with_tslearn_from_the_same_init():
    barycenters = pytest.importorskip("tslearn.barycenters")
    seqs = _warped_set(1, n_series=6)
    init = _medoid(seqs)
    padded = np.full((len(seqs), max(map(len, seqs)), 2), np.nan)  # tslearn's ragged format
    for k, s in enumerate(seqs):
        padded[k, : len(s)] = s
    weights = np.linspace(0.5, 2.0, len(seqs))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = barycenters.dtw_barycenter_averaging(
            padded, init_barycenter=init, max_iter=6, tol=0.0, weights=weights
        )
        ours = dba(seqs, init=init, max_iter=6, tol=0.0, weights=weights)
    np.testing.assert_allclose(ours.barycenter, theirs, atol=1e-10)


def test_hand_example_and_identical_series():
    seqs = [
        np.array([0.0, 1.0, 2.0]),
        np.array([0.0, 0.0, 1.0, 2.0]),
        np.array([0.0, 1.0, 1.0, 2.0]),
    ]
    res = dba(seqs)
    np.testing.assert_allclose(res.barycenter.ravel(), [0.0, 1.0, 2.0])
    assert res.cost == 0.0
    same = np.sin(np.linspace(0, 3, 20))[:, None]
    np.testing.assert_allclose(dba([same, same, same], init="mean").barycenter, same)


def test_weights_pull_the_barycenter():
    a, b = np.zeros((10, 1)), np.ones((10, 1))
    res = dba([a, b], weights=[3.0, 1.0], init="mean")
    np.testing.assert_allclose(res.barycenter, 0.25)
    # a zero weight ignores the series entirely
    np.testing.assert_allclose(dba([a, b], weights=[0.0, 1.0], init="mean").barycenter, 1.0)


def test_inits_sizes_and_array_input():
    seqs = _warped_set(2, n_series=5)
    res = dba(seqs, barycenter_size=30, init="mean")
    assert res.barycenter.shape == (30, 2)
    res = dba(seqs, barycenter_size=25)
    assert res.barycenter.shape == (25, 2)
    equal = np.stack([s[:40] for s in seqs])  # (N, T, d) array
    np.testing.assert_allclose(dba(equal).barycenter, dba(list(equal)).barycenter)
    uni = dba(equal[:, :, 0])  # (N, T): univariate series
    assert uni.barycenter.shape == (40, 1)


def test_bad_arguments():
    seqs = [np.zeros((5, 2)), np.ones((6, 2))]
    with pytest.raises(ValueError, match="Unknown init 'median'"):
        dba(seqs, init="median")
    with pytest.raises(ValueError, match="weights must be 2 finite non-negative"):
        dba(seqs, weights=[1.0, -1.0])
    with pytest.raises(ValueError, match="same number of features"):
        dba([np.zeros((5, 2)), np.zeros((5, 3))])
    with pytest.raises(ValueError, match="init must have 2 features"):
        dba(seqs, init=np.zeros((4, 3)))
    with pytest.raises(ValueError, match="barycenter_size=3 disagrees"):
        dba(seqs, init=np.zeros((4, 2)), barycenter_size=3)
    with pytest.raises(TypeError, match="X must be a non-empty list"):
        dba([])
    with pytest.raises(ValueError, match=r"X\[1\] holds NaN"):
        dba([np.zeros(3), np.array([0.0, np.nan])])
    with pytest.raises(ValueError, match="max_iter must be an int >= 1"):
        dba(seqs, max_iter=0)
