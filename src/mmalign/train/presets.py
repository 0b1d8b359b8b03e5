"""Options that suit a dataset: the training recipe, and each model's options (read from the
model registry). :func:`mmalign.train.fit` applies both; the CLI, the demo and the benchmarks
only call ``fit``."""

from __future__ import annotations

from typing import Any

__all__ = ["model_preset", "train_preset", "TRAIN_PRESETS", "DEFAULT_RECIPE"]

# The recipe when a dataset has none: MulT's (lr 1e-3, ReduceLROnPlateau).
DEFAULT_RECIPE: dict[str, Any] = {
    "lr": 1e-3,
    "lr_schedule": "plateau",
    "warmup_steps": 0,
    "max_epochs": 30,
    "objectives": ("label",),
    "pretrain_epochs": 0,
    "mask_span": 1,
    "token_columns": {},
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


def train_preset(dataset_name: str, model: str | None = None) -> dict[str, Any]:
    """The training recipe (``lr``, ``lr_schedule``, ``warmup_steps``, ``max_epochs``,
    ``objectives``, ``pretrain_epochs``, ``mask_span``, ``token_columns``) for ``dataset_name``:
    :data:`DEFAULT_RECIPE`, under the dataset's preset (:data:`TRAIN_PRESETS`), under the
    model's own recipe for that dataset (``ModelSpec.recipes`` in the model registry)."""
    recipe = {**DEFAULT_RECIPE, **TRAIN_PRESETS.get(dataset_name, {})}
    if model is not None:
        from mmalign.implicit.registry import MODELS

        if model in MODELS:
            recipe.update(MODELS[model].recipes.get(dataset_name, {}))
    return recipe


def model_preset(model: str, dataset_name: str) -> dict[str, Any]:
    """Model options for ``model`` on ``dataset_name`` from the registry (empty: the model's
    own defaults)."""
    from mmalign.implicit.registry import MODELS, config_class

    config_class(model)  # unknown names raise, listing the valid ones
    return dict(MODELS[model].presets.get(dataset_name, {}))
