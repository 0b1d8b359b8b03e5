"""Implicit alignment: torch models that learn cross-modal alignment in their attention.

Models (one config dataclass each, in :mod:`mmalign.implicit.config`, which imports no torch):
MulT, EarlyFusionTransformer (VisualBERT-style), CoAttentionTransformer (ViLBERT-style),
LXMERT, MTAG. Build them by name with :func:`build_model`; read alignments back out of their
attention maps with :func:`attention_alignment`, score them with :func:`alignment_accuracy`
and draw them with :func:`plot_alignment`. Public names are imported lazily (PEP 562), so
``import mmalign.implicit`` does not load torch.
"""

from __future__ import annotations

from mmalign._utils import lazy_exports
from mmalign.implicit.registry import MODEL_NAMES as MODEL_NAMES

_EXPORTS: dict[str, str] = {
    # configs (no torch)
    "ModelConfig": "mmalign.implicit.config",
    "MulTConfig": "mmalign.implicit.config",
    "EarlyFusionConfig": "mmalign.implicit.config",
    "CoAttentionConfig": "mmalign.implicit.config",
    "LXMERTConfig": "mmalign.implicit.config",
    "MTAGConfig": "mmalign.implicit.config",
    "CONFIG_CLASSES": "mmalign.implicit.registry",
    "MODELS": "mmalign.implicit.registry",
    "ModelSpec": "mmalign.implicit.registry",
    # outputs and registry
    "ModelOutput": "mmalign.implicit.outputs",
    "build_model": "mmalign.implicit.registry",
    "from_pretrained": "mmalign.implicit.registry",
    # models
    "MulT": "mmalign.implicit.mult",
    "EarlyFusionTransformer": "mmalign.implicit.early_fusion",
    "CoAttentionTransformer": "mmalign.implicit.coattention",
    "LXMERT": "mmalign.implicit.lxmert",
    "MTAG": "mmalign.implicit.mtag",
    # alignment read-out
    "AttentionAlignment": "mmalign.implicit.alignment",
    "AlignmentScore": "mmalign.implicit.alignment",
    "attention_alignment": "mmalign.implicit.alignment",
    "alignment_accuracy": "mmalign.implicit.alignment",
    "plot_alignment": "mmalign.implicit.alignment",
}

__all__ = sorted([*_EXPORTS, "MODEL_NAMES"])


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
