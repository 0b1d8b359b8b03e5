"""The in-memory dataset every reader returns and every trainer consumes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["MultimodalSplit", "MultimodalDataset", "TASKS", "left_to_right_padding"]

#: Prediction tasks the trainer understands.
#: ``regression``: labels (N,) float, ``n_outputs`` 1.
#: ``classification``: labels (N,) int in [0, n_outputs).
#: ``multilabel``: labels (N, K) int in {0, 1}, ``n_outputs`` 2 K (K two-way heads, IEMOCAP style).
#: ``grounding``: labels (N, T_first) int, the step of the second modality that each step of the
#: first names (a word its image region), -1 for none; ``n_outputs`` the second's padded length.
#: Weakly supervised models train on the pairing alone and are scored on these labels.
TASKS = ("regression", "classification", "multilabel", "grounding")


@dataclass
class MultimodalSplit:
    """One split of a multimodal dataset, RIGHT-padded.

    Attributes
    ----------
    features : dict of str to ndarray of shape (N, T_m, D_m)
        Per-modality float32 features, valid frames first, zeros after ``lengths``.
        Insertion order is the modality order.
    lengths : dict of str to ndarray of shape (N,)
        Number of valid frames of each sample in each modality (int64).
    labels : ndarray of shape (N,) or (N, K)
        Targets of the dataset's task.
    ids : list of str
        One identifier per sample.
    extras : dict
        Anything else a reader keeps (raw text, other label sets, alignment ground truth).
    """

    features: dict[str, np.ndarray]
    lengths: dict[str, np.ndarray]
    labels: np.ndarray
    ids: list[str]
    extras: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.labels)
        for m, x in self.features.items():
            if x.ndim != 3 or x.shape[0] != n:
                raise ValueError(
                    f"features[{m!r}] must have shape (N={n}, T, D), got {x.shape}; "
                    "every modality needs one padded sequence per label."
                )
            if self.lengths[m].shape != (n,):
                raise ValueError(
                    f"lengths[{m!r}] must have shape ({n},), got {self.lengths[m].shape}."
                )
        if len(self.ids) != n:
            raise ValueError(f"ids must hold {n} entries (one per label), got {len(self.ids)}.")

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(self.features)

    def subset(self, index: np.ndarray | list[int]) -> MultimodalSplit:
        """The samples at ``index`` (extras that are per-sample lists or arrays are sliced too)."""
        index = np.asarray(index, dtype=np.int64)
        n = len(self)
        extras: dict[str, Any] = {}
        for k, v in self.extras.items():
            if isinstance(v, np.ndarray) and v.shape[:1] == (n,):
                extras[k] = v[index]
            elif isinstance(v, list) and len(v) == n:
                extras[k] = [v[i] for i in index]
            elif isinstance(v, dict) and all(
                isinstance(x, (list, np.ndarray)) and len(x) == n for x in v.values()
            ):
                extras[k] = {
                    kk: (vv[index] if isinstance(vv, np.ndarray) else [vv[i] for i in index])
                    for kk, vv in v.items()
                }
            else:
                extras[k] = v
        return MultimodalSplit(
            {m: x[index] for m, x in self.features.items()},
            {m: x[index] for m, x in self.lengths.items()},
            self.labels[index],
            [self.ids[i] for i in index],
            extras,
        )


@dataclass
class MultimodalDataset:
    """Splits (``train``, ``valid``, ``test``) plus what a model needs to be built for them.

    Attributes
    ----------
    splits : dict of str to MultimodalSplit
    task : {"regression", "classification", "multilabel", "grounding"}
    n_outputs : int
        Width of the model's prediction head for ``task``.
    name : str
    source : dict
        How to load the same data again, for a checkpoint to carry: ``{"data": "digits-av",
        "options": {...every DigitsAVConfig field}}`` or ``{"data": "/abs/path.pkl"}``, plus
        ``"modalities"`` after :meth:`select`; empty for data built by hand.
    augment : callable or None
        Augmentation of training samples, drawn afresh every epoch by
        :func:`mmalign.train.fit`: ``augment({modality: (n_frames, n_features)}, rng) ->
        {modality: (n_frames', n_features)}`` for one sample's valid frames and a seeded
        ``numpy.random.Generator`` (the corpus loaders set one with ``augment="online"``, e.g.
        :class:`mmalign.data.utd_mhad.UtdMhadAugment`). None (default): the samples as stored.
    """

    splits: dict[str, MultimodalSplit]
    task: str
    n_outputs: int
    name: str = ""
    source: dict[str, Any] = field(default_factory=dict)
    augment: Callable[[dict[str, np.ndarray], np.random.Generator], dict] | None = None

    def __post_init__(self) -> None:
        if self.augment is not None and not callable(self.augment):
            raise TypeError(
                f"augment must be None or a callable (sample, rng) -> sample, got "
                f"{type(self.augment).__name__}."
            )
        if self.task not in TASKS:
            raise ValueError(f"Unknown task {self.task!r}; valid options are: {', '.join(TASKS)}.")
        if not self.splits:
            raise ValueError("splits is empty; a dataset needs at least one split.")
        mods = {s.modalities for s in self.splits.values()}
        if len(mods) != 1:
            raise ValueError(f"every split must have the same modalities, got {sorted(mods)}.")

    @property
    def modalities(self) -> tuple[str, ...]:
        return next(iter(self.splits.values())).modalities

    @property
    def input_dims(self) -> dict[str, int]:
        """Modality name -> feature dimension, in modality order (what ``build_model`` takes)."""
        split = next(iter(self.splits.values()))
        return {m: int(x.shape[2]) for m, x in split.features.items()}

    def select(self, modalities: list[str] | tuple[str, ...]) -> MultimodalDataset:
        """The same dataset restricted to ``modalities`` (in that order), e.g. for
        single-modality control runs."""
        mods = list(modalities)
        unknown = [m for m in mods if m not in self.modalities]
        if not mods or unknown:
            raise ValueError(
                f"modalities must be a non-empty subset of {list(self.modalities)}, got {mods}."
            )
        splits = {
            name: MultimodalSplit(
                {m: s.features[m] for m in mods},
                {m: s.lengths[m] for m in mods},
                s.labels,
                s.ids,
                s.extras,
            )
            for name, s in self.splits.items()
        }
        source = {**self.source, "modalities": mods} if self.source else {}
        return MultimodalDataset(splits, self.task, self.n_outputs, self.name, source, self.augment)

    def __getitem__(self, split: str) -> MultimodalSplit:
        if split not in self.splits:
            raise KeyError(f"no split {split!r}; this dataset has {', '.join(self.splits)}.")
        return self.splits[split]


def left_to_right_padding(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Move LEFT zero-padding to the right and return the lengths.

    A frame is padding when all its features are zero and every frame before it is too
    (leading zero frames); zero frames after the first non-zero frame count as data.

    Parameters
    ----------
    x : ndarray of shape (N, T, D)

    Returns
    -------
    right : ndarray of shape (N, T, D)
        The same sequences, valid frames first.
    lengths : ndarray of shape (N,)
    """
    x = np.asarray(x)
    if x.ndim != 3:
        raise ValueError(f"x must have shape (N, T, D), got {x.shape}.")
    n, t, _ = x.shape
    nonzero = np.any(x != 0, axis=2)  # (N, T)
    has = nonzero.any(axis=1)
    first = np.where(has, nonzero.argmax(axis=1), t)
    lengths = (t - first).astype(np.int64)
    # Gather with a per-row shift: right[i, j] = x[i, first_i + j] for j < length_i.
    idx = np.arange(t)[None, :] + first[:, None]  # (N, T)
    valid = idx < t
    idx = np.minimum(idx, t - 1)
    right = np.take_along_axis(x, idx[:, :, None], axis=1)
    right = np.where(valid[:, :, None], right, 0).astype(x.dtype, copy=False)
    return right, lengths
