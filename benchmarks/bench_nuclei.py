"""Nucleus segmentation speed: seconds per 1024 x 1024 field, for one or more models.

Times :func:`segment.nuclei.segment_nuclei` on a default 2-D synthetic field (0.1 µm pixels,
8 µm nuclei) after one warm-up call, best of ``--repeats``. Give several models to compare
them in one run (timings on a shared machine are only comparable within a run), e.g. the
previous bundled model saved with ``git show <commit>:segment/models/spmito_nuclei.pt``.

Usage::

    python benchmarks/bench_nuclei.py [--model bundled] [--model old.pt] [--repeats 3]
        [--threads 2]
"""

from __future__ import annotations

import argparse
import time

from imaging.synthetic import SynthParams, make_field
from segment.nuclei import segment_nuclei

#: The benchmark field: default 2-D parameters at 1024 x 1024 pixels.
FIELD = SynthParams.for_ndim(2, size_px=1024)


def seconds_per_field(model: str, repeats: int, device: str = "cpu") -> tuple[float, int]:
    """Best-of-``repeats`` seconds to segment the nuclei of the field, and nuclei found."""
    field = make_field(FIELD, 1)
    hoechst = field.channel("hoechst")
    found = segment_nuclei(hoechst, FIELD.spacing_um, 8.0, model=model, device=device)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        segment_nuclei(hoechst, FIELD.spacing_um, 8.0, model=model, device=device)
        times.append(time.perf_counter() - started)
    return min(times), int(found.labels.max())


def main() -> None:
    """Print the timing of each model."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", help="model (repeat); default: bundled")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU thread(s); 1024 x 1024 "
          f"field at {FIELD.spacing_um[0]} µm, 8 µm nuclei")
    for model in args.model or ["bundled"]:
        seconds, found = seconds_per_field(model, args.repeats)
        print(f"  {model:40s} {seconds:6.2f} s per field ({found} nuclei found)")


if __name__ == "__main__":
    main()
