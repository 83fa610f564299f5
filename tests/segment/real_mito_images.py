"""The real mitochondria images of ``../shared/data/real`` with their voxel sizes and masks.

Shared by ``tests/segment/test_mito_real.py`` and ``benchmarks/mito_real_images.py``.

Voxel sizes: as recorded (zelda_bpae 0.524 µm; the MitoGraph yeast stacks 0.056 x 0.056 x
0.2 µm, MitoGraph's own example settings; Nellie's sample 0.0655 µm xy, 0.25 µm z), or, where
the files record none, estimated from the image:

- ``bpae_cell`` (BioImageAnalysisNotebooks): a BPAE cell about 1 000 pixels long (BPAE cells
  are 60–100 µm) whose thinnest tubules are 4–5 pixels across at half maximum (0.3–0.4 µm
  once the PSF is added): about 0.08 µm per pixel.
- ``mitohacker_cells``: single cells about 330 pixels across (20–35 µm for the fibroblasts
  Mito-Hacker was made for) with puncta 5–8 pixels across (0.5–0.8 µm): about 0.1 µm.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile


@dataclass(frozen=True)
class RealImage:
    """A mitochondria channel, its voxel size (µm) and where the cells are (None: anywhere)."""

    name: str
    image: np.ndarray
    voxel_size_um: tuple[float, ...]
    mask: np.ndarray | None = None


def zelda_bpae(root: Path) -> RealImage:
    image = tifffile.imread(root / "zelda_bpae" / "3ch_DNA_Actin_Mitochondria-MitoTracker.tif")
    return RealImage("zelda_bpae", image, (0.524, 0.524))


def bpae_cell(root: Path) -> RealImage:
    return RealImage("bpae_cell", tifffile.imread(root / "bpae_cell" / "BPAE_mito.tif"),
                     (0.08, 0.08))


def mitohacker_cells(root: Path) -> list[RealImage]:
    """The nine cut-out cells: the YFP (green) channel, the non-zero footprint as the mask."""
    cells = []
    for path in sorted((root / "mitohacker_cells").glob("*.tif")):
        rgb = tifffile.imread(path)
        cells.append(RealImage(f"mitohacker_{path.stem}", rgb[..., 1], (0.1, 0.1),
                               mask=rgb.any(axis=-1)))
    return cells


def mitograph_yeast(root: Path) -> list[RealImage]:
    folder = root / "mitograph_yeast"
    return [RealImage(f"mitograph_{i}", tifffile.imread(folder / f"BuddingYeastGlucose0{i}.tif"),
                      (0.2, 0.056, 0.056)) for i in range(1, 6)]


def nellie_yeast(root: Path) -> RealImage:
    stack = tifffile.imread(root / "nellie_yeast" / "yeast_3d_mitochondria_T0-4.ome.tif")
    return RealImage("nellie_yeast_t0", stack[0], (0.25, 0.0655, 0.0655))


def all_images(root: Path) -> list[RealImage]:
    """Every real mitochondria image, in a fixed order."""
    return [zelda_bpae(root), bpae_cell(root), *mitohacker_cells(root),
            *mitograph_yeast(root), nellie_yeast(root)]


def binned(values: np.ndarray, factor: int) -> np.ndarray:
    """Sum of ``factor`` x ``factor`` pixels (2-D, float32), the edges cropped."""
    rows, cols = (n // factor * factor for n in values.shape)
    crop = values[:rows, :cols].astype(np.float32)
    return crop.reshape(rows // factor, factor, cols // factor, factor).sum(axis=(1, 3))


def binned_image(image: RealImage, factor: int) -> RealImage:
    """A 2-D image binned ``factor`` x ``factor``, its pixel size scaled to match.

    A binned pixel is in the mask when most of its pixels were.
    """
    mask = None if image.mask is None else binned(image.mask, factor) > factor * factor / 2
    return RealImage(f"{image.name}_bin{factor}", binned(image.image, factor),
                     tuple(s * factor for s in image.voxel_size_um), mask)
