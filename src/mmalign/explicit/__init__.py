"""Explicit alignment on arrays: recover the connections themselves.

Sequence to sequence (the DTW family, soft-DTW, canonical time warping, DBA) and set to set
(optimal transport, assignment). Public names are imported lazily (PEP 562) so that
``import mmalign.explicit`` stays fast and loads torch only when a torch loss is used. The
implementations live in private modules (``_dtw``, ``_soft_dtw``, ``_ctw``, ``_dba``) so that no
submodule import can shadow a function of the same name.
"""

from __future__ import annotations

from mmalign._utils import lazy_exports

# public name -> private module that defines it. Each block belongs to one module.
_EXPORTS: dict[str, str] = {
    # DTW core (_dtw.py, numba kernels in _kernels.py)
    "Alignment": "mmalign.explicit._dtw",
    "dtw": "mmalign.explicit._dtw",
    "dtw_path": "mmalign.explicit._dtw",
    "dtw_path_from_cost": "mmalign.explicit._dtw",
    "cost_matrix": "mmalign.explicit._dtw",
    "STEP_PATTERNS": "mmalign.explicit._dtw",
    "StepPattern": "mmalign.explicit._dtw",
    "sakoe_chiba_mask": "mmalign.explicit._dtw",
    "itakura_mask": "mmalign.explicit._dtw",
    "SubsequenceMatch": "mmalign.explicit._dtw",
    "subsequence_dtw": "mmalign.explicit._dtw",
    "cdist_dtw": "mmalign.explicit._dtw",
    # soft-DTW (_soft_dtw.py; the torch loss in soft_dtw_torch.py)
    "SoftDTWResult": "mmalign.explicit._soft_dtw",
    "soft_dtw": "mmalign.explicit._soft_dtw",
    "soft_dtw_alignment": "mmalign.explicit._soft_dtw",
    "soft_dtw_divergence": "mmalign.explicit._soft_dtw",
    "soft_dtw_grad": "mmalign.explicit._soft_dtw",
    "SoftDTWLoss": "mmalign.explicit.soft_dtw_torch",
    "soft_dtw_batch": "mmalign.explicit.soft_dtw_torch",
    # canonical time warping and DTW barycenter averaging (_ctw.py, _dba.py)
    "CTWResult": "mmalign.explicit._ctw",
    "ctw": "mmalign.explicit._ctw",
    "GCTWResult": "mmalign.explicit._ctw",
    "gctw": "mmalign.explicit._ctw",
    "dba": "mmalign.explicit._dba",
    "DBAResult": "mmalign.explicit._dba",
    # set to set (ot.py; the torch loss in ot_torch.py)
    "OTAlignment": "mmalign.explicit.ot",
    "ot_align": "mmalign.explicit.ot",
    "Assignment": "mmalign.explicit.ot",
    "assign": "mmalign.explicit.ot",
    "pairwise_cost": "mmalign.explicit.ot",
    "batched_ipot": "mmalign.explicit.ot_torch",
    "ot_distance": "mmalign.explicit.ot_torch",
    "word_region_alignment_loss": "mmalign.explicit.ot_torch",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
