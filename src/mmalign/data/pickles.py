"""Readers for the pickled benchmark releases of the field, through a restricted unpickler.

* MulT / MTAG / MultiBench: ``{mosi,mosei_senti,iemocap}_data[_noalign].pkl`` holding
  ``{split: {"text", "audio", "vision": (N, T, D), "labels", "id"}}`` with LEFT zero-padding
  and ``-inf`` in some audio features (Tsai et al., "Multimodal Transformer for Unaligned
  Multimodal Language Sequences", ACL 2019; Liang et al., "MultiBench", NeurIPS 2021).
* MMSA: ``{split: {"text" | "text_bert", "audio", "vision", "audio_lengths",
  "vision_lengths", "regression_labels", "raw_text", "id"}}`` (Yu et al., "CH-SIMS", ACL 2020;
  the MMSA toolkit).

A pickle can run arbitrary code when loaded. :func:`safe_load_pickle` admits only numpy arrays,
numpy dtypes and scalars and builtin containers; anything else raises
:class:`UnsafePickleError` before it is called.
"""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from mmalign.data._types import MultimodalDataset, MultimodalSplit, left_to_right_padding

__all__ = [
    "UnsafePickleError",
    "CorruptPickleError",
    "safe_load_pickle",
    "load_mult_pickle",
    "load_mmsa_pickle",
    "save_mult_pickle",
]

_SPLIT_ALIASES = {
    "train": "train",
    "valid": "valid",
    "dev": "valid",
    "val": "valid",
    "test": "test",
}

# (module, name) pairs a benchmark pickle needs: numpy's array reconstruction and builtin
# containers. Nothing here can reach the file system, a shell or an import.
_ALLOWED_GLOBALS = frozenset(
    {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("collections", "OrderedDict"),
        ("_codecs", "encode"),  # how protocol 2 stores bytes
        ("builtins", "set"),
        ("builtins", "frozenset"),
        ("builtins", "bytearray"),
        ("builtins", "complex"),
        ("builtins", "slice"),
        ("builtins", "range"),
        ("__builtin__", "set"),
        ("__builtin__", "frozenset"),
    }
)


class UnsafePickleError(pickle.UnpicklingError, ValueError):
    """A pickle asked for a global outside the allow-list (it could have run code)."""


class CorruptPickleError(pickle.UnpicklingError, ValueError):
    """A file that is empty, truncated or not a pickle at all."""


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise UnsafePickleError(
            f"refusing to load global {module}.{name} from the pickle: only numpy arrays and "
            "builtin containers are allowed (a pickle from an untrusted source can run code). "
            "If you trust this file, load it with pickle.load yourself."
        )


def safe_load_pickle(path: str | os.PathLike | bytes) -> Any:
    """Load a pickle that may hold only numpy arrays, numpy scalars and builtin containers.

    Parameters
    ----------
    path : path-like or bytes
        A file, or the pickled bytes themselves.

    Raises
    ------
    UnsafePickleError
        If the pickle references any other global (a class, ``os.system``, ``builtins.eval``...).
        Nothing it references is called.
    """
    if isinstance(path, (bytes, bytearray)):
        return _load(io.BytesIO(path), "the pickled bytes")
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"pickle file {str(p)!r} does not exist.")
    with open(p, "rb") as fh:
        return _load(fh, f"pickle file {str(p)!r}")


def _load(fh: Any, what: str) -> Any:
    """Unpickle ``fh`` through the allow-list; every failure names ``what`` and the fix."""
    try:
        # latin1 reads numpy arrays pickled under Python 2 (the MOSI/MOSEI releases).
        return _RestrictedUnpickler(fh, encoding="latin1").load()
    except UnsafePickleError as exc:
        raise UnsafePickleError(f"{what}: {exc}") from None
    except EOFError:
        raise CorruptPickleError(
            f"{what} ends before its data does (empty or truncated); download or copy it again."
        ) from None
    except (pickle.UnpicklingError, ValueError, TypeError, KeyError, IndexError) as exc:
        # a file that is not a pickle at all (invalid load key), or garbled inside
        raise CorruptPickleError(
            f"{what} is not a readable pickle ({type(exc).__name__}: {exc}); check that it is "
            "the dataset file itself (not an HTML page or a partial download)."
        ) from None


def _clean(x: Any, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"{name} must be a numeric array (N, T, D), got dtype {arr.dtype}.")
    if arr.ndim != 3:
        raise ValueError(f"{name} must have shape (N, T, D), got {arr.shape}.")
    arr = arr.astype(np.float32)
    arr[~np.isfinite(arr)] = 0.0  # -inf in COVAREP audio, occasional NaN
    return arr


def _splits_of(obj: Any, path: Any) -> dict[str, dict]:
    if not isinstance(obj, dict):
        raise ValueError(
            f"{path}: expected a dict of splits ('train', 'valid', 'test'), got {type(obj).__name__}."
        )
    out = {}
    for key, value in obj.items():
        split = _SPLIT_ALIASES.get(str(key).lower())
        if split is not None and isinstance(value, dict):
            out[split] = value
    if not out:
        raise ValueError(
            f"{path}: no split named train/valid/dev/test among the keys {sorted(map(str, obj))}."
        )
    return out


def _ids(raw: Any, n: int) -> list[str]:
    if raw is None:
        return [str(i) for i in range(n)]
    arr = np.asarray(raw)
    out = []
    for i in range(n):
        v = arr[i] if arr.ndim >= 1 and len(arr) == n else i
        if isinstance(v, np.ndarray):
            v = "$_$".join(x.decode() if isinstance(x, bytes) else str(x) for x in v.ravel())
        elif isinstance(v, bytes):
            v = v.decode("utf-8", "replace")
        out.append(str(v))
    return out


def load_mult_pickle(path: str | os.PathLike) -> MultimodalDataset:
    """Read a MulT / MTAG / MultiBench pickle into RIGHT-padded arrays with lengths.

    ``-inf`` and NaN become 0; the leading zero frames of each sequence (left padding) are
    moved to the end and counted out of ``lengths``.

    Parameters
    ----------
    path : path-like
        ``{mosi,mosei_senti,iemocap}_data[_noalign].pkl`` or a file in the same layout.

    Returns
    -------
    MultimodalDataset
        ``regression`` with labels (N,) for sentiment labels of shape (N, 1, 1);
        ``multilabel`` with labels (N, K) and ``n_outputs`` 2 K for IEMOCAP's (N, K, 2).
    """
    obj = safe_load_pickle(path)
    splits = _splits_of(obj, path)
    task, n_outputs = "regression", 1
    out = {}
    for split, d in splits.items():
        missing = [k for k in ("text", "audio", "vision", "labels") if k not in d]
        if missing:
            raise ValueError(
                f"{path}: split {split!r} lacks {missing}; a MulT pickle has text, audio, vision, labels."
            )
        feats, lens = {}, {}
        for m in ("text", "audio", "vision"):
            feats[m], lens[m] = left_to_right_padding(_clean(d[m], f"{split}/{m}"))
        y = np.asarray(d["labels"], dtype=np.float64)
        n = y.shape[0]
        if y.ndim == 3 and y.shape[-1] == 2 and y.shape[1] > 1:  # IEMOCAP: (N, 4 emotions, 2)
            task, n_outputs = "multilabel", 2 * y.shape[1]
            labels = y.argmax(axis=-1).astype(np.int64)
        else:
            labels = y.reshape(n, -1)[:, 0].astype(np.float32)
        out[split] = MultimodalSplit(feats, lens, labels, _ids(d.get("id"), n))
    name = Path(path).stem
    source = {"data": str(Path(path).resolve())}
    return MultimodalDataset(out, task=task, n_outputs=n_outputs, name=name, source=source)


def load_mmsa_pickle(path: str | os.PathLike, *, text: str = "text") -> MultimodalDataset:
    """Read an MMSA pickle (CMU-MOSI / MOSEI / CH-SIMS in the MMSA toolkit's layout).

    Parameters
    ----------
    path : path-like
    text : {"text", "text_bert"}
        ``"text"``: the (N, L, 768) BERT features; ``"text_bert"``: the (N, 3, L) token ids,
        mask and segment ids, given to models as (N, L, 3).

    Returns
    -------
    MultimodalDataset
        ``regression`` on ``regression_labels``; ``extras["raw_text"]`` when present.
    """
    from mmalign._utils import check_option

    check_option(text, "text", ["text", "text_bert"])
    obj = safe_load_pickle(path)
    splits = _splits_of(obj, path)
    out = {}
    for split, d in splits.items():
        for key in (text, "audio", "vision", "regression_labels"):
            if key not in d:
                raise ValueError(
                    f"{path}: split {split!r} lacks {key!r}; an MMSA pickle has "
                    "text/text_bert, audio, vision, *_lengths and regression_labels."
                )
        labels = np.asarray(d["regression_labels"], dtype=np.float32).reshape(-1)
        n = len(labels)
        feats, lens = {}, {}
        if text == "text_bert":
            tb = np.asarray(d["text_bert"], dtype=np.float32)  # (N, 3, L)
            feats["text"] = np.ascontiguousarray(tb.transpose(0, 2, 1))
            lens["text"] = tb[:, 1, :].sum(axis=1).astype(np.int64)
        else:
            x = _clean(d["text"], f"{split}/text")
            feats["text"] = x
            if "text_bert" in d:
                lens["text"] = np.asarray(d["text_bert"])[:, 1, :].sum(axis=1).astype(np.int64)
            else:
                lens["text"] = _trailing_lengths(x)
        for m in ("audio", "vision"):
            x = _clean(d[m], f"{split}/{m}")
            feats[m] = x
            key = f"{m}_lengths"
            if key in d:
                lens[m] = np.minimum(np.asarray(d[key]).astype(np.int64).reshape(-1), x.shape[1])
            else:
                lens[m] = _trailing_lengths(x)
        extras = {}
        if "raw_text" in d:
            extras["raw_text"] = [str(s) for s in np.asarray(d["raw_text"]).tolist()]
        out[split] = MultimodalSplit(feats, lens, labels, _ids(d.get("id"), n), extras)
    source = {"data": str(Path(path).resolve())}
    return MultimodalDataset(
        out, task="regression", n_outputs=1, name=Path(path).stem, source=source
    )


def _trailing_lengths(x: np.ndarray) -> np.ndarray:
    """Lengths of right-padded sequences: one past the last frame with any non-zero feature."""
    nonzero = np.any(x != 0, axis=2)
    t = x.shape[1]
    last = t - nonzero[:, ::-1].argmax(axis=1)
    return np.where(nonzero.any(axis=1), last, 0).astype(np.int64)


def save_mult_pickle(dataset: MultimodalDataset, path: str | os.PathLike) -> Path:
    """Write ``dataset`` as a MulT pickle (LEFT zero-padded), atomically.

    Labels are stored as (N, 1, 1) floats (MulT's regression layout) for ``regression`` and
    ``classification`` tasks; the reference code then trains on exactly the same arrays.
    ``valid`` is written under the key ``"valid"`` as MulT expects.
    """
    from mmalign._utils import atomic_write

    if not isinstance(dataset, MultimodalDataset):
        raise TypeError(f"dataset must be a MultimodalDataset, got {type(dataset).__name__}.")
    missing = [m for m in ("text", "audio", "vision") if m not in dataset.modalities]
    if missing:
        raise ValueError(
            f"a MulT pickle needs the modalities text, audio and vision; the dataset lacks {missing}."
        )
    obj: dict[str, dict[str, np.ndarray]] = {}
    for split, s in dataset.splits.items():
        d: dict[str, np.ndarray] = {}
        for m in ("text", "audio", "vision"):
            x, lengths = s.features[m], s.lengths[m]
            left = np.zeros_like(x, dtype=np.float32)
            t = x.shape[1]
            for i, n in enumerate(lengths):
                if n:
                    left[i, t - n :] = x[i, :n]
            d[m] = left
        if dataset.task == "multilabel":
            y = np.eye(2, dtype=np.float32)[np.asarray(s.labels, dtype=np.int64)]  # (N, K, 2)
        else:
            y = np.asarray(s.labels, dtype=np.float32).reshape(-1, 1, 1)
        d["labels"] = y
        d["id"] = np.asarray(s.ids)
        obj[split] = d
    path = Path(path)
    with atomic_write(path, "wb") as fh:
        pickle.dump(obj, fh, protocol=4)
    return path
