"""Per-well SP %, ΔSP % and the replicate-level SP-vs-MP comparison (domain.md §4).

Three tables (contract.md): :func:`well_table` -> ``wells.csv``, :func:`replicate_table`
-> ``replicates.csv``, :func:`compare_populations` -> ``stats.csv``.

Decisions (the reference behaviour is domain.md §4; where this module adds to it):

Control link for ΔSP %
    A test well is linked to the inhibitor-control wells that share its ``link_by`` values
    (default plate + replicate + cell line + condition; absent columns are skipped), so
    ``condition`` must describe the biology (knock-down, drug), not the inhibitor, which the
    ``role``/``inhibitor`` columns carry. Several linked control wells are pooled (their
    counts summed). A test well without a linked control gets no ΔSP (NaN, with a warning).
SP % of a mixture gate
    The fitted SP weight with its bootstrap CI. A well fitted in two cross-fitted halves
    gets the cell-weighted mean of the halves and a normal CI from their bootstrap SDs.
Cells in the SP-vs-MP comparison
    QC-passed cells of ``role == "test"`` wells (all wells when there is no ``role``
    column) with population SP or MP. Inhibitor-control cells are left out: their "SP"
    cells are the gate's false positives. Comparisons are made within strata (default cell
    line + condition), each biological ``replicate`` giving one paired SP/MP summary.
Zero medians
    log2(median SP / median MP) is undefined when a median is 0 (counts such as junctions
    often are). Such an endpoint is compared on replicate means instead, for every
    replicate of its stratum (one estimand per endpoint), and the ``method`` column says
    so; a replicate whose means are 0 too is dropped, and ``note`` says so.
Multiplicity
    The primary endpoint (total mitochondrial size per cell) is tested alone at 5 %; Holm's
    adjustment runs over the secondary endpoints of each stratum and analysis.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

from measure._table import (
    COVARIATES,
    MITO_ENDPOINTS,
    PRIMARY_ENDPOINTS,
    constant_columns,
    present,
    sheet_columns,
    well_labels,
)
from measure.population import Gate

DEFAULT_LINK_BY = ("plate", "replicate", "cell_line", "condition")
DEFAULT_STRATA = ("cell_line", "condition")
#: Fewest QC-passed cells per well before SP % is flagged as imprecise.
MIN_CELLS_PER_WELL = 1000
WELL_COLUMNS = ("n_cells", "n_excluded", "n_sp", "sp_percent", "sp_ci_low", "sp_ci_high",
                "delta_sp_percent", "delta_ci_low", "delta_ci_high")
STATS_COLUMNS = ("endpoint", "contrast", "n_replicates", "fold_change", "ci_low", "ci_high",
                 "p_value", "p_adjusted", "method")
CONTRAST = "SP vs MP"
TTEST = "replicate log-ratio t-test"
DESCRIPTIVE = "per-replicate descriptive"
MIXED_MODEL = "mixed model"


class StatsWarning(UserWarning):
    """A summary was computed but a reviewer should know something about it."""


# --------------------------------------------------------------------------------------
# Proportions
# --------------------------------------------------------------------------------------


def wilson_interval(successes, trials, confidence: float = 0.95
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a proportion (NaN where ``trials`` is 0).

    Parameters
    ----------
    successes, trials : int or array of int
        Counts.
    confidence : float
        Confidence level.

    Returns
    -------
    low, high : array of float
        Limits as proportions.
    """
    successes = np.asarray(successes, float)
    trials = np.asarray(trials, float)
    safe = np.where(trials > 0, trials, 1.0)
    low, high = proportion_confint(successes, safe, alpha=1 - confidence, method="wilson")
    empty = trials <= 0
    return np.where(empty, np.nan, low), np.where(empty, np.nan, high)


def difference_interval(p1, low1, high1, p2, low2, high2) -> tuple[np.ndarray, np.ndarray]:
    """CI of p1 - p2 from CIs of two independent proportions (MOVER, Newcombe's method).

    With Wilson intervals as inputs this is Newcombe's hybrid score interval (method 10 of
    Newcombe 1998, Stat Med 17:873-890); with bootstrap intervals (mixture gate) it is the
    same square-and-add recovery of variance estimates.

    Returns
    -------
    low, high : array of float
    """
    p1, low1, high1, p2, low2, high2 = (np.asarray(v, float)
                                        for v in (p1, low1, high1, p2, low2, high2))
    difference = p1 - p2
    low = difference - np.sqrt((p1 - low1) ** 2 + (high2 - p2) ** 2)
    high = difference + np.sqrt((high1 - p1) ** 2 + (p2 - low2) ** 2)
    return low, high


def newcombe_interval(successes1, trials1, successes2, trials2, confidence: float = 0.95
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Difference of two independent proportions with Newcombe's hybrid score CI.

    Returns
    -------
    difference, low, high : array of float
        As proportions.
    """
    p1 = np.asarray(successes1, float) / np.asarray(trials1, float)
    p2 = np.asarray(successes2, float) / np.asarray(trials2, float)
    low, high = difference_interval(p1, *wilson_interval(successes1, trials1, confidence),
                                    p2, *wilson_interval(successes2, trials2, confidence))
    return p1 - p2, low, high


# --------------------------------------------------------------------------------------
# wells.csv
# --------------------------------------------------------------------------------------


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
        Output of :func:`measure.population.assign_populations`.
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


# --------------------------------------------------------------------------------------
# replicates.csv
# --------------------------------------------------------------------------------------


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
        Output of :func:`measure.population.assign_populations`.
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


# --------------------------------------------------------------------------------------
# stats.csv
# --------------------------------------------------------------------------------------


def log_ratio_test(log2_ratios: np.ndarray, confidence: float = 0.95) -> dict:
    """One-sample t-test of per-replicate log2 ratios against 0, as a fold change.

    Parameters
    ----------
    log2_ratios : array of float
        d_r = log2(SP / MP) per replicate (non-finite values dropped).
    confidence : float
        Level of the CI.

    Returns
    -------
    dict
        ``n_replicates, mean_log2_ratio, t_statistic, p_value, fold_change`` (2^mean),
        ``ci_low, ci_high`` (2^ the t CI of the mean); NaN where n < 2.
    """
    d = np.asarray(log2_ratios, float)
    d = d[np.isfinite(d)]
    result = {"n_replicates": d.size, "mean_log2_ratio": np.nan, "t_statistic": np.nan,
              "p_value": np.nan, "fold_change": np.nan, "ci_low": np.nan, "ci_high": np.nan}
    if d.size == 0:
        return result
    result["mean_log2_ratio"] = d.mean()
    result["fold_change"] = 2.0 ** d.mean()
    if d.size < 2:
        return result
    test = scipy_stats.ttest_1samp(d, 0.0)
    interval = test.confidence_interval(confidence)
    result.update(t_statistic=test.statistic, p_value=test.pvalue,
                  ci_low=2.0**interval.low, ci_high=2.0**interval.high)
    return result


def cliffs_delta(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """Cliff's δ = P(a > b) - P(a < b) with the Mann-Whitney U of ``a`` and its p-value.

    Returns
    -------
    delta, u, p_value : float
        NaN when a sample is empty.
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if a.size == 0 or b.size == 0:
        return np.nan, np.nan, np.nan
    test = scipy_stats.mannwhitneyu(a, b, alternative="two-sided")
    return 2 * test.statistic / (a.size * b.size) - 1, float(test.statistic), test.pvalue


def wilcoxon_floor_note(n_replicates: int) -> str:
    """A sentence saying when an exact Wilcoxon signed-rank test cannot reach p < 0.05."""
    smallest = 2.0 / 2.0**n_replicates
    if n_replicates < 1 or smallest < 0.05:
        return ""
    return (f"with {n_replicates} replicates an exact two-sided Wilcoxon signed-rank test "
            f"cannot reach p < 0.05 (smallest possible p = {smallest:.3g}); hence the t-test "
            "on log-ratios, whose normality cannot be checked with so few replicates")


def compare_populations(
    cells: pd.DataFrame,
    *,
    endpoints: Sequence[str] | None = None,
    primary: str | None = None,
    strata: Sequence[str] = DEFAULT_STRATA,
    descriptive: bool = True,
    mixed_model: bool = False,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """SP-vs-MP statistics per endpoint with the biological replicate as the unit.

    For each stratum and endpoint: d_r = log2(median_SP / median_MP) per replicate, a
    one-sample t-test of d against 0, fold change 2^mean(d) with its CI (``analysis`` =
    ``"replicate log-ratio t-test"``). Optional: per-replicate Cliff's δ and Mann-Whitney U
    over cells (descriptive), and a linear mixed model log(y) ~ population + (1|replicate).

    Parameters
    ----------
    cells : pandas.DataFrame
        Output of :func:`measure.population.assign_populations`.
    endpoints : sequence of str, optional
        Endpoints to test (default: the mitochondrial endpoints present).
    primary : str, optional
        The primary endpoint (default: :func:`primary_endpoint`); the rest are secondary
        and Holm-adjusted.
    strata : sequence of str
        Columns the comparison is made within.
    descriptive : bool
        Add per-replicate Cliff's δ / Mann-Whitney U rows.
    mixed_model : bool
        Add mixed-model rows (statsmodels MixedLM).
    confidence : float
        Level of the CIs.

    Returns
    -------
    pandas.DataFrame
        ``endpoint, contrast, n_replicates, fold_change, ci_low, ci_high, p_value,
        p_adjusted, method`` then the strata, ``analysis, endpoint_role, replicate,
        location, n_cells_sp, n_cells_mp, mean_log2_ratio, t_statistic, cliffs_delta,
        mann_whitney_u, note``.
    """
    data = analysis_cells(cells)
    endpoints = list(endpoints) if endpoints is not None else endpoint_columns(data)
    primary = primary if primary is not None else primary_endpoint(data)
    keys = present(data, strata)
    summaries = _replicate_summaries(data, keys, endpoints)
    rows = []
    for stratum, block in (data.groupby(keys, sort=True) if keys else [((), data)]):
        stratum = stratum if isinstance(stratum, tuple) else (stratum,)
        replicates, summary = summaries[stratum]
        stratum = dict(zip(keys, stratum, strict=True))
        for endpoint in endpoints:
            role = "primary" if endpoint == primary else "secondary"
            base = {**stratum, "endpoint": endpoint, "endpoint_role": role,
                    "contrast": CONTRAST}
            rows.append({**base, **_replicate_test(replicates, summary[endpoint],
                                                   confidence)})
            if descriptive:
                rows += [{**base, **row} for row in _descriptive_rows(block, endpoint)]
            if mixed_model:
                rows.append({**base, **_mixed_model_row(block, endpoint, confidence)})
    table = pd.DataFrame(rows)
    if table.empty:
        return pd.DataFrame(columns=[*STATS_COLUMNS, *keys])
    table["p_adjusted"] = _holm(table, keys)
    _warn_wilcoxon(table)
    extras = ["analysis", "endpoint_role", "replicate", "location", "n_cells_sp",
              "n_cells_mp", "mean_log2_ratio", "t_statistic", "cliffs_delta",
              "mann_whitney_u", "note"]
    return table.reindex(columns=[*STATS_COLUMNS, *keys, *extras])


STATISTICS = ("median", "mean", "count")


def _replicate_summaries(data: pd.DataFrame, keys: list[str], endpoints: list[str]
                         ) -> dict[tuple, tuple[np.ndarray, dict]]:
    """Replicate medians, means and cell counts of every stratum, from one groupby.

    Returns, per stratum key, the replicate labels and, per endpoint and statistic, a
    (replicate, [SP, MP]) array.
    """
    wide = (data.groupby([*keys, "replicate", "population"], sort=True)[endpoints]
            .agg(list(STATISTICS)).unstack("population")
            .reindex(columns=pd.MultiIndex.from_product([endpoints, STATISTICS, ["SP", "MP"]])))
    values = wide.to_numpy(float).reshape(len(wide), len(endpoints), len(STATISTICS), 2)
    replicates = wide.index.get_level_values("replicate").to_numpy()
    groups = (wide.groupby(level=keys, sort=True).indices if keys
              else {(): np.arange(len(wide))})
    summaries = {}
    for stratum, rows in groups.items():
        stratum = stratum if isinstance(stratum, tuple) else (stratum,)
        summaries[stratum] = (replicates[rows], {
            endpoint: dict(zip(STATISTICS, values[rows, i].transpose(1, 0, 2), strict=True))
            for i, endpoint in enumerate(endpoints)})
    return summaries


def _replicate_test(replicates: np.ndarray, summary: dict, confidence: float) -> dict:
    """The t-test row of one endpoint; ``summary`` maps median/mean/count to (r, 2) arrays."""
    location, note = "median", ""
    if (summary["median"] <= 0).any():
        location = "mean"
        note = "a replicate median was 0, so log-ratios of replicate means are used"
    values = summary[location]
    paired = np.isfinite(values).all(axis=1)
    used = paired & (values > 0).all(axis=1)
    if (paired & ~used).any():
        note += (f"; replicates {replicates[paired & ~used].tolist()} dropped (a "
                 f"population's {location} was 0)")
    test = log_ratio_test(np.log2(values[used, 0] / values[used, 1]), confidence)
    floor = wilcoxon_floor_note(test["n_replicates"])
    n_sp, n_mp = summary["count"][used].sum(axis=0)
    return {**test, "analysis": TTEST, "location": location, "n_cells_sp": int(n_sp),
            "n_cells_mp": int(n_mp),
            "method": (f"one-sample t-test of per-replicate log2({location} SP / {location} "
                       "MP) against 0; fold change = 2^mean"),
            "note": "; ".join(filter(None, [note.lstrip("; "), floor]))}


def _descriptive_rows(block: pd.DataFrame, endpoint: str) -> list[dict]:
    rows = []
    for replicate, cells in block.groupby("replicate", sort=True):
        sp = cells.loc[cells["population"] == "SP", endpoint].to_numpy(float)
        mp = cells.loc[cells["population"] == "MP", endpoint].to_numpy(float)
        delta, u, p = cliffs_delta(sp, mp)
        median_sp, median_mp = np.nanmedian(sp) if sp.size else np.nan, (
            np.nanmedian(mp) if mp.size else np.nan)
        ratio = median_sp / median_mp if median_mp > 0 and median_sp > 0 else np.nan
        rows.append({"analysis": DESCRIPTIVE, "replicate": replicate, "n_replicates": 1,
                     "n_cells_sp": sp.size, "n_cells_mp": mp.size, "location": "median",
                     "fold_change": ratio, "p_value": p, "cliffs_delta": delta,
                     "mann_whitney_u": u,
                     "method": "Mann-Whitney U and Cliff's delta over cells of one "
                               "replicate (descriptive; cells are not independent units)"})
    return rows


def _mixed_model_row(block: pd.DataFrame, endpoint: str, confidence: float) -> dict:
    """log(y) ~ population + (1|replicate) by REML; fold change = exp(SP coefficient)."""
    import statsmodels.formula.api as smf
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    positive = block[block[endpoint] > 0]
    dropped = len(block) - len(positive)
    row = {"analysis": MIXED_MODEL, "n_replicates": positive["replicate"].nunique(),
           "n_cells_sp": int((positive["population"] == "SP").sum()),
           "n_cells_mp": int((positive["population"] == "MP").sum()),
           "method": "linear mixed model log(y) ~ population + (1|replicate), REML "
                     "(statsmodels MixedLM); fold change = exp(SP coefficient)"}
    notes = [f"{dropped} cells with {endpoint} <= 0 dropped"] if dropped else []
    notes.append("cells within a replicate are treated as independent (no random "
                 "population slope), so this p-value is optimistic; the replicate t-test "
                 "is the inference")
    if row["n_replicates"] < 2 or min(row["n_cells_sp"], row["n_cells_mp"]) == 0:
        return {**row, "note": "; ".join(["too few replicates or cells", *notes])}
    frame = pd.DataFrame({"log_y": np.log(positive[endpoint].to_numpy(float)),
                          "is_sp": (positive["population"] == "SP").to_numpy(float),
                          "replicate": positive["replicate"].astype(str).to_numpy()})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        fit = smf.mixedlm("log_y ~ is_sp", frame, groups=frame["replicate"]).fit(reml=True)
    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        notes.append("the fit reported convergence problems")
    beta, se = fit.params["is_sp"], fit.bse["is_sp"]
    z = scipy_stats.norm.ppf(0.5 + confidence / 2)
    return {**row, "fold_change": np.exp(beta), "ci_low": np.exp(beta - z * se),
            "ci_high": np.exp(beta + z * se), "p_value": fit.pvalues["is_sp"],
            "note": "; ".join(notes)}


def _holm(table: pd.DataFrame, keys: list[str]) -> pd.Series:
    """Holm over secondary endpoints per stratum and analysis; primary p unadjusted."""
    adjusted = pd.Series(np.nan, index=table.index)
    primary = (table["endpoint_role"] == "primary") & (table["analysis"] != DESCRIPTIVE)
    adjusted[primary] = table.loc[primary, "p_value"]
    family = ((table["endpoint_role"] == "secondary") & (table["analysis"] != DESCRIPTIVE)
              & table["p_value"].notna())
    for _, rows in table[family].groupby([*keys, "analysis"], sort=False):
        adjusted[rows.index] = multipletests(rows["p_value"], method="holm")[1]
    return adjusted


def _warn_wilcoxon(table: pd.DataFrame) -> None:
    tested = table[table["analysis"] == TTEST]
    if tested.empty:
        return
    note = wilcoxon_floor_note(int(tested["n_replicates"].min()))
    if note:
        warnings.warn(note[0].upper() + note[1:], StatsWarning, stacklevel=3)
