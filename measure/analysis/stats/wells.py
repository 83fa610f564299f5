"""``wells.csv``: SP % per well with its CI, and ΔSP % against the linked controls."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from spmito.measure.analysis.columns import (
    constant_columns,
    sheet_columns,
    well_labels,
)
from spmito.measure.analysis.population import Gate
from spmito.measure.analysis.stats.common import DEFAULT_LINK_BY, MIN_CELLS_PER_WELL, StatsWarning
from spmito.measure.analysis.stats.intervals import difference_interval, wilson_interval


def well_table(
    cells: pd.DataFrame,
    gates: Iterable[Gate] = (),
    *,
    link_by: Sequence[str] = DEFAULT_LINK_BY,
    min_cells: int = MIN_CELLS_PER_WELL,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """SP % per well with its CI, and ΔSP % of test wells against their linked controls.

    SP % has a Wilson CI (mixture gates: the bootstrap CI of the fitted weight); ΔSP % has
    Newcombe's hybrid score CI (:func:`difference_interval` of the two wells' CIs).

    The estimated gate adds variance that neither interval models, but when a test well is
    linked to all control wells of its gate group (one plate per replicate, the usual
    design) it largely cancels: control wells are gated by the other control cells
    (leave-one-well-out or cross-fitted halves), which cancels their pooled SP %'s own
    sampling noise to first order, while their Wilson interval still counts that noise,
    about the variance alpha (1 - alpha) / n_controls that the pooled gate adds to the
    test well. On simulated plates the ΔSP % interval covers the truth in about 94.5 % of
    wells (benchmarks/measure_acceptance.py). When a test well is linked to only some of
    its group's control wells, that cancellation is partial and the interval is narrower
    than it should be.

    Parameters
    ----------
    cells : pandas.DataFrame
        Output of :func:`spmito.measure.analysis.population.assign_populations`.
    gates : iterable of Gate
        Its gates; mixture gates supply the wells' fitted SP fractions.
    link_by : sequence of str
        Columns a test well shares with its inhibitor-control wells.
    min_cells : int
        QC-passed cells per well under which ``low_cell_count`` is set (and a warning).
    confidence : float
        Level of the CIs.

    Returns
    -------
    pandas.DataFrame
        One row per well: ``well_id``, the sample-sheet columns constant within wells,
        ``n_cells`` (QC-passed), ``n_excluded``, ``n_sp``, ``sp_percent, sp_ci_low,
        sp_ci_high`` (Wilson, or mixture bootstrap), ``delta_sp_percent, delta_ci_low,
        delta_ci_high`` (Newcombe; test wells), ``linked_controls``, ``sp_estimate``
        (count | mixture), ``low_cell_count`` and ``gate_ids``.
    """
    data = cells.assign(well_id=well_labels(cells))
    kept = ~data["excluded"].astype(bool)
    grouped = data.assign(_kept=kept, _sp=kept & (data["population"] == "SP"),
                          _excluded=~kept).groupby("well_id", sort=True)
    wells = pd.DataFrame({"n_cells": grouped["_kept"].sum(),
                          "n_excluded": grouped["_excluded"].sum(),
                          "n_sp": grouped["_sp"].sum()})
    wells["gate_ids"] = grouped["gate_id"].agg(lambda ids: ";".join(sorted(set(ids) - {""})))
    carried = constant_columns(data, "well_id", [c for c in sheet_columns(data)
                                                 if c != "well_id"])
    wells = grouped[carried].first().join(wells)
    _add_sp_estimates(wells, list(gates), confidence)
    _add_delta(wells, [c for c in link_by if c in wells.columns], confidence)
    _flag_low_counts(wells, min_cells)
    for column in ("sp_percent", "sp_ci_low", "sp_ci_high", "delta_sp_percent",
                   "delta_ci_low", "delta_ci_high"):
        wells[column] = 100 * wells[column]
    return wells.reset_index()


def _add_sp_estimates(wells: pd.DataFrame, gates: list[Gate], confidence: float) -> None:
    """Fractions (0-1) and CIs: Wilson on counts, replaced by mixture fits where given."""
    wells["sp_percent"] = wells["n_sp"] / wells["n_cells"].where(wells["n_cells"] > 0)
    wells["sp_ci_low"], wells["sp_ci_high"] = wilson_interval(wells["n_sp"], wells["n_cells"],
                                                             confidence)
    wells["sp_estimate"] = "count"
    parts = pd.DataFrame([estimate for gate in gates for estimate in gate.well_estimates])
    if parts.empty:
        return
    for well, well_parts in parts.groupby("well"):
        if well in wells.index:
            wells.loc[well, ["sp_percent", "sp_ci_low", "sp_ci_high"]] = (
                _combine_fractions(well_parts))
            wells.loc[well, "sp_estimate"] = "mixture"


def _combine_fractions(parts: pd.DataFrame) -> list[float]:
    """Cell-weighted SP fraction of independent parts of a well (or of pooled wells).

    ``parts`` has ``n_cells, sp_fraction, ci_low, ci_high``. The CI of the weighted sum
    recovers each part's variance from its own limits (MOVER, Zou & Donner 2008), the same
    construction as :func:`difference_interval`; one part keeps its own CI.
    """
    share = (parts["n_cells"] / parts["n_cells"].sum()).to_numpy(float)
    fraction = parts["sp_fraction"].to_numpy(float)
    total = float(share @ fraction)
    low = total - np.sqrt(np.sum((share * (fraction - parts["ci_low"].to_numpy(float))) ** 2))
    high = total + np.sqrt(np.sum((share * (parts["ci_high"].to_numpy(float) - fraction))
                                  ** 2))
    return [total, float(low), float(high)]


def _add_delta(wells: pd.DataFrame, link_by: list[str], confidence: float) -> None:
    """ΔSP (fractions) of test wells against their pooled linked inhibitor-control wells."""
    for column in ("delta_sp_percent", "delta_ci_low", "delta_ci_high"):
        wells[column] = np.nan
    wells["linked_controls"] = ""
    if "role" not in wells.columns:
        return
    tests = wells[(wells["role"] == "test") & _gated(wells)]
    controls = wells[wells["role"] == "inhibitor_control"]
    if tests.empty:
        return
    if controls.empty:
        _warn_unlinked(list(tests.index), link_by)
        return
    if link_by:
        pooled = controls.groupby(link_by, dropna=False).apply(_pool_controls, confidence)
        linked = tests[link_by].reset_index().merge(pooled.reset_index(), on=link_by,
                                                    how="left")
    else:
        pooled = pd.DataFrame([_pool_controls(controls, confidence)])
        linked = tests[[]].reset_index().merge(pooled, how="cross")
    linked = linked.set_index("well_id").reindex(tests.index)
    low, high = difference_interval(
        tests["sp_percent"], tests["sp_ci_low"], tests["sp_ci_high"],
        linked["fraction"], linked["ci_low"], linked["ci_high"])
    wells.loc[tests.index, "delta_sp_percent"] = tests["sp_percent"] - linked["fraction"]
    wells.loc[tests.index, "delta_ci_low"] = low
    wells.loc[tests.index, "delta_ci_high"] = high
    wells.loc[tests.index, "linked_controls"] = linked["linked_controls"].fillna("")
    unlinked = list(tests.index[linked["fraction"].isna()])
    if unlinked:
        _warn_unlinked(unlinked, link_by)


def _warn_unlinked(wells: list[str], link_by: list[str]) -> None:
    warnings.warn(f"{len(wells)} test wells have no inhibitor-control well with the same "
                  f"{', '.join(link_by) or 'values'} (e.g. {wells[:3]}); their ΔSP % is "
                  "empty. Add controls or pass link_by", StatsWarning, stacklevel=4)


def _pool_controls(linked: pd.DataFrame, confidence: float) -> pd.Series:
    """SP fraction and CI of linked control wells (counts summed when counted)."""
    names = ["fraction", "ci_low", "ci_high", "linked_controls"]
    wells = ";".join(linked.index)
    if len(linked) == 1:
        row = linked.iloc[0]
        values = [row["sp_percent"], row["sp_ci_low"], row["sp_ci_high"]]
    elif (linked["sp_estimate"] == "count").all():
        k, n = linked["n_sp"].sum(), linked["n_cells"].sum()
        low, high = wilson_interval(k, n, confidence)
        values = [k / n, float(low), float(high)]
    else:
        values = _combine_fractions(linked.rename(columns={
            "sp_percent": "sp_fraction", "sp_ci_low": "ci_low", "sp_ci_high": "ci_high"}))
    return pd.Series([*map(float, values), wells], index=names, dtype=object)


def _gated(wells: pd.DataFrame) -> pd.Series:
    """Whether each well is unsorted (its SP % comes from a gate, not from the sheet)."""
    if "sheet_population" not in wells.columns:
        return pd.Series(True, index=wells.index)
    return wells["sheet_population"] == "unsorted"


def _flag_low_counts(wells: pd.DataFrame, min_cells: int) -> None:
    wells["low_cell_count"] = _gated(wells) & (wells["n_cells"] < min_cells)
    low = wells.index[wells["low_cell_count"]]
    if len(low):
        warnings.warn(f"{len(low)} wells have fewer than {min_cells} QC-passed cells (e.g. "
                      f"{list(low[:3])}); their SP % is imprecise (about 750 cells give "
                      "±1 point at 2 % SP)", StatsWarning, stacklevel=3)
