"""Mitochondria counts and sizes across pixel sizes, on synthetic seeds never used for tuning.

1. 2-D fields (about 51 µm across) at 0.1, 0.2 and 0.3 µm pixels and SNR 4 and 8: median
   per-cell absolute count error and median measured / true total area, inside the true
   cells (criteria: count error ≤ 10 %, ≤ 15 % at SNR 4; area within ±15 %).
2. Fragmented versus networked fields at 0.3 µm (``SynthParams.mito_layout``): the
   per-cell fragmentation index (count / total area) of the segmentation, Cliff's delta
   between the two (criterion ≥ 0.5).
3. No step back at the pixel sizes the method was made for: 2-D at 0.125 µm (SNR 5 and 8)
   and 3-D at 0.12 x 0.12 x 0.3 µm (SNR 5, objects 0.85 µm apart); and objects only 0.1 µm
   apart at 0.1 µm pixels (SNR 4 and 8), where touching neighbours must be split.

The parameters were tuned on ``SeedSequence([7, i])``; this script uses seed 2026.
Usage: ``python benchmarks/mito_pixel_sizes.py [--fields N]`` (about 4 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from mito_eval import per_cell_errors, summarise, synthetic_fields  # noqa: E402

from spmito.segment.mito import MitoParams  # noqa: E402

SEED = 2026
FIELD_UM = 51.2


def cliffs_delta(a: np.ndarray, b: np.ndarray) -> float:
    """P(a > b) - P(a < b) over all pairs."""
    a, b = np.asarray(a, float)[:, None], np.asarray(b, float)[None, :]
    return float(np.mean(a > b) - np.mean(a < b))


def condition(ndim: int, n_fields: int, pixel_um: float, **overrides) -> pd.DataFrame:
    size = overrides.pop("size_px", int(round(FIELD_UM / pixel_um)) if ndim == 2 else None)
    fields = synthetic_fields(ndim, n_fields, SEED, pixel_size_um=pixel_um, size_px=size,
                              **overrides)
    return pd.concat([per_cell_errors(f, MitoParams()) for f in fields], ignore_index=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fields", type=int, default=3, help="fields per condition")
    args = parser.parse_args(argv)

    print("| pixel (µm) | SNR | cells | median abs. count error | median bias | "
          "within ±15 % | area ratio | meets |")
    print("|---:|---:|---:|---:|---:|---:|---:|:---:|")
    for pixel_um in (0.1, 0.2, 0.3):
        for snr in (4.0, 8.0):
            s = summarise(condition(2, args.fields, pixel_um, snr=snr))
            limit = 0.15 if snr < 5 else 0.10
            ok = s["mape"] <= limit and abs(s["size_ratio"] - 1) <= 0.15
            print(f"| {pixel_um} | {snr:g} | {s['cells']} | {s['mape']:.0%} | {s['bias']:+.0%} "
                  f"| {s['within_15']:.0%} | {s['size_ratio']:.2f} | {'yes' if ok else 'no'} |")

    index = {}
    for layout in ("fragmented", "networked"):
        errors = condition(2, args.fields, 0.3, snr=8.0, mito_layout=layout)
        index[layout] = (errors["count"] / errors["size"]).dropna().to_numpy()
    delta = cliffs_delta(index["fragmented"], index["networked"])
    print(f"\nfragmentation index at 0.3 µm (count / µm²): fragmented median "
          f"{np.median(index['fragmented']):.2f} ({index['fragmented'].size} cells), networked "
          f"{np.median(index['networked']):.2f} ({index['networked'].size} cells); "
          f"Cliff's delta {delta:.2f}")

    print("\n| set | SNR | cells | median abs. count error | within ±15 % | size ratio |")
    print("|---|---:|---:|---:|---:|---:|")
    for snr in (5.0, 8.0):
        s = summarise(condition(2, args.fields, 0.125, snr=snr))
        print(f"| 2-D 0.125 µm | {snr:g} | {s['cells']} | {s['mape']:.0%} | "
              f"{s['within_15']:.0%} | {s['size_ratio']:.2f} |")
    for snr in (4.0, 8.0):
        s = summarise(condition(2, args.fields, 0.1, snr=snr, mito_gap_um=0.1))
        print(f"| 2-D 0.1 µm, gaps 0.1 µm | {snr:g} | {s['cells']} | {s['mape']:.0%} | "
              f"{s['within_15']:.0%} | {s['size_ratio']:.2f} |")
    s = summarise(condition(3, 2, 0.12, snr=5.0, size_px=256, mito_gap_um=0.85))
    print(f"| 3-D 0.12 µm | 5 | {s['cells']} | {s['mape']:.0%} | {s['within_15']:.0%} | "
          f"{s['size_ratio']:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
