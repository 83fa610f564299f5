"""Nucleus segmentation speed: seconds per 1024 x 1024 field, for one or more models.

Times :func:`spmito.segment.nuclei.segment_nuclei` on a default 2-D synthetic field (0.1 µm pixels,
8 µm nuclei) after one warm-up call, best of ``--repeats``, with and without the second
look for dim nuclei. Give several models to compare
them in one run (timings on a shared machine are only comparable within a run), e.g. the
previous bundled model saved with ``git show <commit>:segment/models/spmito_nuclei.pt``.

Usage::

    python benchmarks/bench_nuclei.py [--model bundled] [--model old.pt] [--repeats 3]
        [--threads 2]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._timing import best_seconds, speed_parser, start_torch  # noqa: E402
from spmito.imaging.synthetic import SynthParams, make_field  # noqa: E402
from spmito.segment.nuclei import segment_nuclei  # noqa: E402

#: The benchmark field: default 2-D parameters at 1024 x 1024 pixels.
FIELD = SynthParams.for_ndim(2, size_px=1024)


def seconds_per_field(model: str, repeats: int, device: str = "cpu",
                      second_look: bool = True) -> tuple[float, int]:
    """Best-of-``repeats`` seconds to segment the nuclei of the field, and nuclei found."""
    field = make_field(FIELD, 1)
    hoechst = field.channel("hoechst")
    def segment():
        return segment_nuclei(hoechst, FIELD.voxel_size_um, 8.0, model=model, device=device,
                              second_look=second_look)

    found = segment()  # the warm-up call, whose count is reported
    return best_seconds(segment, repeats, warm_up=False), int(found.labels.max())


def main() -> None:
    """Print the timing of each model."""
    parser = speed_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", help="model (repeat); default: bundled")
    args = parser.parse_args()
    print(f"{start_torch(args.threads)}; 1024 x 1024 field at {FIELD.voxel_size_um[0]} µm, "
          "8 µm nuclei")
    for model in args.model or ["bundled"]:
        for second_look in (True, False):
            seconds, found = seconds_per_field(model, args.repeats, second_look=second_look)
            look = "with the second look" if second_look else "first look only"
            print(f"  {model:30s} {look:22s} {seconds:6.2f} s per field ({found} nuclei "
                  "found)")


if __name__ == "__main__":
    main()
