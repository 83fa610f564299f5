r"""Recipe of the bundled cell model: fine-tune it on varied synthetic cells, in rounds.

Training data: ``--myeloma`` fields of :func:`spmito.imaging.train.synthetic_pairs` (the round
myeloma-like cells the model already knows, so that it keeps them) and ``--sheets`` fields of
:mod:`spmito.imaging.cell_sheets` (adherent cells 8–60 µm with membrane, ER, cytoplasm and actin
stains, confluent to scattered, dim and uneven cells, out-of-focus fields). With
``--pseudo-repeats N`` it adds, N times each, pseudo-labels on real fields: the cells grown
from the bundled nucleus model's nuclei over the cell stain
(:func:`spmito.segment.propagate.cells_from_nuclei`, the ``nuclei`` path of
``benchmarks/eval_real_cells.py``), on the regions of :data:`PSEUDO_LABEL_REGIONS` only; the
right half of the BBBC022 crop stays held out. Overlays of the pseudo-labels are written to
``OUT_DIR/pseudo_labels/`` to check by eye before they are trusted.

Training runs in ``--rounds`` rounds of ``--epochs-per-round`` epochs, each starting from the
previous round's model (learning rate warm-up and cosine decay within each round), so that a
usable model exists after every round on a shared machine; every round writes
``OUT_DIR/round_N.pt`` with its recipe. The last round is scored on held-out sheets.

Usage (CPU, in the background; the recipes of the bundled model are recorded in
``segment/models/spmito_cells.json`` and ``MODEL_CARD.md``)::

    nice -n 10 python scripts/train_cell_model.py --out-dir runs/cells --rounds 5 \\
        --epochs-per-round 3 > runs/cells.log 2>&1 &
    nice -n 10 python scripts/train_cell_model.py --out-dir runs/cells_pseudo --rounds 1 \\
        --epochs-per-round 12 --learning-rate 0.001 --pseudo-repeats 10 \\
        --time-budget-s 2100 > runs/cells_pseudo.log 2>&1 &  # epoch 9 ships
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

#: Run as a script, this file sees its own folder; ``benchmarks`` imports from the root.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.eval_real_cells import REAL_CELL_FIELDS, field_cells, field_nuclei, save_overlay  # noqa: E402
from spmito.imaging.cell_sheets import CellSheet, make_cell_sheet, varied_sheet_params  # noqa: E402
from spmito.imaging.train import TrainingPairs, synthetic_pairs  # noqa: E402

#: Seed streams: sheets use SeedSequence([SHEET_SEED, i]); held-out sheets start at 10 000.
SHEET_SEED = 15
FIRST_HELD_OUT_SHEET = 10_000

#: Regions (rows, columns) of the real fields used as pseudo-labels. BBBC022: the left half
#: of the crop, without the cell cut by its left edge whose nucleus lies outside the crop and
#: the dim, nucleus-free stain along its bottom edge (no grown cell covers either, so they
#: would teach stained cells to be background); columns 347 onwards are held out. BPAE: the
#: whole field (one cell).
PSEUDO_LABEL_REGIONS = {
    "bbbc022_u2os": (slice(0, 345), slice(45, 347)),
    "bpae_cell": (slice(None), slice(None)),
}

#: Pieces of a cell cut by a region's edge smaller than this share of the median cell area
#: are left out of the pseudo-labels (too little of the cell to learn its outline from).
SMALLEST_PIECE_SHARE = 0.1


def synthetic_sheet(index: int, seed: int = SHEET_SEED) -> CellSheet:
    """Sheet ``index`` of the stream ``seed``: its parameters and its field, each seeded."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, index, 1]))
    return make_cell_sheet(varied_sheet_params(rng), np.random.SeedSequence([seed, index]))


def sheet_pairs(indices: range, seed: int = SHEET_SEED) -> TrainingPairs:
    """(cell, hoechst) images and cell labels of synthetic adherent-cell fields."""
    from spmito.segment.training_data import median_diameter_px

    pairs = TrainingPairs()
    for index in indices:
        sheet = synthetic_sheet(index, seed)
        if sheet.cells.any():
            pairs.add([np.stack([sheet.cell, sheet.hoechst])], [sheet.cells],
                      [median_diameter_px(sheet.cells)], f"sheet:{seed}:{index}")
    return pairs


def holes_filled(cells: np.ndarray) -> np.ndarray:
    """Cell labels with background enclosed by cells given to the nearest cell.

    Cells grown from nuclei leave small dark gaps of the stain between neighbours unassigned;
    a segmentation of the cells has none.
    """
    from scipy import ndimage as ndi

    holes = ndi.binary_fill_holes(cells > 0) & (cells == 0)
    nearest = ndi.distance_transform_edt(cells == 0, return_distances=False,
                                         return_indices=True)
    filled = cells.copy()
    filled[holes] = cells[tuple(nearest)][holes]
    return filled


def without_small_pieces(labels: np.ndarray, share: float = SMALLEST_PIECE_SHARE
                         ) -> np.ndarray:
    """Labels renumbered 1..n without those smaller than ``share`` of the median area."""
    from skimage.segmentation import relabel_sequential

    areas = np.bincount(labels.ravel())
    present = np.flatnonzero(areas[1:]) + 1
    small = present[areas[present] < share * np.median(areas[present])]
    return relabel_sequential(np.where(np.isin(labels, small), 0, labels))[0]


def _span(part: slice) -> str:
    """``start:stop`` of a slice, as Python writes it (``0:`` for all)."""
    return f"{part.start or 0}:{'' if part.stop is None else part.stop}"


def pseudo_label_pairs(repeats: int, overlay_dir: Path | None = None) -> TrainingPairs:
    """Real (cell, hoechst) regions with the cells grown from nuclei as labels, ``repeats`` x.

    Writes an overlay of each region (cells yellow, nuclei cyan) to ``overlay_dir``.
    """
    from spmito.segment.training_data import median_diameter_px

    pairs = TrainingPairs()
    for name, (rows, columns) in PSEUDO_LABEL_REGIONS.items():
        field = REAL_CELL_FIELDS[name]()
        nuclei = field_nuclei(field)
        cells = holes_filled(field_cells(field, nuclei, "nuclei")[0])
        mask = without_small_pieces(cells[rows, columns])
        image = np.stack([field.cell, field.hoechst])[:, rows, columns]
        source = f"pseudo:{name}[{_span(rows)},{_span(columns)}]"
        pairs.add([image] * repeats, [mask] * repeats, [median_diameter_px(mask)] * repeats,
                  source)
        if overlay_dir is not None:
            region = replace(field, cell=image[0], hoechst=image[1], mito=None)
            save_overlay(overlay_dir / f"{name}.png", region, mask, nuclei[rows, columns])
    return pairs


def main() -> None:
    """Build the data, train in rounds, print progress."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--myeloma", type=int, default=32)
    parser.add_argument("--sheets", type=int, default=96)
    parser.add_argument("--held-out", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--epochs-per-round", type=int, default=2)
    parser.add_argument("--learning-rate", type=float, default=0.002)
    parser.add_argument("--base", default="bundled")
    parser.add_argument("--first-seed", type=int, default=1,
                        help="seed of the first round (round k: FIRST_SEED + k - 1)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--pseudo-repeats", type=int, default=0,
                        help="copies of each real pseudo-labelled region (0: none)")
    parser.add_argument("--time-budget-s", type=float, default=None,
                        help="wall-clock budget of each round (see TrainingSettings)")
    args = parser.parse_args()
    import torch

    from spmito.segment.training import TrainingSettings, train_model

    torch.set_num_threads(args.threads)
    started = time.time()
    train = synthetic_pairs(args.myeloma, 0, "cells", every_nth_3d=0)
    sheets = sheet_pairs(range(args.sheets))
    for pair in zip(sheets.images, sheets.masks, sheets.diameters_px, sheets.sources):
        train.add([pair[0]], [pair[1]], [pair[2]], pair[3])
    pseudo = (pseudo_label_pairs(args.pseudo_repeats, args.out_dir / "pseudo_labels")
              if args.pseudo_repeats else TrainingPairs())
    for pair in zip(pseudo.images, pseudo.masks, pseudo.diameters_px, pseudo.sources):
        train.add([pair[0]], [pair[1]], [pair[2]], pair[3])
    held = sheet_pairs(range(FIRST_HELD_OUT_SHEET, FIRST_HELD_OUT_SHEET + args.held_out))
    print(f"data: {len(train.images)} training images, {len(held.images)} held out, "
          f"{time.time() - started:.0f} s", flush=True)
    description = {"myeloma_fields": args.myeloma, "myeloma_generator":
                   "spmito.imaging.train.synthetic_pairs(seed=0, every_nth_3d=0)",
                   "sheets": args.sheets, "sheet_generator":
                   "spmito.imaging.cell_sheets.varied_sheet_params, "
                   f"SeedSequence([{SHEET_SEED}, i])",
                   "held_out": held.sources, "rounds": args.rounds,
                   "epochs_per_round": args.epochs_per_round, "torch_threads": args.threads,
                   "real_images": (sorted(set(pseudo.sources)) if args.pseudo_repeats else
                                   "none (the real fields stay held out)"),
                   "pseudo_repeats": args.pseudo_repeats}
    base = args.base
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for round_index in range(1, args.rounds + 1):
        last = round_index == args.rounds
        result = train_model(
            train.images, train.masks, args.out_dir / f"round_{round_index}.pt",
            kind="cells", diameters_px=train.diameters_px, base=base,
            settings=TrainingSettings(epochs=args.epochs_per_round,
                                      learning_rate=args.learning_rate,
                                      seed=args.first_seed + round_index - 1,
                                      time_budget_s=args.time_budget_s),
            validation_images=held.images if last else (),
            validation_masks=held.masks if last else (),
            validation_diameters_px=held.diameters_px if last else None,
            device="cpu", data_description={**description, "round": round_index},
            checkpoint_path=args.out_dir / f"round_{round_index}_last_epoch.pt",
            progress=lambda epoch, n, loss, seconds: print(
                f"  epoch {epoch}/{n} loss {loss:.4f} {seconds:.0f} s", flush=True))
        base = str(result.path)
        print(f"round {round_index} -> {result.path} ({time.time() - started:.0f} s), "
              f"held-out AP50 {result.validation_ap50}", flush=True)
    print(json.dumps({"seconds": round(time.time() - started)}))


if __name__ == "__main__":
    main()
