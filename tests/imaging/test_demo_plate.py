"""End to end on a synthetic plate: the batch recovers the SP-vs-MP mitochondria fold change."""

from __future__ import annotations

import pytest

from spmito.imaging.demo import measured_summary, truth_summary


@pytest.mark.slow
def test_a_synthetic_plate_gives_the_true_sp_fraction_and_mito_fold_change(
        synthetic_plate_run):
    """The demo's plate with another seed and more SP cells; bundled models, default gate
    and mitochondria settings (no knowledge of the truth). The controls hold > 200 cells, the
    least that domain.md allows an automatic gate to rest on."""
    run = synthetic_plate_run
    assert run.outcome.exit_code == 0, run.outcome

    truth = truth_summary(run.plate, run.sheet)
    measured = measured_summary(run.out)
    assert truth["fold_mito_count"] > 1.3  # the plate does hold a difference to find
    assert measured["fold_mito_count"] == pytest.approx(truth["fold_mito_count"], rel=0.15)
    assert measured["sp_percent"] == pytest.approx(truth["sp_percent"], abs=5.0)
