"""Writing synthetic fields, their previews and whole sets; ``spmito synth``.

A set is independent fields, a plate (inhibitor-control and test wells per replicate) or
sorted SP and MP wells, with its ``sheet.csv`` and ``synth_params.json``.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from skimage.segmentation import find_boundaries

from spmito.imaging.atomic import atomic_path, write_text_atomic
from spmito.imaging.io import write_labels, write_ome_tiff
from spmito.imaging.synthetic.assemble import make_field
from spmito.imaging.synthetic.params import CHANNEL_NAMES, SyntheticField, SynthParams


def write_field(synthetic: SyntheticField, out_dir: str | Path, name: str,
                preview: bool = True) -> Path:
    """Write ``<name>.ome.tif`` and ``<name>.truth/`` (labels, truth.csv, mito.csv).

    Parameters
    ----------
    synthetic : SyntheticField
        The field to write.
    out_dir : path-like
        Output folder.
    name : str
        Field name (file stem).
    preview : bool
        Also write ``<name>.preview.png``.

    Returns
    -------
    Path
        The image file written.
    """
    out_dir = Path(out_dir)
    voxel_size_um = synthetic.params.voxel_size_um
    image_path = out_dir / f"{name}.ome.tif"
    write_ome_tiff(image_path, synthetic.image, synthetic.axes, voxel_size_um, CHANNEL_NAMES,
                   uuid_key=f"{name}/image")
    truth_dir = out_dir / f"{name}.truth"
    for label_name in ("cells", "nuclei", "mito"):
        write_labels(truth_dir / f"{label_name}.ome.tif", getattr(synthetic, label_name),
                     voxel_size_um, uuid_key=f"{name}/{label_name}")
    _write_csv(truth_dir / "truth.csv", synthetic.truth)
    _write_csv(truth_dir / "mito.csv", synthetic.mito_truth)
    if preview:
        write_preview(synthetic, out_dir / f"{name}.preview.png")
    return image_path


def _write_csv(path: Path, table: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")


def preview_rgb(synthetic: SyntheticField) -> np.ndarray:
    """An RGB uint8 composite with the truth cell outlines in white.

    Mito magenta, cell green, hoechst blue. 3-D: hoechst, cell and outlines from the middle
    plane, mitochondria as a maximum projection.
    """

    def plane(channel: np.ndarray, project: bool) -> np.ndarray:
        if channel.ndim == 3:
            channel = channel.max(axis=0) if project else channel[channel.shape[0] // 2]
        return channel

    def norm(image: np.ndarray) -> np.ndarray:
        low, high = np.percentile(image, (1, 99.7))
        return np.clip((image - low) / max(high - low, 1e-9), 0, 1)

    hoechst = norm(plane(synthetic.channel("hoechst"), project=False))
    cell = norm(plane(synthetic.channel("cell"), project=False))
    mito = norm(plane(synthetic.channel("mito"), project=True))
    rgb = np.stack([mito, cell * 0.8, np.clip(hoechst + 0.6 * mito, 0, 1)], axis=-1)
    rgb[find_boundaries(plane(synthetic.cells, project=False), mode="inner")] = 1.0
    return (rgb * 255).astype(np.uint8)


def write_preview(synthetic: SyntheticField, path: str | Path) -> None:
    """Write :func:`preview_rgb` as a PNG."""
    from PIL import Image

    with atomic_path(path) as tmp:
        Image.fromarray(preview_rgb(synthetic)).save(tmp, format="PNG")


# ------------------------------------------------------------------- sets and plates

SHEET_COLUMNS = ["path", "image_id", "plate", "well", "field", "replicate", "condition", "role",
                 "population", "inhibitor", "cell_line"]


@dataclass(frozen=True)
class _FieldPlan:
    name: str
    params: SynthParams
    sheet: dict


def _plan_fields(mode: str, n_fields: int, replicates: int, params: SynthParams
                 ) -> list[_FieldPlan]:
    """The fields of a set: independent fields, a plate, or sorted SP/MP images."""
    plans: list[_FieldPlan] = []
    if mode == "fields":
        for f in range(n_fields):
            plans.append(_FieldPlan(f"field_{f:03d}", params, {
                "image_id": f"field_{f:03d}", "field": f, "replicate": 1, "role": "test",
                "population": "unsorted", "condition": "untreated"}))
        return plans
    for rep in range(1, replicates + 1):
        if mode == "plate":
            wells = [("A", "inhibitor_control", "verapamil", replace(params, efflux_blocked=True),
                      "unsorted"),
                     ("B", "test", "", params, "unsorted")]
        elif mode == "sorted":
            wells = [("A", "test", "", replace(params, population="SP"), "SP"),
                     ("B", "test", "", replace(params, population="MP"), "MP")]
        else:
            raise ValueError(f"unknown synthetic mode {mode!r} (fields, plate, sorted)")
        for row, role, inhibitor, well_params, population in wells:
            well = f"{row}{rep:02d}"
            for f in range(n_fields):
                name = f"P1_{well}_f{f:02d}"
                plans.append(_FieldPlan(name, well_params, {
                    "image_id": name, "plate": "P1", "well": well, "field": f,
                    "replicate": rep, "condition": "untreated", "role": role,
                    "population": population, "inhibitor": inhibitor,
                    "cell_line": "synthetic_myeloma"}))
    return plans


def write_synthetic_set(out_dir: str | Path, params: SynthParams, n_fields: int, seed: int,
                        mode: str = "fields", replicates: int = 3, preview: bool = True,
                        progress: bool = False) -> pd.DataFrame:
    """Write a set of synthetic fields, their truth and ``sheet.csv``.

    Parameters
    ----------
    out_dir : path-like
        Output folder (created).
    params : SynthParams
        Base parameters; plate and sorted modes change the population and inhibitor per well.
    n_fields : int
        Fields (``mode="fields"``) or fields per well (plate and sorted modes).
    seed : int
        Seed of the set; field ``i`` uses ``SeedSequence([seed, i])``.
    mode : {"fields", "plate", "sorted"}
        Independent fields; a plate with inhibitor-control (row A) and test (row B) wells per
        replicate; or sorted SP (row A) and MP (row B) wells per replicate.
    replicates : int
        Biological replicates (plate and sorted modes).
    preview : bool
        Write a preview PNG per field.
    progress : bool
        Show a progress bar.

    Returns
    -------
    DataFrame
        The sample sheet written to ``out_dir/sheet.csv`` (paths relative to it).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plans = _plan_fields(mode, n_fields, replicates, params)
    rows = []
    iterator = plans
    if progress:
        from tqdm import tqdm

        iterator = tqdm(plans, desc="synthesising", unit="field")
    for index, plan in enumerate(iterator):
        synthetic = make_field(plan.params, np.random.SeedSequence([seed, index]))
        path = write_field(synthetic, out_dir, plan.name, preview=preview)
        rows.append({"path": path.name, **plan.sheet})
    sheet = pd.DataFrame(rows).reindex(columns=SHEET_COLUMNS)
    _write_csv(out_dir / "sheet.csv", sheet)
    write_text_atomic(out_dir / "synth_params.json", _params_json(params, seed, mode))
    return sheet


def _params_json(params: SynthParams, seed: int, mode: str) -> str:
    import json

    return json.dumps({"seed": seed, "mode": mode, **asdict(params)}, indent=2) + "\n"


def synth_command(args: argparse.Namespace) -> int:
    """``spmito synth``: write a synthetic set and say what was written."""
    params = SynthParams.for_ndim(
        args.ndim, size_px=args.size_px, pixel_size_um=args.pixel_size, z_step_um=args.z_step,
        sp_fraction=args.sp_fraction, sp_mito_ratio=args.sp_mito_ratio, snr=args.snr,
        mito_gap_um=args.mito_gap, density=args.density, mito_layout=args.mito_layout,
        numerical_aperture=args.na, mito_haze=args.mito_haze,
        mito_saturation=args.mito_saturation, camera_gain=args.camera_gain,
        camera_offset=args.camera_offset, bit_depth=args.bit_depth,
        chromocentre_spacing_um=args.chromocentres,
        chromocentre_contrast=args.chromocentre_contrast)
    sheet = write_synthetic_set(args.out, params, args.fields, args.seed, mode=args.mode,
                                replicates=args.replicates, preview=args.preview, progress=True)
    out = Path(args.out)
    print(f"wrote {len(sheet)} {args.ndim}-D field(s) to {out}/ "
          f"(voxel size {params.voxel_size_um} µm):")
    print(f"  <field>.ome.tif           channels {', '.join(CHANNEL_NAMES)}")
    print("  <field>.truth/            cells/nuclei/mito.ome.tif, truth.csv, mito.csv")
    if args.preview:
        print("  <field>.preview.png       colour preview with truth cell outlines")
    print(f"  sheet.csv                 sample sheet ({args.mode} mode)")
    return 0
