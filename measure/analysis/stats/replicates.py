"""``replicates.csv``: the cells compared and per-replicate summaries of SP and MP."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from spmito.measure.analysis.columns import (
    COVARIATES,
    MITO_ENDPOINTS,
    PRIMARY_ENDPOINTS,
    present,
)
from spmito.measure.analysis.stats.common import DEFAULT_STRATA


def analysis_cells(cells: pd.DataFrame) -> pd.DataFrame:
    """The cells of the SP-vs-MP comparison: QC-passed, test wells, population SP or MP.

    Raises
    ------
    ValueError
        When there is no ``replicate`` column.
    """
    if "replicate" not in cells.columns:
        raise ValueError("the per-cell table has no 'replicate' column; the unit of the "
                         "SP-vs-MP comparison is the biological replicate. Add a replicate "
                         "column to the sample sheet")
    keep = ~cells["excluded"].astype(bool) & cells["population"].isin(["SP", "MP"])
    if "role" in cells.columns:
        keep &= cells["role"] == "test"
    return cells[keep & cells["replicate"].notna()]


def endpoint_columns(cells: pd.DataFrame) -> list[str]:
    """Mitochondrial endpoints present in the table (contract order)."""
    return present(cells, MITO_ENDPOINTS)


def primary_endpoint(cells: pd.DataFrame) -> str:
    """Total mitochondrial size per cell: ``mito_area_um2`` (2-D) or ``mito_volume_um3``.

    Raises
    ------
    ValueError
        When neither is present, or both hold values (2-D and 3-D images mixed).
    """
    filled = [c for c in PRIMARY_ENDPOINTS if c in cells.columns and cells[c].notna().any()]
    if len(filled) != 1:
        raise ValueError(f"cannot choose the primary endpoint: found values in {filled} of "
                         f"{list(PRIMARY_ENDPOINTS)}; analyse 2-D and 3-D images separately "
                         "or pass primary=")
    return filled[0]


def replicate_table(
    cells: pd.DataFrame,
    endpoints: Sequence[str] | None = None,
    *,
    strata: Sequence[str] = DEFAULT_STRATA,
) -> pd.DataFrame:
    """Median of every endpoint and covariate per stratum, replicate and population.

    Parameters
    ----------
    cells : pandas.DataFrame
        Output of :func:`spmito.measure.analysis.population.assign_populations`.
    endpoints : sequence of str, optional
        Columns to summarise (default: the mitochondrial endpoints and covariates present).
    strata : sequence of str
        Columns the comparison is made within (absent ones are skipped).

    Returns
    -------
    pandas.DataFrame
        Columns: strata, ``replicate, population, n_cells``, then one column per endpoint
        holding the replicate median.
    """
    data = analysis_cells(cells)
    if endpoints is None:
        endpoints = endpoint_columns(data) + present(data, COVARIATES)
    keys = [*present(data, strata), "replicate", "population"]
    grouped = data.groupby(keys, sort=True)
    table = grouped[list(endpoints)].median()
    table.insert(0, "n_cells", grouped.size())
    return table.reset_index()
