"""End to end on a synthetic plate: the batch recovers the SP-vs-MP mitochondria fold change."""

from __future__ import annotations

import pytest

from spmito.imaging.demo import demo_summary_lines, measured_summary, truth_summary
from spmito.imaging.qc import read_qc


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


@pytest.mark.slow
def test_the_demo_ends_with_the_headline_and_the_qc_summary(synthetic_plate_run):
    """What ``spmito demo`` prints last: the report's path, the headline numbers next to the
    truth, and the run's failed plausibility checks as ``spmito run`` prints them."""
    run = synthetic_plate_run
    lines = demo_summary_lines(run.out, truth_summary(run.plate, run.sheet), run.outcome.notes)
    assert lines[0].strip() == f"report: {run.out / 'report.html'}"
    assert any(line.strip().startswith("SP % of test wells:") for line in lines)
    qc = read_qc(run.out)
    qc_head = next(line for line in lines if line.startswith("QC:"))
    if len(qc):
        assert qc_head.startswith(f"QC: {len(qc)} plausibility check(s) failed")
        assert all(any(check in line for line in lines) for check in qc["check"])
    else:
        assert qc_head == "QC: every plausibility check passed (qc.csv)"
