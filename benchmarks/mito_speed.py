"""Speed and peak memory of the mitochondria segmentation, before and after a change.

The same inputs as ``bench_measure.py`` (a 2048 x 2048 field and a 60 x 1024 x 1024 stack,
4 x 4 tilings of synthetic fields) and a 32 x 320 x 320 stack (the size of the Nellie
comparison of issue 13) are segmented by the current ``segment/mito.py`` and by
the version of that file at a git revision (``--before``, default: the last commit before
the rewrite of issue 13), each in a fresh process that reports its wall time and its own
peak resident memory (VmHWM). Times on a shared machine are noisy: compare the ratio within
one run.

Usage: ``python benchmarks/mito_speed.py [--before REV] [--skip-3d]`` (about 5 minutes).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_measure import tiled_field  # noqa: E402

BEFORE = "675a40e"

_CHILD = """
import importlib.util, logging, sys, time
import numpy as np
logging.getLogger("spmito").setLevel(logging.ERROR)
spec = importlib.util.spec_from_file_location("mito_under_test", r"{module}")
mito = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mito)
image = np.load(r"{folder}/mito.npy")
mask = np.load(r"{folder}/cells.npy") > 0

def peak_rss_mb():
    with open("/proc/self/status") as status:
        line = next(l for l in status if l.startswith("VmHWM"))
    return int(line.split()[1]) / 1024

loaded = peak_rss_mb()
start = time.perf_counter()
labels = mito.segment_mitochondria(image, {voxel_size_um}, mask=mask)
print(f"{{time.perf_counter() - start:.2f}} {{peak_rss_mb():.0f}} {{loaded:.0f}} {{labels.max()}}")
"""


def run_child(module: Path, folder: str, voxel_size_um) -> tuple[float, float, float, int]:
    code = _CHILD.format(module=module, folder=folder, voxel_size_um=tuple(voxel_size_um))
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True, cwd=ROOT).stdout.split()
    return float(out[0]), float(out[1]), float(out[2]), int(out[3])


def compare(name: str, mito: np.ndarray, cells: np.ndarray, voxel_size_um, before: Path) -> None:
    with tempfile.TemporaryDirectory() as folder:
        np.save(Path(folder) / "mito.npy", mito)
        np.save(Path(folder) / "cells.npy", cells)
        results = {label: run_child(module, folder, voxel_size_um)
                   for label, module in (("before", before),
                                         ("after", ROOT / "segment" / "mito.py"))}
    for label, (seconds, peak, loaded, n) in results.items():
        print(f"| {name} | {label} | {seconds:.1f} | {peak:.0f} | {peak - loaded:.0f} | {n} |")
    print(f"| {name} | after / before | {results['after'][0] / results['before'][0]:.2f} | | | |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default=BEFORE, help="git revision of the old version")
    parser.add_argument("--skip-3d", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        before = Path(folder) / "mito_before.py"
        before.write_text(subprocess.run(["git", "show", f"{args.before}:segment/mito.py"],
                                         check=True, capture_output=True, text=True,
                                         cwd=ROOT).stdout)
        print("| input | version | time (s) | peak RSS (MB) | above inputs (MB) | objects |")
        print("|---|---|---:|---:|---:|---:|")
        _, mito, cells, _, voxel_size_um = tiled_field(2, 4, seed=3)
        compare("2-D 2048²", mito, cells, voxel_size_um, before)
        _, mito, cells, _, voxel_size_um = tiled_field(3, 1, seed=5, size_px=320, n_z=32)
        compare("3-D 32x320²", mito, cells, voxel_size_um, before)
        if not args.skip_3d:
            _, mito, cells, _, voxel_size_um = tiled_field(3, 4, seed=5, size_px=256, n_z=60)
            compare("3-D 60x1024²", mito, cells, voxel_size_um, before)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
