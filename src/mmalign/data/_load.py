"""One entry point from a dataset name or file to a :class:`MultimodalDataset`."""

from __future__ import annotations

import os
from pathlib import Path

from mmalign.data._types import MultimodalDataset

__all__ = ["load_dataset"]


def _avletters(path: str, **options) -> MultimodalDataset:
    from mmalign.data.avletters import load_avletters

    return load_avletters(path, **options)


def _utd_mhad(path: str, **options) -> MultimodalDataset:
    from mmalign.data.utd_mhad import load_utd_mhad

    return load_utd_mhad(path, **options)


#: ``NAME:PATH`` specs of corpora read from the user's folder -> their loader.
CORPORA = {"avletters": _avletters, "utd-mhad": _utd_mhad}


def load_dataset(spec: str | os.PathLike, **options) -> MultimodalDataset:
    """Load ``"digits-av"`` (``options`` are :class:`DigitsAVConfig` fields), a corpus
    ``"avletters:PATH"`` / ``"utd-mhad:PATH"`` (``options`` are its loader's keywords) or a
    pickle file.

    A ``.pkl`` file is read as an MMSA pickle when its splits hold ``regression_labels``,
    otherwise as a MulT / MultiBench pickle.
    """
    if str(spec) == "digits-av":
        from mmalign.data.digits_av import load_digits_av

        return load_digits_av(**options)
    name, sep, path = str(spec).partition(":")
    if sep and name in CORPORA:
        if not path:
            raise ValueError(f"--data {name}: needs a folder, e.g. --data {name}:/path/to/{name}.")
        return CORPORA[name](path, **options)
    p = Path(spec)
    if not p.is_file():
        raise FileNotFoundError(
            f"--data {str(spec)!r} is neither 'digits-av', "
            f"{', '.join(repr(k + ':PATH') for k in CORPORA)} nor an existing pickle file."
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
