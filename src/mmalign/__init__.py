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

The subpackages are imported on first access (``mmalign.explicit``), so ``import mmalign`` stays
cheap: nothing heavy (torch, librosa, numba) loads until something that needs it is used.
"""

__version__ = "0.1.0"

__all__ = ["connections", "data", "explicit", "implicit", "speech", "train"]


def __getattr__(name: str):  # noqa: ANN202 - PEP 562
    if name in __all__:
        import importlib

        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():  # noqa: ANN202 - PEP 562
    return sorted(set(globals()) | set(__all__))
