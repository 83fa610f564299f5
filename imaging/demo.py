"""``spmito demo``: a small synthetic plate analysed end to end, compared with its truth.

The plate has inhibitor-control and test wells in 3 replicates; the test wells hold SP cells
(dim in Hoechst, more mitochondria). Everything runs offline on the bundled model; at the end
the demo prints where the report is and the measured headline numbers next to the truth.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from spmito.imaging.batch import run_batch
from spmito.imaging.params import RunParams
from spmito.imaging.qc import qc_summary_lines, read_qc
from spmito.imaging.sheet import read_sample_sheet
from spmito.imaging.synthetic import SynthParams, write_synthetic_set

#: The demo plate: SP-enriched test wells (10 %; real myeloma lines hold 0.1–5 %) so that
#: three replicates give SP cells enough for the SP-vs-MP comparison.
DEMO_SP_FRACTION = 0.10
DEMO_FIELDS_PER_WELL = 2
DEMO_REPLICATES = 3


def demo_synth_params(ndim: int) -> SynthParams:
    """Field parameters of the demo plate (about 50 cells per field)."""
    if ndim == 2:
        return SynthParams.for_ndim(2, size_px=1024, sp_fraction=DEMO_SP_FRACTION)
    return SynthParams.for_ndim(3, size_px=384, sp_fraction=DEMO_SP_FRACTION)


def truth_summary(plate_dir: Path, sheet: pd.DataFrame) -> dict[str, float]:
    """Truth of the plate: SP % of test wells and SP/MP fold changes (replicate medians)."""
    rows = []
    for row in sheet.itertuples(index=False):
        truth = pd.read_csv(plate_dir / f"{row.image_id}.truth" / "truth.csv")
        rows.append(truth.assign(replicate=row.replicate, role=row.role))
    cells = pd.concat(rows, ignore_index=True)
    test = cells[cells["role"] == "test"]
    size = "mito_size"
    ratios = {}
    for endpoint in ("mito_count", size):
        medians = test.groupby(["replicate", "population"])[endpoint].median().unstack()
        ratios[endpoint] = float(2 ** np.mean(np.log2(medians["SP"] / medians["MP"])))
    return {"sp_percent": 100 * float((test["population"] == "SP").mean()),
            "fold_mito_count": ratios["mito_count"], "fold_mito_size": ratios[size]}


def measured_summary(out_dir: Path) -> dict[str, float]:
    """The same numbers from the run's tables (NaN when not available)."""
    wells, stats = pd.read_csv(out_dir / "wells.csv"), pd.read_csv(out_dir / "stats.csv")
    result = {"sp_percent": np.nan, "delta_sp_percent": np.nan, "fold_mito_count": np.nan,
              "fold_mito_size": np.nan}
    if not wells.empty:
        test = wells[wells["role"] == "test"]  # n_cells counts QC-passed cells only
        result["sp_percent"] = float(100 * test["n_sp"].sum() / max(test["n_cells"].sum(), 1))
        result["delta_sp_percent"] = float(test["delta_sp_percent"].mean())
    if not stats.empty and "analysis" in stats:
        tests = stats[stats["analysis"].astype(str).str.contains("t-test", na=False)]
        for endpoint, key in (("mito_count", "fold_mito_count"),
                              ("mito_area_um2", "fold_mito_size"),
                              ("mito_volume_um3", "fold_mito_size")):
            match = tests[tests["endpoint"] == endpoint]
            if not match.empty:
                result[key] = float(match["fold_change"].iloc[0])
    return result


def demo_summary_lines(results: Path, truth: dict[str, float],
                       notes: list[str]) -> list[str]:
    """The lines the demo prints at the end of its run.

    Parameters
    ----------
    results : Path
        The demo's output folder.
    truth : dict
        The plate's true headline numbers (:func:`truth_summary`).
    notes : list of str
        The batch's notes.

    Returns
    -------
    list of str
        The report's path, the notes, the measured headline numbers next to the truth, then
        the QC summary of ``qc.csv`` as ``spmito run`` prints it.
    """
    measured = measured_summary(results)
    return [
        f"\nreport: {results / 'report.html'}",
        *(f"  note: {note}" for note in notes),
        f"  SP % of test wells:             measured {measured['sp_percent']:.1f} %   "
        f"truth {truth['sp_percent']:.1f} %  (ΔSP vs control "
        f"{measured['delta_sp_percent']:+.1f} points)",
        f"  SP/MP mitochondria count:       measured {measured['fold_mito_count']:.2f}×  "
        f"truth {truth['fold_mito_count']:.2f}×",
        f"  SP/MP total mitochondrial size: measured {measured['fold_mito_size']:.2f}×  "
        f"truth {truth['fold_mito_size']:.2f}×",
        *qc_summary_lines(read_qc(results)),
    ]


def demo_command(args: argparse.Namespace) -> int:
    """Synthesise the demo plate, run the whole pipeline, print the headline vs truth."""
    out = Path(args.out)
    plate_dir, results = out / "plate", out / "results"
    print(f"1/2 synthesising a {args.ndim}-D plate (inhibitor controls and test wells, "
          f"{DEMO_REPLICATES} replicates) in {plate_dir}")
    write_synthetic_set(plate_dir, demo_synth_params(args.ndim), n_fields=DEMO_FIELDS_PER_WELL,
                        seed=args.seed, mode="plate", replicates=DEMO_REPLICATES,
                        progress=True)
    sheet = read_sample_sheet(plate_dir / "sheet.csv")
    print(f"2/2 analysing {len(sheet)} images with the bundled model into {results}")
    outcome = run_batch(sheet, results, RunParams())
    print("\n".join(demo_summary_lines(results, truth_summary(plate_dir, sheet),
                                        outcome.notes)))
    return outcome.exit_code
