"""The batch-level stage on simulated per-image outputs: tables, gating, report, corrections."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from spmito.imaging.corrections import EditRecord, append_edits, write_review
from spmito.imaging.outputs import image_dir, write_table_csv
from spmito.imaging.params import RunParams
from spmito.imaging.summary import summarise
from spmito.measure.analysis.simulate import simulate_cells

SHEET_COLUMNS = ["image_id", "plate", "well", "field", "replicate", "role", "population",
                 "condition", "cell_line"]


def _fake_output_folder(out_dir, cells: pd.DataFrame) -> pd.DataFrame:
    """Lay simulated per-cell tables out like spmito run's output folder."""
    sheet = cells.groupby("image_id", sort=True)[
        [c for c in SHEET_COLUMNS if c in cells and c != "image_id"]].first().reset_index()
    sheet.insert(0, "path", "/nonexistent/" + sheet["image_id"] + ".tif")
    write_table_csv(out_dir / "sheet.csv", sheet)
    measured = cells.drop(columns=[c for c in cells.columns if c in SHEET_COLUMNS[1:]
                                   or c.startswith("true_")])
    for image_id, table in measured.groupby("image_id"):
        folder = image_dir(out_dir, image_id)
        write_table_csv(folder / "cells.csv", table)
        write_table_csv(folder / "mito.csv", pd.DataFrame(
            {"image_id": pd.Series(dtype=str), "mito_id": pd.Series(dtype=int),
             "cell_id": pd.Series(dtype=int)}))
        (folder / "done.json").write_text(json.dumps({"input": f"/nonexistent/{image_id}.tif",
                                                      "provenance": {}}))
    (out_dir / "run.json").write_text(json.dumps({"parameters_um": RunParams().to_dict()}))
    return sheet


@pytest.fixture(scope="module")
def plate():
    return simulate_cells(n_replicates=3, cells_per_well=1200, sp_fraction=0.04,
                          sp_mito_ratio=1.5, seed=3)


def test_summary_writes_the_contract_tables_and_report(tmp_path, plate):
    _fake_output_folder(tmp_path, plate)
    summarise(tmp_path, RunParams())
    for name in ("cells.csv", "cells.parquet", "mito.parquet", "gating.json", "wells.csv",
                 "replicates.csv", "stats.csv", "report.html"):
        assert (tmp_path / name).is_file(), name
    cells = pd.read_csv(tmp_path / "cells.csv")
    assert len(cells) == len(plate)
    assert list(cells.columns[:2]) == ["image_id", "cell_id"]
    assert {"hoechst_x", "population", "population_source", "excluded", "exclude_reason",
            "replicate", "role", "cell_line"} <= set(cells.columns)
    wells = pd.read_csv(tmp_path / "wells.csv")
    for column in ("n_cells", "n_excluded", "n_sp", "sp_percent", "sp_ci_low", "sp_ci_high",
                   "delta_sp_percent", "delta_ci_low", "delta_ci_high"):
        assert column in wells
    test = wells[wells["role"] == "test"].set_index(["plate", "well"])["delta_sp_percent"]
    truth = plate[plate["role"] == "test"].groupby(["plate", "well"])["true_population"].apply(
        lambda p: 100 * (p == "SP").mean())
    # ΔSP % removes the gate's false positives (α of the cells), measured in the controls
    assert np.allclose(test.sort_index(), truth.sort_index(), atol=1.5)
    stats = pd.read_csv(tmp_path / "stats.csv")
    primary = stats[(stats["endpoint_role"] == "primary")
                    & stats["analysis"].str.contains("t-test")].iloc[0]
    assert primary["n_replicates"] == 3 and primary["fold_change"] > 1.2
    report = (tmp_path / "report.html").read_text()
    assert "fold change" in report and "data:image/png;base64," in report
    assert "Wilcoxon" in report
    gates = json.loads((tmp_path / "gating.json").read_text())
    assert gates and gates[0]["method"] == "control_quantile"


def test_report_applies_napari_overrides_and_manual_gate(tmp_path, plate):
    sheet = _fake_output_folder(tmp_path, plate)
    image_id = sheet.loc[sheet["role"] == "test", "image_id"].iloc[0]
    overrides = pd.DataFrame({"cell_id": [1, 2], "population_override": ["SP", ""],
                              "excluded_override": [pd.NA, True]})
    write_review(tmp_path, image_id, overrides)
    append_edits(tmp_path, [EditRecord(image_id=image_id, action="population", cell_ids=[1])])
    summarise(tmp_path, RunParams())
    cells = pd.read_csv(tmp_path / "cells.csv").set_index(["image_id", "cell_id"])
    assert cells.loc[(image_id, 1), "population"] == "SP"
    assert cells.loc[(image_id, 1), "population_source"] == "manual"
    assert bool(cells.loc[(image_id, 2), "excluded"])
    assert "manual" in cells.loc[(image_id, 2), "exclude_reason"]


def test_too_few_controls_is_reported_not_crashed(tmp_path):
    small = simulate_cells(n_replicates=1, cells_per_well=60, seed=1)
    _fake_output_folder(tmp_path, small)
    notes = summarise(tmp_path, RunParams())
    assert any("control" in note for note in notes)
    assert (tmp_path / "report.html").is_file()
    assert "no SP/MP calls" in (tmp_path / "report.html").read_text()
    # the tables without a gate are empty but keep the contract's columns for users' scripts
    assert pd.read_csv(tmp_path / "stats.csv").columns[:3].tolist() == ["endpoint", "contrast",
                                                                         "n_replicates"]
    assert "sp_percent" in pd.read_csv(tmp_path / "wells.csv").columns
