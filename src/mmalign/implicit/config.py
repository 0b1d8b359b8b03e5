"""The base of every implicit model's config, and the checks the configs share (no torch).

Each model's own config dataclass sits at the top of its model file (``MulTConfig`` in
:mod:`mmalign.implicit.mult`, ...), next to the module it configures, so that a model is added
in one file plus one registry entry (:mod:`mmalign.implicit.registry`). Every config has
``input_dims`` (modality name -> feature dimension; insertion order is the modality order) and
``n_outputs``; the other fields are documented with their defaults. Configs round-trip through
JSON with :meth:`ModelConfig.to_dict` and :meth:`ModelConfig.from_dict`, which rejects unknown
keys.

The model configs stay importable from here (``from mmalign.implicit.config import MulTConfig``,
as before they moved); that import loads the model's file, and with it torch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from mmalign._utils import check_option

__all__ = [
    "ModelConfig",
    "check_positive_int",
    "check_rate",
    "check_bool",
    "check_per_modality",
    "check_width",
    "check_bert",
    "check_self_layers",
]

FloatOrMap = float | dict[str, float]
IntOrMap = int | dict[str, int]


def check_positive_int(value: Any, name: str, *, minimum: int = 1) -> None:
    """Raise ValueError naming ``name`` unless ``value`` is an int >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}.")


def check_rate(value: Any, name: str) -> None:
    """Raise ValueError naming ``name`` unless ``value`` is a rate in [0, 1) (a dropout)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be a float in [0, 1), got {value!r}.")


def check_per_modality(value: Any, name: str, modalities: list[str], check) -> None:
    """Check a value that is either one scalar or a dict modality -> scalar."""
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(modalities))
        if unknown:
            raise ValueError(
                f"{name} names unknown modalities {unknown}; the modalities are {modalities} "
                f"(from input_dims)."
            )
        for key, item in value.items():
            check(item, f"{name}[{key!r}]")
    else:
        check(value, name)


@dataclass
class ModelConfig:
    """Fields shared by every model.

    Parameters
    ----------
    input_dims : dict of str to int
        Modality name -> feature dimension ``D_m``; insertion order is the modality order
        (at least 2 modalities).
    n_outputs : int, default 1
        Width of the prediction head (1 for MOSI / MOSEI regression, 8 for IEMOCAP 4x2).
    """

    model_name: ClassVar[str] = ""

    input_dims: dict[str, int]
    n_outputs: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.input_dims, dict) or len(self.input_dims) < 2:
            raise ValueError(
                f"input_dims must be a dict modality name -> feature dim with at least 2 "
                f"modalities, got {self.input_dims!r}; e.g. {{'text': 300, 'audio': 74}}."
            )
        for key, dim in self.input_dims.items():
            if not isinstance(key, str) or not key or "." in key or key == "default":
                raise ValueError(
                    f"input_dims keys must be non-empty strings without '.' (and not 'default'), "
                    f"got {key!r}; rename the modality."
                )
            check_positive_int(dim, f"input_dims[{key!r}]")
        check_positive_int(self.n_outputs, "n_outputs")
        self._validate()

    def _validate(self) -> None:  # model-specific checks
        pass

    @property
    def modalities(self) -> list[str]:
        """Modality names in order."""
        return list(self.input_dims)

    def per_modality(self, name: str, modality: str) -> Any:
        """Resolve the scalar-or-dict field ``name`` for one modality.

        A dict maps modality -> value; a missing modality takes the dict's ``"default"`` entry,
        else the field's declared default.
        """
        value = getattr(self, name)
        if not isinstance(value, dict):
            return value
        if modality in value:
            return value[modality]
        if "default" in value:
            return value["default"]
        declared = {f.name: f for f in dataclasses.fields(self)}[name]
        if declared.default is not dataclasses.MISSING and not isinstance(declared.default, dict):
            return declared.default
        return None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of the fields."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Build a config from a dict; unknown keys raise ValueError listing the valid ones."""
        if not isinstance(data, dict):
            raise TypeError(f"config data must be a dict, got {type(data).__name__}.")
        valid = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(data) - set(valid))
        if unknown:
            raise ValueError(
                f"Unknown {cls.__name__} fields {unknown}; valid fields are: {', '.join(valid)}."
            )
        return cls(**data)


POOLINGS = ("cls", "mean", "last", "last-mean")
POSITIONS = ("learned", "sinusoidal")


def check_bert(cfg: Any) -> None:
    """Checks of the fields every BERT-family config has."""
    check_width(cfg)
    check_positive_int(cfg.ff_mult, "ff_mult")
    check_rate(cfg.dropout, "dropout")
    check_rate(cfg.attn_dropout, "attn_dropout")
    check_option(cfg.positions, "positions", POSITIONS)
    check_positive_int(cfg.max_positions, "max_positions")
    check_bool(cfg.norm_first, "norm_first")
    check_option(cfg.pooling, "pooling", POOLINGS)
    check_kernel_sizes(cfg)


def check_kernel_sizes(cfg: Any) -> None:
    """``kernel_sizes``: odd ints >= 1, one or one per modality (odd keeps every length)."""

    def odd(value: Any, name: str) -> None:
        check_positive_int(value, name)
        if value % 2 == 0:
            raise ValueError(f"{name} must be odd so that lengths are kept, got {value}.")

    check_per_modality(cfg.kernel_sizes, "kernel_sizes", cfg.modalities + ["default"], odd)


def check_width(cfg: Any) -> None:
    """``d_model`` and ``n_heads`` positive, and the heads dividing the width."""
    check_positive_int(cfg.d_model, "d_model")
    check_positive_int(cfg.n_heads, "n_heads")
    if cfg.d_model % cfg.n_heads:
        raise ValueError(
            f"n_heads ({cfg.n_heads}) must divide d_model ({cfg.d_model}); change one of them."
        )


def check_self_layers(cfg: Any) -> None:
    """``n_self_layers``: an int >= 0, or one per modality."""
    check_per_modality(
        cfg.n_self_layers,
        "n_self_layers",
        cfg.modalities + ["default"],
        lambda v, n: check_positive_int(v, n, minimum=0),
    )


def check_bool(value: Any, name: str) -> None:
    """Raise ValueError naming ``name`` unless ``value`` is True or False."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}.")


# Names that used to live here; answered from the registry (model configs: from their files).
_FROM_REGISTRY = ("MODEL_NAMES", "CONFIG_CLASSES", "config_class")


def __getattr__(name: str) -> Any:
    from mmalign.implicit import registry

    if name in _FROM_REGISTRY:
        return getattr(registry, name)
    for spec in registry.MODELS.values():
        if spec.config_name == name:
            return spec.config
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
