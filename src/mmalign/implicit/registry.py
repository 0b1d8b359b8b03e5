"""Model registry: ``build_model`` and ``from_pretrained`` over every implicit model."""

from __future__ import annotations

import dataclasses
import importlib
import os
from typing import Any

from torch import nn

from mmalign.implicit.config import MODEL_NAMES, config_class

__all__ = ["MODEL_NAMES", "MODEL_CLASSES", "build_model", "from_pretrained"]

# model name -> "module:Class"; resolved lazily so that building one model imports one file
_CLASS_PATHS = {
    "mult": "mmalign.implicit.mult:MulT",
    "early-fusion": "mmalign.implicit.early_fusion:EarlyFusionTransformer",
    "coattention": "mmalign.implicit.coattention:CoAttentionTransformer",
    "lxmert": "mmalign.implicit.lxmert:LXMERT",
    "mtag": "mmalign.implicit.mtag:MTAG",
}


class _ClassMap(dict):
    def __missing__(self, name: str) -> type[nn.Module]:
        config_class(name)  # raises the ValueError listing the valid names
        module, cls = _CLASS_PATHS[name].split(":")
        value = getattr(importlib.import_module(module), cls)
        self[name] = value
        return value


MODEL_CLASSES: dict[str, type[nn.Module]] = _ClassMap()


def build_model(
    name: str, input_dims: dict[str, int], n_outputs: int, **overrides: Any
) -> nn.Module:
    """Build model ``name`` from its config defaults plus ``overrides``.

    Parameters
    ----------
    name : {"mult", "early-fusion", "coattention", "lxmert", "mtag"}
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


def from_pretrained(directory: str | os.PathLike, *, map_location: str = "cpu") -> nn.Module:
    """Rebuild any model written by ``save_pretrained`` (in eval mode)."""
    from mmalign.implicit._common import load_pretrained

    return load_pretrained(directory, map_location=map_location)
