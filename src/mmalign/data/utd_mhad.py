"""UTD-MHAD: human actions seen by a Kinect and a wearable inertial sensor (Chen et al., 2015).

861 sequences of 27 actions, 8 subjects x 4 trials (three sequences are missing from the
corpus), recorded in sync:

* **inertial** -- 3-axis accelerometer + 3-axis gyroscope on the right wrist (or thigh),
  nominally 50 Hz (``Inertial/a{A}_s{S}_t{T}_inertial.mat``, ``d_iner`` of shape (T, 6)).
* **skeleton** -- 20 Kinect joints x 3 coordinates at 30 Hz
  (``Skeleton/a{A}_s{S}_t{T}_skeleton.mat``, ``d_skel`` of shape (20, 3, T)). A frame is the 60
  coordinates, by default relative to the hip centre (joint 4) of that frame, plus the hip
  centre's own displacement since the first frame (``center=True``), so that where a subject
  stood does not matter.

The inertial stream is about 2.6 times longer than the skeleton stream (not 50 / 30), so the
nominal rates are not the real ones; the two streams of a sequence are taken to span the same
interval, whose duration is the skeleton's at 30 Hz (``extras["times"]``).

The loader reads the corpus as it is by default. The recipe that ``mmalign train --data
utd-mhad:PATH`` applies (:data:`mmalign.data.CORPUS_PRESETS`) also resamples both streams of
every sequence to 32 frames (``n_frames``) and adds 4 jittered copies of every training
sequence (``augment``, :func:`jitter_trial`): with only three training subjects, the models
otherwise learn the subjects, not the actions (LXMERT, seed 0: 70 % -> 86 % on the unseen
subjects); and it appends the skeleton's velocities (``velocity``; LXMERT on the skeleton
alone, subject-7 validation split: 65.7 % -> 85.2 %).

Split: the cross-subject protocol of the UTD-MHAD paper, odd subjects (1, 3, 5, 7) train and
even subjects (2, 4, 6, 8) test; validation is carved from the training subjects: by default
all trials of subject 7 (``valid_subjects``), so that model selection is cross-subject too (a
held-out trial of the training subjects is recognised perfectly long before unseen subjects
are; ``valid_trials`` selects that instead). ``valid_subjects=()`` keeps no validation split
and trains on all four odd subjects, as the paper does, for a number of epochs chosen beforehand
(:func:`mmalign.train.fit` then trains exactly ``max_epochs`` and scores the last checkpoint).
``augment="online"`` stores no copies and jitters every training sequence afresh every epoch
(:class:`UtdMhadAugment`).

The corpus is distributed by its authors for research use and is never part of mmalign: it is
read from the folder the user points to. A copy is in ``github:woo-chia-wei/kinect-sequence-classification``,
folder ``data/`` (``Inertial/``, ``Skeleton/``).

Reference: C. Chen, R. Jafari and N. Kehtarnavaz, "UTD-MHAD: A multimodal dataset for human
action recognition utilizing a depth camera and a wearable inertial sensor", ICIP 2015.
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

__all__ = ["load_utd_mhad", "read_utd_mhad_trials", "UTD_MHAD_ACTIONS", "UtdMhadAugment"]

UTD_MHAD_ACTIONS = (
    "swipe_left", "swipe_right", "wave", "clap", "throw", "arm_cross", "basketball_shoot",
    "draw_x", "draw_circle_CW", "draw_circle_CCW", "draw_triangle", "bowling", "boxing",
    "baseball_swing", "tennis_swing", "arm_curl", "tennis_serve", "push", "knock", "catch",
    "pickup_throw", "jog", "walk", "sit2stand", "stand2sit", "lunge", "squat",
)  # fmt: skip
SKELETON_FPS = 30.0
INERTIAL_FPS = 50.0  # nominal; see the module docstring
_HIP_CENTER = 3
_SHOULDER_CENTER = 1
_SOURCE = (
    "UTD-MHAD (Chen et al. 2015) is in github:woo-chia-wei/kinect-sequence-classification, "
    "folder data/"
)
_NAME = re.compile(r"^a(\d+)_s(\d+)_t(\d+)_inertial\.mat$")


def read_utd_mhad_trials(root: str | os.PathLike) -> list[dict]:
    """Every sequence with both streams, raw: dicts with ``action`` (1-27), ``subject``,
    ``trial``, ``inertial`` (T_i, 6) and ``skeleton`` (T_s, 20, 3), sorted by action, subject,
    trial.

    Parameters
    ----------
    root : path-like
        The folder holding ``Inertial/`` and ``Skeleton/``.
    """
    from scipy.io import loadmat

    root = Path(root)
    iner_dir, skel_dir = root / "Inertial", root / "Skeleton"
    files = sorted(iner_dir.glob("a*_s*_t*_inertial.mat")) if iner_dir.is_dir() else []
    if not files:
        raise FileNotFoundError(
            f"utd-mhad: no Inertial/a*_s*_t*_inertial.mat under {root}; {_SOURCE}."
        )
    if not skel_dir.is_dir():
        raise FileNotFoundError(f"utd-mhad: no Skeleton/ folder under {root}; {_SOURCE}.")
    trials = []
    for path in files:
        m = _NAME.match(path.name)
        if m is None:
            continue
        action, subject, trial = (int(g) for g in m.groups())
        skel_path = skel_dir / path.name.replace("_inertial.mat", "_skeleton.mat")
        if not skel_path.is_file():
            continue  # a sequence without its skeleton cannot be paired
        iner = np.asarray(loadmat(path)["d_iner"], np.float64)
        skel = np.asarray(loadmat(skel_path)["d_skel"], np.float64)
        if iner.ndim != 2 or iner.shape[1] != 6 or skel.ndim != 3 or skel.shape[:2] != (20, 3):
            raise ValueError(
                f"utd-mhad: {path.name} / {skel_path.name} have shapes {iner.shape} / "
                f"{skel.shape}; expected (T, 6) and (20, 3, T)."
            )
        trials.append(
            {
                "action": action,
                "subject": subject,
                "trial": trial,
                "inertial": iner,
                "skeleton": skel.transpose(2, 0, 1),
            }
        )
    if not trials:
        raise FileNotFoundError(
            f"utd-mhad: no sequence under {root} has both Inertial/ and Skeleton/ files; {_SOURCE}."
        )
    trials.sort(key=lambda r: (r["action"], r["subject"], r["trial"]))
    return trials


def skeleton_features(
    skeleton: np.ndarray,
    *,
    center: bool = True,
    scale: bool = False,
    velocity: bool = False,
    distances: bool = False,
) -> np.ndarray:
    """(T, 20, 3) joints -> (T, 60) features (120 with ``velocity``; 190 more with
    ``distances``).

    ``center``: joints relative to the frame's hip centre, and the hip centre relative to its
    first position. ``scale``: every coordinate divided by the sequence's mean spine length
    (shoulder centre to hip centre), so that body size does not matter. ``velocity``: the
    frame-to-frame differences of those 60 features appended (``np.gradient`` over time).
    ``distances``: the Euclidean distances between every pair of the 20 joints in each frame
    (190, pairs in ``np.triu_indices(20, 1)`` order, divided by the spine length too with
    ``scale``) appended last: the per-frame columns of a joint distance map (Li et al.,
    "Joint distance maps based action recognition with convolutional neural networks", IEEE
    Signal Processing Letters 2017), which do not change when the body turns or moves.
    """
    raw = np.asarray(skeleton, np.float64)
    x = raw.copy()
    if center:
        hip = x[:, _HIP_CENTER].copy()
        x = x - hip[:, None, :]
        x[:, _HIP_CENTER] = hip - hip[:1]
    unit = 1.0
    if scale:
        spine = np.linalg.norm(raw[:, _SHOULDER_CENTER] - raw[:, _HIP_CENTER], axis=1)
        unit = max(float(spine.mean()), 1e-6)
        x = x / unit
    x = x.reshape(len(x), -1)
    if velocity:
        v = np.gradient(x, axis=0) if len(x) > 1 else np.zeros_like(x)
        x = np.concatenate([x, v], axis=1)
    if distances:
        x = np.concatenate([x, joint_distances(raw) / unit], axis=1)
    return x


def window_std(x: np.ndarray, n_windows: int) -> np.ndarray:
    """(T, D) samples -> (n_windows, D): the standard deviation of every column over the
    samples of each of ``n_windows`` equal windows of the interval the T samples span (sample
    t at relative time (t + 0.5) / T); 0 for a window holding fewer than 2 samples."""
    x = np.asarray(x, np.float64)
    where = np.minimum(((np.arange(len(x)) + 0.5) / len(x) * n_windows).astype(int), n_windows - 1)
    out = np.zeros((n_windows, x.shape[1]))
    for k in range(n_windows):
        w = x[where == k]
        if len(w) > 1:
            out[k] = w.std(axis=0)
    return out


def joint_distances(skeleton: np.ndarray) -> np.ndarray:
    """(T, J, 3) joints -> (T, J (J - 1) / 2) distances between every pair of joints, pairs in
    ``np.triu_indices(J, 1)`` order."""
    x = np.asarray(skeleton, np.float64)
    i, j = np.triu_indices(x.shape[1], 1)
    return np.linalg.norm(x[:, i] - x[:, j], axis=-1)


def _rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    """3 x 3 rotation by ``angle`` (radians) about the unit vector ``axis`` (Rodrigues)."""
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * (k @ k)


def jitter_trial(trial: dict, rng: np.random.Generator) -> dict:
    """One augmented copy of a raw sequence (as :func:`read_utd_mhad_trials` returns it).

    Both streams get the same random time warp, so they stay in sync: the middle 85-100 % of
    the recording, stretched by 0.8-1.25 and warped piecewise-linearly through 4 random
    segments. The skeleton is turned about the vertical axis through its first hip centre by
    up to +-20 degrees (a camera placed elsewhere) and scaled by 0.9-1.1 (another body size);
    the inertial sensor's axes are turned by up to 10 degrees about a random axis (the band
    worn slightly differently) and its readings scaled by 0.9-1.1.
    """
    iner, skel = trial["inertial"], trial["skeleton"]
    warp = random_time_warp(rng)
    at_skel, n_skel = warp(len(skel))
    at_iner, _ = warp(len(iner))
    s = resample(skel.reshape(len(skel), -1), at_skel).reshape(n_skel, 20, 3)
    origin = s[0, _HIP_CENTER]
    turn = _rotation(np.array([0.0, 1.0, 0.0]), np.deg2rad(rng.uniform(-20, 20)))
    s = (s - origin) @ turn.T * rng.uniform(0.9, 1.1) + origin
    axis = rng.normal(size=3)
    tilt = _rotation(axis / np.linalg.norm(axis), np.deg2rad(rng.uniform(0, 10)))
    i = resample(iner, at_iner)
    i = np.concatenate([i[:, :3] @ tilt.T, i[:, 3:] @ tilt.T], axis=1) * rng.uniform(0.9, 1.1)
    return {**trial, "inertial": i, "skeleton": s}


@dataclass(frozen=True)
class UtdMhadAugment:
    """The jitter of :func:`jitter_trial`, applied to a loaded sample's features, for
    ``augment="online"`` (a fresh copy of every training sample every epoch,
    :attr:`MultimodalDataset.augment`).

    Both streams get the same random time warp (:func:`~mmalign.data._recordings.
    random_time_warp`); the skeleton's 3-D vectors (joints relative to the hip centre, the hip
    centre's displacement, their velocities) are turned about the vertical axis by up to
    +-20 degrees and scaled by 0.9-1.1; the inertial axes are tilted by up to 10 degrees about a
    random axis and the readings scaled by 0.9-1.1. Turning and scaling happen in the
    features' original units (the standardisation ``stats`` undone, then redone).

    Attributes
    ----------
    stats : dict
        The loader's standardisation statistics (``extras["stats"]``; empty: none).
    keep_length : bool
        Keep every stream's number of frames (the recipe's fixed ``n_frames``); else the
        length changes with the warp's stretch, as the offline copies do.
    n_distances : int
        The skeleton's last columns that are distances between joints (``distances=True``:
        190), scaled but not turned (default 0).
    """

    stats: dict = field(default_factory=dict, repr=False)
    keep_length: bool = True
    n_distances: int = 0

    def __call__(self, sample: dict[str, np.ndarray], rng: np.random.Generator) -> dict:
        warp = random_time_warp(rng)
        turn = _rotation(np.array([0.0, 1.0, 0.0]), np.deg2rad(rng.uniform(-20, 20)))
        skel_scale = rng.uniform(0.9, 1.1)
        axis = rng.normal(size=3)
        tilt = _rotation(axis / np.linalg.norm(axis), np.deg2rad(rng.uniform(0, 10)))
        iner_scale = rng.uniform(0.9, 1.1)

        def skeleton(x: np.ndarray) -> np.ndarray:
            # 3-D vectors (joints, hip displacement, velocities) turn and scale; the joint
            # distances appended after them (``distances``) only scale
            n = x.shape[1] - self.n_distances
            vec = (x[:, :n].reshape(len(x), -1, 3) @ turn.T).reshape(len(x), -1)
            return np.concatenate([vec, x[:, n:]], axis=1) * skel_scale

        def inertial(x: np.ndarray) -> np.ndarray:
            return np.concatenate([x[:, :3] @ tilt.T, x[:, 3:] @ tilt.T], axis=1) * iner_scale

        out = {}
        for m, x in sample.items():
            at, _ = warp(len(x), len(x) if self.keep_length else None)
            fn = {"skeleton": skeleton, "inertial": inertial}.get(m)
            if fn is None or len(x) < 2:  # another stream, or a blank control stream
                out[m] = x if len(x) < 2 else resample(x, at)
                continue
            out[m] = standardized_transform(self.stats, m, resample(x, at), fn)
        return out


def load_utd_mhad(
    root: str | os.PathLike,
    *,
    train_subjects: Sequence[int] = (1, 3, 5, 7),
    test_subjects: Sequence[int] = (2, 4, 6, 8),
    valid_subjects: Sequence[int] = (7,),
    valid_trials: Sequence[int] = (),
    center: bool = True,
    scale: bool = False,
    velocity: bool = False,
    distances: bool = False,
    n_frames: int | None = None,
    inertial_std: bool = False,
    augment: int = 0,
    seed: int = 0,
    standardize: bool = True,
) -> MultimodalDataset:
    """Read UTD-MHAD from ``root`` into cross-subject train / valid / test splits.

    Parameters
    ----------
    root : path-like
        The folder holding ``Inertial/`` and ``Skeleton/`` (``data/`` of the repository above).
    train_subjects, test_subjects : sequence of int
        Disjoint subjects 1-8 (default: odd train, even test, the UTD-MHAD paper's protocol).
    valid_subjects : sequence of int
        Training subjects whose sequences form the validation split (default (7,)).
    valid_trials : sequence of int
        Instead of ``valid_subjects`` (pass ``valid_subjects=()``): these trials (1-4) of every
        training subject form the validation split. With both empty there is no validation
        split: every training subject trains (the paper's protocol), for a fixed number of
        epochs chosen beforehand (:func:`mmalign.train.fit`).
    center, scale, velocity, distances : bool
        Skeleton joints relative to the hip centre (default), divided by the spine length, with
        their velocities, with the 190 distances between every pair of joints (see
        :func:`skeleton_features`; default: positions only; the corpus recipe
        :data:`mmalign.data.CORPUS_PRESETS` adds the velocities).
    n_frames : int, optional
        Resample both streams of every sequence to this many frames (linear interpolation
        over the recording's interval); default: keep each stream's own frames.
    inertial_std : bool
        With ``n_frames``: every inertial frame also carries the standard deviation of each of
        the 6 channels over the raw 50 Hz samples of its window (the recording's interval cut
        into ``n_frames`` equal windows; :func:`window_std`), i.e. the fast motion (knocking,
        punching, a triangle's corners) that resampling to fewer frames smooths away; 12
        inertial features instead of 6 (default False). Not with ``augment="online"``.
    augment : int or "online"
        Jittered copies of every training sequence added to the training split
        (:func:`jitter_trial`; default 0), or ``"online"``: the dataset's ``augment`` is a
        :class:`UtdMhadAugment`, a fresh jitter of every training sequence every epoch.
        Validation and test are never augmented.
    seed : int
        Seeds the augmentation.
    standardize : bool
        Scale every feature to zero mean and unit variance over the training frames (default).

    Returns
    -------
    MultimodalDataset
        Modalities ``inertial`` (6) and ``skeleton`` (60; 120 with ``velocity``, 190 more
        with ``distances``); 27-way classification (0 = action
        1, :data:`UTD_MHAD_ACTIONS`). ``extras``: ``times`` (frame centre times in s per
        modality and sample), ``subject``, ``trial``, ``frame_rates`` (the nominal rates of
        the recordings as read; with ``n_frames``, ``times`` holds where each frame now lies)
        and ``stats``.
    """
    check_recipe_options(n_frames, augment)
    if inertial_std and (n_frames is None or augment == "online"):
        raise ValueError(
            "inertial_std needs n_frames (the windows whose spread it measures) and offline "
            f"augmentation (augment=0 or a number of copies); got n_frames={n_frames!r}, "
            f"augment={augment!r}. The corpus recipe sets inertial_std=True: add "
            "inertial_std=False (mmalign train: --set data.inertial_std=false) to go without."
        )
    train_s, test_s = list(train_subjects), list(test_subjects)
    valid_s, valid_t = list(valid_subjects), list(valid_trials)
    if (
        not train_s
        or not test_s
        or set(train_s) & set(test_s)
        or not set(train_s + test_s) <= set(range(1, 9))
    ):
        raise ValueError(
            f"train_subjects and test_subjects must be disjoint, non-empty subsets of 1-8; got "
            f"{train_s} and {test_s}."
        )
    if valid_s and valid_t:
        raise ValueError(
            f"give at most one of valid_subjects and valid_trials, got {valid_s} and {valid_t}; "
            "e.g. valid_subjects=() with valid_trials=(4,) (both empty: no validation split)."
        )
    if valid_s and not set(valid_s) < set(train_s):
        raise ValueError(
            f"valid_subjects must be a proper subset of train_subjects {train_s}, got {valid_s}."
        )
    if valid_t and not set(valid_t) < {1, 2, 3, 4}:
        raise ValueError(f"valid_trials must be a proper subset of trials 1-4, got {valid_t}.")
    per: dict[str, dict[str, list]] = {
        s: {k: [] for k in ("inertial", "skeleton", "label", "id", "subject", "trial", "duration")}
        for s in ("train", "valid", "test")
    }
    if not valid_s and not valid_t:
        del per["valid"]
    offline = 0 if augment == "online" else augment
    rng = np.random.default_rng(seed)
    for r in read_utd_mhad_trials(root):
        if r["subject"] in test_s:
            split = "test"
        elif r["subject"] in train_s:
            held = r["subject"] in valid_s or r["trial"] in valid_t
            split = "valid" if held else "train"
        else:
            continue
        copies = [r] + [jitter_trial(r, rng) for _ in range(offline if split == "train" else 0)]
        for c, rc in enumerate(copies):
            iner = rc["inertial"]
            skel = skeleton_features(
                rc["skeleton"], center=center, scale=scale, velocity=velocity, distances=distances
            )
            duration = len(skel) / SKELETON_FPS
            if n_frames is not None:
                at = (np.arange(n_frames) + 0.5) / n_frames
                iner, skel = resample(iner, at), resample(skel, at)
                if inertial_std:
                    iner = np.concatenate([iner, window_std(rc["inertial"], n_frames)], axis=1)
            d = per[split]
            d["inertial"].append(iner.astype(np.float32))
            d["skeleton"].append(skel.astype(np.float32))
            d["duration"].append(duration)
            d["label"].append(r["action"] - 1)
            name = f"a{r['action']}_s{r['subject']}_t{r['trial']}"
            d["id"].append(name if c == 0 else f"{name}~{c}")
            d["subject"].append(r["subject"])
            d["trial"].append(r["trial"])
    feats = {s: {"inertial": d["inertial"], "skeleton": d["skeleton"]} for s, d in per.items()}
    for s, d in per.items():
        if not d["id"]:
            raise FileNotFoundError(f"utd-mhad: no sequence for the {s} split under {root}.")
    stats = standardize_splits(feats) if standardize else {}
    splits = {}
    for s, d in per.items():
        splits[s] = recording_split(
            feats[s],
            d["duration"],
            d["label"],
            d["id"],
            {
                "subject": np.array(d["subject"], np.int64),
                "trial": np.array(d["trial"], np.int64),
                "frame_rates": {"inertial": INERTIAL_FPS, "skeleton": SKELETON_FPS},
                "stats": stats,
            },
        )
    online = (
        UtdMhadAugment(stats, keep_length=n_frames is not None, n_distances=190 if distances else 0)
        if augment == "online"
        else None
    )
    return MultimodalDataset(splits, "classification", 27, "utd-mhad", augment=online)
