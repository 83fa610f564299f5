"""Split the DSB 2018 nuclei images into acquisition groups and hold whole groups out.

The 468 images of ``../shared/data/real/dsb2018_nuclei`` record no acquisition. Images are
grouped by shape, then by look: the 256 x 256 images (several labs) by k-means on nucleus size
and intensity statistics, the 520 x 696 images by magnification (nuclei under or over 36 px
across). Whole groups are held out for validation (about 17 % of the images) and the split
is written to ``benchmarks/dsb2018_split.json``, which training and tests read.

Usage::

    python scripts/split_dsb2018.py [--data ../shared/data/real/dsb2018_nuclei]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import tifffile

#: Run as a script, this file sees its own folder; ``benchmarks`` imports from the root.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.dsb_nuclei import DSB_DIR, SPLIT_FILE  # noqa: E402
from spmito.segment.training_data import median_diameter_px  # noqa: E402

#: k-means on the 256 x 256 images: clusters and seed.
N_CLUSTERS_256, KMEANS_SEED = 5, 1

#: 520 x 696 images with nuclei wider than this (px) form their own, high-magnification group.
LARGE_NUCLEI_PX = 36.0

#: Groups kept out of training; every other group trains.
VALIDATION_GROUPS = ("256x256-round-grey-background", "520x696-large-nuclei", "256x320",
                     "260x347")


def image_statistics(folder: Path, image_id: str) -> dict:
    """Shape, intensity percentiles and median nucleus diameter of one image."""
    image = tifffile.imread(folder / f"{image_id}.tif")
    masks = tifffile.imread(folder / f"{image_id}_masks.tif")
    low, high = np.percentile(image, [1, 99.9])
    return {"id": image_id, "shape": list(image.shape), "mean": float(image.mean()),
            "p1": float(low), "p99_9": float(high), "diameter_px": median_diameter_px(masks),
            "nuclei": int(len(np.unique(masks)) - 1)}


def _name_256_clusters(stats: list[dict], labels: np.ndarray) -> dict[int, str]:
    """Names for the k-means clusters of the 256 x 256 images, from how they look."""
    names = {}
    for cluster in np.unique(labels):
        members = [s for s, label in zip(stats, labels, strict=True) if label == cluster]
        diameter = np.median([s["diameter_px"] for s in members])
        mean = np.median([s["mean"] for s in members])
        background = np.median([s["p1"] for s in members])
        if background > 6 and diameter < 12:
            names[cluster] = "256x256-small-bright"
        elif background > 6:
            names[cluster] = "256x256-round-grey-background"
        elif diameter > 17:
            names[cluster] = "256x256-dense-large"
        elif mean < 7:
            names[cluster] = "256x256-elongated-dim"
        else:
            names[cluster] = "256x256-elongated-bright"
    if len(set(names.values())) != len(names):
        raise RuntimeError(f"k-means clusters could not be told apart: {names}")
    return names


def assign_groups(stats: list[dict]) -> dict[str, str]:
    """Acquisition group of every image id."""
    from scipy.cluster.vq import kmeans2

    groups = {}
    square = [s for s in stats if s["shape"] == [256, 256]]
    features = np.log1p([[s["diameter_px"], s["mean"], s["p99_9"], s["p1"]] for s in square])
    features = (features - features.mean(axis=0)) / features.std(axis=0)
    labels = kmeans2(features, N_CLUSTERS_256, minit="++", seed=KMEANS_SEED)[1]
    names = _name_256_clusters(square, labels)
    groups.update({s["id"]: names[label] for s, label in zip(square, labels, strict=True)})
    for s in stats:
        if s["shape"] == [520, 696]:
            size = "large" if s["diameter_px"] > LARGE_NUCLEI_PX else "small"
            groups[s["id"]] = f"520x696-{size}-nuclei"
        elif s["shape"] != [256, 256]:
            groups[s["id"]] = "x".join(map(str, s["shape"]))
    return groups


def main() -> None:
    """Write the split."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DSB_DIR)
    parser.add_argument("--out", type=Path, default=SPLIT_FILE)
    args = parser.parse_args()
    index = json.loads((args.data / "index.json").read_text())
    stats = [image_statistics(args.data, entry["id"]) for entry in index]
    groups = assign_groups(stats)
    summary = {}
    for name in sorted(set(groups.values())):
        members = [s for s in stats if groups[s["id"]] == name]
        summary[name] = {
            "images": len(members), "nuclei": sum(s["nuclei"] for s in members),
            "median_diameter_px": round(float(np.median([s["diameter_px"] for s in members])),
                                        1),
            "median_mean_intensity": round(float(np.median([s["mean"] for s in members])), 1),
            "split": "validation" if name in VALIDATION_GROUPS else "train"}
    split = {
        "source": "../shared/data/real/dsb2018_nuclei (BBBC038 / DSB 2018 stage 1, CC0)",
        "made_by": "scripts/split_dsb2018.py",
        "method": (f"groups by image shape; 256x256 images split by k-means (k="
                   f"{N_CLUSTERS_256}, seed {KMEANS_SEED}) on log median nucleus diameter, "
                   "mean, 99.9th and 1st intensity percentiles; 520x696 images split at "
                   f"{LARGE_NUCLEI_PX} px median nucleus diameter"),
        "validation_groups": list(VALIDATION_GROUPS), "groups": summary,
        "images": {image_id: groups[image_id] for image_id in sorted(groups)}}
    args.out.write_text(json.dumps(split, indent=1) + "\n")
    n_held = sum(v["images"] for v in summary.values() if v["split"] == "validation")
    for name, row in summary.items():
        print(f"{name:32s} {row}")
    print(f"validation: {n_held} of {len(stats)} images; wrote {args.out}")


if __name__ == "__main__":
    main()
