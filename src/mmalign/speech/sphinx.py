"""Forced alignment with CMU PocketSphinx 5 and its bundled US English model.

Words come from ``set_align_text`` + ``seg()``; phones from a second pass with
``set_alignment()`` / ``get_alignment()``. Words missing from the CMU dictionary get a
pronunciation from eSpeak NG's phonemes mapped to ARPAbet (``add_word``). Where the default
beams find no alignment, the decode is retried with wider beams.

Reference: Huggins-Daines et al. (2006), "PocketSphinx: a free, real-time continuous
speech recognition system for hand-held devices"; https://github.com/cmusphinx/pocketsphinx
"""

from __future__ import annotations

import re
import threading

import numpy as np

from ._result import Span, SpeechAlignment
from .tts import text_to_phonemes, tokenize

__all__ = ["align_sphinx", "espeak_to_arpabet", "SPHINX_LANGUAGES"]

SPHINX_LANGUAGES = ("en", "en-us")
FRAME_RATE = 100  # pocketsphinx's default frate

# eSpeak NG English phoneme mnemonics -> CMU ARPAbet (stress marks stripped first)
_ESPEAK_ARPABET = {
    "a": "AE",
    "aa": "AE",
    "A:": "AA",
    "A@": "AA R",
    "A": "AA",
    "0": "AA",
    "a#": "AH",
    "aI": "AY",
    "aI@": "AY ER",
    "aI3": "AY ER",
    "aU": "AW",
    "aU@": "AW ER",
    "@": "AH",
    "@2": "AH",
    "@5": "AH",
    "@L": "AH L",
    "@r": "ER",
    "3:": "ER",
    "3": "ER",
    "e": "EH",
    "E": "EH",
    "e@": "EH R",
    "eI": "EY",
    "i": "IY",
    "i:": "IY",
    "i@": "IY ER",
    "i@3": "IY ER",
    "I": "IH",
    "I2": "IH",
    "I#": "IH",
    "O": "AO",
    "O:": "AO",
    "O@": "AO R",
    "o@": "AO R",
    "OI": "OY",
    "oU": "OW",
    "o": "OW",
    "u": "UW",
    "u:": "UW",
    "U": "UH",
    "U@": "UH R",
    "V": "AH",
    "IR": "IH R",
    "VR": "AH R",
    "p": "P",
    "b": "B",
    "t": "T",
    "d": "D",
    "k": "K",
    "g": "G",
    "f": "F",
    "v": "V",
    "T": "TH",
    "D": "DH",
    "s": "S",
    "z": "Z",
    "S": "SH",
    "Z": "ZH",
    "h": "HH",
    "tS": "CH",
    "dZ": "JH",
    "m": "M",
    "n": "N",
    "N": "NG",
    "l": "L",
    "r": "R",
    "w": "W",
    "j": "Y",
    "x": "K",
    "t#": "T",
    "d#": "D",
    "z#": "Z",
    "n-": "N",
    "l-": "L",
    "r-": "R",
    "m-": "M",
    "?": "",
    "W": "W",
}
_STRESS = re.compile(r"[',%=_!|:]+$|^[',%=]+")

_LOCAL = threading.local()


def espeak_to_arpabet(phonemes: str) -> str:
    """Map space-separated eSpeak NG phonemes (``"h @ l 'oU"``) to ARPAbet (``"HH AH L OW"``).

    Unknown symbols are dropped.
    """
    out = []
    for ph in phonemes.split():
        ph = ph.lstrip("',%=")
        if ph in _ESPEAK_ARPABET:
            out.append(_ESPEAK_ARPABET[ph])
            continue
        core = ph.rstrip("#-2345")
        if core in _ESPEAK_ARPABET:
            out.append(_ESPEAK_ARPABET[core])
        elif core.rstrip(":") in _ESPEAK_ARPABET:
            out.append(_ESPEAK_ARPABET[core.rstrip(":")])
    return " ".join(p for p in out if p)


def _decoder(wide: bool):
    """One decoder per thread and beam setting (model loading takes a fraction of a second)."""
    import pocketsphinx as ps

    cache = getattr(_LOCAL, "decoders", None)
    if cache is None:
        cache = _LOCAL.decoders = {}
    if wide not in cache:
        cfg = ps.Config()
        cfg["loglevel"] = "FATAL"
        cfg["lm"] = None
        if wide:
            cfg["beam"] = 1e-80
            cfg["wbeam"] = 1e-60
            cfg["pbeam"] = 1e-80
        cache[wide] = ps.Decoder(cfg)
    return cache[wide]


def _dict_word(decoder, word: str) -> str:
    """The dictionary entry for ``word``, adding an eSpeak-derived pronunciation if missing."""
    w = word.lower()
    if decoder.lookup_word(w) is not None:
        return w
    arpa = (
        espeak_to_arpabet(text_to_phonemes(word, voice="en-us")[0])
        if any(c.isalnum() for c in word)
        else ""
    )
    if not arpa:
        raise ValueError(f"no pronunciation for word {word!r} (eSpeak gave none).")
    decoder.add_word(w, arpa, True)
    return w


def _decode(decoder, text: str, pcm: bytes):
    decoder.set_align_text(text)
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    if decoder.hyp() is None:  # no complete alignment within the beams
        return []
    return list(decoder.seg() or [])


def align_sphinx(
    samples: np.ndarray,
    transcript: str,
    *,
    language: str = "en",
    dither: float = 1e-4,
    snap: float = 0.25,
) -> SpeechAlignment:
    """Force-align ``transcript`` to 16 kHz mono ``samples`` with PocketSphinx.

    Parameters
    ----------
    samples : ndarray of shape (n_samples,), float32 at 16 kHz
    transcript : str
    language : {"en", "en-us"}
    dither : float
        Standard deviation of seeded Gaussian noise added first: digital silence (exact
        zeros) makes PocketSphinx's log energies degenerate and its alignment fail.
    snap : float
        Move word boundaries within this many seconds of a pause onto the pause's edges
        (:func:`mmalign.speech.snap_to_pauses`); 0 keeps PocketSphinx's frames.

    Returns
    -------
    SpeechAlignment
        Words and ARPAbet phones; ``info["retried"]`` tells whether wide beams (and more
        dither) were needed.
    """
    if language not in SPHINX_LANGUAGES:
        raise ValueError(
            f"the sphinx backend has a US English model only, got language {language!r}; "
            f"use backend='tts-dtw' for other languages."
        )
    tokens = [w for w, _, _ in tokenize(transcript)]
    x = np.asarray(samples, dtype=np.float32)
    noise = np.random.default_rng(0).normal(0.0, 1.0, size=len(x)).astype(np.float32)

    def to_pcm(level: float) -> bytes:
        y = x + noise * np.float32(level) if level > 0 else x
        return (np.clip(y, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()

    duration = len(samples) / 16000.0
    seg, retried, decoder = [], False, None
    # default beams, then wide beams, then wide beams with ten times the dither
    for wide, level in ((False, dither), (True, dither), (True, 10 * dither)):
        if level == 10 * dither and dither <= 0:
            break
        pcm = to_pcm(level)
        decoder = _decoder(wide)
        text = " ".join(_dict_word(decoder, w) for w in tokens)
        try:
            seg = _decode(decoder, text, pcm)
        except RuntimeError:
            seg = []
        seg = [s for s in seg if not s.word.startswith(("<", "[", "+"))]
        if len(seg) == len(tokens):
            break
        retried = True
    if len(seg) != len(tokens):
        raise ValueError(
            f"pocketsphinx could not align the {len(tokens)} words to {duration:.1f} s of audio "
            f"even with wide beams; check that the transcript matches the audio, or use "
            f"backend='tts-dtw'."
        )
    words = [
        Span(tok, s.start_frame / FRAME_RATE, (s.end_frame + 1) / FRAME_RATE)
        for tok, s in zip(tokens, seg)
    ]
    phones = []
    try:
        decoder.set_alignment()
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()
        for w in decoder.get_alignment():
            if w.name.startswith(("<", "[", "+")):
                continue
            for p in w:
                phones.append(
                    Span(p.name, p.start / FRAME_RATE, (p.start + p.duration) / FRAME_RATE)
                )
    except RuntimeError:
        phones = []
    if snap > 0:
        from .features import speech_segments
        from .tts_dtw import snap_to_pauses

        snap_to_pauses(words, speech_segments(samples, 16000), tol=snap)
    for w in words:
        w.end = min(w.end, duration)
    return SpeechAlignment(
        words=words,
        phones=phones,
        duration=duration,
        backend="sphinx",
        language=language,
        info={"retried": retried},
    )
