"""One entry point from a dataset name or file to a :class:`MultimodalDataset`."""

from __future__ import annotations

import os
from pathlib import Path

from mmalign.data._types import MultimodalDataset

__all__ = ["load_dataset"]


def load_dataset(spec: str | os.PathLike, **options) -> MultimodalDataset:
    """Load ``"digits-av"`` (``options`` are :class:`DigitsAVConfig` fields) or a pickle file.

    A ``.pkl`` file is read as an MMSA pickle when its splits hold ``regression_labels``,
    otherwise as a MulT / MultiBench pickle.
    """
    if str(spec) == "digits-av":
        from mmalign.data.digits_av import load_digits_av

        return load_digits_av(**options)
    p = Path(spec)
    if not p.is_file():
        raise FileNotFoundError(
            f"--data {str(spec)!r} is neither 'digits-av' nor an existing pickle file."
        )
    if options:
        raise ValueError(
            f"dataset options {sorted(options)} apply to digits-av only, not to the file {p}."
        )
    from mmalign.data.pickles import load_mmsa_pickle, load_mult_pickle, safe_load_pickle

    obj = safe_load_pickle(p)
    first = (
        next((v for v in obj.values() if isinstance(v, dict)), {}) if isinstance(obj, dict) else {}
    )
    if "regression_labels" in first:
        return load_mmsa_pickle(p)
    return load_mult_pickle(p)
