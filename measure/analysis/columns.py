"""Column names and small look-ups shared by gating, statistics and figures."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

#: Sample-sheet roles whose cells set gates (inhibitor blocks efflux: SP cells look MP).
CONTROL_ROLES = ("inhibitor_control", "gate_setting")

#: Mitochondrial endpoints of cells.csv (2-D and 3-D names); the first size is primary.
MITO_ENDPOINTS = (
    "mito_area_um2", "mito_volume_um3", "mito_count", "mito_fraction", "mito_mean_size",
    "fragmentation_index", "mito_skeleton_length_um", "mito_branches", "mito_junctions",
    "mito_endpoints", "mito_networks", "mito_individuals", "mito_intensity_integrated",
    "mito_intensity_mean",
)
#: The primary endpoint, total mitochondrial size per cell (2-D name, 3-D name).
PRIMARY_ENDPOINTS = ("mito_area_um2", "mito_volume_um3")
#: Per-cell covariates summarised beside the endpoints (domain.md §3: "always").
COVARIATES = (
    "cell_area_um2", "cell_volume_um3", "nucleus_area_um2", "nucleus_volume_um3",
    "hoechst_integrated", "hoechst_x", "viability_mean",
)

#: Per-cell columns (contract.md cells.csv plus gating inputs and outputs); every other
#: column is a sample-sheet column, carried through to well and replicate tables.
CELL_COLUMNS = frozenset({
    "cell_id", "nucleus_id", "n_nuclei", "centroid_z", "centroid_y", "centroid_x",
    "cell_solidity", "hoechst_mean", "hoechst_red_integrated", "hoechst_red_x",
    "population", "population_source", "population_override", "sp_probability",
    "excluded", "exclude_reason", "gate_id", "touches_border", "z_clipped", "saturated",
    "true_population", "true_exclusion",
    *MITO_ENDPOINTS, *COVARIATES,
})


def present(cells: pd.DataFrame, names: Iterable[str]) -> list[str]:
    """The names that are columns of ``cells``, in the given order."""
    return [name for name in names if name in cells.columns]


def first_present(cells: pd.DataFrame, names: Iterable[str]) -> str | None:
    """The first of ``names`` that is a column of ``cells`` (``None`` when none is)."""
    found = present(cells, names)
    return found[0] if found else None


def well_labels(cells: pd.DataFrame) -> pd.Series:
    """Label of the well of each cell: ``"plate/well"``, else ``well``, else ``image_id``."""
    if "well" in cells.columns and "plate" in cells.columns:
        return cells["plate"].astype(str) + "/" + cells["well"].astype(str)
    if "well" in cells.columns:
        return cells["well"].astype(str)
    return cells["image_id"].astype(str)


def group_label(keys: tuple, columns: list[str]) -> str:
    """``"plate=P1, cell_line=U266"`` for a group key, ``"all cells"`` for no columns."""
    if not columns:
        return "all cells"
    return ", ".join(f"{col}={val}" for col, val in zip(columns, keys, strict=True))


def is_control(cells: pd.DataFrame) -> np.ndarray:
    """Whether each cell comes from an inhibitor-control or gate-setting well."""
    if "role" not in cells.columns:
        return np.zeros(len(cells), bool)
    return cells["role"].isin(CONTROL_ROLES).to_numpy()


def sheet_columns(cells: pd.DataFrame) -> list[str]:
    """Columns that are not per-cell measurements: the sample sheet's, carried through."""
    return [col for col in cells.columns if col not in CELL_COLUMNS and not col.startswith("_")]


def constant_columns(cells: pd.DataFrame, by: str | list[str], columns: list[str]) -> list[str]:
    """The ``columns`` that hold one value within every group of ``by``."""
    if not columns:
        return []
    counts = cells.groupby(by, dropna=False)[columns].nunique(dropna=False)
    return [col for col in columns if (counts[col] <= 1).all()]
