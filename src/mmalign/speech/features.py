"""Frame features for speech alignment: MFCC + deltas at 100 frames/s, and an energy VAD."""

from __future__ import annotations

import numpy as np

__all__ = ["mfcc_features", "energy_vad", "speech_segments", "FRAME_RATE"]

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
    hop = sample_rate // FRAME_RATE
    win = int(round(0.025 * sample_rate))
    n_fft = 1 << int(np.ceil(np.log2(win)))
    y = np.asarray(samples, dtype=np.float32)
    # pre-emphasis flattens the spectral tilt so consonants weigh as much as vowels
    y = np.append(y[:1], y[1:] - 0.97 * y[:-1])
    n = 1 + len(y) // hop
    y = np.pad(y, (n_fft // 2, n_fft // 2 + hop))
    frames = np.lib.stride_tricks.as_strided(
        y, shape=(n, n_fft), strides=(y.strides[0] * hop, y.strides[0]), writeable=False
    )
    window = np.zeros(n_fft, dtype=np.float32)
    off = (n_fft - win) // 2
    window[off : off + win] = np.hanning(win + 2)[1:-1]  # (n_fft,) centred Hann of win samples
    spec = np.fft.rfft(frames * window, axis=1)  # (n, n_fft // 2 + 1)
    power = (spec.real**2 + spec.imag**2).astype(np.float32)
    mel = power @ _mel_basis(sample_rate, n_fft).T  # (n, 40)
    logmel = np.log(mel + 1e-10)
    from scipy.fft import dct

    m = dct(logmel, type=2, norm="ortho", axis=1)[:, :n_mfcc]  # (n_frames, n_mfcc)
    feats = [m]
    if deltas:
        feats.append(_delta(m))
    out = np.hstack(feats)
    if normalize:
        out = (out - out.mean(0)) / (out.std(0) + 1e-8)
    return np.ascontiguousarray(out, dtype=np.float32)


_MEL_CACHE: dict[tuple[int, int], np.ndarray] = {}


def _mel_basis(sample_rate: int, n_fft: int) -> np.ndarray:
    """40 Slaney mel filters over 20 Hz .. min(7600, sr / 2) Hz, cached. (40, n_fft // 2 + 1)."""
    key = (sample_rate, n_fft)
    if key not in _MEL_CACHE:
        import librosa

        _MEL_CACHE[key] = librosa.filters.mel(
            sr=sample_rate, n_fft=n_fft, n_mels=40, fmin=20, fmax=min(7600, sample_rate // 2)
        ).astype(np.float32)
    return _MEL_CACHE[key]


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
    csum = np.concatenate([[0.0], np.cumsum(y * y)])
    starts = np.arange(n) * hop
    power = (csum[starts + win] - csum[starts]) / win
    return 10 * np.log10(np.maximum(power, 0.0) + 1e-20)


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
        threshold_db = _threshold(e)
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


def _threshold(e: np.ndarray) -> float:
    floor, peak = np.percentile(e, [5, 95])
    return float(floor + max(4.0, 0.25 * (peak - floor)))


def speech_segments(
    samples: np.ndarray,
    sample_rate: int = 16000,
    *,
    min_silence: float = 0.08,
    resolution: float = 0.001,
    max_extend: float = 0.3,
) -> np.ndarray:
    """Speech regions of the recording, with edges refined to ``resolution`` seconds.

    The 10 ms :func:`energy_vad` decision (no padding) finds the regions. Each region then
    grows, by at most ``max_extend`` seconds a side, over frames still above a lower
    threshold (hysteresis: ``floor + max(1.5 dB, 0.075 * (peak - floor))``), which recovers weak
    onsets and decaying offsets under noise. Each edge finally moves to where a 5 ms energy
    envelope crosses that lower threshold within +-25 ms, which removes the half-window bias
    of 25 ms frames.

    Returns
    -------
    ndarray of shape (n_segments, 2)
        ``(start_s, end_s)`` per speech region, in order.
    """
    e = frame_energy_db(samples, sample_rate)
    thr = _threshold(e)
    mask = energy_vad(samples, sample_rate, threshold_db=thr, min_silence=min_silence, pad=0.0)
    runs = _runs(mask)
    if not runs:
        return np.zeros((0, 2))
    floor, peak = np.percentile(e, [5, 95])
    low = float(floor + max(1.5, 0.075 * (peak - floor)))
    reach_frames = int(round(max_extend * FRAME_RATE))
    grown, prev = [], 0
    for k, (s, t) in enumerate(runs):
        nxt = runs[k + 1][0] if k + 1 < len(runs) else len(e)
        s_min, t_max = max(prev, s - reach_frames), min(nxt, t + reach_frames)
        while s > s_min and e[s - 1] > low:
            s -= 1
        while t < t_max and e[t] > low:
            t += 1
        grown.append((s, t))
        prev = t
    runs = grown
    step = max(1, int(round(resolution * sample_rate)))
    win = max(step, int(round(0.005 * sample_rate)))
    y = np.asarray(samples, dtype=np.float64) ** 2
    csum = np.concatenate([[0.0], np.cumsum(y)])
    n = len(samples)

    def env(lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        """Centre sample and 5 ms energy (dB) for centres lo..hi every ``step`` samples."""
        c = np.arange(max(lo, 0), min(hi, n), step)
        a = np.clip(c - win // 2, 0, n)
        b = np.clip(c + win // 2, 0, n)
        p = (csum[b] - csum[a]) / np.maximum(b - a, 1)
        return c, 10 * np.log10(p + 1e-20)

    hop = sample_rate // FRAME_RATE
    reach = int(0.025 * sample_rate)
    out = []
    for s, t in runs:
        c, v = env(s * hop - reach, s * hop + reach)
        above = np.flatnonzero(v > low)
        start = c[above[0]] if len(above) else s * hop
        c, v = env(t * hop - reach, t * hop + reach)
        above = np.flatnonzero(v > low)
        end = c[above[-1]] if len(above) else t * hop
        start, end = max(0, start), min(n, end)
        out.append((start / sample_rate, max(end, start) / sample_rate))
    return np.asarray(out, dtype=np.float64)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Half-open (start, stop) index pairs of the True runs of a 1-D bool array."""
    m = np.concatenate([[False], mask.astype(bool), [False]])
    d = np.diff(m.astype(np.int8))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist()))
