import numpy as np
import pytest

from mmalign.connections import (
    cooccurrence,
    cross_correlation_lag,
    dtw_lag,
    resample_stream,
    retrieval_metrics,
    similarity_matrix,
)


# ------------------------------------------------------------------------------ retrieval
def test_retrieval_hand_values():
    s = np.array([[0.9, 0.1, 0.0], [0.5, 0.4, 0.1], [0.2, 0.3, 0.1]])
    r = retrieval_metrics(s, ks=(1, 2), n_permutations=0)
    assert r.ranks.tolist() == [1, 2, 3]
    assert r.recall == {1: pytest.approx(1 / 3), 2: pytest.approx(2 / 3)}
    assert r.median_rank == 2 and r.mean_rank == 2
    assert r.chance == {1: pytest.approx(1 / 3), 2: pytest.approx(2 / 3)}


def test_ties_count_against_the_query():
    r = retrieval_metrics(np.zeros((4, 4)), ks=(1,), n_permutations=0)
    assert r.recall[1] == 0 and np.all(r.ranks == 4)


def test_paired_embeddings_beat_permutation_baseline():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(100, 16))
    x = z + 0.5 * rng.normal(size=z.shape)
    y = z @ np.eye(16) + 0.5 * rng.normal(size=z.shape)
    r = retrieval_metrics(similarity_matrix(x, y), n_permutations=200, seed=1)
    assert r.recall[1] > 0.8 and r.median_rank == 1
    assert r.permutation_recall[10] == pytest.approx(0.1, abs=0.03)  # chance 10/100
    assert r.p_value[1] == pytest.approx(1 / 201)
    noise = retrieval_metrics(rng.normal(size=(100, 100)), n_permutations=200, seed=1)
    assert noise.p_value[5] > 0.01 and noise.recall[10] < 0.25


def test_targets_and_validation():
    s = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    r = retrieval_metrics(s, targets=[1, 0, 1], ks=(1,), n_permutations=0)
    assert r.recall[1] == 1.0
    with pytest.raises(ValueError, match="more queries .* pass targets="):
        retrieval_metrics(s)
    with pytest.raises(ValueError, match=r"targets must lie in \[0, 2\)"):
        retrieval_metrics(s, targets=[0, 1, 2])
    with pytest.raises(ValueError, match="similarity must be a non-empty 2-D"):
        retrieval_metrics(np.zeros(3))
    with pytest.raises(ValueError, match="ks must be positive"):
        retrieval_metrics(np.eye(2), ks=(0,))
    with pytest.raises(ValueError, match="Unknown metric"):
        similarity_matrix(np.eye(2), np.eye(2), metric="l2")


# ------------------------------------------------------------------------------------ lag
def _planted(lag_frames, n=300, seed=0, noise=0.3):
    rng = np.random.default_rng(seed)
    # a smooth random source so that neighbouring lags correlate too (a realistic peak)
    src = np.convolve(rng.normal(size=n + 100), np.ones(5) / 5, mode="same")
    x = src[50 : n + 50] + noise * rng.normal(size=n)
    y = src[50 - lag_frames : n + 50 - lag_frames] + noise * rng.normal(size=n)  # y[t] = x[t - lag]
    return x, y


@pytest.mark.parametrize("lag", [-9, 0, 4, 13])
def test_cross_correlation_recovers_planted_lag(lag):
    x, y = _planted(lag)
    est = cross_correlation_lag(x, y, sample_rate=100.0, max_lag=0.3)
    assert est.lag == pytest.approx(lag / 100)
    assert est.peak > 0.5 and est.peak == np.nanmax(est.correlation)
    assert est.lags[0] == pytest.approx(-0.3) and len(est.lags) == 61


def test_cross_correlation_pools_short_samples():
    pairs = [_planted(6, n=40, seed=s, noise=1.0) for s in range(60)]
    est = cross_correlation_lag([p[0] for p in pairs], [p[1] for p in pairs], max_lag=10)
    assert est.lag == 6
    one = cross_correlation_lag(pairs[0][0], pairs[0][1], max_lag=10)
    assert est.peak >= 0 and one.lags.shape == est.lags.shape


def test_dtw_lag_recovers_planted_lag_at_two_rates():
    pytest.importorskip("mmalign.explicit._dtw")
    rng = np.random.default_rng(3)
    t = np.arange(0, 6, 0.01)  # x at 100 fps
    events = np.sort(rng.uniform(0.2, 5.5, size=12))

    def bumps(times, at):
        return np.exp(-0.5 * ((at[:, None] - times[None, :]) / 0.04) ** 2).sum(1)

    x = bumps(events, t)
    ty = np.arange(0, 6, 1 / 30)  # y at 30 fps, every event 0.15 s later
    y = bumps(events + 0.15, ty)
    dist = dtw_lag(x, y, x_rate=100, y_rate=30)
    assert dist.lag == pytest.approx(0.15, abs=0.02)
    assert dist.quartiles[0] <= dist.lag <= dist.quartiles[1]
    counts, edges = dist.histogram(bins=10)
    assert counts.sum() == len(dist.offsets)


def test_resample_stream_and_lag_validation():
    x = np.arange(10.0)
    r = resample_stream(x, 10, 20)
    assert r.shape == (20, 1) and r[2, 0] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="sample_rate must be a positive number"):
        cross_correlation_lag(x, x, sample_rate=0)
    with pytest.raises(ValueError, match="must pair up"):
        cross_correlation_lag([x, x], [x])
    with pytest.raises(ValueError, match="same channels"):
        cross_correlation_lag(np.ones((10, 2)), np.ones((10, 3)))
    with pytest.raises(ValueError, match="trim must be in"):
        dtw_lag(x, x, trim=0.7)


# ---------------------------------------------------------------------------- co-occurrence
def test_cooccurrence_hand_values():
    co = cooccurrence(["a", "a", "b", "b"], ["x", "y", "y", "y"], test="fisher", correction="none")
    assert co.x_labels.tolist() == ["a", "b"] and co.y_labels.tolist() == ["x", "y"]
    np.testing.assert_array_equal(co.counts, [[1, 1], [0, 2]])
    # p(a, x) = 1/4, p(a) = 1/2, p(x) = 1/4 -> PMI = log2(2) = 1 bit
    assert co.pmi[0, 0] == pytest.approx(1.0)
    assert co.pmi[1, 0] == -np.inf
    # Fisher one-sided for [[1, 1], [0, 2]]: P(a >= 1) = 1/2
    assert co.p_value[0, 0] == pytest.approx(0.5)


def test_planted_cooccurrences_found_and_independent_pairs_not():
    rng = np.random.default_rng(7)
    n = 400
    x = rng.integers(0, 5, size=n)
    y = np.where(rng.random(n) < 0.6, (x + 2) % 5, rng.integers(0, 5, size=n))  # planted map
    z = rng.integers(0, 5, size=n)  # independent of x
    co = cooccurrence(x, y)
    expected = np.zeros((5, 5), bool)
    expected[np.arange(5), (np.arange(5) + 2) % 5] = True
    np.testing.assert_array_equal(co.significant, expected)
    assert not cooccurrence(x, z).significant.any()
    assert not cooccurrence(x, z, test="chi2").significant.any()
    assert np.array_equal(cooccurrence(x, y, test="chi2").significant, expected)
    rows = co.table()
    assert len(rows) == 5 and rows[0]["pmi"] >= rows[-1]["pmi"] > 1.0


def test_cooccurrence_sets_and_indicators_agree():
    sets_x = [{1, 2}, {2}, {1, 3}, {3}]
    sets_y = [{"one", "two"}, {"two"}, {"one"}, set()]
    co = cooccurrence(
        sets_x, sets_y, x_labels=[1, 2, 3], y_labels=["one", "two"], correction="none"
    )
    ind_x = np.array([[1, 1, 0], [0, 1, 0], [1, 0, 1], [0, 0, 1]])
    ind_y = np.array([[1, 1], [0, 1], [1, 0], [0, 0]])
    co2 = cooccurrence(ind_x, ind_y, correction="none")
    np.testing.assert_array_equal(co.counts, co2.counts)
    np.testing.assert_allclose(co.p_value, co2.p_value)
    assert co.counts.tolist() == [[2, 1], [1, 2], [1, 0]]


def test_cooccurrence_validation():
    with pytest.raises(ValueError, match="same units"):
        cooccurrence([1, 2], [1])
    with pytest.raises(ValueError, match="Unknown test 'g'"):
        cooccurrence([1, 2], [1, 2], test="g")
    with pytest.raises(ValueError, match="Unknown correction"):
        cooccurrence([1, 2], [1, 2], correction="bh")
    with pytest.raises(TypeError, match="0/1 indicators"):
        cooccurrence(np.full((2, 2), 3), [1, 2])
    with pytest.raises(ValueError, match="alpha must be in"):
        cooccurrence([1, 2], [1, 2], alpha=2)
