"""Mitochondria count and size accuracy at moderate difficulty, against the global-Otsu baseline.

Moderate difficulty (issue acceptance): SNR >= 5 and mitochondria at least one resolution width
apart; the lateral FWHM of the synthetic PSF is 0.23 µm (2-D default gap 0.35 µm), the axial
one 0.84 µm (3-D gap 0.85 µm). Measured inside the true cell masks.

Usage: ``python benchmarks/mito_accuracy.py [--fields-2d 8] [--fields-3d 4]``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.mito_eval import (  # noqa: E402
    BASELINE,
    meets_acceptance,
    per_cell_errors,
    summarise,
    synthetic_fields,
)
from spmito.segment.mito import MitoParams  # noqa: E402

METHODS = {"spmito adaptive": MitoParams(), "spmito ridge": MitoParams(method="ridge"),
           "global Otsu + CC": BASELINE}


def accuracy_table(n_fields_2d: int, n_fields_3d: int, seed: int) -> pd.DataFrame:
    """One row per (dimension, SNR, gap, method)."""
    conditions = [(2, snr, 0.35, n_fields_2d, {}) for snr in (5.0, 8.0)]
    conditions += [(3, snr, 0.85, n_fields_3d, {"size_px": 256}) for snr in (5.0, 8.0)]
    rows = []
    for ndim, snr, gap, n_fields, extra in conditions:
        if n_fields == 0:  # e.g. --fields-2d 0: 3-D only
            continue
        fields = list(synthetic_fields(ndim, n_fields, seed, snr=snr, mito_gap_um=gap, **extra))
        for name, params in METHODS.items():
            errors = pd.concat([per_cell_errors(field, params) for field in fields])
            summary = summarise(errors)
            rows.append({"ndim": ndim, "snr": snr, "gap_um": gap, "method": name, **summary,
                         "counts_ok": meets_acceptance(summary, size_tolerance=None),
                         "size_ok": abs(summary["size_ratio"] - 1) <= 0.2})
            print(rows[-1], flush=True)
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fields-2d", type=int, default=8)
    parser.add_argument("--fields-3d", type=int, default=4)
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()
    table = accuracy_table(args.fields_2d, args.fields_3d, args.seed)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
