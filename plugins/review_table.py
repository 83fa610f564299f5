"""What a review shows of its cells: columns, class colours, marks, the features table.

Pure functions of tables, no Qt and no session state; :class:`spmito.plugins.review.ReviewSession`
and the widgets use them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from spmito.segment import edits

#: Batch-level per-cell columns (``DIR/cells.csv``) the review shows and overrides.
CALL_COLUMNS = ("hoechst_x", "population", "population_source", "sp_probability", "excluded",
                "exclude_reason")

_NUMERIC_CALLS = ("hoechst_x", "sp_probability")

#: The features the cells layer carries, i.e. what napari's status bar shows for the cell
#: under the pointer (the Measurements widget shows them all). Few and short, so that the
#: status bar shows them whole; fewer columns also keep napari's feature-table validation
#: short (~1 ms a column) after each edit.
LAYER_COLUMNS = ("index", "cell_id", "population", "excluded", "hoechst_x", "cell_area_um2",
                 "cell_volume_um3", "mito_count")

#: Colours of the cells layer by class. SP and MP are far from the channel colours (blue
#: Hoechst, grey cell stain, magenta mitochondria); ``edited`` marks cells split, merged or
#: painted since the batch (their class waits for ``spmito report``); ``None`` is any other
#: cell without a class.
CLASS_COLOURS = {"SP": "#ff8c00", "MP": "#00c8ff", "excluded": "#303030", "edited": "#ffffff",
                 None: "#ffe000"}

#: Outline colours of the marks layer: the selected cells, the cells deleted in this review.
MARK_COLOURS = {"selected": "#39ff14", "deleted": "#ff2020"}

#: Values of the marks layer.
SELECTED_MARK, DELETED_MARK = 1, 2

#: What each colour means, in the words of the legend.
LEGEND = (("SP", CLASS_COLOURS["SP"], "fill"), ("MP", CLASS_COLOURS["MP"], "fill"),
          ("no class (no gate)", CLASS_COLOURS[None], "fill"),
          ("edited: class after report", CLASS_COLOURS["edited"], "fill"),
          ("excluded", CLASS_COLOURS["excluded"], "fill"),
          ("selected", MARK_COLOURS["selected"], "outline"),
          ("deleted", MARK_COLOURS["deleted"], "outline"))

#: ``(population_override, excluded_override)`` of one cell; ``None`` = no override.
Override = tuple[str | None, bool | None]


def review_features(cell_table: pd.DataFrame, calls: pd.DataFrame, overrides: pd.DataFrame,
                    threshold_x: float | None = None) -> pd.DataFrame:
    """The per-cell table a reviewer sees: measurements + classes + overrides.

    Parameters
    ----------
    cell_table : DataFrame
        Per-image measurements with ``cell_id``.
    calls : DataFrame
        Batch-level columns (:data:`CALL_COLUMNS`) indexed by ``cell_id``.
    overrides : DataFrame
        ``review.csv`` columns.
    threshold_x : float, optional
        A live gate on ``hoechst_x``; it replaces the batch's population calls.

    Returns
    -------
    DataFrame
        ``index`` (= ``cell_id``, what napari matches label values with), the
        measurements, ``hoechst_x``, ``population``, ``population_source``, ``excluded``,
        ``exclude_reason``, ``population_override``, ``excluded_override``.
    """
    ids = cell_table["cell_id"].astype("int64").to_numpy()
    features = cell_table.reset_index(drop=True)
    features.insert(0, "index", ids)
    joined = calls.reindex(ids)
    for column in CALL_COLUMNS:
        values = joined[column].to_numpy() if column in joined else np.full(len(ids), np.nan)
        features[column] = np.asarray(values, float) if column in _NUMERIC_CALLS \
            else np.where(pd.isna(values), None, values.astype(object))
    features["hoechst_x"] = _hoechst_x_with_image_normalisation(features)
    population = np.array(features["population"], dtype=object)
    source = np.array(features["population_source"], dtype=object)
    if threshold_x is not None:
        x = features["hoechst_x"].to_numpy(float)
        finite = np.isfinite(x)
        population[finite] = np.where(x[finite] < threshold_x, "SP", "MP")
        source[finite] = "gate"
    excluded = np.array(features["excluded"], dtype=object)
    excluded = np.where(pd.isna(excluded), False, excluded).astype(bool)
    by_cell = overrides.set_index("cell_id").reindex(ids)
    population_override = by_cell["population_override"].to_numpy(object)
    excluded_override = by_cell["excluded_override"].to_numpy(object)
    has_population = pd.notna(population_override)
    has_excluded = pd.notna(excluded_override)
    population[has_population] = population_override[has_population]
    source[has_population] = "manual"
    excluded[has_excluded] = excluded_override[has_excluded].astype(bool)
    features["population"] = population
    features["population_source"] = source
    features["excluded"] = excluded
    features["population_override"] = population_override
    features["excluded_override"] = excluded_override
    return features.reset_index(drop=True)


def layer_features(features: pd.DataFrame) -> pd.DataFrame:
    """The :data:`LAYER_COLUMNS` of a review table (what the cells layer carries)."""
    return features[[c for c in LAYER_COLUMNS if c in features.columns]]


def class_colours(features: pd.DataFrame, edited: Iterable[int] = ()) -> dict:
    """Label colours by class (:data:`CLASS_COLOURS`); ``{}`` when no cell has a class.

    Parameters
    ----------
    features : DataFrame
        :func:`review_features`.
    edited : iterable of int
        Cells edited since the batch (:meth:`ReviewSession.edited_ids`).

    The key ``None`` (any other label: unclassified cells) gets the unclassified colour.
    """
    population = features["population"].where(features["population"].isin(["SP", "MP"]))
    excluded = features["excluded"].to_numpy(bool)
    edited = set(edited)
    if population.isna().all() and not excluded.any() and not edited:
        return {}
    colours = {None: CLASS_COLOURS[None], 0: "transparent"}
    for cell_id, cls, out in zip(features["index"], population, excluded):
        if out or isinstance(cls, str):
            colours[int(cell_id)] = CLASS_COLOURS["excluded" if out else cls]
        elif int(cell_id) in edited:
            colours[int(cell_id)] = CLASS_COLOURS["edited"]
    return colours


def draw_outline(marks: np.ndarray, mask: np.ndarray, value: int,
                  width_px: int = 2) -> None:
    """Set ``marks`` to ``value`` on the in-plane outline (``width_px`` wide) of ``mask``."""
    from scipy import ndimage

    box = edits.bounding_box(mask)
    if box is None:
        return
    region = mask[box]
    structure = ndimage.generate_binary_structure(2, 1)
    if region.ndim == 3:
        structure = structure[None]
    inner = ndimage.binary_erosion(region, structure, iterations=width_px, border_value=0)
    marks[box][region & ~inner] = value


def colours_differ(old: dict, new: dict, cell_ids: Iterable[int]) -> bool:
    """Whether any of ``cell_ids`` would be drawn in another colour."""
    if bool(old) != bool(new):
        return True
    default = CLASS_COLOURS[None]
    return any(old.get(i, default) != new.get(i, default) for i in cell_ids)


def _hoechst_x_with_image_normalisation(features: pd.DataFrame) -> np.ndarray:
    """``hoechst_x``, filled for re-measured cells with the image's ``log2 m_ref``."""
    x = features["hoechst_x"].to_numpy(float)
    if "hoechst_integrated" not in features or np.isfinite(x).all():
        return x
    intensity = features["hoechst_integrated"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        log2_intensity = np.where(intensity > 0, np.log2(intensity), np.nan)
    offsets = log2_intensity - x
    offsets = offsets[np.isfinite(offsets)]
    if offsets.size == 0:
        return x
    return np.where(np.isfinite(x), x, log2_intensity - np.median(offsets))


def calls_table(calls: pd.DataFrame | None) -> pd.DataFrame:
    """Batch calls indexed by ``cell_id`` with every :data:`CALL_COLUMNS` column."""
    if calls is None:
        calls = pd.DataFrame({"cell_id": pd.Series(dtype="int64")})
    table = calls.set_index(calls["cell_id"].astype("int64")) if "cell_id" in calls else calls
    return table.reindex(columns=list(CALL_COLUMNS))


def overrides_dict(overrides: pd.DataFrame | None) -> dict[int, Override]:
    """``review.csv`` rows as ``{cell_id: (population_override, excluded_override)}``."""
    if overrides is None or overrides.empty:
        return {}
    return {int(row.cell_id): (_none_if_missing(row.population_override),
                               _none_if_missing(row.excluded_override))
            for row in overrides.itertuples(index=False)}


def _none_if_missing(value):
    return None if value is None or (not isinstance(value, str) and pd.isna(value)) else value


def replace_rows(table: pd.DataFrame, cell_ids: Sequence[int], rows: pd.DataFrame,
                 key: str) -> pd.DataFrame:
    """``table`` with the rows of ``cell_ids`` replaced by ``rows``, sorted by ``key``."""
    kept = table[~table["cell_id"].isin(list(cell_ids))]
    parts = [part for part in (kept, rows) if len(part)]
    if not parts:
        return table.iloc[:0]
    return pd.concat(parts, ignore_index=True).sort_values(key, ignore_index=True)
