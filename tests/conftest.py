"""Shared test fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

#: The shared real-data folder (present in CI beside the checkout).
REAL_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"


@pytest.fixture(scope="session")
def real_data() -> Path:
    """Path of ../shared/data/real; skips the test when it is absent."""
    if not REAL_DATA.is_dir():
        pytest.skip(f"real data folder {REAL_DATA} is absent (it sits beside the checkout in CI)")
    return REAL_DATA
