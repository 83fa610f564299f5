"""Report figures: gating histogram, SuperPlots, per-well SP %, ECDFs (domain.md §4).

Every function takes tables and returns a :class:`matplotlib.figure.Figure` drawn on its own
Agg canvas: pyplot is never imported, so no global figure state is created or leaked, and
figures render without a display. :func:`save_figure` writes one as PNG.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from spmito.measure.analysis.columns import is_control, present, well_labels
from spmito.measure.analysis.population import Gate, mixture_density
from spmito.measure.analysis.stats import DEFAULT_STRATA, TTEST, analysis_cells, wilson_interval

#: Okabe-Ito colours (colour-blind safe), cycled over replicates.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
           "#000000")
MARKERS = ("o", "s", "D", "^", "v", "P", "X", "*")
TEST_COLOUR, CONTROL_COLOUR, GATE_COLOUR = "#0072B2", "#7f7f7f", "#D55E00"
ENDPOINT_LABELS = {
    "mito_area_um2": "total mitochondrial area per cell (µm²)",
    "mito_volume_um3": "total mitochondrial volume per cell (µm³)",
    "mito_count": "mitochondria per cell (objects)",
    "mito_fraction": "mitochondrial fraction of cell",
    "mito_mean_size": "mean mitochondrion size",
    "fragmentation_index": "fragmentation index (count / total size)",
    "mito_skeleton_length_um": "mitochondrial skeleton length per cell (µm)",
    "mito_branches": "skeleton branches per cell",
    "mito_junctions": "skeleton junctions per cell",
    "mito_endpoints": "skeleton end points per cell",
    "mito_networks": "networks per cell",
    "mito_individuals": "individual mitochondria per cell",
    "mito_intensity_integrated": "integrated mitochondrial intensity per cell",
    "mito_intensity_mean": "mean mitochondrial intensity",
    "hoechst_x": "normalised Hoechst, log2(I / G1 mode)",
}


def endpoint_label(endpoint: str) -> str:
    """Axis label of an endpoint (its column name when none is known)."""
    return ENDPOINT_LABELS.get(endpoint, endpoint)


def new_figure(width_in: float, height_in: float) -> Figure:
    """A figure with constrained layout on its own Agg canvas (no pyplot)."""
    figure = Figure(figsize=(width_in, height_in), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def save_figure(figure: Figure, path: str | PathLike, dpi: int = 150) -> Path:
    """Write ``figure`` as PNG to ``path`` (folders created) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=dpi, format="png", facecolor="white")
    return path


def _percent_text(k: int, n: int) -> str:
    if n == 0:
        return "no cells"
    low, high = wilson_interval(k, n)
    return f"SP {100 * k / n:.2f} % (95 % CI {100 * low:.2f}-{100 * high:.2f})"


# --------------------------------------------------------------------------------------
# Gating histogram
# --------------------------------------------------------------------------------------


def gating_histogram(cells: pd.DataFrame, gate: Gate, *, n_bins: int = 120,
                     log_density: bool = True) -> Figure:
    """Histogram of ``hoechst_x``: the gate's test wells over its controls, gate drawn.

    Parameters
    ----------
    cells : pandas.DataFrame
        Output of :func:`spmito.measure.analysis.population.assign_populations`.
    gate : Gate
        A pooled gate; its ``group`` selects the cells (QC-passed only), ``applies_to`` the
        test wells; the group's inhibitor-control cells are overlaid.
    n_bins : int
        Histogram bins.
    log_density : bool
        Log y axis, so that a 1-5 % SP tail is visible beside the G1 peak.

    Returns
    -------
    Figure
    """
    data = cells[~cells["excluded"].astype(bool)]
    for column, value in gate.group.items():
        data = data[data[column] == value]
    wells = well_labels(data)
    test = data[wells.isin(gate.applies_to).to_numpy() & ~is_control(data)]
    control = data[is_control(data)]
    x_all = pd.concat([test["hoechst_x"], control["hoechst_x"]]).dropna().to_numpy()
    figure = new_figure(7.0, 5.0)
    ax = figure.add_subplot()
    if x_all.size == 0:
        ax.text(0.5, 0.5, "no QC-passed cells", ha="center", transform=ax.transAxes)
        return figure
    low, high = np.percentile(x_all, [0.1, 99.9])
    if gate.threshold_x is not None:
        low = min(low, gate.threshold_x - 0.5)
    bins = np.linspace(low - 0.1, high + 0.1, n_bins + 1)
    for frame, colour, name, filled in ((test, TEST_COLOUR, "test", True),
                                        (control, CONTROL_COLOUR, "inhibitor control", False)):
        x = frame["hoechst_x"].dropna()
        if x.empty:
            continue
        n_sp = int((frame.loc[x.index, "population"] == "SP").sum())
        label = f"{name} (n = {x.size}): {_percent_text(n_sp, x.size)}"
        if gate.method == "mixture":
            label += ", cells with P(SP) > 0.5"
        ax.hist(x, bins=bins, density=True, histtype="stepfilled" if filled else "step",
                color=colour, alpha=0.45 if filled else 1.0, linewidth=1.4, label=label)
    called_sp = test.loc[test["population"] == "SP", "hoechst_x"].dropna()
    ax.hist(called_sp, bins=bins, density=False, histtype="step", color=GATE_COLOUR,
            linewidth=1.0, weights=np.full(called_sp.size, 1 / max(len(test), 1)
                                           / np.diff(bins)[0]),
            label="test cells called SP (share of test density)")
    _draw_gate(ax, gate, bins)
    if log_density:
        ax.set_yscale("log")
        ax.set_ylim(bottom=max(0.5 / max(x_all.size * np.diff(bins)[0], 1e-12), 1e-4))
    ax.set_xlabel(endpoint_label("hoechst_x"))
    ax.set_ylabel("density" + (" (log scale)" if log_density else ""))
    group = ", ".join(f"{k} {v}" for k, v in gate.group.items()) or "all cells"
    two_channel = " in (hoechst_x, hoechst_red_x)" if gate.needs_red else ""
    ax.set_title(f"{group} — {gate.method} gate{two_channel}", loc="left", fontsize=11)
    figure.legend(loc="outside lower center", ncols=2, fontsize=8, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return figure


def _draw_gate(ax, gate: Gate, bins: np.ndarray) -> None:
    if gate.threshold_x is not None:
        if gate.threshold_ci:
            ax.axvspan(*gate.threshold_ci, color=GATE_COLOUR, alpha=0.15, linewidth=0,
                       label="gate 95 % CI")
        ax.axvline(gate.threshold_x, color=GATE_COLOUR, linewidth=1.6,
                   label=f"gate t = {gate.threshold_x:.3f} (SP when x < t)")
        ax.text(gate.threshold_x, 0.98, "SP ← ", ha="right", va="top", color=GATE_COLOUR,
                fontsize=9, transform=ax.get_xaxis_transform())
    elif gate.method == "mixture":
        centres = (bins[:-1] + bins[1:]) / 2
        ax.plot(centres, mixture_density(gate.params, centres), color=CONTROL_COLOUR,
                linestyle="--", linewidth=1.2,
                label=f"frozen control mixture (k = {gate.params['n_components']})")
        ax.axvline(gate.params["sp_mean_max"], color=GATE_COLOUR, linestyle=":",
                   label="upper bound of the SP component mean")


# --------------------------------------------------------------------------------------
# SuperPlot and ECDF
# --------------------------------------------------------------------------------------


def _strata(data: pd.DataFrame, strata: Sequence[str]) -> list[tuple[str, pd.DataFrame]]:
    keys = present(data, strata)
    if not keys:
        return [("", data)]
    return [(", ".join(map(str, key if isinstance(key, tuple) else (key,))), block)
            for key, block in data.groupby(keys, sort=True)]


def _replicate_styles(replicates) -> dict:
    return {r: (PALETTE[i % len(PALETTE)], MARKERS[i % len(MARKERS)])
            for i, r in enumerate(sorted(replicates, key=str))}


def _panels_per_stratum(cells: pd.DataFrame, strata: Sequence[str], panel_width_in: float,
                        margin_in: float, height_in: float):
    """One figure with an axes per stratum, for the analysed cells.

    Returns ``(panels, styles, figure, axes)``: (title, cells) per stratum, a style per
    replicate, the figure and its axes.
    """
    data = analysis_cells(cells)
    panels = _strata(data, strata)
    styles = _replicate_styles(data["replicate"].unique())
    figure = new_figure(panel_width_in * len(panels) + margin_in, height_in)
    return panels, styles, figure, figure.subplots(1, len(panels), squeeze=False)[0]


def superplot(cells: pd.DataFrame, endpoint: str, *, stats: pd.DataFrame | None = None,
              strata: Sequence[str] = DEFAULT_STRATA, max_dots: int = 400,
              seed: int = 0) -> Figure:
    """SuperPlot of an endpoint: cells as dots, replicate medians joined SP to MP.

    Parameters
    ----------
    cells : pandas.DataFrame
        Output of :func:`spmito.measure.analysis.population.assign_populations`
        (QC-passed test cells are drawn).
    endpoint : str
        Column to plot.
    stats : pandas.DataFrame, optional
        :func:`spmito.measure.analysis.stats.compare_populations` output; its t-test row is quoted.
    strata : sequence of str
        One panel per stratum.
    max_dots : int
        Cells drawn per replicate and population (a random subset; medians use all cells).
    seed : int
        Seed of the subset and the jitter.

    Returns
    -------
    Figure
    """
    panels, styles, figure, axes = _panels_per_stratum(cells, strata, 3.6, 1.2, 4.6)
    rng = np.random.default_rng(seed)
    for ax, (title, block) in zip(axes, panels, strict=True):
        _draw_superplot_panel(ax, block, endpoint, styles, max_dots, rng)
        ax.set_title(_panel_title(title, endpoint, stats, block), fontsize=9, loc="left")
    axes[0].set_ylabel(endpoint_label(endpoint))
    handles = [Line2D([], [], color=c, marker=m, linestyle="-", markeredgecolor="black",
                      markersize=8, label=f"replicate {r}") for r, (c, m) in styles.items()]
    figure.legend(handles=handles, loc="outside right upper", fontsize=8, frameon=False)
    return figure


def _draw_superplot_panel(ax, block, endpoint, styles, max_dots, rng) -> None:
    positions = {"MP": 0.0, "SP": 1.0}
    medians = {}
    for (replicate, population), cells in block.groupby(["replicate", "population"]):
        colour, marker = styles[replicate]
        values = cells[endpoint].dropna().to_numpy(float)
        shown = values if values.size <= max_dots else rng.choice(values, max_dots,
                                                                  replace=False)
        jitter = rng.uniform(-0.28, 0.28, shown.size)
        ax.scatter(positions[population] + jitter, shown, s=5, color=colour, alpha=0.3,
                   linewidths=0, rasterized=True)
        medians[replicate, population] = np.median(values) if values.size else np.nan
    for replicate, (colour, marker) in styles.items():
        ys = [medians.get((replicate, p), np.nan) for p in ("MP", "SP")]
        ax.plot([0, 1], ys, color=colour, linewidth=1.6, zorder=3)
        ax.scatter([0, 1], ys, s=90, color=colour, marker=marker, edgecolors="black",
                   linewidths=1.0, zorder=4)
    values = block[endpoint].dropna()
    if values.size and values.min() >= 0:
        ax.set_ylim(0, np.percentile(values, 99.5) * 1.08)
    ax.set_xticks([0, 1], ["MP", "SP"])
    ax.set_xlim(-0.6, 1.6)
    ax.spines[["top", "right"]].set_visible(False)


def _panel_title(stratum: str, endpoint: str, stats: pd.DataFrame | None,
                 block: pd.DataFrame) -> str:
    lines = [stratum] if stratum else []
    if stats is not None and not stats.empty:
        rows = stats[(stats["endpoint"] == endpoint) & (stats["analysis"] == TTEST)]
        for column in present(rows, DEFAULT_STRATA):
            rows = rows[rows[column] == block[column].iloc[0]]
        if len(rows):
            row = rows.iloc[0]
            lines.append(f"SP/MP {row['fold_change']:.2f} (95 % CI {row['ci_low']:.2f}-"
                         f"{row['ci_high']:.2f})")
            lines.append(f"p = {row['p_value']:.3g}, n = {row['n_replicates']} replicates")
    return "\n".join(lines)


def ecdf_plot(cells: pd.DataFrame, endpoint: str, *,
              strata: Sequence[str] = DEFAULT_STRATA) -> Figure:
    """ECDFs of an endpoint, SP (solid) vs MP (dashed), one colour per replicate.

    Parameters
    ----------
    cells : pandas.DataFrame
        Output of :func:`spmito.measure.analysis.population.assign_populations`.
    endpoint : str
        Column to plot.
    strata : sequence of str
        One panel per stratum.

    Returns
    -------
    Figure
    """
    panels, styles, figure, axes = _panels_per_stratum(cells, strata, 4.2, 1.4, 4.0)
    for ax, (title, block) in zip(axes, panels, strict=True):
        for (replicate, population), group in block.groupby(["replicate", "population"]):
            ax.ecdf(group[endpoint].dropna(), color=styles[replicate][0],
                    linestyle="-" if population == "SP" else "--", linewidth=1.4)
        values = block[endpoint].dropna()
        if values.size:
            ax.set_xlim(np.percentile(values, 0.5), np.percentile(values, 99.5))
        ax.set_xlabel(endpoint_label(endpoint))
        ax.set_title(title, fontsize=9, loc="left")
        ax.spines[["top", "right"]].set_visible(False)
    axes[0].set_ylabel("cumulative fraction of cells")
    handles = [Line2D([], [], color="black", linestyle="-", label="SP"),
               Line2D([], [], color="black", linestyle="--", label="MP")]
    handles += [Line2D([], [], color=c, label=f"replicate {r}") for r, (c, _) in styles.items()]
    figure.legend(handles=handles, loc="outside right upper", fontsize=8, frameon=False)
    return figure


# --------------------------------------------------------------------------------------
# Per-well SP %
# --------------------------------------------------------------------------------------


def well_sp_plot(wells: pd.DataFrame, *, max_labels: int = 60) -> Figure:
    """SP % per well with its CI (top) and ΔSP % of test wells with its CI (bottom).

    Parameters
    ----------
    wells : pandas.DataFrame
        :func:`spmito.measure.analysis.stats.well_table` output.
    max_labels : int
        Well names are written under the axis up to this many wells.

    Returns
    -------
    Figure
    """
    order = [c for c in ("plate", "replicate", "role", "well_id") if c in wells.columns]
    wells = wells.sort_values(order).reset_index(drop=True)
    control = (wells["role"] != "test").to_numpy() if "role" in wells else np.zeros(
        len(wells), bool)
    figure = new_figure(min(3.0 + 0.22 * len(wells), 16.0), 6.0)
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=(1, 1))
    x = np.arange(len(wells))
    for mask, colour, name in ((~control, TEST_COLOUR, "test"),
                               (control, CONTROL_COLOUR, "inhibitor control")):
        rows = wells[mask]
        _error_dots(top, x[mask], rows["sp_percent"], rows["sp_ci_low"], rows["sp_ci_high"],
                    colour, name)
    _error_dots(bottom, x, wells["delta_sp_percent"], wells["delta_ci_low"],
                wells["delta_ci_high"], TEST_COLOUR, "test − linked control")
    bottom.axhline(0, color="black", linewidth=0.8)
    top.set_ylabel("SP % (95 % CI)")
    bottom.set_ylabel("ΔSP % (95 % CI)")
    low_n = wells.get("low_cell_count", pd.Series(False, index=wells.index)).to_numpy(bool)
    if low_n.any():
        top.scatter(x[low_n], wells.loc[low_n, "sp_ci_high"], marker="v", color=GATE_COLOUR,
                    s=18, label="< 1000 QC-passed cells")
    handles, labels = top.get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside upper center", ncols=3, fontsize=8,
                  frameon=False)
    if len(wells) <= max_labels:
        bottom.set_xticks(x, wells["well_id"], rotation=90, fontsize=7)
    else:
        bottom.set_xticks([])
        bottom.set_xlabel(f"{len(wells)} wells, ordered by {', '.join(order)}")
    for ax in (top, bottom):
        ax.spines[["top", "right"]].set_visible(False)
    return figure


def _error_dots(ax, x, centre, low, high, colour, label) -> None:
    centre, low, high = (np.asarray(v, float) for v in (centre, low, high))
    shown = np.isfinite(centre)
    ax.errorbar(x[shown], centre[shown],
                # a Wilson bound at k = 0 can sit 1e-15 above the estimate: clip at 0
                yerr=np.clip([centre[shown] - low[shown], high[shown] - centre[shown]], 0,
                             None), fmt="o",
                color=colour, markersize=4, elinewidth=1.0, capsize=2, label=label)


# --------------------------------------------------------------------------------------
# Per-image QC overlay (what was segmented, at a glance)
# --------------------------------------------------------------------------------------

#: Outline colours of the QC overlay (RGB): cells, nuclei, mitochondria.
CELL_RGB, NUCLEUS_RGB, MITO_RGB = (255, 221, 0), (0, 220, 255), (255, 0, 200)
#: Channel colours of the composite panel (RGB weights): hoechst, cell, mito.
_COMPOSITE_RGB = {"hoechst": (0.2, 0.35, 1.0), "cell": (0.0, 0.55, 0.0), "mito": (1.0, 0.0, 0.6)}


def overlay_mosaic(planes: Mapping[str, np.ndarray], cells: np.ndarray, nuclei: np.ndarray,
                   mito: np.ndarray, *, panel_px: int = 240) -> tuple[np.ndarray, list[str]]:
    """A QC mosaic of one field: what was segmented, side by side with the channels.

    Panels, left to right: a composite of the channels with cell (yellow) and nucleus (cyan)
    outlines; the mitochondria channel with the segmented mitochondria tinted magenta; a
    detail at full resolution (``panel_px`` pixels around the cell nearest the centre) with
    mitochondria and cell outlines; then each channel in grey with its own outlines. Fields
    are downsampled (block mean; labels by block maximum so that small objects stay visible)
    to at most ``panel_px`` on their long side. A 3-D field gives two rows: the maximum
    projection and the middle plane.

    Parameters
    ----------
    planes : mapping of str to ndarray
        Channel role (``hoechst``, ``cell``, ``mito``) to a ``(Y, X)`` or ``(Z, Y, X)`` array;
        missing roles are left out.
    cells, nuclei, mito : ndarray of int
        Label images on the same grid as the channels.
    panel_px : int
        Long side of each panel in pixels.

    Returns
    -------
    mosaic : ndarray of uint8
        ``(rows * panel_px', n_panels * panel_px', 3)`` RGB image.
    titles : list of str
        The panel titles, left to right (the same for every row).
    """
    if cells.ndim == 3:
        middle = cells.shape[0] // 2
        rows = [_overlay_row({k: v.max(axis=0) for k, v in planes.items()}, cells.max(axis=0),
                             nuclei.max(axis=0), mito.max(axis=0), panel_px),
                _overlay_row({k: v[middle] for k, v in planes.items()}, cells[middle],
                             nuclei[middle], mito[middle], panel_px)]
        width = max(r[0].shape[1] for r in rows)
        top, bottom = (np.pad(r[0], ((0, 0), (0, width - r[0].shape[1]), (0, 0)))
                       for r in rows)
        gap = np.zeros((4, width, 3), np.uint8)
        return np.concatenate([top, gap, bottom]), rows[0][1]
    return _overlay_row(planes, cells, nuclei, mito, panel_px)


def _overlay_row(planes, cells, nuclei, mito, panel_px) -> tuple[np.ndarray, list[str]]:
    from skimage.measure import block_reduce

    factor = max(1, int(np.ceil(max(cells.shape) / panel_px)))
    grey = {role: _normalise(block_reduce(np.asarray(p, np.float32), factor, np.mean))
            for role, p in planes.items()}
    small = {name: block_reduce(np.asarray(labels), factor, np.max)
             for name, labels in (("cells", cells), ("nuclei", nuclei), ("mito", mito))}
    panels, titles = [], []
    composite = sum(grey[role][..., None] * np.asarray(rgb, np.float32)
                    for role, rgb in _COMPOSITE_RGB.items() if role in grey)
    if isinstance(composite, np.ndarray):
        panels.append(_outlined(np.clip(composite, 0, 1), [(small["cells"], CELL_RGB),
                                                           (small["nuclei"], NUCLEUS_RGB)]))
        titles.append("composite, cells and nuclei")
    if "mito" in grey:
        panels.append(_tinted(grey["mito"], small["mito"] > 0, MITO_RGB))
        titles.append("mitochondria found")
        panels.append(_detail(planes["mito"], cells, mito, panel_px))
        titles.append(f"detail {panel_px} px")
    for role, labels, colour in (("hoechst", small["nuclei"], NUCLEUS_RGB),
                                 ("cell", small["cells"], CELL_RGB)):
        if role in grey:
            panels.append(_outlined(np.repeat(grey[role][..., None], 3, axis=2),
                                    [(labels, colour)]))
            titles.append(role)
    height = max(p.shape[0] for p in panels)
    padded = [np.pad(p, ((0, height - p.shape[0]), (0, 4), (0, 0))) for p in panels]
    return np.concatenate(padded, axis=1), titles


def _normalise(plane: np.ndarray) -> np.ndarray:
    """Grey values to 0–1 between the 1st and 99.8th percentile."""
    sample = plane[:: max(1, plane.shape[0] // 256), :: max(1, plane.shape[1] // 256)]
    low, high = np.percentile(sample, (1, 99.8))
    return np.clip((plane - low) / max(float(high - low), 1e-12), 0, 1).astype(np.float32)


def _outlined(rgb: np.ndarray, outlines: Sequence[tuple[np.ndarray, tuple]]) -> np.ndarray:
    from skimage.segmentation import find_boundaries

    out = (rgb * 255).astype(np.uint8)
    for labels, colour in outlines:
        out[find_boundaries(labels, mode="inner")] = colour
    return out


def _tinted(grey: np.ndarray, mask: np.ndarray, colour: tuple) -> np.ndarray:
    rgb = np.repeat(grey[..., None], 3, axis=2)
    rgb[mask] = 0.35 * rgb[mask] + 0.65 * np.asarray(colour, np.float32) / 255
    return (rgb * 255).astype(np.uint8)


def _detail(mito_plane: np.ndarray, cells: np.ndarray, mito: np.ndarray,
            size_px: int) -> np.ndarray:
    """A full-resolution crop of the mitochondria channel around the cell nearest the centre."""
    centre = np.asarray(cells.shape) / 2
    ys, xs = np.nonzero(cells)
    if ys.size:
        nearest = np.argmin((ys - centre[0]) ** 2 + (xs - centre[1]) ** 2)
        centre = np.asarray([ys[nearest], xs[nearest]], float)
    start = [int(np.clip(c - size_px / 2, 0, max(n - size_px, 0)))
             for c, n in zip(centre, cells.shape)]
    crop = tuple(slice(s, s + size_px) for s in start)
    grey = _normalise(np.asarray(mito_plane[crop], np.float32))
    return _outlined(np.repeat(grey[..., None], 3, axis=2),
                     [(cells[crop], CELL_RGB), (mito[crop], MITO_RGB)])


def save_rgb(rgb: np.ndarray, path: str | PathLike, max_bytes: int | None = None) -> Path:
    """Write an RGB uint8 array as JPEG (PNG when ``path`` ends in .png); returns the path.

    With ``max_bytes``, the JPEG quality is lowered (85 down to 45) and then the image
    shrunk by steps of 3/4 until the file fits: a cap on the size of a report that embeds
    one such image per field.
    """
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(np.ascontiguousarray(rgb))
    if path.suffix.lower() == ".png":
        image.save(path, format="png", optimize=True)
        return path
    while True:
        for quality in (85, 75, 65, 55, 45):
            buffer = io.BytesIO()
            image.save(buffer, format="jpeg", quality=quality, optimize=True)
            if max_bytes is None or buffer.tell() <= max_bytes or min(image.size) < 64:
                path.write_bytes(buffer.getvalue())
                return path
        image = image.resize((image.width * 3 // 4, image.height * 3 // 4),
                             Image.Resampling.LANCZOS)
