from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
FSDD = SHARED / "data" / "fsdd" / "recordings"


@pytest.fixture(scope="session")
def fsdd_root() -> Path:
    """Path to the real FSDD recordings; skips where the shared data is absent (a user's clone)."""
    if not FSDD.is_dir():
        pytest.skip(f"FSDD recordings not found at {FSDD}; they live in ../shared beside the repo")
    return FSDD
