"""Fixtures shared by the whole test suite."""

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real microscopy files of ``<repo>/../shared/data`` (skips when absent)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real microscopy data not found at {SHARED_DATA}")
    return SHARED_DATA
