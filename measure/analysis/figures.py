"""Report figures: gating histogram, SuperPlots, per-well SP %, ECDFs (domain.md §4).

Every function takes tables and returns a :class:`matplotlib.figure.Figure` drawn on its own
Agg canvas: pyplot is never imported, so no global figure state is created or leaked, and
figures render without a display. :func:`save_figure` writes one as PNG.
"""

from __future__ import annotations

from collections.abc import Sequence
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
