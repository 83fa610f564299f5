"""The batch entry point: exclusions, normalisation and SP/MP calls per group."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from spmito.measure.analysis.columns import (
    group_label,
    is_control,
    present,
    well_labels,
)
from spmito.measure.analysis.population.common import (
    DEFAULT_EXCLUSION_GROUP_BY,
    DEFAULT_GROUP_BY,
    DOUBLET_MIN_SOLIDITY,
    METHODS,
    MIN_CONTROL_CELLS,
    MIN_CONTROL_CELLS_QUANTILE,
    MIN_EXPECTED_SP_CELLS,
    MIN_SORT_AUC,
    GatingError,
    GatingWarning,
)
from spmito.measure.analysis.population.exclusions import flag_exclusions
from spmito.measure.analysis.population.gate import Gate
from spmito.measure.analysis.population.mixture import fit_mixture_well
from spmito.measure.analysis.population.normalise import g1_mode_log2
from spmito.measure.analysis.population.thresholds import fit_gate


def assign_populations(
    cells: pd.DataFrame,
    method: str = "auto",
    gate: Gate | None = None,
    *,
    alpha: float = 0.01,
    overrides: Mapping[tuple[str, int], str] | None = None,
    group_by: Sequence[str] = DEFAULT_GROUP_BY,
    exclusion_group_by: Sequence[str] = DEFAULT_EXCLUSION_GROUP_BY,
    viability_threshold: float | None = None,
    doublet_min_solidity: float = DOUBLET_MIN_SOLIDITY,
    n_bootstrap: int = 200,
    seed: int = 0,
) -> tuple[pd.DataFrame, list[Gate]]:
    """Exclude, normalise and classify every cell of a batch as SP or MP.

    Parameters
    ----------
    cells : pandas.DataFrame
        Per-cell table of all images with sample-sheet columns. The sheet's ``population``
        (unsorted | SP | MP) is kept as ``sheet_population`` (an existing
        ``sheet_population`` column wins, so re-running on an output table is safe).
    method : str
        ``auto``: sorted images by the sheet; unsorted ones by ``control_quantile``
        (>= 1000 QC-passed control cells in the group) or ``control_robust`` (200-999);
        fewer raises :class:`GatingError`. ``control_quantile``, ``control_robust``,
        ``mixture``, ``dual_emission``: that gate for every cell. ``manual``: ``gate``
        applied unchanged. ``sheet``: the sheet's sorted populations (every image must be
        sorted).
    gate : Gate, optional
        The manual gate (``method="manual"``; a manual gate given with ``auto`` also
        selects ``manual``).
    alpha : float
        Fraction of control cells a control-based gate calls SP.
    overrides : mapping of (image_id, cell_id) to "SP" or "MP", optional
        Per-cell corrections (napari); so does a ``population_override`` column. They
        set ``population_source = "manual"``.
    group_by : sequence of str
        Columns whose groups get their own ``m_ref`` and gates.
    exclusion_group_by : sequence of str
        Columns whose groups get their own exclusion medians.
    viability_threshold, doublet_min_solidity : float, optional
        See :func:`flag_exclusions`.
    n_bootstrap : int
        Bootstrap resamples of the mixture's SP weight.
    seed : int
        Seed for the bootstrap and for random cross-fitting halves.

    Returns
    -------
    cells : pandas.DataFrame
        A copy with ``sheet_population, excluded, exclude_reason, hoechst_x``
        (``hoechst_red_x`` with a red channel), ``population`` (SP | MP), ``population_source``
        (gate | sheet | manual), ``sp_probability`` and ``gate_id``.
    gates : list of Gate
        Every gate used (pooled, leave-one-well-out and cross-fitted ones), with the wells
        each one set and classified.

    Raises
    ------
    GatingError
        Too few control cells, a missing gate or channel, or unsorted images with ``sheet``.
    """
    if gate is not None and method == "auto":
        method = "manual"
    if method not in METHODS:
        raise GatingError(f"unknown gating method {method!r}; expected one of "
                          f"{', '.join(METHODS)}")
    if method == "manual" and gate is None:
        raise GatingError("method 'manual' needs a gate: draw one in the napari SP gating "
                          "widget and pass its JSON file (--gate-file)")
    missing = [c for c in ("image_id", "cell_id", "hoechst_integrated") if c not in cells]
    if missing:
        raise GatingError(f"the per-cell table lacks columns {missing}; gating needs "
                          "image_id, cell_id and hoechst_integrated")
    out = cells.copy()
    out["sheet_population"] = _sheet_population(out)
    out = flag_exclusions(out, group_by=exclusion_group_by,
                          viability_threshold=viability_threshold,
                          require_hoechst=method != "sheet",
                          doublet_min_solidity=doublet_min_solidity)
    table = _Table.from_cells(out)
    rng = np.random.default_rng(seed)
    keys = present(out, group_by)
    groups = (out.groupby(keys, dropna=False, sort=True).indices if keys
              else {(): np.arange(len(out))})
    gates: list[Gate] = []
    for key, rows in groups.items():
        key = key if isinstance(key, tuple) else (key,)
        context = _GroupContext(dict(zip(keys, map(_plain_scalar, key), strict=True)),
                                group_label(key, keys), method, gate, alpha, n_bootstrap, rng)
        gates += _assign_group(table, np.asarray(rows), context)
    table.write(out)
    _apply_overrides(out, overrides)
    return out, gates


def _plain_scalar(value):
    return value.item() if isinstance(value, np.generic) else value


#: Hoechst channels: name -> (integrated column, normalised column).
CHANNELS = {"hoechst": ("hoechst_integrated", "hoechst_x"),
            "hoechst_red": ("hoechst_red_integrated", "hoechst_red_x")}


@dataclasses.dataclass
class _Table:
    """The columns gating reads and writes, as numpy arrays (cheap row subsets)."""

    image: np.ndarray
    well: np.ndarray
    control: np.ndarray
    sheet: np.ndarray
    kept: np.ndarray
    intensity: dict[str, np.ndarray]
    x: dict[str, np.ndarray]
    population: np.ndarray
    source: np.ndarray
    probability: np.ndarray
    gate_id: np.ndarray

    @classmethod
    def from_cells(cls, cells: pd.DataFrame) -> _Table:
        n = len(cells)
        intensity = {name: cells[column].to_numpy(float)
                     for name, (column, _) in CHANNELS.items() if column in cells.columns}
        return cls(image=cells["image_id"].to_numpy(object),
                   well=well_labels(cells).to_numpy(object),
                   control=is_control(cells), sheet=cells["sheet_population"].to_numpy(object),
                   kept=~cells["excluded"].to_numpy(bool), intensity=intensity,
                   x={name: np.full(n, np.nan) for name in intensity},
                   population=np.full(n, None, object), source=np.full(n, None, object),
                   probability=np.full(n, np.nan), gate_id=np.full(n, "", object))

    def write(self, cells: pd.DataFrame) -> None:
        for name, values in self.x.items():
            cells[CHANNELS[name][1]] = values
        cells["population"] = pd.Series(self.population, index=cells.index, dtype=object)
        cells["population_source"] = pd.Series(self.source, index=cells.index, dtype=object)
        cells["sp_probability"] = self.probability
        cells["gate_id"] = pd.Series(self.gate_id, index=cells.index, dtype=object)


@dataclasses.dataclass
class _GroupContext:
    group: dict
    label: str
    method: str
    manual_gate: Gate | None
    alpha: float
    n_bootstrap: int
    rng: np.random.Generator
    log2_reference: dict = dataclasses.field(default_factory=dict)


def _sheet_population(cells: pd.DataFrame) -> pd.Series:
    source = "sheet_population" if "sheet_population" in cells.columns else "population"
    if source not in cells.columns:
        return pd.Series("unsorted", index=cells.index, dtype=object)
    values = cells[source].astype(object).where(cells[source].notna(), "unsorted")
    values = values.replace({"": "unsorted"})
    unknown = sorted(set(values) - {"unsorted", "SP", "MP"})
    if unknown:
        raise GatingError(f"sample-sheet column {source!r} holds {unknown}; expected "
                          "unsorted, SP or MP")
    return values


def _assign_group(table: _Table, rows: np.ndarray, ctx: _GroupContext) -> list[Gate]:
    is_sorted = np.isin(table.sheet[rows], ["SP", "MP"])
    if ctx.method == "sheet" and not is_sorted.all():
        wells = sorted(set(table.well[rows[~is_sorted]]))
        raise GatingError(f"{ctx.label}: method 'sheet' needs the sample sheet's population "
                          f"to be SP or MP for every image; wells {wells[:5]} are unsorted. "
                          "Use --gate auto to gate them on Hoechst")
    _normalise_group(table, rows, ctx)
    by_sheet = ctx.method in ("sheet", "auto")
    gates = [_assign_sheet(table, rows[is_sorted], ctx)] if by_sheet and is_sorted.any() else []
    gated = rows[~is_sorted] if by_sheet else rows
    if gated.size == 0:
        return gates
    if ctx.method == "manual":
        return gates + [_apply_gate(table, gated, _with_context(ctx.manual_gate, ctx, "manual"),
                                    ctx)]
    return gates + _assign_by_controls(table, gated, ctx)


def _reference_rows(table: _Table, rows: np.ndarray, label: str) -> tuple[np.ndarray, str]:
    """Which rows of one group set ``m_ref``, and a word saying which kind they are."""
    kept = rows[table.kept[rows]]
    sheet = table.sheet[kept]
    controls = kept[table.control[kept] & (sheet == "unsorted")]
    if controls.size:
        return controls, "inhibitor-control"
    sorted_mp = kept[sheet == "MP"]
    if sorted_mp.size:
        return sorted_mp, "sorted-MP"
    _warn(None, f"{label}: no inhibitor-control or sorted-MP cells; hoechst_x is normalised "
                "on the G0/G1 peak of all its kept cells")
    return kept, "all"


def _normalise_group(table: _Table, rows: np.ndarray, ctx: _GroupContext) -> None:
    """hoechst_x = log2(I / m_ref) per channel; NaN where I <= 0."""
    reference, kind = _reference_rows(table, rows, ctx.label)
    ctx.log2_reference = {"reference_cells": kind}
    for name, intensity in table.intensity.items():
        with np.errstate(divide="ignore", invalid="ignore"):
            log2_intensity = np.where(intensity[rows] > 0, np.log2(intensity[rows]), np.nan)
            log2_reference = np.log2(intensity[reference])
        try:
            log2_ref = g1_mode_log2(log2_reference)
        except GatingError as error:
            raise GatingError(f"{ctx.label}: cannot normalise {CHANNELS[name][0]}: {error}. "
                              "Add inhibitor-control images for this plate and cell line"
                              ) from error
        table.x[name][rows] = log2_intensity - log2_ref
        ctx.log2_reference[name] = log2_ref


def _with_context(gate: Gate, ctx: _GroupContext, suffix: str) -> Gate:
    return dataclasses.replace(
        gate, group=dict(ctx.group), gate_id=f"{ctx.label}|{suffix}",
        reference_log2_intensity=dict(ctx.log2_reference),
        applies_to=[], well_estimates=[], warnings=list(gate.warnings))


def _assign_sheet(table: _Table, rows: np.ndarray, ctx: _GroupContext) -> Gate:
    table.population[rows] = table.sheet[rows]
    table.source[rows] = "sheet"
    gate = _with_context(Gate("sheet", ctx.alpha), ctx, "sheet")
    table.gate_id[rows] = gate.gate_id
    kept = rows[table.kept[rows]]
    intensity = table.intensity["hoechst"][kept]
    valid = np.isfinite(intensity)
    is_sp = table.sheet[kept] == "SP"
    sp, mp = intensity[valid & is_sp], intensity[valid & ~is_sp]
    auc = (stats.mannwhitneyu(mp, sp).statistic / (mp.size * sp.size)
           if sp.size and mp.size else np.nan)
    gate.params = {"residual_hoechst_auc": float(auc), "n_sp": int(sp.size),
                   "n_mp": int(mp.size)}
    gate.applies_to = gate.reference_wells = sorted(set(table.well[rows]))
    gate.n_reference_cells = int(sp.size + mp.size)
    if not auc >= MIN_SORT_AUC:
        _warn(gate, f"{ctx.label}: sorted SP vs MP residual Hoechst AUC is {auc:.2f} "
                    f"(< {MIN_SORT_AUC}); the sort may have failed or the populations "
                    "were swapped")
    return gate


def _warn(gate: Gate | None, message: str) -> None:
    if gate is not None:
        gate.warnings.append(message)
    warnings.warn(message, GatingWarning, stacklevel=3)


def _control_method(method: str, n_control: int, label: str) -> str:
    """The automatic method for ``n_control`` QC-passed control cells, or GatingError."""
    if n_control < MIN_CONTROL_CELLS:
        raise GatingError(
            f"{label}: {n_control} QC-passed inhibitor-control cells; automatic gating needs "
            f"at least {MIN_CONTROL_CELLS} (control_quantile >= "
            f"{MIN_CONTROL_CELLS_QUANTILE}, control_robust {MIN_CONTROL_CELLS}-"
            f"{MIN_CONTROL_CELLS_QUANTILE - 1}). A manual gate is required: draw one in the "
            "napari SP gating widget and run with --gate manual --gate-file gate.json")
    if method != "auto":
        return method
    return "control_quantile" if n_control >= MIN_CONTROL_CELLS_QUANTILE else "control_robust"


def _assign_by_controls(table: _Table, gated: np.ndarray, ctx: _GroupContext) -> list[Gate]:
    """Pooled controls gate the test wells; each control well is gated without itself."""
    control = table.control[gated]
    pool = control & table.kept[gated] & np.isfinite(table.x["hoechst"][gated])
    method = _control_method(ctx.method, int(pool.sum()), ctx.label)
    if method == "control_quantile" and pool.sum() < MIN_CONTROL_CELLS_QUANTILE:
        _warn(None, f"{ctx.label}: control_quantile with {pool.sum()} control cells; the "
                    f"{ctx.alpha}-quantile is imprecise below {MIN_CONTROL_CELLS_QUANTILE} "
                    "(control_robust is the default there)")
    wells = table.well[gated]
    gates = [_fit_and_apply(table, gated[~control], gated[pool], method, ctx, method)]
    for well in sorted(set(wells[control])):
        in_well = wells == well
        others = pool & ~in_well
        if others.any():
            gates.append(_fit_and_apply(table, gated[in_well], gated[others], method, ctx,
                                        f"{method}|leave-out {well}"))
            continue
        halves = _cross_fit_halves(table.image[gated[in_well]], ctx.rng)
        for half in (0, 1):
            target = gated[in_well][halves == half]
            reference = gated[in_well & pool][halves[pool[in_well]] != half]
            gates.append(_fit_and_apply(table, target, reference, method, ctx,
                                        f"{method}|cross-fit {well} half {half + 1}/2"))
    return [g for g in gates if g is not None]


def _cross_fit_halves(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Half (0 or 1) of each cell of one well: by image when it has two or more images."""
    names = sorted(set(images))
    if len(names) >= 2:
        half_of = {name: i % 2 for i, name in enumerate(names)}
        return np.array([half_of[name] for name in images])
    return rng.permutation(images.size) % 2


def _fit_and_apply(table: _Table, target: np.ndarray, reference: np.ndarray, method: str,
                   ctx: _GroupContext, suffix: str) -> Gate | None:
    if target.size == 0:
        return None
    if method == "dual_emission" and "hoechst_red" not in table.x:
        raise GatingError(f"{ctx.label}: the dual_emission gate needs a hoechst_red channel "
                          "(column hoechst_red_integrated); the table has none")
    if reference.size < MIN_CONTROL_CELLS:
        _warn(None, f"{ctx.label}: the {suffix} gate rests on {reference.size} control cells "
                    f"(< {MIN_CONTROL_CELLS})")
    red = table.x["hoechst_red"][reference] if method == "dual_emission" else None
    fitted = fit_gate(table.x["hoechst"][reference], method, alpha=ctx.alpha, red_x=red)
    gate = _with_context(fitted, ctx, suffix)
    gate.reference_wells = sorted(set(table.well[reference]))
    return _apply_gate(table, target, gate, ctx)


def _apply_gate(table: _Table, target: np.ndarray, gate: Gate, ctx: _GroupContext) -> Gate:
    """Classify the ``target`` rows with ``gate`` and record where it was applied."""
    x = table.x["hoechst"][target]
    red = table.x["hoechst_red"][target] if "hoechst_red" in table.x else None
    if gate.needs_red and red is None:
        raise GatingError(f"{ctx.label}: the {gate.method} gate needs hoechst_red_x; the "
                          "table has no hoechst_red_integrated column")
    if gate.method == "mixture":
        is_sp, probability = _apply_mixture(table, target, gate, ctx)
    else:
        is_sp, probability = gate.classify(x, red)
    classified = np.isfinite(x) & (np.isfinite(red) if gate.needs_red else True)
    table.population[target] = np.where(classified, np.where(is_sp, "SP", "MP"), None)
    table.source[target] = np.where(classified, "gate", None)
    table.probability[target] = probability
    table.gate_id[target] = gate.gate_id
    gate.applies_to = sorted(set(table.well[target]))
    return gate


def _apply_mixture(table: _Table, target: np.ndarray, gate: Gate, ctx: _GroupContext
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Fit each well's SP component on its kept cells; posterior for all of its cells."""
    x = table.x["hoechst"][target]
    fit_on = table.kept[target] & np.isfinite(x)
    wells = table.well[target]
    probability = np.full(target.size, np.nan)
    for well in sorted(set(wells)):
        in_well = wells == well
        fit = fit_mixture_well(gate, x[in_well & fit_on], n_bootstrap=ctx.n_bootstrap,
                               rng=ctx.rng)
        probability[in_well] = fit.probability(x[in_well])
        gate.well_estimates.append({
            "well": well, "n_cells": fit.n_cells, "sp_fraction": fit.sp_fraction,
            "ci_low": fit.ci_low, "ci_high": fit.ci_high, "bootstrap_sd": fit.bootstrap_sd,
            "sp_mean": fit.sp_mean, "sp_sd": fit.sp_sd})
        expected = fit.sp_fraction * fit.n_cells
        if not expected >= MIN_EXPECTED_SP_CELLS:
            _warn(gate, f"{ctx.label}, well {well}: about {expected:.0f} SP cells expected "
                        f"(< {MIN_EXPECTED_SP_CELLS}); the mixture SP fraction is unreliable")
    return probability > 0.5, probability


def _apply_overrides(out: pd.DataFrame, overrides) -> None:
    override = pd.Series(pd.NA, index=out.index, dtype=object)
    if "population_override" in out.columns:
        column = out["population_override"].astype(object)
        override = column.where(column.notna() & (column != ""), pd.NA)
    if overrides:
        keys = pd.MultiIndex.from_arrays([out["image_id"].astype(str),
                                          out["cell_id"].astype(int)])
        mapping = {(str(image), int(cell)): value for (image, cell), value in overrides.items()}
        mapped = pd.Series([mapping.get(key, pd.NA) for key in keys], index=out.index,
                           dtype=object)
        override = mapped.where(mapped.notna(), override)
    given = override.notna()
    bad = sorted(set(override[given]) - {"SP", "MP"})
    if bad:
        raise GatingError(f"manual population overrides must be SP or MP; found {bad}")
    out.loc[given, "population"] = override[given]
    out.loc[given, "population_source"] = "manual"
