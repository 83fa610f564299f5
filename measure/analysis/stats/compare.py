"""``stats.csv``: the replicate-level SP-vs-MP comparison of every endpoint."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats
from statsmodels.stats.multitest import multipletests

from spmito.measure.analysis.columns import (
    present,
)
from spmito.measure.analysis.stats.common import (
    CONTRAST,
    DEFAULT_STRATA,
    DESCRIPTIVE,
    MIXED_MODEL,
    STATS_COLUMNS,
    TTEST,
    StatsWarning,
)
from spmito.measure.analysis.stats.replicates import (
    analysis_cells,
    endpoint_columns,
    primary_endpoint,
)


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
        Output of :func:`spmito.measure.analysis.population.assign_populations`.
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
