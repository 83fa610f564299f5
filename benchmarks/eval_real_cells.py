"""Cells on real multi-channel fields: do cells and nuclei agree, and how do they look?

Real fields with a Hoechst channel and a cell stain but no hand-drawn cells
(``../shared/data/real/``). For each field and each cell path it prints the two QC shares of
:func:`spmito.segment.nuclei.nucleus_cell_agreement` (nuclei inside a cell, cells with exactly one
nucleus, over all cells and over the whole ones), the cells without a nucleus that touch the
image edge (``edge 0``: cells cut by the field, whose nucleus may lie outside it; the QC
table's share leaves them out), the share of the stained area that the cells
cover, and the seconds of the cell step, and writes an overlay PNG (cell outlines in yellow,
nucleus outlines in cyan over the stain in red and Hoechst in blue) into ``--out`` to look
at.

Cell paths: ``cellpose`` (the cell model on the stain plus Hoechst), ``cellpose+run`` (what
``spmito run --cell-method cellpose`` makes of it: a model cell holding several nuclei divided
among them, and a cell grown for every nucleus the model left out), ``nuclei``
(each nucleus grown over the stain, :func:`spmito.segment.propagate.cells_from_nuclei`) and
``nuclei-nostain`` (grown over the mitochondria channel plus the Hoechst haze, where a field
has one). Nuclei come
from the bundled nucleus model, or with ``--classical-nuclei`` from the Otsu + watershed
baseline of ``benchmarks/eval_segmentation.py``.

``bbbc022_right`` is the right half of the BBBC022 crop: the cell model's pseudo-labels
(``scripts/train_cell_model.py``) come from the left half only, so this half is held out.

Neither field records its pixel size; the values used are stated in :data:`REAL_CELL_FIELDS`.

Usage::

    python benchmarks/eval_real_cells.py [--out test-artifacts/real_cells]
        [--cell-model bundled] [--classical-nuclei]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

#: Run as a script, this file sees its own folder; ``benchmarks`` imports from the root.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.eval_segmentation import classical_nuclei  # noqa: E402
from spmito.imaging.params import RunParams  # noqa: E402
from spmito.imaging.pipeline import complete_model_cells  # noqa: E402
from spmito.segment.cells import segment_cells  # noqa: E402
from spmito.segment.nuclei import (  # noqa: E402
    join_micronuclei,
    nucleus_cell_agreement,
    segment_nuclei,
)
from spmito.segment.propagate import (  # noqa: E402
    cell_signal_without_stain,
    cells_from_nuclei,
    foreground_threshold,
    join_micronuclei_in_grown_cells,
    normalise,
)

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"


@dataclass(frozen=True)
class RealCellField:
    """One real field, its channels and the sizes a user would give for it."""

    name: str
    hoechst: np.ndarray
    cell: np.ndarray
    mito: np.ndarray | None
    voxel_size_um: tuple[float, float]
    nucleus_diameter_um: float
    cell_diameter_um: float
    max_distance_um: float


def bbbc022_field(real: Path = REAL) -> RealCellField:
    """BBBC022 U2OS crop: Hoechst (w1) and concanavalin A (w2, ER, fills the cytoplasm).

    The pixel size is not recorded. BBBC022 was imaged on an ImageXpress Micro with a 20x
    objective into 696 x 520 images (Gustafsdottir et al. 2013), about 0.656 µm per pixel;
    U2OS nuclei are then 14–20 µm and cells 30–60 µm across, as expected for the line.
    """
    import tifffile

    stack = tifffile.imread(real / "bbbc022_u2os" / "IXMtest_A02_s9_crop.tif")
    return RealCellField("bbbc022_u2os", stack[0], stack[1], None, (0.656, 0.656),
                         nucleus_diameter_um=16.0, cell_diameter_um=40.0,
                         max_distance_um=30.0)


def bpae_field(real: Path = REAL) -> RealCellField:
    """BPAE cell: nuclei, F-actin (phalloidin, outlines the cell) and mitochondria.

    No pixel size is recorded; 0.08 µm is assumed, which makes the main nucleus (195 px
    equivalent diameter) 15.6 µm and the cell about 85 µm long, in the range of spread
    bovine endothelial cells.
    """
    import tifffile

    folder = real / "bpae_cell"
    hoechst, actin, mito = (tifffile.imread(folder / f"BPAE_{c}.tif")
                            for c in ("nuclei", "actin", "mito"))
    return RealCellField("bpae_cell", hoechst, actin, mito, (0.08, 0.08),
                         nucleus_diameter_um=15.0, cell_diameter_um=60.0,
                         max_distance_um=60.0)


#: First column of the right half of the BBBC022 crop, the half the cell model's pseudo-labels
#: leave out (``scripts/train_cell_model.py``, ``PSEUDO_LABEL_REGIONS``).
BBBC022_HELD_OUT_FIRST_COLUMN = 347


def bbbc022_held_out_half(real: Path = REAL) -> RealCellField:
    """The right half of the BBBC022 crop, which no cell model was trained on."""
    field = bbbc022_field(real)
    keep = np.s_[:, BBBC022_HELD_OUT_FIRST_COLUMN:]
    return replace(field, name="bbbc022_right", hoechst=field.hoechst[keep],
                   cell=field.cell[keep])


REAL_CELL_FIELDS = {"bbbc022_u2os": bbbc022_field, "bbbc022_right": bbbc022_held_out_half,
                    "bpae_cell": bpae_field}


def field_nuclei(field: RealCellField, classical: bool = False,
                 nucleus_model: str = "bundled") -> np.ndarray:
    """Nuclei of a real field: the nucleus model, or the classical baseline."""
    if classical:
        return classical_nuclei(field.hoechst, field.voxel_size_um, field.nucleus_diameter_um)
    return segment_nuclei(field.hoechst, field.voxel_size_um, field.nucleus_diameter_um,
                          model=nucleus_model, device="cpu").labels


#: Cell paths: the cell model alone; the cell model's cells made to hold one nucleus each
#: (what ``spmito run --cell-method cellpose`` does); cells grown from the nuclei over the
#: stain; and without a stain (fields with a mitochondria channel only).
CELL_PATHS = ("cellpose", "cellpose+run", "nuclei", "nuclei-nostain")


def field_cells(field: RealCellField, nuclei: np.ndarray, method: str,
                cell_model: str = "bundled") -> tuple[np.ndarray, np.ndarray]:
    """Cells of a real field by one cell path (:data:`CELL_PATHS`), and its nuclei.

    The nuclei are as the path leaves them: the cell model alone takes them as found; the
    other paths join micronuclei first, as ``spmito run`` does
    (:func:`spmito.segment.nuclei.join_micronuclei`, with the model's cells when there are).
    """
    if method in ("cellpose", "cellpose+run"):
        cells = segment_cells(field.cell, field.hoechst, field.voxel_size_um,
                              field.cell_diameter_um, model=cell_model, device="cpu").labels
        if method == "cellpose":
            return cells, nuclei
        nuclei = join_micronuclei(nuclei, field.voxel_size_um, cells=cells)[0]
        images = {"cell": field.cell, "mito": field.mito, "hoechst": field.hoechst}
        params = RunParams(cell_max_distance_um=field.max_distance_um)
        return complete_model_cells(cells, nuclei, images, params, field.voxel_size_um,
                                    {})[0], nuclei
    if method == "nuclei":
        signal = field.cell
    elif method == "nuclei-nostain":
        signal = cell_signal_without_stain(field.mito, field.hoechst, field.voxel_size_um)
    else:
        raise ValueError(f"unknown cell path {method!r}")
    nuclei = join_micronuclei_in_grown_cells(nuclei, signal, field.voxel_size_um,
                                             field.max_distance_um)[0]
    return cells_from_nuclei(nuclei, signal, field.voxel_size_um, field.max_distance_um), nuclei


def stain_coverage(field: RealCellField, cells: np.ndarray) -> float:
    """Share of the stained area (smoothed stain above its log-Otsu level) inside a cell."""
    from scipy import ndimage as ndi

    signal = ndi.gaussian_filter(normalise(field.cell.astype(np.float32)),
                                 1.0 / field.voxel_size_um[0])
    stained = signal > foreground_threshold(signal)
    return float((cells[stained] > 0).mean())


def score_real_cells(field: RealCellField, method: str, nuclei: np.ndarray,
                     cell_model: str = "bundled") -> tuple[dict, np.ndarray, np.ndarray]:
    """QC shares, stain coverage and seconds of one cell path on one field, with the cells
    and the nuclei as the path leaves them."""
    started = time.perf_counter()
    cells, nuclei = field_cells(field, nuclei, method, cell_model)
    seconds = time.perf_counter() - started
    scores = nucleus_cell_agreement(cells, nuclei)
    scores.update(stain_coverage=stain_coverage(field, cells), seconds=seconds)
    return scores, cells, nuclei


def save_overlay(path: Path, field: RealCellField, cells: np.ndarray,
                 nuclei: np.ndarray) -> None:
    """Stain (red) and Hoechst (blue) with cell (yellow) and nucleus (cyan) outlines."""
    from skimage import io
    from skimage.segmentation import find_boundaries

    def scaled(image):
        return np.clip(normalise(np.asarray(image, np.float32)), 0.0, 1.0)

    rgb = np.stack([scaled(field.cell), np.zeros(cells.shape, np.float32),
                    scaled(field.hoechst)], axis=-1)
    rgb[find_boundaries(nuclei, mode="inner")] = (0.0, 1.0, 1.0)
    rgb[find_boundaries(cells, mode="inner")] = (1.0, 1.0, 0.0)
    path.parent.mkdir(parents=True, exist_ok=True)
    io.imsave(path, (rgb * 255).astype(np.uint8), check_contrast=False)


def main() -> None:
    """Print the table and write the overlays."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("test-artifacts/real_cells"))
    parser.add_argument("--cell-model", default="bundled")
    parser.add_argument("--nucleus-model", default="bundled")
    parser.add_argument("--classical-nuclei", action="store_true")
    args = parser.parse_args()
    source = "classical" if args.classical_nuclei else "model"
    print(f"nuclei: {source}; cell model: {args.cell_model}")
    print(f"{'field':14s} {'path':15s} {'nuclei':>6s} {'cells':>5s} {'in cell':>8s} "
          f"{'one nuc':>8s} {'whole':>6s} {'edge 0':>6s} {'stain cov':>9s} {'s':>6s}")
    for name, load in REAL_CELL_FIELDS.items():
        field = load()
        nuclei = field_nuclei(field, args.classical_nuclei, args.nucleus_model)
        methods = [m for m in CELL_PATHS if m != "nuclei-nostain" or field.mito is not None]
        for method in methods:
            scores, cells, path_nuclei = score_real_cells(field, method, nuclei,
                                                          args.cell_model)
            print(f"{name:14s} {method:15s} {scores['n_nuclei']:6d} {scores['n_cells']:5d} "
                  f"{scores['nuclei_in_cell_fraction']:8.3f} "
                  f"{scores['cells_one_nucleus_fraction']:8.3f} "
                  f"{scores['whole_cells_one_nucleus_fraction']:6.3f} "
                  f"{scores['n_cells_cut_off']:6d} "
                  f"{scores['stain_coverage']:9.3f} {scores['seconds']:6.2f}")
            save_overlay(args.out / f"{name}_{method}_{source}.png", field, cells,
                         path_nuclei)


if __name__ == "__main__":
    main()
