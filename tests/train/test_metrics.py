import numpy as np
import pytest

from mmalign.train.metrics import classification_metrics, multilabel_metrics, sentiment_metrics


def test_sentiment_metrics_hand_computed():
    y = np.array([-2.0, 0.0, 1.5, -0.5, 2.6])
    p = np.array([-1.0, 0.4, 2.0, 0.2, 3.4])
    m = sentiment_metrics(p, y)
    # non-zero: drop y == 0 -> signs agree for -2, 1.5, 2.6; not for -0.5
    assert m.acc2_nonzero == pytest.approx(3 / 4)
    # has-zero: y >= 0 vs p >= 0 -> 0 counts as positive: 4 of 5 agree
    assert m.acc2_haszero == pytest.approx(4 / 5)
    # acc7: round(clip) -> y [-2, 0, 2, -0, 3], p [-1, 0, 2, 0, 3]
    assert m.acc7 == pytest.approx(4 / 5)
    assert m.mae == pytest.approx(np.mean(np.abs(p - y)))
    assert m.corr == pytest.approx(np.corrcoef(p, y)[0, 1])
    assert m.n == 5 and 0 < m.f1_nonzero <= 1


def test_classification_and_multilabel():
    m = classification_metrics([0, 1, 1, 2], [0, 1, 2, 2])
    assert m.accuracy == 0.75
    assert m.f1_macro == pytest.approx((1 + 2 / 3 + 2 / 3) / 3)
    ml = multilabel_metrics([[0, 1], [1, 1]], [[0, 0], [1, 1]])
    assert ml.accuracy == pytest.approx(0.75)


def test_metric_errors():
    with pytest.raises(ValueError, match="same length"):
        sentiment_metrics([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="NaN"):
        sentiment_metrics([np.nan], [1.0])
    with pytest.raises(ValueError, match=r"shape \(N, K\)"):
        multilabel_metrics([0, 1], [0, 1])
