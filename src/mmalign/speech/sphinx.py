"""Forced alignment with CMU PocketSphinx 5 and its bundled US English model.

Words come from ``set_align_text`` + ``seg()`` (default beams, then beams of 1e-100 where
the whole transcript does not come back, then the same with a little seeded dither); phones
from ``set_alignment()`` / ``get_alignment()``. Words missing from the CMU dictionary get a
pronunciation from eSpeak NG's phonemes mapped to ARPAbet (``add_word``).

Refinement (:class:`SphinxConfig` ``refine``): PocketSphinx lets a word that precedes a pause
run on into it (on speech-dev, word ends before a pause were 62 ms late on average, the other
boundaries unbiased), so a word edge that touches one of PocketSphinx's own silences moves
onto the nearest speech onset / offset found in the signal's energy
(:func:`mmalign.speech.speech_segments`), if one lies within ``max_move`` seconds inside the
word. A word end before a pause then moves back over the word's decaying tail, to the last
moment its energy is above ``floor + end_level * (peak - floor)`` (:class:`SphinxConfig`
``end_level``): the energy offset sits at the bottom of the decay, where reference
alignments rarely put the end. Boundaries between two words are left as PocketSphinx put
them.

Confidence, mismatches and long recordings (:mod:`mmalign.speech.anchors`): the recording is
also recognised with a language model made of the transcript's own words; words that
recognition finds in order are anchors, and each word's score is the share of its time that
recognition gave the same word. Recordings longer than ``long_seconds`` (and any recording
whose whole transcript does not align in one piece) are cut at anchors and aligned stretch by
stretch; words no stretch can hold are returned unaligned, with a reason.

Reference: Huggins-Daines et al. (2006), "PocketSphinx: a free, real-time continuous
speech recognition system for hand-held devices"; https://github.com/cmusphinx/pocketsphinx
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

import numpy as np

from ._result import Span, SpeechAlignment
from .tts import text_to_phonemes, tokenize

__all__ = ["SphinxConfig", "align_sphinx", "espeak_to_arpabet", "SPHINX_LANGUAGES"]

SPHINX_LANGUAGES = ("en", "en-us")
FRAME_RATE = 100  # pocketsphinx's default frate
SR = 16000
_NOT_WORDS = ("<", "[", "+")

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


@dataclass
class SphinxConfig:
    """Options of the ``sphinx`` backend (the default for English).

    Attributes
    ----------
    refine : bool
        Move word edges that touch a pause onto the speech onset / offset found in the
        signal's energy (see the module docstring). On speech-dev it lowered the
        word-boundary error on every source.
    max_move : float
        Seconds a refined edge may move into its word.
    end_level : float
        A word end before a pause then moves back over the word's decaying tail, to the last
        moment its 5 ms energy is above ``floor + end_level * (peak - floor)`` (0 turns this
        off). The ends that touch a pause were the largest error left on speech-dev (+42 ms
        late on average); 0.35 was chosen from {0.15, 0.25, 0.35, 0.45, 0.55} and a
        leave-one-source-out check chose it for every held-out source.
    hidden_pause : float
        Seconds of low energy between two words that PocketSphinx joined without a silence
        that make a pause (:func:`hidden_pauses`; 0 turns this off): the words' edges move
        to the pause's, which then gets the pause-side refinement above. Where pauses come
        from another recording than the words around them (louder or differently coloured
        background), PocketSphinx's silence model loses them to the word before. Chosen on
        the 1- and 5-minute long benchmark cases (seed 0) from {0.2, 0.25, 0.3} s x {15, 18,
        21} dB (0.12 and 0.15 s, tried at 18 dB, cut into stop closures); it changes no
        speech-dev boundary.
    hidden_pause_db : float
        How far (dB) below the 95th percentile of the frame energy within 1 s such a pause
        lies.
    wide_beam : float
        Beam (``beam``, ``wbeam``, ``pbeam``) of the retry where default beams do not bring
        the whole transcript back.
    dither : float
        Standard deviation of the seeded Gaussian noise added in the later retries (then
        ten times as much in the last): digital silence (exact zeros) makes PocketSphinx's
        log energies degenerate.
    confidence : bool
        Recognise the recording with the transcript's words to score every word and to
        flag transcripts that do not belong to the recording (one more decoding pass).
    long_seconds : float
        Recordings longer than this are aligned stretch by stretch between anchors.
    min_support : float
        A transcript whose share of words found (in order) by recognition is below this is
        flagged as not matching the recording (``info["mismatch"]`` and a
        :class:`TranscriptMismatchWarning`).
    min_coverage : float
        Likewise when recognition gives the transcript's words less than this share of the
        recognised speech time (the rest goes to single phones). Both thresholds sit below
        every matching speech-dev item (support >= 0.71, coverage >= 0.87) and above 33
        of its 33 cross-source mismatches (chosen on speech-dev, so treat them as a start).
    """

    refine: bool = True
    max_move: float = 0.2
    end_level: float = 0.35
    hidden_pause: float = 0.25
    hidden_pause_db: float = 21.0
    wide_beam: float = 1e-100
    dither: float = 1e-4
    confidence: bool = True
    long_seconds: float = 60.0
    min_support: float = 0.6
    min_coverage: float = 0.8

    def __post_init__(self) -> None:
        for name in (
            "max_move",
            "dither",
            "long_seconds",
            "hidden_pause",
            "hidden_pause_db",
        ):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
                raise ValueError(f"{name} must be a number >= 0, got {v!r}.")
        if not (isinstance(self.wide_beam, float) and 0 < self.wide_beam < 1):
            raise ValueError(f"wide_beam must be a float in (0, 1), got {self.wide_beam!r}.")
        for name in ("min_support", "min_coverage", "end_level"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
                raise ValueError(f"{name} must be a number in [0, 1], got {v!r}.")


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


def decoder(beam: float | None = None, **options):
    """A PocketSphinx decoder for this thread and these settings, reset for a new utterance.

    Decoders are cached (loading the model takes a fraction of a second). The feature
    pipeline is re-initialised and the cepstral mean set back to its initial value each
    time: PocketSphinx carries both over from the last utterance, which made the same clip
    align differently depending on what came before.
    """
    import pocketsphinx as ps

    cache = getattr(_LOCAL, "decoders", None)
    if cache is None:
        cache = _LOCAL.decoders = {}
    key = (beam, tuple(sorted(options.items())))
    if key not in cache:
        cfg = ps.Config()
        cfg["loglevel"] = "FATAL"
        cfg["lm"] = None
        if beam is not None:
            cfg["beam"] = cfg["wbeam"] = cfg["pbeam"] = beam
        for k, v in options.items():
            cfg[k] = v
        d = ps.Decoder(cfg)
        cache[key] = (d, d.get_cmn())
    d, cmn0 = cache[key]
    d.reinit_feat()
    d.set_cmn(cmn0)
    return d


def dict_word(dec, word: str) -> str:
    """The dictionary entry for ``word``, adding an eSpeak-derived pronunciation if missing."""
    w = word.lower()
    if dec.lookup_word(w) is not None:
        return w
    arpa = (
        espeak_to_arpabet(text_to_phonemes(word, voice="en-us")[0])
        if any(c.isalnum() for c in word)
        else ""
    )
    if not arpa:
        raise ValueError(f"no pronunciation for word {word!r} (eSpeak gave none).")
    dec.add_word(w, arpa, True)
    return w


def to_pcm(samples: np.ndarray, dither: float = 0.0) -> bytes:
    """16-bit PCM bytes of float samples, with seeded Gaussian dither when ``dither > 0``."""
    x = np.asarray(samples, dtype=np.float32)
    if dither > 0:
        x = x + np.random.default_rng(0).normal(0.0, dither, size=len(x)).astype(np.float32)
    return (np.clip(x, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def force_align(samples: np.ndarray, tokens: list[str], cfg: SphinxConfig):
    """PocketSphinx forced alignment of ``tokens`` to ``samples`` (16 kHz).

    Returns ``(segments, decoder, pcm, retried)`` where ``segments`` lists ``(label, start_s,
    end_s)`` for words and silences in order, or ``(None, None, None, True)`` when no
    setting brings every word back.
    """
    retried = False
    ladder = (
        (None, 0.0),
        (cfg.wide_beam, 0.0),
        (None, cfg.dither),
        (cfg.wide_beam, cfg.dither),
        (cfg.wide_beam, 10 * cfg.dither),
    )
    for beam, level in ladder:
        if level > 0 and cfg.dither <= 0:
            break
        dec = decoder(beam)
        pcm = to_pcm(samples, level)
        text = " ".join(dict_word(dec, w) for w in tokens)
        try:
            dec.set_align_text(text)
            dec.start_utt()
            dec.process_raw(pcm, full_utt=True)
            dec.end_utt()
            seg = list(dec.seg() or []) if dec.hyp() is not None else []
        except RuntimeError:
            seg = []
        out = [
            (s.word, s.start_frame / FRAME_RATE, (s.end_frame + 1) / FRAME_RATE)
            for s in seg
            if s.end_frame >= s.start_frame
        ]
        if sum(not lab.startswith(_NOT_WORDS) for lab, _, _ in out) == len(tokens):
            return out, dec, pcm, retried
        retried = True
    return None, None, None, True


def hidden_pauses(
    segments, samples: np.ndarray, min_pause: float, drop_db: float, reach: float = 0.03
) -> list[tuple[str, float, float]]:
    """``segments`` with a ``<sil>`` put back where PocketSphinx joined two words over a pause.

    Between two words with no silence between them, a pause is a run of at least
    ``min_pause`` seconds of 10 ms frames whose energy is ``drop_db`` below the 95th
    percentile of the frames within 1 s of the boundary, reaching to within ``reach``
    seconds of it and lying inside the two words. The first word then ends where the run
    starts and the second starts where it ends. The level is relative to nearby speech, not
    to the recording's quietest frames: in a recording of several sources (or with changing
    background noise) a pause can be much louder than the quietest one, and PocketSphinx's
    silence model then loses it to the word beside it.
    """
    from .features import frame_energy_db

    if min_pause <= 0 or len(samples) < SR // 5:
        return list(segments)
    e = frame_energy_db(samples, SR)
    n = len(e)
    out = [tuple(s) for s in segments]
    k = 0
    res: list[tuple[str, float, float]] = []
    while k < len(out):
        res.append(out[k])
        if k + 1 < len(out) and not out[k][0].startswith(_NOT_WORDS):
            nxt = out[k + 1]
            if not nxt[0].startswith(_NOT_WORDS):
                (la, a, b), (lb, _, d) = out[k], nxt
                fb = int(round(b * FRAME_RATE))
                w0, w1 = max(0, fb - FRAME_RATE), min(n, fb + FRAME_RATE)
                if w1 - w0 > 10:
                    thr = np.percentile(e[w0:w1], 95) - drop_db
                    low = e < thr
                    r = int(round(reach * FRAME_RATE))
                    near = [f for f in range(max(0, fb - r), min(n, fb + r + 1)) if low[f]]
                    if near:
                        f = near[np.argmin([abs(x - fb) for x in near])]
                        s_, t_ = f, f + 1
                        while s_ > 0 and low[s_ - 1]:
                            s_ -= 1
                        while t_ < n and low[t_]:
                            t_ += 1
                        g0, g1 = s_ / FRAME_RATE - 0.01, t_ / FRAME_RATE
                        if g1 - g0 >= min_pause and g0 >= a + 0.03 and g1 <= d - 0.03:
                            res[-1] = (la, a, g0)
                            res.append(("<sil>", g0, g1))
                            out[k + 1] = (lb, g1, d)
        k += 1
    return res


def refine_options(cfg: SphinxConfig) -> dict:
    """Keyword arguments of :func:`refine_edges` from a :class:`SphinxConfig`."""
    return {
        "max_move": cfg.max_move,
        "end_level": cfg.end_level,
        "hidden_pause": cfg.hidden_pause,
        "hidden_pause_db": cfg.hidden_pause_db,
    }


def refine_edges(
    segments,
    samples: np.ndarray,
    tokens: list[str],
    max_move: float,
    end_level: float = 0.0,
    hidden_pause: float = 0.0,
    hidden_pause_db: float = 18.0,
) -> list[Span]:
    """Words of ``segments`` with their pause-side edges moved onto energy onsets / offsets.

    With ``end_level > 0`` a word end before a pause then moves back over the word's
    decaying tail, to the last moment its 5 ms energy is above ``floor + end_level * (peak -
    floor)`` (floor, peak: 5th and 95th percentiles of the recording's frame energy).
    With ``hidden_pause > 0``, pauses that PocketSphinx gave to a word are found first
    (:func:`hidden_pauses`).
    """
    from .features import frame_energy_db, speech_segments

    if hidden_pause > 0 and max_move > 0:
        segments = hidden_pauses(segments, samples, hidden_pause, hidden_pause_db)

    spans = speech_segments(samples, SR) if max_move > 0 else np.zeros((0, 2))
    ons, offs = (spans[:, 0], spans[:, 1]) if len(spans) else (np.zeros(0), np.zeros(0))
    env_t, env, end_threshold = None, None, None
    if max_move > 0 and end_level > 0 and len(samples) > SR // 10:
        env_t, env = _envelope_db(samples)
        floor, peak = np.percentile(frame_energy_db(samples, SR), [5, 95])
        end_threshold = floor + end_level * (peak - floor)
    words, k = [], 0
    for i, (lab, a, b) in enumerate(segments):
        if lab.startswith(_NOT_WORDS):
            continue
        pause_before = i == 0 or segments[i - 1][0].startswith(_NOT_WORDS)
        pause_after = i + 1 == len(segments) or segments[i + 1][0].startswith(_NOT_WORDS)
        a0, b0 = a, b
        if pause_after and len(offs):
            c = offs[(offs > a0) & (offs <= b0 + 0.03) & (offs >= b0 - max_move)]
            if len(c):
                b = float(c[np.argmin(np.abs(c - b0))])
        if pause_before and len(ons):
            c = ons[(ons < b0) & (ons >= a0 - 0.03) & (ons <= a0 + max_move)]
            if len(c):
                a = float(c[np.argmin(np.abs(c - a0))])
        if pause_after and env is not None:
            b = _decay_end(env_t, env, a, b, max_move, end_threshold)
        if b - a < 0.01:  # never collapse a word
            a, b = a0, b0
        words.append(Span(tokens[k], a, b))
        k += 1
    for x, y in zip(words[:-1], words[1:]):
        if y.start < x.end:
            y.start = x.end
        y.end = max(y.end, y.start)
    return words


def _envelope_db(samples: np.ndarray, step: float = 0.001, win: float = 0.005):
    """Times (s) and energy (dB) of a ``win``-second window every ``step`` seconds."""
    y = np.asarray(samples, dtype=np.float64) ** 2
    csum = np.concatenate([[0.0], np.cumsum(y)])
    n = len(y)
    hop, w = int(step * SR), int(win * SR)
    c = np.arange(0, n, hop)
    lo, hi = np.clip(c - w // 2, 0, n), np.clip(c + w // 2, 0, n)
    power = (csum[hi] - csum[lo]) / np.maximum(hi - lo, 1)
    return c / SR, 10 * np.log10(power + 1e-20)


def _decay_end(t, env, a: float, b: float, max_move: float, threshold: float) -> float:
    """The last time within ``[b - max_move, b]`` (and after ``a``) where the envelope is
    above ``threshold``; ``b`` where there is none."""
    idx = np.flatnonzero((t >= max(a, b - max_move)) & (t <= b) & (env > threshold))
    if not len(idx) or t[idx[-1]] - a < 0.01:
        return b
    return float(t[idx[-1]])


def _phone_pass(dec, pcm: bytes, offset: float) -> tuple[list[Span], list[int]] | None:
    """Phones of the decoder's last alignment and, for each, the position of its word among
    the alignment's words (silences and fillers left out)."""
    try:
        dec.set_alignment()
        dec.start_utt()
        dec.process_raw(pcm, full_utt=True)
        dec.end_utt()
        phones, owners = [], []
        k = -1
        # one pass over the decoder's iterator (its entries do not outlive it)
        for w in dec.get_alignment():
            if w.name.startswith(_NOT_WORDS):
                continue
            k += 1
            for p in w:
                phones.append(
                    Span(
                        p.name,
                        offset + p.start / FRAME_RATE,
                        offset + (p.start + p.duration) / FRAME_RATE,
                    )
                )
                owners.append(k)
        return phones, owners
    except RuntimeError:
        return None


def phone_spans(
    dec, pcm: bytes, offset: float = 0.0, *, tokens: list[str] | None = None, wide_beam=None
) -> tuple[list[Span], list[int]]:
    """Phones of the last forced alignment (a second pass with ``set_alignment``), and for
    each phone the position of its word among the aligned words.

    Where that pass fails within the decoder's beams and ``tokens`` and ``wide_beam`` are
    given, the words are aligned again with wide beams and the phone pass repeated. Both
    lists are empty where the pass fails.
    """
    out = _phone_pass(dec, pcm, offset)
    if out is None and tokens and wide_beam is not None:
        wide = decoder(wide_beam)
        try:
            wide.set_align_text(" ".join(dict_word(wide, w) for w in tokens))
            wide.start_utt()
            wide.process_raw(pcm, full_utt=True)
            wide.end_utt()
            if wide.hyp() is not None:
                out = _phone_pass(wide, pcm, offset)
        except RuntimeError:
            out = None
    return out if out is not None else ([], [])


def fit_phones_to_words(words: list[Span], phones: list[Span], owners: list[int]) -> None:
    """Move each word's phones (in place) so that they fill the word's final edges.

    Edge refinement and the stretch joins move word edges after the phone pass; without this
    a word's first phone would start before the word, or its last phone end in the pause
    after it. ``owners[j]`` is the index in ``words`` of phone ``j``'s word. Inner phone
    boundaries keep their times, clipped into the word; where clipping would leave a phone
    under 10 ms (or under its share of a very short word), the word's phone boundaries are
    instead stretched linearly from the phone pass's span onto the word's.
    """
    if len(owners) != len(phones):
        raise ValueError(f"{len(phones)} phones but {len(owners)} owners")
    by_word: dict[int, list[int]] = {}
    for j, k in enumerate(owners):
        by_word.setdefault(k, []).append(j)
    for k, idx in by_word.items():
        w = words[k]
        if not w.aligned or w.end <= w.start:
            continue
        ps = [phones[j] for j in idx]
        edges = np.array([p.start for p in ps] + [ps[-1].end], dtype=np.float64)
        new = np.clip(edges, w.start, w.end)
        new[0], new[-1] = w.start, w.end
        least = min(0.01, (w.end - w.start) / len(ps))
        if np.any(np.diff(new) < least - 1e-9):
            span = edges[-1] - edges[0]
            frac = (edges - edges[0]) / span if span > 0 else np.linspace(0, 1, len(edges))
            new = w.start + frac * (w.end - w.start)
        for i, p in enumerate(ps):
            p.start, p.end = float(new[i]), float(new[i + 1])


def align_sphinx(
    samples: np.ndarray,
    transcript: str,
    *,
    language: str = "en",
    config: SphinxConfig | None = None,
) -> SpeechAlignment:
    """Force-align ``transcript`` to 16 kHz mono ``samples`` with PocketSphinx.

    Parameters
    ----------
    samples : ndarray of shape (n_samples,), float32 at 16 kHz
    transcript : str
    language : {"en", "en-us"}
    config : SphinxConfig, optional

    Returns
    -------
    SpeechAlignment
        Words (with a confidence in ``score`` when ``config.confidence``) and ARPAbet phones.
        Words the recording does not support have ``nan`` times and a reason in
        ``unaligned``. ``info`` tells whether wide beams were needed (``retried``), whether
        the stretch-by-stretch path ran (``anchored``), the share of words recognition found
        (``support``) and whether the transcript looks foreign to the recording
        (``mismatch``).
    """
    from .anchors import align_anchored, recognition_support

    if language not in SPHINX_LANGUAGES:
        raise ValueError(
            f"the sphinx backend has a US English model only, got language {language!r}; "
            f"use backend='tts-dtw' for other languages."
        )
    cfg = config if config is not None else SphinxConfig()
    if not isinstance(cfg, SphinxConfig):
        raise TypeError(f"config must be a SphinxConfig, got {type(cfg).__name__}.")
    tokens = [w for w, _, _ in tokenize(transcript)]
    x = np.asarray(samples, dtype=np.float32)
    duration = len(x) / SR
    if duration > cfg.long_seconds:
        return align_anchored(x, tokens, cfg, language=language)
    seg, dec, pcm, retried = force_align(x, tokens, cfg)
    if seg is None:
        result = align_anchored(x, tokens, cfg, language=language)
        result.info["retried"] = True
        return result
    words = (
        refine_edges(seg, x, tokens, **refine_options(cfg))
        if cfg.refine
        else [
            Span(tokens[k], a, b)
            for k, (lab, a, b) in enumerate(s for s in seg if not s[0].startswith(_NOT_WORDS))
        ]
    )
    phones, owners = phone_spans(dec, pcm, tokens=tokens, wide_beam=cfg.wide_beam)
    for w in words:
        w.end = min(w.end, duration)
    if len(set(owners)) == len(words):  # the phone pass holds every word
        fit_phones_to_words(words, phones, owners)
    # PocketSphinx's phone pass (set_alignment) fails on some utterances at any beam
    info = {"retried": retried, "anchored": False, "phones_failed": not phones}
    result = SpeechAlignment(
        words=words,
        phones=phones,
        duration=duration,
        backend="sphinx",
        language=language,
        info=info,
    )
    if cfg.confidence:
        recognition_support(x, tokens, result, cfg)
    return result
