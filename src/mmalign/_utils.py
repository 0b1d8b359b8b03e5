"""Shared validation and I/O helpers used at the public boundary of every subpackage.

Every public function validates its inputs with these helpers so that errors read the same
everywhere: the argument's name, what was expected, what arrived, and how to fix it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["as_sequence", "check_option", "atomic_write", "atomic_path"]


def as_sequence(
    x: Any,
    name: str,
    *,
    dtype: type = np.float64,
    allow_empty: bool = False,
    finite: bool = True,
) -> np.ndarray:
    """Return ``x`` as a C-contiguous 2-D array of shape ``(n_frames, n_features)``.

    A 1-D input of shape ``(n,)`` becomes ``(n, 1)``.

    Raises
    ------
    TypeError
        If ``x`` is not numeric.
    ValueError
        If ``x`` has more than 2 dimensions, is empty, or holds NaN / inf.
    """
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(
            f"{name} must be an array-like of numbers with shape (n_frames,) or "
            f"(n_frames, n_features); could not convert it ({exc})."
        ) from exc
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)
    ):
        raise TypeError(
            f"{name} must hold numbers, got dtype {arr.dtype}; convert it with "
            f"np.asarray({name}, dtype=float)."
        )
    if np.iscomplexobj(arr):
        raise TypeError(f"{name} must be real-valued, got complex dtype {arr.dtype}.")
    if arr.ndim == 0:
        raise ValueError(
            f"{name} must have shape (n_frames,) or (n_frames, n_features), got a scalar."
        )
    if arr.ndim == 1:
        arr = arr[:, None]
    elif arr.ndim != 2:
        raise ValueError(
            f"{name} must have shape (n_frames,) or (n_frames, n_features), got {arr.ndim}-D "
            f"shape {arr.shape}; for a batch of sequences pass a list of 2-D arrays instead."
        )
    if not allow_empty and (arr.shape[0] == 0 or arr.shape[1] == 0):
        raise ValueError(f"{name} is empty (shape {arr.shape}); it needs at least one frame.")
    arr = np.ascontiguousarray(arr, dtype=dtype)
    if finite and not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(
            f"{name} holds NaN or inf (first at index {tuple(int(i) for i in bad)}); "
            f"remove or interpolate missing values before aligning."
        )
    return arr


def interp_frames(x: np.ndarray, at: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Linear interpolation of the frames (rows) of ``x`` (n, d), which sit at ``grid`` (n,),
    at the positions ``at`` (m,); clamped at both ends. Returns (m, d)."""
    return np.stack([np.interp(at, grid, x[:, k]) for k in range(x.shape[1])], axis=1)


def check_option(value: Any, name: str, valid: Iterable[str]) -> str:
    """Check that ``value`` is one of ``valid`` and return it.

    >>> check_option("cosine", "metric", ["euclidean", "cosine"])
    'cosine'
    """
    valid = list(valid)
    if not isinstance(value, str) or value not in valid:
        raise ValueError(f"Unknown {name} {value!r}; valid options are: {', '.join(valid)}.")
    return value


def _umask() -> int:
    """The process's umask (read without changing it for longer than the call)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it onto ``path`` only on success.

    Use for writers that want a file name (``np.save``, ``fig.savefig``, h5py, praatio):
    if anything fails, ``path`` is left untouched and the temporary file is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.stem}.", suffix=path.suffix or ".tmp", dir=path.parent
    )
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates the file 0600; give it the mode any other tool's file gets (0666
        # less the user's umask). The writer may have replaced the file, so chmod it now.
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", **kwargs: Any) -> Iterator[Any]:
    """Open a file for writing that appears at ``path`` only once fully written.

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "out.txt")
    >>> with atomic_write(p) as f:
    ...     _ = f.write("hello")
    >>> open(p).read()
    'hello'
    """
    if "r" in mode or "a" in mode:
        raise ValueError(f"atomic_write opens files for writing only, got mode {mode!r}.")
    if "b" not in mode:
        kwargs.setdefault("encoding", "utf-8")
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as fh:
        yield fh


def lazy_exports(
    package: str, exports: dict[str, str], namespace: dict[str, Any]
) -> tuple[Any, Any]:
    """Build PEP 562 ``__getattr__`` / ``__dir__`` for a package that re-exports lazily.

    ``exports`` maps each public name to the module that defines it; a name is imported on first
    access and cached in ``namespace`` (the package's ``globals()``), so heavy dependencies
    (torch, librosa) load only when something that needs them is used.
    """

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        import importlib

        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(namespace.get("__all__", ())))

    return __getattr__, __dir__


def resolve_config(config: Any, cls: type, overrides: dict[str, Any], what: str) -> Any:
    """Return ``config`` (default ``cls()``) with keyword ``overrides`` applied.

    Raises TypeError for a config of another class and ValueError naming unknown options
    (``what`` names the thing configured, e.g. ``"digits-av"``) with the valid ones.
    """
    import dataclasses

    if config is None:
        config = cls()
    elif not isinstance(config, cls):
        raise TypeError(f"config must be a {cls.__name__}, got {type(config).__name__}.")
    if overrides:
        valid = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - valid)
        if unknown:
            raise ValueError(
                f"Unknown {what} option(s) {unknown}; valid options are: {', '.join(sorted(valid))}."
            )
        config = dataclasses.replace(config, **overrides)
    return config
