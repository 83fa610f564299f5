"""Mitochondria segmentation on the real images: truth-free checks and overlay PNGs.

For every image of ``tests/segment/real_mito_images.py`` (``../shared/data/real``): the object
count, the coverage of the bright signal and the precision
(:mod:`spmito.measure.objects.mito_checks`), the
plain method's count, the run time, and an overlay PNG (the channel beside itself with object
outlines in red; 3-D stacks as maximum projections, outlines of the projected objects) written to
``test-artifacts/mito_real/<name>.png``. Also the binning check: each 2-D image binned 2x
and 3x (sum of k x k pixels, pixel size x k): total mitochondrial area per cell against the
unbinned one.

Usage: ``python benchmarks/mito_real_images.py [--data ../shared/data/real] [--out DIR]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from spmito.measure.objects.mito_checks import check_segmentation  # noqa: E402
from spmito.segment.mito import MitoParams, segment_mitochondria  # noqa: E402
from tests.segment.real_mito_images import (  # noqa: E402
    RealImage,
    all_images,
    binned_image,
)


def overlay_rgb(image: np.ndarray, labels: np.ndarray, mask: np.ndarray | None
                ) -> np.ndarray:
    """The channel (1–99.8 percentile stretch, grey) beside itself with object outlines in red.

    Cropped to the mask's bounding box, stretched on the mask's pixels; 3-D: maximum
    projections of the channel and of the labels.
    """
    from skimage.segmentation import find_boundaries

    if image.ndim == 3:
        image, labels = image.max(axis=0), labels.max(axis=0)
    if mask is not None:
        box = ndi.find_objects(mask.astype(np.int8))[0]
        image, labels, mask = image[box], labels[box], mask[box]
    low, high = np.percentile(image if mask is None else image[mask], [1, 99.8])
    grey = np.clip((image.astype(np.float32) - low) / max(high - low, 1e-6), 0, 1)
    plain = np.stack([grey] * 3, axis=-1)
    outlined = plain.copy()
    outlined[find_boundaries(labels, mode="inner")] = (1.0, 0.0, 0.0)
    gap = np.ones((grey.shape[0], 4, 3), np.float32)
    return (np.concatenate([plain, gap, outlined], axis=1) * 255).astype(np.uint8)


def total_area_um2(image: RealImage) -> float:
    """Total area (µm²) of the objects found in ``image``."""
    labels = segment_mitochondria(image.image, image.spacing_um, MitoParams(), mask=image.mask)
    return float(np.count_nonzero(labels) * np.prod(image.spacing_um))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "real")
    parser.add_argument("--out", type=Path, default=ROOT / "test-artifacts" / "mito_real")
    args = parser.parse_args(argv)
    from skimage.io import imsave

    args.out.mkdir(parents=True, exist_ok=True)
    print("| image | voxel (µm) | objects | plain method | coverage | coverage within "
          "resolution | precision | time (s) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    images = all_images(args.data)
    for image in images:
        start = time.perf_counter()
        labels = segment_mitochondria(image.image, image.spacing_um, MitoParams(),
                                      mask=image.mask)
        seconds = time.perf_counter() - start
        checks = check_segmentation(labels, image.image, image.spacing_um, image.mask)
        imsave(args.out / f"{image.name}.png", overlay_rgb(image.image, labels, image.mask),
               check_contrast=False)
        print(f"| {image.name} | {image.spacing_um} | {checks.n_objects} | {checks.n_plain} | "
              f"{checks.coverage:.2f} | {checks.coverage_within_resolution:.2f} | "
              f"{checks.precision:.2f} | {seconds:.2f} |")
    print("\n| image | area 1x (µm²) | 2x / 1x | 3x / 1x |")
    print("|---|---:|---:|---:|")
    for image in images:
        if image.image.ndim != 2:
            continue
        areas = [total_area_um2(image if factor == 1 else binned_image(image, factor))
                 for factor in (1, 2, 3)]
        print(f"| {image.name} | {areas[0]:.1f} | {areas[1] / areas[0]:.2f} | "
              f"{areas[2] / areas[0]:.2f} |")
    print(f"\noverlays in {args.out}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
