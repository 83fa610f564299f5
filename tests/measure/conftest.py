"""Simulated batches shared by the measure tests (built once per session: they are slow-ish)."""

from __future__ import annotations

import pytest

from spmito.measure.analysis.simulate import simulate_cells
from tests.measure._helpers import assign_quietly


@pytest.fixture(scope="session")
def plate_cells():
    """3 replicates (plates) x (1 inhibitor control + 2 test wells) x 1500 cells, 5 % artefacts,
    SP mitochondria 1.5 x MP."""
    return simulate_cells(n_replicates=3, test_wells_per_replicate=2,
                          control_wells_per_replicate=1, cells_per_well=1500,
                          artefact_fraction=0.05, sp_mito_ratio=1.5, seed=11)


@pytest.fixture(scope="session")
def gated(plate_cells):
    """``plate_cells`` through the automatic gate."""
    return assign_quietly(plate_cells)
