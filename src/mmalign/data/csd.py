"""CMU Multimodal SDK computational sequences (``.csd``) and the SDK's word-level alignment.

A ``.csd`` file is HDF5 with one root group named after the sequence:
``<root>/data/<video_id>/features`` (n, d) and ``<root>/data/<video_id>/intervals`` (n, 2)
start / end seconds, plus ``<root>/metadata/<key>`` holding json-encoded strings. Word
sequences store bytes features (``b"sp"`` marks silence).

Reference: Zadeh et al., "Multimodal Language Analysis in the Wild: CMU-MOSEI Dataset and
Interpretable Dynamic Fusion Graph", ACL 2018 (the CMU Multimodal SDK,
``mmsdk.mmdatasdk.computational_sequence`` and ``mmdataset.align``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["ComputationalSequence", "read_csd", "write_csd", "align_sequences"]


@dataclass
class ComputationalSequence:
    """One feature stream of a dataset, per video.

    Attributes
    ----------
    name : str
        The HDF5 root group name (e.g. ``"glove_vectors"``, ``"COVAREP"``).
    data : dict of str to (features, intervals)
        ``features`` ndarray of shape (n, d) (numeric, or bytes for words),
        ``intervals`` ndarray of shape (n, 2) of start / end seconds.
    metadata : dict of str to str
    """

    name: str
    data: dict[str, tuple[np.ndarray, np.ndarray]]
    metadata: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for vid, (feat, iv) in self.data.items():
            iv = np.asarray(iv)
            if iv.ndim != 2 or iv.shape[1] != 2:
                raise ValueError(f"intervals of {vid!r} must have shape (n, 2), got {iv.shape}.")
            if len(feat) != len(iv):
                raise ValueError(
                    f"{vid!r} has {len(feat)} feature rows but {len(iv)} intervals; they must match."
                )


def read_csd(path: str | os.PathLike) -> ComputationalSequence:
    """Read a ``.csd`` file (HDF5) into a :class:`ComputationalSequence`."""
    import h5py

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"computational sequence {str(p)!r} does not exist.")
    with h5py.File(p, "r") as f:
        roots = list(f.keys())
        if len(roots) != 1:
            raise ValueError(
                f"{p}: a computational sequence has exactly one root group, found {roots}."
            )
        name = roots[0]
        root = f[name]
        if "data" not in root:
            raise ValueError(f"{p}: root group {name!r} has no 'data' group; is it a .csd file?")
        data = {}
        for vid, g in root["data"].items():
            data[vid] = (
                np.asarray(g["features"][()]),
                np.asarray(g["intervals"][()], dtype=np.float64),
            )
        metadata = {}
        if "metadata" in root:
            for key, ds in root["metadata"].items():
                v = ds[()]
                if isinstance(v, np.ndarray):
                    v = v.item() if v.size == 1 else v.tolist()
                if isinstance(v, bytes):
                    v = v.decode("utf-8")
                try:
                    v = json.loads(v) if isinstance(v, str) else v
                except json.JSONDecodeError:
                    pass
                metadata[key] = v if isinstance(v, str) else json.dumps(v)
    return ComputationalSequence(name, data, metadata)


def write_csd(sequence: ComputationalSequence, path: str | os.PathLike) -> Path:
    """Write ``sequence`` as a ``.csd`` file (HDF5), atomically.

    Metadata values are stored json-encoded, as the SDK writes them.
    """
    import h5py

    from mmalign._utils import atomic_path

    if not isinstance(sequence, ComputationalSequence):
        raise TypeError(f"sequence must be a ComputationalSequence, got {type(sequence).__name__}.")
    path = Path(path)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        root = f.create_group(sequence.name)
        data = root.create_group("data")
        for vid, (feat, iv) in sequence.data.items():
            g = data.create_group(vid)
            g.create_dataset("features", data=np.asarray(feat))
            g.create_dataset("intervals", data=np.asarray(iv, dtype=np.float64))
        meta = root.create_group("metadata")
        for key, value in sequence.metadata.items():
            meta.create_dataset(key, data=json.dumps(value))
    return path


def _overlap_rows(ref: np.ndarray, iv: np.ndarray, eps: float) -> list[np.ndarray]:
    """For each reference interval, the indices of ``iv`` rows that overlap it by more than eps."""
    start = np.maximum(ref[:, None, 0], iv[None, :, 0])
    end = np.minimum(ref[:, None, 1], iv[None, :, 1])
    hit = (end - start) > eps  # (n_ref, n)
    # Zero-length rows (point samples) count where they fall inside the reference interval.
    point = (
        (iv[None, :, 0] == iv[None, :, 1])
        & (iv[None, :, 0] >= ref[:, None, 0])
        & (iv[None, :, 0] < ref[:, None, 1])
    )
    hit |= point
    return [np.flatnonzero(h) for h in hit]


def align_sequences(
    reference: ComputationalSequence,
    others: dict[str, ComputationalSequence] | list[ComputationalSequence],
    *,
    collapse: Callable[[np.ndarray], np.ndarray] | str = "mean",
    drop_reference: tuple[bytes, ...] = (),
    eps: float = 1e-6,
) -> dict[str, ComputationalSequence]:
    """Collapse every stream onto the intervals of a reference stream (word-level alignment).

    For each video and each reference interval ``[s, e)``, the rows of another stream whose
    intervals overlap it are combined by ``collapse`` (mean by default) into one row, so all
    streams end with one row per reference element, sharing the reference's intervals.

    Parameters
    ----------
    reference : ComputationalSequence
        Usually the words; its features are kept as they are.
    others : dict of str to ComputationalSequence, or list of them
        Streams to collapse (keyed by their ``name`` for a list).
    collapse : {"mean", "max", "sum", "median"} or callable
        A function mapping rows (k, d) to one row (d,) (called with ``axis=0`` semantics).
    drop_reference : tuple of bytes
        Reference features to drop before aligning, e.g. ``(b"sp",)`` for silences.
    eps : float
        Minimum overlap in seconds for a row to count.

    Returns
    -------
    dict of str to ComputationalSequence
        The reference (under its name) and each collapsed stream. A reference interval that no
        row of a stream overlaps gets a row of zeros in that stream.
    """
    from mmalign._utils import check_option

    funcs = {"mean": np.mean, "max": np.max, "sum": np.sum, "median": np.median}
    if isinstance(collapse, str):
        fn = funcs[check_option(collapse, "collapse", funcs)]
    elif callable(collapse):
        fn = collapse
    else:
        raise TypeError(f"collapse must be a name or a callable, got {type(collapse).__name__}.")
    if isinstance(others, list):
        others = {s.name: s for s in others}
    if not isinstance(reference, ComputationalSequence):
        raise TypeError(
            f"reference must be a ComputationalSequence, got {type(reference).__name__}."
        )
    ref_data = {}
    for vid, (feat, iv) in reference.data.items():
        iv = np.asarray(iv, dtype=np.float64)
        if drop_reference:
            keep = np.array([_as_bytes(f) not in drop_reference for f in feat], dtype=bool)
            feat, iv = feat[keep], iv[keep]
        ref_data[vid] = (feat, iv)
    out = {
        reference.name: ComputationalSequence(reference.name, ref_data, dict(reference.metadata))
    }
    for key, seq in others.items():
        data = {}
        for vid, (_, ref_iv) in ref_data.items():
            if vid not in seq.data:
                continue  # the SDK drops videos missing from a stream
            feat, iv = seq.data[vid]
            feat = np.asarray(feat, dtype=np.float64)
            rows = _overlap_rows(ref_iv, np.asarray(iv, dtype=np.float64), eps)
            d = feat.shape[1] if feat.ndim == 2 else 1
            feat2 = feat.reshape(len(feat), d)
            coll = np.zeros((len(ref_iv), d), dtype=np.float64)
            for i, r in enumerate(rows):
                if len(r):
                    coll[i] = np.asarray(fn(feat2[r], axis=0)).reshape(d)
            data[vid] = (coll, ref_iv.copy())
        out[key] = ComputationalSequence(seq.name, data, dict(seq.metadata))
    return out


def _as_bytes(f: object) -> bytes | None:
    """A word feature row as bytes (rows are bytes or (1,) arrays of bytes); None if numeric."""
    if isinstance(f, (bytes, np.bytes_)):
        return bytes(f)
    if isinstance(f, np.ndarray) and f.size == 1 and isinstance(f.flat[0], (bytes, np.bytes_)):
        return bytes(f.flat[0])
    return None
