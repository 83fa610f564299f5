"""Cell segmentation speed: seconds per megapixel (input voxels) with the bundled model.

Times :func:`spmito.segment.cells.segment_cells` on synthetic fields, after one warm-up call
(model loading is timed separately), for 2-D images, 3-D stacks stitched from 2-D masks,
and 3-D stacks with 3-D flows; on the CPU, and on the GPU when torch sees one.

Usage::

    python benchmarks/bench_cellpose.py [--repeats 3] [--threads N]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._timing import best_seconds, speed_parser, start_torch  # noqa: E402
from spmito.imaging.synthetic import SynthParams, make_field  # noqa: E402
from spmito.segment.backends import get_backend  # noqa: E402
from spmito.segment.cells import segment_cells  # noqa: E402

CASES = (
    ("2-D 1024x1024, 0.1 µm", SynthParams.for_ndim(2, size_px=1024), "stitch"),
    ("3-D 48x320x320 stitched", SynthParams.for_ndim(3), "stitch"),
    ("3-D 48x320x320 do_3d", SynthParams.for_ndim(3), "do_3d"),
)


def _devices() -> list[str]:
    import torch

    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def seconds_per_megapixel(params: SynthParams, mode_3d: str, device: str,
                          repeats: int) -> tuple[float, float, float]:
    """Best-of-``repeats`` seconds per megapixel, seconds of that call, megapixels."""
    field = make_field(params, 1)
    cell, hoechst = field.channel("cell"), field.channel("hoechst")
    def segment() -> object:
        return segment_cells(cell, hoechst, params.voxel_size_um, 12.0, device=device,
                             mode_3d=mode_3d)

    best, megapixels = best_seconds(segment, repeats), cell.size / 1e6
    return best / megapixels, best, megapixels


def main() -> None:
    """Print the timing table."""
    args = speed_parser(__doc__.split("\n\n")[0]).parse_args()
    print(start_torch(args.threads))
    for device in _devices():
        started = time.perf_counter()
        get_backend("bundled", "cells", device)
        print(f"[{device}] model load {time.perf_counter() - started:.2f} s")
        for name, params, mode in CASES:
            per_mp, seconds, megapixels = seconds_per_megapixel(params, mode, device,
                                                                args.repeats)
            print(f"[{device}] {name:26s} {per_mp:7.3f} s/MP  ({seconds:.2f} s for "
                  f"{megapixels:.2f} MP)")


if __name__ == "__main__":
    main()
