r"""Recipe of the bundled cell model: fine-tune it on varied synthetic cells, in rounds.

Training data: ``--myeloma`` fields of :func:`spmito.imaging.train.synthetic_pairs` (the round
myeloma-like cells the model already knows, so that it keeps them) and ``--sheets`` fields of
:mod:`spmito.imaging.cell_sheets` (adherent cells 8–60 µm with membrane, ER, cytoplasm and actin
stains, confluent to scattered, dim and uneven cells, out-of-focus fields). No real image is
used, so the real fields of ``benchmarks/eval_real_cells.py`` stay held out.

Training runs in ``--rounds`` rounds of ``--epochs-per-round`` epochs, each starting from the
previous round's model (learning rate warm-up and cosine decay within each round), so that a
usable model exists after every round on a shared machine; every round writes
``OUT_DIR/round_N.pt`` with its recipe. The last round is scored on held-out sheets.

Usage (CPU, in the background; the bundled model is round 4 of this run, chosen and recorded
as ``segment/models/MODEL_CARD.md`` and ``spmito_cells.json`` say)::

    nice -n 10 python scripts/train_cell_model.py --out-dir runs/cells --rounds 5 \\
        --epochs-per-round 3 > runs/cells.log 2>&1 &
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from spmito.imaging.cell_sheets import make_cell_sheet, varied_sheet_params
from spmito.imaging.train import TrainingPairs, synthetic_pairs

#: Seed streams: sheets use SeedSequence([SHEET_SEED, i]); held-out sheets start at 10 000.
SHEET_SEED = 15
FIRST_HELD_OUT_SHEET = 10_000


def sheet_pairs(indices: range, seed: int = SHEET_SEED) -> TrainingPairs:
    """(cell, hoechst) images and cell labels of synthetic adherent-cell fields."""
    from spmito.segment.training_data import median_diameter_px

    pairs = TrainingPairs()
    for index in indices:
        rng = np.random.default_rng(np.random.SeedSequence([seed, index, 1]))
        sheet = make_cell_sheet(varied_sheet_params(rng), np.random.SeedSequence([seed, index]))
        if sheet.cells.any():
            pairs.add([np.stack([sheet.cell, sheet.hoechst])], [sheet.cells],
                      [median_diameter_px(sheet.cells)], f"sheet:{seed}:{index}")
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
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    import torch

    from spmito.segment.training import TrainingSettings, train_model

    torch.set_num_threads(args.threads)
    started = time.time()
    train = synthetic_pairs(args.myeloma, 0, "cells", every_nth_3d=0)
    sheets = sheet_pairs(range(args.sheets))
    for pair in zip(sheets.images, sheets.masks, sheets.diameters_px, sheets.sources):
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
                   "real_images": "none (the real fields stay held out)"}
    base = args.base
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for round_index in range(1, args.rounds + 1):
        last = round_index == args.rounds
        result = train_model(
            train.images, train.masks, args.out_dir / f"round_{round_index}.pt",
            kind="cells", diameters_px=train.diameters_px, base=base,
            settings=TrainingSettings(epochs=args.epochs_per_round,
                                      learning_rate=args.learning_rate, seed=round_index),
            validation_images=held.images if last else (),
            validation_masks=held.masks if last else (),
            validation_diameters_px=held.diameters_px if last else None,
            device="cpu", data_description={**description, "round": round_index},
            progress=lambda epoch, n, loss, seconds: print(
                f"  epoch {epoch}/{n} loss {loss:.4f} {seconds:.0f} s", flush=True))
        base = str(result.path)
        print(f"round {round_index} -> {result.path} ({time.time() - started:.0f} s), "
              f"held-out AP50 {result.validation_ap50}", flush=True)
    print(json.dumps({"seconds": round(time.time() - started)}))


if __name__ == "__main__":
    main()
