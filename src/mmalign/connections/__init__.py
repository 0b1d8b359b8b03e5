"""Cross-modal connections made measurable on paired data.

* equivalence and correspondence: :func:`retrieval_metrics` (Recall@k, median rank, with a
  permutation baseline) on a :func:`similarity_matrix`;
* dependency in time: :func:`cross_correlation_lag` and :func:`dtw_lag` (the lag between two
  streams);
* dependency between discrete events: :func:`cooccurrence` (PMI with Fisher / chi-square tests);
* all of them on the streams of digits-av against its ground truth: :func:`stream_connections`;
* word-region correspondence learned from image-caption pairs only (digit-scenes): the model is
  ``grounding`` of :mod:`mmalign.implicit`, trained by :func:`mmalign.train.fit`; here are
  its read-outs, :func:`embed_scenes`, :func:`align_words` (attention / OT / assignment) and
  :func:`pointing_accuracy` (:func:`train_grounding`, the former training function, is
  deprecated).

``mmalign connections`` runs them on digits-av (or on your own ``.npz`` streams). Torch is
imported only by the grounding functions that need it.
"""

from mmalign.connections.cooccurrence import Cooccurrence, cooccurrence
from mmalign.connections.grounding import (
    GroundingConfig,
    PointingResult,
    align_words,
    embed_scenes,
    pointing_accuracy,
    train_grounding,
)
from mmalign.connections.lag import (
    LagEstimate,
    OffsetDistribution,
    cross_correlation_lag,
    dtw_lag,
    resample_stream,
)
from mmalign.connections.retrieval import RetrievalResult, retrieval_metrics, similarity_matrix
from mmalign.connections.streams import SampleLags, StreamConnections, stream_connections

__all__ = [
    "Cooccurrence",
    "GroundingConfig",
    "PointingResult",
    "SampleLags",
    "StreamConnections",
    "align_words",
    "embed_scenes",
    "pointing_accuracy",
    "stream_connections",
    "train_grounding",
    "LagEstimate",
    "OffsetDistribution",
    "RetrievalResult",
    "cooccurrence",
    "cross_correlation_lag",
    "dtw_lag",
    "resample_stream",
    "retrieval_metrics",
    "similarity_matrix",
]
