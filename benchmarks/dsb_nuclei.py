"""The nucleus model on the held-out acquisition groups of the DSB 2018 nuclei.

Scores a nucleus model on the validation groups of ``benchmarks/dsb2018_split.json``
(whole acquisition groups never used in training, see scripts/split_dsb2018.py): AP@0.5 per
group and pooled, with the expected nucleus diameter of each image taken from its truth
masks (median equivalent diameter), estimated from an Otsu mask, or not given (the image
used at the network's own scale). Optionally writes overlay PNGs, and with ``--errors``
says why each unmatched hand-drawn nucleus was missed (:func:`unmatched_kinds`).

Usage::

    python benchmarks/dsb_nuclei.py [--model bundled] [--subset] [--overlays DIR] [--errors]

The tests in tests/segment/test_real_nuclei.py score the fixed CI subset (--subset).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Run as a script, this file sees its own folder; ``benchmarks`` imports from the root.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

#: The DSB 2018 images (CC0) beside the checkout.
DSB_DIR = (Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"
           / "dsb2018_nuclei")

#: The split by acquisition group (written by scripts/split_dsb2018.py).
SPLIT_FILE = Path(__file__).resolve().parent / "dsb2018_split.json"


@dataclass(frozen=True)
class NucleusImage:
    """One DSB image with its hand-drawn nuclei."""

    image_id: str
    group: str
    image: np.ndarray
    truth: np.ndarray


def load_split(path: Path = SPLIT_FILE) -> dict:
    """The split record: groups, which are held out, and the group of every image."""
    return json.loads(Path(path).read_text())


def image_ids(split: dict, part: str) -> list[str]:
    """Ids of the ``"train"`` or ``"validation"`` images, in name order."""
    held = set(split["validation_groups"])
    if part not in ("train", "validation"):
        raise ValueError(f"part must be 'train' or 'validation', got {part!r}")
    return [image_id for image_id, group in sorted(split["images"].items())
            if (group in held) == (part == "validation")]


def read_image(image_id: str, split: dict, folder: Path = DSB_DIR) -> NucleusImage:
    """Read one image and its masks."""
    import tifffile

    return NucleusImage(image_id, split["images"][image_id],
                        tifffile.imread(folder / f"{image_id}.tif"),
                        tifffile.imread(folder / f"{image_id}_masks.tif"))


@dataclass(frozen=True)
class Counts:
    """Matches at IoU > 0.5 between hand-drawn and predicted nuclei."""

    true_positives: int
    n_true: int
    n_predicted: int

    @property
    def ap50(self) -> float:
        """TP / (TP + FP + FN), Cellpose's average precision at IoU 0.5."""
        union = self.n_true + self.n_predicted - self.true_positives
        return self.true_positives / union if union else 1.0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.true_positives + other.true_positives,
                      self.n_true + other.n_true, self.n_predicted + other.n_predicted)


def count_matches(truth: np.ndarray, predicted: np.ndarray) -> Counts:
    """Matched, true and predicted nuclei of one image."""
    from spmito.segment.evaluation import iou_matches

    return Counts(len(iou_matches(truth, predicted)), int(len(np.unique(truth)) - 1),
                  int(len(np.unique(predicted)) - 1))


#: Why a hand-drawn nucleus found no match, in the order the kinds are tested.
ERROR_KINDS = ("missed", "split", "merged", "outline")


def unmatched_kinds(truth: np.ndarray, predicted: np.ndarray) -> dict[str, int]:
    """Why the hand-drawn nuclei without a match (IoU > 0.5) were not matched.

    Per unmatched nucleus, with "covers" meaning more than a fifth of its pixels:
    ``missed`` (no predicted nucleus covers it), ``split`` (two or more do), ``merged``
    (the one that covers it holds more than half of another hand-drawn nucleus too) or
    ``outline`` (one predicted nucleus, drawn too large or too small). Also counted, across
    those kinds: ``small`` (under 0.3x the image's median nucleus area) and ``on_edge``
    (cut by the image's edge).
    """
    from spmito.segment.evaluation import iou_matches
    from spmito.segment.nuclei import nuclei_held_by_cells

    matched = iou_matches(truth, predicted)
    areas = np.bincount(truth.ravel())
    median_area = np.median(areas[1:][areas[1:] > 0])
    pairs, shared = np.unique(np.stack([truth.ravel(), predicted.ravel()]), axis=1,
                              return_counts=True)
    both = (pairs[0] > 0) & (pairs[1] > 0)
    pairs, shared = pairs[:, both], shared[both]
    held_by: dict[int, set[int]] = {}  # predicted nucleus -> the true ones it holds most of
    for predicted_label, true_label in zip(*nuclei_held_by_cells(predicted, truth),
                                           strict=True):
        held_by.setdefault(int(predicted_label), set()).add(int(true_label))
    edge = np.unique(np.concatenate([truth[0], truth[-1], truth[:, 0], truth[:, -1]]))
    kinds = dict.fromkeys((*ERROR_KINDS, "small", "on_edge"), 0)
    for label in np.flatnonzero(areas[1:]) + 1:
        if label in matched:
            continue
        mine = pairs[0] == label
        covering = pairs[1][mine][shared[mine] * 5 > areas[label]]
        if len(covering) == 0:
            kinds["missed"] += 1
        elif len(covering) > 1:
            kinds["split"] += 1
        elif held_by.get(int(covering[0]), set()) - {int(label)}:
            kinds["merged"] += 1
        else:
            kinds["outline"] += 1
        kinds["small"] += int(areas[label] < 0.3 * median_area)
        kinds["on_edge"] += int(label in edge)
    return kinds


def expected_diameter_px(sample: NucleusImage, how: str, network_px: float) -> float:
    """The nucleus diameter given to the model for one image.

    ``"truth"``: median equivalent diameter of the hand-drawn nuclei (what a user who knows
    the size gives); ``"otsu"``: estimated from an Otsu mask (no knowledge);
    ``"network"``: the network's own diameter, so the image is not rescaled.
    """
    from benchmarks.eval_segmentation import otsu_diameter_px
    from spmito.segment.training_data import median_diameter_px

    if how == "truth":
        return median_diameter_px(sample.truth)
    if how == "otsu":
        return otsu_diameter_px(sample.image)
    if how == "network":
        return network_px
    raise ValueError(f"diameter must be 'truth', 'otsu' or 'network', got {how!r}")


def segment_sample(sample: NucleusImage, model: str = "bundled", diameter: str = "truth"
                   ) -> np.ndarray:
    """Nuclei found by ``model`` in one image (labels on the image grid)."""
    from spmito.segment.backends import get_backend
    from spmito.segment.nuclei import segment_nuclei

    network_px = get_backend(model, "nuclei", "cpu").diameter_px
    diameter_px = expected_diameter_px(sample, diameter, network_px)
    return segment_nuclei(sample.image, (1.0, 1.0), diameter_px, model=model,
                          device="cpu").labels


def score_images(ids: list[str], model: str = "bundled", diameter: str = "truth",
                 overlays: Path | None = None, split: dict | None = None) -> dict:
    """AP@0.5 pooled over all nuclei of ``ids``, per group, and per image.

    Returns
    -------
    dict
        ``pooled`` (Counts), ``groups`` (group -> Counts), ``images`` (id -> Counts),
        ``seconds`` (segmentation time), ``unmatched`` (group -> :func:`unmatched_kinds`
        summed over its images).
    """
    split = split or load_split()
    per_image, seconds, unmatched = {}, 0.0, {}
    for image_id in ids:
        sample = read_image(image_id, split)
        started = time.perf_counter()
        predicted = segment_sample(sample, model, diameter)
        seconds += time.perf_counter() - started
        per_image[image_id] = count_matches(sample.truth, predicted)
        kinds = unmatched_kinds(sample.truth, predicted)
        group_kinds = unmatched.setdefault(sample.group, dict.fromkeys(kinds, 0))
        for kind, n in kinds.items():
            group_kinds[kind] += n
        if overlays is not None:
            write_overlay(overlays / f"{sample.group}_{image_id}.png", sample.image,
                          sample.truth, predicted)
    groups: dict[str, Counts] = {}
    for image_id, counts in per_image.items():
        group = split["images"][image_id]
        groups[group] = groups.get(group, Counts(0, 0, 0)) + counts
    return {"pooled": sum(per_image.values(), Counts(0, 0, 0)), "groups": groups,
            "images": per_image, "seconds": seconds, "unmatched": unmatched}


def write_overlay(path: Path, image: np.ndarray, truth: np.ndarray,
                  predicted: np.ndarray) -> None:
    """PNG of the image with hand-drawn outlines in green and predicted ones in magenta."""
    from skimage.io import imsave
    from skimage.segmentation import find_boundaries

    low, high = np.percentile(image, [0.5, 99.8])
    grey = np.clip((image.astype(np.float32) - low) / max(high - low, 1e-6), 0, 1)
    rgb = np.repeat((grey * 255).astype(np.uint8)[..., None], 3, axis=2)
    rgb[find_boundaries(truth, mode="inner")] = (0, 220, 0)
    rgb[find_boundaries(predicted, mode="inner")] = (255, 0, 255)
    path.parent.mkdir(parents=True, exist_ok=True)
    imsave(path, rgb, check_contrast=False)


def ci_subset(split: dict, per_group: int = 4) -> list[str]:
    """A fixed subset of the validation images: every ``k``-th image of each group, so that
    each group contributes about ``per_group`` images (all of a smaller group)."""
    chosen = []
    for group in split["validation_groups"]:
        members = [i for i, g in sorted(split["images"].items()) if g == group]
        step = max(1, len(members) // per_group)
        chosen += members[::step][:per_group]
    return chosen


def _print_unmatched(unmatched: dict[str, dict[str, int]]) -> None:
    total = {kind: sum(kinds[kind] for kinds in unmatched.values())
             for kind in next(iter(unmatched.values()))}
    for group, kinds in [*sorted(unmatched.items()), ("all groups", total)]:
        print(f"  unmatched, {group:32s} " + ", ".join(f"{k} {n}" for k, n in kinds.items()))


def _print_scores(title: str, scores: dict, split: dict) -> None:
    pooled = scores["pooled"]
    mean_image = np.mean([c.ap50 for c in scores["images"].values()])
    print(f"{title}: pooled AP50 {pooled.ap50:.3f} ({pooled.true_positives} matched of "
          f"{pooled.n_true} true, {pooled.n_predicted} found); mean per image "
          f"{mean_image:.3f}; {scores['seconds']:.1f} s segmenting")
    for group, counts in sorted(scores["groups"].items()):
        n_images = sum(1 for i in scores["images"] if split["images"][i] == group)
        print(f"  {group:32s} AP50 {counts.ap50:.3f}  ({n_images} images, {counts.n_true} "
              f"true, {counts.n_predicted} found)")


def main() -> None:
    """Print the validation scores (and write overlays)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", help="model(s) to score (repeat); "
                        "default: bundled")
    parser.add_argument("--diameter", action="append", choices=("truth", "otsu", "network"),
                        help="how the diameter is given (repeat); default: truth")
    parser.add_argument("--subset", action="store_true", help="the fixed CI subset only")
    parser.add_argument("--overlays", type=Path, default=None, help="folder for PNGs")
    parser.add_argument("--errors", action="store_true",
                        help="also say why the unmatched hand-drawn nuclei were not matched")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    split = load_split()
    ids = ci_subset(split) if args.subset else image_ids(split, "validation")
    for model in args.model or ["bundled"]:
        for diameter in args.diameter or ["truth"]:
            overlays = (None if args.overlays is None
                        else args.overlays / f"{Path(model).stem}_{diameter}")
            scores = score_images(ids, model, diameter, overlays, split)
            _print_scores(f"{model} [{diameter} diameter] on {len(ids)} validation images",
                          scores, split)
            if args.errors and scores["unmatched"]:
                _print_unmatched(scores["unmatched"])


if __name__ == "__main__":
    main()
