"""What ``report.html`` says: headline numbers, interpretation, QC, methods, provenance.

Rendering is :mod:`spmito.imaging.report`; the numbers come from the batch tables.
"""

from __future__ import annotations

import html
import json
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from spmito.imaging.outputs import done_records
from spmito.imaging.params import AUTO, RunParams
from spmito.imaging.provenance import now_iso, package_versions
from spmito.imaging.qc import QC_COLUMNS
from spmito.imaging.report import Card, Section, format_value, gallery_html, write_report
from spmito.measure.analysis.population import exclusion_reason_counts
from spmito.measure.analysis.stats import wilson_interval

_PITFALLS = (
    "SP cells pump out MitoTracker Green, JC-1 and TMRM: use TOM20 immunofluorescence, or "
    "load such dyes with the efflux inhibitor present.",
    "Calcein is a P-gp substrate: do not use it as a cell marker here.",
    "Hoechst photoconverts into green/red under UV: image the mitochondria channel first.",
)


def _fmt(value: float, digits: int = 3) -> str:
    return format_value(None if value is None or pd.isna(value) else float(value), digits)


def _primary_rows(stats: pd.DataFrame) -> pd.DataFrame:
    if stats.empty or "analysis" not in stats:
        return stats
    return stats[stats["analysis"].astype(str).str.contains("t-test", na=False)]


def _test_wells(wells: pd.DataFrame) -> pd.DataFrame:
    if wells.empty or "sp_percent" not in wells:
        return wells.iloc[:0]
    return wells[wells.get("role", pd.Series("test", index=wells.index)) == "test"]


def headline_cards(cells: pd.DataFrame, wells: pd.DataFrame, stats: pd.DataFrame,
                   gates: list, qc: pd.DataFrame, n_images: int, n_failed: int) -> list[Card]:
    """The answer first: SP %, ΔSP %, the primary SP-vs-MP endpoint, QC, cells analysed."""
    cards = []
    test = _test_wells(wells)
    if len(test) and test["n_cells"].sum() > 0:
        k, n = int(test["n_sp"].sum()), int(test["n_cells"].sum())
        low, high = wilson_interval(k, n)
        cards.append(Card("SP % of test wells", f"{_fmt(100 * k / n)} %",
                          f"95 % CI {_fmt(100 * low)}–{_fmt(100 * high)} %, {k} of {n} cells "
                          f"pooled over {len(test)} wells (range "
                          f"{_fmt(test['sp_percent'].min())}–{_fmt(test['sp_percent'].max())} %)"))
        delta = test["delta_sp_percent"].dropna()
        cards.append(Card("ΔSP % vs inhibitor control", f"{_fmt(delta.mean())} points"
                          if len(delta) else "–",
                          f"mean of {len(delta)} test wells (range {_fmt(delta.min())} to "
                          f"{_fmt(delta.max())}); per-well Newcombe CIs in the SP % table"
                          if len(delta) else "no linked inhibitor-control wells"))
    elif any(g.method == "sheet" for g in gates):
        cards.append(Card("SP / MP", "sorted", "populations from the sample sheet"))
    else:
        cards.append(Card("SP %", "–", "no gate: see Quality control"))
    primary = _primary_rows(stats)
    primary = primary[primary.get("endpoint_role", pd.Series("primary", index=primary.index))
                      == "primary"] if len(primary) else primary
    if len(primary):
        row = primary.iloc[0]
        n = 0 if pd.isna(row["n_replicates"]) else int(row["n_replicates"])
        cards.append(Card(f"SP vs MP: {row['endpoint']}", f"{_fmt(row['fold_change'])}×",
                          f"95 % CI {_fmt(row['ci_low'])}–{_fmt(row['ci_high'])}, "
                          f"p = {_fmt(row['p_value'])}, n = {n} replicates (primary endpoint)"))
    else:
        cards.append(Card("SP vs MP", "–", "no replicate with both populations"))
    warned = qc[qc["severity"] != "ok"] if len(qc) else qc
    cards.append(Card("Quality control",
                      f'<a href="#qc">{len(warned)} warning{"s" if len(warned) != 1 else ""}'
                      "</a>" if len(warned) else "passed",
                      html.escape(", ".join(dict.fromkeys(warned["check"]))) if len(warned)
                      else f"all {len(qc)} checks", "warn" if len(warned) else "ok"))
    excluded = cells["excluded"].astype(bool).sum() if "excluded" in cells else 0
    cards.append(Card("Analysed", f"{len(cells)} cells",
                      f"{n_images} images ({n_failed} failed); "
                      f"{int(len(cells) - excluded)} cells kept after QC"))
    return cards


def _secondary_line(row: pd.Series) -> str:
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


#: Columns of the per-image gallery table (images.csv), after the thumbnail.
GALLERY_COLUMNS = {"image_id": "image", "role": "role", "n_cells": "cells",
                   "nuclei_in_cell_percent": "nuclei in a cell %",
                   "cells_one_nucleus_percent": "cells with one nucleus %",
                   "median_mito_count": "mitochondria per cell (median)",
                   "median_mito_fraction": "mito fraction of cell (median)",
                   "excluded_percent": "excluded %", "flags": "flags"}


def qc_section(cells: pd.DataFrame, qc: pd.DataFrame, notes: list[str]) -> Section:
    """The warned checks first (what to do), then notes, exclusions and flags."""
    section = Section("Quality control", anchor="qc")
    warned = qc[qc["severity"] != "ok"] if len(qc) else qc
    if len(qc):
        section.paragraphs.append(
            f"{len(warned)} of {len(qc)} plausibility checks warn (qc.csv; the per-image "
            "flags are in the gallery below)." if len(warned) else
            f"All {len(qc)} plausibility checks passed (qc.csv).")
    if len(warned):
        shown = warned[["image_id", "check", "severity", "value", "expected", "message"]].replace(
            {"image_id": {"": "(run)"}})
        section.blocks.append(_message_table(shown))
    if notes:
        section.blocks.append("<h3>Notes from the run</h3><ul class='notes'>" + "".join(
            f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>")
    if "exclude_reason" in cells:
        section.details.append(("Excluded cells by reason (a cell may have several)",
                                exclusion_reason_counts(cells).reset_index()))
    flags = [c for c in ("touches_border", "z_clipped", "saturated") if c in cells]
    if flags:
        section.details.append(("Cell QC flags", pd.DataFrame(
            {"flag": flags, "cells": [int(cells[f].astype(bool).sum()) for f in flags]})))
    if len(qc):
        section.details.append(("Every check", qc.drop(columns="message")))
    return section


def _message_table(warned: pd.DataFrame) -> str:
    """Warned checks with their whole message (the one table whose texts wrap)."""
    rows = "".join(
        f"<tr><td class=text>{html.escape(str(r.image_id))}</td><td class=text>"
        f"{html.escape(str(r.check))} ({html.escape(str(r.severity))})</td>"
        f"<td>{_fmt(r.value)}</td><td>{_fmt(r.expected)}</td>"
        f"<td class=text style='white-space: normal; min-width: 24em'>"
        f"{html.escape(str(r.message))}</td></tr>" for r in warned.itertuples())
    return ("<div class='scroll tall'><table><thead><tr><th class=text>image</th>"
            "<th class=text>check</th><th>value</th><th>expected</th><th class=text>what it "
            f"means, what to do</th></tr></thead><tbody>{rows}</tbody></table></div>")


def methods_text(params: RunParams, provenance: dict, gates: list) -> str:
    """A methods paragraph generated from the parameters actually used."""
    versions = package_versions()
    mito = asdict(params.mito_params)
    mito_text = ", ".join(f"{k} = {v}" for k, v in mito.items())
    model = provenance.get("model", params.model)
    sha = str(provenance.get("model_sha256", ""))[:12]
    backend = provenance.get("backend", "cellpose")
    methods = sorted({g.method for g in gates})
    calls = (f"cells were called SP by the {', '.join(methods)} gate" if methods
             else "no gate called SP cells in this run")
    return (
        f"Images were analysed with spmito {versions.get('spmito')} (Python "
        f"{versions.get('python')}). Cells were segmented with {html.escape(str(backend))} "
        f"(cellpose {versions.get('cellpose')}, model {html.escape(str(model))}"
        f"{f', sha256 {sha}…' if sha else ''}) on the cell channel with Hoechst as the nuclear "
        f"channel, at a cell diameter of {params.cell_diameter_um} µm; 3-D stacks by "
        f"{'stitching 2-D masks' if params.mode_3d == 'stitch' else 'Cellpose do_3D'}. "
        f"Nuclei were segmented from the Hoechst channel ({_nucleus_diameter_text(params)}"
        ") and matched to cells by overlap; cells without or with several nuclei were "
        f"flagged, not removed. {_doublet_rule_text(params.doublet_min_solidity)} "
        "Mitochondria were segmented with: "
        f"{html.escape(mito_text)}. Per-cell metrics were measured in the whole cell (2-D) or "
        "the cell minus its nucleus (3-D); counts are connected components (8-connectivity in "
        "2-D, 26 in 3-D) above the minimum size. Integrated nuclear Hoechst was corrected by "
        f"the median of non-cell pixels in a {params.annulus_um[0]}–{params.annulus_um[1]} µm "
        "annulus and normalised as log2(I / m_ref) with m_ref the G0/G1 mode of the inhibitor "
        f"controls of the same plate; {calls} "
        f"(α = {params.alpha}); gates were never set on the wells they report "
        "(leave-one-well-out for controls). SP % per well has a Wilson 95 % CI and ΔSP % a "
        "Newcombe hybrid-score CI. SP and MP were compared per biological replicate: "
        "d = log2(median SP / median MP), a one-sample t-test of d against 0, fold change "
        "2^mean(d) with its 95 % CI; the primary endpoint is total mitochondrial size per cell, "
        "secondary endpoints are Holm-adjusted. With 3 replicates a Wilcoxon signed-rank test "
        "cannot reach p < 0.05, which is why the t-test on log ratios is used.")


def _nucleus_diameter_text(params: RunParams) -> str:
    """The nucleus diameter as the methods paragraph states it."""
    if params.nucleus_diameter_um == AUTO:
        return "diameter estimated per image from an Otsu mask of the Hoechst channel"
    return f"diameter {params.nucleus_diameter_um} µm"


def _doublet_rule_text(min_solidity: float) -> str:
    """The doublet rule as it was applied, for the methods paragraph."""
    rule = "more than one nucleus or over twice the median cell size"
    if min_solidity > 0:
        return (f"Cells with {rule}, or less solid than {min_solidity:g} (size over convex "
                "hull), were excluded from gating as doublets.")
    return (f"Cells with {rule} were excluded from gating as doublets; the solidity test was "
            "off (spread cells).")


def _split_constant(table: pd.DataFrame, keep: tuple[str, ...] = ()
                    ) -> tuple[pd.DataFrame, str]:
    """Columns with one value in every row move to a caption line (narrower tables)."""
    if len(table) < 2:
        return table, ""
    constant = [c for c in table.columns if c not in keep
                and table[c].astype(str).nunique(dropna=False) == 1]
    caption = "; ".join(f"{c} = {_cell_text(table[c].iloc[0])}" for c in constant)
    return table.drop(columns=constant), caption


def _cell_text(value) -> str:
    return "–" if value is None or (not isinstance(value, str) and pd.isna(value)) \
        else str(value)


def _stats_table(stats: pd.DataFrame) -> pd.DataFrame:
    """The replicate-level tests with short columns; methods and notes go to Methods."""
    columns = [c for c in ("endpoint", "endpoint_role", "cell_line", "condition", "fold_change",
                           "ci_low", "ci_high", "p_value", "p_adjusted", "n_replicates",
                           "n_cells_sp", "n_cells_mp") if c in stats]
    return _primary_rows(stats)[columns]


def _statistics_notes(stats: pd.DataFrame) -> list[str]:
    texts = [stats[c].dropna().astype(str) for c in ("method", "note") if c in stats]
    return list(dict.fromkeys(t for column in texts for t in column if t))


def build_report(out_dir: Path, params: RunParams, cells: pd.DataFrame, wells: pd.DataFrame,
                 stats: pd.DataFrame, replicates: pd.DataFrame, gates: list,
                 figures: list[tuple[Path, str]], failures: pd.DataFrame, notes: list[str],
                 images: pd.DataFrame | None = None, qc: pd.DataFrame | None = None) -> None:
    """Assemble and write ``DIR/report.html``.

    Sections: quality control, SP gating, SP % per well, SP vs MP, images (gallery),
    failed images, methods, provenance; the headline cards come first.
    """
    images = pd.DataFrame(columns=list(GALLERY_COLUMNS)) if images is None else images
    qc = pd.DataFrame(columns=list(QC_COLUMNS)) if qc is None else qc
    run = json.loads((out_dir / "run.json").read_text()) if (out_dir / "run.json").is_file() \
        else {}
    done = list(done_records(out_dir).values())
    provenance = next((d.get("provenance", {}) for d in done if d.get("provenance")), {})
    n_images = cells["image_id"].nunique() if "image_id" in cells else 0
    by_name = {Path(p).name: (p, c) for p, c in figures}

    def pick(prefix: str) -> list[tuple[Path, str]]:
        return [v for k, v in by_name.items() if k.startswith(prefix)]

    gating = Section("SP gating", figures=pick("gating"), anchor="gating",
                     tables=[("Gates", pd.DataFrame([{
                         "gate_id": g.gate_id, "method": g.method, "threshold_x": g.threshold_x,
                         "n_control_cells": g.n_reference_cells,
                         "set_on": ", ".join(map(str, g.reference_wells)),
                         "applied_to": ", ".join(map(str, g.applies_to))} for g in gates]))])
    gating.warnings += list(dict.fromkeys(w for g in gates for w in g.warnings))
    well_table, well_constant = _split_constant(wells, keep=("well_id",))
    well_section = Section("SP % per well", figures=pick("wells"), anchor="sp",
                           tables=[(f"All wells: {well_constant}" if well_constant else "",
                                    well_table)])
    stats_table, stats_constant = _split_constant(_stats_table(stats), keep=("endpoint",))
    compare = Section("SP vs MP", anchor="sp-vs-mp",
                      tables=[("Replicate-level tests" + (f" ({stats_constant})"
                                                         if stats_constant else ""),
                               stats_table)],
                      figures=pick("superplot") + pick("ecdf"),
                      details=[("Replicate medians", replicates)])
    gallery = Section("Images", anchor="images", blocks=[gallery_html(
        images, out_dir, {c: label for c, label in GALLERY_COLUMNS.items() if c in images})],
        paragraphs=[
        "Overlays: composite with cells (yellow) and nuclei (cyan); mitochondria found "
        "(magenta); a full-resolution detail; then each channel with its outlines. 3-D "
        "stacks: maximum projection above, middle plane below. All numbers in images.csv."])
    statistics = _statistics_notes(stats)
    methods = Section("Methods", anchor="methods",
                      paragraphs=[methods_text(params, provenance, gates)],
                      blocks=["<h3>Statistical notes</h3><ul class='notes'>" + "".join(
                          f"<li>{html.escape(t)}</li>" for t in statistics) + "</ul>"]
                      if statistics else [], warnings=list(_PITFALLS))
    sections = [
        qc_section(cells, qc, notes), gating, well_section, compare, gallery,
        Section("Failed images", tables=[("", failures)], anchor="failed") if len(failures)
        else None,
        methods,
        Section("Provenance", anchor="provenance", details=[("Software", pd.DataFrame(
            sorted(run.get("software", package_versions()).items()),
            columns=["package", "version"])), ("Parameters (µm)", pd.DataFrame(
                [(k, json.dumps(v)) for k, v in params.to_dict().items()],
                columns=["parameter", "value"]))]),
    ]
    write_report(out_dir / "report.html", "spmito report",
                 headline_cards(cells, wells, stats, gates, qc, n_images, len(failures)),
                 [s for s in sections if s is not None],
                 lead=html.escape(interpretation(stats)),
                 footer=f"Written {now_iso()} from {out_dir.resolve()}; tables: cells.csv, "
                 "wells.csv, replicates.csv, stats.csv, gating.json, images.csv, qc.csv.")
