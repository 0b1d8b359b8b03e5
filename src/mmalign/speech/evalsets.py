"""Evaluation sets with exact word boundaries.

(a) Real speech: strings of spoken digits concatenated from the Free Spoken Digit Dataset
(FSDD; 8 kHz, trimmed clips, so every word's boundaries are its clip's edges) with random
pauses, gains and optional noise.
(b) ``speech_dev``: short real English recordings with reference word times from public
repositories' fixtures (``../shared/data/speech-dev``); boundaries that sit at a file's edge
(``meta["edge"]``) are left out of error statistics.
(c) Synthetic speech: eSpeak NG sentences in voices, rates and pitches other than the
aligner's template; the truth is eSpeak's own word timing.

Reference: Z. Jackson et al., Free Spoken Digit Dataset,
https://github.com/Jakobovski/free-spoken-digit-dataset
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._result import Span

__all__ = [
    "EvalItem",
    "fsdd_digit_strings",
    "espeak_sentences",
    "speech_dev",
    "edge_mask",
    "DIGIT_WORDS",
]

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

# Harvard sentences (IEEE 1969 recommended practice for speech quality measurements).
HARVARD = (
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "The hogs were fed chopped corn and garbage.",
    "Four hours of steady work faced us.",
    "A large size in stockings is hard to sell.",
    "The boy was there when the sun rose.",
    "A rod is used to catch pink salmon.",
    "The source of the huge river is the clear spring.",
    "Kick the ball straight and follow through.",
    "Help the woman get back to her feet.",
    "A pot of tea helps to pass the evening.",
    "Smoky fires lack flame and heat.",
    "The soft cushion broke the man's fall.",
    "The salt breeze came across from the sea.",
    "The girl at the booth sold fifty bonds.",
)

# Voices unlike the aligner's default template ("en" male): other accents and variants.
EVAL_VOICES = ("en-us+f2", "en-gb-scotland+m3", "en-029+f4", "en-us+m7", "en-gb-x-rp+f1")


@dataclass
class EvalItem:
    """One evaluation recording with its true word boundaries.

    Attributes
    ----------
    name : str
    audio : ndarray of shape (n_samples,), float32
    sample_rate : int
    transcript : str
    words : list of Span
        True word intervals in seconds.
    meta : dict
        How the item was made (speakers, voice, rate, SNR...).
    """

    name: str
    audio: np.ndarray
    sample_rate: int
    transcript: str
    words: list[Span]
    meta: dict = field(default_factory=dict)

    @property
    def duration(self) -> float:
        return len(self.audio) / float(self.sample_rate)


def fsdd_digit_strings(
    root: str | os.PathLike,
    *,
    n_items: int = 20,
    n_digits: tuple[int, int] = (3, 8),
    pause: tuple[float, float] = (0.0, 0.5),
    edge: tuple[float, float] = (0.1, 0.8),
    gain_db: tuple[float, float] = (-6.0, 6.0),
    noise_snr_db: float | None = None,
    speakers: tuple[str, ...] | None = None,
    sample_rate: int = 16000,
    seed: int = 0,
) -> list[EvalItem]:
    """Concatenate FSDD clips into digit strings with exact word boundaries.

    Parameters
    ----------
    root : path
        The FSDD ``recordings`` folder (``{digit}_{speaker}_{index}.wav``).
    n_items : int
        Number of strings.
    n_digits : (int, int)
        Inclusive range of digits per string.
    pause : (float, float)
        Range of the silence between digits, seconds (uniform).
    edge : (float, float)
        Range of the leading and trailing silence, seconds.
    gain_db : (float, float)
        Range of the per-clip gain in dB.
    noise_snr_db : float, optional
        Add white noise at this signal-to-noise ratio (over the speech parts).
    speakers : tuple of str, optional
        Restrict to these speakers (one speaker per string, as in a real recording).
    sample_rate : int
        Output rate (clips are resampled from 8 kHz with soxr).
    seed : int

    Returns
    -------
    list of EvalItem
    """
    import soundfile as sf
    import soxr

    root = Path(root)
    files = sorted(root.glob("*.wav"))
    if not files:
        raise ValueError(f"root {str(root)!r} holds no FSDD .wav files.")
    by_speaker: dict[str, dict[int, list[Path]]] = {}
    for f in files:
        digit, speaker, _ = f.stem.split("_")
        by_speaker.setdefault(speaker, {}).setdefault(int(digit), []).append(f)
    names = sorted(by_speaker) if speakers is None else list(speakers)
    rng = np.random.default_rng(seed)
    items = []
    for k in range(n_items):
        speaker = names[int(rng.integers(len(names)))]
        n = int(rng.integers(n_digits[0], n_digits[1] + 1))
        digits = rng.integers(0, 10, size=n)
        parts = [np.zeros(int(rng.uniform(*edge) * sample_rate), np.float32)]
        words = []
        t = len(parts[0])
        for i, d in enumerate(digits):
            choices = by_speaker[speaker][int(d)]
            clip, sr = sf.read(str(choices[int(rng.integers(len(choices)))]), dtype="float32")
            if clip.ndim > 1:
                clip = clip.mean(1)
            clip = soxr.resample(clip, sr, sample_rate).astype(np.float32)
            clip *= np.float32(10 ** (rng.uniform(*gain_db) / 20))
            words.append(Span(DIGIT_WORDS[int(d)], t / sample_rate, (t + len(clip)) / sample_rate))
            parts.append(clip)
            t += len(clip)
            gap = rng.uniform(*edge) if i == n - 1 else rng.uniform(*pause)
            parts.append(np.zeros(int(gap * sample_rate), np.float32))
            t += len(parts[-1])
        audio = np.concatenate(parts)
        if noise_snr_db is not None:
            speech = np.concatenate(parts[1::2])
            p = float(np.mean(speech.astype(np.float64) ** 2))
            sigma = np.sqrt(p / 10 ** (noise_snr_db / 10))
            audio = audio + rng.normal(0, sigma, size=len(audio)).astype(np.float32)
        peak = float(np.abs(audio).max())
        if peak > 0.99:
            audio *= np.float32(0.99 / peak)
        items.append(
            EvalItem(
                name=f"fsdd_{k:03d}_{speaker}",
                audio=audio.astype(np.float32),
                sample_rate=sample_rate,
                transcript=" ".join(DIGIT_WORDS[int(d)] for d in digits),
                words=words,
                meta={"speaker": speaker, "noise_snr_db": noise_snr_db},
            )
        )
    return items


def espeak_sentences(
    *,
    n_items: int = 10,
    voices: tuple[str, ...] = EVAL_VOICES,
    rates: tuple[int, int] = (130, 240),
    pitches: tuple[int, int] = (20, 80),
    sample_rate: int = 16000,
    edge: tuple[float, float] = (0.1, 0.6),
    seed: int = 0,
) -> list[EvalItem]:
    """Harvard sentences synthesized by eSpeak NG in varied voices, rates and pitches.

    Pairs of sentences are spoken one after the other with leading / trailing silence; the
    truth is eSpeak's own word timing (word event to the first following phoneme).
    """
    from .tts import synthesize

    rng = np.random.default_rng(seed)
    items = []
    for k in range(n_items):
        a, b = rng.choice(len(HARVARD), size=2, replace=False)
        text = f"{HARVARD[a]} {HARVARD[b]}"
        voice = voices[int(rng.integers(len(voices)))]
        rate = int(rng.integers(rates[0], rates[1] + 1))
        pitch = int(rng.integers(pitches[0], pitches[1] + 1))
        s = synthesize(text, voice=voice, rate=rate, pitch=pitch, sample_rate=sample_rate)
        lead = np.zeros(int(rng.uniform(*edge) * sample_rate), np.float32)
        tail = np.zeros(int(rng.uniform(*edge) * sample_rate), np.float32)
        off = len(lead) / sample_rate
        audio = np.concatenate([lead, s.samples, tail]) * np.float32(0.8)
        words = [Span(w, st + off, en + off) for w, st, en in s.words]
        items.append(
            EvalItem(
                name=f"espeak_{k:03d}",
                audio=audio.astype(np.float32),
                sample_rate=sample_rate,
                transcript=text,
                words=words,
                meta={"voice": voice, "rate": rate, "pitch": pitch},
            )
        )
    return items


def speech_dev(root: str | os.PathLike) -> list[EvalItem]:
    """The items of a speech-dev folder (``<source>__<item>/`` with ``audio.wav``,
    ``ref.TextGrid``, ``transcript.txt``, ``meta.json``), in name order.

    ``meta`` holds the item's ``meta.json`` plus ``source`` (the part before ``__``) and
    ``edge``: the reference boundaries (seconds) that sit at the file's edge, where the
    recording was cut; leave them out of error statistics (:func:`edge_mask`).
    """
    import json

    from .audio import load_audio
    from .io import read_alignment

    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"speech-dev folder {str(root)!r} does not exist.")
    items = []
    for d in sorted(p for p in root.iterdir() if (p / "audio.wav").is_file()):
        meta = json.loads((d / "meta.json").read_text(encoding="utf-8"))
        meta["source"] = d.name.split("__")[0]
        meta["edge"] = [float(t) for t in meta.get("boundaries_at_file_edge_s") or []]
        items.append(
            EvalItem(
                name=d.name,
                audio=load_audio(d / "audio.wav", target_rate=16000),
                sample_rate=16000,
                transcript=(d / "transcript.txt").read_text(encoding="utf-8").strip(),
                words=read_alignment(d / "ref.TextGrid").words,
                meta=meta,
            )
        )
    if not items:
        raise ValueError(f"no speech-dev items (folders with audio.wav) under {str(root)!r}.")
    return items


def edge_mask(item: EvalItem, tol: float = 1e-4) -> np.ndarray:
    """Boolean mask over the item's boundaries (start, end of each word, in order): True where
    the boundary is scored, False where it sits at the file's edge (``meta["edge"]``)."""
    times = np.array([t for w in item.words for t in (w.start, w.end)])
    edge = np.asarray(item.meta.get("edge", []), dtype=float)
    if len(edge) == 0:
        return np.ones(len(times), bool)
    return ~(np.abs(times[:, None] - edge[None, :]) <= tol).any(axis=1)
