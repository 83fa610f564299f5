"""Acceptance numbers of SP/MP gating and statistics over several simulated batches.

Run from the repository root: ``python benchmarks/measure_acceptance.py [n_seeds]``.
The tests in tests/measure/test_acceptance.py check one seed each; this prints the spread.
"""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np
import pandas as pd

from spmito.measure.analysis.population import assign_populations
from spmito.measure.analysis.simulate import simulate_cells
from spmito.measure.analysis.stats import compare_populations, well_table

warnings.simplefilter("ignore")


def realised_sp_percent(out):
    kept = out[~out["excluded"] & (out["role"] == "test")]
    return 100 * (kept["true_population"] == "SP").groupby(
        kept["plate"] + "/" + kept["well"]).mean()


def test_wells(out, gates):
    wells = well_table(out, gates)
    return wells[wells["role"] == "test"].set_index("well_id")


def quantile_and_coverage(seed):
    out, gates = assign_populations(simulate_cells(n_replicates=200, cells_per_well=1100,
                                                   seed=seed))
    test = out[(out["role"] == "test") & ~out["excluded"]]
    truth, call = test["true_population"] == "SP", test["population"] == "SP"
    balanced = (call[truth].mean() + (~call[~truth]).mean()) / 2
    wells = test_wells(out, gates)
    target = 100 * wells["true_sp_fraction"]
    covered = ((wells["delta_ci_low"] <= target) & (target <= wells["delta_ci_high"])).mean()
    return balanced, covered


def clustered_coverage(seed):
    """50 plates x 4 test wells sharing one control well each."""
    out, gates = assign_populations(simulate_cells(n_replicates=50, test_wells_per_replicate=4,
                                                   cells_per_well=1200, seed=seed))
    wells = test_wells(out, gates)
    target = 100 * wells["true_sp_fraction"]
    return ((wells["delta_ci_low"] <= target) & (target <= wells["delta_ci_high"])).mean()


def sp_percent_error(method, seed, n_replicates, cells_per_well):
    out, gates = assign_populations(
        simulate_cells(n_replicates=n_replicates, test_wells_per_replicate=2,
                       cells_per_well=cells_per_well, seed=seed),
        method=method, n_bootstrap=0)
    wells = test_wells(out, gates)
    error = wells["sp_percent"] - realised_sp_percent(out).reindex(wells.index)
    delta_error = wells["delta_sp_percent"] - 100 * wells["true_sp_fraction"]
    return error.mean(), delta_error.mean(), {g.method for g in gates}


def false_positive_rate(seed, n_sims=500):
    n_replicates, n_sp, n_mp = 3, 40, 400
    rng = np.random.default_rng(seed)
    per = n_sp + n_mp
    n = n_sims * n_replicates * per
    cells = pd.DataFrame({
        "condition": np.repeat(np.arange(n_sims), n_replicates * per),
        "replicate": np.tile(np.repeat(np.arange(1, n_replicates + 1), per), n_sims),
        "population": np.tile(np.r_[["SP"] * n_sp, ["MP"] * n_mp], n_sims * n_replicates),
        "mito_area_um2": np.exp(3 + np.repeat(rng.normal(0, 0.2, n_sims * n_replicates), per)
                                + rng.normal(0, 0.4, n)),
        "excluded": False, "role": "test"})
    table = compare_populations(cells, descriptive=False, strata=("condition",))
    return (table["p_value"] < 0.05).mean()


def fold_change_attenuation(seed):
    out, _ = assign_populations(simulate_cells(n_replicates=3, test_wells_per_replicate=2,
                                               cells_per_well=1500, sp_mito_ratio=1.5,
                                               seed=seed))
    table = compare_populations(out, descriptive=False, endpoints=["mito_area_um2"])
    return table["fold_change"].iloc[0]


def main(n_seeds: int = 5) -> None:
    started = time.time()
    rows = []
    for seed in range(n_seeds):
        balanced, covered = quantile_and_coverage(1000 + seed)
        robust, robust_delta, robust_methods = sp_percent_error("auto", 2000 + seed, 40, 600)
        mixture, mixture_delta, _ = sp_percent_error("mixture", 3000 + seed, 15, 1500)
        rows.append({
            "seed": seed, "quantile_balanced_accuracy": balanced,
            "delta_coverage_200_independent": covered,
            "delta_coverage_50x4_clustered": clustered_coverage(4000 + seed),
            "robust_sp_error_points": robust, "robust_delta_error_points": robust_delta,
            "robust_method": "/".join(sorted(robust_methods)),
            "mixture_sp_error_points": mixture, "mixture_delta_error_points": mixture_delta,
            "fpr_500_experiments": false_positive_rate(5000 + seed),
            "fold_change_true_1.5": fold_change_attenuation(6000 + seed),
        })
        print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    print(table.drop(columns=["seed", "robust_method"]).describe().loc[["mean", "min", "max"]]
          .T.to_string(float_format=lambda v: f"{v:.4f}"))
    print(f"{time.time() - started:.0f} s")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
