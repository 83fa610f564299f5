"""``spmito run`` on a real field as a new user runs it: BBBC022 U2OS cells (Hoechst + ConA).

Spread adherent cells are rarely convex: domain.md's doublet rule (solidity < 0.90) takes most
of them. The run must say so (the exclusions stay in cells.csv although no gate could be set,
the note counts them, qc.csv warns ``doublets_by_shape``), and ``spmito report
--doublet-min-solidity 0`` must give them back without segmenting again.
"""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from spmito.imaging.cli import main


@pytest.fixture(scope="module")
def bbbc022_run(real_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("bbbc022_run")
    field = real_data / "bbbc022_u2os" / "IXMtest_A02_s9_crop.tif"
    # w3 (SYTO 14) stands in for a mitochondria channel; 0.656 µm: ImageXpress 20x
    status = main(["run", str(field), "--out", str(out), "--channels",
                   "hoechst=0,cell=1,mito=2", "--voxel-size", "0.656,0.656",
                   "--cell-diameter", "40", "--nucleus-diameter", "16", "--device", "cpu"])
    assert status == 0
    return out


def _whole_one_nucleus(cells: pd.DataFrame) -> pd.Series:
    return (cells["n_nuclei"] == 1) & ~cells["touches_border"].astype(bool)


def test_a_gating_refusal_keeps_the_exclusions_and_qc_names_the_shape_rule(bbbc022_run):
    cells = pd.read_csv(bbbc022_run / "cells.csv")
    # the contract's header, with the gate's columns empty
    assert {"excluded", "exclude_reason", "hoechst_x", "population", "sp_probability"} <= set(
        cells.columns)
    assert cells["hoechst_x"].isna().all()
    whole = _whole_one_nucleus(cells)
    assert whole.sum() >= 15
    # most whole one-nucleus cells are excluded, each for its shape alone
    shape_only = cells.loc[whole, "exclude_reason"].eq("doublet")
    assert shape_only.mean() > 0.5
    assert (cells.loc[whole & shape_only, "cell_solidity"] < 0.9).all()
    qc = pd.read_csv(bbbc022_run / "qc.csv")
    warned = qc.set_index("check")
    assert warned.loc["doublets_by_shape", "value"] > 50
    report = (bbbc022_run / "report.html").read_text()
    assert "no SP/MP calls" in report and "cells excluded (doublet" in report


def test_no_real_nucleus_is_dropped_for_not_standing_out(bbbc022_run):
    done = json.loads(next((bbbc022_run / "images").glob("*/done.json")).read_text())
    assert done["provenance"]["nuclei"]["nuclei_dropped_not_standing_out"] == 0


def test_report_with_the_shape_test_off_keeps_the_whole_one_nucleus_cells(bbbc022_run,
                                                                          tmp_path):
    again = shutil.copytree(bbbc022_run, tmp_path / "again")
    assert main(["report", str(again), "--doublet-min-solidity", "0"]) == 0
    cells = pd.read_csv(again / "cells.csv")
    whole = _whole_one_nucleus(cells)
    assert not cells.loc[whole, "excluded"].astype(bool).any()
    assert not cells["exclude_reason"].fillna("").str.contains("doublet").any()
    qc = pd.read_csv(again / "qc.csv")
    assert "doublets_by_shape" not in set(qc["check"])
    assert "the solidity test was off" in (again / "report.html").read_text()
    # run.json says how the tables were made, and a plain report again keeps the setting
    run = json.loads((again / "run.json").read_text())
    assert run["parameters_um"]["doublet_min_solidity"] == 0
    assert [entry["doublet_min_solidity"] for entry in run["report_settings"]] == [0]
    assert main(["report", str(again)]) == 0
    assert not pd.read_csv(again / "cells.csv").loc[whole, "excluded"].astype(bool).any()
