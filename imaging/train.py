"""``spmito train``: train or fine-tune a Cellpose model on files or on synthetic fields.

The training itself is :func:`spmito.segment.training.train_model` (arrays in, model file out);
this module reads image/mask files, or synthesises varied fields, splits off the held-out
pairs and prints progress and the final score.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from spmito.imaging.errors import SpmitoInputError
from spmito.imaging.synthetic import SynthParams, make_field

#: Channel roles fed to the network for each target: (channel to segment, helper channel).
TARGET_ROLES = {"cells": ("cell", "hoechst"), "nuclei": ("hoechst", None)}

_IMAGE_SUFFIXES = (".tif", ".tiff")


@dataclass
class TrainingPairs:
    """2-D training pairs with the objects' diameter in pixels and where they came from."""

    images: list[np.ndarray] = field(default_factory=list)
    masks: list[np.ndarray] = field(default_factory=list)
    diameters_px: list[float] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)

    def add(self, images, masks, diameters_px, source: str) -> None:
        """Append pairs that come from one source (a file or a synthetic field)."""
        self.images += images
        self.masks += masks
        self.diameters_px += diameters_px
        self.sources += [source] * len(images)

    def split(self, sources: set[str]) -> tuple[TrainingPairs, TrainingPairs]:
        """Pairs whose source is not in ``sources``, and those whose source is."""
        kept, held = TrainingPairs(), TrainingPairs()
        for index, source in enumerate(self.sources):
            target = held if source in sources else kept
            target.add([self.images[index]], [self.masks[index]], [self.diameters_px[index]],
                       source)
        return kept, held


# ------------------------------------------------------------------ synthetic fields


def varied_synth_params(rng: np.random.Generator, ndim: int) -> SynthParams:
    """Random field parameters around the defaults: stains, densities, noise, sizes, optics.

    2-D fields are 50–100 µm wide at 0.1–0.3 µm pixels (small fields put more cells on the
    image edge); 3-D stacks ~80 µm at 0.1–0.2 µm pixels and
    0.2–0.45 µm z steps. Mitochondria are kept few (the networks do not see them). Half
    the fields have chromocentres in their nuclei.
    """
    centre_um = rng.uniform(9.0, 16.0)
    spread = rng.uniform(0.1, 0.25)
    nucleus_low = rng.uniform(0.45, 0.65)
    common = dict(
        cell_diameter_um=(centre_um * (1 - spread), centre_um * (1 + spread)),
        cell_aspect=(1.0, rng.uniform(1.1, 1.6)),
        density=rng.uniform(0.35, 0.85),
        nucleus_fraction=(nucleus_low, min(0.85, nucleus_low + rng.uniform(0.05, 0.2))),
        sp_fraction=rng.uniform(0.05, 0.5),
        hoechst_cv=rng.uniform(0.05, 0.3),
        background_photons=float(np.exp(rng.uniform(np.log(10), np.log(300)))),
        read_noise=rng.uniform(1.0, 6.0),
        numerical_aperture=rng.uniform(0.75, 1.4),
        vignetting=rng.uniform(0.0, 0.3),
        mito_count_mp=4.0,
    )
    if ndim == 2:
        pixel_um = float(np.exp(rng.uniform(np.log(0.1), np.log(0.3))))
        params = SynthParams.for_ndim(2, pixel_size_um=pixel_um,
                                      size_px=round(rng.uniform(50.0, 100.0) / pixel_um),
                                      **common)
    else:
        pixel_um = rng.uniform(0.1, 0.2)
        z_step_um = rng.uniform(0.2, 0.45)
        params = SynthParams.for_ndim(3, pixel_size_um=pixel_um,
                                      size_px=round(80.0 / pixel_um), z_step_um=z_step_um,
                                      n_z=round(14.4 / z_step_um), **common)
    return _with_chromocentres(rng, params)


def _with_chromocentres(rng: np.random.Generator, params: SynthParams) -> SynthParams:
    """Half the fields get chromocentres (mouse-like speckled nuclei).

    They lie 0.8-3 µm apart and are 1-15x as bright as the nucleoplasm (log-uniform).
    """
    if rng.uniform() < 0.5:
        return params
    return replace(params, chromocentre_spacing_um=rng.uniform(0.8, 3.0),
                   chromocentre_contrast=float(np.exp(rng.uniform(0.0, np.log(15.0)))))


def synthetic_pairs(n_fields: int, seed: int, target: str, planes_per_stack: int = 4,
                    every_nth_3d: int = 4, progress: bool = False) -> TrainingPairs:
    """Training pairs from ``n_fields`` varied synthetic fields.

    Field ``i`` uses ``SeedSequence([seed, i])``; every ``every_nth_3d``-th field is a 3-D
    stack that contributes ``planes_per_stack`` planes (with the cells' full lateral
    diameter), the others are 2-D fields.
    """
    from spmito.segment.training_data import median_diameter_px, stack_planes

    channel_roles = TARGET_ROLES[target]
    truth_name = "cells" if target == "cells" else "nuclei"
    pairs = TrainingPairs()
    for index in range(n_fields):
        rng = np.random.default_rng(np.random.SeedSequence([seed, index, 1]))
        ndim = 3 if every_nth_3d and index % every_nth_3d == every_nth_3d - 1 else 2
        synthetic = make_field(varied_synth_params(rng, ndim),
                               np.random.SeedSequence([seed, index]))
        image = np.stack([synthetic.channel(role) if role else
                          np.zeros_like(synthetic.channel("hoechst"))
                          for role in channel_roles])
        truth = getattr(synthetic, truth_name)
        source = f"synthetic:{seed}:{index}"
        if ndim == 3:
            pairs.add(*stack_planes(image, truth, planes_per_stack), source)
        elif truth.any():
            pairs.add([image], [truth], [median_diameter_px(truth)], source)
        if progress:
            print(f"  synthesised field {index + 1}/{n_fields} ({ndim}-D, "
                  f"{int(truth.max())} {target})", flush=True)
    return pairs


# ------------------------------------------------------------------------- files


def _expand(paths: list[str]) -> list[Path]:
    """Files as given, folders replaced by their TIFF files in name order."""
    files: list[Path] = []
    for text in paths:
        path = Path(text)
        if path.is_dir():
            files += sorted(p for p in path.iterdir()
                            if p.name.lower().endswith(_IMAGE_SUFFIXES))
        else:
            files.append(path)
    return files


def file_pairs(images: list[str], masks: list[str], target: str, channels: str | None,
               voxel_size: str | None) -> TrainingPairs:
    """Training pairs from image files and label files (same order, same grids)."""
    from spmito.imaging.channels import parse_channels
    from spmito.imaging.io import parse_voxel_size, read_labels, read_stack
    from spmito.segment.training_data import median_diameter_px, stack_planes

    image_files, mask_files = _expand(images), _expand(masks)
    if len(image_files) != len(mask_files) or not image_files:
        raise SpmitoInputError(None, f"{len(image_files)} image file(s) and {len(mask_files)} "
                               "mask file(s)", "Give one mask per image, in the same order.")
    roles = parse_channels(channels) if channels else None
    voxel = parse_voxel_size(voxel_size) if voxel_size else None
    object_role, helper_role = TARGET_ROLES[target]
    pairs = TrainingPairs()
    for image_file, mask_file in zip(image_files, mask_files, strict=True):
        stack = read_stack(image_file, channels=roles, voxel_size_um=voxel, lazy=False)
        mask = read_labels(mask_file)[0]
        if mask.shape != stack.spatial_shape:
            raise SpmitoInputError(mask_file, f"mask shape {mask.shape} differs from the image "
                                   f"{image_file} ({stack.spatial_shape})",
                                   "Give the mask drawn on that image.")
        object_image = stack.channel(object_role)
        helper = (stack.channel(helper_role) if helper_role and stack.has_role(helper_role)
                  else np.zeros_like(object_image))
        image = np.stack([object_image, helper])
        if stack.is_3d:
            pairs.add(*stack_planes(image, mask), str(image_file))
        elif mask.any():
            pairs.add([image], [mask], [median_diameter_px(mask)], str(image_file))
    return pairs


# ------------------------------------------------------------------------ command


def held_out_sources(pairs: TrainingPairs, fraction: float, seed: int) -> set[str]:
    """Sources (files, fields) held out for validation.

    ``fraction`` of them, at least one when there are two or more, none when there is one.
    """
    if not 0 <= fraction < 1:
        raise SpmitoInputError(None, f"--validation-fraction must be in [0, 1), got {fraction}")
    sources = list(dict.fromkeys(pairs.sources))
    if len(sources) < 2 or fraction == 0:
        return set()
    n_held = min(len(sources) - 1, max(1, round(fraction * len(sources))))
    order = np.random.default_rng(seed).permutation(len(sources))
    return {sources[i] for i in order[:n_held]}


def _print_progress(epoch: int, n_epochs: int, loss: float, seconds: float) -> None:
    step = max(1, n_epochs // 50)
    if epoch == 1 or epoch == n_epochs or epoch % step == 0:
        print(f"  epoch {epoch:4d}/{n_epochs}  loss {loss:.4f}  {seconds:7.0f} s", flush=True)


def _gather_pairs(args: argparse.Namespace) -> tuple[TrainingPairs, dict]:
    """Training pairs from ``--synthetic`` or ``--images``/``--masks``, and their description."""
    if args.synthetic:
        print(f"synthesising {args.synthetic} varied fields (seed {args.seed}) ...", flush=True)
        pairs = synthetic_pairs(args.synthetic, args.seed, args.target, progress=True)
        return pairs, {"synthetic_fields": args.synthetic, "seed": args.seed,
                       "generator": "spmito.imaging.train.varied_synth_params",
                       "every_nth_3d": 4, "planes_per_stack": 4}
    if args.images and args.masks:
        pairs = file_pairs(args.images, args.masks, args.target, args.channels, args.voxel_size)
        return pairs, {"images": [str(p) for p in _expand(args.images)],
                       "masks": [str(p) for p in _expand(args.masks)]}
    raise SpmitoInputError(None, "no training data",
                           "Give --images and --masks, or --synthetic N.")


def train_command(args: argparse.Namespace) -> int:
    """``spmito train``: gather pairs, hold some out, train, print the validation AP@0.5."""
    from spmito.segment.training import TrainingSettings, train_model
    from spmito.segment.weights import ModelFormatError, ModelNotFoundError, resolve_model

    try:
        if args.base:  # fail before minutes of data preparation
            resolve_model(args.base, args.target)
        pairs, data = _gather_pairs(args)
        held = held_out_sources(pairs, args.validation_fraction, args.seed)
        train, validation = pairs.split(held)
        print(f"training a {args.target} model on {len(train.images)} image(s) "
              f"({len(set(train.sources))} source(s)), validating on "
              f"{len(validation.images)} ({len(held)} held-out source(s)); base: "
              f"{args.base or 'none (from scratch)'}", flush=True)
        result = train_model(
            train.images, train.masks, args.out, kind=args.target,
            diameters_px=train.diameters_px, base=args.base,
            settings=TrainingSettings(epochs=args.epochs, learning_rate=args.learning_rate,
                                      seed=args.seed),
            validation_images=validation.images, validation_masks=validation.masks,
            validation_diameters_px=validation.diameters_px, device=args.device,
            progress=_print_progress,
            data_description={**data, "held_out": sorted(held), "arguments": vars(args)})
    except (ModelNotFoundError, ModelFormatError) as error:
        raise SpmitoInputError(args.base, str(error)) from error
    print(f"wrote {result.path} (sha256 {result.sha256[:12]}…) and "
          f"{result.path.with_suffix('.json').name} in {result.recipe['seconds']:.0f} s")
    if result.validation_ap50 is None:
        print("validation: none (a single image or field cannot be split; give more)")
    else:
        print(f"validation AP@0.5 on {len(validation.images)} held-out image(s): "
              f"{result.validation_ap50:.3f}")
    return 0
