"""Frame features for speech alignment: MFCC + deltas at 100 frames/s, and an energy VAD."""

from __future__ import annotations

import numpy as np

__all__ = ["mfcc_features", "energy_vad", "FRAME_RATE"]

FRAME_RATE = 100  # frames per second (10 ms hop)


def mfcc_features(
    samples: np.ndarray,
    sample_rate: int = 16000,
    *,
    n_mfcc: int = 13,
    deltas: bool = True,
    normalize: bool = True,
) -> np.ndarray:
    """MFCCs (25 ms window, 10 ms hop, 40 mel bands) with deltas, normalised per utterance.

    Parameters
    ----------
    samples : ndarray of shape (n_samples,)
    sample_rate : int
    n_mfcc : int
        Cepstra kept (c0 included).
    deltas : bool
        Append first-order deltas (regression over +-2 frames).
    normalize : bool
        Cepstral mean and variance normalisation over the utterance.

    Returns
    -------
    ndarray of shape (n_frames, n_mfcc * (1 + deltas)), float32
        ``n_frames = 1 + n_samples // hop`` with ``hop = sample_rate / 100``.

    References
    ----------
    Davis & Mermelstein (1980), "Comparison of parametric representations for monosyllabic
    word recognition in continuously spoken sentences".
    """
    import librosa

    hop = sample_rate // FRAME_RATE
    win = int(round(0.025 * sample_rate))
    n_fft = 1 << int(np.ceil(np.log2(win)))
    y = np.asarray(samples, dtype=np.float32)
    # pre-emphasis flattens the spectral tilt so consonants weigh as much as vowels
    y = np.append(y[:1], y[1:] - 0.97 * y[:-1])
    m = librosa.feature.mfcc(
        y=y,
        sr=sample_rate,
        n_mfcc=n_mfcc,
        n_fft=n_fft,
        win_length=win,
        hop_length=hop,
        n_mels=40,
        fmin=20,
        fmax=min(7600, sample_rate // 2),
        center=True,
    ).T  # (n_frames, n_mfcc)
    feats = [m]
    if deltas:
        feats.append(_delta(m))
    out = np.hstack(feats)
    if normalize:
        out = (out - out.mean(0)) / (out.std(0) + 1e-8)
    return np.ascontiguousarray(out, dtype=np.float32)


def _delta(m: np.ndarray, width: int = 2) -> np.ndarray:
    """Regression deltas over +-width frames with edge padding. (n, d) -> (n, d)."""
    pad = np.pad(m, ((width, width), (0, 0)), mode="edge")
    num = sum(
        k * (pad[width + k : len(m) + width + k] - pad[width - k : len(m) + width - k])
        for k in range(1, width + 1)
    )
    return num / (2 * sum(k * k for k in range(1, width + 1)))


def frame_energy_db(samples: np.ndarray, sample_rate: int = 16000) -> np.ndarray:
    """Log RMS energy (dB) of 25 ms frames at 100 frames/s, centred like :func:`mfcc_features`."""
    hop = sample_rate // FRAME_RATE
    win = int(round(0.025 * sample_rate))
    y = np.pad(np.asarray(samples, dtype=np.float64), (win // 2, win // 2 + hop))
    n = 1 + len(samples) // hop
    idx = np.arange(n)[:, None] * hop + np.arange(win)[None, :]
    rms = np.sqrt(np.mean(y[idx] ** 2, axis=1))
    return 20 * np.log10(rms + 1e-10)


def energy_vad(
    samples: np.ndarray,
    sample_rate: int = 16000,
    *,
    threshold_db: float | None = None,
    min_silence: float = 0.08,
    pad: float = 0.02,
) -> np.ndarray:
    """Speech / non-speech decision per 10 ms frame from frame energy.

    The threshold adapts to the recording: ``floor + max(8 dB, 0.25 * (peak - floor))`` with
    the floor and peak taken as the 5th and 95th percentiles of frame energy. Silences shorter
    than ``min_silence`` seconds are filled (stop closures are speech) and speech regions are
    widened by ``pad`` seconds on each side (weak fricatives at the edges).

    Returns
    -------
    ndarray of shape (n_frames,), bool
        True where the frame holds speech; same frame grid as :func:`mfcc_features`.
    """
    e = frame_energy_db(samples, sample_rate)
    if threshold_db is None:
        floor, peak = np.percentile(e, [5, 95])
        threshold_db = floor + max(8.0, 0.25 * (peak - floor))
    speech = e > threshold_db
    n = len(speech)
    # fill short gaps
    min_gap = int(round(min_silence * FRAME_RATE))
    runs = _runs(~speech)
    for s, t in runs:
        if s > 0 and t < n and t - s < min_gap:
            speech[s:t] = True
    # widen speech
    k = int(round(pad * FRAME_RATE))
    if k > 0 and speech.any():
        idx = np.flatnonzero(speech)
        widened = np.zeros(n, dtype=bool)
        for s, t in _runs(speech):
            widened[max(0, s - k) : min(n, t + k)] = True
        speech = widened
        del idx
    return speech


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Half-open (start, stop) index pairs of the True runs of a 1-D bool array."""
    m = np.concatenate([[False], mask.astype(bool), [False]])
    d = np.diff(m.astype(np.int8))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist()))
