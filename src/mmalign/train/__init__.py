"""Training and evaluation on PyTorch Lightning.

:func:`fit` trains any :mod:`mmalign.implicit` model on any :class:`mmalign.data.MultimodalDataset`
through one generic LightningModule (:class:`MultimodalModule`), on the labels and/or the
pre-training objectives of :mod:`mmalign.train.objectives` (cross-modal matching, masked
multimodal modelling); :func:`evaluate` scores a checkpoint, including the alignment accuracy of
the attention maps where ground truth exists.
Metrics follow the field's conventions (:mod:`mmalign.train.metrics`). Public names are imported
lazily so ``import mmalign.train`` does not load torch.
"""

from __future__ import annotations

from mmalign._utils import lazy_exports

_EXPORTS: dict[str, str] = {
    "TrainConfig": "mmalign.train.trainer",
    "TrainResult": "mmalign.train.trainer",
    "EvalResult": "mmalign.train.trainer",
    "fit": "mmalign.train.trainer",
    "evaluate": "mmalign.train.trainer",
    "load_pretrained": "mmalign.train.trainer",
    "OBJECTIVES": "mmalign.train.objectives",
    "write_metrics": "mmalign.train.trainer",
    "plot_attention_examples": "mmalign.train.trainer",
    "MultimodalModule": "mmalign.train.module",
    "MultimodalDataModule": "mmalign.train.module",
    "SentimentMetrics": "mmalign.train.metrics",
    "ClassificationMetrics": "mmalign.train.metrics",
    "sentiment_metrics": "mmalign.train.metrics",
    "classification_metrics": "mmalign.train.metrics",
    "multilabel_metrics": "mmalign.train.metrics",
    "model_preset": "mmalign.train.presets",
    "late_fusion": "mmalign.train.fusion",
    "choose_stream_weights": "mmalign.train.fusion",
    "StreamWeights": "mmalign.train.fusion",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
