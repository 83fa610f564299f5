"""The on-disk format of napari corrections (imaging/corrections.py): write, read back, refuse."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from spmito.imaging.corrections import (
    EditRecord,
    append_edits,
    corrected_images,
    read_edits,
    read_manual_gate,
    read_overrides,
    read_review,
    write_corrected_labels,
    write_corrected_tables,
    write_manual_gate,
    write_review,
)
from spmito.imaging.errors import SpmitoInputError
from spmito.imaging.io import read_labels, write_labels
from spmito.imaging.provenance import sha256_file

VOXEL_SIZE_UM = (0.2, 0.2)


@pytest.fixture
def out_dir(tmp_path):
    """An output folder with one image as the batch leaves it (labels + done.json)."""
    folder = tmp_path / "images" / "img1"
    cells = np.zeros((16, 16), np.uint16)
    cells[2:8, 2:8] = 1
    cells[9:14, 3:12] = 2
    write_labels(folder / "cells.ome.tif", cells, VOXEL_SIZE_UM, uuid_key="img1/cells")
    done = {"image_id": "img1", "labels_sha256": {"cells": sha256_file(folder / "cells.ome.tif")}}
    (folder / "done.json").write_text(json.dumps(done))
    return tmp_path


def _overrides():
    return pd.DataFrame({"cell_id": [2, 1, 5], "population_override": ["SP", None, None],
                         "excluded_override": [None, True, None]})


def test_corrected_labels_replace_the_batch_labels_and_keep_the_original(out_dir):
    assert corrected_images(out_dir) == []
    folder = out_dir / "images" / "img1"
    original = read_labels(folder / "cells.ome.tif")[0]
    corrected = original.copy()
    corrected[corrected == 2] = 0
    assert write_corrected_labels(out_dir, "img1", {"cells": corrected}, VOXEL_SIZE_UM) == [
        folder / "cells.ome.tif"]
    labels, voxel_size_um = read_labels(folder / "cells.ome.tif")
    assert np.array_equal(labels, corrected) and voxel_size_um == pytest.approx(VOXEL_SIZE_UM)
    assert np.array_equal(read_labels(folder / "cells.original.ome.tif")[0], original)
    assert corrected_images(out_dir) == ["img1"]
    # a second save keeps the first original
    write_corrected_labels(out_dir, "img1", {"cells": np.zeros_like(corrected)}, VOXEL_SIZE_UM)
    assert np.array_equal(read_labels(folder / "cells.original.ome.tif")[0], original)


def test_corrected_tables_are_written_with_the_image_id_first(out_dir):
    cells = pd.DataFrame({"cell_id": [1], "cell_area_um2": [1.5]})
    mito = pd.DataFrame({"mito_id": [4], "cell_id": [1]})
    write_corrected_tables(out_dir, "img1", cells, mito)
    written = pd.read_csv(out_dir / "images" / "img1" / "cells.csv")
    assert list(written.columns) == ["image_id", "cell_id", "cell_area_um2"]
    assert len(pd.read_csv(out_dir / "images" / "img1" / "mito.csv")) == 1


def test_review_round_trip_drops_rows_without_overrides(out_dir):
    path = write_review(out_dir, "img1", _overrides())
    assert path.read_text().splitlines() == [
        "cell_id,population_override,excluded_override", "1,,true", "2,SP,"]
    back = read_review(out_dir, "img1")
    assert back["cell_id"].tolist() == [1, 2]
    assert back["population_override"].tolist() == [None, "SP"]
    assert back["excluded_override"].tolist() == [True, None]


def test_empty_strings_and_missing_values_mean_no_override(out_dir):
    overrides = pd.DataFrame({"cell_id": [1, 2, 3], "population_override": ["SP", "", pd.NA],
                              "excluded_override": [pd.NA, True, ""]})
    write_review(out_dir, "img1", overrides)
    back = read_review(out_dir, "img1")
    assert back.to_dict("records") == [
        {"cell_id": 1, "population_override": "SP", "excluded_override": None},
        {"cell_id": 2, "population_override": None, "excluded_override": True}]


def test_missing_review_reads_as_no_overrides(out_dir):
    assert read_review(out_dir, "img1").empty
    assert read_overrides(out_dir).empty


def test_read_overrides_gathers_every_image(out_dir):
    write_review(out_dir, "img1", _overrides())
    write_review(out_dir, "img2", _overrides().iloc[:1])
    table = read_overrides(out_dir)
    assert list(table.columns) == ["image_id", "cell_id", "population_override",
                                   "excluded_override"]
    assert table[["image_id", "cell_id"]].values.tolist() == [["img1", 1], ["img1", 2],
                                                              ["img2", 2]]


@pytest.mark.parametrize("text, problem", [
    ("cell_id,population_override,excluded_override\n1,XP,\n", "SP/MP"),
    ("cell_id,population_override,excluded_override\n1,,maybe\n", "true, false or empty"),
    ("cell_id,population\n1,SP\n", "lacks columns"),
    ("cell_id,population_override,excluded_override\n1,SP,\n1,MP,\n", "more than once"),
])
def test_bad_review_file_is_refused_naming_the_file(out_dir, text, problem):
    path = out_dir / "images" / "img1" / "review.csv"
    path.write_text(text)
    with pytest.raises(SpmitoInputError, match=problem) as error:
        read_review(out_dir, "img1")
    assert str(path) in str(error.value)


def test_write_review_refuses_an_unknown_population(out_dir):
    bad = _overrides().assign(population_override=["sp", None, None])
    with pytest.raises(SpmitoInputError, match="SP/MP"):
        write_review(out_dir, "img1", bad)


def test_edit_log_is_append_only_and_reads_back(out_dir):
    first = EditRecord("merge", "img1", (3, 7), {"into": 3})
    append_edits(out_dir, [first])
    before = (out_dir / "edits.jsonl").read_text()
    append_edits(out_dir, [EditRecord("population", "img1", (3,), {"to": "SP"})])
    after = (out_dir / "edits.jsonl").read_text()
    assert after.startswith(before) and len(after.splitlines()) == 2
    records = read_edits(out_dir)
    assert records[0] == first
    assert [r.action for r in records] == ["merge", "population"]
    assert set(json.loads(after.splitlines()[0])) == {"time", "image_id", "action", "cell_ids",
                                                      "detail"}


def test_a_damaged_log_line_is_named(out_dir):
    (out_dir / "edits.jsonl").write_text('{"time": "t", "action": "merge"}\nnot json\n')
    with pytest.raises(SpmitoInputError, match="line 2"):
        read_edits(out_dir)


def test_manual_gate_round_trip(out_dir):
    assert read_manual_gate(out_dir) is None
    write_manual_gate(out_dir, -1.25, reference_wells=["A01"], n_reference_cells=300)
    gate = read_manual_gate(out_dir)
    assert gate["method"] == "manual" and gate["threshold_x"] == -1.25
    assert gate["reference_wells"] == ["A01"] and gate["n_reference_cells"] == 300


def test_manual_gate_loads_as_the_batch_gate(out_dir):
    population = pytest.importorskip("spmito.measure.analysis.population")
    path = write_manual_gate(out_dir, -0.8)
    gate = population.Gate.load(path)
    assert gate.method == "manual" and gate.threshold_x == -0.8
    is_sp, _ = gate.classify(np.array([-1.0, 0.0]))
    assert is_sp.tolist() == [True, False]


def test_a_gate_file_that_is_not_manual_is_refused(out_dir):
    (out_dir / "manual_gate.json").write_text(json.dumps({"method": "mixture"}))
    with pytest.raises(SpmitoInputError, match="manual gate"):
        read_manual_gate(out_dir)
