"""Mitochondria segmentation on the real images: truth-free checks and overlay PNGs.

For every image of ``tests/segment/real_mito_images.py`` (``../shared/data/real``): the object
count, the coverage of the bright signal and the precision
(:mod:`spmito.measure.objects.mito_checks`), the plain method's count, the run time, and an
overlay PNG (the channel beside itself with object outlines in red; 3-D stacks as maximum
projections, outlines of the projected objects) written to
``test-artifacts/mito_real/<name>.png``. Also the binning check: each 2-D image binned 2x and 3x
(sum of k x k pixels, pixel size x k): total mitochondrial area per cell against the unbinned
one.

``--edge-sweep`` measures instead what a lower object edge would give (docs/mito_pixel_sizes.md,
"Coverage against size accuracy"): for ``peak_fraction`` 0.5, 0.4, 0.3 and 0.25 (and in 3-D
without the axial deconvolution), the coverage of the bright signal by signal and by pixels,
also of its cores only (the bright pixels at least half their local peak: the "clear margin"
scaled with the structure), the precision, and the median total area per cell over the truth
on synthetic fields (tuning seed 7, two fields per condition); then, for the 3-D stacks, the
extent along z of the objects and of the bright signal over them.

Usage: ``python benchmarks/mito_real_images.py [--data ../shared/data/real] [--out DIR]
[--edge-sweep]``.
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

from spmito.measure.objects.mito_checks import (  # noqa: E402
    background_level,
    check_segmentation,
    plain_tophat,
)
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
    labels = segment_mitochondria(image.image, image.voxel_size_um, MitoParams(), mask=image.mask)
    return float(np.count_nonzero(labels) * np.prod(image.voxel_size_um))


#: Half-widths (µm; z, y, x) of the neighbourhood of a bright pixel's local peak.
CORE_PEAK_HALFWIDTH_UM = (1.0, 0.5, 0.5)

PEAK_FRACTIONS = (0.5, 0.4, 0.3, 0.25)


def core_shares(labels: np.ndarray, image: RealImage) -> dict[str, float]:
    """Shares of the cores of the bright signal inside the objects, by signal and by pixels.

    The cores are the bright pixels (top-hat above 5 robust sigmas, as in
    :func:`check_segmentation`) that are also at least half the brightest top-hat value
    nearby; the shares of all the bright signal are :func:`check_segmentation`'s.
    """
    where = np.ones(image.image.shape, bool) if image.mask is None else image.mask
    tophat = plain_tophat(image.image, image.voxel_size_um)
    center, sigma = background_level(tophat, where)
    signal = np.where(where, tophat - center, 0.0)
    halfwidth = np.array(CORE_PEAK_HALFWIDTH_UM[-signal.ndim:])
    reach = np.maximum(np.rint(halfwidth / np.asarray(image.voxel_size_um)), 1).astype(int)
    core = ((signal > 5 * sigma) & where
            & (signal >= 0.5 * ndi.maximum_filter(signal, size=tuple(2 * reach + 1))))
    inside = core & (labels > 0)
    return {"cores by signal": float(signal[inside].sum() / max(signal[core].sum(), 1e-12)),
            "cores by pixels": float(np.count_nonzero(inside) / max(np.count_nonzero(core), 1))}


def synthetic_area_ratios(params: MitoParams) -> list[float]:
    """Median total area per cell over the truth at 0.1, 0.2, 0.3 µm (SNR 8), 0.1 µm (SNR 4)."""
    import pandas as pd

    from benchmarks.mito_eval import per_cell_errors, synthetic_fields

    ratios = []
    for pixel_um, snr in ((0.1, 8.0), (0.2, 8.0), (0.3, 8.0), (0.1, 4.0)):
        fields = synthetic_fields(2, 2, 7, pixel_size_um=pixel_um, snr=snr,
                                  size_px=int(round(51.2 / pixel_um)))
        errors = pd.concat([per_cell_errors(f, params) for f in fields], ignore_index=True)
        ratios.append(float((errors["size"] / errors["size_true"]).median()))
    return ratios


def edge_sweep(images: list[RealImage]) -> None:
    """Coverage, precision and synthetic size accuracy for lower object edges."""
    print("| edge (fraction of the local maximum) | images | coverage by signal | by pixels | "
          "cores by signal | cores by pixels | precision | synthetic area 0.1 / 0.2 / 0.3 µm "
          "(SNR 8), 0.1 µm (SNR 4) |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    variants = [(f"{f}", MitoParams(peak_fraction=f), (2, 3)) for f in PEAK_FRACTIONS]
    variants += [(f"{f}, no axial deconvolution",
                  MitoParams(peak_fraction=f, deconvolution_iterations=0), (3,))
                 for f in (0.5, 0.25)]
    for label, params, dims in variants:
        areas = synthetic_area_ratios(params) if dims == (2, 3) else None
        for ndim in dims:
            rows = []
            for image in (i for i in images if i.image.ndim == ndim):
                labels = segment_mitochondria(image.image, image.voxel_size_um, params,
                                              mask=image.mask)
                checks = check_segmentation(labels, image.image, image.voxel_size_um, image.mask)
                cores = core_shares(labels, image)
                rows.append([checks.coverage, checks.coverage_pixels, cores["cores by signal"],
                             cores["cores by pixels"], checks.precision])
            low, high = np.min(rows, axis=0), np.max(rows, axis=0)
            cells = " | ".join(f"{a:.2f}–{b:.2f}" for a, b in zip(low[:4], high[:4],
                                                                   strict=True))
            area = ("—" if areas is None or ndim == 3
                    else " / ".join(f"{a:.2f}" for a in areas))
            print(f"| {label} | {ndim}-D ({len(rows)}) | {cells} | ≥ {low[4]:.2f} | {area} |",
                  flush=True)


def axial_extents(images: list[RealImage]) -> None:
    """3-D: mean extent along z (µm) of the objects, with and without the axial
    deconvolution, and of the bright signal in the (y, x) columns of the latter."""
    print("\n| stack | objects, deconvolved (µm) | objects, not deconvolved (µm) | "
          "bright signal over the objects (µm) |")
    print("|---|---:|---:|---:|")
    for image in (i for i in images if i.image.ndim == 3):
        tophat = plain_tophat(image.image, image.voxel_size_um)
        center, sigma = background_level(tophat, np.ones(tophat.shape, bool))
        bright = tophat > center + 5 * sigma
        extents = []
        for iterations in (MitoParams().deconvolution_iterations, 0):
            objects = segment_mitochondria(image.image, image.voxel_size_um,
                                           MitoParams(deconvolution_iterations=iterations)) > 0
            columns = objects.any(axis=0)
            extents.append(objects.sum(axis=0)[columns].mean() * image.voxel_size_um[0])
        extents.append(bright.sum(axis=0)[columns].mean() * image.voxel_size_um[0])
        print(f"| {image.name} | " + " | ".join(f"{e:.2f}" for e in extents) + " |", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "real")
    parser.add_argument("--out", type=Path, default=ROOT / "test-artifacts" / "mito_real")
    parser.add_argument("--edge-sweep", action="store_true",
                        help="coverage and size accuracy for lower object edges instead")
    args = parser.parse_args(argv)
    from skimage.io import imsave

    if args.edge_sweep:
        images = all_images(args.data)
        edge_sweep(images)
        axial_extents(images)
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    print("| image | voxel (µm) | objects | plain method | coverage | coverage by pixels | "
          "coverage within resolution | precision | time (s) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    images = all_images(args.data)
    for image in images:
        start = time.perf_counter()
        labels = segment_mitochondria(image.image, image.voxel_size_um, MitoParams(),
                                      mask=image.mask)
        seconds = time.perf_counter() - start
        checks = check_segmentation(labels, image.image, image.voxel_size_um, image.mask)
        imsave(args.out / f"{image.name}.png", overlay_rgb(image.image, labels, image.mask),
               check_contrast=False)
        print(f"| {image.name} | {image.voxel_size_um} | {checks.n_objects} | {checks.n_plain} | "
              f"{checks.coverage:.2f} | {checks.coverage_pixels:.2f} | "
              f"{checks.coverage_within_resolution:.2f} | "
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
