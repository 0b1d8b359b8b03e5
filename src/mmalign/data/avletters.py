"""AVLetters: audio-visual speech of the isolated letters A-Z (Matthews et al., 2002).

780 utterances: 10 speakers x 26 letters x 3 repetitions, recorded in sync:

* **video** -- the lip region, 60 x 80 grey pixels at 25 frames/s (``Lips/{L}{r}_{Speaker}-lips.mat``,
  variable ``vid`` of shape (4800, T) in MATLAB column order, ``siz`` = [60, 80, T]). A frame is
  the image average-pooled by ``pool`` (default 4: 15 x 20 = 300 features), scaled to [0, 1].
* **audio** -- 26 MFCC_E_D coefficients at 50 frames/s (HTK files ``Audio/mfcc/Clean/{L}{r}_{Speaker}.mfcc``:
  big-endian header nSamples int32, sampPeriod int32 in 100 ns, sampSize int16, parmKind int16,
  then big-endian float32 frames).

The two streams of an utterance span the same interval (T_audio ~ 2 T_video), so the time
stamp of every frame (``extras["times"]``) gives the true correspondence
(:func:`mmalign.data.sync_intervals`).

The corpus is distributed by its authors for research use and is never part of mmalign: it is
read from the folder the user points to. A copy is in the repository
``github:datamllab/automl-in-action-notebooks`` at commit 1884d93, folder ``avletters/``
(``git archive 1884d93 avletters``).

Reference: I. Matthews, T. F. Cootes, J. A. Bangham, S. Cox and R. Harvey, "Extraction of visual
features for lipreading", IEEE TPAMI 24(2):198-213, 2002.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mmalign.data._recordings import (
    check_recipe_options,
    random_time_warp,
    recording_split,
    resample,
    standardize_splits,
    standardized_transform,
)
from mmalign.data._types import MultimodalDataset

__all__ = [
    "load_avletters",
    "jitter_utterance",
    "eigenlips",
    "AvlettersAugment",
    "read_htk",
    "AVLETTERS_SPEAKERS",
    "AVLETTERS_TEST_SPEAKERS",
    "AVLETTERS_VALID_SPEAKERS",
]

AVLETTERS_SPEAKERS = (
    "Anya", "Bill", "Faye", "John", "Kate", "Nicola", "Stephen", "Steve", "Verity", "Yi",
)  # fmt: skip
#: Speaker-independent split: no test or validation speaker is seen in training (6 / 2 / 2
#: speakers, 468 / 156 / 156 utterances). One woman and one man in each held-out pair.
AVLETTERS_TEST_SPEAKERS = ("Kate", "Stephen")
AVLETTERS_VALID_SPEAKERS = ("Nicola", "Bill")
VIDEO_FPS = 25.0
_SOURCE = (
    "AVLetters (Matthews et al. 2002) is in github:datamllab/automl-in-action-notebooks at "
    "commit 1884d93, folder avletters/ (git archive 1884d93 avletters)"
)
_NAME = re.compile(r"^([A-Z])(\d)_([A-Za-z]+)$")


def read_htk(path: str | os.PathLike) -> tuple[np.ndarray, float]:
    """Read an HTK parameter file.

    Returns
    -------
    frames : ndarray of shape (n_frames, n_features), float32
    period : float
        Frame period in seconds (the header's sampPeriod, in 100 ns units).
    """
    raw = Path(path).read_bytes()
    if len(raw) < 12:
        raise ValueError(f"{path}: {len(raw)} bytes is too short for an HTK header (12 bytes).")
    n, period, size, kind = np.frombuffer(raw[:12], dtype=">i4,>i4,>i2,>i2")[0].tolist()
    if kind & 0o2000:  # _C: compressed, not what AVLetters ships
        raise ValueError(f"{path}: compressed HTK files (parmKind {kind}) are not supported.")
    if size <= 0 or size % 4 or 12 + n * size != len(raw):
        raise ValueError(
            f"{path}: header says {n} frames of {size} bytes but the file holds "
            f"{len(raw) - 12} bytes after the header; not an uncompressed float HTK file."
        )
    frames = np.frombuffer(raw[12:], dtype=">f4").reshape(n, size // 4).astype(np.float32)
    return frames, period * 1e-7


def _read_video(path: Path) -> np.ndarray:
    """The lip images of one utterance, (T, 60, 80) in [0, 1]."""
    from scipy.io import loadmat

    mat = loadmat(path)
    if "vid" not in mat or "siz" not in mat:
        raise ValueError(f"{path}: expected variables 'vid' and 'siz', found {sorted(mat)}.")
    h, w, t = (int(v) for v in np.asarray(mat["siz"]).ravel()[:3])
    vid = np.asarray(mat["vid"], dtype=np.float32)
    if vid.shape != (h * w, t):
        raise ValueError(f"{path}: 'vid' has shape {vid.shape}, 'siz' says ({h * w}, {t}).")
    return vid.T.reshape(t, w, h).transpose(0, 2, 1) / 255.0  # MATLAB column order -> (T, H, W)


def _pool(frames: np.ndarray, pool: int) -> np.ndarray:
    """(T, H, W) images average-pooled by ``pool`` x ``pool`` -> (T, H // pool * W // pool)."""
    t, h, w = frames.shape
    hp, wp = h // pool, w // pool
    frames = frames[:, : hp * pool, : wp * pool].reshape(t, hp, pool, wp, pool).mean((2, 4))
    return frames.reshape(t, hp * wp)


def jitter_utterance(
    audio: np.ndarray, frames: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """One augmented copy of an utterance: ``audio`` (T_a, 26) and lip ``frames`` (T_v, H, W).

    Both streams get the same random time warp (:func:`~mmalign.data._recordings.
    random_time_warp`: the middle 85-100 %, stretched by 0.8-1.25, 4 segments at random
    speeds), so they stay in sync; the lip images are shifted by up to 3 pixels each way (the
    mouth found a little off centre) and their brightness scaled by 0.9-1.1.
    """
    warp = random_time_warp(rng)
    at_a, _ = warp(len(audio))
    at_v, n_v = warp(len(frames))
    t, h, w = frames.shape
    v = resample(frames.reshape(t, -1), at_v).reshape(n_v, h, w)
    dy, dx = (int(k) for k in rng.integers(-3, 4, size=2))
    v = np.pad(v, ((0, 0), (3, 3), (3, 3)), mode="edge")[
        :, 3 + dy : 3 + dy + h, 3 + dx : 3 + dx + w
    ]
    return resample(audio, at_a), v * rng.uniform(0.9, 1.1)


@dataclass(frozen=True)
class AvlettersAugment:
    """The jitter of :func:`jitter_utterance`, applied to a loaded sample's features, for
    ``augment="online"`` (a fresh copy of every training utterance every epoch,
    :attr:`MultimodalDataset.augment`).

    Both streams get the same random time warp; the lip images' brightness is scaled by 0.9-1.1
    and, while the video is pooled pixels (``grid`` set), they are shifted by up to 3 pixels each
    way (a fraction of a pooled pixel, by linear interpolation). Eigenlip coefficients
    (``video_pca``) are scaled, not shifted. In the features' original units (``stats`` undone,
    then redone).

    Attributes
    ----------
    stats : dict
        The loader's standardisation statistics (empty: none).
    keep_length : bool
        Keep every stream's number of frames (the recipe's fixed ``n_frames``).
    grid : tuple of int or None
        ``(height, width)`` of the pooled lip image of a video frame (with ``velocity``, the
        frame's differences follow as a second image, shifted alike); None: not pixels.
    pool : int
        The pooling factor (pixels per pooled pixel).
    """

    stats: dict = field(default_factory=dict, repr=False)
    keep_length: bool = True
    grid: tuple[int, int] | None = None
    pool: int = 4

    def __call__(self, sample: dict[str, np.ndarray], rng: np.random.Generator) -> dict:
        from scipy.ndimage import shift as nd_shift

        warp = random_time_warp(rng)
        dy, dx = rng.uniform(-3, 3, size=2) / self.pool
        gain = rng.uniform(0.9, 1.1)

        def video(x: np.ndarray) -> np.ndarray:
            if self.grid is not None:
                img = x.reshape(len(x), -1, *self.grid)  # (T, 1 or 2 with velocity, H, W)
                x = nd_shift(img, (0, 0, dy, dx), order=1, mode="nearest").reshape(len(x), -1)
            return x * gain

        out = {}
        for m, x in sample.items():
            if len(x) < 2:  # a blank control stream
                out[m] = x
                continue
            at, _ = warp(len(x), len(x) if self.keep_length else None)
            x = resample(x, at)
            out[m] = standardized_transform(self.stats, m, x, video) if m == "video" else x
        return out


def _velocity(x: np.ndarray) -> np.ndarray:
    """(T, D) -> (T, D) frame-to-frame differences (``np.gradient`` over time; 0 for one frame)."""
    return (np.gradient(x, axis=0) if len(x) > 1 else np.zeros_like(x)).astype(np.float32)


def eigenlips(frames: np.ndarray, n_components: int) -> tuple[np.ndarray, np.ndarray]:
    """Principal components of lip images ("eigenlips", Bregler & Konig, ICASSP 1994).

    Parameters
    ----------
    frames : ndarray of shape (n_frames, n_pixels)
        The training speakers' frames only, so that nothing of the held-out speakers is seen.
    n_components : int

    Returns
    -------
    mean : ndarray of shape (n_pixels,)
    components : ndarray of shape (n_components, n_pixels)
        Orthonormal rows, by decreasing variance; a frame's features are
        ``(frame - mean) @ components.T``.
    """
    x = np.asarray(frames, np.float64)
    mean = x.mean(0)
    cov = np.cov(x - mean, rowvar=False)
    vals, vecs = np.linalg.eigh(cov)
    order = np.argsort(vals)[::-1][:n_components]
    comps = vecs[:, order].T
    # a sign convention, so that the same frames always give the same components
    comps *= np.where(comps[np.arange(len(comps)), np.abs(comps).argmax(1)] < 0, -1.0, 1.0)[:, None]
    return mean, comps


def load_avletters(
    root: str | os.PathLike,
    *,
    test_speakers: Sequence[str] = AVLETTERS_TEST_SPEAKERS,
    valid_speakers: Sequence[str] = AVLETTERS_VALID_SPEAKERS,
    pool: int = 4,
    center_video: bool = True,
    video_pca: int | None = None,
    velocity: bool = False,
    n_frames: int | None = None,
    augment: int = 0,
    seed: int = 0,
    standardize: bool = True,
) -> MultimodalDataset:
    """Read AVLetters from ``root`` into speaker-independent train / valid / test splits.

    Parameters
    ----------
    root : path-like
        The ``avletters`` folder: ``Lips/*.mat`` and ``Audio/mfcc/Clean/*.mfcc``.
    test_speakers, valid_speakers : sequence of str
        Held-out speakers (disjoint); the others train. Defaults: test Kate and Stephen,
        validation Nicola and Bill. ``valid_speakers=()``: no validation split (train for a
        fixed number of epochs chosen beforehand, :func:`mmalign.train.fit`).
    pool : int
        Average-pool the 60 x 80 lip images by ``pool`` x ``pool`` (default 4: 300 features;
        1 keeps all 4,800 pixels).
    center_video : bool
        Subtract each utterance's mean image from its frames (default): what is left is how
        the lips move, not how the speaker looks, which is what carries over to unseen
        speakers.
    video_pca : int, optional
        Replace every (pooled, centred) lip image by its first ``video_pca`` principal
        components, fitted on the training speakers' frames only (:func:`eigenlips`, the
        lip-reading literature's compact appearance features); default: the pixels.
    velocity : bool
        Append the frame-to-frame differences of the video features (``np.gradient`` over
        the frames as stored: after ``n_frames`` resampling and ``video_pca``; the "delta"
        features of lip-reading front ends): how the lips move, whatever they look like.
        Doubles the video's width.
    n_frames : int, optional
        Resample both streams of every utterance to this many frames (linear interpolation
        over the utterance); default: keep each stream's own frames.
    augment : int or "online"
        Jittered copies of every training utterance added to the training split
        (:func:`jitter_utterance`; default 0), or ``"online"``: the dataset's ``augment`` is an
        :class:`AvlettersAugment`, a fresh jitter of every training utterance every epoch.
        Validation and test are never augmented.
    seed : int
        Seeds the augmentation.
    standardize : bool
        Scale every feature to zero mean and unit variance over the training frames (default).

    Returns
    -------
    MultimodalDataset
        Modalities ``audio`` (26 MFCC_E_D, 50 frames/s) and ``video`` (pooled pixels or
        ``video_pca`` coefficients; twice as many with ``velocity``); 26-way classification
        (0 = A). ``extras``: ``times`` (frame centre times in s per modality and sample),
        ``speaker``, ``repetition``, ``frame_rates`` (of the recordings as read; with
        ``n_frames``, ``times`` holds where each frame now lies) and the standardisation
        ``stats``.
    """
    root = Path(root)
    lips, mfcc = root / "Lips", root / "Audio" / "mfcc" / "Clean"
    videos = sorted(lips.glob("*-lips.mat")) if lips.is_dir() else []
    if not videos:
        raise FileNotFoundError(f"avletters: no Lips/*-lips.mat under {root}; {_SOURCE}.")
    if not isinstance(pool, int) or isinstance(pool, bool) or not 1 <= pool <= 20:
        raise ValueError(f"pool must be an int from 1 to 20, got {pool!r}.")
    check_recipe_options(n_frames, augment)
    held = list(test_speakers) + list(valid_speakers)
    unknown = [s for s in held if s not in AVLETTERS_SPEAKERS]
    if unknown or len(set(held)) != len(held) or not test_speakers or len(held) >= 10:
        raise ValueError(
            f"test_speakers (non-empty) and valid_speakers must be disjoint subsets of "
            f"{list(AVLETTERS_SPEAKERS)} that leave speakers to train on; got "
            f"{list(test_speakers)} and {list(valid_speakers)}."
        )
    if video_pca is not None and (
        not isinstance(video_pca, int) or isinstance(video_pca, bool) or video_pca < 1
    ):
        raise ValueError(f"video_pca must be None or an int >= 1, got {video_pca!r}.")
    if not isinstance(velocity, bool):
        raise ValueError(f"velocity must be True or False, got {velocity!r}.")
    per: dict[str, dict[str, list]] = {
        s: {k: [] for k in ("audio", "video", "label", "id", "speaker", "rep", "duration")}
        for s in ("train", "valid", "test")
    }
    if not valid_speakers:
        del per["valid"]
    offline = 0 if augment == "online" else augment
    rng = np.random.default_rng(seed)
    rate = None
    for path in videos:
        stem = path.name[: -len("-lips.mat")]
        match = _NAME.match(stem)
        if match is None:
            raise ValueError(f"{path}: expected a name like A1_Anya-lips.mat.")
        letter, rep, speaker = match.group(1), int(match.group(2)), match.group(3)
        audio_path = mfcc / f"{stem}.mfcc"
        if not audio_path.is_file():
            raise FileNotFoundError(
                f"avletters: {audio_path} is missing (the audio of {path.name}); {_SOURCE}."
            )
        audio, period = read_htk(audio_path)
        rate = rate or 1.0 / period
        split = (
            "test"
            if speaker in test_speakers
            else "valid"
            if speaker in valid_speakers
            else "train"
        )
        frames = _read_video(path)
        n_copies = offline if split == "train" else 0
        copies = [(audio, frames)] + [jitter_utterance(audio, frames, rng) for _ in range(n_copies)]
        for c, (a, f) in enumerate(copies):
            video = _pool(f, pool)
            video = video - video.mean(0) if center_video else video
            duration = len(video) / VIDEO_FPS
            if n_frames is not None:
                at = (np.arange(n_frames) + 0.5) / n_frames
                a, video = resample(a, at), resample(video, at)
            d = per[split]
            d["audio"].append(np.asarray(a, np.float32))
            d["video"].append(np.asarray(video, np.float32))
            d["duration"].append(duration)
            d["label"].append(ord(letter) - ord("A"))
            d["id"].append(stem if c == 0 else f"{stem}~{c}")
            d["speaker"].append(speaker)
            d["rep"].append(rep)
    grid = (60 // pool, 80 // pool)
    if video_pca is not None:
        own = np.concatenate(
            [v for v, i in zip(per["train"]["video"], per["train"]["id"]) if "~" not in i]
        )
        if video_pca > min(own.shape):
            raise ValueError(
                f"video_pca={video_pca} exceeds the {min(own.shape)} components the training "
                "frames can give; pass a smaller number."
            )
        mean, comps = eigenlips(own, video_pca)
        for d in per.values():
            d["video"] = [((v - mean) @ comps.T).astype(np.float32) for v in d["video"]]
        grid = None
    if velocity:
        for d in per.values():
            d["video"] = [np.concatenate([v, _velocity(v)], axis=1) for v in d["video"]]
    feats = {s: {"audio": d["audio"], "video": d["video"]} for s, d in per.items()}
    stats = standardize_splits(feats) if standardize else {}
    splits = {}
    for s, d in per.items():
        if not d["id"]:
            raise FileNotFoundError(
                f"avletters: no utterance of the {s} speakers under {lips}; {_SOURCE}."
            )
        # both streams span the utterance; its duration is the video's (25 frames/s)
        splits[s] = recording_split(
            feats[s],
            d["duration"],
            d["label"],
            d["id"],
            {
                "speaker": d["speaker"],
                "repetition": np.array(d["rep"], np.int64),
                "frame_rates": {"audio": rate, "video": VIDEO_FPS},
                "stats": stats,
            },
        )
    online = (
        AvlettersAugment(stats, keep_length=n_frames is not None, grid=grid, pool=pool)
        if augment == "online"
        else None
    )
    return MultimodalDataset(splits, "classification", 26, "avletters", augment=online)
