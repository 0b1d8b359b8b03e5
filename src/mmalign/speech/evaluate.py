"""Word-boundary accuracy of an alignment against a reference."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

import numpy as np

from ._result import Span, SpeechAlignment

__all__ = ["BoundaryReport", "boundary_errors"]


@dataclass
class BoundaryReport:
    """Word-boundary errors (start and end of every matched word, pooled).

    Attributes
    ----------
    mae : float
        Mean absolute error, seconds.
    median : float
        Median absolute error, seconds.
    within : dict of float -> float
        Fraction of boundaries within each tolerance (seconds): {0.02: .., 0.05: .., 0.1: ..}.
    n_boundaries : int
    n_unmatched : int
        Reference words with no hypothesis word of the same label at that place.
    errors : ndarray of shape (n_boundaries,)
        Signed errors hypothesis - reference, seconds.
    """

    mae: float
    median: float
    within: dict[float, float]
    n_boundaries: int
    n_unmatched: int = 0
    errors: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)

    def summary(self) -> str:
        w = "  ".join(f"<={int(t * 1000)}ms {100 * v:5.1f}%" for t, v in self.within.items())
        return (
            f"boundaries {self.n_boundaries}  MAE {1000 * self.mae:6.1f} ms  "
            f"median {1000 * self.median:6.1f} ms  {w}"
            + (f"  unmatched words {self.n_unmatched}" if self.n_unmatched else "")
        )


def _words(x, name: str) -> list[Span]:
    if isinstance(x, SpeechAlignment):
        return x.words
    if isinstance(x, (list, tuple)):
        out = []
        for w in x:
            if isinstance(w, Span):
                out.append(w)
            elif isinstance(w, (list, tuple)) and len(w) >= 3:
                out.append(Span(str(w[0]), float(w[1]), float(w[2])))
            else:
                raise TypeError(f"{name} must hold Span or (word, start, end) items, got {w!r}.")
        return out
    raise TypeError(
        f"{name} must be a SpeechAlignment or a list of Span / (word, start, end), "
        f"got {type(x).__name__}."
    )


def _norm(label: str) -> str:
    return "".join(ch for ch in label.lower() if ch.isalnum())


def boundary_errors(
    hyp, ref, *, tolerances: tuple[float, ...] = (0.02, 0.05, 0.1)
) -> BoundaryReport:
    """Compare word boundaries of ``hyp`` with ``ref``.

    Words are paired in order when both have the same labels; otherwise by a longest-common-
    subsequence match on normalised labels (unpaired reference words are counted, not scored).

    Parameters
    ----------
    hyp, ref : SpeechAlignment or list of Span or list of (word, start, end)
    tolerances : tuple of float
        Seconds.

    Returns
    -------
    BoundaryReport
    """
    h = [w for w in _words(hyp, "hyp") if w.aligned]
    r = _words(ref, "ref")
    if not r:
        raise ValueError("ref holds no words; nothing to evaluate against.")
    hl, rl = [_norm(w.label) for w in h], [_norm(w.label) for w in r]
    if hl == rl:
        pairs = list(zip(range(len(h)), range(len(r))))
    else:
        sm = difflib.SequenceMatcher(a=hl, b=rl, autojunk=False)
        pairs = [
            (blk.a + k, blk.b + k) for blk in sm.get_matching_blocks() for k in range(blk.size)
        ]
    errs = []
    for i, j in pairs:
        errs.append(h[i].start - r[j].start)
        errs.append(h[i].end - r[j].end)
    e = np.asarray(errs, dtype=np.float64)
    a = np.abs(e)
    if len(a) == 0:
        nan = float("nan")
        return BoundaryReport(nan, nan, {t: 0.0 for t in tolerances}, 0, len(r), e)
    return BoundaryReport(
        mae=float(a.mean()),
        median=float(np.median(a)),
        within={float(t): float(np.mean(a <= t + 1e-9)) for t in tolerances},
        n_boundaries=len(a),
        n_unmatched=len(r) - len(pairs),
        errors=e,
    )
