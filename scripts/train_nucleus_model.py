"""Train the bundled nucleus model on the DSB 2018 nuclei plus synthetic nuclei.

Reads the training groups of ``benchmarks/dsb2018_split.json`` (whole acquisition groups are
held out, see scripts/split_dsb2018.py), adds 2-D synthetic fields from
``spmito.imaging.train.synthetic_pairs`` (bright and dim nuclei), and fine-tunes the current
bundled nucleus model at a 17 px network diameter with scale (8-80 px nuclei), intensity,
blur and noise augmentation. A time budget drives the learning-rate schedule, and the model
is checkpointed after every epoch, so a run cut short still leaves a usable model (run
``--recalibrate CHECKPOINT`` on it: the batch-norm statistics are re-estimated on whole
training images only at the end of a complete run).

Usage (a CPU run of about 75 min; ``nice`` it on a shared machine)::

    PYTHONPATH=. python scripts/train_nucleus_model.py --out /tmp/nuclei.pt --minutes 75

Then score it (benchmarks/dsb_nuclei.py --model /tmp/nuclei.pt), and copy the ``.pt`` and
``.json`` to ``segment/models/spmito_nuclei.*`` when it beats the bundled one.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

#: Run as a script, this file sees its own folder; ``benchmarks`` imports from the root.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.dsb_nuclei import image_ids, load_split, read_image  # noqa: E402
from spmito.imaging.train import synthetic_pairs  # noqa: E402
from spmito.segment.training import TrainingSettings, recalibrate_model_file, train_model  # noqa: E402
from spmito.segment.training_data import median_diameter_px, with_dimmed_nuclei  # noqa: E402

#: Network diameter (px): Cellpose's nucleus models work at 17 px.
NETWORK_DIAMETER_PX = 17.0

#: Smallest nuclei (px across) the resolution augmentation imitates.
SMALLEST_NUCLEUS_PX = 8.0


def _progress(log_every: int):
    def report(epoch: int, n_epochs: int, loss: float, seconds: float) -> None:
        if epoch == 1 or epoch % log_every == 0:
            print(f"{time.strftime('%H:%M:%S')} epoch {epoch}/{n_epochs} loss {loss:.4f} "
                  f"{seconds:.0f} s", flush=True)
    return report


def gather_pairs(synthetic_fields: int, seed: int, limit: int | None = None,
                 dimmed_copies: bool = False) -> tuple[list, list, list[float], dict]:
    """Images, masks and nucleus diameters (px) of the training data, and its description.

    ``dimmed_copies``: each DSB image once more with a fifth of its nuclei 3-10x dimmer
    (:func:`with_dimmed_nuclei`), as side-population nuclei are.
    """
    split = load_split()
    ids = image_ids(split, "train")[:limit]
    pairs = [read_image(image_id, split) for image_id in ids]
    masks = [pair.truth for pair in pairs]
    dsb_images = [pair.image for pair in pairs]
    n_nuclei = int(sum(len(np.unique(m)) - 1 for m in masks))
    if dimmed_copies:
        rng = np.random.default_rng([seed, 1])
        dsb_images += [with_dimmed_nuclei(pair.image, pair.truth, rng) for pair in pairs]
        masks = masks + masks
    print(f"{time.strftime('%H:%M:%S')} {len(ids)} DSB training images; synthesising "
          f"{synthetic_fields} fields", flush=True)
    synthetic = synthetic_pairs(synthetic_fields, seed, "nuclei", every_nth_3d=0)
    data = {
        "dsb2018": {"folder": "../shared/data/real/dsb2018_nuclei", "licence": "CC0",
                    "split_file": "benchmarks/dsb2018_split.json",
                    "train_groups": sorted({pair.group for pair in pairs}),
                    "validation_groups": split["validation_groups"],
                    "train_images": len(ids),
                    "train_nuclei": n_nuclei,
                    "dimmed_copies": dimmed_copies},
        "synthetic": {"fields_2d": synthetic_fields, "seed": seed,
                      "generator": "spmito.imaging.train.varied_synth_params",
                      "pairs": len(synthetic.images)},
    }
    return (dsb_images + synthetic.images, masks + synthetic.masks,
            [median_diameter_px(m) for m in masks] + synthetic.diameters_px, data)


def recalibrate(model: Path, out: Path, images: list, diameters_px: list[float]) -> None:
    """Re-estimate the batch-norm statistics of a trained model (or checkpoint).

    Writes it to ``out`` with its recipe: the training recipe beside ``model`` plus a note.
    """
    started = time.time()
    recalibrate_model_file(model, images, diameters_px, out)
    recipe_file = model.with_suffix(".json")
    recipe = json.loads(recipe_file.read_text()) if recipe_file.is_file() else {
        "trained_from": str(model)}
    recipe["batch_norm_recalibration"] = {
        "images": min(200, len(images)), "seconds": round(time.time() - started, 1),
        "function": "spmito.segment.training.recalibrate_batch_norm"}
    out.with_suffix(".json").write_text(json.dumps(recipe, indent=2) + "\n")
    print(f"{time.strftime('%H:%M:%S')} wrote {out} (batch-norm statistics re-estimated)")


def main() -> None:
    """Gather the data, train, write the model and its recipe."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--minutes", type=float, default=75.0, help="wall-clock budget")
    parser.add_argument("--epochs", type=int, default=400, help="upper bound on epochs")
    parser.add_argument("--synthetic", type=int, default=48, help="2-D synthetic fields")
    parser.add_argument("--base", default="bundled", help="model to start from ('none': "
                        "from scratch)")
    parser.add_argument("--learning-rate", type=float, default=0.004)
    parser.add_argument("--crop-px", type=int, default=160)
    parser.add_argument("--limit", type=int, default=None, help="first N DSB images (tests)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--width", type=int, default=16, help="channels of the network's "
                        "first level (each next level doubles); wider than the base "
                        "widens it")
    parser.add_argument("--dimmed-copies", action="store_true",
                        help="add each DSB image once more with a fifth of its nuclei "
                        "3-10x dimmer (side-population nuclei)")
    parser.add_argument("--recalibrate", type=Path, default=None, metavar="MODEL",
                        help="do not train: re-estimate the batch-norm statistics of MODEL "
                        "(e.g. a checkpoint of a cut run) and write it to --out")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    images, masks, diameters_px, data = gather_pairs(args.synthetic, args.seed, args.limit,
                                                       args.dimmed_copies)
    if args.recalibrate is not None:
        recalibrate(args.recalibrate, args.out, images, diameters_px)
        return
    settings = TrainingSettings(
        epochs=args.epochs, learning_rate=args.learning_rate, batch_size=8,
        crop_px=args.crop_px, scale_range=0.6, seed=args.seed,
        nbase=(2, args.width, 2 * args.width, 4 * args.width, 8 * args.width),
        diameter_px=NETWORK_DIAMETER_PX, smallest_object_px=SMALLEST_NUCLEUS_PX,
        time_budget_s=60.0 * args.minutes, recalibrate_batch_norm=True)
    data.update({
        "script": "scripts/train_nucleus_model.py",
        "arguments": {key: str(value) for key, value in vars(args).items()},
        "hardware": f"{platform.processor() or platform.machine()}, "
                    f"{args.threads} torch thread(s) on a shared 2-core machine"})
    print(f"{time.strftime('%H:%M:%S')} training on {len(images)} pairs for at most "
          f"{args.minutes} min", flush=True)
    result = train_model(
        images, masks, args.out, kind="nuclei", diameters_px=diameters_px,
        base=None if args.base == "none" else args.base, settings=settings, device="cpu",
        progress=_progress(1), data_description=data,
        checkpoint_path=args.out.with_name(args.out.stem + "_checkpoint.pt"))
    print(f"{time.strftime('%H:%M:%S')} wrote {result.path} after "
          f"{result.recipe['epochs_run']} epochs in {result.recipe['seconds']:.0f} s",
          flush=True)


if __name__ == "__main__":
    main()
