"""Plausibility checks: qc.csv, images.csv, the run summary and ``--strict``."""

from __future__ import annotations

import pandas as pd
import pytest

from spmito.imaging.cli import main
from spmito.imaging.params import RunParams
from spmito.imaging.qc import (
    QC_COLUMNS,
    almost_no_mitochondria,
    image_checks,
    qc_summary_lines,
    run_checks,
    sorted_auc,
)
from spmito.imaging.synthetic import SynthParams, write_synthetic_set
from spmito.measure.analysis.population import Gate


def _image_row(**changes) -> pd.Series:
    """An images.csv row of a plausible 2-D field at 0.1 µm pixels."""
    row = {"image_id": "f1", "n_cells": 40, "few_mito_percent": 5.0, "mito_object_px": 30.0,
           "ndim": 2, "voxel_size_um": (0.1, 0.1), "nuclei_in_cell_percent": 97.0,
           "cells_one_nucleus_percent": 95.0, "cell_diameter_um": 11.0,
           "nucleus_diameter_um": 7.0, "saturated_percent": 0.0,
           "cells_grown_or_divided_percent": 5.0}
    return pd.Series({**row, **changes})


def _warned(results) -> set[str]:
    return {r.check for r in results if r.severity != "ok"}


def test_a_plausible_image_passes_every_check():
    results = image_checks(_image_row(), RunParams())
    assert {r.check for r in results} >= {
        "few_mitochondria", "undersampled_objects", "coarse_sampling", "nuclei_outside_cells",
        "cells_not_one_nucleus", "cell_model_off", "cell_size_off", "nucleus_size_off",
        "saturation"}
    assert _warned(results) == set()


def test_almost_no_mitochondria_spares_fused_networks_and_small_3d_objects():
    cells = pd.DataFrame({"mito_count": [0, 1, 26, 2, 40],
                          "mito_fraction": [0.0, 0.25, 0.008, 0.004, 0.15]})
    # none; one fused network; many small objects (3-D volume fraction); two specks; many
    assert almost_no_mitochondria(cells).tolist() == [True, False, False, True, False]


@pytest.mark.parametrize(("changes", "check"), [
    ({"few_mito_percent": 90.0}, "few_mitochondria"),
    ({"mito_object_px": 2.0}, "undersampled_objects"),
    ({"voxel_size_um": (0.5, 0.1, 0.1)}, "coarse_sampling"),
    ({"nuclei_in_cell_percent": 60.0}, "nuclei_outside_cells"),
    ({"cells_one_nucleus_percent": 79.0}, "cells_not_one_nucleus"),
    ({"cells_grown_or_divided_percent": 30.0}, "cell_model_off"),
    ({"cell_diameter_um": 30.0}, "cell_size_off"),
    ({"nucleus_diameter_um": 3.0}, "nucleus_size_off"),
    # BBBC022 run with the default 12 and 8 µm: what the models found at the wrong scale
    ({"cell_diameter_um": 18.8}, "cell_size_off"),
    ({"nucleus_diameter_um": 12.6}, "nucleus_size_off"),
    ({"saturated_percent": 12.0}, "saturation"),
    ({"n_cells": 0}, "no_cells"),
])
def test_each_implausible_value_warns_its_own_check(changes, check):
    assert _warned(image_checks(_image_row(**changes), RunParams())) == {check}


def test_run_checks_warn_on_leaky_controls_a_thin_gate_and_bright_sorted_sp():
    wells = pd.DataFrame({"role": ["inhibitor_control", "inhibitor_control", "test"],
                          "n_sp": [4, 5, 30], "n_cells": [100, 100, 300]})
    gate = Gate("control_robust", threshold_x=-0.4, n_reference_cells=300, gate_id="P1")
    # sorted SP as bright as sorted MP: the sort did not enrich dim cells
    cells = pd.DataFrame({"sheet_population": ["SP"] * 50 + ["MP"] * 50,
                          "hoechst_x": list(range(50)) + list(range(50)),
                          "excluded": False})
    results = {r.check: r for r in run_checks(cells, wells, [gate])}
    assert results["control_sp_high"].severity == "ok"  # 9 of 200 = 4.5 %
    assert results["control_sp_high"].value == pytest.approx(4.5)
    assert results["gate_few_cells"].severity == "warning"
    assert results["sorted_sp_not_dimmer"].severity == "fail"
    assert results["sorted_sp_not_dimmer"].value == pytest.approx(0.5)
    wells.loc[0, "n_sp"] = 20
    assert {r.check: r.severity for r in run_checks(cells, wells, [])}["control_sp_high"] == "fail"


def test_spread_single_nucleus_cells_taken_as_doublets_for_their_shape_warn():
    """7 of the 10 whole one-nucleus cells are less solid than 0.9; edge cells, cells with
    two nuclei and the bar set to 0 do not count."""
    cells = pd.DataFrame({
        "n_nuclei": [1] * 10 + [2, 1, 1],
        "touches_border": [False] * 10 + [False, True, True],
        "cell_solidity": [0.8] * 7 + [0.95] * 3 + [0.7, 0.7, 0.7]})
    wells = pd.DataFrame()
    result = {r.check: r for r in run_checks(cells, wells, [])}["doublets_by_shape"]
    assert result.severity == "warning" and result.value == pytest.approx(70.0)
    assert "doublet_min_solidity = 0" in result.message
    round_cells = cells.assign(cell_solidity=[0.8] + [0.95] * 12)  # 1 of 10: round cells
    assert {r.check: r.severity for r in run_checks(round_cells, wells, [])}[
        "doublets_by_shape"] == "ok"
    assert "doublets_by_shape" not in {r.check for r in run_checks(cells, wells, [], 0.0)}


def test_sorted_auc_is_one_when_every_sp_cell_is_dimmer():
    cells = pd.DataFrame({"sheet_population": ["SP", "SP", "MP", "MP"],
                          "hoechst_x": [-2.0, -1.5, 0.0, 0.1], "excluded": False})
    assert sorted_auc(cells) == 1.0
    assert pd.isna(sorted_auc(cells.assign(sheet_population="unsorted")))


@pytest.fixture(scope="module")
def small_field(tmp_path_factory):
    """One small synthetic 2-D field (about 10 cells) as an input file."""
    folder = tmp_path_factory.mktemp("field")
    write_synthetic_set(folder, SynthParams.for_ndim(2, size_px=384), n_fields=1, seed=2,
                        preview=False)
    return next(folder.glob("*.ome.tif"))


@pytest.mark.slow
def test_a_broken_mito_setting_warns_everywhere_and_strict_exits_1(small_field, tmp_path,
                                                                    capsys):
    """A seed threshold no mitochondrion reaches: the run still finishes, but qc.csv, the
    report and the summary say that almost no mitochondria were found; --strict exits 1.
    The same field with the default setting passes that check."""
    good = tmp_path / "good"
    assert main(["run", str(small_field), "--out", str(good)]) == 0
    good_qc = pd.read_csv(good / "qc.csv", keep_default_na=False)
    assert tuple(good_qc.columns) == QC_COLUMNS
    assert "few_mitochondria" not in set(good_qc["check"])  # only failed checks are rows
    capsys.readouterr()

    config = tmp_path / "broken.toml"
    config.write_text("[mito]\nseed_snr = 1e6\n")
    broken = tmp_path / "broken"
    status = main(["run", str(small_field), "--out", str(broken), "--config", str(config),
                   "--strict"])
    printed = capsys.readouterr().out
    assert status == 1
    qc = pd.read_csv(broken / "qc.csv", keep_default_na=False).set_index("check")
    assert qc.loc["few_mitochondria", "severity"] == "fail"
    assert qc.loc["few_mitochondria", "value"] == 100  # every cell without mitochondria
    assert "fail few_mitochondria" in printed and "--strict" in printed
    report = (broken / "report.html").read_text()
    assert "few_mitochondria" in report and "mitochondria segmentation probably failed" in report
    images = pd.read_csv(broken / "images.csv", keep_default_na=False)
    assert images.loc[0, "flags"].split(";").count("few_mitochondria") == 1
    # the bundled cell model fits the synthetic cells: few grown or divided
    assert 0 <= float(images.loc[0, "cells_grown_or_divided_percent"]) <= 20
    assert images.loc[0, "overlay"].startswith("figures/overlay_")
    assert (broken / images.loc[0, "overlay"]).stat().st_size <= 60_000

    # spmito report re-checks; without --strict the status stays 0
    assert main(["report", str(broken)]) == 0
    assert main(["report", str(broken), "--strict"]) == 1


def test_a_run_where_no_image_finished_does_not_say_every_check_passed(tmp_path, capsys):
    import numpy as np
    import tifffile

    unreadable = tmp_path / "no_voxel_size.tif"  # no voxel size recorded: the image fails
    tifffile.imwrite(unreadable, np.zeros((3, 64, 64), np.uint16), metadata={"axes": "CYX"})
    assert main(["run", str(unreadable), "--out", str(tmp_path / "out")]) == 1
    printed = capsys.readouterr().out
    assert "QC: no check was run (no image finished)" in printed
    assert "every plausibility check passed" not in printed


def test_summary_lines_fold_one_check_over_many_images():
    qc = pd.DataFrame([
        {"image_id": f"f{i}", "check": "few_mitochondria", "severity": "fail",
         "value": 100.0, "expected": 50.0, "message": "almost none"} for i in range(5)] + [
        {"image_id": "", "check": "gate_few_cells", "severity": "ok",
         "value": 2000.0, "expected": 1000.0, "message": "fine"}])
    lines = qc_summary_lines(qc)
    assert lines[0].startswith("QC: 5 plausibility check(s) failed")
    assert len(lines) == 2 and "5 image(s): f0, f1, f2 …" in lines[1]
    assert lines[1].lstrip().startswith("fail few_mitochondria")
    assert "every plausibility check passed" in qc_summary_lines(qc.assign(severity="ok"))[0]
    assert "every plausibility check passed" in qc_summary_lines(qc.iloc[:0])[0]
    assert "no check was run" in qc_summary_lines(None)[0]


def test_strict_is_also_a_config_key_and_not_part_of_the_analysis_hash(tmp_path):
    from spmito.imaging.params import RunParams, resolve_params
    config = tmp_path / "run.toml"
    config.write_text("strict = true\n")
    assert resolve_params({"strict": None}, config).strict is True
    assert resolve_params({"strict": None}).strict is False
    assert RunParams(strict=True).analysis_hash() == RunParams().analysis_hash()
