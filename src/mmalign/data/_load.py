"""One entry point from a dataset name or file to a :class:`MultimodalDataset`."""

from __future__ import annotations

import os
from pathlib import Path

from mmalign.data._types import MultimodalDataset

__all__ = ["check_data_spec", "data_record", "load_dataset", "CORPUS_PRESETS", "corpus_preset"]


def _avletters(path: str, **options) -> MultimodalDataset:
    from mmalign.data.avletters import load_avletters

    return load_avletters(path, **options)


def _utd_mhad(path: str, **options) -> MultimodalDataset:
    from mmalign.data.utd_mhad import load_utd_mhad

    return load_utd_mhad(path, **options)


def _digit_scenes_options(**options) -> dict:
    """Every option of :func:`load_digit_scenes` (defaults filled in), checked."""
    import inspect

    from mmalign.data.digit_scenes import DigitScenesConfig, load_digit_scenes

    params = inspect.signature(load_digit_scenes).parameters.values()
    full = {p.name: p.default for p in params if p.kind == p.KEYWORD_ONLY}
    unknown = sorted(set(options) - set(full))
    if unknown:
        raise ValueError(
            f"data.* options {unknown} are not options of digit-scenes; valid options are: "
            f"{', '.join(full)}."
        )
    full.update(options)
    for key in ("n_train", "n_valid", "n_test"):  # the scene generator checks each value
        DigitScenesConfig(
            n_scenes=full[key],
            seed=full["seed"],
            min_digits=full["min_digits"],
            max_digits=full["max_digits"],
        )
    return full


def corpus_loader_defaults(name: str) -> dict:
    """The keyword options of corpus ``name``'s loader with their defaults (no recipe). A
    recorded run's options lacking one (recorded before it existed, or with only the recipe's
    and the user's options) had the loader's default."""
    import inspect

    if name == "avletters":
        from mmalign.data.avletters import load_avletters as loader
    else:
        from mmalign.data.utd_mhad import load_utd_mhad as loader
    params = inspect.signature(loader).parameters.values()
    return {p.name: p.default for p in params if p.kind == p.KEYWORD_ONLY}


#: ``NAME:PATH`` specs of corpora read from the user's folder -> their loader.
CORPORA = {"avletters": _avletters, "utd-mhad": _utd_mhad}

#: The recipe of each corpus: loader options that :func:`load_dataset` (and so ``mmalign train
#: --data NAME:PATH``) applies under the user's own; the loaders' own defaults read the corpus
#: as it is. Measured in ``benchmarks/real_train.py`` (README, "Real recordings"): both streams
#: resampled to 32 frames and 4 jittered copies of every training recording take LXMERT from
#: 70 % to 86 % on UTD-MHAD's unseen subjects (seed 0); on AVLetters, together with the
#: models' dropout 0.3, from 65 % to 75 % on unseen speakers (seed 0). UTD-MHAD's skeleton also
#: carries its joints' velocities (``velocity=True``): chosen on the subject-7 validation split
#: (LXMERT, 40 epochs, last checkpoint, seed 0), skeleton alone 65.7 % -> 85.2 %; sinusoidal
#: positions instead gave 75.0 %, both together 84.3 %, joint distances 65.7 %. A model whose
#: positions weigh little sees the skeleton nearly as a bag of poses: the velocity says which way
#: each joint moves. Its inertial frames also carry the spread of the raw 50 Hz samples within
#: each of the 32 windows (``inertial_std=True``): chosen on leave-one-training-subject-out
#: validation (co-attention, ``benchmarks/real_cv.py``, folds 3 and 5, seeds 0 and 1), 90.0 % ->
#: 94.2 %; the fast, repeated motions (boxing against push) that resampling smooths away.
CORPUS_PRESETS: dict[str, dict] = {
    "utd-mhad": {"n_frames": 32, "augment": 4, "velocity": True, "inertial_std": True},
    "avletters": {"n_frames": 32, "augment": 4},
}


def corpus_preset(name: str) -> dict:
    """The loader options of corpus ``name``'s recipe (:data:`CORPUS_PRESETS`; a copy)."""
    return dict(CORPUS_PRESETS.get(name, {}))


def _corpus(spec: str) -> tuple[str, str] | None:
    """``(name, folder)`` for ``"avletters:PATH"`` / ``"utd-mhad:PATH"``, else None."""
    name, sep, path = str(spec).partition(":")
    return (name, path) if sep and name in CORPORA else None


def check_data_spec(spec: str | os.PathLike, flag: str = "--data", **options) -> None:
    """Fail before any loading on a data argument that cannot load: a missing file or folder,
    options the dataset does not take, or digits-av options that its config rejects."""
    if str(spec) == "digits-av":
        from mmalign.data.digits_av import DigitsAVConfig

        DigitsAVConfig(**options)
        return
    if str(spec) == "digit-scenes":
        _digit_scenes_options(**options)
        return
    corpus = _corpus(spec)
    if corpus is not None:
        name, path = corpus
        if not path:
            raise ValueError(f"{flag} {name}: needs a folder, e.g. {flag} {name}:/path/to/{name}.")
        # a missing or incomplete folder: the loader says what is missing and where the corpus
        # comes from, before it reads anything
        valid = list(corpus_loader_defaults(name))
        unknown = sorted(set(options) - set(valid))
        if unknown:
            raise ValueError(
                f"data.* options {unknown} are not options of {name}; valid options are: "
                f"{', '.join(valid) or 'none'}."
            )
        return
    p = Path(spec)
    if not p.exists():
        raise FileNotFoundError(
            f"{flag} {str(spec)!r} is neither 'digits-av', 'digit-scenes', "
            f"{', '.join(repr(k + ':PATH') for k in CORPORA)} nor an existing pickle file."
        )
    if not p.is_file():
        raise ValueError(f"{flag} {str(spec)!r} is a folder; pass the pickle file inside it.")
    if options:
        raise ValueError(
            f"the file {spec} takes no data.* options ({sorted(options)} are options of "
            "digits-av or a corpus); drop them."
        )


def data_record(spec: str | os.PathLike, **options) -> dict:
    """How to load the same data again (``MultimodalDataset.source``), from the arguments of
    :func:`load_dataset`, without loading them."""
    import dataclasses

    if str(spec) == "digits-av":
        from mmalign.data.digits_av import DigitsAVConfig

        return {"data": "digits-av", "options": dataclasses.asdict(DigitsAVConfig(**options))}
    if str(spec) == "digit-scenes":
        return {"data": "digit-scenes", "options": _digit_scenes_options(**options)}
    corpus = _corpus(spec)
    if corpus is not None:
        name, path = corpus
        # every option, the loader's defaults included: a later recipe must not change the data
        options = {**corpus_loader_defaults(name), **corpus_preset(name), **options}
        opts = {k: list(v) if isinstance(v, tuple) else v for k, v in options.items()}
        return {"data": f"{name}:{Path(path).resolve()}", "options": opts}
    return {"data": str(Path(spec).resolve())}


def load_dataset(spec: str | os.PathLike, **options) -> MultimodalDataset:
    """Load ``"digits-av"`` (``options`` are :class:`DigitsAVConfig` fields), ``"digit-scenes"``
    (``options`` are :func:`~mmalign.data.digit_scenes.load_digit_scenes`'s keywords), a corpus
    ``"avletters:PATH"`` / ``"utd-mhad:PATH"`` (``options`` are its loader's keywords, applied
    over the corpus's recipe :data:`CORPUS_PRESETS`) or a pickle file.

    A ``.pkl`` file is read as an MMSA pickle when its splits hold ``regression_labels``,
    otherwise as a MulT / MultiBench pickle. The dataset's ``source`` says how to load it again.
    """
    if str(spec) == "digits-av":
        from mmalign.data.digits_av import load_digits_av

        return load_digits_av(**options)
    if str(spec) == "digit-scenes":
        from mmalign.data.digit_scenes import load_digit_scenes

        return load_digit_scenes(**_digit_scenes_options(**options))
    check_data_spec(spec, **options)  # the folder / file and the options, before reading
    corpus = _corpus(spec)
    if corpus is not None:
        ds = CORPORA[corpus[0]](corpus[1], **{**corpus_preset(corpus[0]), **options})
        ds.source = data_record(spec, **options)
        return ds
    p = Path(spec)
    from mmalign.data.pickles import load_mmsa_pickle, load_mult_pickle, safe_load_pickle

    obj = safe_load_pickle(p)
    first = (
        next((v for v in obj.values() if isinstance(v, dict)), {}) if isinstance(obj, dict) else {}
    )
    if "regression_labels" in first:
        return load_mmsa_pickle(p)
    return load_mult_pickle(p)
