"""The Cellpose path on held-out synthetic cell sheets: the cell model alone vs ``spmito run``.

Synthetic adherent-cell sheets (:mod:`spmito.imaging.cell_sheets`, varied stains, sizes,
density, focus and noise, some with just-divided daughter pairs that share a patch of stain)
from the held-out seed stream of ``scripts/train_cell_model.py`` (never trained on). For each
sheet it scores the cell model's cells and what ``spmito run --cell-method cellpose`` makes
of them (:func:`spmito.imaging.pipeline.complete_model_cells`: a cell holding several nuclei
divided among them, a cell grown for every nucleus left out), against the true cells:
AP@0.5 and the share of cells with exactly one nucleus. Nuclei come from the bundled nucleus
model (``--true-nuclei``: the true nuclei, to see the cell step alone).

Usage::

    python benchmarks/cells_on_sheets.py [--sheets 16] [--true-nuclei]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

#: Run as a script, this file sees its own folder; ``scripts`` imports from the root.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.train_cell_model import FIRST_HELD_OUT_SHEET, synthetic_sheet  # noqa: E402
from spmito.imaging.cell_sheets import CellSheet  # noqa: E402
from spmito.imaging.params import RunParams  # noqa: E402
from spmito.imaging.pipeline import complete_model_cells  # noqa: E402
from spmito.segment.cells import segment_cells  # noqa: E402
from spmito.segment.evaluation import average_precision_50  # noqa: E402
from spmito.segment.nuclei import nucleus_cell_agreement, segment_nuclei  # noqa: E402


def held_out_sheet(index: int) -> CellSheet:
    """Held-out sheet ``index`` (0-based) of the cell model's training script."""
    return synthetic_sheet(FIRST_HELD_OUT_SHEET + index)


def score_sheet(sheet, true_nuclei: bool) -> dict:
    """AP@0.5 and one-nucleus share of the model's cells and of spmito run's."""
    params = sheet.params
    voxel_size_um = (params.pixel_size_um, params.pixel_size_um)
    cell_diameter_um = float(np.mean(params.cell_diameter_um))
    nucleus_diameter_um = cell_diameter_um * float(np.mean(np.sqrt(params.nucleus_fraction)))
    model_cells = segment_cells(sheet.cell, sheet.hoechst, voxel_size_um, cell_diameter_um,
                                device="cpu").labels
    nuclei = sheet.nuclei if true_nuclei else segment_nuclei(
        sheet.hoechst, voxel_size_um, nucleus_diameter_um, device="cpu").labels
    images = {"cell": sheet.cell, "mito": None, "hoechst": sheet.hoechst}
    run_cells, provenance = complete_model_cells(
        model_cells, nuclei, images, RunParams(cell_diameter_um=cell_diameter_um),
        voxel_size_um, {})
    return {"cells": int(sheet.cells.max()),
            "daughters": params.daughter_fraction > 0,
            "ap_model": average_precision_50(sheet.cells, model_cells),
            "ap_run": average_precision_50(sheet.cells, run_cells),
            "one_model": nucleus_cell_agreement(model_cells, nuclei)["cells_one_nucleus_fraction"],
            "one_run": nucleus_cell_agreement(run_cells, nuclei)["cells_one_nucleus_fraction"],
            "divided": provenance["cells_divided_between_nuclei"],
            "grown": provenance["cells_grown_for_nuclei_outside_cells"]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sheets", type=int, default=16)
    parser.add_argument("--true-nuclei", action="store_true")
    args = parser.parse_args(argv)
    rows = [score_sheet(held_out_sheet(index), args.true_nuclei) for index in range(args.sheets)]
    print(f"nuclei: {'true' if args.true_nuclei else 'nucleus model'}")
    print("sheet cells pairs  AP model  AP run  one-nuc model  one-nuc run  divided grown")
    for index, row in enumerate(rows):
        print(f"{index:5d} {row['cells']:5d} {'yes' if row['daughters'] else 'no':>5}"
              f"  {row['ap_model']:8.3f} {row['ap_run']:7.3f}  {row['one_model']:13.3f}"
              f"  {row['one_run']:11.3f}  {row['divided']:7d} {row['grown']:5d}")
    for label, keep in (("all", lambda r: True), ("with pairs", lambda r: r["daughters"]),
                        ("without pairs", lambda r: not r["daughters"])):
        chosen = [r for r in rows if keep(r)]
        if chosen:
            print(f"mean over {len(chosen)} sheets {label}: AP@0.5 model "
                  f"{np.mean([r['ap_model'] for r in chosen]):.3f} -> run "
                  f"{np.mean([r['ap_run'] for r in chosen]):.3f}; one nucleus "
                  f"{np.nanmean([r['one_model'] for r in chosen]):.3f} -> "
                  f"{np.nanmean([r['one_run'] for r in chosen]):.3f}")


if __name__ == "__main__":
    main()
