"""Options that suit a dataset: the training recipe, and each model's options (read from the
model registry). :func:`mmalign.train.fit` applies both; the CLI, the demo and the benchmarks
only call ``fit``."""

from __future__ import annotations

from typing import Any

__all__ = ["model_preset", "train_preset", "preset_name", "TRAIN_PRESETS", "DEFAULT_RECIPE"]

# The recipe when a dataset has none: MulT's (lr 1e-3, ReduceLROnPlateau).
DEFAULT_RECIPE: dict[str, Any] = {
    "lr": 1e-3,
    "weight_decay": 0.0,
    "lr_schedule": "plateau",
    "warmup_steps": 0,
    "max_epochs": 30,
    "objectives": ("label",),
    "pretrain_epochs": 0,
    "pretrain_weight_decay": 0.0,
    "mask_span": 1,
    "token_columns": {},
    "head_init": "default",
}

# digits-av's labels need a token to find its image: every model sits on a plateau at chance
# until it learns to recognise the digits. A higher rate with warm-up and a cosine decay leaves
# that plateau several times sooner than MulT's lr 1e-3 with ReduceLROnPlateau (with MulT on
# text + vision: 95 % validation accuracy after 15 epochs instead of ~80 % after 20).
TRAIN_PRESETS: dict[str, dict[str, Any]] = {
    # masked modelling: the text is one-hot digits (10 columns), and an image stays on screen
    # for 3 to 12 frames, so frames are masked 5 at a time (a lone frame is its neighbour)
    "digits-av": {
        "lr": 3e-3,
        "lr_schedule": "cosine",
        "warmup_steps": 200,
        "mask_span": 5,
        "token_columns": {"text": 10},
    },
    # the grounding model's recipe from before it trained with fit (Adam at 3e-3, constant)
    "digit-scenes": {"lr": 3e-3, "lr_schedule": "constant", "warmup_steps": 0},
    # the real corpora (benchmarks/real_train.py): a few hundred recordings, batches of 16
    "utd-mhad": {"lr": 2e-3, "lr_schedule": "cosine", "warmup_steps": 50},
    "avletters": {"lr": 2e-3, "lr_schedule": "cosine", "warmup_steps": 50},
}


def preset_name(dataset: Any) -> str:
    """The name presets are looked up by: ``dataset.name``, plus ``/label`` when its source
    names a label (``"digits-av/ink_pair"``), so that a label may have presets of its own."""
    source = getattr(dataset, "source", None) or {}
    label = (source.get("options") or {}).get("label") if isinstance(source, dict) else None
    return f"{dataset.name}/{label}" if label else str(dataset.name)


def _layers(name: str) -> list[str]:
    """``"digits-av/ink_pair"`` -> ``["digits-av", "digits-av/ink_pair"]``: the dataset's
    presets, then its label's over them."""
    base = name.split("/", 1)[0]
    return [base] if base == name else [base, name]


def train_preset(dataset_name: str, model: str | None = None) -> dict[str, Any]:
    """The training recipe (``lr``, ``weight_decay``, ``lr_schedule``, ``warmup_steps``,
    ``max_epochs``, ``objectives``, ``pretrain_epochs``, ``pretrain_weight_decay``,
    ``mask_span``, ``token_columns``, ``head_init``) for ``dataset_name`` (a dataset, or
    ``dataset/label``, :func:`preset_name`): :data:`DEFAULT_RECIPE`, under the dataset's preset
    (:data:`TRAIN_PRESETS`), under the model's own recipe for it (``ModelSpec.recipes`` in the
    model registry), then the same for the label.
    """
    from mmalign.implicit.registry import MODELS

    recipe = dict(DEFAULT_RECIPE)
    for key in _layers(dataset_name):
        recipe.update(TRAIN_PRESETS.get(key, {}))
        if model is not None and model in MODELS:
            recipe.update(MODELS[model].recipes.get(key, {}))
    return recipe


def model_preset(model: str, dataset_name: str) -> dict[str, Any]:
    """Model options for ``model`` on ``dataset_name`` (a dataset, or ``dataset/label``) from
    the registry: the dataset's, under the label's (empty: the model's own defaults)."""
    from mmalign.implicit.registry import MODELS, config_class

    config_class(model)  # unknown names raise, listing the valid ones
    out: dict[str, Any] = {}
    for key in _layers(dataset_name):
        out.update(MODELS[model].presets.get(key, {}))
    return out
