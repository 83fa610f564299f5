"""Choose the nucleus model's inference settings on DSB 2018 *training* images.

Scores a grid of network diameters (the size nuclei are rescaled to at the network's input)
and Cellpose cell-probability and flow thresholds by AP@0.5 pooled over a subset of the
training groups of ``benchmarks/dsb2018_split.json``: ``--per-group`` images of each group,
every k-th one from ``--offset``. The held-out validation groups are never read, so the
held-out figures of ``benchmarks/dsb_nuclei.py`` stay honest. The chosen values go into the
``inference`` record of ``segment/models/spmito_nuclei.json``.

Usage (the bundled model's settings were chosen with ``--offset 0 --per-group 3`` and
``--offset 5 --per-group 4``)::

    python benchmarks/tune_nucleus_inference.py [--model bundled] [--per-group 3]
        [--offset 0] [--diameters 17,20.4,23.8] [--cellprob=-1,-0.5,0,0.5] [--flow 0.4,0.7]
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

#: Run as a script, this file sees its own folder; ``benchmarks`` imports from the root.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.dsb_nuclei import (  # noqa: E402
    Counts,
    count_matches,
    image_ids,
    load_split,
    read_image,
)


def tuning_ids(split: dict, per_group: int, offset: int) -> list[str]:
    """``per_group`` training images of every training group, every k-th from ``offset``."""
    train = image_ids(split, "train")
    chosen = []
    for group in sorted({split["images"][i] for i in train}):
        members = [i for i in train if split["images"][i] == group]
        step = max(1, len(members) // per_group)
        chosen += members[offset % step::step][:per_group]
    return chosen


def score_grid(ids: list[str], model: str, network_diameters_px: list[float],
               cellprob_thresholds: list[float], flow_thresholds: list[float],
               split: dict) -> dict[tuple[float, float, float], dict[str, Counts]]:
    """Matches per image for every (network diameter, cellprob, flow threshold)."""
    from spmito.segment.backends import get_backend
    from spmito.segment.nuclei import segment_nuclei
    from spmito.segment.training_data import median_diameter_px

    run_px = get_backend(model, "nuclei", "cpu").diameter_px
    scores: dict[tuple[float, float, float], dict[str, Counts]] = {}
    for image_id in ids:
        sample = read_image(image_id, split)
        nucleus_px = median_diameter_px(sample.truth)
        for network_px, cellprob, flow in itertools.product(
                network_diameters_px, cellprob_thresholds, flow_thresholds):
            # telling the model the nuclei are smaller enlarges them at its input
            labels = segment_nuclei(sample.image, (1.0, 1.0), nucleus_px * run_px / network_px,
                                    model=model, device="cpu", flow_threshold=flow,
                                    cellprob_threshold=cellprob).labels
            scores.setdefault((network_px, cellprob, flow), {})[image_id] = count_matches(
                sample.truth, labels)
    return scores


def _floats(text: str) -> list[float]:
    return [float(value) for value in text.split(",")]


def main() -> None:
    """Print every setting's pooled and per-group AP@0.5, best first."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="bundled")
    parser.add_argument("--per-group", type=int, default=3)
    parser.add_argument("--offset", type=int, default=0)
    parser.add_argument("--diameters", type=_floats, default=[17.0, 20.4, 23.8],
                        help="network diameters (px)")
    parser.add_argument("--cellprob", type=_floats, default=[-1.0, -0.5, 0.0, 0.5])
    parser.add_argument("--flow", type=_floats, default=[0.4, 0.7])
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    split = load_split()
    ids = tuning_ids(split, args.per_group, args.offset)
    groups = sorted({split["images"][i] for i in ids})
    scores = score_grid(ids, args.model, args.diameters, args.cellprob, args.flow, split)
    print(f"{len(ids)} training images; groups: {', '.join(groups)}")
    rows = []
    for (network_px, cellprob, flow), per_image in scores.items():
        pooled = sum(per_image.values(), Counts(0, 0, 0))
        by_group = [sum((c for i, c in per_image.items() if split["images"][i] == group),
                        Counts(0, 0, 0)).ap50 for group in groups]
        rows.append((pooled.ap50, network_px, cellprob, flow, by_group))
    for pooled, network_px, cellprob, flow, by_group in sorted(rows, reverse=True):
        print(f"network {network_px:5.1f} px  cellprob {cellprob:+.1f}  flow {flow:.1f}  "
              f"pooled AP50 {pooled:.3f}  groups " + " ".join(f"{v:.3f}" for v in by_group))


if __name__ == "__main__":
    main()
