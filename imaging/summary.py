"""The batch-level steps, from the per-image outputs on disk.

``spmito run`` calls :func:`summarise` after the images; ``spmito report DIR`` calls it
again, so corrections made in napari (cell labels, class and exclusion overrides, a manual
gate; :mod:`spmito.imaging.corrections`) are taken up: an image whose labels were edited is
re-measured first. Steps: all cells with sample-sheet columns -> exclusions, Hoechst
normalisation and SP/MP calls -> per-well SP %, replicate medians, SP-vs-MP statistics ->
figures -> ``report.html``.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import replace
from pathlib import Path

import pandas as pd

from spmito.imaging.atomic import atomic_path, write_text_atomic
from spmito.imaging.corrections import (
    corrected_images,
    read_manual_gate,
    read_overrides,
)
from spmito.imaging.errors import SpmitoInputError
from spmito.imaging.outputs import (
    finished_images,
    read_done,
    read_image_table,
    read_input_stack,
    read_label_images,
    write_image_tables,
    write_label_image,
    write_parquet,
    write_table_csv,
)
from spmito.imaging.params import RunParams, checked_doublet_min_solidity, read_run_params
from spmito.imaging.pipeline import measure_labels
from spmito.imaging.provenance import now_iso
from spmito.imaging.qc import run_qc
from spmito.imaging.report_content import build_report
from spmito.measure.analysis import figures
from spmito.measure.analysis.population import (
    Gate,
    GatingError,
    assign_populations,
    exclusion_reason_counts,
    flag_exclusions,
)
from spmito.measure.analysis.stats import (
    STATS_COLUMNS,
    WELL_COLUMNS,
    compare_populations,
    primary_endpoint,
    replicate_table,
    well_table,
)

#: Column order of DIR/cells.csv (contract.md); sheet columns and extras follow.
CELLS_CSV_ORDER = [
    "image_id", "cell_id", "nucleus_id", "n_nuclei", "centroid_z", "centroid_y", "centroid_x",
    "cell_area_um2", "cell_volume_um3", "nucleus_area_um2", "nucleus_volume_um3",
    "hoechst_integrated", "hoechst_x", "population", "population_source", "sp_probability",
    "excluded", "exclude_reason", "mito_count", "mito_area_um2", "mito_volume_um3",
    "mito_fraction", "mito_mean_size", "fragmentation_index", "mito_skeleton_length_um",
    "mito_branches", "mito_junctions", "mito_endpoints", "mito_networks", "mito_individuals",
    "mito_intensity_integrated", "mito_intensity_mean", "touches_border", "z_clipped",
    "saturated",
]
#: Sheet columns that describe files, not the biology; not copied into cell tables.
_FILE_COLUMNS = ("path", "cells_mask")


# ------------------------------------------------------------------------ collecting


def _sheet(out_dir: Path) -> pd.DataFrame:
    path = out_dir / "sheet.csv"
    if not path.is_file():
        raise SpmitoInputError(out_dir, "no sheet.csv: this is not an output folder of "
                               "spmito run", "Give the folder that spmito run --out wrote.")
    return pd.read_csv(path, dtype={"well": str, "plate": str})


def remeasure_corrected(out_dir: Path, params: RunParams) -> list[str]:
    """Re-measure every image whose cell labels were edited since the batch wrote them.

    Returns
    -------
    list of str
        The image ids re-measured.
    """
    edited = corrected_images(out_dir)
    for image_id in edited:
        stack = read_input_stack(read_done(out_dir, image_id)["input"], params)
        labels = read_label_images(out_dir, image_id)
        cell_table, mito_table, pieces = measure_labels(stack, labels["cells"],
                                                        labels["nuclei"], labels["mito"], params)
        # mito.csv ids are the pieces' labels: keep the label image in step with the table
        write_label_image(out_dir, image_id, "mito", pieces, stack.voxel_size_um)
        write_image_tables(out_dir, image_id, cell_table, mito_table)
    return edited


def collect_tables(out_dir: Path, sheet: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All per-image cell and mitochondrion tables of finished images, with sheet columns.

    The sheet columns (all but file paths) are joined on ``image_id``.
    """
    cell_tables, mito_tables = [], []
    for image_id in finished_images(out_dir, sheet["image_id"].astype(str)):
        cell_tables.append(read_image_table(out_dir, image_id, "cells"))
        mito_tables.append(read_image_table(out_dir, image_id, "mito"))
    if not cell_tables:
        return pd.DataFrame(columns=["image_id", "cell_id"]), pd.DataFrame(
            columns=["image_id", "mito_id"])
    cells = pd.concat(cell_tables, ignore_index=True)
    mito = pd.concat(mito_tables, ignore_index=True)
    described = sheet.drop(columns=[c for c in _FILE_COLUMNS if c in sheet.columns])
    described = described.assign(image_id=described["image_id"].astype(str))
    cells = cells.merge(described, on="image_id", how="left", suffixes=("", "_sheet"))
    return cells, mito


# -------------------------------------------------------------------------- gating


def _manual_gate(out_dir: Path, params: RunParams, gate_file: str | None):
    """The manual gate to apply, or None.

    In this order: the ``--gate-file`` flag of this call, the gate saved in napari
    (``DIR/manual_gate.json``), the ``gate_file`` the run recorded.
    """
    if gate_file:
        return Gate.load(gate_file)
    stored = read_manual_gate(out_dir)
    if stored is not None and params.gate in (None, "manual"):
        return Gate.from_dict(stored)
    return Gate.load(params.gate_file) if params.gate_file else None


def call_populations(cells: pd.DataFrame, out_dir: Path, params: RunParams,
                     gate_file: str | None, notes: list[str]):
    """Exclusions, normalisation and SP/MP calls with napari overrides applied.

    Returns the classified table and the gates; on a gating refusal (e.g. fewer than 200
    control cells) the cells keep their exclusions but no population, and the reason, with
    the count of cells each exclusion took, goes into ``notes``.
    """
    overrides = read_overrides(out_dir)
    population = {(str(r.image_id), int(r.cell_id)): r.population_override
                  for r in overrides.itertuples() if r.population_override in ("SP", "MP")}
    gate = _manual_gate(out_dir, params, gate_file)
    method = "manual" if gate is not None else (params.gate or "auto")
    try:
        classified, gates = assign_populations(
            cells, method=method, gate=gate, alpha=params.alpha, overrides=population,
            doublet_min_solidity=params.doublet_min_solidity)
    except GatingError as error:
        flagged = flag_exclusions(cells, require_hoechst=method != "sheet",
                                  doublet_min_solidity=params.doublet_min_solidity)
        notes.append(f"no SP/MP calls by a gate: {error}; {exclusion_counts(flagged)}")
        return _apply_exclusion_overrides(_manual_calls_only(flagged, population),
                                          overrides), []
    return _apply_exclusion_overrides(classified, overrides), gates


def exclusion_counts(cells: pd.DataFrame) -> str:
    """How many cells each exclusion took, e.g. ``"25 of 27 cells excluded (doublet 15, ...)"``.

    A cell with several reasons counts under each.
    """
    listed = ", ".join(f"{code} {n}" for code, n in exclusion_reason_counts(cells).items())
    excluded = int(cells["excluded"].astype(bool).sum())
    return f"{excluded} of {len(cells)} cells excluded" + (f" ({listed})" if listed else "")


def _manual_calls_only(cells: pd.DataFrame, population: dict) -> pd.DataFrame:
    """Without a gate, only the cells classified by hand in napari have a population.

    The gate's other columns stay empty, so cells.csv keeps the contract's header.
    """
    key = list(zip(cells["image_id"].astype(str), cells["cell_id"].astype(int)))
    calls = pd.Series([population.get(k, pd.NA) for k in key], index=cells.index, dtype=object)
    return cells.assign(population=calls,
                        population_source=calls.where(calls.isna(), "manual"),
                        hoechst_x=float("nan"), sp_probability=float("nan"))


def _apply_exclusion_overrides(cells: pd.DataFrame, overrides: pd.DataFrame) -> pd.DataFrame:
    """Manual exclude/include from napari; the code ``manual`` marks a manual exclusion.

    Manual exclusions act on SP % and statistics; the gate stays set on automatic QC.
    """
    chosen = overrides[overrides["excluded_override"].isin([True, False])]
    if chosen.empty:
        return cells
    cells = cells.copy()
    key = cells["image_id"].astype(str) + "#" + cells["cell_id"].astype(str)
    decision = dict(zip(chosen["image_id"].astype(str) + "#" + chosen["cell_id"].astype(str),
                        chosen["excluded_override"]))
    picked = key.map(decision)
    exclude = picked.eq(True)
    include = picked.eq(False)
    cells.loc[exclude, "excluded"] = True
    cells.loc[exclude, "exclude_reason"] = cells.loc[exclude, "exclude_reason"].fillna("") \
        .map(lambda r: ";".join(filter(None, [r, "manual"])))
    cells.loc[include, "excluded"] = False
    cells.loc[include, "exclude_reason"] = ""
    return cells


# --------------------------------------------------------------------------- writing


def _ordered_cells(cells: pd.DataFrame) -> pd.DataFrame:
    first = [c for c in CELLS_CSV_ORDER if c in cells.columns]
    return cells[first + [c for c in cells.columns if c not in first]]


def write_batch_tables(out_dir: Path, cells: pd.DataFrame, mito: pd.DataFrame,
                       wells: pd.DataFrame, replicates: pd.DataFrame, stats: pd.DataFrame,
                       gates: list) -> None:
    """Write the batch tables.

    DIR/cells.csv (+ .parquet), mito.parquet, wells.csv, replicates.csv, stats.csv and
    gating.json.
    """
    cells = _ordered_cells(cells).sort_values(["image_id", "cell_id"], ignore_index=True)
    write_table_csv(out_dir / "cells.csv", cells)
    write_parquet(out_dir / "cells.parquet", cells)
    write_parquet(out_dir / "mito.parquet", mito)
    write_table_csv(out_dir / "wells.csv", wells)
    write_table_csv(out_dir / "replicates.csv", replicates)
    write_table_csv(out_dir / "stats.csv", stats)
    write_text_atomic(out_dir / "gating.json",
                      json.dumps([g.to_dict() for g in gates], indent=2, default=str) + "\n")


def _save_figure(figure, path: Path) -> Path:
    with atomic_path(path) as tmp:
        figures.save_figure(figure, tmp)
    return path


def make_figures(out_dir: Path, cells: pd.DataFrame, wells: pd.DataFrame, stats: pd.DataFrame,
                 gates: list) -> list[tuple[Path, str]]:
    """Gating histograms, per-well SP %, SuperPlots and ECDFs as PNGs in DIR/figures."""
    folder = out_dir / "figures"
    made: list[tuple[Path, str]] = []
    pooled = [g for g in gates if g.method != "sheet" and g.applies_to
              and "leave-out" not in g.gate_id and "cross-fit" not in g.gate_id]
    for index, gate in enumerate(pooled[:6]):
        group = ", ".join(map(str, gate.group.values())) or "all cells"
        made.append((_save_figure(figures.gating_histogram(cells, gate),
                                  folder / f"gating_{index}.png"),
                     f"Hoechst gate ({gate.method}) of {group}: test wells over controls"))
    if not wells.empty and "sp_percent" in wells:
        made.append((_save_figure(figures.well_sp_plot(wells), folder / "wells_sp.png"),
                     "SP % per well with Wilson 95 % CI; ΔSP % of test wells (Newcombe CI)"))
    if "population" in cells and cells["population"].isin(["SP", "MP"]).any():
        endpoints = [primary_endpoint(cells), "mito_count", "fragmentation_index"]
        for endpoint in dict.fromkeys(e for e in endpoints if e in cells):
            made.append((_save_figure(figures.superplot(cells, endpoint, stats=stats),
                                      folder / f"superplot_{endpoint}.png"),
                         f"SuperPlot of {endpoint}: cells as dots, replicate medians joined"))
        made.append((_save_figure(figures.ecdf_plot(cells, primary_endpoint(cells)),
                                  folder / "ecdf.png"),
                     "ECDF of the primary endpoint, SP vs MP per replicate"))
    return made


# ---------------------------------------------------------------------- the summary


def summarise(out_dir: str | Path, params: RunParams | None = None,
              gate_file: str | None = None) -> list[str]:
    """Run the batch-level steps on DIR and write tables, figures and ``report.html``.

    Parameters
    ----------
    out_dir : path-like
        An output folder of ``spmito run``.
    params : RunParams, optional
        Run parameters (default: those recorded in ``DIR/run.json``).
    gate_file : str, optional
        A manual gate to apply (``--gate-file``); wins over the gate saved in napari, which
        wins over the ``gate_file`` recorded in ``run.json``.

    Returns
    -------
    list of str
        Notes for the user (the report holds them too).
    """
    out_dir = Path(out_dir)
    params = params or read_run_params(out_dir)
    sheet = _sheet(out_dir)
    notes: list[str] = []
    edited = remeasure_corrected(out_dir, params)
    if edited:
        notes.append(f"re-measured {len(edited)} image(s) with corrected cells: "
                     f"{', '.join(edited)}")
    cells, mito = collect_tables(out_dir, sheet)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # without a gate the tables are written empty, with the contract's header
        wells = pd.DataFrame(columns=WELL_COLUMNS)
        replicates = pd.DataFrame(columns=["replicate", "population", "n_cells"])
        stats = pd.DataFrame(columns=STATS_COLUMNS)
        if cells.empty:
            notes.append("no image finished: nothing to summarise")
            classified, gates = cells, []
        else:
            classified, gates = call_populations(cells, out_dir, params, gate_file, notes)
        if gates:
            wells = well_table(classified, gates)
            try:
                replicates = replicate_table(classified)
                stats = compare_populations(classified)
            except ValueError as error:  # e.g. 2-D and 3-D images mixed in one batch
                notes.append(f"no SP-vs-MP statistics: {error}")
    notes += list(dict.fromkeys(str(w.message) for w in caught
                                if not issubclass(w.category, DeprecationWarning)))
    write_batch_tables(out_dir, classified, mito, wells, replicates, stats, gates)
    figure_files = (make_figures(out_dir, classified, wells, stats, gates)
                    if len(classified) else [])
    images, qc = run_qc(out_dir, finished_images(out_dir, sheet["image_id"].astype(str)),
                        classified, mito, wells,
                        gates, params)
    failures = pd.read_csv(out_dir / "failures.csv") if (out_dir / "failures.csv").is_file() \
        else pd.DataFrame()
    build_report(out_dir, params, classified, wells, stats, replicates, gates, figure_files,
                 failures, notes, images=images, qc=qc)
    return notes


def report_command(out_dir: str, gate: str | None = None, gate_file: str | None = None,
                   doublet_min_solidity: float | None = None) -> int:
    """``spmito report DIR``: redo the batch-level steps; prints where the report is.

    ``gate`` and ``doublet_min_solidity`` replace the values the run recorded.
    """
    folder = Path(out_dir)
    changes = {}
    if gate:
        changes["gate"] = gate
    if doublet_min_solidity is not None:
        changes["doublet_min_solidity"] = checked_doublet_min_solidity(doublet_min_solidity)
    if gate_file:
        changes["gate_file"] = str(Path(gate_file).resolve())
    params = replace(read_run_params(folder), **changes)
    notes = summarise(folder, params, gate_file=gate_file)
    if changes:
        record_report_settings(folder, changes)
    for note in notes:
        print(f"  {note}")
    print(f"report: {folder / 'report.html'}")
    return 0


def record_report_settings(out_dir: Path, changes: dict) -> None:
    """Write batch-level settings a report was redone with into ``DIR/run.json``.

    They replace the recorded ``parameters_um`` values (so the tables and ``run.json`` agree,
    and a later ``spmito report DIR`` keeps them), and ``report_settings`` lists each change
    with its time. None of them is part of the analysis hash, so resuming is unaffected.
    """
    path = out_dir / "run.json"
    if not path.is_file():
        return
    run = json.loads(path.read_text(encoding="utf-8"))
    run.setdefault("parameters_um", {}).update(changes)
    run.setdefault("report_settings", []).append({"at": now_iso(), **changes})
    write_text_atomic(path, json.dumps(run, indent=2, default=str) + "\n")
