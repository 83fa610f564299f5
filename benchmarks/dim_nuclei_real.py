"""Side-population nuclei on real images: how many 3-10x dimmer nuclei the nucleus step finds.

Side-population cells pump Hoechst out, so their nuclei are 3-10x dimmer than their
neighbours'. A nucleus lost this way is the worst error of an SP assay: it lowers the SP
fraction. No public image has such nuclei labelled, so they are made from real ones: in
each image a fifth of the nuclei, and their blur halo, are scaled towards the level right
around them (:func:`spmito.segment.training_data.with_dimmed_nuclei`), three draws per
factor. A dimmed nucleus counts as found when one found nucleus overlaps it at IoU > 0.5
(:func:`spmito.segment.evaluation.iou_matches`); "touching" ones lie within 3 pixels of an
undimmed nucleus.

Images (neither is in any training set): ``stardist_nuclei/img2d.tif`` with its 125
hand-drawn nuclei (a dense field; pixels taken as 1 µm, diameter 22 px), and the BBBC022
U2OS crop with the nucleus model's own 26 nuclei of the undimmed image as the reference.

Usage: ``python benchmarks/dim_nuclei_real.py [--model PATH] [--factors 3 5 10]``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.eval_real_cells import REAL, bbbc022_field, field_nuclei  # noqa: E402
from spmito.segment.evaluation import iou_matches  # noqa: E402
from spmito.segment.nuclei import segment_nuclei  # noqa: E402
from spmito.segment.training_data import with_dimmed_nuclei  # noqa: E402

#: Share of the nuclei dimmed per draw, and the draws per factor.
SHARE = 0.2
DRAWS = 3


def real_fields(model: str) -> dict[str, tuple[np.ndarray, np.ndarray, tuple, float]]:
    """Name -> (Hoechst image, reference nuclei, voxel size (µm), nucleus diameter (µm))."""
    import tifffile
    from skimage.segmentation import relabel_sequential

    folder = REAL / "stardist_nuclei"
    img2d = tifffile.imread(folder / "img2d.tif").astype(np.float32)
    truth = relabel_sequential(tifffile.imread(folder / "mask2d.tif"))[0]
    field = bbbc022_field()
    return {"img2d": (img2d, truth, (1.0, 1.0), 22.0),
            "bbbc022": (field.hoechst.astype(np.float32), field_nuclei(field, nucleus_model=model),
                        field.voxel_size_um, field.nucleus_diameter_um)}


def dimmed_recovery(image: np.ndarray, reference: np.ndarray, voxel_size_um, diameter_um: float,
                    factor: float, seed: int, model: str) -> np.ndarray:
    """(dimmed, found, touching, touching found, others found, others) for one draw."""
    rng = np.random.default_rng([seed, int(factor * 10)])
    before = set(np.unique(reference))
    dimmed_image = with_dimmed_nuclei(image, reference, rng, SHARE, (factor, factor))
    changed = np.unique(reference[dimmed_image != image])
    dimmed_ids = [i for i in changed if i > 0]
    found = segment_nuclei(dimmed_image, voxel_size_um, diameter_um, model=model,
                           device="cpu").labels
    others = sorted(before - set(dimmed_ids) - {0})
    near_others = ndi.binary_dilation(np.isin(reference, others), iterations=3)
    touching = set(np.unique(reference[near_others]))
    matched = iou_matches(reference, found)
    counts = np.zeros(6, int)
    for nucleus_id in dimmed_ids:
        ok = nucleus_id in matched
        counts += [1, ok, nucleus_id in touching, ok and nucleus_id in touching, 0, 0]
    counts[4] = sum(i in matched for i in others)
    counts[5] = len(others)
    return counts


def main(argv: list[str] | None = None) -> int:
    """Print the share of dimmed nuclei found per image and factor."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="bundled")
    parser.add_argument("--factors", type=float, nargs="+", default=[3.0, 5.0, 10.0])
    args = parser.parse_args(argv)
    print(f"model {args.model}; {SHARE:.0%} of the nuclei dimmed, {DRAWS} draws per factor")
    print("| image | dimmed by | dimmed found | touching found | the others found |")
    print("|---|---:|---:|---:|---:|")
    for name, (image, reference, voxel, diameter) in real_fields(args.model).items():
        for factor in args.factors:
            total = sum(dimmed_recovery(image, reference, voxel, diameter, factor, seed,
                                        args.model) for seed in range(DRAWS))
            print(f"| {name} | {factor:g}x | {total[1]}/{total[0]} ({total[1] / total[0]:.0%}) "
                  f"| {total[3]}/{total[2]} | {total[4]}/{total[5]} "
                  f"({total[4] / total[5]:.0%}) |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
