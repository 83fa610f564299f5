"""Accuracy of cell and nucleus segmentation against ground truth.

Prints, for the chosen models (default: the bundled ones):

- 2-D: AP@0.5 of cells and nuclei on held-out synthetic fields (default parameters, seeds
  never used in training), and how often a found cell gets the right nucleus;
- 3-D: AP@0.5 of cells on synthetic stacks, stitched and with 3-D flows;
- real: AP@0.5 of nuclei on the BBBC038 image of ../shared/data/real/stardist_nuclei
  (no voxel size recorded: the diameter in pixels is estimated from an Otsu mask);
- a classical nucleus baseline (log-Hoechst Otsu + distance watershed) for comparison.

Usage::

    python benchmarks/eval_segmentation.py [--fields-2d 10] [--fields-3d 3]
        [--cell-model bundled] [--nucleus-model bundled]

The tests in tests/segment call the same functions on fewer fields.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from spmito.imaging.synthetic import SynthParams, make_field
from spmito.segment.cells import segment_cells
from spmito.segment.evaluation import average_precision_50, nucleus_matching_score
from spmito.segment.nuclei import segment_nuclei

#: Seeds of the evaluation fields; training fields use SeedSequence([seed, i]) streams,
#: which no plain integer seed reproduces.
SEEDS_2D = tuple(range(9001, 9011))
SEEDS_3D = tuple(range(9101, 9104))

#: Diameters a user would give for the synthetic myeloma cells (10–15 µm) and nuclei.
CELL_DIAMETER_UM = 12.0
NUCLEUS_DIAMETER_UM = 8.0

REAL_NUCLEI = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real" \
    / "stardist_nuclei"


def score_field_2d(seed: int, cell_model: str = "bundled", nucleus_model: str = "bundled"
                   ) -> dict:
    """Cells AP, nuclei AP and nucleus matching on one default 2-D synthetic field."""
    field = make_field(SynthParams.for_ndim(2), seed)
    voxel_size_um = field.params.voxel_size_um
    cells = segment_cells(field.channel("cell"), field.channel("hoechst"), voxel_size_um,
                          CELL_DIAMETER_UM, model=cell_model).labels
    nuclei = segment_nuclei(field.channel("hoechst"), voxel_size_um, NUCLEUS_DIAMETER_UM,
                            model=nucleus_model).labels
    matching = nucleus_matching_score(field.cells, field.nuclei, cells, nuclei)
    return {"seed": seed, "n_cells": int(field.cells.max()),
            "ap50_cells": average_precision_50(field.cells, cells),
            "ap50_nuclei": average_precision_50(field.nuclei, nuclei),
            "ap50_nuclei_classical": average_precision_50(
                field.nuclei, classical_nuclei(field.channel("hoechst"), voxel_size_um,
                                               NUCLEUS_DIAMETER_UM)),
            "found": matching.n_found, "right": matching.n_right}


def score_field_3d(seed: int, mode_3d: str = "stitch", cell_model: str = "bundled") -> dict:
    """Cells AP of one default 3-D synthetic stack."""
    field = make_field(SynthParams.for_ndim(3), seed)
    started = time.perf_counter()
    cells = segment_cells(field.channel("cell"), field.channel("hoechst"),
                          field.params.voxel_size_um, CELL_DIAMETER_UM, model=cell_model,
                          mode_3d=mode_3d).labels
    return {"seed": seed, "mode_3d": mode_3d, "n_cells": int(field.cells.max()),
            "ap50_cells": average_precision_50(field.cells, cells),
            "seconds": time.perf_counter() - started}


def otsu_diameter_px(image: np.ndarray) -> float:
    """Median equivalent diameter (pixels) of the Otsu foreground components: a first
    guess of the object size in an image that records no pixel size."""
    from spmito.segment.nuclei import estimate_nucleus_diameter_um

    return estimate_nucleus_diameter_um(image, (1.0, 1.0))


def score_real_nuclei(folder: Path = REAL_NUCLEI, nucleus_model: str = "bundled") -> dict:
    """Nucleus AP on the BBBC038 image (2-D, 125 hand-labelled nuclei)."""
    import tifffile

    image = tifffile.imread(folder / "img2d.tif")
    truth = tifffile.imread(folder / "mask2d.tif")
    diameter_px = otsu_diameter_px(image)
    nuclei = segment_nuclei(image, (1.0, 1.0), diameter_px, model=nucleus_model).labels
    return {"diameter_px": diameter_px, "n_true": int(len(np.unique(truth)) - 1),
            "n_found": int(nuclei.max()), "ap50_nuclei": average_precision_50(truth, nuclei),
            "ap50_classical": average_precision_50(truth, classical_nuclei(
                image, (1.0, 1.0), diameter_px))}


def classical_nuclei(hoechst: np.ndarray, voxel_size_um: tuple[float, ...],
                     diameter_um: float) -> np.ndarray:
    """Baseline: Otsu on log Hoechst (dim SP nuclei stay above it), split by a watershed
    on the distance transform with one seed per ~nucleus."""
    from scipy import ndimage as ndi
    from skimage import feature, filters, segmentation

    sigma_px = [0.05 * diameter_um / s for s in voxel_size_um]
    smooth = filters.gaussian(np.log1p(hoechst.astype(np.float32)), sigma_px)
    mask = smooth > filters.threshold_otsu(smooth)
    distance = ndi.distance_transform_edt(mask, sampling=voxel_size_um)
    peaks = feature.peak_local_max(distance, min_distance=max(1, round(
        0.3 * diameter_um / max(voxel_size_um))), labels=ndi.label(mask)[0], exclude_border=False)
    markers = np.zeros(mask.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    return segmentation.watershed(-distance, markers, mask=mask)


def _mean(rows: list[dict], key: str) -> float:
    return float(np.mean([row[key] for row in rows]))


def main() -> None:
    """Print the full evaluation."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fields-2d", type=int, default=len(SEEDS_2D))
    parser.add_argument("--fields-3d", type=int, default=len(SEEDS_3D))
    parser.add_argument("--cell-model", default="bundled")
    parser.add_argument("--nucleus-model", default="bundled")
    args = parser.parse_args()

    rows = [score_field_2d(seed, args.cell_model, args.nucleus_model)
            for seed in SEEDS_2D[:args.fields_2d]]
    print("2-D synthetic fields (512 x 512, 0.1 µm, default parameters)")
    for row in rows:
        print(f"  seed {row['seed']}: {row['n_cells']:3d} cells  AP50 cells "
              f"{row['ap50_cells']:.3f}  nuclei {row['ap50_nuclei']:.3f} (classical "
              f"{row['ap50_nuclei_classical']:.3f})  right nucleus {row['right']}/"
              f"{row['found']} found cells")
    found, right = sum(r["found"] for r in rows), sum(r["right"] for r in rows)
    total = sum(r["n_cells"] for r in rows)
    print(f"  mean AP50 cells {_mean(rows, 'ap50_cells'):.3f}, nuclei "
          f"{_mean(rows, 'ap50_nuclei'):.3f} (classical "
          f"{_mean(rows, 'ap50_nuclei_classical'):.3f}); right nucleus for "
          f"{100 * right / found:.1f} % of found cells ({right}/{found}), "
          f"{100 * right / total:.1f} % of all true cells")

    print("3-D synthetic stacks (48 x 320 x 320, 0.3 x 0.12 x 0.12 µm)")
    for mode in ("stitch", "do_3d"):
        rows3 = [score_field_3d(seed, mode, args.cell_model)
                 for seed in SEEDS_3D[:args.fields_3d]]
        per_field = ", ".join(f"{r['ap50_cells']:.3f}" for r in rows3)
        print(f"  {mode:6s}: mean AP50 cells {_mean(rows3, 'ap50_cells'):.3f} "
              f"({per_field}); {_mean(rows3, 'seconds'):.1f} s per stack")

    if REAL_NUCLEI.is_dir():
        real = score_real_nuclei(nucleus_model=args.nucleus_model)
        print(f"real nuclei (BBBC038, {real['n_true']} hand labels): AP50 "
              f"{real['ap50_nuclei']:.3f} with {real['n_found']} nuclei found at an "
              f"Otsu-estimated diameter of {real['diameter_px']:.1f} px (classical "
              f"{real['ap50_classical']:.3f})")
    else:
        print(f"real nuclei: {REAL_NUCLEI} is absent, skipped")


if __name__ == "__main__":
    main()
