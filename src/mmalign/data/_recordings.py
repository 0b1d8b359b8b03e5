"""Shared pieces of the readers of real recordings (AVLetters, UTD-MHAD).

Both corpora are recorded in sync, so every frame has a time stamp and the true cross-modal
correspondence is known: :func:`frame_times` gives the stamps, :func:`sync_intervals` turns them
into the per-frame ``[start, end)`` source intervals that
:func:`mmalign.implicit.alignment_accuracy` scores against.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mmalign._utils import interp_frames
from mmalign.data._types import MultimodalSplit

__all__ = [
    "frame_times",
    "sync_intervals",
    "pad_sequences",
    "recording_split",
    "standardize_splits",
    "resample",
    "random_time_warp",
    "check_recipe_options",
]


def frame_times(n_frames: int, duration: float) -> np.ndarray:
    """Centre times (s) of ``n_frames`` equal frames that tile ``[0, duration)``.

    >>> frame_times(4, 1.0).tolist()
    [0.125, 0.375, 0.625, 0.875]
    """
    return (np.arange(n_frames, dtype=np.float64) + 0.5) * (duration / max(n_frames, 1))


def sync_intervals(
    split: MultimodalSplit, target: str, source: str, *, tolerance: float | None = None
) -> list[np.ndarray]:
    """True alignment of synchronised recordings: for every ``target`` frame, the ``source``
    frames within ``tolerance`` seconds of it.

    Parameters
    ----------
    split : MultimodalSplit
        A split whose ``extras["times"][m]`` holds one array of frame centre times (s) per
        sample for modalities ``target`` and ``source`` (as :func:`load_avletters` and
        :func:`load_utd_mhad` write them).
    target, source : str
    tolerance : float, optional
        Seconds either side. Default: one frame of the slower of the two streams (per sample),
        the issue's "peak within one frame of the slower stream".

    Returns
    -------
    list of ndarray of shape (T_target_valid, 2)
        Per sample, the ``[start, end)`` source frames of each target frame (never empty: the
        nearest source frame is always included), the format of
        ``mmalign.implicit.alignment_accuracy``.
    """
    times = split.extras.get("times") if isinstance(split.extras, dict) else None
    if not times or target not in times or source not in times:
        have = sorted(times) if times else []
        raise ValueError(
            f"split has no frame times for {target!r} and {source!r} (extras['times'] holds "
            f"{have}); load a synchronised corpus with load_avletters or load_utd_mhad."
        )
    out = []
    for tt, ts in zip(times[target], times[source]):
        tt, ts = np.asarray(tt, np.float64), np.asarray(ts, np.float64)
        if tolerance is None:
            tol = max(_period(tt), _period(ts))
        else:
            tol = float(tolerance)
        start = np.searchsorted(ts, tt - tol - 1e-9, side="left")
        end = np.searchsorted(ts, tt + tol + 1e-9, side="right")
        nearest = np.abs(ts[None, :] - tt[:, None]).argmin(axis=1)
        start = np.minimum(start, nearest)
        end = np.maximum(end, nearest + 1)
        out.append(np.stack([start, end], axis=1).astype(np.int64))
    return out


def _period(t: np.ndarray) -> float:
    return float(np.median(np.diff(t))) if len(t) > 1 else 0.0


def pad_sequences(seqs: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """RIGHT-pad ``(T_i, D)`` arrays into ``(N, max T, D)`` float32 plus lengths (int64)."""
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    d = seqs[0].shape[1]
    out = np.zeros((len(seqs), int(lengths.max()), d), np.float32)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = s
    return out, lengths


def recording_split(
    streams: dict[str, list[np.ndarray]],
    durations: Sequence[float],
    labels: Sequence[int],
    ids: list,
    extras: dict,
) -> MultimodalSplit:
    """A split of recordings whose streams were captured in sync: each stream padded, and every
    frame time-stamped over its recording's duration (all streams span the same interval);
    ``extras`` gains ``"times"`` (modality -> one (n_frames,) array per recording)."""
    features, lengths, times = {}, {}, {}
    for m, seqs in streams.items():
        features[m], lengths[m] = pad_sequences(seqs)
        times[m] = [frame_times(len(x), dur) for x, dur in zip(seqs, durations)]
    return MultimodalSplit(
        features, lengths, np.array(labels, np.int64), ids, {"times": times, **extras}
    )


def standardize_splits(
    per_split: dict[str, dict[str, list[np.ndarray]]], fit_on: str = "train"
) -> dict[str, dict[str, np.ndarray]]:
    """Per-feature mean / std of every modality over all frames of split ``fit_on``, applied to
    every split in place; returns the statistics (``{modality: {"mean", "std"}}``)."""
    stats: dict[str, dict[str, np.ndarray]] = {}
    for m, seqs in per_split[fit_on].items():
        frames = np.concatenate(seqs, axis=0).astype(np.float64)
        mean, std = frames.mean(0), frames.std(0)
        std = np.where(std > 1e-8, std, 1.0)
        stats[m] = {"mean": mean, "std": std}
    for mods in per_split.values():
        for m, seqs in mods.items():
            mods[m] = [((s - stats[m]["mean"]) / stats[m]["std"]).astype(np.float32) for s in seqs]
    return stats


def resample(x: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Linear interpolation of the frames of ``x`` (T, D) at ``positions`` (n,), given as
    fractions of the recording (0 = its start, 1 = its end; frame ``i`` sits at
    ``(i + 0.5) / T``), clamped at both ends.

    >>> resample(np.array([[0.0], [1.0]]), np.array([0.25, 0.5, 0.75]))[:, 0].tolist()
    [0.0, 0.5, 1.0]
    """
    x = np.asarray(x, np.float64)
    return interp_frames(x, np.asarray(positions, np.float64) * len(x) - 0.5, np.arange(len(x)))


def random_time_warp(
    rng: np.random.Generator,
    *,
    keep: tuple[float, float] = (0.85, 1.0),
    stretch: tuple[float, float] = (0.8, 1.25),
    n_segments: int = 4,
    speed: tuple[float, float] = (0.6, 1.6),
):
    """A random monotone time warp for augmenting synchronised recordings.

    Keeps a random ``keep`` fraction of the recording (the rest cut at both ends), plays
    ``n_segments`` random pieces of it at relative speeds drawn from ``speed``, and changes its
    length by a factor drawn from ``stretch``. Apply the same warp to every stream of a recording
    and the streams stay in sync.

    Returns
    -------
    callable
        ``warp(n_frames, n_out=None) -> (positions, n_out)``: the ``n_out`` output frames of a
        stream of ``n_frames`` frames, as positions for :func:`resample`; ``n_out`` None: the
        stream's length changed by the drawn factor, else that many frames (the same warp in
        time, e.g. for streams resampled to a fixed length).
    """
    kept = rng.uniform(*keep)
    start = rng.uniform(0.0, 1.0 - kept)
    knots = np.concatenate([[0.0], np.sort(rng.uniform(0, 1, n_segments - 1)), [1.0]])
    cum = np.concatenate([[0.0], np.cumsum(np.diff(knots) * rng.uniform(*speed, n_segments))])
    cum = start + kept * cum / cum[-1]
    factor = kept * rng.uniform(*stretch)

    def warp(n_frames: int, n_out: int | None = None) -> tuple[np.ndarray, int]:
        if n_out is None:
            n_out = max(2, int(round(n_frames * factor)))
        return np.interp((np.arange(n_out) + 0.5) / n_out, knots, cum), n_out

    return warp


def check_recipe_options(n_frames, augment) -> None:
    """The loaders' ``n_frames`` (None or an int >= 2) and ``augment`` (an int >= 0, or
    ``"online"``)."""
    if n_frames is not None and (
        not isinstance(n_frames, int) or isinstance(n_frames, bool) or n_frames < 2
    ):
        raise ValueError(f"n_frames must be None or an int >= 2, got {n_frames!r}.")
    if augment == "online":
        return
    if not isinstance(augment, int) or isinstance(augment, bool) or augment < 0:
        raise ValueError(
            f"augment must be an int >= 0 (jittered copies per training sample, drawn once) or "
            f"'online' (a fresh jitter of every training sample every epoch), got {augment!r}."
        )


def standardized_transform(stats: dict, modality: str, x: np.ndarray, fn) -> np.ndarray:
    """``fn`` applied to the features ``x`` (T, D) of ``modality`` in their original units:
    undo the standardisation of :func:`standardize_splits` (``stats``; none: ``x`` as is),
    apply ``fn``, standardise again."""
    st = stats.get(modality) if stats else None
    if st is None:
        return fn(np.asarray(x, np.float64))
    raw = np.asarray(x, np.float64) * st["std"] + st["mean"]
    return (fn(raw) - st["mean"]) / st["std"]
