"""The model registry: one entry per model, read by ``build_model``, the CLI, the training
presets, the benchmarks and the docs. Imports no torch.

Adding a model: write its file (the ``nn.Module``) and its config dataclass
(:mod:`mmalign.implicit.config`), then add one :class:`ModelSpec` to ``_SPECS`` below.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from dataclasses import dataclass, field
from typing import Any

from mmalign.implicit.config import (
    CoAttentionConfig,
    EarlyFusionConfig,
    LXMERTConfig,
    ModelConfig,
    MTAGConfig,
    MulTConfig,
)

__all__ = [
    "ModelSpec",
    "MODELS",
    "MODEL_NAMES",
    "CONFIG_CLASSES",
    "MODEL_CLASSES",
    "config_class",
    "build_model",
    "from_pretrained",
]


@dataclass(frozen=True)
class ModelSpec:
    """Everything the package needs to know about one model.

    Attributes
    ----------
    name : str
        The name used by ``build_model``, ``TrainConfig.model`` and ``mmalign train --model``.
    config : type
        Its config dataclass.
    model : str
        ``"module:Class"`` of its ``nn.Module`` (imported on first use).
    summary : str
        One line for the CLI help and the docs.
    presets : dict of str to dict
        Dataset name -> model options that suit it (e.g. small widths for digits-av on a CPU);
        :func:`mmalign.train.fit` applies them under the user's options.
    """

    name: str
    config: type[ModelConfig]
    model: str
    summary: str
    presets: dict[str, dict[str, Any]] = field(default_factory=dict)


#: Model options on the real corpora (UTD-MHAD, AVLetters): the small widths that train in
#: minutes on one CPU thread, with dropout 0.3 (LXMERT on UTD-MHAD, seed 0: 86 % -> 90 %; the
#: other models take the same value, unmeasured one by one).
_REAL: dict[str, dict[str, Any]] = {
    "mult": {
        "d_model": 32,
        "n_heads": 4,
        "n_layers": 2,
        "n_mem_layers": 1,
        "embed_dropout": 0.1,
        "attn_dropout": 0.0,
        "res_dropout": 0.3,
        "relu_dropout": 0.3,
    },
    "early-fusion": {"d_model": 32, "n_heads": 4, "n_layers": 2, "dropout": 0.3},
    "coattention": {
        "d_model": 32,
        "n_heads": 4,
        "n_self_layers": 1,
        "n_coattn_layers": 2,
        "dropout": 0.3,
    },
    "lxmert": {
        "d_model": 32,
        "n_heads": 4,
        "n_self_layers": 1,
        "n_cross_layers": 2,
        "dropout": 0.3,
    },
    "mtag": {"d_model": 32, "n_heads": 4, "n_layers": 2, "dropout": 0.3},
}

_SPECS = (
    ModelSpec(
        "mult",
        MulTConfig,
        "mmalign.implicit.mult:MulT",
        "MulT: pairwise cross-modal Transformers (Tsai et al., ACL 2019)",
        {
            "digits-av": {
                "d_model": 32,
                "n_heads": 4,
                "n_layers": 2,
                "n_mem_layers": 1,
                "embed_dropout": 0.1,
                "attn_dropout": 0.0,
            },
            # real recordings (benchmarks/real_train.py, README): small widths, dropout 0.3
            "utd-mhad": _REAL["mult"],
            "avletters": _REAL["mult"],
        },
    ),
    ModelSpec(
        "early-fusion",
        EarlyFusionConfig,
        "mmalign.implicit.early_fusion:EarlyFusionTransformer",
        "single-stream early fusion, VisualBERT-style (Li et al., 2019)",
        # small-data layout on digits-av (README, benchmark): sinusoidal positions against
        # sqrt(d)-scaled content, the last steps read out; 73 % vs 23 % on text_vision
        {
            "digits-av": {
                "d_model": 32,
                "n_heads": 4,
                "n_layers": 2,
                "positions": "sinusoidal",
                "pooling": "last",
            },
            # real recordings (benchmarks/real_train.py, README): small widths, dropout 0.3
            "utd-mhad": _REAL["early-fusion"],
            "avletters": _REAL["early-fusion"],
        },
    ),
    ModelSpec(
        "coattention",
        CoAttentionConfig,
        "mmalign.implicit.coattention:CoAttentionTransformer",
        "two-stream co-attention, ViLBERT-style (Lu et al., NeurIPS 2019)",
        # small-data layout on digits-av: MulT's (pre-LN, sqrt(d)-scaled content against
        # sinusoidal positions, last steps read out); 86 % vs 22 % with the paper's on text_vision
        {
            "digits-av": {
                "d_model": 32,
                "n_heads": 4,
                "n_self_layers": 1,
                "n_coattn_layers": 2,
                "norm_first": True,
                "positions": "sinusoidal",
                "pooling": "last",
            },
            # real recordings (benchmarks/real_train.py, README): small widths, dropout 0.3
            "utd-mhad": _REAL["coattention"],
            "avletters": _REAL["coattention"],
        },
    ),
    ModelSpec(
        "lxmert",
        LXMERTConfig,
        "mmalign.implicit.lxmert:LXMERT",
        "cross-modality encoder, LXMERT-style (Tan & Bansal, EMNLP 2019)",
        # small-data layout on digits-av, as for co-attention: 79 % vs 24 % on text_vision
        {
            "digits-av": {
                "d_model": 32,
                "n_heads": 4,
                "n_self_layers": 1,
                "n_cross_layers": 2,
                "norm_first": True,
                "positions": "sinusoidal",
                "pooling": "last",
            },
            # real recordings (benchmarks/real_train.py, README): small widths, dropout 0.3
            "utd-mhad": _REAL["lxmert"],
            "avletters": _REAL["lxmert"],
        },
    ),
    ModelSpec(
        "mtag",
        MTAGConfig,
        "mmalign.implicit.mtag:MTAG",
        "MTAG: modal-temporal attention graph (Yang et al., NAACL 2021)",
        # small-data layout on digits-av (README): the last text and video nodes read out, a
        # content-dependent (dot-product) term in the graph attention, residual pre-LN layers
        # with sqrt(d)-scaled content against the sinusoidal positions, a 32-unit head and no
        # edge pruning; on text_vision 56 % vs 23 % with the paper's layout (1,000 samples),
        # 87.5 % over three seeds at 2,000 samples and 30 epochs
        {
            "digits-av": {
                "d_model": 32,
                "n_heads": 4,
                "n_layers": 2,
                "pooling": "last",
                "attention": "dot",
                "residual": True,
                "norm_first": True,
                "content_scale": True,
                "head_hidden": 32,
                "keep_ratio": 1.0,
            },
            # real recordings (benchmarks/real_train.py, README): small widths, dropout 0.3
            "utd-mhad": _REAL["mtag"],
            "avletters": _REAL["mtag"],
        },
    ),
)

MODELS: dict[str, ModelSpec] = {spec.name: spec for spec in _SPECS}
MODEL_NAMES: tuple[str, ...] = tuple(MODELS)
CONFIG_CLASSES: dict[str, type[ModelConfig]] = {n: s.config for n, s in MODELS.items()}


def config_class(name: str) -> type[ModelConfig]:
    """The config dataclass of model ``name``; unknown names raise ValueError."""
    if name not in MODELS:
        raise ValueError(f"Unknown model {name!r}; valid models are: {', '.join(MODEL_NAMES)}.")
    return MODELS[name].config


class _ClassMap(dict):
    """Model name -> its ``nn.Module`` class, imported on first use (one file per model)."""

    def __missing__(self, name: str):
        config_class(name)  # raises the ValueError listing the valid names
        module, cls = MODELS[name].model.split(":")
        value = getattr(importlib.import_module(module), cls)
        self[name] = value
        return value


MODEL_CLASSES = _ClassMap()


def build_model(name: str, input_dims: dict[str, int], n_outputs: int, **overrides: Any):
    """Build model ``name`` from its config defaults plus ``overrides``.

    Parameters
    ----------
    name : str
        One of ``MODEL_NAMES`` (see ``MODELS`` for what each is).
    input_dims : dict of str to int
        Modality name -> feature dim (insertion order = modality order).
    n_outputs : int
    **overrides
        Any other field of the model's config dataclass.

    Raises
    ------
    ValueError
        For an unknown name or an unknown override key (the message lists the valid ones).

    Examples
    --------
    >>> from mmalign.implicit import build_model
    >>> model = build_model("mult", {"text": 300, "audio": 74, "vision": 35}, 1)
    >>> sum(p.numel() for p in model.parameters())
    1073731
    """
    cls = config_class(name)
    valid = [f.name for f in dataclasses.fields(cls) if f.name not in ("input_dims", "n_outputs")]
    unknown = sorted(set(overrides) - set(valid))
    if unknown:
        raise ValueError(
            f"Unknown {cls.__name__} options {unknown} for model {name!r}; valid options are: "
            f"{', '.join(valid)}."
        )
    config = cls(input_dims=dict(input_dims), n_outputs=n_outputs, **overrides)
    return MODEL_CLASSES[name](config)


def from_pretrained(directory: str | os.PathLike, *, map_location: str = "cpu"):
    """Rebuild any model written by ``save_pretrained`` (in eval mode)."""
    from mmalign.implicit._common import load_pretrained

    return load_pretrained(directory, map_location=map_location)
