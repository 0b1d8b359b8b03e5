"""Long recordings for ``tts-dtw``: consecutive chunks with open ends, memory linear in duration.

The transcript is cut into chunks of words worth about ``config.chunk_seconds / 2`` of
speech. Each chunk is aligned (template fully consumed, open end on the recording) to a
window of audio that starts where the previous chunk's committed words ended and is long
enough for the chunk at the recording's own pace. The first 60% of a chunk's words are
committed; the rest start the next chunk, so a poor chunk end never sticks.
Memory holds the recording (16 kHz float32) plus one window's features and cost matrix.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ._result import Span, SpeechAlignment
from .features import FRAME_RATE, energy_vad, speech_segments
from .tts import synthesize, tokenize

__all__ = ["align_long"]

SR = 16000
_COMMIT = 0.6  # share of a chunk's words committed; the rest, near its open end, are redone
_BLOCK = 60 * SR


def _speech_seconds(samples: np.ndarray) -> float:
    """VAD speech duration, computed a minute at a time (bounded memory)."""
    total = 0
    for s in range(0, len(samples), _BLOCK):
        block = samples[s : s + _BLOCK]
        if len(block) > SR // 10:
            total += int(energy_vad(block, SR).sum())
    return total / FRAME_RATE


def align_long(samples: np.ndarray, transcript: str, *, language: str, config) -> SpeechAlignment:
    """Chunked ``tts-dtw`` alignment of a long recording (see the module docstring).

    Parameters
    ----------
    samples : ndarray of shape (n_samples,), float32 at 16 kHz
    transcript : str
    language : str
    config : TTSDTWConfig

    Returns
    -------
    SpeechAlignment
        ``info["chunks"]`` gives the number of chunks aligned.
    """
    from tqdm.auto import tqdm

    from .tts_dtw import _align_region, snap_to_pauses

    tokens = tokenize(transcript)
    labels = [t[0] for t in tokens]
    n_words = len(labels)
    duration = len(samples) / SR
    # global pace: recording seconds per word, and the template rate that matches it
    real_speech = max(_speech_seconds(samples), 1e-3)
    probe_words = labels[: min(n_words, 200)]
    probe = synthesize(" ".join(probe_words), voice=language, rate=175, sample_rate=SR)
    tpl_speech = max(float(energy_vad(probe.samples, SR).sum()) / FRAME_RATE, 1e-3)
    rate = 175 * (tpl_speech / len(probe_words)) / (real_speech / n_words)
    rate = int(np.clip(round(rate), 80, 450))
    sec_per_word = duration / n_words
    words_per_chunk = max(8, int(config.chunk_seconds / 2 / sec_per_word))

    cfg = dataclasses.replace(config, rate=rate)
    out: list[Span] = []
    phones: list[Span] = []
    t_cur, w_cur, n_chunks, costs = 0.0, 0, 0, []
    bar = tqdm(total=n_words, desc="align-speech", unit="word", disable=not config.progress)
    while w_cur < n_words:
        w_end = min(n_words, w_cur + words_per_chunk)
        last = w_end == n_words
        expected = (w_end - w_cur) * sec_per_word
        t_stop = duration if last else min(duration, t_cur + 1.6 * expected + 3.0)
        if not last and duration - t_stop < 2.0:
            t_stop = duration
        s, e = int(t_cur * SR), int(np.ceil(t_stop * SR))
        window = samples[s:e]
        text = " ".join(labels[w_cur:w_end])
        words, ph, owner, ncost, info = _align_region(
            window, text, language, cfg, open_end=not last
        )
        if config.snap > 0 and len(window) > SR // 10:
            before = [Span(w.label, w.start, w.end, w.score) for w in words]
            snap_to_pauses(words, speech_segments(window, SR), tol=config.snap)
            from .tts_dtw import _fit_phones

            _fit_phones(ph, owner, before, words)
        if len(cfg.voices) > 1:  # the first chunk picks the voice for the rest
            cfg = dataclasses.replace(cfg, voices=(info["voice"][len(language) :],))
        keep = len(words) if last else max(1, int(_COMMIT * len(words)))
        off = s / SR
        for w in words[:keep]:
            out.append(Span(w.label, w.start + off, w.end + off, w.score))
        for p, k in zip(ph, owner):
            if k < keep:
                phones.append(Span(p.label, p.start + off, p.end + off, p.score))
        costs.append(ncost)
        n_chunks += 1
        t_cur = out[-1].end
        w_cur += keep
        bar.update(keep)
    bar.close()
    for a, b in zip(out[:-1], out[1:]):
        if b.start < a.end:
            b.start = a.end
        b.end = max(b.end, b.start)
    return SpeechAlignment(
        words=out,
        phones=phones,
        duration=duration,
        backend="tts-dtw",
        language=language,
        cost=float(np.mean(costs)),
        info={"voice": cfg.voices[0] if cfg.voices else "", "rate": rate, "chunks": n_chunks},
    )
