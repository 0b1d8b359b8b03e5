"""Implicit alignment: torch models that learn cross-modal alignment in their attention.

Models, one file each with its config dataclass at the top: MulT, EarlyFusionTransformer
(VisualBERT-style), CoAttentionTransformer (ViLBERT-style), LXMERT, MTAG, and the weakly
supervised word-region GroundingModel. :data:`MODELS` (the registry) lists them; build one by
name with :func:`build_model`; read alignments back out of their attention maps with
:func:`attention_alignment`, score them with :func:`alignment_accuracy` and draw them with
:func:`plot_alignment`. Public names are imported lazily (PEP 562), so ``import
mmalign.implicit`` does not load torch; a model or its config loads its file, and torch.
"""

from __future__ import annotations

from typing import Any

from mmalign._utils import lazy_exports
from mmalign.implicit import registry as _registry

_EXPORTS: dict[str, str] = {
    "ModelConfig": "mmalign.implicit.config",
    # the registry
    "MODELS": "mmalign.implicit.registry",
    "CONFIG_CLASSES": "mmalign.implicit.registry",
    "ModelSpec": "mmalign.implicit.registry",
    "build_model": "mmalign.implicit.registry",
    "from_pretrained": "mmalign.implicit.registry",
    "register": "mmalign.implicit.registry",
    # outputs
    "ModelOutput": "mmalign.implicit.outputs",
    # alignment read-out
    "AttentionAlignment": "mmalign.implicit.alignment",
    "AlignmentScore": "mmalign.implicit.alignment",
    "attention_alignment": "mmalign.implicit.alignment",
    "alignment_accuracy": "mmalign.implicit.alignment",
    "plot_alignment": "mmalign.implicit.alignment",
}
# every model of the registry and its config, from the registry's entries (nothing to list here)
for _spec in _registry.MODELS.values():
    _EXPORTS[_spec.class_name] = _spec.module
    _EXPORTS[_spec.config_name] = _spec.module

__all__ = sorted([*_EXPORTS, "MODEL_NAMES"])


_getattr, __dir__ = lazy_exports(__name__, _EXPORTS, globals())


def __getattr__(name: str) -> Any:
    if name == "MODEL_NAMES":  # the registry's current names (not cached: register adds to them)
        return _registry.MODEL_NAMES
    return _getattr(name)
