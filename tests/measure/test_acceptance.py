"""Acceptance checks of gating and ΔSP % on simulated plates with known SP labels.

Simulated wells: SP 2-5 % (uniform per well), SP Hoechst 3 x dimmer, each replicate on its
own plate with its own brightness, one inhibitor-control well per plate (>= 1000 control
cells, so ``auto`` picks ``control_quantile``; the control well is cross-fitted).
benchmarks/measure_acceptance.py prints the same numbers over several seeds.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from spmito.measure.analysis.simulate import simulate_cells
from spmito.measure.analysis.stats import well_table
from tests.measure._helpers import assign_quietly


def _true_sp_percent(cells):
    """Realised SP % of each test well's QC-passed cells (the per-well truth)."""
    kept = cells[~cells["excluded"] & (cells["role"] == "test")]
    return 100 * (kept["true_population"] == "SP").groupby(
        kept["plate"] + "/" + kept["well"]).mean()


def _test_wells(wells):
    return wells[wells["role"] == "test"].set_index("well_id")


@pytest.fixture(scope="module")
def plates_200():
    """200 plates, each 1 control + 1 test well of 1100 cells: 200 independent test wells."""
    cells = simulate_cells(n_replicates=200, cells_per_well=1100, seed=20240)
    out, gates = assign_quietly(cells)
    return out, gates


@pytest.mark.slow
def test_control_quantile_balanced_accuracy(plates_200):
    out, gates = plates_200
    assert {g.method for g in gates} == {"control_quantile"}
    test = out[(out["role"] == "test") & ~out["excluded"]]
    truth, call = test["true_population"] == "SP", test["population"] == "SP"
    balanced_accuracy = (call[truth].mean() + (~call[~truth]).mean()) / 2
    assert balanced_accuracy >= 0.95


@pytest.mark.slow
def test_delta_sp_ci_covers_the_truth_in_90_to_98_percent_of_wells(plates_200):
    out, gates = plates_200
    wells = _test_wells(well_table(out, gates))
    assert len(wells) == 200
    truth = 100 * wells["true_sp_fraction"]  # the control's true SP % is 0 (inhibitor)
    covered = (wells["delta_ci_low"] <= truth) & (truth <= wells["delta_ci_high"])
    assert 0.90 <= covered.mean() <= 0.98


def test_control_robust_sp_percent_is_within_one_point_of_truth():
    cells = simulate_cells(n_replicates=40, test_wells_per_replicate=2, cells_per_well=600,
                           seed=20241)
    out, gates = assign_quietly(cells)
    assert {g.method for g in gates} == {"control_robust"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 600-cell wells are flagged as imprecise
        wells = _test_wells(well_table(out, gates))
    error = wells["sp_percent"] - _true_sp_percent(out).reindex(wells.index)
    assert abs(error.mean()) <= 1.0


@pytest.mark.slow
def test_mixture_sp_fraction_is_unbiased_within_half_a_point():
    cells = simulate_cells(n_replicates=15, test_wells_per_replicate=2, cells_per_well=1500,
                           seed=20242)
    out, gates = assign_quietly(cells, method="mixture", n_bootstrap=0)
    wells = _test_wells(well_table(out, gates))
    assert (wells["sp_estimate"] == "mixture").all()
    error = wells["sp_percent"] - _true_sp_percent(out).reindex(wells.index)
    assert abs(error.mean()) <= 0.5
    assert np.abs(error).max() < 2.5
