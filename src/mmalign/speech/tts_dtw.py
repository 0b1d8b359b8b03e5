"""TTS + MFCC + DTW forced alignment (the aeneas recipe), with silence handling and voice search.

The transcript is spoken by eSpeak NG; MFCCs of the synthetic and the real recording are
aligned with DTW and the synthetic word boundaries are carried through the warping path.
Beyond the plain recipe:

* silence: frames an energy VAD marks as non-speech are dropped from both sequences before
  the DTW, so pauses of any length cost nothing and boundaries land on speech onsets and
  offsets (``silence="drop"``; ``"keep"`` is the plain recipe);
* speaking rate: the template is re-synthesized at the rate that matches the recording's
  speech duration, and a few voices are tried, keeping the lowest-cost alignment;
* long recordings are aligned in chunks that follow each other (memory linear in the
  duration), with a progress bar.

Reference: aeneas (A. Pettarin), https://github.com/readbeyond/aeneas; DTW: Sakoe & Chiba
(1978), "Dynamic programming algorithm optimization for spoken word recognition".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._result import Span, SpeechAlignment
from .features import FRAME_RATE, _runs, energy_vad, mfcc_features
from .tts import synthesize, tokenize

__all__ = ["TTSDTWConfig", "align_tts_dtw"]

SR = 16000


@dataclass
class TTSDTWConfig:
    """Options of the ``tts-dtw`` backend.

    Attributes
    ----------
    voices : tuple of str
        eSpeak NG variants tried on top of the language (``"{language}{variant}"``); the
        alignment with the lowest normalised cost wins. ``("",)`` tries the plain voice only.
    rate : int or "auto"
        Speaking rate of the template in words per minute; ``"auto"`` matches the
        recording's speech duration (one extra synthesis).
    silence : {"drop", "keep"}
        Drop VAD non-speech frames from both sides before DTW, or keep them (plain recipe).
    open_ends : bool
        Let the template start and end anywhere in the recording (leading / trailing noise).
    n_mfcc : int
        Cepstra per frame (deltas are appended).
    snap : float
        Boundary refinement: a word boundary within this many seconds of a pause (a VAD
        silence) moves onto the pause's edges, the first start onto the nearest speech onset
        and the last end onto the nearest offset. 0 disables it.
    chunk_seconds : float
        Recordings whose template is longer than this are aligned chunk by chunk.
    progress : bool
        Show a tqdm progress bar over chunks.
    """

    voices: tuple[str, ...] = ("", "+f3")
    rate: int | str = "auto"
    silence: str = "drop"
    open_ends: bool = False
    n_mfcc: int = 13
    snap: float = 0.15
    chunk_seconds: float = 60.0
    progress: bool = False


@dataclass
class _Template:
    feats: np.ndarray  # (n_t, d) raw MFCC+delta
    speech: np.ndarray  # (n_t,) bool
    words: list[tuple[str, float, float]]
    phones: list[tuple[str, float, float]]
    voice: str
    rate: int


def _features(samples: np.ndarray, n_mfcc: int) -> np.ndarray:
    return mfcc_features(samples, SR, n_mfcc=n_mfcc, deltas=True, normalize=False)


def _template(text: str, voice: str, rate: int, n_mfcc: int) -> _Template:
    s = synthesize(text, voice=voice, rate=rate, sample_rate=SR)
    f = _features(s.samples, n_mfcc)
    # eSpeak's silence is digital zero; the VAD still decides, with the same settings
    speech = energy_vad(s.samples, SR)[: len(f)]
    return _Template(f, speech, s.words, s.phones, voice, rate)


def _cmvn(f: np.ndarray, mask: np.ndarray) -> np.ndarray:
    ref = f[mask] if mask.sum() >= 2 else f
    return (f - ref.mean(0)) / (ref.std(0) + 1e-6)


def _dtw(cost: np.ndarray, open_begin: bool, open_end: bool) -> tuple[np.ndarray, float]:
    """DTW on a (template x recording) cost matrix via mmalign.explicit.dtw when present."""
    try:
        from mmalign.explicit.dtw import dtw_path_from_cost
    except ImportError:  # the DTW module is not in this checkout yet
        dtw_path_from_cost = None
    if dtw_path_from_cost is not None:
        try:
            res = dtw_path_from_cost(cost, open_begin=open_begin, open_end=open_end)
            return np.asarray(res.path, dtype=np.int64), float(res.normalized_cost)
        except (ValueError, TypeError):
            pass  # an option it does not support: fall back to the local kernel
    from ._kernels import local_dtw_path

    return local_dtw_path(cost, open_begin=open_begin, open_end=open_end)


def _align_once(
    rec_f: np.ndarray, rec_speech: np.ndarray, tpl: _Template, cfg: TTSDTWConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, np.ndarray]:
    """Align one template to one recording.

    Returns, per template frame, the first and last recording frame it maps to
    (original frame grids), the template frames kept, the normalised cost and the local
    cost per template frame.
    """
    if cfg.silence == "drop":
        kt = np.flatnonzero(tpl.speech)
        kr = np.flatnonzero(rec_speech)
        if len(kt) < 2:
            kt = np.arange(len(tpl.feats))
        if len(kr) < 2:
            kr = np.arange(len(rec_f))
    else:
        kt = np.arange(len(tpl.feats))
        kr = np.arange(len(rec_f))
    x = _cmvn(tpl.feats, tpl.speech)[kt]
    y = _cmvn(rec_f, rec_speech)[kr]
    d = x.shape[1]
    # squared Euclidean distance / d: (n_t, n_r)
    cost = ((x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2.0 * (x @ y.T)) / d
    np.maximum(cost, 0.0, out=cost)
    path, ncost = _dtw(cost.astype(np.float64), cfg.open_ends, cfg.open_ends)
    n = len(kt)
    first = np.full(n, np.iinfo(np.int64).max)
    last = np.full(n, -1)
    np.minimum.at(first, path[:, 0], path[:, 1])
    np.maximum.at(last, path[:, 0], path[:, 1])
    local = np.zeros(n)
    cnt = np.zeros(n)
    np.add.at(local, path[:, 0], cost[path[:, 0], path[:, 1]])
    np.add.at(cnt, path[:, 0], 1)
    return kr[first], kr[last] + 1, kt, ncost, local / np.maximum(cnt, 1)


def _map_spans(spans, first, last, kt, local, n_tpl_frames):
    """Carry (label, start_s, end_s) template spans to recording seconds."""
    out = []
    prev_end = 0.0
    for label, s, e in spans:
        fs = int(round(s * FRAME_RATE))
        fe = max(int(round(e * FRAME_RATE)), fs + 1)
        a = int(np.searchsorted(kt, fs, side="left"))
        b = int(np.searchsorted(kt, fe, side="left")) - 1
        if a > b:  # the span holds no kept frame: pin it where it would be
            a = b = min(max(a, 0), len(kt) - 1)
            t = first[a] / FRAME_RATE
            t = max(t, prev_end)
            out.append(Span(label, t, t, float("nan")))
            continue
        start = first[a] / FRAME_RATE
        end = last[b] / FRAME_RATE
        start = max(start, prev_end)
        end = max(end, start)
        score = float(np.exp(-0.5 * local[a : b + 1].mean()))
        out.append(Span(label, start, end, score))
        prev_end = end
    return out


def snap_to_pauses(words: list[Span], speech: np.ndarray, tol: float) -> None:
    """Move word boundaries onto the edges of nearby pauses, in place.

    ``speech`` is a per-frame VAD mask (100 frames/s). Each boundary between consecutive
    words takes the nearest unused silence run within ``tol`` seconds; the first start and
    the last end take the nearest speech onset / offset.
    """
    if not words or tol <= 0 or not speech.any():
        return
    runs = [(s / FRAME_RATE, e / FRAME_RATE) for s, e in _runs(~speech)]
    n = len(speech)
    gaps = [(a, b) for a, b in runs if a > 0 and b < n / FRAME_RATE]
    used = set()
    lo = 0.0
    for i in range(len(words) - 1):
        b0, b1 = words[i].end, words[i + 1].start
        best, dist = None, tol
        for k, (a, b) in enumerate(gaps):
            if k in used or a < lo:
                continue
            d = max(0.0, a - b1, b0 - b)  # distance between [b0, b1] and the gap [a, b]
            if d <= dist:
                best, dist = k, d
        if best is not None:
            a, b = gaps[best]
            used.add(best)
            if a > words[i].start and b < words[i + 1].end:
                words[i].end, words[i + 1].start = a, b
                lo = b
    onsets = np.array([b for a, b in runs if a == 0] + [e for _, e in gaps])
    offsets = np.array([a for _, a in gaps] + [a for a, b in runs if b >= n / FRAME_RATE])
    if len(onsets):
        t = onsets[np.argmin(np.abs(onsets - words[0].start))]
        if abs(t - words[0].start) <= tol and t < words[0].end:
            words[0].start = float(t)
    if len(offsets):
        t = offsets[np.argmin(np.abs(offsets - words[-1].end))]
        if abs(t - words[-1].end) <= tol and t > words[-1].start:
            words[-1].end = float(t)


def _speech_seconds(speech: np.ndarray) -> float:
    return float(speech.sum()) / FRAME_RATE


def align_tts_dtw(
    samples: np.ndarray,
    transcript: str,
    *,
    language: str = "en",
    config: TTSDTWConfig | None = None,
) -> SpeechAlignment:
    """Align ``transcript`` to 16 kHz mono ``samples`` with TTS + MFCC + DTW.

    Parameters
    ----------
    samples : ndarray of shape (n_samples,), float32 at 16 kHz
    transcript : str
    language : str
        eSpeak NG voice / language code of the transcript.
    config : TTSDTWConfig, optional

    Returns
    -------
    SpeechAlignment
        Words (and eSpeak phones) in recording seconds; ``cost`` is the normalised DTW cost.
    """
    cfg = config or TTSDTWConfig()
    rec_f = _features(samples, cfg.n_mfcc)
    rec_speech = energy_vad(samples, SR)[: len(rec_f)]
    duration = len(samples) / SR
    tokens = tokenize(transcript)
    base_rate = 175 if cfg.rate == "auto" else int(cfg.rate)
    probe = synthesize(transcript, voice=language, rate=base_rate, sample_rate=SR)
    tpl_seconds = probe.duration
    if tpl_seconds > cfg.chunk_seconds:
        from .long import align_long

        return align_long(samples, transcript, rec_f, rec_speech, language=language, config=cfg)
    rate = base_rate
    if cfg.rate == "auto":
        tpl_speech = _speech_seconds(energy_vad(probe.samples, SR))
        rec_seconds = max(_speech_seconds(rec_speech), 1e-3)
        rate = int(np.clip(round(base_rate * tpl_speech / rec_seconds), 80, 450))
    best = None
    for variant in cfg.voices:
        voice = f"{language}{variant}"
        tpl = _template(transcript, voice, rate, cfg.n_mfcc)
        first, last, kt, ncost, local = _align_once(rec_f, rec_speech, tpl, cfg)
        if best is None or ncost < best[0]:
            best = (ncost, tpl, first, last, kt, local)
    ncost, tpl, first, last, kt, local = best
    words = _map_spans(tpl.words, first, last, kt, local, len(tpl.feats))
    phones = _map_spans(tpl.phones, first, last, kt, local, len(tpl.feats))
    if cfg.snap > 0:
        snap_to_pauses(words, energy_vad(samples, SR, pad=0.0)[: len(rec_f)], cfg.snap)
    for w in words:
        w.end = min(w.end, duration)
        w.start = min(w.start, w.end)
    assert len(words) == len(tokens)
    return SpeechAlignment(
        words=words,
        phones=phones,
        duration=duration,
        backend="tts-dtw",
        language=language,
        cost=ncost,
        info={"voice": tpl.voice, "rate": tpl.rate, "silence": cfg.silence},
    )
