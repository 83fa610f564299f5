"""Plausibility checks over a finished run: ``qc.csv``, ``images.csv`` and QC overlays.

A run can finish without an error and still be wrong: mitochondria segmentation that found
almost nothing, cells drawn at the wrong size, a gate set on a handful of cells. This module
looks at every image and at the run as a whole; every check that does not pass becomes a row
of ``qc.csv`` with a sentence that says what to do (contract.md, docs/contract-extensions.md):

- ``DIR/qc.csv``: ``image_id, check, severity, value, expected, message``, one row per failed
  check (``warning``, or ``fail`` where a headline number cannot be trusted); header-only when
  every check passed;
- ``DIR/images.csv``: one row per image (cells, nuclei inside a cell %, cells with exactly
  one nucleus %, median mitochondria per cell, ... , the warned checks as ``flags``);
- ``DIR/figures/overlay_<image_id>.jpg``: the channels with what was segmented on them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import mannwhitneyu

from spmito.imaging.atomic import atomic_path
from spmito.imaging.outputs import (
    DONE_JSON,
    LABEL_FILES,
    image_dir,
    label_path,
    read_done,
    read_input_stack,
    read_label_images,
    write_table_csv,
)
from spmito.imaging.params import RunParams
from spmito.measure.analysis.overlays import overlay_mosaic, save_rgb
from spmito.measure.analysis.population import DOUBLET_MIN_SOLIDITY, complete_cells
from spmito.segment.nuclei import nucleus_cell_agreement
from spmito.segment.sampling import (
    MAX_COUNT_PIXEL_UM,
    MAX_COUNT_Z_STEP_UM,
    too_coarse_to_count,
)

log = logging.getLogger(__name__)

QC_COLUMNS = ("image_id", "check", "severity", "value", "expected", "message")
#: Checks whose failure makes a headline number untrustworthy (severity ``fail``); any other
#: failed check is a ``warning``. A passed check has severity ``ok`` and is not written.
FAIL_CHECKS = frozenset({"no_cells", "few_mitochondria", "control_sp_high",
                         "sorted_sp_not_dimmer"})
IMAGE_COLUMNS = (
    "image_id", "role", "n_cells", "nuclei_in_cell_percent", "cells_one_nucleus_percent",
    "median_mito_count", "median_mito_fraction", "excluded_percent", "flags",
    "cell_diameter_um", "nucleus_diameter_um", "few_mito_percent", "mito_object_px",
    "saturated_percent", "cells_grown_or_divided_percent", "overlay",
)

#: A cell "holds almost no mitochondria" with fewer than this many objects covering less
#: than this share of its area (volume): a fused network (one large object) is not "few",
#: and neither are many small objects in 3-D (volume fractions there are often < 1 %).
FEW_MITO_COUNT, FEW_MITO_FRACTION = 3, 0.01
#: Warn when more than this % of an image's cells hold almost no mitochondria.
FEW_MITO_MAX_PERCENT = 50.0
#: Median mitochondrion size (pixels in 2-D, voxels in 3-D) below which objects are at the
#: pixel scale: the image under-samples them.
MIN_OBJECT_PX = {2: 4.0, 3: 8.0}
#: Issue #15: warn when fewer than this % of nuclei lie in a cell, or of cells hold one nucleus.
MIN_AGREEMENT_PERCENT = 80.0
#: Warn when ``spmito run`` had to grow or divide more than this % of an image's cells to give
#: every nucleus one cell: the cell model then disagrees with the nuclei.
MAX_GROWN_OR_DIVIDED_PERCENT = 20.0
#: Warn when the doublet rule's solidity test alone takes more than this % of the whole
#: single-nucleus cells: cells that are not convex (spread adherent cells), not doublets.
MAX_SHAPE_DOUBLET_PERCENT = 20.0
#: Median cell or nucleus diameter outside [given / factor, given * factor] is implausible.
#: The Cellpose models tolerate about ±30 % (MODEL_CARD.md); at a wrong scale they find
#: objects nearer the size given than the true one, so 1.5x found means more than that: on
#: BBBC022 with the default 8 and 12 µm, nuclei of 12.6 and cells of 18.8 µm were found
#: (true about 17 and 37) and 59 % of the cells held one nucleus.
SIZE_FACTOR = 1.5
#: Warn when more than this % of an image's cells have saturated nuclei (domain.md §2).
MAX_SATURATED_PERCENT = 5.0
#: Typical myeloma SP is 0.1–5 %; inhibitor controls above it were not blocked (domain.md §2).
MAX_CONTROL_SP_PERCENT = 5.0
#: domain.md §2: an automatic gate wants >= 1000 control cells (200–999: robust gate).
MIN_GATE_CELLS = 1000
#: Cap on one QC overlay JPEG: 100 fields stay under 10 MB of report (base64 adds a third).
OVERLAY_MAX_BYTES = 60_000
#: domain.md §2: sorted SP must be dimmer than sorted MP with a per-cell AUC >= 0.8.
MIN_SORTED_AUC = 0.8


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check: a row of ``qc.csv`` unless its severity is ``ok``.

    ``image_id`` is empty for a run-level check.
    """

    image_id: str
    check: str
    severity: str
    value: float
    expected: float
    message: str


def _result(check: str, failed: bool, value: float, expected: float, message: str,
            image_id: str = "") -> CheckResult:
    severity = ("fail" if check in FAIL_CHECKS else "warning") if failed else "ok"
    return CheckResult(image_id, check, severity, float(value), float(expected), message)


# ------------------------------------------------------------------ per-image inspection


def _overlay_is_fresh(overlay: Path, folder: Path) -> bool:
    if not overlay.is_file():
        return False
    sources = [folder / f"{n}.ome.tif" for n in LABEL_FILES] + [folder / DONE_JSON]
    return overlay.stat().st_mtime >= max(p.stat().st_mtime for p in sources if p.is_file())


def inspect_image(out_dir: Path, image_id: str, params: RunParams) -> dict:
    """Nucleus–cell agreement from the saved labels, and the QC overlay of one image.

    The overlay (``DIR/figures/overlay_<image_id>.jpg``) is drawn from the input image and
    the saved labels, and redrawn only when the labels changed since it was drawn. When the
    input can no longer be read the overlay is left out (and logged), the numbers are not.

    Returns
    -------
    dict
        ``nuclei_in_cell_percent``, ``cells_one_nucleus_percent`` (NaN without label
        images), ``overlay`` (the path relative to DIR, or ``""``), ``voxel_size_um``,
        ``cells_grown_or_divided`` (from the provenance; NaN unless the cells came from the
        cell model).
    """
    folder = image_dir(out_dir, image_id)
    done = read_done(out_dir, image_id)
    provenance = done.get("provenance", {})
    seen = {"nuclei_in_cell_percent": np.nan, "cells_one_nucleus_percent": np.nan,
            "overlay": "", "voxel_size_um": tuple(provenance.get("voxel_size_um", ())),
            "cells_grown_or_divided": _cells_grown_or_divided(provenance)}
    if not all(label_path(out_dir, image_id, name).is_file() for name in LABEL_FILES):
        return seen  # tables without label images (e.g. written by another tool)
    labels = read_label_images(out_dir, image_id)
    agreement = nucleus_cell_agreement(labels["cells"], labels["nuclei"])
    seen["nuclei_in_cell_percent"] = 100 * agreement["nuclei_in_cell_fraction"]
    seen["cells_one_nucleus_percent"] = 100 * agreement["whole_cells_one_nucleus_fraction"]
    overlay = out_dir / "figures" / f"overlay_{image_id}.jpg"
    if not _overlay_is_fresh(overlay, folder):
        try:
            _write_overlay(overlay, done["input"], labels, params)
        except Exception as error:  # noqa: BLE001 - a missing picture must not stop the run
            log.warning("no QC overlay for %s: %s", image_id, error)
            overlay.unlink(missing_ok=True)
    if overlay.is_file():
        seen["overlay"] = overlay.relative_to(out_dir).as_posix()
    return seen


def _cells_grown_or_divided(provenance: dict) -> float:
    """Cells grown for left-out nuclei plus model cells divided among nuclei (NaN: none ran)."""
    keys = ("cells_grown_for_nuclei_outside_cells", "cells_divided_between_nuclei")
    if not any(key in provenance for key in keys):
        return np.nan
    return float(sum(provenance.get(key, 0) for key in keys))


def _write_overlay(path: Path, source: str, labels: dict, params: RunParams) -> None:
    stack = read_input_stack(source, params)
    planes = {role: stack.channel(role, validate=False)
              for role in ("hoechst", "cell", "mito") if stack.has_role(role)}
    mosaic, _ = overlay_mosaic(planes, labels["cells"], labels["nuclei"], labels["mito"])
    with atomic_path(path) as tmp:
        save_rgb(mosaic, tmp, max_bytes=OVERLAY_MAX_BYTES)


# ------------------------------------------------------------------------ the tables


def _equivalent_diameter_um(size: pd.Series, ndim: int) -> float:
    size = pd.to_numeric(size, errors="coerce").dropna()
    if size.empty:
        return float("nan")
    median = float(size.median())
    return 2 * np.sqrt(median / np.pi) if ndim == 2 else (6 * median / np.pi) ** (1 / 3)


def almost_no_mitochondria(cells: pd.DataFrame) -> pd.Series:
    """Per cell: fewer than :data:`FEW_MITO_COUNT` objects on < :data:`FEW_MITO_FRACTION`."""
    count = pd.to_numeric(cells["mito_count"], errors="coerce").fillna(0)
    fraction = pd.to_numeric(cells["mito_fraction"], errors="coerce").fillna(0)
    return (count < FEW_MITO_COUNT) & (fraction < FEW_MITO_FRACTION)


def _image_row(image_id: str, cells: pd.DataFrame, mito: pd.DataFrame, seen: dict) -> dict:
    ndim = 3 if "cell_volume_um3" in cells and cells["cell_volume_um3"].notna().any() else 2
    unit = "volume_um3" if ndim == 3 else "area_um2"
    excluded = cells["excluded"].astype(bool) if "excluded" in cells else pd.Series(
        False, index=cells.index)
    kept = cells[~excluded] if (~excluded).any() else cells
    fraction = pd.to_numeric(kept.get("mito_fraction"), errors="coerce")
    voxel = seen.get("voxel_size_um") or ()
    sizes = pd.to_numeric(mito.get(unit, pd.Series(dtype=float)), errors="coerce").dropna()
    object_px = (float(sizes.median() / np.prod(voxel)) if len(voxel) and not sizes.empty
                 else float("nan"))
    return {
        "image_id": image_id,
        "role": str(cells["role"].iloc[0]) if "role" in cells and len(cells) else "",
        "n_cells": len(cells),
        "nuclei_in_cell_percent": seen.get("nuclei_in_cell_percent", np.nan),
        "cells_one_nucleus_percent": seen.get("cells_one_nucleus_percent", np.nan),
        "median_mito_count": float(kept["mito_count"].median()) if len(kept) else np.nan,
        "median_mito_fraction": float(fraction.median()) if len(kept) else np.nan,
        "excluded_percent": 100 * float(excluded.mean()) if len(cells) else np.nan,
        "cell_diameter_um": _equivalent_diameter_um(cells.get(f"cell_{unit}"), ndim),
        "nucleus_diameter_um": _equivalent_diameter_um(cells.get(f"nucleus_{unit}"), ndim),
        "few_mito_percent": 100 * float(almost_no_mitochondria(kept).mean())
        if len(kept) else np.nan,
        "mito_object_px": object_px,
        "saturated_percent": 100 * float(cells["saturated"].astype(bool).mean())
        if "saturated" in cells and len(cells) else np.nan,
        "cells_grown_or_divided_percent": 100 * seen.get("cells_grown_or_divided", np.nan)
        / len(cells) if len(cells) else np.nan,
        "overlay": seen.get("overlay", ""),
        "ndim": ndim,
        "voxel_size_um": voxel,
    }


def image_table(out_dir: Path, image_ids: Iterable[str], cells: pd.DataFrame,
                mito: pd.DataFrame, params: RunParams) -> pd.DataFrame:
    """One row per finished image (``images.csv`` without ``flags``), overlays drawn."""
    rows = []
    by_image = dict(tuple(cells.groupby(cells["image_id"].astype(str)))) if len(cells) else {}
    mito_by_image = dict(tuple(mito.groupby(mito["image_id"].astype(str)))) if len(mito) \
        else {}
    for image_id in image_ids:
        seen = inspect_image(out_dir, image_id, params)
        rows.append(_image_row(image_id, by_image.get(image_id, cells.iloc[:0]),
                               mito_by_image.get(image_id, mito.iloc[:0]), seen))
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------ the checks


def image_checks(row: pd.Series, params: RunParams) -> list[CheckResult]:
    """Every per-image check of one ``images.csv`` row."""
    image_id = str(row["image_id"])
    if row["n_cells"] == 0:
        return [_result("no_cells", True, 0, 1, "No cell was found: check the channel map "
                        "(--channels), the voxel size and --cell-diameter on the overlay.",
                        image_id)]
    results = [_result("no_cells", False, row["n_cells"], 1, "Cells were found.", image_id)]
    few = row["few_mito_percent"]
    results.append(_result(
        "few_mitochondria", few > FEW_MITO_MAX_PERCENT, few, FEW_MITO_MAX_PERCENT,
        f"{few:.0f} % of the kept cells hold fewer than {FEW_MITO_COUNT} mitochondria on "
        f"less than {100 * FEW_MITO_FRACTION:g} % of their area: if that is more than half, the "
        "mitochondria segmentation probably failed; check the mito channel and the [mito] "
        "settings against the overlay.", image_id))
    if np.isfinite(row["mito_object_px"]):
        limit = MIN_OBJECT_PX[row["ndim"]]
        results.append(_result(
            "undersampled_objects", row["mito_object_px"] < limit, row["mito_object_px"],
            limit, f"The median mitochondrion covers {row['mito_object_px']:.1f} pixels: "
            "objects at the pixel scale are under-sampled, so counts and sizes are unreliable;"
            " image with smaller pixels or report total size only.", image_id))
    voxel = row["voxel_size_um"]
    if len(voxel):
        results.append(_result(
            "coarse_sampling", too_coarse_to_count(voxel), voxel[-1], MAX_COUNT_PIXEL_UM,
            f"Voxel size {tuple(round(v, 4) for v in voxel)} µm: above "
            f"{MAX_COUNT_PIXEL_UM} µm pixels or {MAX_COUNT_Z_STEP_UM} µm z steps mitochondria "
            "counts are counts of resolvable objects; prefer total size as the endpoint.",
            image_id))
    for check, column in (("nuclei_outside_cells", "nuclei_in_cell_percent"),
                          ("cells_not_one_nucleus", "cells_one_nucleus_percent")):
        value = row[column]
        if np.isfinite(value):
            what = ("of the nuclei lie inside a cell" if check == "nuclei_outside_cells"
                    else "of the cells hold exactly one nucleus (cells cut by the image "
                    "edge with no nucleus in view not counted)")
            results.append(_result(
                check, value < MIN_AGREEMENT_PERCENT, value, MIN_AGREEMENT_PERCENT,
                f"{value:.0f} % {what}: below {MIN_AGREEMENT_PERCENT:g} % cells or nuclei are "
                "mis-segmented; check --cell-diameter, --nucleus-diameter and the overlay.",
                image_id))
    mended = row.get("cells_grown_or_divided_percent", np.nan)
    if np.isfinite(mended):
        results.append(_result(
            "cell_model_off", mended > MAX_GROWN_OR_DIVIDED_PERCENT, mended,
            MAX_GROWN_OR_DIVIDED_PERCENT,
            f"{mended:.0f} % of the cells had to be grown from a nucleus the cell model left "
            "out or divided from a model cell with several nuclei: the cell model does not fit "
            "these cells; check --cell-diameter on the overlay, or use --cell-method nuclei.",
            image_id))
    for check, column, given, flag in (
            ("cell_size_off", "cell_diameter_um", params.cell_diameter_um, "--cell-diameter"),
            ("nucleus_size_off", "nucleus_diameter_um", params.nucleus_diameter_um,
             "--nucleus-diameter")):
        found = row[column]
        if np.isfinite(found) and isinstance(given, (int, float)) and given > 0:
            off = not given / SIZE_FACTOR <= found <= given * SIZE_FACTOR
            results.append(_result(
                check, off, found, given,
                f"Median diameter {found:.1f} µm found for {given:g} µm given: more than "
                f"{SIZE_FACTOR:g}× apart means a wrong voxel size or {flag}; set it to the "
                "size seen on the overlay.", image_id))
    saturated = row["saturated_percent"]
    if np.isfinite(saturated):
        results.append(_result(
            "saturation", saturated > MAX_SATURATED_PERCENT, saturated, MAX_SATURATED_PERCENT,
            f"{saturated:.1f} % of the cells have saturated nuclei (excluded from gating): "
            "above a few percent, lower the exposure or the Hoechst concentration.", image_id))
    return results


def _pooled_gates(gates: list) -> list:
    return [g for g in gates if g.method not in ("sheet", "manual")
            and "leave-out" not in g.gate_id and "cross-fit" not in g.gate_id]


def run_checks(cells: pd.DataFrame, wells: pd.DataFrame, gates: list,
               doublet_min_solidity: float = DOUBLET_MIN_SOLIDITY) -> list[CheckResult]:
    """The run-level checks.

    Control SP %, cells under each gate, sorted SP vs MP, and single-nucleus cells taken as
    doublets for their shape alone (below ``doublet_min_solidity``).
    """
    results = []
    if not wells.empty and {"role", "n_sp", "n_cells"} <= set(wells.columns):
        controls = wells[wells["role"] == "inhibitor_control"]
        if len(controls) and controls["n_cells"].sum() > 0:
            percent = 100 * controls["n_sp"].sum() / controls["n_cells"].sum()
            results.append(_result(
                "control_sp_high", percent > MAX_CONTROL_SP_PERCENT, percent,
                MAX_CONTROL_SP_PERCENT,
                f"The inhibitor controls hold {percent:.1f} % SP cells: above "
                f"{MAX_CONTROL_SP_PERCENT:g} % the efflux was not blocked or the gate is too "
                "high; check the inhibitor and the gating histogram."))
    for gate in _pooled_gates(gates):
        n = int(gate.n_reference_cells or 0)
        results.append(_result(
            "gate_few_cells", n < MIN_GATE_CELLS, n, MIN_GATE_CELLS,
            f"Gate {gate.gate_id} rests on {n} control cells: below {MIN_GATE_CELLS} its "
            "threshold is uncertain (see its CI); image more inhibitor-control fields."))
    shape_only = doublet_by_shape_percent(cells, doublet_min_solidity)
    if np.isfinite(shape_only):
        results.append(_result(
            "doublets_by_shape", shape_only > MAX_SHAPE_DOUBLET_PERCENT, shape_only,
            MAX_SHAPE_DOUBLET_PERCENT,
            f"{shape_only:.0f} % of the whole cells with one nucleus are excluded as doublets "
            f"only for a solidity below {doublet_min_solidity:g}: such cells are spread or "
            "irregular (adherent lines), not two cells; their nuclei already show doublets, so "
            "set doublet_min_solidity = 0 (--doublet-min-solidity 0, also with spmito report) "
            "after checking the overlays."))
    auc = sorted_auc(cells)
    if np.isfinite(auc):
        results.append(_result(
            "sorted_sp_not_dimmer", auc < MIN_SORTED_AUC, auc, MIN_SORTED_AUC,
            f"Per-cell AUC of sorted MP over sorted SP Hoechst is {auc:.2f}: below "
            f"{MIN_SORTED_AUC:g} the sorted SP cells are not clearly dimmer; check the sort "
            "purity and the sheet's population column."))
    return results


def doublet_by_shape_percent(cells: pd.DataFrame, min_solidity: float) -> float:
    """% of the whole single-nucleus cells less solid than ``min_solidity``.

    Whole: :func:`~spmito.measure.analysis.population.complete_cells`. These are the cells
    the doublet rule's shape test alone excludes; NaN without the columns, such cells, or a
    bar.
    """
    needed = {"n_nuclei", "cell_solidity", "touches_border"}
    if min_solidity <= 0 or not needed <= set(cells.columns):
        return float("nan")
    whole = complete_cells(cells)
    solidity = pd.to_numeric(cells.loc[whole, "cell_solidity"], errors="coerce").dropna()
    return 100 * float((solidity < min_solidity).mean()) if len(solidity) else float("nan")


def sorted_auc(cells: pd.DataFrame) -> float:
    """P(Hoechst of a sorted MP cell > that of a sorted SP cell) over kept cells; NaN if none."""
    column = "sheet_population" if "sheet_population" in cells else "population"
    value = "hoechst_x" if "hoechst_x" in cells else "hoechst_integrated"
    if column not in cells or value not in cells:
        return float("nan")
    kept = cells[~cells["excluded"].astype(bool)] if "excluded" in cells else cells
    sp = pd.to_numeric(kept.loc[kept[column] == "SP", value], errors="coerce").dropna()
    mp = pd.to_numeric(kept.loc[kept[column] == "MP", value], errors="coerce").dropna()
    if sp.empty or mp.empty:
        return float("nan")
    return float(mannwhitneyu(mp, sp).statistic / (len(mp) * len(sp)))


# ------------------------------------------------------------------------ write, read


def run_qc(out_dir: Path, image_ids: Iterable[str], cells: pd.DataFrame, mito: pd.DataFrame,
           wells: pd.DataFrame, gates: list, params: RunParams
           ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every check of a run; writes ``DIR/images.csv`` and ``DIR/qc.csv``.

    Returns
    -------
    images, qc : DataFrame
        The two tables as written.
    """
    images = image_table(out_dir, image_ids, cells, mito, params)
    results = [r for _, row in images.iterrows() for r in image_checks(row, params)]
    results += run_checks(cells, wells, gates, params.doublet_min_solidity)
    qc = pd.DataFrame([asdict(r) for r in results], columns=list(QC_COLUMNS))
    warned = qc[qc["severity"] != "ok"].groupby("image_id")["check"].agg(";".join)
    if images.empty:
        images = pd.DataFrame(columns=list(IMAGE_COLUMNS))
    images = images.assign(flags=images["image_id"].map(lambda i: warned.get(i, "")))
    images = images[list(IMAGE_COLUMNS)]
    write_table_csv(out_dir / "images.csv", images)
    with atomic_path(out_dir / "qc.csv") as tmp:
        qc[qc["severity"] != "ok"].to_csv(tmp, index=False)
    return images, qc


def read_qc(out_dir: str | Path) -> pd.DataFrame | None:
    """The failed checks of ``DIR/qc.csv``; None when no QC was run.

    No QC was run when the file is absent, or when no image finished (``images.csv`` has no
    row): an empty ``qc.csv`` then does not mean that every check passed.
    """
    path = Path(out_dir) / "qc.csv"
    images = Path(out_dir) / "images.csv"
    if not path.is_file() or (images.is_file() and pd.read_csv(images).empty):
        return None
    return pd.read_csv(path, dtype={"image_id": str, "severity": str}, keep_default_na=False,
                       na_values={"value": [""], "expected": [""]})


def qc_summary_lines(qc: pd.DataFrame | None, max_lines: int = 12) -> list[str]:
    """The end-of-run summary: the number of failed checks, then one line per check.

    ``qc`` holds check results (only failed ones, as in ``qc.csv``, or all of them); None
    means no QC was run. Checks that fail on many images are folded into one line naming
    how many.
    """
    if qc is None:
        return ["QC: no check was run (no image finished)"]
    failed = qc[qc["severity"] != "ok"]
    if failed.empty:
        return ["QC: every plausibility check passed (qc.csv)"]
    lines = [f"QC: {len(failed)} plausibility check(s) failed (qc.csv, report.html)"]
    for check, rows in failed.groupby("check", sort=False):
        where = ("run" if rows["image_id"].iloc[0] == "" else
                 f"{len(rows)} image(s): {', '.join(rows['image_id'].head(3))}"
                 f"{' …' if len(rows) > 3 else ''}")
        lines.append(f"  {rows['severity'].iloc[0]} {check} [{where}]: {rows['message'].iloc[0]}")
    return lines[:max_lines]
