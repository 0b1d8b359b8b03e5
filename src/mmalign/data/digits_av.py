"""digits-av: an unaligned audio / vision / text benchmark with exact ground-truth alignment.

Each sample is a string of ``n_digits`` distinct digits in three streams that are NOT aligned:

* **audio** -- the digits spoken one after another (eSpeak NG voices by default, or real
  recordings of the Free Spoken Digit Dataset with ``fsdd_root``), with random pauses; each
  word is *stressed* (full level) or not (``unstressed_gain``). Features: 13 MFCC at
  ``audio_fps`` frames per second (100 by default).
* **vision** -- handwritten digits (scikit-learn's 8x8 ``load_digits``) at ``vision_fps``
  frames per second: each image appears at its word's onset plus the video's offset plus its
  own lag, stays for its own random duration, then the screen is blank until the next one.
  Each digit is drawn in its own *ink* (red, green, blue or white, distinct within a sample)
  on a black screen: a frame is the RGB image, 3 colour planes x 64 pixels. Plus camera noise.
* **text** -- the digit tokens (one-hot + an emphasis flag) in a shuffled order, with one
  digit emphasized and placed last, like a question ("... which ink was *7* in?"). For the
  ``ink_claims`` label every token also carries a claimed ink (one-hot, 4 more columns), like
  a caption "*7* in red, *3* in blue, ..."; for ``ink_pair`` the text names only two of the
  digits.

The label ``text_vision`` (default) is the ink of the emphasized digit's image: the text says
which digit, only the video says which ink, and the inks on screen are a permutation, so it can
only be predicted by pairing the token with its image (aligning the streams); text or video
alone are at chance (25 %). It has a query token (the emphasized digit, placed last), which
favours models that read the last text step. ``ink_pair`` has none: the text names two of
the digits shown (in random order) and the label is the pair of inks their images wear (6
classes for 4 digits; chance 1/6): text alone knows the words but not the inks, video alone
shows every ink but not which two are named; every word of the text must be paired with its
image, and each word's own ink is always part of the answer. (An earlier version kept all the
words and underlined two of them; no model learned it, because a word's own ink is in the
answer only when the word is underlined: the pull of the label on each word's attention to its
image changes sign with the flag and cancels at initialisation.) ``ink_claims`` has none either and is harder (a comparison per word): each token claims an ink
for its digit, the label counts the true claims, and the claims are drawn so that text alone
(the claims are a random set of distinct inks whatever the count) and video alone (the inks
on screen) say nothing about it; the count is drawn uniformly from the counts that distinct
inks allow (for 4 digits 0, 1, 2 or 4: three true claims force the fourth), chance 25 %.
Other labels:

=================  ======================================================  ============
label              definition                                              streams
=================  ======================================================  ============
``text_vision``    ink of the emphasized digit's image (4 classes)         text+vision
``ink_pair``       the two inks of the two digits the text names (6        text+vision
                   classes; no query token: the text is those two words)
``ink_claims``     how many of the text's ink claims are true (0 to        text+vision
                   ``n_digits``; no query token: every word must be
                   paired with its image)
``text_audio``     whether the emphasized digit is spoken with stress      text+audio
``audio_vision``   number of stressed words whose image is red             audio+vision
``text_only``      the emphasized digit (control, 10 classes)              text
``audio_only``     number of stressed words (control)                      audio
``vision_only``    ink of the first image (control, 4 classes)             vision
``first_digit``    the first spoken digit (control)                        audio or video
=================  ======================================================  ============

The ground truth is exact: :func:`true_intervals` gives, for each element of one stream, the
``[start, end)`` interval of the element(s) of another stream it corresponds to (a permutation
between text and the others; monotone between audio and video). Splits are by speaker (voice)
and by handwritten-image pool. Generation is deterministic from ``seed`` (eSpeak's waveforms
themselves may differ by a few samples between runs) and cached on disk as an ``.npz`` keyed by
the config's hash.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mmalign._utils import check_option, resolve_config
from mmalign.data._types import MultimodalDataset, MultimodalSplit

__all__ = [
    "DigitsAVConfig",
    "DIGITS_AV_LABELS",
    "load_digits_av",
    "generate_digits_av",
    "true_intervals",
    "default_cache_dir",
]

DIGITS_AV_LABELS = (
    "text_vision",
    "ink_pair",
    "ink_claims",
    "text_audio",
    "audio_vision",
    "text_only",
    "audio_only",
    "vision_only",
    "first_digit",
)
# The inks as RGB colours: red, green, blue, white. A frame is 3 colour planes of 64 pixels, so
# a digit's shape looks the same in every ink up to a per-plane gain (as in a real video).
_INKS = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]], np.float32)
_N_INKS = len(_INKS)
_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
MODALITIES = ("text", "audio", "vision")

# eSpeak NG voices (accent + variant) standing in for speakers, split disjointly.
_VOICES = {
    "train": (
        "en",
        "en+f3",
        "en-us+m3",
        "en-gb-x-rp+f2",
        "en-029",
        "en+m7",
        "en-us+f4",
        "en-gb-scotland+m3",
    ),
    "valid": ("en-us", "en+f2"),
    "test": ("en-gb-x-rp+m3", "en-029+f3"),
}
_FSDD_SPEAKERS = {
    "train": ("jackson", "nicolas", "theo"),
    "valid": ("lucas",),
    "test": ("yweweler",),
}
_SPLITS = ("train", "valid", "test")


@dataclass(frozen=True)
class DigitsAVConfig:
    """How to generate digits-av. Every field is part of the cache key.

    Attributes
    ----------
    n_train, n_valid, n_test : int
        Samples per split (defaults 2000 / 300 / 500).
    n_digits : int
        Digits per sample, distinct, 2 to 10 (default 4).
    label : str
        The label used as ``labels`` (one of ``DIGITS_AV_LABELS``; default ``"text_vision"``).
        All labels are kept in ``extras["labels"]``.
    audio_fps : int
        Audio feature frames per second (MFCC hop; default 100).
    n_mfcc : int
        MFCC coefficients (default 13).
    vision_fps : int
        Frames per second of the digit video (default 15).
    rate_range : (int, int)
        eSpeak speaking rate in words per minute, drawn per sample (default 200-280).
    pitch_range : (int, int)
        eSpeak pitch 0-100, drawn per sample (default 30-70).
    pause_range : (float, float)
        Silence between words in seconds (default 0.03-0.15).
    lag_range : (float, float)
        Delay of each image after its word starts, seconds, drawn per digit (default -0.1-0.3).
    show_range : (float, float)
        How long each image stays on screen, seconds, drawn per digit (at most until the next
        image appears; default 0.2-0.8).
    offset_range : (float, float)
        Delay of the whole video relative to the audio, seconds, drawn per sample (default 0-0.6).
    unstressed_gain : float
        Amplitude of unstressed words (default 0.3; stressed words 1.0).
    vision_noise : float
        Standard deviation of the per-frame pixel noise (default 0.05).
    text_order : {"query-last", "shuffled", "spoken"}
        Order of the tokens in the text stream: a random permutation of the spoken order with
        the emphasized digit moved to the end, like a question (default), a random permutation,
        or the spoken order. Shuffled, the text-to-audio / video alignment is a permutation,
        which no monotone aligner can recover.
    image_split : {"random", "block"}
        How the 1,797 handwritten images are divided 60/20/20 into disjoint train / valid /
        test pools: after a fixed shuffle (default: the pools are alike, so validation
        predicts test), or in index blocks (scikit-learn's file is ordered roughly by writer,
        so the test pool holds harder, unseen hands: a logistic regression trained on the
        train pool scores 95 % on the valid block but 89 % on the test block; 97 % / 98 % with
        the shuffled pools).
    fsdd_root : str or None
        Folder of FSDD ``{digit}_{speaker}_{index}.wav`` recordings; None synthesizes speech.
    seed : int
    """

    n_train: int = 2000
    n_valid: int = 300
    n_test: int = 500
    n_digits: int = 4
    label: str = "text_vision"
    audio_fps: int = 100
    n_mfcc: int = 13
    vision_fps: int = 15
    rate_range: tuple[int, int] = (200, 280)
    pitch_range: tuple[int, int] = (30, 70)
    pause_range: tuple[float, float] = (0.03, 0.15)
    lag_range: tuple[float, float] = (-0.1, 0.3)
    show_range: tuple[float, float] = (0.2, 0.8)
    offset_range: tuple[float, float] = (0.0, 0.6)
    unstressed_gain: float = 0.3
    vision_noise: float = 0.05
    text_order: str = "query-last"
    image_split: str = "random"
    fsdd_root: str | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("n_train", "n_valid", "n_test"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}.")
        if not isinstance(self.n_digits, (int, np.integer)) or not 2 <= self.n_digits <= 10:
            raise ValueError(
                f"n_digits must be an int from 2 to 10 (the digits of a sample are distinct), "
                f"got {self.n_digits!r}."
            )
        if self.text_order not in ("query-last", "shuffled", "spoken"):
            raise ValueError(
                f"Unknown text_order {self.text_order!r}; valid options are: query-last, "
                "shuffled, spoken."
            )
        check_option(self.image_split, "image_split", ("random", "block"))
        if self.label not in DIGITS_AV_LABELS:
            raise ValueError(
                f"Unknown label {self.label!r}; valid options are: {', '.join(DIGITS_AV_LABELS)}."
            )
        for name in ("audio_fps", "vision_fps", "n_mfcc"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}.")
        for name in (
            "rate_range",
            "pitch_range",
            "pause_range",
            "lag_range",
            "show_range",
            "offset_range",
        ):
            v = getattr(self, name)
            if len(v) != 2 or v[0] > v[1]:
                raise ValueError(f"{name} must be a (low, high) pair with low <= high, got {v!r}.")
        if self.lag_range[0] < -0.1 or self.pause_range[0] < 0:
            raise ValueError(
                "lag_range must start at -0.1 s or later and pause_range at 0 or more, got "
                f"{self.lag_range!r} and {self.pause_range!r}; images must keep the words' order."
            )

    def key(self) -> str:
        """A short hash of every field (the cache key)."""
        blob = json.dumps(dataclasses.asdict(self), sort_keys=True, default=str)
        return hashlib.sha256(f"digits-av-v10:{blob}".encode()).hexdigest()[:16]


def default_cache_dir() -> Path:
    """``$MMALIGN_CACHE`` or ``$XDG_CACHE_HOME/mmalign`` or ``~/.cache/mmalign``."""
    if os.environ.get("MMALIGN_CACHE"):
        return Path(os.environ["MMALIGN_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mmalign"


# ----------------------------------------------------------------------------- sources


class _SpeechSource:
    """Per-word waveforms at 16 kHz, trimmed to the word, from eSpeak NG or FSDD."""

    sr = 16000

    def __init__(self, fsdd_root: str | None) -> None:
        self.fsdd_root = fsdd_root
        self._cache: dict[tuple, np.ndarray] = {}
        self._fsdd: dict[tuple[int, str], list[Path]] = {}
        if fsdd_root is not None:
            root = Path(fsdd_root)
            if not root.is_dir():
                raise FileNotFoundError(
                    f"fsdd_root {str(root)!r} is not a folder; point it at the FSDD 'recordings' "
                    "folder or pass None to synthesize speech."
                )
            for f in sorted(root.glob("*_*_*.wav")):
                d, spk, _ = f.stem.split("_", 2)
                if d.isdigit():
                    self._fsdd.setdefault((int(d), spk), []).append(f)
            if not self._fsdd:
                raise FileNotFoundError(
                    f"no FSDD recordings ({{digit}}_{{speaker}}_{{i}}.wav) in {root}."
                )

    def speakers(self, split: str) -> tuple[str, ...]:
        return _FSDD_SPEAKERS[split] if self.fsdd_root is not None else _VOICES[split]

    def word(
        self, digit: int, speaker: str, rate: int, pitch: int, rng: np.random.Generator
    ) -> np.ndarray:
        if self.fsdd_root is not None:
            files = self._fsdd.get((digit, speaker))
            if not files:
                raise FileNotFoundError(f"no FSDD recording of digit {digit} by {speaker!r}.")
            f = files[int(rng.integers(len(files)))]
            key = ("fsdd", str(f))
            if key not in self._cache:
                self._cache[key] = self._load_fsdd(f)
            return self._cache[key]
        key = ("tts", digit, speaker, rate, pitch)
        if key not in self._cache:
            from mmalign.speech.tts import synthesize

            syn = synthesize(_WORDS[digit], voice=speaker, rate=int(rate), pitch=int(pitch))
            _, start, end = syn.words[0]
            y = syn.samples[int(start * syn.sample_rate) : int(np.ceil(end * syn.sample_rate))]
            self._cache[key] = self._resample(np.asarray(y, dtype=np.float32), syn.sample_rate)
        return self._cache[key]

    def _resample(self, y: np.ndarray, sr: int) -> np.ndarray:
        if sr != self.sr:
            import soxr

            y = soxr.resample(y, sr, self.sr).astype(np.float32)
        peak = float(np.max(np.abs(y))) or 1.0
        return y / peak  # every word at the same peak level before the stress gain

    def _load_fsdd(self, f: Path) -> np.ndarray:
        import librosa
        import soundfile as sf

        y, sr = sf.read(str(f), dtype="float32", always_2d=False)
        if y.ndim > 1:
            y = y.mean(axis=1)
        y, _ = librosa.effects.trim(y, top_db=30)
        return self._resample(y, sr)


class _MFCC:
    """MFCC as librosa computes it (Hann window of 4 hops, centred frames, 40 mel bands, log
    power in dB, orthonormal DCT-II), vectorized over one signal without librosa's overhead."""

    def __init__(self, sr: int, hop: int, n_mfcc: int, n_mels: int = 40) -> None:
        import librosa

        self.hop, self.n_fft, self.n_mfcc = hop, 4 * hop, n_mfcc
        self.window = np.hanning(self.n_fft + 1)[:-1].astype(np.float32)
        self.mel = librosa.filters.mel(sr=sr, n_fft=self.n_fft, n_mels=n_mels).T.astype(np.float32)

    def __call__(self, y: np.ndarray) -> np.ndarray:
        from numpy.lib.stride_tricks import sliding_window_view
        from scipy.fft import dct

        pad = self.n_fft // 2
        y = np.pad(y, pad, mode="constant")
        n_frames = 1 + (len(y) - self.n_fft) // self.hop
        frames = sliding_window_view(y, self.n_fft)[:: self.hop][:n_frames] * self.window
        power = np.abs(np.fft.rfft(frames, axis=1)) ** 2  # (T, n_fft / 2 + 1)
        mel_db = 10.0 * np.log10(np.maximum(power @ self.mel, 1e-10))
        mel_db = np.maximum(mel_db, mel_db.max() - 80.0)
        return dct(mel_db, type=2, axis=1, norm="ortho")[:, : self.n_mfcc].astype(np.float32)


def _digit_images(split: str, how: str = "random") -> tuple[np.ndarray, np.ndarray]:
    """The 8x8 images of scikit-learn's digits as (n, 64) in [0, 1], split 60/20/20 into
    disjoint pools: after a fixed shuffle (``"random"``) or by index (``"block"``)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    target = d.target
    n = len(x)
    if how == "random":  # one fixed permutation, independent of the config's seed
        order = np.random.default_rng(20190601).permutation(n)
        x, target = x[order], target[order]
    bounds = {
        "train": (0, int(0.6 * n)),
        "valid": (int(0.6 * n), int(0.8 * n)),
        "test": (int(0.8 * n), n),
    }
    lo, hi = bounds[split]
    return x[lo:hi], target[lo:hi]


# -------------------------------------------------------------------------- generation


def _make_split(
    cfg: DigitsAVConfig, split: str, n: int, speech: _SpeechSource
) -> dict[str, np.ndarray]:
    seeds = np.random.SeedSequence([cfg.seed, _SPLITS.index(split)]).spawn(n)
    speakers = speech.speakers(split)
    images, image_digit = _digit_images(split, cfg.image_split)
    by_digit = [np.flatnonzero(image_digit == d) for d in range(10)]
    sr, k = speech.sr, cfg.n_digits
    hop = sr // cfg.audio_fps
    mfcc_fn = _MFCC(sr, hop, cfg.n_mfcc)

    audio, vision, text = [], [], []
    a_seg = np.zeros((n, k, 2), np.int64)
    v_seg = np.zeros((n, k, 2), np.int64)
    t_seg = np.zeros((n, k, 2), np.int64)
    digits = np.zeros((n, k), np.int64)
    marks = np.zeros((n, 3, k), np.int64)  # audio stress, text emphasis, vision ink
    claims = np.zeros((n, k), np.int64)  # the ink the text claims for each digit
    underline = np.zeros((n, k), np.int64)  # the two digits ink_pair's text names
    speaker_of = []
    for i in range(n):
        # one random stream per sample: eSpeak's waveforms vary by a few samples between
        # calls, so no sample's draws may depend on the length of an earlier one
        rng = np.random.default_rng(seeds[i])
        dg = rng.choice(10, size=k, replace=False)
        stress = rng.integers(0, 2, size=k)
        emph = np.zeros(k, np.int64)
        emph[int(rng.integers(k))] = 1  # one digit of the transcript is emphasized
        # distinct inks while there are enough, so the set of inks on screen says nothing
        # about the ink of any one digit
        ink = rng.permutation(_N_INKS)[:k] if k <= _N_INKS else rng.integers(0, _N_INKS, size=k)
        spk = speakers[int(rng.integers(len(speakers)))]
        rate = int(rng.integers(cfg.rate_range[0], cfg.rate_range[1] + 1))
        pitch = int(rng.integers(cfg.pitch_range[0], cfg.pitch_range[1] + 1))
        lead = rng.uniform(0.05, 0.15)
        gaps = np.append(rng.uniform(*cfg.pause_range, size=k - 1), rng.uniform(0.05, 0.15))
        lags = rng.uniform(*cfg.lag_range, size=k)
        shown = rng.uniform(*cfg.show_range, size=k)
        offset = rng.uniform(*cfg.offset_range)
        picks = [by_digit[d][int(rng.integers(len(by_digit[d])))] for d in dg]
        # noise comes from its own stream: its size follows the (slightly variable) audio length
        noise = np.random.default_rng([cfg.seed, _SPLITS.index(split), i, 1])
        text_rng = np.random.default_rng([cfg.seed, _SPLITS.index(split), i, 2])
        claims[i] = _draw_claims(ink, np.random.default_rng([cfg.seed, _SPLITS.index(split), i, 3]))
        marked = np.random.default_rng([cfg.seed, _SPLITS.index(split), i, 4]).permutation(k)[:2]
        underline[i, marked] = 1
        # ---- audio: words with pauses; exact word boundaries in samples
        pieces = [np.zeros(int(lead * sr), np.float32)]
        pos = len(pieces[0])
        word_span = []
        for j in range(k):
            w = speech.word(int(dg[j]), spk, rate, pitch, rng)
            w = w * (1.0 if stress[j] else cfg.unstressed_gain)
            word_span.append((pos, pos + len(w)))
            pieces.append(w)
            pos += len(w)
            pieces.append(np.zeros(int(gaps[j] * sr), np.float32))
            pos += len(pieces[-1])
        y = np.concatenate(pieces)
        y = y + noise.normal(0.0, 1e-3, size=len(y)).astype(np.float32)  # a quiet noise floor
        mfcc = mfcc_fn(y)  # (T_a, n_mfcc); frame t is centred at t / audio_fps seconds
        t_a = len(mfcc)
        for j, (s, e) in enumerate(word_span):
            a_seg[i, j] = (min(int(round(s / hop)), t_a - 1), min(int(round(e / hop)), t_a))
        # ---- vision: image j appears at its word's onset + the video's offset + its own lag,
        # stays for its own duration (at most until the next image), then the screen is blank
        onsets = np.array([word_span[j][0] / sr for j in range(k)]) + offset + lags
        onsets = np.maximum.accumulate(np.maximum(onsets, 0.0))
        fps = cfg.vision_fps
        start = np.round(onsets * fps).astype(np.int64)
        for j in range(1, k):  # every image gets at least one frame, in the words' order
            start[j] = max(start[j], start[j - 1] + 1)
        stop = np.append(start[1:], 10**9)
        stop = np.minimum(stop, start + np.maximum(1, np.round(shown * fps).astype(np.int64)))
        t_v = max(int(np.ceil((len(y) / sr + offset) * fps)), int(stop[-1]) + 1)
        frames = noise.normal(0.0, cfg.vision_noise, size=(t_v, 3 * 64)).astype(np.float32)
        for j in range(k):
            rgb = np.outer(_INKS[ink[j]], images[picks[j]]).reshape(-1)  # (3 planes x 64 pixels)
            frames[start[j] : stop[j]] += rgb
            v_seg[i, j] = (start[j], stop[j])
        # ---- text: one-hot digit + emphasis flag
        # the transcript lists the digits in its own order (a permutation unless "spoken")
        if cfg.text_order == "spoken":
            order = np.arange(k)
        else:
            order = text_rng.permutation(k)
            if cfg.text_order == "query-last":  # the emphasized digit closes the transcript
                focus = int(np.flatnonzero(emph)[0])
                order = np.append(order[order != focus], focus)
        tok = np.zeros((k, 11), np.float32)
        tok[np.arange(k), dg[order]] = 1.0
        tok[:, 10] = emph[order]
        t_seg[i, order, 0] = np.arange(k)
        t_seg[i, order, 1] = np.arange(k) + 1
        audio.append(mfcc)
        vision.append(frames)
        text.append(tok)
        digits[i] = dg
        marks[i] = (stress, emph, ink)
        speaker_of.append(f"{spk}|r{rate}|p{pitch}")

    def pad(seqs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        t = max(len(s) for s in seqs)
        out = np.zeros((len(seqs), t, seqs[0].shape[1]), np.float32)
        for j, s in enumerate(seqs):
            out[j, : len(s)] = s
        return out, np.array([len(s) for s in seqs], np.int64)

    x_a, l_a = pad(audio)
    x_v, l_v = pad(vision)
    x_t, l_t = pad(text)
    return {
        "audio": x_a,
        "audio_lengths": l_a,
        "vision": x_v,
        "vision_lengths": l_v,
        "text": x_t,
        "text_lengths": l_t,
        "audio_segments": a_seg,
        "vision_segments": v_seg,
        "text_segments": t_seg,
        "digits": digits,
        "claims": claims,
        "underline": underline,
        "marks": marks,
        "speaker": np.array(speaker_of),
    }


def _draw_claims(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Claimed inks for the digits whose true inks are ``ink``: distinct inks (like the true
    ones), with the number of true claims drawn uniformly from the counts that are possible."""
    k = len(ink)
    if k > _N_INKS:  # inks repeat: independent claims, the count is whatever it is
        return rng.integers(0, _N_INKS, size=k)
    # with k distinct inks out of 4, k - 1 true claims force the last one when k == 4
    counts = [c for c in range(k + 1) if not (k == _N_INKS and c == k - 1)]
    want = counts[int(rng.integers(len(counts)))]
    while True:  # rejection: a random injection with exactly `want` true claims
        claim = rng.permutation(_N_INKS)[:k]
        if int((claim == ink).sum()) == want:
            return claim


def _ink_pairs(n_digits: int) -> list[tuple[int, int]]:
    """The classes of ``ink_pair``: unordered pairs of distinct inks (inks repeat, so pairs
    may be equal, only with more digits than inks)."""
    same = n_digits > _N_INKS
    return [(a, b) for a in range(_N_INKS) for b in range(a if same else a + 1, _N_INKS)]


def _pair_class(ink: np.ndarray, underline: np.ndarray) -> np.ndarray:
    """Class of the (unordered) pair of inks of the two marked digits of every sample."""
    index = {p: c for c, p in enumerate(_ink_pairs(ink.shape[1]))}
    pairs = np.sort(ink[underline.astype(bool)].reshape(len(ink), 2), axis=1)
    return np.array([index[(int(a), int(b))] for a, b in pairs], np.int64)


def _labels(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    stress, emph, ink = arrays["marks"].transpose(1, 0, 2)
    n = len(stress)
    focus = emph.argmax(1)  # the emphasized digit
    rows = np.arange(n)
    return {
        "text_vision": ink[rows, focus],
        "ink_pair": _pair_class(ink, arrays["underline"]),
        "ink_claims": (arrays["claims"] == ink).sum(1),
        "text_audio": stress[rows, focus],
        "audio_vision": ((stress == 1) & (ink == 0)).sum(1),
        "text_only": arrays["digits"][rows, focus],
        "audio_only": stress.sum(1),
        "vision_only": ink[:, 0],
        "first_digit": arrays["digits"][:, 0],
    }


def n_classes(label: str, n_digits: int) -> int:
    """Number of classes of a digits-av label."""
    return {
        "text_vision": _N_INKS,
        "ink_pair": len(_ink_pairs(n_digits)),
        "ink_claims": n_digits + 1,
        "text_audio": 2,
        "audio_vision": n_digits + 1,
        "text_only": 10,
        "audio_only": n_digits + 1,
        "vision_only": _N_INKS,
        "first_digit": 10,
    }[label]


def generate_digits_av(config: DigitsAVConfig) -> dict[str, dict[str, np.ndarray]]:
    """Generate the raw arrays of every split (unnormalized features, segments, marks)."""
    speech = _SpeechSource(config.fsdd_root)
    sizes = {"train": config.n_train, "valid": config.n_valid, "test": config.n_test}
    return {s: _make_split(config, s, sizes[s], speech) for s in _SPLITS}


def _segments_to_slots(segments: np.ndarray, lengths: np.ndarray, t: int) -> np.ndarray:
    """Slot (digit index) of every frame: the segment it lies in; frames between or outside
    segments (silences, blank frames) go to the nearest segment. Padding gets -1. (N, T)."""
    n, k, _ = segments.shape
    frames = np.arange(t)[None, None, :] + 0.5  # frame centres
    centre_dist = np.maximum(
        segments[:, :, 0:1] - frames, frames - segments[:, :, 1:2]
    )  # (N, k, T)
    slots = centre_dist.argmin(axis=1)
    slots[np.arange(t)[None, :] >= lengths[:, None]] = -1
    return slots.astype(np.int64)


def load_digits_av(
    config: DigitsAVConfig | None = None,
    *,
    cache: bool = True,
    cache_dir: str | os.PathLike | None = None,
    **overrides,
) -> MultimodalDataset:
    """Load (generating and caching on first use) the digits-av benchmark.

    Parameters
    ----------
    config : DigitsAVConfig, optional
        Defaults to ``DigitsAVConfig()``; keyword ``overrides`` replace its fields.
    cache : bool
        Read / write the generated arrays as ``<cache_dir>/digits-av/<config hash>.npz``.
    cache_dir : path-like, optional
        Defaults to :func:`default_cache_dir`.

    Returns
    -------
    MultimodalDataset
        A ``classification`` dataset with modalities ``text`` (11; 15 for ``ink_claims``; two
        words for ``ink_pair``), ``audio`` (``n_mfcc``) and
        ``vision`` (192: RGB, 3 x 64 pixels); audio standardized with the train split's statistics; labels
        ``config.label``. ``extras`` of each split hold ``labels`` (every label), ``segments``
        (per modality, (N, n_digits, 2) [start, end) frames of each digit), ``digits``,
        ``marks`` and ``speaker``.

    Examples
    --------
    >>> ds = load_digits_av(n_train=8, n_valid=4, n_test=4, cache=False)  # doctest: +SKIP
    >>> ds.input_dims
    {'text': 11, 'audio': 13, 'vision': 192}
    """
    config = resolve_config(config, DigitsAVConfig, overrides, "digits-av")
    raw = None
    path = None
    # Labels are derived on load, so the cache key ignores which one is chosen.
    key = dataclasses.replace(config, label="text_vision").key()
    if cache:
        path = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        path = path / "digits-av" / f"{key}.npz"
        if path.is_file():
            with np.load(path, allow_pickle=False) as z:
                raw = {s: {} for s in _SPLITS}
                for name in z.files:
                    s, field_name = name.split("/", 1)
                    raw[s][field_name] = z[name]
    if raw is None:
        raw = generate_digits_av(config)
        if cache and path is not None:
            from mmalign._utils import atomic_path

            flat = {f"{s}/{k}": v for s, d in raw.items() for k, v in d.items()}
            with atomic_path(path) as tmp:
                with open(tmp, "wb") as fh:
                    np.savez_compressed(fh, **flat)
    return _assemble(config, raw)


def _assemble(config: DigitsAVConfig, raw: dict[str, dict[str, np.ndarray]]) -> MultimodalDataset:
    train = raw["train"]
    stats = {}
    # Only the audio is standardized: the pixels are already in [0, 1], and standardizing
    # them would blow the camera noise of never-inked pixels up to the scale of the ink.
    for m in ("audio",):
        x, lens = train[m], train[f"{m}_lengths"]
        valid = np.arange(x.shape[1])[None, :] < lens[:, None]
        rows = x[valid]
        stats[m] = (rows.mean(axis=0), rows.std(axis=0) + 1e-6)
    splits = {}
    for s in _SPLITS:
        d = raw[s]
        feats, lens = {}, {}
        for m in MODALITIES:
            x, n_m = d[m].astype(np.float32), d[f"{m}_lengths"].astype(np.int64)
            if m in stats:
                mean, std = stats[m]
                mask = np.arange(x.shape[1])[None, :, None] < n_m[:, None, None]
                x = np.where(mask, (x - mean) / std, 0.0).astype(np.float32)
            if m == "text" and config.label == "ink_claims":
                x = np.concatenate([x, _claim_columns(d, x.shape[1])], axis=-1)
            if m == "text" and config.label == "ink_pair":
                x, n_m, text_segments = _named_words(d, x)
            feats[m], lens[m] = x, n_m
        labels = _labels(d)
        n = len(n_m)
        extras = {
            "labels": labels,
            "segments": {
                "text": text_segments if config.label == "ink_pair" else d["text_segments"],
                "audio": d["audio_segments"],
                "vision": d["vision_segments"],
            },
            "digits": d["digits"],
            "marks": d["marks"],
            "claims": d["claims"],
            "underline": d["underline"],
            "speaker": [str(x) for x in d["speaker"]],
        }
        ids = [f"{s}-{i:05d}" for i in range(n)]
        splits[s] = MultimodalSplit(feats, lens, labels[config.label].astype(np.int64), ids, extras)
    n_out = n_classes(config.label, config.n_digits)
    source = {"data": "digits-av", "options": dataclasses.asdict(config)}
    return MultimodalDataset(
        splits, task="classification", n_outputs=n_out, name="digits-av", source=source
    )


def _claim_columns(d: dict[str, np.ndarray], t: int) -> np.ndarray:
    """One-hot claimed ink of every text token, in text order: (N, T_text, 4). Only the
    ``ink_claims`` label adds these columns, so the other labels' text stays as it was (a claim
    would hint at the emphasized digit's ink)."""
    n, k = d["claims"].shape
    out = np.zeros((n, t, _N_INKS), np.float32)
    rows = np.repeat(np.arange(n), k)
    slots = d["text_segments"][:, :, 0].reshape(-1)  # text position of each digit
    out[rows, slots, d["claims"].reshape(-1)] = 1.0
    return out


# text segment of a digit that the text does not name (ink_pair): far from every step
_UNNAMED = (-(10**6), -(10**6) + 1)


def _named_words(
    d: dict[str, np.ndarray], x: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``ink_pair``'s text: the tokens of the two marked digits only, in text order.

    Returns the text (N, 2, D), its lengths (N,) and its segments (N, n_digits, 2): ``[p, p +
    1)`` for the named digits, :data:`_UNNAMED` for the others."""
    n, k = d["underline"].shape
    pos = d["text_segments"][:, :, 0]  # (N, k) text position of each digit
    marked = d["underline"].astype(bool)
    named = np.argsort(np.where(marked, pos, k + pos), axis=1, kind="stable")[:, :2]  # (N, 2)
    rows = np.arange(n)[:, None]
    text = np.ascontiguousarray(x[rows, pos[rows, named]])  # (N, 2, D)
    seg = np.empty((n, k, 2), np.int64)
    seg[:] = _UNNAMED
    seg[rows, named, 0] = np.arange(2)
    seg[rows, named, 1] = np.arange(2) + 1
    return text, np.full(n, 2, np.int64), seg


def true_intervals(split: MultimodalSplit, target: str, source: str) -> list[np.ndarray]:
    """Ground-truth alignment from ``target`` elements to ``source`` intervals, per sample.

    Element ``t`` of the target stream belongs to digit ``slot(t)`` (the digit it shows, or
    for a silence / blank frame the nearest one); its true interval in the source stream is
    that digit's ``[start, end)`` frames there.

    Parameters
    ----------
    split : MultimodalSplit
        A digits-av split (it carries ``extras["segments"]``).
    target, source : str
        Modality names, e.g. ``"text"`` and ``"audio"``.

    Returns
    -------
    list of ndarray of shape (T_target_valid, 2)
        One int array per sample, the format of ``mmalign.implicit.alignment_accuracy``.
    """
    segs = split.extras.get("segments") if isinstance(split.extras, dict) else None
    if segs is None:
        raise ValueError(
            "split has no extras['segments']; true_intervals needs a digits-av split "
            "(load it with load_digits_av)."
        )

    check_option(target, "target", list(segs))
    check_option(source, "source", list(segs))
    lens = split.lengths[target]
    target_segs = segs[target].copy()
    # a digit the source stream does not show (ink_pair's text names two of them): the target
    # elements of that digit go to the nearest digit it does show, as blank frames do
    target_segs[segs[source][:, :, 0] < 0] = _UNNAMED
    slots = _segments_to_slots(target_segs, lens, int(max(lens.max(), 1)))
    out = []
    for i, n in enumerate(lens):
        out.append(segs[source][i][slots[i, :n]].astype(np.int64))
    return out


def text_words(split: MultimodalSplit) -> list[list[str]]:
    """The words of each sample's text stream, in stream order (``*`` marks the emphasized
    one), e.g. ``['three', 'nine', 'one', 'four*']``: labels for the text axis of a plot. The
    text of every label is read (11 columns; 15 with the claims of ``ink_claims``)."""
    x, lens = split.features["text"], split.lengths["text"]
    if x.shape[-1] not in (11, 11 + _N_INKS):
        raise ValueError(
            f"a digits-av text stream has 11 features (15 with ink_claims's claims), got "
            f"{x.shape[-1]}."
        )
    return [
        [_WORDS[int(np.argmax(tok[:10]))] + ("*" if tok[10] > 0.5 else "") for tok in x[i, :n]]
        for i, n in enumerate(lens)
    ]
