"""Text to speech with eSpeak NG through ctypes, with word and phoneme timings.

The library and its voice data come from the ``espeakng-loader`` wheel, so nothing is
downloaded at run time. libespeak-ng keeps global state and is not thread safe: every call
goes through one process-wide lock.

Reference: eSpeak NG, https://github.com/espeak-ng/espeak-ng (``speak_lib.h`` API).
"""

from __future__ import annotations

import ctypes
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "Synthesis",
    "synthesize",
    "text_to_phonemes",
    "list_voices",
    "tokenize",
]

# speak_lib.h constants
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 0x0001
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_EV_LIST_TERMINATED = 0
_EV_WORD = 1
_EV_PHONEME = 7
_PARAM_RATE = 1
_PARAM_VOLUME = 2
_PARAM_PITCH = 3
_EE_OK = 0

_WORD_RE = re.compile(r"\S+")
_STRIP = "\"'“”‘’«»()[]{}<>.,;:!?¡¿…-–—/\\*_~`"


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),  # 1-based character position
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),  # milliseconds
        ("sample", ctypes.c_int),  # sample index at the engine's rate
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),  # union: number / name / phoneme mnemonic
    ]


class _Voice(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)

_LOCK = threading.RLock()


class _Engine:
    """The one libespeak-ng instance of this process (created on first use)."""

    def __init__(self) -> None:
        import espeakng_loader

        self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
        data = espeakng_loader.get_data_path().encode()
        lib = self.lib
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        # eSpeak NG >= 1.52; older libraries vary run to run (see _synthesize)
        self.set_seed = getattr(lib, "espeak_ng_SetRandSeed", None)
        if self.set_seed is not None:
            self.set_seed.argtypes = [ctypes.c_long]
        lib.espeak_Synth.argtypes = [
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        lib.espeak_TextToPhonemes.argtypes = [
            ctypes.POINTER(ctypes.c_char_p),
            ctypes.c_int,
            ctypes.c_int,
        ]
        lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_Voice))
        lib.espeak_ListVoices.argtypes = [ctypes.c_void_p]
        self.sample_rate = int(
            lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data, _INITIALIZE_PHONEME_EVENTS)
        )
        if self.sample_rate <= 0:
            raise RuntimeError(f"espeak_Initialize failed (returned {self.sample_rate}).")
        self.chunks: list[np.ndarray] = []
        self.events: list[tuple[int, int, int, str]] = []
        self._cb = _CALLBACK(self._collect)  # keep a reference: ctypes does not
        lib.espeak_SetSynthCallback(self._cb)
        self.voice: str | None = None

    def _collect(self, wav, n, events) -> int:
        if n > 0 and wav:
            self.chunks.append(np.ctypeslib.as_array(wav, (n,)).copy())
        i = 0
        while events[i].type != _EV_LIST_TERMINATED:
            ev = events[i]
            if ev.type in (_EV_WORD, _EV_PHONEME):
                label = ""
                if ev.type == _EV_PHONEME:
                    label = bytes(ev.id).split(b"\0", 1)[0].decode("ascii", "replace")
                self.events.append((ev.type, ev.text_position, ev.sample, label))
            i += 1
        return 0

    def set_voice(self, voice: str) -> None:
        # always re-select: espeak keeps state from the previous utterance otherwise, and
        # the same text would not give the same samples
        rc = self.lib.espeak_SetVoiceByName(voice.encode())
        if rc != _EE_OK:
            raise ValueError(
                f"voice {voice!r} is not an eSpeak NG voice (espeak_SetVoiceByName returned "
                f"{rc}); pass a language code such as 'en', 'de', 'fr', 'en-us' or a variant "
                f"such as 'en+f3' (see mmalign.speech.tts.list_voices())."
            )
        self.voice = voice


_ENGINE: _Engine | None = None


def _engine() -> _Engine:
    global _ENGINE
    if _ENGINE is None:
        _ENGINE = _Engine()
    return _ENGINE


@dataclass
class Synthesis:
    """Synthesized speech with its word and phoneme timings.

    Attributes
    ----------
    samples : ndarray of shape (n_samples,), float32
        Mono waveform in [-1, 1].
    sample_rate : int
        Samples per second of ``samples``.
    words : list of (str, float, float)
        ``(word, start_s, end_s)`` for every word of :func:`tokenize` (text), in order; start
        from espeak's word events, end at the first phoneme that follows the word's last one
        (a pause or the next word).
    phones : list of (str, float, float)
        ``(phoneme, start_s, end_s)`` in eSpeak's mnemonics, pauses left out.
    word_of_phone : list of int
        Index into ``words`` of each entry of ``phones``.
    """

    samples: np.ndarray
    sample_rate: int
    words: list[tuple[str, float, float]]
    phones: list[tuple[str, float, float]] = field(default_factory=list)
    word_of_phone: list[int] = field(default_factory=list)

    @property
    def duration(self) -> float:
        """Length of the waveform in seconds."""
        return len(self.samples) / float(self.sample_rate)


def tokenize(text: str) -> list[tuple[str, int, int]]:
    """Split ``text`` into words: ``(word, char_start, char_end)`` per whitespace token.

    Surrounding punctuation is stripped from the label (the span still covers the token);
    tokens with no letter or digit are dropped. Every backend uses these words.

    >>> tokenize("Hello, world -- 42!")
    [('Hello', 0, 6), ('world', 7, 12), ('42', 16, 19)]
    """
    out = []
    for m in _WORD_RE.finditer(text):
        tok = m.group(0)
        label = tok.strip(_STRIP)
        if any(ch.isalnum() for ch in label):
            out.append((label, m.start(), m.end()))
    return out


def _check_text(text, name: str = "text") -> str:
    if not isinstance(text, str):
        raise TypeError(f"{name} must be a str, got {type(text).__name__}.")
    if not tokenize(text):
        raise ValueError(
            f"{name} holds no words (got {text[:60]!r}); pass a transcript with at least one "
            f"word of letters or digits."
        )
    return text


def synthesize(
    text: str,
    *,
    voice: str = "en",
    rate: int = 175,
    pitch: int = 50,
    sample_rate: int | None = None,
) -> Synthesis:
    """Speak ``text`` with eSpeak NG and return the waveform with word timings.

    Parameters
    ----------
    text : str
        The words to speak (UTF-8; numbers and abbreviations are expanded by eSpeak).
    voice : str
        eSpeak NG voice name or language code, optionally with a variant (``"en+f3"``).
    rate : int
        Speaking rate in words per minute, 80 to 450.
    pitch : int
        Base pitch, 0 to 100.
    sample_rate : int, optional
        Resample the output to this rate with soxr (eSpeak speaks at 22050 Hz).

    Returns
    -------
    Synthesis
        ``samples`` of shape (n_samples,) float32, ``sample_rate`` and ``words`` as
        ``(word, start_s, end_s)`` for each word of :func:`tokenize` (text).

    Examples
    --------
    >>> s = synthesize("one two three", sample_rate=16000)
    >>> [w for w, _, _ in s.words], s.sample_rate
    (['one', 'two', 'three'], 16000)
    """
    _check_text(text)
    if not isinstance(voice, str) or not voice:
        raise TypeError(f"voice must be a non-empty str such as 'en', got {voice!r}.")
    for name, value, lo, hi in (("rate", rate, 80, 450), ("pitch", pitch, 0, 100)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}.")
        if not lo <= value <= hi:
            raise ValueError(f"{name} must lie in [{lo}, {hi}], got {value}.")
    if sample_rate is not None and (
        isinstance(sample_rate, bool)
        or not isinstance(sample_rate, (int, np.integer))
        or sample_rate < 1000
    ):
        raise ValueError(f"sample_rate must be an int >= 1000 or None, got {sample_rate!r}.")

    global _CACHED_SAMPLES
    key = (text, voice, int(rate), int(pitch), None if sample_rate is None else int(sample_rate))
    with _LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return _copy(hit)
    out = _synthesize(text, voice, rate, pitch, sample_rate)
    with _LOCK:
        _CACHE[key] = out
        _CACHED_SAMPLES += len(out.samples)
        while _CACHED_SAMPLES > _CACHE_SAMPLES and len(_CACHE) > 1:
            _, old = _CACHE.popitem(last=False)
            _CACHED_SAMPLES -= len(old.samples)
    return _copy(out)


# eSpeak NG's noise sources draw from its own random generator: espeak_ng_SetRandSeed(0)
# before each utterance makes a fresh process give the same waveforms for the same sequence of
# calls (without it they differed from process to process). Within a process the waveform
# generator still keeps state that runs on across utterances (30723 then 30727 samples for the
# same sentence; espeak_Terminate / espeak_Initialize and a priming utterance do not reset it).
# Syntheses are therefore kept per (text, voice, rate, pitch, sample rate), up to 2**25 samples
# (128 MiB), so that the same input gives the same samples and the same alignment.
_CACHE: OrderedDict = OrderedDict()
_CACHE_SAMPLES = 1 << 25
_CACHED_SAMPLES = 0


def _copy(s: Synthesis) -> Synthesis:
    return Synthesis(
        s.samples.copy(), s.sample_rate, list(s.words), list(s.phones), list(s.word_of_phone)
    )


def _synthesize(text, voice, rate, pitch, sample_rate) -> Synthesis:
    raw = text.encode("utf-8")
    with _LOCK:
        eng = _engine()
        eng.set_voice(voice)
        eng.lib.espeak_SetParameter(_PARAM_RATE, int(rate), 0)
        eng.lib.espeak_SetParameter(_PARAM_PITCH, int(pitch), 0)
        eng.lib.espeak_SetParameter(_PARAM_VOLUME, 100, 0)
        eng.chunks, eng.events = [], []
        if eng.set_seed is not None:
            eng.set_seed(0)  # its noise sources start alike every time
        rc = eng.lib.espeak_Synth(raw, len(raw) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        chunks, events, sr = eng.chunks, eng.events, eng.sample_rate
        eng.chunks, eng.events = [], []
    if rc != _EE_OK:
        raise RuntimeError(f"espeak_Synth failed with code {rc}.")
    pcm = np.concatenate(chunks) if chunks else np.zeros(0, np.int16)
    samples = (pcm.astype(np.float32) / 32768.0).astype(np.float32)
    n_total = len(samples)
    words, phones, owner = _timings(text, events, n_total, sr)
    if sample_rate is not None and int(sample_rate) != sr:
        import soxr

        samples = soxr.resample(samples, sr, int(sample_rate)).astype(np.float32)
        sr = int(sample_rate)
    return Synthesis(samples, sr, words, phones, owner)


def _timings(text, events, n_total, sr):
    """Turn espeak's word / phoneme events into per-token (start, end) seconds."""
    tokens = tokenize(text)
    ends = np.array([e for _, _, e in tokens])
    # espeak events in order: a word event, then its phonemes. Group phonemes per word event.
    groups: list[tuple[int, int, list[tuple[str, int]]]] = []  # (token, start sample, phones)
    pauses: list[int] = []
    boundaries: list[int] = []  # sample index of every phoneme event (pauses included)
    for etype, pos, sample, label in events:
        if etype == _EV_WORD:
            # the token holding the character, else the next one (espeak's positions can
            # land on skipped punctuation); never backwards
            tok = min(int(np.searchsorted(ends, pos - 1, side="right")), len(tokens) - 1)
            tok = max(tok, groups[-1][0]) if groups else tok
            groups.append((tok, sample, []))
        else:
            boundaries.append(sample)
            if label.startswith("_") or not label:
                pauses.append(sample)
            elif groups:
                groups[-1][2].append((label, sample))
    boundaries.append(n_total)
    bnd = np.array(sorted(set(boundaries)))

    def next_boundary(sample: int) -> int:
        i = int(np.searchsorted(bnd, sample, side="right"))
        return int(bnd[i]) if i < len(bnd) else n_total

    spans: dict[int, list[int]] = {}
    phones, owner = [], []
    for tok, start, ph in groups:
        if ph:
            start = ph[0][1]
            end = next_boundary(ph[-1][1])
        else:
            end = start
        for (label, s), nxt in zip(ph, [p[1] for p in ph[1:]] + [end]):
            phones.append((label, s / sr, nxt / sr))
            owner.append(tok)
        if tok in spans:
            spans[tok][0] = min(spans[tok][0], start)
            spans[tok][1] = max(spans[tok][1], end)
        else:
            spans[tok] = [start, end]
    words = []
    prev_end = 0
    for i, (label, _, _) in enumerate(tokens):
        if i in spans:
            s, e = spans[i]
        else:  # spoken as nothing (rare): a zero-length word where it would be
            s = e = prev_end
        words.append((label, s / sr, e / sr))
        prev_end = e
    return words, phones, owner


def text_to_phonemes(text: str, *, voice: str = "en", ipa: bool = False) -> list[str]:
    """Phonemize ``text`` word by word with eSpeak NG.

    Returns one string per word of :func:`tokenize` (text): eSpeak's ASCII phoneme mnemonics
    (or IPA when ``ipa``), phonemes separated by spaces.

    >>> text_to_phonemes("cat")
    ["k 'a t"]
    """
    _check_text(text)
    out = []
    mode = (0x02 if ipa else 0x00) | (ord(" ") << 8)
    with _LOCK:
        eng = _engine()
        eng.set_voice(voice)
        for word, _, _ in tokenize(text):
            buf = ctypes.c_char_p(word.encode("utf-8"))
            ptr = ctypes.pointer(buf)
            parts = []
            while ptr.contents.value:
                res = eng.lib.espeak_TextToPhonemes(ptr, _CHARS_UTF8, mode)
                if res:
                    parts.append(res.decode("utf-8", "replace").strip())
            out.append(" ".join(p for p in parts if p))
    return out


def list_voices() -> list[str]:
    """Identifiers of the voices shipped with the bundled eSpeak NG data (``'gmw/en'``...)."""
    with _LOCK:
        eng = _engine()
        arr = eng.lib.espeak_ListVoices(None)
        out = []
        i = 0
        while arr[i]:
            v = arr[i].contents
            out.append(v.identifier.decode())
            i += 1
    return out
