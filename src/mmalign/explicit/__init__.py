"""Explicit alignment on arrays: recover the connections themselves.

Sequence to sequence (the DTW family, soft-DTW, canonical time warping, DBA) and set to set
(optimal transport, assignment). Public names are imported lazily (PEP 562) so that
``import mmalign.explicit`` stays fast and loads torch only when a torch loss is used.
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> private module that defines it. Each block belongs to one module.
_EXPORTS: dict[str, str] = {
    # DTW core (dtw.py and friends)
    "Alignment": "mmalign.explicit.dtw",
    "dtw": "mmalign.explicit.dtw",
    "dtw_path": "mmalign.explicit.dtw",
    "dtw_path_from_cost": "mmalign.explicit.dtw",
    "cost_matrix": "mmalign.explicit.dtw",
    "STEP_PATTERNS": "mmalign.explicit.dtw",
    "StepPattern": "mmalign.explicit.dtw",
    "sakoe_chiba_mask": "mmalign.explicit.dtw",
    "itakura_mask": "mmalign.explicit.dtw",
    "SubsequenceMatch": "mmalign.explicit.dtw",
    "subsequence_dtw": "mmalign.explicit.dtw",
    "cdist_dtw": "mmalign.explicit.dtw",
    # soft-DTW (soft_dtw.py; the torch loss in soft_dtw_torch.py)
    "SoftDTWResult": "mmalign.explicit.soft_dtw",
    "soft_dtw": "mmalign.explicit.soft_dtw",
    "soft_dtw_alignment": "mmalign.explicit.soft_dtw",
    "soft_dtw_divergence": "mmalign.explicit.soft_dtw",
    "soft_dtw_grad": "mmalign.explicit.soft_dtw",
    "SoftDTWLoss": "mmalign.explicit.soft_dtw_torch",
    "soft_dtw_batch": "mmalign.explicit.soft_dtw_torch",
    # canonical time warping and DTW barycenter averaging (ctw.py, dba.py)
    "CTWResult": "mmalign.explicit.ctw",
    "ctw": "mmalign.explicit.ctw",
    "GCTWResult": "mmalign.explicit.ctw",
    "gctw": "mmalign.explicit.ctw",
    "dba": "mmalign.explicit.dba",
    "DBAResult": "mmalign.explicit.dba",
    # set to set (ot.py; the torch loss in ot_torch.py)
    "OTAlignment": "mmalign.explicit.ot",
    "ot_align": "mmalign.explicit.ot",
    "Assignment": "mmalign.explicit.ot",
    "assign": "mmalign.explicit.ot",
    "word_region_alignment_loss": "mmalign.explicit.ot_torch",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mmalign.explicit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
