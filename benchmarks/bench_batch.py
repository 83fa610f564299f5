"""Batch throughput: images per minute serial vs a 2-worker local Dask cluster, and the share
of per-image time spent outside Cellpose.

    python benchmarks/bench_batch.py [--fields N] [--size-px PX] [--workers W]

Both runs process the same synthetic plate in one go, so compare the ratio, not the absolute
figures (a shared machine changes those).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from spmito.imaging.batch import run_batch
from spmito.imaging.params import RunParams
from spmito.imaging.sheet import read_sample_sheet
from spmito.imaging.synthetic import SynthParams, write_synthetic_set

CELLPOSE_STEPS = ("cells", "nuclei")


def timed_run(sheet, out: Path, params: RunParams) -> float:
    start = time.perf_counter()
    outcome = run_batch(sheet, out, params, progress=False)
    assert outcome.n_failed == 0, [s.message for s in outcome.statuses if s.message]
    return time.perf_counter() - start


def step_seconds(out: Path) -> dict[str, float]:
    totals: dict[str, float] = {}
    for done in out.glob("images/*/done.json"):
        for step, seconds in json.loads(done.read_text())["provenance"]["seconds"].items():
            totals[step] = totals.get(step, 0.0) + seconds
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fields", type=int, default=2, help="fields per well (6 wells)")
    parser.add_argument("--size-px", type=int, default=1024)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_synthetic_set(folder / "plate", SynthParams.for_ndim(2, size_px=args.size_px),
                            n_fields=args.fields, seed=0, mode="plate", replicates=3,
                            preview=False)
        sheet = read_sample_sheet(folder / "plate" / "sheet.csv")
        n = len(sheet)
        serial = timed_run(sheet, folder / "serial", RunParams(device="cpu"))
        parallel = timed_run(sheet, folder / "dask", RunParams(device="cpu",
                                                                workers=args.workers))
        steps = step_seconds(folder / "serial")
    total = sum(steps.values())
    cellpose = sum(steps.get(s, 0.0) for s in CELLPOSE_STEPS)
    print(f"{n} images of {args.size_px}x{args.size_px} px")
    print(f"serial:            {60 * n / serial:6.2f} images/min ({serial:.1f} s, incl. gating "
          "and report)")
    print(f"{args.workers} Dask workers:    {60 * n / parallel:6.2f} images/min "
          f"({parallel:.1f} s, incl. worker start-up)")
    print(f"speed-up:          {serial / parallel:6.2f}x")
    print("per-image seconds by step (serial): "
          + ", ".join(f"{k} {v / n:.2f}" for k, v in steps.items()))
    print(f"share of per-image time outside Cellpose: {100 * (1 - cellpose / total):.0f} %")


if __name__ == "__main__":
    main()
