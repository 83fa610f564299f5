"""The sample sheet (domain.md §5): one row per image, with its experimental design.

A sheet is a CSV file (comma-separated, UTF-8, Excel's byte-order mark accepted). Column
names are matched case-insensitively against :data:`KNOWN_COLUMNS`; any other column is
carried through to the output tables unchanged. Known columns are kept as the text typed
(``"01"`` stays ``"01"``, surrounding blanks removed); pandas infers the type of others.

Errors name the sheet, the row as a spreadsheet shows it (the header is row 1) and the
column. Without a sheet, :func:`sheet_from_paths` builds the same frame from image files
and folders.

A bad row (a missing file, an unknown role, a duplicate id, a replicate that is not a
whole number, more fields than the header) is an error of that row: by default reading
stops there; with ``bad_rows="keep"`` (what ``spmito run`` does) the row stays in the frame,
its error goes into ``frame.attrs["row_errors"]`` and the batch lists it in ``failures.csv``
while the other rows are analysed. Image ids name output folders: :func:`safe_image_id`
and :func:`unique_image_ids` make them usable.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Literal

import pandas as pd

from spmito.imaging.errors import SampleSheetError
from spmito.imaging.stack import IMAGE_SUFFIXES, image_stem

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

#: Longest image id, in UTF-8 bytes (it names a folder; file systems allow 255).
MAX_IMAGE_ID_BYTES = 120

#: Characters an image id (a folder name) cannot hold on some file system.
_UNSAFE_ID_CHARACTERS = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]')

#: Largest sheet read, in bytes (a sheet of 100 000 images is a few MB).
_MAX_SHEET_BYTES = 64 << 20


def safe_image_id(text: str) -> str:
    """``text`` made usable as an output folder name.

    Characters that some file system refuses (``/ : * ? " < > |``, the backslash, control
    characters)
    become ``_``; leading and trailing dots and blanks go (no hidden or dot folders); an
    empty result becomes ``image``; a name longer than :data:`MAX_IMAGE_ID_BYTES` is cut
    and gets 8 hex digits of its sha1, so that long names stay distinct.

    Examples
    --------
    >>> safe_image_id("../well:A1")
    '_well_A1'
    >>> safe_image_id("")
    'image'
    """
    safe = _UNSAFE_ID_CHARACTERS.sub("_", str(text)).strip(" .")
    if len(safe.encode("utf-8")) > MAX_IMAGE_ID_BYTES:
        digest = hashlib.sha1(str(text).encode("utf-8", "surrogatepass")).hexdigest()[:8]
        cut = safe.encode("utf-8")[:MAX_IMAGE_ID_BYTES - 9].decode("utf-8", "ignore")
        safe = f"{cut.rstrip(' .')}-{digest}"
    return safe or "image"


def unique_image_ids(image_ids: Iterable[str]) -> list[str]:
    """Safe ids (:func:`safe_image_id`), a repeat getting ``-2``, ``-3``, ... appended."""
    taken: set[str] = set()
    unique = []
    for image_id in image_ids:
        candidate = base = safe_image_id(image_id)
        number = 1
        while candidate in taken:
            number += 1
            candidate = f"{base}-{number}"
        taken.add(candidate)
        unique.append(candidate)
    return unique


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


def _sheet_text(sheet: Path) -> str:
    try:
        if not sheet.is_file():
            raise SampleSheetError(sheet, "the sample sheet does not exist", "Check the path")
        if sheet.stat().st_size > _MAX_SHEET_BYTES:
            raise SampleSheetError(sheet, f"the sample sheet has {sheet.stat().st_size} bytes, "
                                   f"more than the {_MAX_SHEET_BYTES} spmito reads",
                                   "Give a CSV file with one row per image")
        text = sheet.read_text(encoding="utf-8-sig")
    except OSError as error:
        raise SampleSheetError(sheet, f"cannot be opened ({error.strerror or error})",
                               "Check the path (and shorten it if it is very long)") from error
    except UnicodeDecodeError as error:
        raise SampleSheetError(sheet, f"is not UTF-8 text ({error.reason})",
                               "Save it as CSV (comma-separated, UTF-8)") from error
    if "\x00" in text:
        raise SampleSheetError(sheet, "holds NUL bytes: it is not a text file",
                               "Save it as CSV (comma-separated, UTF-8)")
    return text


def _overlong_rows(text: str, n_columns: int) -> dict[int, int]:
    """Sheet row -> number of fields, for rows with non-empty fields beyond the header's.

    Empty extra fields (trailing commas, as spreadsheets write them) are harmless and
    dropped.
    """
    records = csv.reader(io.StringIO(text))
    return {number: len(fields) for number, fields in enumerate(records, start=1)
            if number > 1 and any(field.strip() for field in fields[n_columns:])}


def _read_csv(sheet: Path) -> tuple[pd.DataFrame, dict[int, int]]:
    """The sheet's cells with canonical column names; blank lines dropped, index = sheet row.

    Also returns the rows with more (non-empty) fields than the header.
    """
    text = _sheet_text(sheet)
    options = {"skip_blank_lines": False, "index_col": False}
    try:
        header = pd.read_csv(io.StringIO(text), nrows=0, **options).columns
        columns = _canonical_columns(header, sheet)
        typed = {name: str for name, canonical in columns.items() if canonical in KNOWN_COLUMNS}
        overlong = _overlong_rows(text, len(header))
        table = pd.read_csv(io.StringIO(text), dtype=typed, usecols=range(len(header)),
                            **options)
    except (ValueError, csv.Error, OverflowError) as error:  # pandas' errors are ValueErrors
        raise SampleSheetError(sheet, f"cannot be read as a CSV file ({error})",
                               "Save it as CSV (comma-separated, UTF-8)") from error
    table = table.rename(columns=columns)
    table.index = table.index + 2  # the header is row 1
    table = table.dropna(how="all")
    if table.empty:
        raise SampleSheetError(sheet, "the sample sheet has no rows", "Add one row per image")
    return table, overlong


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


def _absolute(value: str, sheet: Path) -> str:
    """``value`` as an absolute path, relative to the sheet's folder."""
    return os.path.abspath(sheet.parent / Path(value).expanduser())


def _existing_file(value: str, sheet: Path, row: int, column: str) -> str:
    """``value`` as an absolute path, relative to the sheet's folder; it must be a file."""
    absolute = Path(_absolute(value, sheet))
    try:
        is_file, is_dir = absolute.is_file(), absolute.is_dir()
    except OSError as error:  # e.g. a name longer than the file system allows
        raise _row_error(sheet, row, column, f"{value[:80]!r}... cannot be looked up "
                         f"({error.strerror or error})", "Shorten the path") from error
    if not is_file:
        problem = "is a folder, not an image file" if is_dir else "does not exist"
        raise _row_error(sheet, row, column, f"{value!r} {problem} (looked for {absolute})",
                         "Give the file's path relative to the sheet's folder, or absolute")
    return str(absolute)


def _check_image_id(image_id: str, sheet: Path, row: int) -> None:
    """An image id typed in a sheet names an output folder: it must be safe as it is."""
    if safe_image_id(image_id) != image_id:
        raise _row_error(sheet, row, "image_id",
                         f"image_id {image_id[:80]!r} cannot name a folder (it is a dot name, "
                         f"longer than {MAX_IMAGE_ID_BYTES} bytes, or holds one of "
                         "/ \\ : * ? \" < > | or a control character)",
                         "Use letters, digits, '-' and '_'")


def _check_replicate(row: Mapping, sheet: Path, number: int) -> None:
    """A replicate is the unit of the statistics: a whole number in every row."""
    value = _cell(row, "replicate")
    if value is None or not re.fullmatch(r"\d{1,9}", value):
        shown = "empty" if value is None else repr(value[:40])
        raise _row_error(sheet, number, "replicate",
                         f"the replicate is {shown}, not a whole number; the replicate is "
                         "the unit of the SP-vs-MP statistics",
                         "Number the biological replicates 1, 2, 3, ... in every row")


def _checked_base_columns(row: Mapping, sheet: Path, number: int) -> dict:
    """The :data:`BASE_COLUMNS` of one sheet row: checked, with defaults, paths absolute."""
    path = _cell(row, "path")
    if path is None:
        raise _row_error(sheet, number, "path", "the image path is empty",
                         "Give an image file or delete the row")
    mask = _cell(row, "cells_mask")
    typed_id = _cell(row, "image_id")
    if typed_id is not None:
        _check_image_id(typed_id, sheet, number)
    if "replicate" in row:
        _check_replicate(row, sheet, number)
    return {
        "path": _existing_file(path, sheet, number, "path"),
        "image_id": typed_id or safe_image_id(image_stem(path)),
        "role": _choice(_cell(row, "role"), SHEET_ROLES, sheet, number, "role"),
        "population": _choice(_cell(row, "population"), POPULATIONS, sheet, number,
                              "population"),
        "cells_mask": None if mask is None else _existing_file(mask, sheet, number,
                                                               "cells_mask"),
    }


def _duplicate_id_errors(image_ids: list[str], rows: list[int], sheet: Path
                         ) -> dict[int, SampleSheetError]:
    """Row -> error, for each row whose image_id an earlier row has."""
    first_row_of: dict[str, int] = {}
    errors = {}
    for image_id, number in zip(image_ids, rows, strict=True):
        if image_id in first_row_of:
            errors[number] = _row_error(
                sheet, number, "image_id",
                f"{image_id!r} is already the image_id of row {first_row_of[image_id]}",
                "Give each image a unique image_id (it names the output folder)")
        else:
            first_row_of[image_id] = number
    return errors


def _fallback_columns(row: Mapping, sheet: Path, number: int) -> dict:
    """The :data:`BASE_COLUMNS` of a bad row, kept so the batch can list it as failed."""
    path = _cell(row, "path")
    return {"path": _absolute(path, sheet) if path else "",
            "image_id": _cell(row, "image_id") or (image_stem(path) if path else f"row{number}"),
            "role": SHEET_ROLES[0], "population": POPULATIONS[0], "cells_mask": None}


def _check_row(row: Mapping, sheet: Path, number: int, n_fields: int | None,
               n_columns: int) -> dict:
    if n_fields is not None:
        raise _row_error(sheet, number, "(whole row)", f"the row has {n_fields} fields but "
                         f"the header names {n_columns} columns",
                         "Quote fields that contain commas, or remove the extra fields")
    return _checked_base_columns(row, sheet, number)


def _ordered(frame: pd.DataFrame) -> pd.DataFrame:
    """Known columns in :data:`KNOWN_COLUMNS` order, then the sheet's own, in its order."""
    known = [c for c in KNOWN_COLUMNS if c in frame.columns]
    return frame[known + [c for c in frame.columns if c not in KNOWN_COLUMNS]]


def read_sample_sheet(path: str | os.PathLike,
                      bad_rows: Literal["raise", "keep"] = "raise") -> pd.DataFrame:
    """Read and check a sample sheet.

    Parameters
    ----------
    path : path-like
        The sheet (``.csv``). Image paths in it are relative to its folder (or absolute).
    bad_rows : {"raise", "keep"}
        ``"raise"``: the first bad row raises. ``"keep"``: bad rows stay in the frame with
        the defaults, a unique safe ``image_id`` and their error in
        ``attrs["row_errors"]`` (image_id -> :class:`SampleSheetError`); only errors of the
        sheet as a whole raise.

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
        ``image_id``, a replicate that is not a whole number, a row with more fields than
        the header, an unreadable or empty sheet.
    """
    if bad_rows not in ("raise", "keep"):
        raise ValueError(f"bad_rows must be 'raise' or 'keep', got {bad_rows!r}")
    sheet = Path(os.path.abspath(Path(path).expanduser()))
    table, overlong = _read_csv(sheet)
    rows = [int(number) for number in table.index]
    checked, errors = [], {}
    for number, row in zip(rows, table.to_dict("records"), strict=True):
        try:
            checked.append(_check_row(row, sheet, number, overlong.get(number),
                                      len(table.columns)))
        except SampleSheetError as error:
            if bad_rows == "raise":
                raise
            errors[number] = error
            checked.append(_fallback_columns(row, sheet, number))
    duplicates = _duplicate_id_errors([c["image_id"] for c in checked], rows, sheet)
    if duplicates and bad_rows == "raise":
        raise duplicates[min(duplicates)]
    errors = {**duplicates, **errors}
    ids = unique_image_ids(c["image_id"] for c in checked)
    for column in KNOWN_COLUMNS:
        if column in table.columns:
            table[column] = table[column].str.strip().replace("", None)
    for column in BASE_COLUMNS:
        table[column] = [c[column] for c in checked]
    table["image_id"] = ids
    frame = _ordered(table).reset_index(drop=True)
    frame.attrs["sheet"] = str(sheet)
    frame.attrs["row_errors"] = {image_id: errors[number]
                                 for image_id, number in zip(ids, rows, strict=True)
                                 if number in errors}
    return frame


def _image_files(path: Path) -> list[Path]:
    """``path`` itself, or the TIFF entries of a folder sorted by name (hidden ones skipped).

    A path that is not a folder counts as an image, whatever it is (missing, a dangling
    link, a FIFO): reading it fails for that image alone. A folder's entries named like
    images count likewise, so a dangling link or a folder named ``x.tif`` is listed as a
    failure, not skipped in silence.
    """
    try:
        is_dir = path.is_dir()
    except OSError:  # e.g. a name too long: reading it will say so
        is_dir = False
    if not is_dir:
        return [path]
    files = sorted(p for p in path.iterdir()
                   if not p.name.startswith(".") and p.name.lower().endswith(IMAGE_SUFFIXES))
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
        A folder without TIFF files, or no path at all. A path that does not exist is an
        image that will fail alone. Ids are :func:`unique_image_ids` of the file names
        (two ``A1.tif`` in two folders give ``A1`` and ``A1-2``).
    """
    records = []
    for given in paths:
        for file in _image_files(Path(given).expanduser()):
            records.append({"path": os.path.abspath(file), "image_id": image_stem(file),
                            "role": SHEET_ROLES[0], "population": POPULATIONS[0],
                            "cells_mask": None})
    if not records:
        raise SampleSheetError(None, "no input images given", "Give image files or folders")
    frame = pd.DataFrame.from_records(records, columns=list(BASE_COLUMNS))
    frame["image_id"] = unique_image_ids(frame["image_id"])
    return frame
