"""Metrics as the multimodal-sentiment field reports them, plus classification metrics.

Sentiment regression (CMU-MOSI / MOSEI; Zadeh et al. 2016, 2018; the MulT and MMSA
evaluation code): Acc2 and F1 in two conventions -- *non-zero* (drop samples whose label is 0,
then negative vs positive) and *has-zero* (label >= 0 vs < 0) -- Acc7 (round(clip(y, -3, 3))
accuracy), Acc5, MAE and Pearson correlation. F1 is the weighted F1 of the binary task, as in
the reference code.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

__all__ = [
    "SentimentMetrics",
    "ClassificationMetrics",
    "sentiment_metrics",
    "classification_metrics",
    "multilabel_metrics",
]


@dataclass
class SentimentMetrics:
    """Regression metrics of the field; accuracies in [0, 1]."""

    acc2_nonzero: float
    f1_nonzero: float
    acc2_haszero: float
    f1_haszero: float
    acc7: float
    acc5: float
    mae: float
    corr: float
    n: int

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass
class ClassificationMetrics:
    """Accuracy and macro / weighted F1 (for multilabel: means over the heads)."""

    accuracy: float
    f1_macro: float
    f1_weighted: float
    n: int

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def _vector(x, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64).reshape(-1)
    if arr.size == 0:
        raise ValueError(f"{name} is empty; metrics need at least one sample.")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} holds NaN or inf; check the model outputs.")
    return arr


def _weighted_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(y_true, y_pred, average="weighted", zero_division=0))


def sentiment_metrics(y_pred, y_true) -> SentimentMetrics:
    """Acc2 / F1 (non-zero and has-zero), Acc7, Acc5, MAE and Corr of sentiment scores.

    Parameters
    ----------
    y_pred, y_true : array-like of shape (N,)
        Predicted and true sentiment in [-3, 3].

    Examples
    --------
    >>> m = sentiment_metrics([-1.0, 0.4, 2.0, 0.2], [-2.0, 0.0, 1.5, -0.5])
    >>> m.acc2_nonzero, m.acc2_haszero  # 0-label dropped / counted as positive
    (0.6666666666666666, 0.75)
    """
    p, y = _vector(y_pred, "y_pred"), _vector(y_true, "y_true")
    if p.shape != y.shape:
        raise ValueError(f"y_pred and y_true must have the same length, got {p.size} and {y.size}.")
    nz = y != 0
    if nz.any():
        acc2_nz = float(np.mean((p[nz] > 0) == (y[nz] > 0)))
        f1_nz = _weighted_f1(y[nz] > 0, p[nz] > 0)
    else:
        acc2_nz = f1_nz = float("nan")
    acc2_hz = float(np.mean((p >= 0) == (y >= 0)))
    f1_hz = _weighted_f1(y >= 0, p >= 0)
    acc7 = float(np.mean(np.round(np.clip(p, -3, 3)) == np.round(np.clip(y, -3, 3))))
    acc5 = float(np.mean(np.round(np.clip(p, -2, 2)) == np.round(np.clip(y, -2, 2))))
    mae = float(np.mean(np.abs(p - y)))
    if p.size > 1 and p.std() > 0 and y.std() > 0:
        corr = float(np.corrcoef(p, y)[0, 1])
    else:
        corr = float("nan")
    return SentimentMetrics(acc2_nz, f1_nz, acc2_hz, f1_hz, acc7, acc5, mae, corr, int(p.size))


def classification_metrics(y_pred, y_true) -> ClassificationMetrics:
    """Accuracy and F1 of class predictions.

    Parameters
    ----------
    y_pred, y_true : array-like of int, shape (N,)

    Examples
    --------
    >>> classification_metrics([0, 1, 1, 2], [0, 1, 2, 2]).accuracy
    0.75
    """
    from sklearn.metrics import f1_score

    p = np.asarray(y_pred).reshape(-1)
    y = np.asarray(y_true).reshape(-1)
    if p.shape != y.shape or p.size == 0:
        raise ValueError(
            f"y_pred and y_true must be non-empty and of the same length, got {p.size} and {y.size}."
        )
    return ClassificationMetrics(
        float(np.mean(p == y)),
        float(f1_score(y, p, average="macro", zero_division=0)),
        float(f1_score(y, p, average="weighted", zero_division=0)),
        int(p.size),
    )


def multilabel_metrics(y_pred, y_true) -> ClassificationMetrics:
    """Mean over K binary heads (IEMOCAP's 4 emotions) of accuracy and F1.

    Parameters
    ----------
    y_pred, y_true : array-like of int, shape (N, K)
    """
    p, y = np.asarray(y_pred), np.asarray(y_true)
    if p.ndim != 2 or p.shape != y.shape:
        raise ValueError(
            f"y_pred and y_true must both have shape (N, K), got {p.shape} and {y.shape}."
        )
    per = [classification_metrics(p[:, k], y[:, k]) for k in range(p.shape[1])]
    return ClassificationMetrics(
        float(np.mean([m.accuracy for m in per])),
        float(np.mean([m.f1_macro for m in per])),
        float(np.mean([m.f1_weighted for m in per])),
        int(p.shape[0]),
    )
