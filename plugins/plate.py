"""What the Measurements widget shows about an output folder's images (no Qt).

The images of a plate with their role, well, cell count and SP % (``DIR/cells.csv``), and
the failed plausibility checks of ``DIR/qc.csv`` (contract.md: ``image_id`` (empty for the
run), ``check``, ``severity`` (warning | fail), ``value``, ``expected``, ``message``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from spmito.imaging.qc import QC_COLUMNS, read_qc
from spmito.plugins._reader import plate_images

#: Per-cell columns shown first in the table, in this order (the rest follow).
FIRST_COLUMNS = ("cell_id", "population", "excluded", "hoechst_x", "cell_area_um2",
                 "cell_volume_um3", "mito_count", "mito_area_um2", "mito_volume_um3",
                 "fragmentation_index", "population_source", "exclude_reason")


def plate_overview(out_dir: str | os.PathLike) -> pd.DataFrame:
    """One row per analysed image: ``image_id, role, well, n_cells, sp_percent, n_warnings``.

    ``sp_percent`` is over the kept cells with a class (NaN when none has one).
    """
    out_dir = Path(out_dir)
    ids = plate_images(out_dir)
    overview = pd.DataFrame({"image_id": ids})
    cells_path = out_dir / "cells.csv"
    if cells_path.is_file():
        wanted = {"image_id", "role", "well", "population", "excluded"}
        cells = pd.read_csv(cells_path, usecols=lambda c: c in wanted, dtype={"image_id": str},
                            low_memory=False)
        overview = overview.merge(_per_image(cells), on="image_id", how="left")
    warnings = qc_warnings(out_dir)
    counts = warnings[warnings["image_id"] != ""].groupby("image_id").size()
    overview["n_warnings"] = overview["image_id"].map(counts).fillna(0).astype(int)
    return overview


def _per_image(cells: pd.DataFrame) -> pd.DataFrame:
    kept = ~cells["excluded"].astype(str).str.lower().eq("true") if "excluded" in cells \
        else pd.Series(True, index=cells.index)
    classified = cells["population"].isin(["SP", "MP"]) if "population" in cells \
        else pd.Series(False, index=cells.index)
    sp = cells["population"].eq("SP") if "population" in cells else classified
    table = pd.DataFrame({"image_id": cells["image_id"], "n_cells": 1,
                          "classified": kept & classified, "sp": kept & sp})
    for column in ("role", "well"):
        if column in cells:
            table[column] = cells[column]
    grouped = table.groupby("image_id")
    per_image = grouped[["n_cells", "classified", "sp"]].sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        per_image["sp_percent"] = np.where(per_image["classified"] > 0, 100.0 * per_image["sp"]
                                           / per_image["classified"].clip(lower=1), np.nan)
    for column in ("role", "well"):
        if column in table:
            per_image[column] = grouped[column].first()
    return per_image.drop(columns=["classified", "sp"]).reset_index()


def qc_warnings(out_dir: str | os.PathLike, image_id: str | None = None) -> pd.DataFrame:
    """The failed checks of ``DIR/qc.csv``: every one, or those of ``image_id`` and of the run.

    Returns an empty table with :data:`spmito.imaging.qc.QC_COLUMNS` when there is no ``qc.csv``.
    """
    table = read_qc(out_dir)
    if table is None:
        return pd.DataFrame(columns=list(QC_COLUMNS))
    table = table.reindex(columns=list(QC_COLUMNS))
    table["image_id"] = table["image_id"].fillna("")
    failed = table[table["severity"].astype(str) != "ok"]
    if image_id is None:
        return failed.reset_index(drop=True)
    mine = (failed["image_id"] == "") | (failed["image_id"] == image_id)
    return failed[mine].reset_index(drop=True)


def table_for_reading(features: pd.DataFrame) -> pd.DataFrame:
    """The cells table with the columns a reader looks for first (:data:`FIRST_COLUMNS`).

    napari's ``index`` column (a copy of ``cell_id``) is left out.
    """
    first = [c for c in FIRST_COLUMNS if c in features.columns]
    rest = [c for c in features.columns if c not in first and c != "index"]
    return features[first + rest]


def arrange_side_by_side(groups: list[list]) -> None:
    """Translate each group of layers (one image) to the right of the previous ones.

    Parameters
    ----------
    groups : list of list of napari layers
        The layers of each image, in the order the images were opened.
    """
    offset_x = 0.0
    for layers in groups:
        first = layers[0]
        width = first.data.shape[-1] * float(first.scale[-1])
        for layer in layers:
            translate = np.zeros(layer.ndim)
            translate[-1] = offset_x
            if not np.allclose(layer.translate, translate):
                layer.translate = translate
        offset_x += width * 1.05
