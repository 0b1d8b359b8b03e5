"""mmalign: multimodal alignment, explicit and implicit.

Subpackages
-----------
explicit
    Alignment on arrays: the DTW family, soft-DTW, canonical time warping, optimal transport.
speech
    Word and phone timestamps for a transcript in an audio file.
implicit
    Torch models that learn cross-modal alignment (MulT, early fusion, co-attention, LXMERT, MTAG).
data
    Dataset readers and the built-in benchmarks with exact ground truth.
train
    Training and evaluation on PyTorch Lightning.
connections
    Measuring equivalence, correspondence and dependency between modalities.
"""

__version__ = "0.1.0"
