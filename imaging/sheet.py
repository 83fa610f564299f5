"""The sample sheet (domain.md §5): one row per image, with its experimental design.

A sheet is a CSV file (comma-separated, UTF-8, Excel's byte-order mark accepted). Column
names are matched case-insensitively against :data:`KNOWN_COLUMNS`; any other column is
carried through to the output tables unchanged. Known columns are kept as the text typed
(``"01"`` stays ``"01"``, surrounding blanks removed); pandas infers the type of others.

Errors name the sheet, the row as a spreadsheet shows it (the header is row 1) and the
column. Without a sheet, :func:`sheet_from_paths` builds the same frame from image files
and folders.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from imaging.errors import SampleSheetError
from imaging.stack import IMAGE_SUFFIXES, image_stem

#: Columns spmito knows; ``path`` is required.
KNOWN_COLUMNS = ("path", "image_id", "plate", "well", "field", "replicate", "condition",
                 "role", "population", "inhibitor", "cell_line", "knockdown", "medium",
                 "drug", "cells_mask")

#: Columns every frame from this module has, filled with defaults when the sheet lacks them.
BASE_COLUMNS = ("path", "image_id", "role", "population", "cells_mask")

#: Values of the ``role`` column; the first is the default.
SHEET_ROLES = ("test", "inhibitor_control", "gate_setting")

#: Values of the ``population`` column; the first is the default.
POPULATIONS = ("unsorted", "SP", "MP")

_SHEET_FIX = "Fix the sheet and run again"


def _row_error(sheet: Path, row: int, column: str, problem: str,
               fix: str = _SHEET_FIX) -> SampleSheetError:
    return SampleSheetError(sheet, f"row {row}, column {column!r}: {problem}", fix)


def _canonical_columns(header: Iterable[str], sheet: Path) -> dict[str, str]:
    """Sheet column name to the name used in the frame (known columns in lower case)."""
    mapping: dict[str, str] = {}
    for name in header:
        stripped = str(name).strip()
        canonical = stripped.lower() if stripped.lower() in KNOWN_COLUMNS else stripped
        if canonical in mapping.values():
            raise SampleSheetError(sheet, f"two columns are called {canonical!r}",
                                   "Keep one of them")
        mapping[name] = canonical
    if "path" not in mapping.values():
        raise SampleSheetError(
            sheet, f"the sheet has no 'path' column (columns: {', '.join(map(str, mapping))})",
            "Add a column 'path' with each image file, relative to the sheet's folder")
    return mapping


def _read_csv(sheet: Path) -> pd.DataFrame:
    """The sheet's cells with canonical column names; blank lines dropped, index = sheet row."""
    if not sheet.is_file():
        raise SampleSheetError(sheet, "the sample sheet does not exist", "Check the path")
    options = {"encoding": "utf-8-sig", "skip_blank_lines": False}
    try:
        header = pd.read_csv(sheet, nrows=0, **options).columns
        columns = _canonical_columns(header, sheet)
        text = {name: str for name, canonical in columns.items() if canonical in KNOWN_COLUMNS}
        table = pd.read_csv(sheet, dtype=text, **options)
    except (ValueError, UnicodeDecodeError) as error:  # pandas' parser errors are ValueErrors
        raise SampleSheetError(sheet, f"cannot be read as a CSV file ({error})",
                               "Save it as CSV (comma-separated, UTF-8)") from error
    table = table.rename(columns=columns)
    table.index = table.index + 2  # the header is row 1
    table = table.dropna(how="all")
    if table.empty:
        raise SampleSheetError(sheet, "the sample sheet has no rows", "Add one row per image")
    return table


def _cell(row: Mapping, column: str) -> str | None:
    """A text cell, stripped; ``None`` when empty or absent."""
    value = row.get(column)
    if value is None or pd.isna(value) or not str(value).strip():
        return None
    return str(value).strip()


def _choice(value: str | None, allowed: tuple[str, ...], sheet: Path, row: int,
            column: str) -> str:
    if value is None:
        return allowed[0]
    by_lower = {choice.lower(): choice for choice in allowed}
    if value.lower() not in by_lower:
        raise _row_error(sheet, row, column, f"{value!r} is not one of {', '.join(allowed)}",
                         f"Use one of: {', '.join(allowed)} (empty means {allowed[0]})")
    return by_lower[value.lower()]


def _existing_file(value: str, sheet: Path, row: int, column: str) -> str:
    """``value`` as an absolute path, relative to the sheet's folder; it must be a file."""
    path = Path(value).expanduser()
    absolute = Path(os.path.abspath(sheet.parent / path))
    if not absolute.is_file():
        problem = "is a folder, not an image file" if absolute.is_dir() else "does not exist"
        raise _row_error(sheet, row, column, f"{value!r} {problem} (looked for {absolute})",
                         "Give the file's path relative to the sheet's folder, or absolute")
    return str(absolute)


def _check_image_id(image_id: str, where: Path, row: int | None) -> None:
    """An image id names an output folder: refuse separators and dot names."""
    if "/" in image_id or "\\" in image_id or image_id in (".", ".."):
        problem = f"image_id {image_id!r} cannot name a folder (it holds '/', '\\' or is a dot)"
        fix = "Use letters, digits, '-' and '_'"
        if row is None:
            raise SampleSheetError(where, problem, fix)
        raise _row_error(where, row, "image_id", problem, fix)


def _checked_base_columns(row: Mapping, sheet: Path, number: int) -> dict:
    """The :data:`BASE_COLUMNS` of one sheet row: checked, with defaults, paths absolute."""
    path = _cell(row, "path")
    if path is None:
        raise _row_error(sheet, number, "path", "the image path is empty",
                         "Give an image file or delete the row")
    mask = _cell(row, "cells_mask")
    image_id = _cell(row, "image_id") or image_stem(path)
    _check_image_id(image_id, sheet, number)
    return {
        "path": _existing_file(path, sheet, number, "path"),
        "image_id": image_id,
        "role": _choice(_cell(row, "role"), SHEET_ROLES, sheet, number, "role"),
        "population": _choice(_cell(row, "population"), POPULATIONS, sheet, number,
                              "population"),
        "cells_mask": None if mask is None else _existing_file(mask, sheet, number,
                                                               "cells_mask"),
    }


def _check_unique_ids(image_ids: list[str], rows: list[int], sheet: Path) -> None:
    first_row_of: dict[str, int] = {}
    for image_id, number in zip(image_ids, rows, strict=True):
        if image_id in first_row_of:
            raise _row_error(sheet, number, "image_id",
                             f"{image_id!r} is already the image_id of row "
                             f"{first_row_of[image_id]}",
                             "Give each image a unique image_id (it names the output folder)")
        first_row_of[image_id] = number


def _ordered(frame: pd.DataFrame) -> pd.DataFrame:
    """Known columns in :data:`KNOWN_COLUMNS` order, then the sheet's own, in its order."""
    known = [c for c in KNOWN_COLUMNS if c in frame.columns]
    return frame[known + [c for c in frame.columns if c not in KNOWN_COLUMNS]]


def read_sample_sheet(path: str | os.PathLike) -> pd.DataFrame:
    """Read and check a sample sheet.

    Parameters
    ----------
    path : path-like
        The sheet (``.csv``). Image paths in it are relative to its folder (or absolute).

    Returns
    -------
    pandas.DataFrame
        One row per image with at least :data:`BASE_COLUMNS`: ``path`` and ``cells_mask``
        absolute (``cells_mask`` missing when not given), ``image_id`` (default: the file
        name without extension), ``role`` (default ``test``) and ``population`` (default
        ``unsorted``), then the other columns of the sheet. ``attrs["sheet"]`` is the sheet.

    Raises
    ------
    SampleSheetError
        Naming the sheet, the row (header = row 1) and the column: no ``path`` column, a
        missing image or mask file, an unknown role or population, a duplicate or unusable
        ``image_id``, an unreadable or empty sheet.
    """
    sheet = Path(os.path.abspath(Path(path).expanduser()))
    table = _read_csv(sheet)
    rows = [int(number) for number in table.index]
    checked = [_checked_base_columns(row, sheet, number)
               for number, row in zip(rows, table.to_dict("records"), strict=True)]
    _check_unique_ids([c["image_id"] for c in checked], rows, sheet)
    for column in KNOWN_COLUMNS:
        if column in table.columns:
            table[column] = table[column].str.strip().replace("", None)
    for column in BASE_COLUMNS:
        table[column] = [c[column] for c in checked]
    frame = _ordered(table).reset_index(drop=True)
    frame.attrs["sheet"] = str(sheet)
    return frame


def _image_files(path: Path) -> list[Path]:
    """``path`` itself, or the TIFF files of a folder sorted by name (hidden files skipped)."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise SampleSheetError(path, "does not exist", "Check the path")
    files = sorted(p for p in path.iterdir()
                   if p.is_file() and not p.name.startswith(".")
                   and p.name.lower().endswith(IMAGE_SUFFIXES))
    if not files:
        raise SampleSheetError(path, "the folder holds no .tif, .tiff or .ome.tif file",
                               "Give a folder of TIFF images, image files, or a sample sheet")
    return files


def sheet_from_paths(paths: Iterable[str | os.PathLike]) -> pd.DataFrame:
    """The sample-sheet frame for images given as files and folders, without a sheet.

    Parameters
    ----------
    paths : iterable of path-like
        Image files and folders; a folder stands for its ``.tif``/``.tiff``/``.ome.tif``
        files (not its subfolders), sorted by name.

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`read_sample_sheet` with their defaults.

    Raises
    ------
    SampleSheetError
        A path that does not exist, a folder without TIFF files, or two files with the
        same name (hence the same ``image_id``).
    """
    records, file_of = [], {}
    for given in paths:
        for file in _image_files(Path(given).expanduser()):
            absolute = os.path.abspath(file)
            image_id = image_stem(file)
            _check_image_id(image_id, file, None)
            if image_id in file_of:
                raise SampleSheetError(
                    absolute, f"its image_id {image_id!r} is also that of {file_of[image_id]}",
                    "Rename one file, give each file once, or use a sample sheet with an "
                    "image_id column")
            file_of[image_id] = absolute
            records.append({"path": absolute, "image_id": image_id,
                            "role": SHEET_ROLES[0], "population": POPULATIONS[0],
                            "cells_mask": None})
    if not records:
        raise SampleSheetError(None, "no input images given", "Give image files or folders")
    return pd.DataFrame.from_records(records, columns=list(BASE_COLUMNS))
