"""One entry point for speech-text alignment over several backends."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._utils import check_option
from ._result import Span, SpeechAlignment
from .audio import load_audio
from .sphinx import SphinxConfig
from .tts import tokenize
from .tts_dtw import TTSDTWConfig

__all__ = ["align", "BACKENDS", "CTCOptions", "default_backend", "read_transcript"]

BACKENDS = ("sphinx", "tts-dtw", "ctc")
SR = 16000
MAX_WORDS_PER_SECOND = 8.0  # fluent speech stays under ~5; far above means a wrong transcript
_TEXT_SUFFIXES = (".txt", ".lab", ".text", ".trn", ".srt", ".vtt", ".json", ".textgrid", ".csv")


@dataclass
class CTCOptions:
    """Inputs of the ``ctc`` backend (see :func:`mmalign.speech.align_ctc`).

    Attributes
    ----------
    emissions : ndarray of shape (n_frames, n_tokens)
        Log-probabilities from a CTC acoustic model.
    vocabulary : sequence of str or dict of str -> int
        Token strings by id.
    blank : int
        Id of the CTC blank.
    frame_duration : float
        Seconds per emission frame.
    """

    emissions: Any
    vocabulary: Any
    blank: int = 0
    frame_duration: float = 0.02


def default_backend(language: str) -> str:
    """The most accurate backend for ``language`` measured on real speech: ``sphinx``
    (PocketSphinx, US English model) for English, ``tts-dtw`` for every other language."""
    from .sphinx import SPHINX_LANGUAGES

    return "sphinx" if language in SPHINX_LANGUAGES else "tts-dtw"


def read_transcript(transcript) -> str:
    """Return transcript text.

    A ``PathLike`` is read as UTF-8; so is a ``str`` that names an existing file. A ``str``
    that looks like a file name (one word ending in ``.txt``, ``.lab`` ...) but names no
    file is an error rather than a one-word transcript. Any other ``str`` is the text itself.
    """
    if isinstance(transcript, str):
        s = transcript.strip()
        if s and "\n" not in s and len(s) < 4096:
            try:
                is_file = Path(s).is_file()
            except OSError:
                is_file = False
            if is_file:
                return read_transcript(Path(s))
            if " " not in s and s.lower().endswith(_TEXT_SUFFIXES):
                raise FileNotFoundError(
                    f"transcript {s!r} looks like a file name but no such file exists; pass "
                    f"the path of an existing file, or the spoken text itself."
                )
        return transcript
    if isinstance(transcript, os.PathLike):
        path = Path(transcript)
        if not path.is_file():
            raise FileNotFoundError(f"transcript file {str(path)!r} does not exist.")
        try:
            return path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(
                f"transcript file {str(path)!r} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} "
                f"at offset {exc.start}); convert it first, e.g. iconv -f latin1 -t utf-8 "
                f"{path.name} > {path.stem}.utf8{path.suffix}"
            ) from None
    raise TypeError(
        f"transcript must be a str (the text, or the name of a text file) or a pathlib.Path, "
        f"got {type(transcript).__name__}."
    )


def _segments(text: str, words: list[Span]) -> list[Span]:
    """One span per non-empty transcript line, when there are several lines."""
    lines = [ln.strip() for ln in text.splitlines() if tokenize(ln)]
    if len(lines) < 2:
        return []
    out, k = [], 0
    for ln in lines:
        n = len(tokenize(ln))
        group = [w for w in words[k : k + n] if w.aligned]
        k += n
        if not group:
            out.append(Span(ln, np.nan, np.nan, 0.0))
            continue
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
    backend: str | None = None,
    language: str = "en",
    options: SphinxConfig | TTSDTWConfig | CTCOptions | None = None,
    progress: bool = False,
) -> SpeechAlignment:
    """Align a transcript to a recording: word (and phone) start and end times.

    Parameters
    ----------
    audio : str, PathLike or ndarray of shape (n_samples,) or (n_samples, n_channels)
        Any file soundfile reads (any rate and channel count; downmixed and resampled to
        16 kHz) or an array with ``sample_rate``. Ignored by ``backend="ctc"``.
    transcript : str or Path
        The words spoken, or a text file (a ``Path``, or a ``str`` naming an existing file);
        one segment per line gives ``segments`` in the result.
    sample_rate : int, optional
        Rate of an array ``audio``.
    backend : {"sphinx", "tts-dtw", "ctc"}, optional
        ``sphinx``: PocketSphinx forced alignment with pause refinement, confidence and
        anchored alignment of long recordings (English). ``tts-dtw``: eSpeak NG synthesis +
        MFCC + DTW, any language eSpeak speaks. ``ctc``: Viterbi alignment of user-supplied
        CTC emissions (``options=CTCOptions(...)``). Default: the type of ``options``, else
        :func:`default_backend` of ``language``.
    language : str
        ``"en"`` / ``"en-us"`` for sphinx; any eSpeak NG language / voice code for tts-dtw.
    options : SphinxConfig, TTSDTWConfig or CTCOptions, optional
        Options of the backend (each backend has its own type).
    progress : bool
        Progress bar for long recordings (tts-dtw).

    Returns
    -------
    SpeechAlignment
        ``info["mismatch"]`` is True (and a :class:`TranscriptMismatchWarning` is issued)
        when the transcript does not seem to belong to the recording (sphinx).

    Raises
    ------
    ValueError
        Unreadable, empty or silent audio; a transcript with no words or far more words than
        the audio can hold; an unsupported language; options of another backend.

    Examples
    --------
    >>> from mmalign.speech.tts import synthesize
    >>> s = synthesize("one two three", voice="en-us+f2", sample_rate=16000)
    >>> a = align(s.samples, "one two three", sample_rate=16000)
    >>> [w.label for w in a.words]
    ['one', 'two', 'three']
    """
    kinds = {SphinxConfig: "sphinx", TTSDTWConfig: "tts-dtw", CTCOptions: "ctc"}
    if options is not None and type(options) not in kinds:
        raise TypeError(
            f"options must be a SphinxConfig, TTSDTWConfig or CTCOptions, got "
            f"{type(options).__name__}."
        )
    if backend is None:
        backend = kinds[type(options)] if options is not None else default_backend(language)
    check_option(backend, "backend", BACKENDS)
    if options is not None and kinds[type(options)] != backend:
        raise TypeError(
            f"options of type {type(options).__name__} belong to backend "
            f"{kinds[type(options)]!r}, not {backend!r}; pass the options of the backend used."
        )
    text = read_transcript(transcript)
    tokens = tokenize(text)
    if not tokens:
        raise ValueError(
            "transcript holds no words; pass the text spoken in the recording (letters or digits)."
        )
    if backend == "ctc":
        if options is None:
            raise ValueError(
                "backend='ctc' needs options=CTCOptions(emissions=..., vocabulary=...): "
                "log-probs of shape (T, C) from a CTC model and the token strings by id."
            )
        from .ctc import align_ctc

        result = align_ctc(
            options.emissions,
            text,
            options.vocabulary,
            blank=options.blank,
            frame_duration=options.frame_duration,
        )
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

        result = align_sphinx(samples, text, language=language, config=options)
    else:
        from .tts import _LOCK, _engine
        from .tts_dtw import align_tts_dtw

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
        cfg = options if options is not None else TTSDTWConfig()
        if progress:
            cfg = dataclasses.replace(cfg, progress=True)
        result = align_tts_dtw(samples, text, language=language, config=cfg)
    result.segments = _segments(text, result.words)
    return result
