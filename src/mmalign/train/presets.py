"""Model options that suit a dataset (small models for digits-av on a CPU)."""

from __future__ import annotations

from typing import Any

__all__ = ["model_preset", "DIGITS_AV_PRESETS"]

# Sized so that every model trains on digits-av in minutes on 2 CPU cores; any of these can be
# overridden with --set KEY=VALUE.
DIGITS_AV_PRESETS: dict[str, dict[str, Any]] = {
    "mult": {
        "d_model": 32,
        "n_heads": 4,
        "n_layers": 2,
        "n_mem_layers": 1,
        "embed_dropout": 0.1,
        "attn_dropout": 0.0,
    },
    "early-fusion": {"d_model": 32, "n_heads": 4, "n_layers": 2},
    "coattention": {"d_model": 32, "n_heads": 4, "n_self_layers": 1, "n_coattn_layers": 2},
    "lxmert": {"d_model": 32, "n_heads": 4, "n_self_layers": 1, "n_cross_layers": 2},
    "mtag": {"d_model": 32, "n_heads": 4, "n_layers": 2},
}


def model_preset(model: str, dataset_name: str) -> dict[str, Any]:
    """Default model options for ``model`` on ``dataset_name`` (empty: the model's own)."""
    if dataset_name == "digits-av":
        return dict(DIGITS_AV_PRESETS.get(model, {}))
    return {}
