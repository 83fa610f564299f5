"""The sample sheet: paths, defaults, checks with row and column, and sheets from paths."""

from __future__ import annotations

import pandas as pd
import pytest

from spmito.imaging.errors import SampleSheetError
from spmito.imaging.sheet import BASE_COLUMNS, read_sample_sheet, sheet_from_paths


@pytest.fixture
def plate(tmp_path):
    """A sheet folder with images in a subfolder and one corrected mask."""
    (tmp_path / "images").mkdir()
    for name in ("A1_f1.ome.tif", "A2_f1.tif", "B1_f1.TIFF"):
        (tmp_path / "images" / name).write_bytes(b"")
    (tmp_path / "masks").mkdir()
    (tmp_path / "masks" / "A1.tif").write_bytes(b"")
    return tmp_path


def _sheet(folder, text, name="sheet.csv"):
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_sheet_resolves_paths_fills_defaults_and_keeps_extra_columns(plate):
    sheet = _sheet(plate, "\ufeffPath,Well,replicate,role,population,cells_mask,dose_nM,Notes\n"
                   "images/A1_f1.ome.tif,A1,01,Inhibitor_Control,sp,masks/A1.tif,10,first\n"
                   "\n"
                   "images/A2_f1.tif, A2 ,02,,,,2.5,\n")

    frame = read_sample_sheet(sheet)

    assert list(frame.columns) == ["path", "image_id", "well", "replicate", "role",
                                   "population", "cells_mask", "dose_nM", "Notes"]
    assert frame["path"].tolist() == [str(plate / "images" / "A1_f1.ome.tif"),
                                      str(plate / "images" / "A2_f1.tif")]
    assert frame["image_id"].tolist() == ["A1_f1", "A2_f1"]
    assert frame["well"].tolist() == ["A1", "A2"]
    assert frame["replicate"].tolist() == ["01", "02"]
    assert frame["role"].tolist() == ["inhibitor_control", "test"]
    assert frame["population"].tolist() == ["SP", "unsorted"]
    assert frame.loc[0, "cells_mask"] == str(plate / "masks" / "A1.tif")
    assert pd.isna(frame.loc[1, "cells_mask"])
    assert frame["dose_nM"].tolist() == [10.0, 2.5]
    assert frame.loc[0, "Notes"] == "first" and pd.isna(frame.loc[1, "Notes"])
    assert frame.attrs["sheet"] == str(sheet)


def test_sheet_with_only_paths_and_explicit_ids(plate):
    sheet = _sheet(plate, f"path,image_id\n{plate / 'images' / 'A2_f1.tif'},well_A2\n")
    frame = read_sample_sheet(sheet)
    assert list(frame.columns) == list(BASE_COLUMNS)
    assert frame.loc[0, "image_id"] == "well_A2"


@pytest.mark.parametrize("text,where,problem", [
    ("path,role\nimages/A1_f1.ome.tif,treated\n", "row 2, column 'role'",
     "'treated' is not one of test, inhibitor_control, gate_setting"),
    ("path,population\nimages/A1_f1.ome.tif,SP\nimages/A2_f1.tif,side\n",
     "row 3, column 'population'", "'side' is not one of unsorted, SP, MP"),
    ("path,image_id\nimages/A1_f1.ome.tif,w1\n\nimages/A2_f1.tif,w1\n",
     "row 4, column 'image_id'", "'w1' is already the image_id of row 2"),
    ("path\nimages/A1_f1.ome.tif\nimages/A3_f1.tif\n", "row 3, column 'path'",
     "'images/A3_f1.tif' does not exist"),
    ("path\nimages\n", "row 2, column 'path'", "is a folder"),
    ("path,cells_mask\nimages/A1_f1.ome.tif,masks/A9.tif\n", "row 2, column 'cells_mask'",
     "does not exist"),
    ("path,image_id\nimages/A1_f1.ome.tif,../escape\n", "row 2, column 'image_id'",
     "cannot name a folder"),
    ("path,well\n,A1\n", "row 2, column 'path'", "the image path is empty"),
    ("file,well\nimages/A1_f1.ome.tif,A1\n", "no 'path' column", "columns: file, well"),
    ("path,Path\na,b\n", "two columns are called 'path'", ""),
    ("path\n", "no rows", ""),
])
def test_sheet_errors_name_sheet_row_and_column(plate, text, where, problem):
    sheet = _sheet(plate, text)
    with pytest.raises(SampleSheetError) as error:
        read_sample_sheet(sheet)
    message = str(error.value)
    assert message.startswith(str(sheet))
    assert where in message and problem in message


def test_missing_sheet(tmp_path):
    with pytest.raises(SampleSheetError, match="does not exist"):
        read_sample_sheet(tmp_path / "nope.csv")


def test_sheet_from_paths_expands_folders_sorted(plate):
    extra = plate / "extra.tif"
    extra.write_bytes(b"")
    (plate / "images" / "._A1_f1.tif").write_bytes(b"")  # macOS resource fork: skipped
    (plate / "images" / "notes.txt").write_text("")

    frame = sheet_from_paths([plate / "images", extra])

    assert list(frame.columns) == list(BASE_COLUMNS)
    assert frame["image_id"].tolist() == ["A1_f1", "A2_f1", "B1_f1", "extra"]
    assert frame["path"].tolist()[0] == str(plate / "images" / "A1_f1.ome.tif")
    assert set(frame["role"]) == {"test"} and set(frame["population"]) == {"unsorted"}
    assert frame["cells_mask"].isna().all()


def test_sheet_from_paths_errors(plate):
    # a missing path is one image that will fail alone, not an error of the whole run
    missing = sheet_from_paths([plate / "missing.tif"])
    assert missing["path"].tolist() == [str(plate / "missing.tif")]
    (plate / "empty").mkdir()
    with pytest.raises(SampleSheetError, match="holds no .tif"):
        sheet_from_paths([plate / "empty"])


def test_sheet_from_paths_makes_repeated_file_names_unique(plate):
    (plate / "other").mkdir()
    (plate / "other" / "A2_f1.tif").write_bytes(b"")
    frame = sheet_from_paths([plate / "images", plate / "other"])
    assert frame["image_id"].tolist() == ["A1_f1", "A2_f1", "B1_f1", "A2_f1-2"]
    assert frame["path"].iloc[-1] == str(plate / "other" / "A2_f1.tif")
