"""Dataset readers and the built-in benchmark with exact ground truth.

* :func:`load_mult_pickle`, :func:`load_mmsa_pickle`, :func:`save_mult_pickle` -- the pickled
  releases of CMU-MOSI / MOSEI / IEMOCAP (MulT, MultiBench, MMSA layouts), read through a
  restricted unpickler (:func:`safe_load_pickle`).
* :func:`read_csd`, :func:`write_csd`, :func:`align_sequences` -- CMU Multimodal SDK
  computational sequences and its word-level alignment.
* :func:`load_digits_av` -- digits-av, unaligned audio / vision / text with exact ground truth
  (:func:`true_intervals`).
* :func:`load_avletters`, :func:`load_utd_mhad` -- two real corpora recorded in sync
  (audio-visual speech; inertial + skeleton motion), read from the user's folder, with the time
  stamp of every frame (:func:`sync_intervals` gives the true cross-modal correspondence).

Every reader returns a :class:`MultimodalDataset` of RIGHT-padded arrays with lengths.
"""

from __future__ import annotations

from mmalign._utils import lazy_exports

_EXPORTS: dict[str, str] = {
    "MultimodalDataset": "mmalign.data._types",
    "MultimodalSplit": "mmalign.data._types",
    "left_to_right_padding": "mmalign.data._types",
    "UnsafePickleError": "mmalign.data.pickles",
    "CorruptPickleError": "mmalign.data.pickles",
    "safe_load_pickle": "mmalign.data.pickles",
    "load_mult_pickle": "mmalign.data.pickles",
    "load_mmsa_pickle": "mmalign.data.pickles",
    "save_mult_pickle": "mmalign.data.pickles",
    "ComputationalSequence": "mmalign.data.csd",
    "read_csd": "mmalign.data.csd",
    "write_csd": "mmalign.data.csd",
    "align_sequences": "mmalign.data.csd",
    "DigitsAVConfig": "mmalign.data.digits_av",
    "DIGITS_AV_LABELS": "mmalign.data.digits_av",
    "load_digits_av": "mmalign.data.digits_av",
    "generate_digits_av": "mmalign.data.digits_av",
    "true_intervals": "mmalign.data.digits_av",
    "text_words": "mmalign.data.digits_av",
    "default_cache_dir": "mmalign.data.digits_av",
    "load_digit_scenes": "mmalign.data.digit_scenes",
    "load_dataset": "mmalign.data._load",
    "check_data_spec": "mmalign.data._load",
    "data_record": "mmalign.data._load",
    "CORPUS_PRESETS": "mmalign.data._load",
    "corpus_preset": "mmalign.data._load",
    "load_avletters": "mmalign.data.avletters",
    "read_htk": "mmalign.data.avletters",
    "eigenlips": "mmalign.data.avletters",
    "AvlettersAugment": "mmalign.data.avletters",
    "load_utd_mhad": "mmalign.data.utd_mhad",
    "read_utd_mhad_trials": "mmalign.data.utd_mhad",
    "UTD_MHAD_ACTIONS": "mmalign.data.utd_mhad",
    "UtdMhadAugment": "mmalign.data.utd_mhad",
    "sync_intervals": "mmalign.data._recordings",
    "frame_times": "mmalign.data._recordings",
    "resample": "mmalign.data._recordings",
    "random_time_warp": "mmalign.data._recordings",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
