"""Connections between the streams of a paired multimodal dataset (digits-av and the like).

:func:`stream_connections` measures, from the streams alone, the two kinds of dependency that
digits-av plants, and compares them with the ground truth where it is known:

* the lag between speech and images: every image appears a random delay after its word
  starts. The onset envelope of the audio (rise of the MFCC energy coefficient) and the change
  envelope of the video (norm of the frame difference), brought to one frame rate, are
  cross-correlated (pooled over samples) and aligned with DTW (:func:`dtw_lag`);
* co-occurrence of discrete events: the written digits of a sample against the clusters
  (k-means) of its video frames and of its audio frames; the significant pairs should link
  each digit to the cluster of its own images / sounds (:func:`cooccurrence`); element-wise
  marks drawn independently (spoken stress, written emphasis, ink colour) must show no
  association.

It also turns the co-occurrence table into a cross-modal retrieval score (text -> video),
scored with :func:`retrieval_metrics` against a permutation baseline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mmalign.connections.cooccurrence import Cooccurrence, cooccurrence
from mmalign.connections.lag import (
    LagEstimate,
    OffsetDistribution,
    cross_correlation_lag,
    resample_stream,
)
from mmalign.connections.retrieval import RetrievalResult, retrieval_metrics

__all__ = [
    "SampleLags",
    "StreamConnections",
    "stream_connections",
    "onset_envelope",
    "change_envelope",
    "appear_envelope",
]


@dataclass(frozen=True)
class StreamConnections:
    """What :func:`stream_connections` found.

    Attributes
    ----------
    lags : SampleLags
        Per-sample planted lag and its cross-correlation and DTW estimates.
    xcorr : LagEstimate
        Cross-correlation of the appearing-ink envelope after the audio onset envelope, pooled
        over all samples.
    dtw : OffsetDistribution
        DTW offsets between the same (z-scored) envelopes, read at the audio onsets, pooled
        over all samples.
    text_vision, text_audio : Cooccurrence
        Written digit x frame cluster co-occurrence per sample.
    cluster_digit : dict of str -> ndarray
        Majority true digit of each cluster (per modality; -1 for clusters of silence/blank).
    recovered_pairs : dict of str -> int
        Digits whose highest-PMI significant cluster is a cluster of that digit (out of 10).
    controls : dict of str -> Cooccurrence
        Independent element-wise marks (should show no significant pair).
    retrieval : RetrievalResult or None
        Text -> video retrieval with the PMI score on held-out samples.
    """

    lags: SampleLags
    xcorr: LagEstimate
    dtw: OffsetDistribution
    text_vision: Cooccurrence
    text_audio: Cooccurrence
    cluster_digit: dict[str, np.ndarray]
    recovered_pairs: dict[str, int]
    controls: dict[str, Cooccurrence]
    retrieval: RetrievalResult | None = None
    notes: dict[str, Any] = field(default_factory=dict)


def _smooth(e: np.ndarray, sigma: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter1d

    return gaussian_filter1d(e, sigma, mode="nearest") if sigma > 0 else e


def onset_envelope(x: np.ndarray, *, channel: int = 0, sigma: float = 2.0) -> np.ndarray:
    """Half-wave rectified rise of one channel (MFCC c0 ~ log energy): (n,) onset strength."""
    d = np.diff(np.asarray(x, dtype=np.float64)[:, channel], prepend=x[0, channel])
    return _smooth(np.maximum(d, 0.0), sigma)


def change_envelope(x: np.ndarray, *, sigma: float = 0.0) -> np.ndarray:
    """Norm of the frame-to-frame difference: (n,) change strength (0 at the first frame)."""
    x = np.asarray(x, dtype=np.float64)
    d = np.linalg.norm(np.diff(x, axis=0, prepend=x[:1]), axis=1)
    return _smooth(d, sigma)


def appear_envelope(x: np.ndarray, *, sigma: float = 0.0) -> np.ndarray:
    """Sum of the per-feature rises between frames: (n,) strength of what *appears*.

    Unlike :func:`change_envelope` it ignores what disappears, so an image that leaves the
    screen does not count as an event.
    """
    x = np.asarray(x, dtype=np.float64)
    d = np.maximum(np.diff(x, axis=0, prepend=x[:1]), 0.0).sum(1)
    return _smooth(d, sigma)


@dataclass(frozen=True)
class SampleLags:
    """Per-sample lags (seconds): ground truth and two estimates, each of shape (n_samples,).

    ``planted`` is the mean over the sample's elements of (image start - word start);
    ``first_onset`` is the first detected video onset minus the first detected audio onset.
    """

    planted: np.ndarray
    xcorr: np.ndarray
    dtw: np.ndarray
    first_onset: np.ndarray

    def error(self, which: str) -> float:
        """Mean absolute error of an estimate (``"xcorr"``, ``"dtw"``, ``"first_onset"``)."""
        return float(np.mean(np.abs(getattr(self, which) - self.planted)))

    def correlation(self, which: str) -> float:
        """Pearson correlation of an estimate with the planted lag across samples."""
        return float(np.corrcoef(getattr(self, which), self.planted)[0, 1])


def _peaks(x: np.ndarray, rate: float) -> np.ndarray:
    """Onset frames: peaks above mean + 1 std, at least 0.1 s apart (the argmax if none)."""
    from scipy.signal import find_peaks

    peaks, _ = find_peaks(x, height=x.mean() + x.std(), distance=max(1, int(0.1 * rate)))
    return peaks if len(peaks) else np.array([int(np.argmax(x))])


def _dtw_event_offsets(x: np.ndarray, y: np.ndarray, rate: float) -> np.ndarray:
    """DTW offsets (seconds) read at the onset peaks of ``x`` only.

    Between events both envelopes are flat and the path's offset there says nothing; at an
    onset of ``x`` the path lands on the matching onset of ``y``, so that offset is the lag.
    """
    from mmalign.explicit import dtw_path

    path = np.asarray(dtw_path(x, y).path)
    peaks = _peaks(x, rate)
    off = [np.mean(path[path[:, 0] == i, 1]) - i for i in peaks]
    return np.asarray(off, dtype=np.float64) / rate


def _frame_labels(segments: np.ndarray, digits: np.ndarray, length: int) -> np.ndarray:
    """True digit of every frame inside a segment; -1 outside (silence, blank)."""
    lab = np.full(length, -1, dtype=np.int64)
    for (s, e), d in zip(segments, digits):
        lab[int(s) : int(e)] = d
    return lab


def _clusters(
    seqs: list[np.ndarray], labels: list[np.ndarray], k: int, seed: int, max_frames: int = 30000
) -> tuple[list[np.ndarray], np.ndarray]:
    from sklearn.cluster import KMeans

    allx = np.concatenate(seqs)
    rng = np.random.default_rng(seed)
    fit = (
        allx if len(allx) <= max_frames else allx[rng.choice(len(allx), max_frames, replace=False)]
    )
    km = KMeans(n_clusters=k, n_init=3, random_state=seed).fit(fit)
    assigned = [km.predict(s) for s in seqs]
    lab = np.concatenate(labels)
    cl = np.concatenate(assigned)
    majority = np.full(k, -1, dtype=np.int64)
    for c in range(k):
        vals = lab[cl == c]
        if len(vals):
            v, n = np.unique(vals, return_counts=True)
            majority[c] = v[np.argmax(n)]
    return assigned, majority, km


def _recovered(co: Cooccurrence, majority: np.ndarray) -> int:
    ok = 0
    for i, d in enumerate(co.x_labels):
        sig = np.flatnonzero(co.significant[i])
        if len(sig) and majority[co.y_labels[sig[np.argmax(co.pmi[i, sig])]]] == d:
            ok += 1
    return ok


def _bags(assigned: list[np.ndarray], min_frames: int) -> list[set[int]]:
    out = []
    for a in assigned:
        v, n = np.unique(a, return_counts=True)
        out.append({int(c) for c in v[n >= min_frames]})
    return out


def stream_connections(
    split: Any,
    *,
    audio_fps: float,
    vision_fps: float,
    held_out: Any = None,
    n_vision_clusters: int = 40,
    n_audio_clusters: int = 32,
    max_lag: float = 1.0,
    seed: int = 0,
) -> StreamConnections:
    """Recover the lags and co-occurrences planted in a digits-av split.

    Parameters
    ----------
    split : MultimodalSplit
        A digits-av split (features ``text``, ``audio``, ``vision``; ``extras`` with
        ``segments``, ``digits`` and ``marks``, used only for the ground truth columns).
    audio_fps, vision_fps : float
        Frame rates of the audio and video features.
    held_out : MultimodalSplit, optional
        Another split for the text -> video retrieval (the PMI table is fitted on ``split``).
    n_vision_clusters, n_audio_clusters : int
        k of the k-means that turns frames into discrete events.
    max_lag : float
        Largest lag searched by the cross-correlation, seconds.
    seed : int

    Returns
    -------
    StreamConnections
    """
    for key in ("segments", "digits", "marks"):
        if key not in getattr(split, "extras", {}):
            raise ValueError(
                f"split.extras has no {key!r}; stream_connections needs a digits-av split "
                "(mmalign.data.load_digits_av)."
            )
    feats, lens, ex = split.features, split.lengths, split.extras
    n = len(split)
    audio = [feats["audio"][i, : lens["audio"][i]] for i in range(n)]
    vision = [feats["vision"][i, : lens["vision"][i]] for i in range(n)]
    text = [feats["text"][i, : lens["text"][i]] for i in range(n)]

    # --- ground truth lag: image start minus word start, per element and per sample
    a_seg, v_seg = ex["segments"]["audio"], ex["segments"]["vision"]
    planted_el = v_seg[:, :, 0] / vision_fps - a_seg[:, :, 0] / audio_fps  # (N, k)

    # --- lag from the streams: audio onsets vs appearing ink, both at the audio rate
    env_a = [onset_envelope(a) for a in audio]
    env_v = [
        _smooth(resample_stream(appear_envelope(v), vision_fps, audio_fps)[:, 0], 2.0)
        for v in vision
    ]
    # pad with "no event" rather than cut: the video often runs past the end of the speech
    m = [max(len(a), len(v)) for a, v in zip(env_a, env_v)]
    env_a = [np.pad(a, (0, k - len(a))) for a, k in zip(env_a, m)]
    env_v = [np.pad(v, (0, k - len(v))) for v, k in zip(env_v, m)]
    pooled = cross_correlation_lag(
        env_a, env_v, sample_rate=audio_fps, max_lag=max_lag, min_overlap=0.3
    )
    per_xc = np.array(
        [
            cross_correlation_lag(a, v, sample_rate=audio_fps, max_lag=max_lag, min_overlap=0.3).lag
            for a, v in zip(env_a, env_v)
        ]
    )
    za = [(a - a.mean()) / (a.std() + 1e-9) for a in env_a]
    zv = [(v - v.mean()) / (v.std() + 1e-9) for v in env_v]
    per_dtw = [_dtw_event_offsets(a, v, audio_fps) for a, v in zip(za, zv)]
    first = np.array(
        [(_peaks(v, audio_fps)[0] - _peaks(a, audio_fps)[0]) / audio_fps for a, v in zip(za, zv)]
    )
    all_off = np.concatenate(per_dtw)
    dl = OffsetDistribution(
        lag=float(np.median(all_off)),
        offsets=all_off,
        quartiles=tuple(float(q) for q in np.percentile(all_off, [25, 75])),
    )
    lags = SampleLags(
        planted=planted_el.mean(1),
        xcorr=per_xc,
        dtw=np.array([np.median(d) for d in per_dtw]),
        first_onset=first,
    )

    # --- co-occurrence: written digits vs frame clusters
    text_digits = [set(np.argmax(t[:, :10], axis=1).tolist()) for t in text]
    v_lab = [_frame_labels(v_seg[i], ex["digits"][i], len(vision[i])) for i in range(n)]
    a_lab = [_frame_labels(a_seg[i], ex["digits"][i], len(audio[i])) for i in range(n)]
    v_cl, v_major, v_km = _clusters(vision, v_lab, n_vision_clusters, seed)
    a_cl, a_major, _ = _clusters(audio, a_lab, n_audio_clusters, seed)
    tv = cooccurrence(
        text_digits, _bags(v_cl, 2), x_labels=range(10), y_labels=range(n_vision_clusters)
    )
    ta = cooccurrence(
        text_digits, _bags(a_cl, 3), x_labels=range(10), y_labels=range(n_audio_clusters)
    )

    stress, emph, ink = (ex["marks"][:, c].ravel() for c in range(3))
    controls = {
        "emphasis~ink": cooccurrence(emph, ink),
        "stress~ink": cooccurrence(stress, ink),
        "stress~emphasis": cooccurrence(stress, emph),
    }

    retrieval = None
    if held_out is not None:
        hf, hl = held_out.features, held_out.lengths
        h_text = [
            set(np.argmax(hf["text"][i, : hl["text"][i], :10], axis=1).tolist())
            for i in range(len(held_out))
        ]
        h_bags = _bags(
            [v_km.predict(hf["vision"][i, : hl["vision"][i]]) for i in range(len(held_out))], 2
        )
        weight = np.where(tv.significant, np.nan_to_num(tv.pmi, neginf=0.0), 0.0)  # (10, K)
        tx = np.zeros((len(held_out), 10))
        vx = np.zeros((len(held_out), n_vision_clusters))
        for i, (t, b) in enumerate(zip(h_text, h_bags)):
            tx[i, list(t)] = 1.0
            vx[i, list(b)] = 1.0
        retrieval = retrieval_metrics(tx @ weight @ vx.T, n_permutations=200, seed=seed)

    return StreamConnections(
        lags=lags,
        xcorr=pooled,
        dtw=dl,
        text_vision=tv,
        text_audio=ta,
        cluster_digit={"vision": v_major, "audio": a_major},
        recovered_pairs={"vision": _recovered(tv, v_major), "audio": _recovered(ta, a_major)},
        controls=controls,
        retrieval=retrieval,
        notes={"n_samples": n, "audio_fps": audio_fps, "vision_fps": vision_fps},
    )
