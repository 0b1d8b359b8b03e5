"""TTS + MFCC + DTW forced alignment (the aeneas recipe), with silence handling and voice search.

The transcript is spoken by eSpeak NG; MFCCs of the synthetic and the real recording are
aligned with DTW and the synthetic word boundaries are carried through the warping path.
Beyond the plain recipe:

* silence: frames an energy VAD marks as non-speech are dropped from both sequences before
  the DTW, so pauses of any length cost nothing and boundaries land on speech onsets and
  offsets (``silence="drop"``; ``"keep"`` is the plain recipe);
* speaking rate: the template is re-synthesized at the rate that matches the recording's
  speech duration, and a few voices are tried, keeping the lowest-cost alignment;
* a slope-constrained step pattern (Sakoe & Chiba's symmetric P=1), so that no word
  collapses onto a couple of frames where two words sound alike;
* boundary refinement: boundaries near a pause move onto its edges, found to the
  millisecond (:func:`snap_to_pauses`, :func:`mmalign.speech.features.speech_segments`);
* long recordings are aligned in chunks that follow each other (memory linear in the
  duration), with a progress bar.

Reference: aeneas (A. Pettarin), https://github.com/readbeyond/aeneas; DTW: Sakoe & Chiba
(1978), "Dynamic programming algorithm optimization for spoken word recognition".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._result import Span, SpeechAlignment
from .features import FRAME_RATE, energy_vad, mfcc_features, speech_segments
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
        Cepstra computed per frame.
    drop_c0 : bool
        Leave out c0 (frame energy), which differs most between a synthetic and a real voice.
    deltas : bool
        Append first-order deltas (the plain recipe does; without them boundaries were
        as good or better on the evaluation sets).
    step_pattern : {"symmetricP1", "symmetric2"}
        DTW steps. ``symmetricP1`` (Sakoe & Chiba's P=1) keeps the local slope within
        [1/2, 2] so no word collapses onto a few frames; it falls back to ``symmetric2``
        where the lengths differ more than twofold.
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
    drop_c0: bool = True
    deltas: bool = False
    step_pattern: str = "symmetricP1"
    snap: float = 0.5
    chunk_seconds: float = 60.0
    progress: bool = False

    def __post_init__(self) -> None:
        from .._utils import check_option

        check_option(self.silence, "silence", ["drop", "keep"])
        check_option(self.step_pattern, "step_pattern", ["symmetricP1", "symmetric2"])
        if isinstance(self.voices, str) or not all(isinstance(v, str) for v in self.voices):
            raise TypeError(
                f"voices must be a tuple of eSpeak variant suffixes such as ('', '+f3'), got "
                f"{self.voices!r}."
            )
        self.voices = tuple(self.voices)
        if not self.voices:
            raise ValueError("voices is empty; pass at least ('',) for the plain voice.")
        if self.rate != "auto" and not (
            isinstance(self.rate, int)
            and not isinstance(self.rate, bool)
            and 80 <= self.rate <= 450
        ):
            raise ValueError(f"rate must be 'auto' or an int in [80, 450], got {self.rate!r}.")
        for name in ("snap", "chunk_seconds"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or v < 0:
                raise ValueError(f"{name} must be a number >= 0, got {v!r}.")


@dataclass
class _Template:
    feats: np.ndarray  # (n_t, d) raw MFCC+delta
    speech: np.ndarray  # (n_t,) bool
    words: list[tuple[str, float, float]]
    phones: list[tuple[str, float, float]]
    owner: list[int]
    voice: str
    rate: int


def _features(samples: np.ndarray, cfg: TTSDTWConfig) -> np.ndarray:
    f = mfcc_features(samples, SR, n_mfcc=cfg.n_mfcc, deltas=cfg.deltas, normalize=False)
    if cfg.drop_c0:
        keep = [k for k in range(f.shape[1]) if k % cfg.n_mfcc != 0]
        f = f[:, keep]
    return np.ascontiguousarray(f)


def _template(
    text: str, voice: str, rate: int, cfg: TTSDTWConfig, stretch: float = 1.0
) -> _Template:
    s = synthesize(text, voice=voice, rate=rate, sample_rate=SR)
    f = _features(s.samples, cfg)
    # eSpeak's silence is digital zero; the VAD still decides, with the same settings
    speech = energy_vad(s.samples, SR)[: len(f)]
    words, phones = s.words, s.phones
    if stretch > 1.0:  # repeat frames: a template spoken `stretch` times slower
        idx = (np.arange(int(round(len(f) * stretch))) / stretch).astype(np.int64)
        f, speech = np.ascontiguousarray(f[idx]), speech[idx]
        words = [(w, a * stretch, b * stretch) for w, a, b in words]
        phones = [(p, a * stretch, b * stretch) for p, a, b in phones]
    return _Template(f, speech, words, phones, s.word_of_phone, voice, rate)


def _cmvn(f: np.ndarray, mask: np.ndarray) -> np.ndarray:
    ref = f[mask] if mask.sum() >= 2 else f
    return (f - ref.mean(0)) / (ref.std(0) + 1e-6)


def _dtw(
    cost: np.ndarray, open_begin: bool, open_end: bool, step: str = "symmetric2"
) -> tuple[np.ndarray, float]:
    """DTW path (k, 2) and normalised cost on a (template x recording) cost matrix.

    Both patterns run :func:`mmalign.explicit.dtw_path_from_cost`. ``symmetricP1`` falls
    back to ``symmetric2`` where its slope limits make the alignment infeasible; an open
    begin needs a pattern normalised by the template length, so it runs ``asymmetric``.
    """
    from mmalign.explicit import dtw_path_from_cost

    if step == "symmetricP1" and not open_begin:
        try:
            res = dtw_path_from_cost(cost, step_pattern="symmetricP1", open_end=open_end)
            return np.asarray(res.path, dtype=np.int64), float(res.normalized_cost)
        except ValueError:
            pass
    pattern = "asymmetric" if open_begin else "symmetric2"
    res = dtw_path_from_cost(cost, step_pattern=pattern, open_begin=open_begin, open_end=open_end)
    return np.asarray(res.path, dtype=np.int64), float(res.normalized_cost)


def _align_once(
    rec_f: np.ndarray,
    rec_speech: np.ndarray,
    tpl: _Template,
    cfg: TTSDTWConfig,
    open_end: bool = False,
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
    path, ncost = _dtw(
        cost.astype(np.float64), cfg.open_ends, cfg.open_ends or open_end, cfg.step_pattern
    )
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


def _map_spans(spans, first, last, kt, local):
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


def snap_to_pauses(
    words: list[Span],
    segments: np.ndarray,
    *,
    tol: float = 0.25,
    boundary_penalty: float = 0.12,
    gap_weight: float = 1.0,
) -> list[int]:
    """Move word boundaries onto the edges of pauses, in place.

    The pauses between the speech ``segments`` are matched to the word boundaries by a
    monotone dynamic programme (an edit distance): pairing boundary ``b`` with pause
    ``[a, c]`` costs their distance in seconds (pairs further apart than ``tol`` are not
    allowed); a boundary left inside speech costs ``boundary_penalty``; a pause left inside
    a word costs ``gap_weight`` times its length (long pauses are rarely inside words).
    Paired boundaries become the pause's edges; the first start and the last end move to
    the nearest speech onset / offset within ``tol``.

    Parameters
    ----------
    words : list of Span
        Word intervals from the DTW, in order (modified).
    segments : ndarray of shape (k, 2)
        Speech regions in seconds (:func:`mmalign.speech.features.speech_segments`).

    Returns
    -------
    list of int
        Indices ``i`` of the boundaries (between word ``i`` and ``i + 1``) set on a pause.
    """
    n = len(words)
    paired: list[int] = []
    if n == 0 or len(segments) == 0:
        return paired
    gaps = np.column_stack([segments[:-1, 1], segments[1:, 0]])  # (K, 2) pauses
    K = len(gaps)
    if n > 1 and K > 0:
        b0 = np.array([w.end for w in words[:-1]])
        b1 = np.array([w.start for w in words[1:]])
        B = n - 1
        inf = np.inf
        D = np.full((B + 1, K + 1), inf)
        move = np.zeros((B + 1, K + 1), dtype=np.int8)
        D[0, 0] = 0.0
        skip_gap = gap_weight * (gaps[:, 1] - gaps[:, 0])
        for i in range(B + 1):
            for k in range(K + 1):
                if i == 0 and k == 0:
                    continue
                best, mv = inf, 0
                if i > 0 and D[i - 1, k] + boundary_penalty < best:
                    best, mv = D[i - 1, k] + boundary_penalty, 1
                if k > 0 and D[i, k - 1] + skip_gap[k - 1] < best:
                    best, mv = D[i, k - 1] + skip_gap[k - 1], 2
                if i > 0 and k > 0:
                    a, c = gaps[k - 1]
                    d = max(0.0, a - b1[i - 1], b0[i - 1] - c)
                    if d <= tol and D[i - 1, k - 1] + d < best:
                        best, mv = D[i - 1, k - 1] + d, 3
                D[i, k] = best
                move[i, k] = mv
        i, k = B, K
        pairs = []
        while i > 0 or k > 0:
            mv = move[i, k]
            if mv == 3:
                pairs.append((i - 1, k - 1))
                i, k = i - 1, k - 1
            elif mv == 1:
                i -= 1
            else:
                k -= 1
        for bi, gk in pairs:
            words[bi].end, words[bi + 1].start = float(gaps[gk, 0]), float(gaps[gk, 1])
            paired.append(bi)
    onsets, offsets = segments[:, 0], segments[:, 1]
    t = onsets[np.argmin(np.abs(onsets - words[0].start))]
    if abs(t - words[0].start) <= tol and t < words[0].end:
        words[0].start = float(t)
    t = offsets[np.argmin(np.abs(offsets - words[-1].end))]
    if abs(t - words[-1].end) <= tol and t > words[-1].start:
        words[-1].end = float(t)
    # keep the words ordered and non-overlapping after the moves
    for a, b in zip(words[:-1], words[1:]):
        if b.start < a.end:
            b.start = a.end
        if b.end < b.start:
            b.end = b.start
    return sorted(paired)


def _speech_seconds(speech: np.ndarray) -> float:
    return float(speech.sum()) / FRAME_RATE


def _align_region(
    samples: np.ndarray, text: str, language: str, cfg: TTSDTWConfig, open_end: bool = False
) -> tuple[list[Span], list[Span], list[int], float, dict]:
    """Rate estimate, voice search and DTW for one stretch of audio (no snapping)."""
    rec_f = _features(samples, cfg)
    rec_speech = energy_vad(samples, SR)[: len(rec_f)]
    base_rate = 175 if cfg.rate == "auto" else int(cfg.rate)
    rate = base_rate
    if cfg.rate == "auto":
        probe = synthesize(text, voice=language, rate=base_rate, sample_rate=SR)
        tpl_speech = _speech_seconds(energy_vad(probe.samples, SR))
        rec_seconds = max(_speech_seconds(rec_speech), 1e-3)
        wanted = base_rate * tpl_speech / rec_seconds
        rate = int(np.clip(round(wanted), 80, 450))
        # slower than eSpeak can speak: stretch the template's frames to match
        stretch = float(np.clip(80.0 / wanted, 1.0, 3.0)) if wanted < 80 else 1.0
    else:
        stretch = 1.0
    best = None
    for variant in cfg.voices:
        tpl = _template(text, f"{language}{variant}", rate, cfg, stretch)
        first, last, kt, ncost, local = _align_once(rec_f, rec_speech, tpl, cfg, open_end)
        if best is None or ncost < best[0]:
            best = (ncost, tpl, first, last, kt, local)
    ncost, tpl, first, last, kt, local = best
    words = _map_spans(tpl.words, first, last, kt, local)
    phones = _map_spans(tpl.phones, first, last, kt, local)
    info = {"voice": tpl.voice, "rate": tpl.rate, "stretch": stretch}
    return words, phones, list(tpl.owner), ncost, info


def _fit_phones(phones: list[Span], owner: list[int], before: list[Span], after: list[Span]):
    """Stretch each word's phones from its DTW span onto its final span, in place."""
    for p, w in zip(phones, owner):
        b, a = before[w], after[w]
        scale = (a.end - a.start) / (b.end - b.start) if b.end > b.start else 0.0
        p.start = a.start + (min(max(p.start, b.start), b.end) - b.start) * scale
        p.end = a.start + (min(max(p.end, b.start), b.end) - b.start) * scale


def align_tts_dtw(
    samples: np.ndarray,
    transcript: str,
    *,
    language: str = "en",
    config: TTSDTWConfig | None = None,
) -> SpeechAlignment:
    """Align ``transcript`` to 16 kHz mono ``samples`` with TTS + MFCC + DTW.

    Steps: estimate the speaking rate (speech duration of a probe synthesis against the
    recording's VAD speech), synthesize the transcript in each of ``config.voices``, align
    MFCC sequences with silence frames dropped, keep the lowest-cost voice, carry word
    boundaries through the path and move them onto nearby pauses (:func:`snap_to_pauses`).

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
    duration = len(samples) / SR
    tokens = tokenize(transcript)
    if cfg.chunk_seconds and duration > cfg.chunk_seconds and len(tokens) > 16:
        from .long import align_long

        return align_long(samples, transcript, language=language, config=cfg)
    words, phones, owner, ncost, info = _align_region(samples, transcript, language, cfg)
    before = [Span(w.label, w.start, w.end, w.score) for w in words]
    if cfg.snap > 0:
        snap_to_pauses(words, speech_segments(samples, SR), tol=cfg.snap)
        _fit_phones(phones, owner, before, words)
    for w in words:
        w.end = min(w.end, duration)
        w.start = min(w.start, w.end)
    if len(words) != len(tokens):  # pragma: no cover - guarded by tokenize
        raise RuntimeError("tts-dtw lost words; please report this transcript.")
    info["silence"] = cfg.silence
    return SpeechAlignment(
        words=words,
        phones=phones,
        duration=duration,
        backend="tts-dtw",
        language=language,
        cost=ncost,
        info=info,
    )
