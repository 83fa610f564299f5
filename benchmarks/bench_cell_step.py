"""Cost of the cell step per 1024² field: cell models side by side, and cells from nuclei.

Times, on one synthetic 2-D field of 1024² pixels (0.1 µm), best of ``--repeats`` after a
warm-up: :func:`spmito.segment.cells.segment_cells` with each given cell model (compare the models
within one run: the machine is shared), and :func:`spmito.segment.propagate.cells_from_nuclei` over
the cell stain and, without one, over the mitochondria channel plus the Hoechst haze (with the
field's true nuclei; the nucleus step is timed by the nucleus benchmarks), and what
``spmito run`` adds to the cell model's cells at worst here: every pair of touching cells
merged into one and divided again between its two nuclei
(:func:`spmito.segment.propagate.divide_cells_among_nuclei`).

Usage::

    python benchmarks/bench_cell_step.py [--models bundled OTHER.pt] [--threads 2]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._timing import best_seconds, speed_parser, start_torch  # noqa: E402
from spmito.imaging.synthetic import SynthParams, make_field  # noqa: E402
from spmito.segment.cells import segment_cells  # noqa: E402
from spmito.segment.evaluation import touching_label_pairs  # noqa: E402
from spmito.segment.propagate import (  # noqa: E402
    cell_signal_without_stain,
    cells_from_nuclei,
    divide_cells_among_nuclei,
)


def touching_pairs_merged(cells: np.ndarray) -> tuple[np.ndarray, int]:
    """``cells`` with each cell merged into a touching neighbour (each cell in one pair)."""
    merged = cells.copy()
    taken: set[int] = set()
    for a, b in touching_label_pairs(cells).tolist():
        if a not in taken and b not in taken:
            merged[cells == b] = a
            taken |= {a, b}
    return merged, len(taken) // 2


def main() -> None:
    """Print seconds per 1024² field for each cell path."""
    parser = speed_parser(__doc__.split("\n\n")[0], threads=2)
    parser.add_argument("--models", nargs="+", default=["bundled"])
    args = parser.parse_args()
    torch_line = start_torch(args.threads)
    field = make_field(SynthParams.for_ndim(2, size_px=1024), 1)
    voxel_size_um = field.params.voxel_size_um
    cell, hoechst, mito = (field.channel(c) for c in ("cell", "hoechst", "mito"))
    print(f"{torch_line}; {int(field.cells.max())} cells")
    for model in args.models:
        seconds = best_seconds(lambda m=model: segment_cells(cell, hoechst, voxel_size_um, 12.0,
                                                             model=m, device="cpu"),
                               args.repeats)
        print(f"cellpose  {model:40s} {seconds:6.2f} s")
    seconds = best_seconds(lambda: cells_from_nuclei(field.nuclei, cell, voxel_size_um, 12.0),
                           args.repeats)
    print(f"nuclei    {'over the cell stain':40s} {seconds:6.2f} s")
    seconds = best_seconds(lambda: cells_from_nuclei(
        field.nuclei, cell_signal_without_stain(mito, hoechst, voxel_size_um), voxel_size_um, 12.0),
        args.repeats)
    print(f"nuclei    {'no stain: mito + Hoechst haze':40s} {seconds:6.2f} s")
    merged, n_pairs = touching_pairs_merged(field.cells)
    seconds = best_seconds(lambda: divide_cells_among_nuclei(merged, field.nuclei, cell, hoechst,
                                                             voxel_size_um), args.repeats)
    print(f"divide    {f'{n_pairs} merged pairs':40s} {seconds:6.2f} s")


if __name__ == "__main__":
    main()
