"""End to end on a synthetic plate: the batch recovers the SP-vs-MP mitochondria fold change."""

from __future__ import annotations

import dataclasses

import pytest

from imaging.batch import run_batch
from imaging.demo import demo_synth_params, measured_summary, truth_summary
from imaging.params import RunParams
from imaging.sheet import read_sample_sheet
from imaging.synthetic import write_synthetic_set


@pytest.mark.slow
def test_a_synthetic_plate_gives_the_true_sp_fraction_and_mito_fold_change(tmp_path):
    """The demo's plate with another seed and more SP cells; bundled models, default gate
    and mitochondria settings (no knowledge of the truth). The controls hold > 200 cells, the
    least that domain.md allows an automatic gate to rest on."""
    params = dataclasses.replace(demo_synth_params(2), sp_fraction=0.2)
    write_synthetic_set(tmp_path / "plate", params, n_fields=2, seed=5, mode="plate",
                        replicates=3, preview=False)
    sheet = read_sample_sheet(tmp_path / "plate" / "sheet.csv")
    outcome = run_batch(sheet, tmp_path / "out", RunParams(), progress=False)
    assert outcome.exit_code == 0, outcome

    truth = truth_summary(tmp_path / "plate", sheet)
    measured = measured_summary(tmp_path / "out")
    assert truth["fold_mito_count"] > 1.3  # the plate does hold a difference to find
    assert measured["fold_mito_count"] == pytest.approx(truth["fold_mito_count"], rel=0.15)
    assert measured["sp_percent"] == pytest.approx(truth["sp_percent"], abs=5.0)
