"""Exclusions, normalisation and gates of spmito.measure.analysis.population."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from spmito.measure.analysis.population import (
    Gate,
    GatingError,
    GatingWarning,
    assign_populations,
    fit_gate,
    fit_gaussian_mixture_1d,
    flag_exclusions,
    g1_mode_log2,
    load_gates,
    quantile_threshold,
    robust_threshold,
    save_gates,
)
from spmito.measure.analysis.simulate import simulate_cells
from tests.measure._helpers import assign_quietly

# --- exclusions ------------------------------------------------------------------------


def test_each_simulated_artefact_gets_its_reason_code(plate_cells):
    flagged = flag_exclusions(plate_cells)
    for code in ("dead", "pyknotic", "doublet", "no_nucleus", "border", "saturated"):
        made = flagged[flagged["true_exclusion"] == code]
        recall = [code in reasons.split(";") for reasons in made["exclude_reason"]]
        assert np.mean(recall) >= 0.9, code
    clean = flagged[flagged["true_exclusion"] == ""]
    assert clean["excluded"].mean() < 0.01
    assert (flagged["excluded"] == (flagged["exclude_reason"] != "")).all()


def test_reasons_join_with_semicolons_and_absent_columns_flag_nothing():
    cells = pd.DataFrame({"image_id": ["a"] * 4, "cell_id": [1, 2, 3, 4],
                          "hoechst_integrated": [1.0, 1.0, -2.0, 1.0],
                          "n_nuclei": [1, 2, 1, 0],
                          "touches_border": [False, True, False, False]})
    flagged = flag_exclusions(cells)
    assert flagged["exclude_reason"].tolist() == ["", "doublet;border", "no_hoechst",
                                                  "no_nucleus"]
    assert flag_exclusions(cells, require_hoechst=False)["exclude_reason"][2] == ""


def test_exclusion_medians_are_per_group():
    """Plate P3's cells are all 4 x bigger; per-plate medians do not call them doublets."""
    cells = simulate_cells(n_replicates=3, cells_per_well=400, seed=3)
    cells.loc[cells["plate"] == "P3", "cell_area_um2"] *= 4.0
    per_plate = flag_exclusions(cells)
    pooled = flag_exclusions(cells, group_by=())
    p3 = cells["plate"] == "P3"
    assert per_plate.loc[p3, "exclude_reason"].str.contains("doublet").mean() < 0.02
    assert pooled.loc[p3, "exclude_reason"].str.contains("doublet").mean() > 0.9


def test_explicit_viability_threshold():
    cells = pd.DataFrame({"image_id": "a", "cell_id": [1, 2], "hoechst_integrated": 1.0,
                          "viability_mean": [10.0, 500.0]})
    assert flag_exclusions(cells, viability_threshold=100)["exclude_reason"].tolist() == [
        "", "dead"]


def test_nonpositive_hoechst_is_excluded_for_gates_and_kept_for_sorted_populations(
        plate_cells):
    cells = plate_cells.copy()
    cells.loc[cells.index[:5], "hoechst_integrated"] = 0.0
    out, _ = assign_quietly(cells)
    assert out.loc[cells.index[:5], "exclude_reason"].str.contains("no_hoechst").all()
    assert out.loc[cells.index[:5], "hoechst_x"].isna().all()
    assert out.loc[cells.index[:5], "population"].isna().all()

    sorted_cells = simulate_cells(design="sorted", cells_per_well=300, seed=2)
    sorted_cells.loc[sorted_cells.index[:5], "hoechst_integrated"] = -1.0
    out, _ = assign_quietly(sorted_cells, method="sheet")
    assert not out.loc[sorted_cells.index[:5], "exclude_reason"].str.contains(
        "no_hoechst").any()
    assert out.loc[sorted_cells.index[:5], "population"].notna().all()


# --- normalisation ---------------------------------------------------------------------


def test_g1_mode_finds_g1_even_when_g2_is_taller():
    rng = np.random.default_rng(0)
    log2_i = np.concatenate([rng.normal(10, 0.08, 3000), rng.normal(11, 0.08, 5000)])
    assert g1_mode_log2(log2_i) == pytest.approx(10, abs=0.015)
    assert g1_mode_log2(log2_i[:3000]) == pytest.approx(10, abs=0.015)
    with pytest.raises(GatingError, match="at least 20"):
        g1_mode_log2(log2_i[:5])


def test_control_g1_sits_at_zero_on_every_plate(gated):
    out, gates = gated
    assert len({g.reference_log2_intensity["hoechst"] for g in gates}) == 3  # plates differ
    control_mp = out[(out["role"] == "inhibitor_control") & ~out["excluded"]]
    g1 = control_mp[control_mp["hoechst_x"].between(-0.5, 0.5)]
    assert g1.groupby("plate")["hoechst_x"].median().abs().max() < 0.03
    g2 = control_mp[control_mp["hoechst_x"].between(0.6, 1.4)]
    assert g2["hoechst_x"].median() == pytest.approx(1.0, abs=0.05)


# --- gates -----------------------------------------------------------------------------


def test_quantile_threshold_ci_has_its_coverage():
    n, alpha = 1000, 0.01
    x = np.random.default_rng(1).normal(size=(400, n))
    truth = stats.norm.ppf(alpha)
    covered = []
    for sample in x:
        threshold, (low, high) = quantile_threshold(sample, alpha)
        assert low <= threshold <= high
        covered.append(low <= truth <= high)
    assert 0.93 <= np.mean(covered) <= 0.995


def test_robust_threshold_on_normal_g1():
    x = np.random.default_rng(2).normal(0, 0.1, 5000)
    assert robust_threshold(x, 0.01) == pytest.approx(-0.2326, abs=0.01)


def test_gaussian_mixture_recovers_components():
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.normal(0, 0.1, 6000), rng.normal(1, 0.1, 4000)])
    fit = fit_gaussian_mixture_1d(x, 2)
    order = np.argsort(fit["means"])
    assert np.array(fit["means"])[order] == pytest.approx([0, 1], abs=0.01)
    assert np.array(fit["weights"])[order] == pytest.approx([0.6, 0.4], abs=0.01)
    assert np.array(fit["sds"]) == pytest.approx([0.1, 0.1], abs=0.01)


@pytest.mark.parametrize(("n_cells", "method"), [(1100, "control_quantile"),
                                                 (500, "control_robust")])
def test_auto_picks_the_gate_by_control_count(n_cells, method):
    cells = simulate_cells(n_replicates=1, cells_per_well=n_cells, seed=4)
    _, gates = assign_quietly(cells)
    assert {g.method for g in gates} == {method}


def test_auto_refuses_with_fewer_than_200_control_cells():
    cells = simulate_cells(n_replicates=1, cells_per_well=150, seed=4)
    with pytest.raises(GatingError, match=r"150 QC-passed inhibitor-control cells.*manual"):
        assign_populations(cells)


def test_gates_never_score_the_wells_that_set_them():
    cells = simulate_cells(n_replicates=2, control_wells_per_replicate=2, cells_per_well=800,
                           seed=5)
    out, gates = assign_quietly(cells)
    for gate in gates:
        assert not set(gate.reference_wells) & set(gate.applies_to), gate.gate_id
    controls = out[out["role"] == "inhibitor_control"]
    assert controls["gate_id"].str.contains("leave-out").all()


def test_a_single_control_well_is_cross_fitted_by_image():
    cells = simulate_cells(n_replicates=1, cells_per_well=1200, fields_per_well=2, seed=6)
    out, gates = assign_quietly(cells)
    halves = [g for g in gates if "cross-fit" in g.gate_id]
    assert len(halves) == 2
    control = out[out["role"] == "inhibitor_control"]
    for gate in halves:
        classified = control[control["gate_id"] == gate.gate_id]
        image = classified["image_id"].unique()
        assert len(image) == 1
        other = control[(control["image_id"] != image[0]) & ~control["excluded"]]
        assert gate.n_reference_cells == len(other)


def test_control_sp_percent_is_near_alpha_and_test_finds_sp(gated):
    out, _ = gated
    kept = out[~out["excluded"]]
    control_sp = (kept.loc[kept["role"] == "inhibitor_control", "population"] == "SP").mean()
    assert 0.003 < control_sp < 0.02
    test = kept[kept["role"] == "test"]
    sensitivity = (test.loc[test["true_population"] == "SP", "population"] == "SP").mean()
    assert sensitivity > 0.98
    assert set(out["population_source"].dropna()) == {"gate"}


def test_mixture_gate_gives_probabilities_and_well_estimates(plate_cells):
    out, gates = assign_quietly(plate_cells, method="mixture", n_bootstrap=50)
    kept = out[~out["excluded"]]
    assert kept["sp_probability"].between(0, 1).all()
    sp = kept[kept["true_population"] == "SP"]
    assert (sp["sp_probability"] > 0.5).mean() > 0.95
    estimates = [e for g in gates for e in g.well_estimates]
    assert {e["well"] for e in estimates} == set(plate_cells["plate"] + "/"
                                                 + plate_cells["well"])
    for e in estimates:  # EM stops at a 1e-6 tolerance, so limits can cross by that much
        assert e["ci_low"] - 1e-6 <= e["sp_fraction"] <= e["ci_high"] + 1e-6
    for gate in gates:
        params = gate.params
        assert 1 <= params["n_components"] <= 4
        assert params["sp_mean_max"] == pytest.approx(params["g1_mean"] - 2 * params["g1_sd"])


def test_mixture_warns_when_few_sp_cells_are_expected():
    cells = simulate_cells(n_replicates=1, cells_per_well=1000, sp_fraction=0.005, seed=7)
    with pytest.warns(GatingWarning, match="SP cells expected"):
        assign_populations(cells, method="mixture", n_bootstrap=20)


def test_dual_emission_gate_separates_sp_cells():
    cells = simulate_cells(n_replicates=1, cells_per_well=2000, dual_emission=True, seed=8)
    out, gates = assign_quietly(cells, method="dual_emission")
    assert "hoechst_red_x" in out
    test = out[(out["role"] == "test") & ~out["excluded"]]
    truth, call = test["true_population"] == "SP", test["population"] == "SP"
    assert call[truth].mean() > 0.95 and (~call[~truth]).mean() > 0.98
    params = gates[0].params
    assert params["chi2_cutoff"] == pytest.approx(stats.chi2.ppf(0.98, 2))
    with pytest.raises(GatingError, match="hoechst_red"):
        assign_populations(cells.drop(columns="hoechst_red_integrated"),
                           method="dual_emission")


# --- manual gates and JSON -------------------------------------------------------------


def test_gate_json_round_trip(tmp_path, gated):
    _, gates = gated
    path = gates[0].save(tmp_path / "gate.json")
    assert Gate.load(path) == gates[0]
    written = json.loads(path.read_text())
    for key in ("method", "threshold_x", "alpha", "reference_wells", "software_version",
                "created", "schema_version"):
        assert key in written


def test_gating_json_holds_every_gate(tmp_path, gated):
    _, gates = gated
    assert load_gates(save_gates(gates, tmp_path / "gating.json")) == gates
    (tmp_path / "bad.json").write_text('{"gates": [{"method": "nope"}]}')
    with pytest.raises(GatingError, match="bad.json"):
        load_gates(tmp_path / "bad.json")


def test_bad_gate_files_are_refused_with_the_file_name(tmp_path):
    path = tmp_path / "gate.json"
    path.write_text("{not json")
    with pytest.raises(GatingError, match="gate.json"):
        Gate.load(path)
    path.write_text(json.dumps({"method": "manual", "threshold_x": -0.3,
                                "schema_version": 99}))
    with pytest.raises(GatingError, match="newer"):
        Gate.load(path)
    with pytest.raises(GatingError, match="exactly one"):
        Gate("manual")


def test_manual_threshold_is_applied_unchanged_to_every_well(plate_cells):
    gate = Gate("manual", threshold_x=-0.5, reference_wells=["P1/A01"])
    out, gates = assign_quietly(plate_cells, method="manual", gate=gate)
    assert all(g.threshold_x == -0.5 and g.method == "manual" for g in gates)
    classified = out[out["hoechst_x"].notna()]
    assert ((classified["population"] == "SP") == (classified["hoechst_x"] < -0.5)).all()


def test_manual_polygon_in_blue_red_space():
    cells = simulate_cells(n_replicates=1, cells_per_well=1000, dual_emission=True, seed=9)
    square = [[-3.0, -3.0], [-0.4, -3.0], [-0.4, -0.4], [-3.0, -0.4]]
    out, _ = assign_quietly(cells, gate=Gate("manual", vertices=square))
    inside = out["hoechst_x"].between(-3, -0.4) & out["hoechst_red_x"].between(-3, -0.4)
    assert ((out["population"] == "SP") == inside).all()


# --- sorted populations and overrides --------------------------------------------------


def test_sheet_populations_with_sort_auc_qc():
    cells = simulate_cells(design="sorted", n_replicates=2, cells_per_well=400, seed=10)
    out, gates = assign_quietly(cells)
    assert (out["population"] == out["sheet_population"]).all()
    assert set(out["population_source"]) == {"sheet"}
    assert all(g.params["residual_hoechst_auc"] > 0.95 and not g.warnings for g in gates)

    swapped = cells.assign(population=cells["population"].map({"SP": "MP", "MP": "SP"}))
    with pytest.warns(GatingWarning, match="AUC"):
        _, gates = assign_populations(swapped, method="sheet")
    assert all(g.params["residual_hoechst_auc"] < 0.8 for g in gates)


def test_sheet_method_refuses_unsorted_images(plate_cells):
    with pytest.raises(GatingError, match="unsorted"):
        assign_populations(plate_cells, method="sheet")


def test_rerunning_on_an_output_table_keeps_the_sheet_population(gated):
    out, _ = gated
    again, _ = assign_quietly(out)
    assert (again["sheet_population"] == "unsorted").all()
    assert again["population"].equals(out["population"])


def test_manual_overrides_from_mapping_and_column(plate_cells):
    first = plate_cells.iloc[0]
    second = plate_cells.iloc[1]
    cells = plate_cells.assign(population_override=None)
    cells.loc[second.name, "population_override"] = "SP"
    out, _ = assign_quietly(cells, overrides={(first["image_id"], int(first["cell_id"])): "SP"})
    for row in (first, second):
        assert out.loc[row.name, "population"] == "SP"
        assert out.loc[row.name, "population_source"] == "manual"
    assert (out["population_source"] == "manual").sum() == 2
    with pytest.raises(GatingError, match="SP or MP"):
        assign_quietly(plate_cells, overrides={(first["image_id"], 1): "maybe"})


def test_measure_imports_no_gui_or_imaging_code():
    code = ("import sys, spmito.measure.analysis.population, spmito.measure.analysis.stats, "
            "spmito.measure.analysis.figures, spmito.measure.analysis.simulate; "
            "banned = {'spmito.imaging', 'spmito.plugins', 'napari', 'qtpy', 'PyQt5', "
            "'PyQt6', 'PySide6', 'torch', 'matplotlib.pyplot'}; "
            "print(sorted(banned & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"


def test_fit_gate_rejects_unknown_methods():
    with pytest.raises(GatingError, match="cannot fit"):
        fit_gate(np.zeros(10), "sheet")


def test_the_doublet_solidity_bar_can_be_lowered_for_spread_cells():
    """Domain.md's solidity < 0.90 calls a spread one-nucleus cell a doublet; 0 turns it off
    and leaves the nucleus count and the size rule."""
    cells = pd.DataFrame({"image_id": "a", "cell_id": [1, 2, 3, 4, 5],
                          "hoechst_integrated": 1.0, "n_nuclei": [1, 1, 2, 1, 1],
                          "cell_solidity": [0.95, 0.78, 0.97, 0.85, 0.92],
                          "cell_area_um2": [100.0, 110.0, 120.0, 95.0, 400.0]})
    default = flag_exclusions(cells)["exclude_reason"].tolist()
    assert default == ["", "doublet", "doublet", "doublet", "doublet"]
    assert flag_exclusions(cells, doublet_min_solidity=0.8)["exclude_reason"].tolist() == [
        "", "doublet", "doublet", "", "doublet"]
    assert flag_exclusions(cells, doublet_min_solidity=0.0)["exclude_reason"].tolist() == [
        "", "", "doublet", "", "doublet"]


def test_gating_passes_the_doublet_solidity_bar_on(plate_cells):
    cells = plate_cells[plate_cells["true_exclusion"] == ""].copy()
    spread = cells.index[::3]
    cells.loc[spread, "cell_solidity"] = 0.8
    default, _ = assign_quietly(cells)
    assert default.loc[spread, "exclude_reason"].str.contains("doublet").all()
    lowered, _ = assign_quietly(cells, doublet_min_solidity=0.0)
    # only the few that the size rule calls doublets stay so
    assert lowered.loc[spread, "exclude_reason"].str.contains("doublet").mean() < 0.02
    assert (~lowered["excluded"]).sum() - (~default["excluded"]).sum() > 0.9 * len(spread)
