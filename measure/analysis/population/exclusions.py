"""Automatic exclusion codes of cells (dead, pyknotic, doublet, ...)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from spmito.measure.analysis.columns import (
    first_present,
    present,
)
from spmito.measure.analysis.population.common import (
    DEFAULT_EXCLUSION_GROUP_BY,
    DOUBLET_MIN_SOLIDITY,
    EXCLUSION_CODES,
    VIABILITY_ROBUST_SDS,
)


def flag_exclusions(
    cells: pd.DataFrame,
    *,
    group_by: Sequence[str] = DEFAULT_EXCLUSION_GROUP_BY,
    viability_threshold: float | None = None,
    require_hoechst: bool = True,
    doublet_min_solidity: float = DOUBLET_MIN_SOLIDITY,
) -> pd.DataFrame:
    """Add ``excluded`` and ``exclude_reason`` (``;``-joined codes, ``""`` when kept).

    Codes (domain.md §2): ``dead`` (viability above threshold), ``pyknotic`` (nucleus size
    < 0.5 x group median and mean Hoechst > 2 x median), ``doublet`` (cell size > 2 x
    median, solidity below ``doublet_min_solidity``, or more than one nucleus),
    ``no_nucleus``, ``border``, ``z_clipped``, ``saturated``, and ``no_hoechst`` (integrated
    Hoechst <= 0 or missing with a nucleus; only when ``require_hoechst``). A rule whose
    input columns are absent flags nothing.

    Parameters
    ----------
    cells : pandas.DataFrame
        Per-cell table (cells.csv columns).
    group_by : sequence of str
        Columns whose groups get their own medians (absent ones are skipped).
    viability_threshold : float, optional
        ``viability_mean`` above which a cell is dead. Default: group median + 5 robust
        SDs (1.4826 MAD) of the complete cells; give a threshold from a dead-cell control
        when one exists.
    require_hoechst : bool
        Exclude cells without a positive integrated Hoechst (all gates need it).
    doublet_min_solidity : float
        Solidity (cell size over its convex hull's) below which a cell is a doublet;
        domain.md's 0.90 by default, 0 turns the shape test off (spread adherent cells).

    Returns
    -------
    pandas.DataFrame
        A copy of ``cells`` with the two columns.
    """
    out = cells.copy()
    group_median = _GroupMedian(out, group_by)
    rules = {
        "dead": _dead(out, group_median, viability_threshold),
        "pyknotic": _pyknotic(out, group_median),
        "doublet": _doublet(out, group_median, doublet_min_solidity),
        "no_nucleus": _no_nucleus(out),
        "border": _flag(out, "touches_border"),
        "z_clipped": _flag(out, "z_clipped"),
        "saturated": _flag(out, "saturated"),
        "no_hoechst": (_no_hoechst(out) if require_hoechst else np.zeros(len(out), bool)),
    }
    flags = np.column_stack([rules[code] for code in EXCLUSION_CODES])
    excluded = flags.any(axis=1)
    codes = np.asarray(EXCLUSION_CODES, dtype=object)
    reason = np.full(len(out), "", dtype=object)
    reason[excluded] = [";".join(codes[row]) for row in flags[excluded]]
    out["exclude_reason"] = pd.Series(reason, index=out.index, dtype=object)
    out["excluded"] = excluded
    return out


def _flag(cells: pd.DataFrame, column: str) -> np.ndarray:
    if column not in cells.columns:
        return np.zeros(len(cells), bool)
    return cells[column].fillna(False).astype(bool).to_numpy()


def _no_nucleus(cells: pd.DataFrame) -> np.ndarray:
    if "n_nuclei" not in cells.columns:
        return np.zeros(len(cells), bool)
    return (cells["n_nuclei"].fillna(0) < 1).to_numpy()


def _no_hoechst(cells: pd.DataFrame) -> np.ndarray:
    intensity = cells["hoechst_integrated"].to_numpy(float)
    return ~(intensity > 0) & ~_no_nucleus(cells)


def complete_cells(cells: pd.DataFrame) -> np.ndarray:
    """Single-nucleus cells wholly in the image: the ones group medians are taken over.

    Wholly: not touching the image's lateral edge, nor its first or last plane.
    """
    complete = ~_flag(cells, "touches_border") & ~_flag(cells, "z_clipped")
    if "n_nuclei" in cells.columns:
        complete &= (cells["n_nuclei"] == 1).to_numpy()
    return complete


def exclusion_reason_counts(cells: pd.DataFrame) -> pd.Series:
    """Cells per exclusion code, most first; a cell with several codes counts under each."""
    reasons = cells["exclude_reason"].fillna("").astype(str).str.split(";").explode()
    return reasons[reasons != ""].value_counts().rename_axis("reason")


class _GroupMedian:
    """Per-cell median of values over the complete cells of the cell's group."""

    def __init__(self, cells: pd.DataFrame, group_by: Sequence[str]):
        keys = present(cells, group_by)
        self.codes = (cells.groupby(keys, dropna=False, sort=False).ngroup().to_numpy()
                      if keys else np.zeros(len(cells), int))
        self.complete = complete_cells(cells)

    def __call__(self, values: np.ndarray) -> np.ndarray:
        values = pd.Series(np.where(self.complete, np.asarray(values, float), np.nan))
        return values.groupby(self.codes).transform("median").to_numpy()


def _dead(cells, group_median: _GroupMedian, threshold) -> np.ndarray:
    if "viability_mean" not in cells.columns:
        return np.zeros(len(cells), bool)
    viability = cells["viability_mean"].to_numpy(float)
    if threshold is None:
        median = group_median(viability)
        threshold = median + VIABILITY_ROBUST_SDS * 1.4826 * group_median(
            np.abs(viability - median))
    return viability > threshold


def _pyknotic(cells, group_median: _GroupMedian) -> np.ndarray:
    nucleus = first_present(cells, ("nucleus_area_um2", "nucleus_volume_um3"))
    if nucleus is None or "hoechst_mean" not in cells.columns:
        return np.zeros(len(cells), bool)
    size = cells[nucleus].to_numpy(float)
    brightness = cells["hoechst_mean"].to_numpy(float)
    return (size < 0.5 * group_median(size)) & (brightness > 2.0 * group_median(brightness))


def _doublet(cells, group_median: _GroupMedian, min_solidity: float) -> np.ndarray:
    flagged = np.zeros(len(cells), bool)
    size = first_present(cells, ("cell_area_um2", "cell_volume_um3"))
    if size is not None:
        values = cells[size].to_numpy(float)
        flagged |= values > 2.0 * group_median(values)
    if "cell_solidity" in cells.columns:
        flagged |= cells["cell_solidity"].to_numpy(float) < min_solidity
    if "n_nuclei" in cells.columns:
        flagged |= (cells["n_nuclei"].fillna(0) > 1).to_numpy()
    return flagged
