"""One entry point for speech-text alignment over several backends."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .._utils import check_option
from ._result import Span, SpeechAlignment
from .audio import load_audio
from .tts import tokenize

__all__ = ["align", "BACKENDS", "read_transcript"]

BACKENDS = ("tts-dtw", "sphinx", "ctc")
SR = 16000
MAX_WORDS_PER_SECOND = 8.0  # fluent speech stays under ~5; far above means a wrong transcript


def read_transcript(transcript) -> str:
    """Return transcript text: a ``str`` is the text itself, a ``PathLike`` is read as UTF-8."""
    if isinstance(transcript, os.PathLike):
        path = Path(transcript)
        if not path.is_file():
            raise FileNotFoundError(f"transcript file {str(path)!r} does not exist.")
        return path.read_text(encoding="utf-8")
    if not isinstance(transcript, str):
        raise TypeError(
            f"transcript must be a str (the text) or a pathlib.Path to a text file, got "
            f"{type(transcript).__name__}."
        )
    return transcript


def _segments(text: str, words: list[Span]) -> list[Span]:
    """One span per non-empty transcript line, when there are several lines."""
    lines = [ln.strip() for ln in text.splitlines() if tokenize(ln)]
    if len(lines) < 2:
        return []
    out, k = [], 0
    for ln in lines:
        n = len(tokenize(ln))
        group = words[k : k + n]
        k += n
        scores = [w.score for w in group if w.score == w.score]
        out.append(
            Span(ln, group[0].start, group[-1].end, float(np.mean(scores)) if scores else np.nan)
        )
    return out


def align(
    audio,
    transcript,
    *,
    sample_rate: int | None = None,
    backend: str = "tts-dtw",
    language: str = "en",
    config=None,
    emissions=None,
    vocabulary=None,
    blank: int = 0,
    frame_duration: float = 0.02,
    progress: bool = False,
) -> SpeechAlignment:
    """Align a transcript to a recording: word (and phone) start and end times.

    Parameters
    ----------
    audio : str, PathLike or ndarray of shape (n_samples,) or (n_samples, n_channels)
        Any file soundfile reads (any rate and channel count; downmixed and resampled to
        16 kHz) or an array with ``sample_rate``.
    transcript : str or Path
        The words spoken; one segment per line gives ``segments`` in the result.
    sample_rate : int, optional
        Rate of an array ``audio``.
    backend : {"tts-dtw", "sphinx", "ctc"}
        ``tts-dtw``: eSpeak NG synthesis + MFCC + DTW, any language eSpeak speaks (default).
        ``sphinx``: PocketSphinx forced alignment (English). ``ctc``: Viterbi alignment of
        user-supplied CTC ``emissions`` (log-probs (T, C)) with their ``vocabulary``.
    language : str
        eSpeak NG language / voice code (``"en"``, ``"de"``, ``"fr"``, ``"en-us"`` ...).
    config : TTSDTWConfig, optional
        Options of the tts-dtw backend.
    emissions, vocabulary, blank, frame_duration
        CTC inputs (``backend="ctc"`` only), see :func:`mmalign.speech.align_ctc`.
    progress : bool
        Progress bar for long recordings (tts-dtw).

    Returns
    -------
    SpeechAlignment

    Raises
    ------
    ValueError
        Unreadable, empty or silent audio; a transcript with no words or far more words than
        the audio can hold; an unsupported language.

    Examples
    --------
    >>> from mmalign.speech.tts import synthesize
    >>> s = synthesize("one two three", voice="en-us+f2", sample_rate=16000)
    >>> a = align(s.samples, "one two three", sample_rate=16000)
    >>> [w.label for w in a.words]
    ['one', 'two', 'three']
    """
    check_option(backend, "backend", BACKENDS)
    text = read_transcript(transcript)
    tokens = tokenize(text)
    if not tokens:
        raise ValueError(
            "transcript holds no words; pass the text spoken in the recording (letters or digits)."
        )
    if backend == "ctc":
        if emissions is None or vocabulary is None:
            raise ValueError(
                "backend='ctc' needs emissions= (log-probs of shape (T, C) from a CTC model) "
                "and vocabulary= (token strings by id)."
            )
        from .ctc import align_ctc

        result = align_ctc(emissions, text, vocabulary, blank=blank, frame_duration=frame_duration)
        result.segments = _segments(text, result.words)
        return result
    samples = load_audio(audio, sample_rate, target_rate=SR)
    duration = len(samples) / SR
    if len(tokens) > MAX_WORDS_PER_SECOND * max(duration, 0.25):
        raise ValueError(
            f"transcript has {len(tokens)} words for {duration:.2f} s of audio "
            f"({len(tokens) / duration:.1f} words/s; speech rarely exceeds 5); check that the "
            f"transcript belongs to this recording."
        )
    if backend == "sphinx":
        from .sphinx import align_sphinx

        result = align_sphinx(samples, text, language=language)
    else:
        import dataclasses

        from .tts import _LOCK, _engine
        from .tts_dtw import TTSDTWConfig, align_tts_dtw

        if not isinstance(language, str) or not language:
            raise ValueError(f"language must be an eSpeak NG code such as 'en', got {language!r}.")
        with _LOCK:
            try:
                _engine().set_voice(language)
            except ValueError as exc:
                raise ValueError(
                    f"unsupported language {language!r} for backend 'tts-dtw': eSpeak NG has no "
                    f"such voice; see mmalign.speech.tts.list_voices()."
                ) from exc
        cfg = config if config is not None else TTSDTWConfig()
        if not isinstance(cfg, TTSDTWConfig):
            raise TypeError(f"config must be a TTSDTWConfig, got {type(cfg).__name__}.")
        if progress:
            cfg = dataclasses.replace(cfg, progress=True)
        result = align_tts_dtw(samples, text, language=language, config=cfg)
    result.segments = _segments(text, result.words)
    return result
