"""Corrections made in napari, stored in a spmito output folder for ``spmito report``.

The napari Review widget writes them; ``spmito report DIR`` and the napari reader read them.
No Qt, no napari. Layout (``DIR`` is an output folder of ``spmito run``, ``<id>`` an
image id):

``DIR/images/<id>/cells.ome.tif``, ``mito.ome.tif``
    The corrected cell labels replace the batch's, atomically, same grid and physical sizes;
    so do the mitochondria labels, whose pieces follow the cells (a mitochondrion cut by a
    split becomes two pieces with their own ids). ``done.json`` keeps ``labels_sha256`` of
    the labels the batch wrote, so an image whose ``cells.ome.tif`` hashes differently has
    been corrected (:func:`corrected_images`) and the report re-measures it.
``DIR/images/<id>/cells.original.ome.tif``, ``mito.original.ome.tif``
    The batch's labels, copied once before the first correction of the image is saved
    (to audit, revert, or train on the difference). Never rewritten.
``DIR/images/<id>/cells.csv``, ``mito.csv``
    The tables re-measured by :func:`spmito.imaging.pipeline.remeasure_cells` after the edits,
    written atomically, so that reopening the folder shows the corrected state.
``DIR/images/<id>/review.csv``
    One row per cell with a manual override; rewritten whole, atomically, at each save:

    =====================  ==========================================================
    ``cell_id``            the value in ``cells.ome.tif``
    ``population_override``  ``SP``, ``MP`` or empty (no override: the gate decides)
    ``excluded_override``  ``true`` (exclude), ``false`` (keep although an automatic
                           exclusion code applies) or empty (no override)
    =====================  ==========================================================
``DIR/manual_gate.json``
    The gate set in the SP gating widget: the JSON of
    :class:`spmito.measure.analysis.population.Gate` with ``method = "manual"`` and
    ``threshold_x`` (a cell is SP when ``hoechst_x`` is below it). ``spmito report DIR``
    applies it when present (like ``--gate-file``).
``DIR/edits.jsonl``
    Append-only log, one JSON object per line: ``time`` (ISO 8601, UTC), ``image_id``
    (empty for folder-wide actions such as the gate), ``action`` (``merge``, ``split_line``,
    ``split_seeds``, ``delete``, ``paint``, ``population``, ``exclusion``, ``undo``,
    ``redo``, ``gate``, ``save``), ``cell_ids`` (list of int) and ``detail`` (an object).
    Lines are never rewritten.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from spmito.imaging.atomic import atomic_path, write_text_atomic
from spmito.imaging.errors import SpmitoInputError
from spmito.imaging.outputs import (
    done_records,
    image_dir,
    label_path,
    write_image_tables,
    write_label_image,
)
from spmito.imaging.provenance import now_iso, sha256_file
from spmito.measure.analysis.population import Gate

__all__ = [
    "EDIT_LOG",
    "MANUAL_GATE",
    "OVERRIDE_COLUMNS",
    "REVIEW_CSV",
    "EditRecord",
    "append_edits",
    "corrected_images",
    "empty_overrides",
    "read_edits",
    "read_manual_gate",
    "read_overrides",
    "read_review",
    "write_corrected_labels",
    "write_corrected_tables",
    "write_manual_gate",
    "write_review",
]

REVIEW_CSV = "review.csv"
EDIT_LOG = "edits.jsonl"
MANUAL_GATE = "manual_gate.json"
OVERRIDE_COLUMNS = ("cell_id", "population_override", "excluded_override")
POPULATIONS = ("SP", "MP")

_BOOL_TEXT = {"true": True, "false": False}


# ------------------------------------------------------------------------------ labels


def write_corrected_labels(out_dir: str | os.PathLike, image_id: str,
                           labels: Mapping[str, np.ndarray], voxel_size_um: Sequence[float]
                           ) -> list[Path]:
    """Replace label images of an image with corrected ones, keeping the batch's originals.

    Parameters
    ----------
    out_dir : path-like
        The output folder.
    image_id : str
        The image.
    labels : mapping of name to ndarray of int
        ``{"cells": ..., "mito": ...}``: each replaces ``images/<id>/<name>.ome.tif``.
    voxel_size_um : sequence of float
        ``(y, x)`` or ``(z, y, x)`` in µm.

    Returns
    -------
    list of Path
        The label files written.
    """
    written = []
    for name, image in labels.items():
        target = label_path(out_dir, image_id, name)
        original = target.with_name(f"{name}.original.ome.tif")
        if target.is_file() and not original.exists():
            with atomic_path(original) as tmp:
                shutil.copyfile(target, tmp)
        written.append(write_label_image(out_dir, image_id, name, image, voxel_size_um))
    return written


def write_corrected_tables(out_dir: str | os.PathLike, image_id: str,
                           cell_table: pd.DataFrame, mito_table: pd.DataFrame) -> None:
    """Replace ``images/<id>/cells.csv`` and ``mito.csv`` with re-measured tables.

    Same layout as the batch writes (:func:`spmito.imaging.outputs.write_image_tables`).
    """
    write_image_tables(out_dir, image_id, cell_table, mito_table)


def corrected_images(out_dir: str | os.PathLike) -> list[str]:
    """Images whose ``cells.ome.tif`` differs from the labels the batch recorded.

    An image counts as corrected when its ``done.json`` records ``labels_sha256["cells"]``
    and the file's sha256 is now different.

    Returns
    -------
    list of str
        Image ids, sorted.
    """
    corrected = []
    for image_id, done in done_records(out_dir).items():
        recorded = done.get("labels_sha256", {})
        cells = label_path(out_dir, image_id, "cells")
        if "cells" in recorded and cells.is_file() and sha256_file(cells) != recorded["cells"]:
            corrected.append(image_id)
    return corrected


# --------------------------------------------------------------------------- overrides


def empty_overrides() -> pd.DataFrame:
    """An override table with no rows and the columns of ``review.csv``."""
    return pd.DataFrame({"cell_id": pd.Series(dtype="int64"),
                         "population_override": pd.Series(dtype="object"),
                         "excluded_override": pd.Series(dtype="object")})


def write_review(out_dir: str | os.PathLike, image_id: str, overrides: pd.DataFrame) -> Path:
    """Write ``images/<id>/review.csv`` (rows without any override are dropped).

    Parameters
    ----------
    out_dir : path-like
        The output folder.
    image_id : str
        The image.
    overrides : DataFrame
        Columns ``cell_id``, ``population_override`` (``"SP"``, ``"MP"`` or missing) and
        ``excluded_override`` (``True``, ``False`` or missing).

    Returns
    -------
    Path
        The file written.
    """
    path = image_dir(out_dir, image_id) / REVIEW_CSV
    table = _checked_overrides(overrides, path)
    has_override = table["population_override"].notna() | table["excluded_override"].notna()
    table = table[has_override].sort_values("cell_id")
    text = pd.DataFrame({
        "cell_id": table["cell_id"].astype("int64"),
        "population_override": table["population_override"].fillna(""),
        "excluded_override": table["excluded_override"].map(
            {True: "true", False: "false"}).fillna(""),
    })
    with atomic_path(path) as tmp:
        text.to_csv(tmp, index=False)
    return path


def read_review(out_dir: str | os.PathLike, image_id: str) -> pd.DataFrame:
    """The overrides of one image (:func:`empty_overrides` when it has no ``review.csv``).

    Raises
    ------
    SpmitoInputError
        When the file has other columns or values than ``review.csv`` allows.
    """
    path = image_dir(out_dir, image_id) / REVIEW_CSV
    if not path.is_file():
        return empty_overrides()
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in OVERRIDE_COLUMNS if c not in raw.columns]
    if missing:
        raise SpmitoInputError(path, f"review.csv lacks columns {missing} (has "
                               f"{list(raw.columns)})",
                               "Save the review again from napari, or fix the header")
    bad_bool = sorted(set(raw["excluded_override"].str.lower()) - {"", *_BOOL_TEXT})
    if bad_bool:
        raise SpmitoInputError(path, f"excluded_override must be true, false or empty; "
                               f"found {bad_bool}", "Fix those cells")
    table = pd.DataFrame({
        "cell_id": pd.to_numeric(raw["cell_id"], errors="raise").astype("int64"),
        "population_override": raw["population_override"].replace("", None),
        "excluded_override": raw["excluded_override"].str.lower().map(_BOOL_TEXT).astype(
            object).where(raw["excluded_override"] != "", None),
    })
    return _checked_overrides(table, path)


def read_overrides(out_dir: str | os.PathLike) -> pd.DataFrame:
    """Every image's overrides: ``image_id`` followed by the ``review.csv`` columns.

    This is what ``spmito report`` applies: ``population_override`` as manual population
    calls (``population_source = "manual"``), ``excluded_override`` over the automatic
    exclusion flags.
    """
    tables = [read_review(out_dir, path.parent.name).assign(image_id=path.parent.name)
              for path in sorted(Path(out_dir).glob(f"images/*/{REVIEW_CSV}"))]
    tables = [t for t in tables if len(t)]
    columns = ["image_id", *OVERRIDE_COLUMNS]
    if not tables:
        return empty_overrides().assign(image_id=pd.Series(dtype=str))[columns]
    return pd.concat(tables, ignore_index=True)[columns]


def _checked_overrides(overrides: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Overrides with missing values as ``None``; refuses unknown populations or flags.

    A missing value (``None``, NaN, ``pd.NA``) or an empty string means no override.
    """
    table = overrides.loc[:, list(OVERRIDE_COLUMNS)].copy()
    for column in OVERRIDE_COLUMNS[1:]:
        values = table[column].astype(object)
        table[column] = values.where(values.notna() & (values != ""), None)
    populations = set(table["population_override"].dropna()) - set(POPULATIONS)
    flags = {v for v in table["excluded_override"].dropna() if not isinstance(v, bool | np.bool_)}
    if populations or flags:
        raise SpmitoInputError(path, f"overrides must be SP/MP and true/false; found "
                               f"{sorted(map(str, populations | flags))}",
                               "Fix those cells (empty means no override)")
    if table["cell_id"].duplicated().any():
        duplicated = sorted(table.loc[table["cell_id"].duplicated(), "cell_id"].tolist())
        raise SpmitoInputError(path, f"cells {duplicated} appear more than once",
                               "Keep one row per cell")
    return table.reset_index(drop=True)


# -------------------------------------------------------------------------------- gate


def write_manual_gate(out_dir: str | os.PathLike, threshold_x: float, *, alpha: float = 0.01,
                      reference_wells: Sequence[str] = (), n_reference_cells: int = 0) -> Path:
    """Write ``DIR/manual_gate.json``: a manual threshold gate on ``hoechst_x``.

    The file is :meth:`spmito.measure.analysis.population.Gate.to_json` of a manual gate,
    which the batch reads with ``Gate.load`` and applies unchanged.

    Parameters
    ----------
    out_dir : path-like
        The output folder.
    threshold_x : float
        A cell is SP when its ``hoechst_x`` is below this.
    alpha : float
        The fraction of control cells the threshold calls SP (for the record).
    reference_wells : sequence of str
        The images or wells whose cells were shown when the gate was set.
    n_reference_cells : int
        How many control cells were shown.

    Returns
    -------
    Path
        The file written.
    """
    gate = Gate("manual", alpha=float(alpha), threshold_x=float(threshold_x),
                reference_wells=[str(w) for w in reference_wells],
                n_reference_cells=int(n_reference_cells))
    path = Path(out_dir) / MANUAL_GATE
    write_text_atomic(path, gate.to_json() + "\n")
    return path


def read_manual_gate(out_dir: str | os.PathLike) -> dict | None:
    """The gate of ``DIR/manual_gate.json`` as a dict, ``None`` when there is none.

    Raises
    ------
    SpmitoInputError
        When the file is not JSON or not a manual threshold gate.
    """
    path = Path(out_dir) / MANUAL_GATE
    if not path.is_file():
        return None
    try:
        gate = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise SpmitoInputError(path, f"not valid JSON ({error})",
                               "Save the gate again from the napari SP gating widget") from error
    if gate.get("method") != "manual" or not isinstance(gate.get("threshold_x"), int | float):
        raise SpmitoInputError(path, "expected a manual gate with a numeric threshold_x",
                               "Save the gate again from the napari SP gating widget")
    return gate


# ---------------------------------------------------------------------------- edit log


@dataclass(frozen=True)
class EditRecord:
    """One line of ``edits.jsonl``.

    Attributes
    ----------
    action : str
        What was done (see the module notes).
    image_id : str
        The image ('' for folder-wide actions).
    cell_ids : tuple of int
        The cells the action touched.
    detail : dict
        Anything else worth keeping (line vertices, old and new population, ...).
    time : str
        ISO 8601 UTC time of the action.
    """

    action: str
    image_id: str = ""
    cell_ids: tuple[int, ...] = ()
    detail: dict = field(default_factory=dict)
    time: str = field(default_factory=now_iso)

    def to_json(self) -> str:
        """The record as one line of JSON (no newline)."""
        record = asdict(self)
        record["cell_ids"] = [int(i) for i in self.cell_ids]
        return json.dumps({key: record[key] for key in ("time", "image_id", "action",
                                                        "cell_ids", "detail")})

    @classmethod
    def from_json(cls, line: str) -> EditRecord:
        """Parse one line of ``edits.jsonl``."""
        record = json.loads(line)
        return cls(action=record["action"], image_id=record.get("image_id", ""),
                   cell_ids=tuple(int(i) for i in record.get("cell_ids", ())),
                   detail=record.get("detail", {}), time=record["time"])


def append_edits(out_dir: str | os.PathLike, records: Iterable[EditRecord]) -> int:
    """Append records to ``DIR/edits.jsonl`` (created when missing) and flush to disk.

    Returns
    -------
    int
        The number of records appended.
    """
    lines = [record.to_json() + "\n" for record in records]
    if not lines:
        return 0
    path = Path(out_dir) / EDIT_LOG
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as log:
        log.writelines(lines)
        log.flush()
        os.fsync(log.fileno())
    return len(lines)


def read_edits(out_dir: str | os.PathLike) -> list[EditRecord]:
    """Every record of ``DIR/edits.jsonl`` in order (empty when there is no log).

    Raises
    ------
    SpmitoInputError
        On a line that is not a record (names the line number).
    """
    path = Path(out_dir) / EDIT_LOG
    if not path.is_file():
        return []
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(EditRecord.from_json(line))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            raise SpmitoInputError(path, f"line {number} is not an edit record ({error})",
                                   "Remove or fix that line; the log is append-only") from error
    return records
