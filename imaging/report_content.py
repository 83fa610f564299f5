"""What ``report.html`` says: headline numbers, interpretation, QC, methods, provenance.

Rendering is :mod:`imaging.report`; the numbers come from the batch tables.
"""

from __future__ import annotations

import html
import json
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from imaging.params import RunParams
from imaging.provenance import now_iso, package_versions
from imaging.report import Section, write_report

#: Pixel size and z step above which "count" means resolvable objects (domain.md §3).
MAX_COUNT_PIXEL_UM = 0.13
MAX_COUNT_Z_STEP_UM = 0.3

_PITFALLS = (
    "SP cells pump out MitoTracker Green, JC-1 and TMRM: use TOM20 immunofluorescence, or "
    "load such dyes with the efflux inhibitor present.",
    "Calcein is a P-gp substrate: do not use it as a cell marker here.",
    "Hoechst photoconverts into green/red under UV: image the mitochondria channel first.",
)


def _fmt(value: float, digits: int = 3) -> str:
    return "–" if value is None or pd.isna(value) else f"{value:.{digits}g}"


def _primary_rows(stats: pd.DataFrame) -> pd.DataFrame:
    if stats.empty or "analysis" not in stats:
        return stats
    return stats[stats["analysis"].astype(str).str.contains("t-test", na=False)]


def headline(cells: pd.DataFrame, wells: pd.DataFrame, stats: pd.DataFrame, gates: list,
             n_images: int, n_failed: int) -> list[str]:
    """The few numbers a reader needs first, as HTML list items."""
    excluded = cells["excluded"].astype(bool) if "excluded" in cells else pd.Series(False)
    items = [f"{n_images} image(s) analysed, {n_failed} failed; {len(cells)} cells, "
             f"{int(len(cells) - excluded.sum())} kept after QC."]
    pooled = [g for g in gates if g.method != "sheet" and "leave-out" not in g.gate_id
              and "cross-fit" not in g.gate_id]
    for gate in pooled[:4]:
        threshold = (f"threshold hoechst_x < {_fmt(gate.threshold_x)}"
                     if gate.threshold_x is not None else "model-based")
        ci = (f" (95 % CI {_fmt(gate.threshold_ci[0])} to {_fmt(gate.threshold_ci[1])})"
              if gate.threshold_ci else "")
        items.append(f"Gate <b>{html.escape(gate.method)}</b>: {threshold}{ci}, set on "
                     f"{gate.n_reference_cells} control cells.")
    if any(g.method == "sheet" for g in gates):
        items.append("Populations from the sample sheet (sorted SP and MP images).")
    if not wells.empty and "sp_percent" in wells:
        test = wells[wells.get("role", pd.Series("test", index=wells.index)) == "test"]
        if not test.empty:
            items.append(
                f"Test wells: SP {_fmt(test['sp_percent'].mean())} % on average "
                f"(range {_fmt(test['sp_percent'].min())}–{_fmt(test['sp_percent'].max())} %);"
                f" ΔSP vs inhibitor control {_fmt(test['delta_sp_percent'].mean())} "
                "percentage points on average.")
    for _, row in _primary_rows(stats).head(4).iterrows():
        items.append(_comparison_item(row))
    return items


def _comparison_item(row: pd.Series) -> str:
    """One SP-vs-MP line: endpoint, fold change with CI, p (Holm), replicates."""
    holm = "" if pd.isna(row.get("p_adjusted")) else f" (Holm {_fmt(row['p_adjusted'])})"
    n = 0 if pd.isna(row["n_replicates"]) else int(row["n_replicates"])
    role = html.escape(str(row.get("endpoint_role", "")))
    return (f"{html.escape(str(row['endpoint']))} ({role}), SP vs MP: fold change "
            f"<b>{_fmt(row['fold_change'])}</b> (95 % CI {_fmt(row['ci_low'])}–"
            f"{_fmt(row['ci_high'])}), p = {_fmt(row['p_value'])}{holm}, n = {n} replicates.")


def interpretation(stats: pd.DataFrame) -> str:
    """Domain.md §3's reading of count, size and fragmentation fold changes."""
    rows = _primary_rows(stats)
    if rows.empty:
        return "No SP-vs-MP comparison could be made (no replicate with both populations)."

    def direction(endpoint_prefix: str) -> int:
        match = rows[rows["endpoint"].astype(str).str.startswith(endpoint_prefix)]
        if match.empty:
            return 0
        row = match.iloc[0]
        if row["ci_low"] > 1:
            return 1
        if row["ci_high"] < 1:
            return -1
        return 0

    count, size = direction("mito_count"), direction("mito_area") or direction("mito_volume")
    fragmentation = direction("fragmentation_index")
    if count > 0 and size > 0:
        reading = "more mitochondrial mass in SP cells (count and total size both higher)"
    elif count > 0 and size == 0 and fragmentation > 0:
        reading = "fission in SP cells (more, smaller objects at unchanged mass)"
    elif size > 0 and count == 0:
        reading = "larger or fused mitochondria in SP cells (size up, count unchanged)"
    elif count == 0 and size == 0:
        reading = "no SP-vs-MP difference in count or total size at these replicates"
    else:
        reading = "a pattern not covered by the standard readings; look at the SuperPlots"
    return (f"Reading (95 % CIs of replicate-level fold changes): {reading}. Cell-level "
            "p-values are descriptive; the biological replicate is the unit of inference.")


def qc_section(cells: pd.DataFrame, params: RunParams, voxel_sizes: list[tuple]) -> Section:
    """Exclusions by reason, QC flags, and acquisition warnings."""
    section = Section("Quality control")
    if "exclude_reason" in cells:
        reasons = cells["exclude_reason"].fillna("").astype(str).str.split(";").explode()
        counts = reasons[reasons != ""].value_counts().rename_axis("reason").reset_index()
        section.tables.append(("Excluded cells by reason (a cell may have several)", counts))
    flags = [c for c in ("touches_border", "z_clipped", "saturated") if c in cells]
    if flags:
        section.tables.append(("QC flags", pd.DataFrame(
            {"flag": flags, "cells": [int(cells[f].astype(bool).sum()) for f in flags]})))
    for voxel in voxel_sizes:
        if voxel[-1] > MAX_COUNT_PIXEL_UM or (len(voxel) == 3 and voxel[0] > MAX_COUNT_Z_STEP_UM):
            section.warnings.append(
                f"Voxel size {voxel} µm: above {MAX_COUNT_PIXEL_UM} µm pixels or "
                f"{MAX_COUNT_Z_STEP_UM} µm z steps, mitochondria counts are counts of "
                "resolvable objects, not of mitochondria. Prefer total size as the endpoint.")
    section.warnings += list(_PITFALLS)
    return section


def methods_text(params: RunParams, provenance: dict, gates: list) -> str:
    """A methods paragraph generated from the parameters actually used."""
    from segment.mito import MitoParams

    versions = package_versions()
    mito = asdict(MitoParams(**params.mito))
    mito_text = ", ".join(f"{k} = {v}" for k, v in mito.items())
    model = provenance.get("model", params.model)
    sha = str(provenance.get("model_sha256", ""))[:12]
    backend = provenance.get("backend", "cellpose")
    methods = sorted({g.method for g in gates}) or ["none"]
    return (
        f"Images were analysed with spmito {versions.get('spmito')} (Python "
        f"{versions.get('python')}). Cells were segmented with {html.escape(str(backend))} "
        f"(cellpose {versions.get('cellpose')}, model {html.escape(str(model))}"
        f"{f', sha256 {sha}…' if sha else ''}) on the cell channel with Hoechst as the nuclear "
        f"channel, at a cell diameter of {params.cell_diameter_um} µm; 3-D stacks by "
        f"{'stitching 2-D masks' if params.mode_3d == 'stitch' else 'Cellpose do_3D'}. "
        f"Nuclei were segmented from the Hoechst channel (diameter {params.nucleus_diameter_um}"
        " µm) and matched to cells by overlap; cells without or with several nuclei were "
        "flagged, not removed. Mitochondria were segmented with: "
        f"{html.escape(mito_text)}. Per-cell metrics were measured in the whole cell (2-D) or "
        "the cell minus its nucleus (3-D); counts are connected components (8-connectivity in "
        "2-D, 26 in 3-D) above the minimum size. Integrated nuclear Hoechst was corrected by "
        f"the median of non-cell pixels in a {params.annulus_um[0]}–{params.annulus_um[1]} µm "
        "annulus and normalised as log2(I / m_ref) with m_ref the G0/G1 mode of the inhibitor "
        f"controls of the same plate; cells were called SP by the {', '.join(methods)} gate "
        f"(α = {params.alpha}); gates were never set on the wells they report "
        "(leave-one-well-out for controls). SP % per well has a Wilson 95 % CI and ΔSP % a "
        "Newcombe hybrid-score CI. SP and MP were compared per biological replicate: "
        "d = log2(median SP / median MP), a one-sample t-test of d against 0, fold change "
        "2^mean(d) with its 95 % CI; the primary endpoint is total mitochondrial size per cell, "
        "secondary endpoints are Holm-adjusted. With 3 replicates a Wilcoxon signed-rank test "
        "cannot reach p < 0.05, which is why the t-test on log ratios is used.")


def build_report(out_dir: Path, params: RunParams, cells: pd.DataFrame, wells: pd.DataFrame,
                 stats: pd.DataFrame, replicates: pd.DataFrame, gates: list,
                 figures: list[tuple[Path, str]], failures: pd.DataFrame, notes: list[str]
                 ) -> None:
    """Assemble and write ``DIR/report.html``."""
    run = json.loads((out_dir / "run.json").read_text()) if (out_dir / "run.json").is_file() \
        else {}
    done = [json.loads(p.read_text()) for p in sorted((out_dir / "images").glob("*/done.json"))]
    provenance = next((d.get("provenance", {}) for d in done if d.get("provenance")), {})
    voxel_sizes = sorted({tuple(d["provenance"]["voxel_size_um"]) for d in done
                          if "voxel_size_um" in d.get("provenance", {})})
    n_images = cells["image_id"].nunique() if "image_id" in cells else 0
    by_name = {Path(p).name: (p, c) for p, c in figures}

    def pick(prefix: str) -> list[tuple[Path, str]]:
        return [v for k, v in by_name.items() if k.startswith(prefix)]

    gating = Section("SP gating", figures=pick("gating"),
                     tables=[("Gates", pd.DataFrame([{
                         "gate_id": g.gate_id, "method": g.method, "threshold_x": g.threshold_x,
                         "n_control_cells": g.n_reference_cells,
                         "set_on": ", ".join(map(str, g.reference_wells)),
                         "applied_to": ", ".join(map(str, g.applies_to))} for g in gates]))])
    gating.warnings += [w for g in gates for w in g.warnings]
    well_section = Section("SP % per well", figures=pick("wells"), tables=[("", wells)])
    compare = Section("SP vs MP mitochondria", paragraphs=[html.escape(interpretation(stats))],
                      figures=pick("superplot") + pick("ecdf"),
                      tables=[("Replicate-level tests", _primary_rows(stats)),
                              ("Replicate medians", replicates)])
    sections = [
        Section("Notes", warnings=notes) if notes else None,
        gating, well_section, compare, qc_section(cells, params, voxel_sizes),
        Section("Failed images", tables=[("", failures)]),
        Section("Methods", paragraphs=[methods_text(params, provenance, gates)]),
        Section("Provenance", tables=[("Software", pd.DataFrame(
            sorted(run.get("software", package_versions()).items()),
            columns=["package", "version"])), ("Parameters (µm)", pd.DataFrame(
                [(k, json.dumps(v)) for k, v in params.to_dict().items()],
                columns=["parameter", "value"]))]),
    ]
    write_report(out_dir / "report.html", "spmito report",
                 headline(cells, wells, stats, gates, n_images, len(failures)),
                 [s for s in sections if s is not None],
                 footer=f"Written {now_iso()} from {out_dir.resolve()}; tables: cells.csv, "
                 "wells.csv, replicates.csv, stats.csv, gating.json.")
