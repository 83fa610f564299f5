"""Cost of the mitochondria segmentation and the per-cell measurement.

1. Per-cell cost does not grow with the number of cells: the same 2048 x 2048 image (a 4 x 4
   tiling of a synthetic 2-D field) is measured with 10 large cells and with 1 000 small cells
   covering the same fraction of the image; the two times should be about the same.
2. Bounded memory in 3-D: a 60 x 1024 x 1024 stack (a 4 x 4 tiling of a synthetic 3-D field) is
   segmented and measured in a fresh process that reports its peak resident memory.

Usage: ``python benchmarks/bench_measure.py [--skip-3d]`` (about 5 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from spmito.imaging.synthetic import SynthParams, make_field  # noqa: E402
from spmito.measure.objects.cells import measure_image  # noqa: E402
from spmito.segment.mito import segment_mitochondria  # noqa: E402


def tiled_field(ndim: int, tiles: int, seed: int, **overrides):
    """A synthetic field tiled ``tiles`` x ``tiles`` laterally: (hoechst, mito, cells, nuclei)."""
    field = make_field(SynthParams.for_ndim(ndim, **overrides), seed)
    reps = (1,) * (ndim - 2) + (tiles, tiles)

    def tile_labels(labels):
        offsets = np.arange(tiles * tiles).reshape(tiles, tiles) * int(labels.max())
        block = np.kron(offsets, np.ones(labels.shape[-2:], np.int64))
        tiled = np.tile(labels.astype(np.int32), reps)
        return np.where(tiled > 0, tiled + block.astype(np.int32), 0)

    return (np.tile(field.channel("hoechst"), reps), np.tile(field.channel("mito"), reps),
            tile_labels(field.cells), tile_labels(field.nuclei), field.params.voxel_size_um)


def disc_grid(shape: tuple[int, int], n_rows: int, n_cols: int, fill: float) -> tuple:
    """Cells (discs on a grid covering ``fill`` of the image) and concentric nuclei."""
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    pitch_y, pitch_x = shape[0] / n_rows, shape[1] / n_cols
    row, col = (yy // pitch_y).astype(int), (xx // pitch_x).astype(int)
    dy, dx = yy - (row + 0.5) * pitch_y, xx - (col + 0.5) * pitch_x
    radius = np.sqrt(fill * pitch_y * pitch_x / np.pi)
    distance = np.hypot(dy, dx)
    ids = (row * n_cols + col + 1).astype(np.int32)
    cells = np.where(distance < radius, ids, 0)
    nuclei = np.where(distance < 0.6 * radius, ids, 0)
    return cells, nuclei


def time_call(function, repeats: int = 2) -> float:
    """Best wall time of ``repeats`` calls."""
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def per_cell_scaling() -> None:
    hoechst, mito, _, _, voxel_size_um = tiled_field(2, 4, seed=3)
    start = time.perf_counter()
    labels = segment_mitochondria(mito, voxel_size_um)
    print(f"2-D {mito.shape}: segmentation {time.perf_counter() - start:.1f} s, "
          f"{labels.max()} objects")
    layouts = {"10 cells": (2, 5), "1000 cells": (25, 40)}
    times = {}
    for name, (n_rows, n_cols) in layouts.items():
        cells, nuclei = disc_grid(mito.shape, n_rows, n_cols, fill=0.5)

        def run(cells=cells, nuclei=nuclei):
            return measure_image(cells, nuclei, labels, voxel_size_um, hoechst_img=hoechst,
                                 mito_img=mito)

        result = run()  # also warms up numba (skan)
        times[name] = time_call(run)
        print(f"  {name:>10}: measure {times[name]:.2f} s ({len(result.cells)} cells, "
              f"{len(result.mito)} mitochondria pieces)")
    print(f"  ratio 1000 cells / 10 cells: {times['1000 cells'] / times['10 cells']:.2f}")


def bounded_memory_3d() -> None:
    with tempfile.TemporaryDirectory() as folder:
        hoechst, mito, cells, nuclei, voxel_size_um = tiled_field(3, 4, seed=5, size_px=256, n_z=60)
        for name, array in (("hoechst", hoechst), ("mito", mito),
                            ("cells", cells.astype(np.uint16)),
                            ("nuclei", nuclei.astype(np.uint16))):
            np.save(Path(folder) / f"{name}.npy", array)
        inputs_mb = sum(a.size * 2 for a in (hoechst, mito, cells, nuclei)) / 2**20
        del hoechst, mito, cells, nuclei
        code = _THREE_D_CHILD.format(folder=folder, voxel_size_um=tuple(voxel_size_um))
        output = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                text=True, cwd=Path(__file__).resolve().parents[1]).stdout
    print(f"3-D (60, 1024, 1024), inputs {inputs_mb:.0f} MB (4 uint16 arrays):\n{output}")


_THREE_D_CHILD = """
import time
import numpy as np
from spmito.measure.objects.cells import measure_image
from spmito.segment.mito import segment_mitochondria
load = lambda name: np.load(r"{folder}/" + name + ".npy")
hoechst, mito, cells, nuclei = (load(n) for n in ("hoechst", "mito", "cells", "nuclei"))
voxel_size_um = {voxel_size_um}

def peak_rss_mb():  # VmHWM: this process's own peak (ru_maxrss keeps the parent's across exec)
    with open("/proc/self/status") as status:
        line = next(l for l in status if l.startswith("VmHWM"))
    return int(line.split()[1]) / 1024

loaded = peak_rss_mb()
start = time.perf_counter()
labels = segment_mitochondria(mito, voxel_size_um, mask=cells > 0)
seg = time.perf_counter() - start
peak_seg = peak_rss_mb()
start = time.perf_counter()
result = measure_image(cells, nuclei, labels, voxel_size_um, hoechst_img=hoechst, mito_img=mito)
meas = time.perf_counter() - start
peak = peak_rss_mb()
print(f"  inputs loaded: RSS {{loaded:.0f}} MB")
print(f"  segmentation {{seg:.0f}} s ({{labels.max()}} objects), peak RSS {{peak_seg:.0f}} MB")
print(f"  measurement {{meas:.0f}} s ({{len(result.cells)}} cells, {{len(result.mito)}} pieces, "
      f"incl. skan's one-off numba compilation), peak RSS {{peak:.0f}} MB")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-3d", action="store_true", help="only the 2-D scaling check")
    args = parser.parse_args()
    per_cell_scaling()
    if not args.skip_3d:
        bounded_memory_3d()
    print(f"(this process: peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}"
          " MB)")


if __name__ == "__main__":
    main()
