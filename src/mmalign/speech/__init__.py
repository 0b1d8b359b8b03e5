"""Speech-text alignment: when is each word of a transcript spoken in a recording.

``align(audio, transcript, backend=...)`` returns a :class:`SpeechAlignment` (words, phones,
segments). Backends: ``sphinx`` (PocketSphinx, English; the default there), ``tts-dtw``
(eSpeak NG synthesis + MFCC + DTW, any language eSpeak speaks; the default elsewhere) and
``ctc`` (Viterbi over CTC emissions), each with its own options type.
Public names are imported lazily (PEP 562) so ``import mmalign.speech`` stays fast.
"""

from __future__ import annotations

from mmalign._utils import lazy_exports

_EXPORTS: dict[str, str] = {
    "align": "mmalign.speech.align",
    "BACKENDS": "mmalign.speech.align",
    "read_transcript": "mmalign.speech.align",
    "CTCOptions": "mmalign.speech.align",
    "default_backend": "mmalign.speech.align",
    "TranscriptMismatchWarning": "mmalign.speech._result",
    "SphinxConfig": "mmalign.speech.sphinx",
    "speech_dev": "mmalign.speech.evalsets",
    "Span": "mmalign.speech._result",
    "SpeechAlignment": "mmalign.speech._result",
    "load_audio": "mmalign.speech.audio",
    "mfcc_features": "mmalign.speech.features",
    "energy_vad": "mmalign.speech.features",
    "speech_segments": "mmalign.speech.features",
    "Synthesis": "mmalign.speech.tts",
    "synthesize": "mmalign.speech.tts",
    "text_to_phonemes": "mmalign.speech.tts",
    "list_voices": "mmalign.speech.tts",
    "tokenize": "mmalign.speech.tts",
    "TTSDTWConfig": "mmalign.speech.tts_dtw",
    "align_tts_dtw": "mmalign.speech.tts_dtw",
    "snap_to_pauses": "mmalign.speech.tts_dtw",
    "align_sphinx": "mmalign.speech.sphinx",
    "espeak_to_arpabet": "mmalign.speech.sphinx",
    "TokenSpan": "mmalign.speech.ctc",
    "CTCAlignment": "mmalign.speech.ctc",
    "ctc_forced_align": "mmalign.speech.ctc",
    "merge_tokens": "mmalign.speech.ctc",
    "align_ctc": "mmalign.speech.ctc",
    "write_alignment": "mmalign.speech.io",
    "read_alignment": "mmalign.speech.io",
    "BoundaryReport": "mmalign.speech.evaluate",
    "boundary_errors": "mmalign.speech.evaluate",
    "EvalItem": "mmalign.speech.evalsets",
    "fsdd_digit_strings": "mmalign.speech.evalsets",
    "espeak_sentences": "mmalign.speech.evalsets",
    "CorpusReport": "mmalign.speech.corpus",
    "align_corpus": "mmalign.speech.corpus",
}

__all__ = sorted(_EXPORTS)


_lazy_getattr, __dir__ = lazy_exports(__name__, _EXPORTS, globals())


def __getattr__(name: str):
    value = _lazy_getattr(name)
    # importing the submodule mmalign.speech.align binds the package attribute "align" to
    # that module; the public name is the function
    import types

    if isinstance(globals().get("align"), types.ModuleType):
        globals()["align"] = globals()["align"].align
    return value
