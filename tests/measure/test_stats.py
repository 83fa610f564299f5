"""Intervals, well/replicate tables and the SP-vs-MP tests of spmito.measure.analysis.stats."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep

from spmito.measure.analysis.simulate import simulate_cells
from spmito.measure.analysis.stats import (
    STATS_COLUMNS,
    WELL_COLUMNS,
    StatsWarning,
    cliffs_delta,
    compare_populations,
    log_ratio_test,
    newcombe_interval,
    replicate_table,
    well_table,
    wilcoxon_floor_note,
    wilson_interval,
)
from tests.measure._helpers import assign_quietly

# --- published worked examples -----------------------------------------------------------

# Newcombe RG (1998) Two-sided confidence intervals for the single proportion: comparison of
# seven methods. Stat Med 17:857-872, Table II, method 3 (Wilson score, no continuity
# correction).
WILSON_EXAMPLES = [
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0000, 0.1611),
    (1, 29, 0.0061, 0.1718),
]

# Newcombe RG (1998) Interval estimation for the difference between independent proportions:
# comparison of eleven methods. Stat Med 17:873-890, Table II, method 10 (hybrid score).
NEWCOMBE_EXAMPLES = [
    (56, 70, 48, 80, 0.0524, 0.3339),
    (9, 10, 3, 10, 0.1705, 0.8090),
    (6, 7, 2, 7, 0.0582, 0.8062),
    (5, 56, 0, 29, -0.0381, 0.1926),
    (0, 10, 0, 20, -0.1611, 0.2775),
    (0, 10, 0, 10, -0.2775, 0.2775),
    (10, 10, 0, 20, 0.6791, 1.0000),
    (10, 10, 0, 10, 0.6075, 1.0000),
]


@pytest.mark.parametrize(("k", "n", "low", "high"), WILSON_EXAMPLES)
def test_wilson_matches_newcombe_1998_single_proportion(k, n, low, high):
    got = wilson_interval(k, n)
    assert np.round(got, 4) == pytest.approx([low, high], abs=1e-4)


@pytest.mark.parametrize(("k1", "n1", "k2", "n2", "low", "high"), NEWCOMBE_EXAMPLES)
def test_newcombe_matches_newcombe_1998_method_10(k1, n1, k2, n2, low, high):
    difference, got_low, got_high = newcombe_interval(k1, n1, k2, n2)
    assert difference == pytest.approx(k1 / n1 - k2 / n2)
    assert [round(float(got_low), 4), round(float(got_high), 4)] == pytest.approx(
        [low, high], abs=1e-4)


def test_newcombe_matches_statsmodels_on_sp_sized_counts():
    rng = np.random.default_rng(0)
    for _ in range(50):
        n1, n2 = rng.integers(200, 3000, 2)
        k1, k2 = rng.binomial(n1, 0.04), rng.binomial(n2, 0.01)
        _, low, high = newcombe_interval(k1, n1, k2, n2)
        expected = confint_proportions_2indep(k1, n1, k2, n2, method="newcomb",
                                              compare="diff")
        assert [low, high] == pytest.approx(list(expected), abs=1e-12)


def test_wilson_is_nan_without_cells():
    low, high = wilson_interval([0, 3], [0, 10])
    assert np.isnan(low[0]) and np.isnan(high[0]) and 0 < low[1] < high[1]


# --- tests on replicates -----------------------------------------------------------------


def test_log_ratio_test_matches_scipy():
    d = np.array([0.41, 0.62, 0.25, 0.48])
    result = log_ratio_test(d)
    reference = scipy_stats.ttest_1samp(d, 0.0)
    interval = reference.confidence_interval(0.95)
    assert result["p_value"] == pytest.approx(reference.pvalue, rel=1e-12)
    assert result["t_statistic"] == pytest.approx(reference.statistic, rel=1e-12)
    assert result["fold_change"] == pytest.approx(2 ** d.mean())
    assert [result["ci_low"], result["ci_high"]] == pytest.approx(
        [2**interval.low, 2**interval.high])
    assert result["n_replicates"] == 4
    single = log_ratio_test([0.5])
    assert single["fold_change"] == pytest.approx(2**0.5) and np.isnan(single["p_value"])


def test_cliffs_delta_and_mann_whitney():
    assert cliffs_delta([4, 5], [1, 2])[0] == 1.0
    assert cliffs_delta([1, 2, 3], [1, 2, 3])[0] == 0.0
    delta, u, p = cliffs_delta([1, 2, 3, 4], [3, 4, 5, 6])
    reference = scipy_stats.mannwhitneyu([1, 2, 3, 4], [3, 4, 5, 6])
    assert u == reference.statistic and p == reference.pvalue
    assert delta == pytest.approx(2 * u / 16 - 1)


def test_wilcoxon_floor_note():
    assert "cannot reach p < 0.05" in wilcoxon_floor_note(3)
    assert "0.25" in wilcoxon_floor_note(3)
    assert wilcoxon_floor_note(6) == ""


# --- tables ------------------------------------------------------------------------------


def test_well_table_has_the_contract_columns_and_links_controls(gated):
    out, gates = gated
    with warnings.catch_warnings():
        warnings.simplefilter("error", StatsWarning)
        wells = well_table(out, gates)
    assert set(WELL_COLUMNS) <= set(wells.columns)
    assert {"well_id", "plate", "well", "replicate", "role"} <= set(wells.columns)
    tests = wells[wells["role"] == "test"]
    assert tests["delta_sp_percent"].notna().all()
    assert (tests["linked_controls"] == tests["plate"] + "/A01").all()
    assert wells.loc[wells["role"] != "test", "delta_sp_percent"].isna().all()
    row = tests.iloc[0]
    control = wells[wells["well_id"] == row["linked_controls"]].iloc[0]
    difference, low, high = newcombe_interval(row["n_sp"], row["n_cells"], control["n_sp"],
                                              control["n_cells"])
    assert row["delta_sp_percent"] == pytest.approx(100 * difference)
    assert [row["delta_ci_low"], row["delta_ci_high"]] == pytest.approx([100 * low,
                                                                         100 * high])
    assert (wells["n_cells"] + wells["n_excluded"]).tolist() == out.groupby(
        ["plate", "well"]).size().tolist()


def test_well_table_warns_about_small_wells_and_missing_controls(gated):
    out, gates = gated
    few = out[out["cell_id"] <= 800]
    with pytest.warns(StatsWarning, match="fewer than 1000"):
        wells = well_table(few, gates)
    assert wells["low_cell_count"].all()
    no_controls = out[out["role"] == "test"]
    with pytest.warns(StatsWarning, match="no inhibitor-control well"):
        wells = well_table(no_controls, gates)
    assert wells["delta_sp_percent"].isna().all()


def test_well_table_uses_mixture_fractions(plate_cells):
    out, gates = assign_quietly(plate_cells, method="mixture", n_bootstrap=50)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wells = well_table(out, gates).set_index("well_id")
    assert (wells["sp_estimate"] == "mixture").all()
    estimate = gates[0].well_estimates[0]
    assert wells.loc[estimate["well"], "sp_percent"] == pytest.approx(
        100 * estimate["sp_fraction"])


def test_replicate_table_holds_medians_of_test_cells(gated):
    out, _ = gated
    table = replicate_table(out)
    assert {"replicate", "population", "n_cells", "mito_area_um2",
            "cell_area_um2", "hoechst_x"} <= set(table.columns)
    assert len(table) == 6  # 3 replicates x SP/MP
    cells = out[(out["role"] == "test") & ~out["excluded"] & (out["replicate"] == 2)
                & (out["population"] == "SP")]
    row = table[(table["replicate"] == 2) & (table["population"] == "SP")].iloc[0]
    assert row["n_cells"] == len(cells)
    assert row["mito_area_um2"] == pytest.approx(cells["mito_area_um2"].median())


def test_compare_populations_finds_the_simulated_effect(gated):
    out, _ = gated
    with pytest.warns(StatsWarning, match="Wilcoxon"):
        table = compare_populations(out, mixed_model=True,
                                    endpoints=["mito_area_um2", "mito_count", "mito_junctions"])
    assert list(table.columns[:len(STATS_COLUMNS)]) == list(STATS_COLUMNS)
    primary = table[(table["endpoint"] == "mito_area_um2")
                    & (table["analysis"] == "replicate log-ratio t-test")].iloc[0]
    assert primary["endpoint_role"] == "primary" and primary["n_replicates"] == 3
    # the true ratio is 1.5; gate false positives (about 1 % of MP cells, next to 2-5 % SP)
    # dilute the gated SP cells, so the estimate is pulled towards 1
    assert 1.2 < primary["fold_change"] < 1.6 and primary["ci_low"] > 1
    assert primary["p_value"] < 0.05 and primary["p_adjusted"] == primary["p_value"]
    assert "cannot reach p < 0.05" in primary["note"]
    model = table[(table["endpoint"] == "mito_area_um2")
                  & (table["analysis"] == "mixed model")].iloc[0]
    assert model["fold_change"] == pytest.approx(1.5, rel=0.1)
    descriptive = table[table["analysis"] == "per-replicate descriptive"]
    assert len(descriptive) == 3 * table["endpoint"].nunique()
    assert descriptive["cliffs_delta"].between(-1, 1).all()


def test_holm_runs_over_secondary_endpoints_only(gated):
    out, _ = gated
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = compare_populations(out, descriptive=False)
    secondary = table[table["endpoint_role"] == "secondary"]
    assert secondary["p_adjusted"].to_numpy() == pytest.approx(
        multipletests(secondary["p_value"], method="holm")[1])


def test_zero_medians_switch_to_means_and_say_so(gated):
    out, _ = gated
    cells = out.copy()
    test_cells = cells["role"] == "test"
    cells.loc[test_cells, "mito_junctions"] = np.where(
        np.arange(test_cells.sum()) % 4 == 0, 2, 0)
    cells.loc[test_cells & (cells["replicate"] == 3), "mito_networks"] = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = compare_populations(cells, descriptive=False)
    rows = table.set_index("endpoint")
    assert rows.loc["mito_junctions", "location"] == "mean"
    assert "median was 0" in rows.loc["mito_junctions", "note"]
    assert "mean SP" in rows.loc["mito_junctions", "method"]
    assert rows.loc["mito_networks", "n_replicates"] == 2
    assert "replicates [3] dropped" in rows.loc["mito_networks", "note"]
    assert rows.loc["mito_area_um2", "location"] == "median"


def test_statistics_need_a_replicate_column(gated):
    out, _ = gated
    with pytest.raises(ValueError, match="replicate"):
        compare_populations(out.drop(columns="replicate"))


def test_paired_test_false_positive_rate_when_sp_and_mp_are_alike():
    """500 simulated experiments (3 replicates, SP and MP from one distribution): <= 6 %."""
    n_sims, n_replicates, n_sp, n_mp = 500, 3, 40, 400
    rng = np.random.default_rng(2024)
    per_replicate = n_sp + n_mp
    n = n_sims * n_replicates * per_replicate
    replicate_effect = np.repeat(rng.normal(0, 0.2, n_sims * n_replicates), per_replicate)
    cells = pd.DataFrame({
        "condition": np.repeat(np.arange(n_sims), n_replicates * per_replicate),
        "replicate": np.tile(np.repeat(np.arange(1, n_replicates + 1), per_replicate), n_sims),
        "population": np.tile(np.r_[["SP"] * n_sp, ["MP"] * n_mp], n_sims * n_replicates),
        "mito_area_um2": np.exp(3 + replicate_effect + rng.normal(0, 0.4, n)),
        "excluded": False, "role": "test",
    })
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = compare_populations(cells, descriptive=False, strata=("condition",))
    assert len(table) == n_sims
    false_positive_rate = (table["p_value"] < 0.05).mean()
    assert false_positive_rate <= 0.06


def test_replicate_summaries_run_on_3d_names():
    cells = simulate_cells(ndim=3, n_replicates=3, cells_per_well=1200, seed=5)
    out, _ = assign_quietly(cells)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = compare_populations(out, descriptive=False)
    primary = table[table["endpoint_role"] == "primary"].iloc[0]
    assert primary["endpoint"] == "mito_volume_um3"
    assert "mito_volume_um3" in replicate_table(out).columns
