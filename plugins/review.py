"""Review of one segmented image: label edits, class overrides, undo, re-measure, save.

No Qt. A :class:`ReviewSession` holds what spmito knows about one image (stack, labels,
tables, batch calls, overrides) and edits the napari ``Labels`` layer of its cells, with or
without a viewer. The science is elsewhere: label operations come from :mod:`spmito.segment.edits`,
re-measurement from :func:`spmito.imaging.pipeline.remeasure_cells` (only the changed cells, on a
crop), the file format from :mod:`spmito.imaging.corrections`.

Undo
    Every action is one undo step. A label edit goes through ``Labels.data_setitem`` inside
    ``Labels.block_history()``, so napari's history holds exactly one item for it; brush,
    fill and polygon strokes by hand arrive as ``events.paint`` and become ``paint``
    actions. :meth:`ReviewSession.undo` pops napari's item for a label action and restores
    the table rows, the mitochondria pieces (re-measuring re-cuts them by the edited cells;
    the box they changed in is kept) and the overrides saved with the action, without
    re-measuring, so labels, tables and overrides never disagree.
    :meth:`ReviewSession.attach` binds Ctrl+Z / Ctrl+Shift+Z of the cells layer to these.
Classes
    A cell's population is, in order of precedence: the reviewer's override, the live gate
    (:meth:`ReviewSession.set_gate`), the batch's call (``DIR/cells.csv``). Re-measured
    cells get ``hoechst_x`` with the image's own normalisation (``log2 I - x`` is the same
    ``log2 m_ref`` for every cell of an image) and lose the batch's exclusion codes until
    ``spmito report`` recomputes them.

One module (about 630 lines, most of it the :class:`ReviewSession` class) on purpose: every
action shares the session's undo history, tables and overrides, and is read beside the undo
it must match.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
from psygnal import Signal

from spmito.imaging import corrections
from spmito.imaging.corrections import EditRecord
from spmito.imaging.outputs import done_record, image_dir, write_done, write_image_outputs
from spmito.imaging.params import RunParams
from spmito.imaging.pipeline import ImageResult, remeasure_cells
from spmito.imaging.stack import Stack
from spmito.plugins.review_table import (
    CALL_COLUMNS,
    DELETED_MARK,
    SELECTED_MARK,
    Override,
    calls_table,
    class_colours,
    colours_differ,
    draw_outline,
    layer_features,
    overrides_dict,
    replace_rows,
    review_features,
)
from spmito.segment import edits


@dataclass(frozen=True)
class _Rows:
    """The table rows of some cells: measurements, mitochondria, batch calls."""

    cells: pd.DataFrame
    mito: pd.DataFrame
    calls: pd.DataFrame


@dataclass(frozen=True)
class _MitoPatch:
    """Mitochondria labels in a box before and after a re-measure (pieces follow cells)."""

    box: tuple[slice, ...]
    before: np.ndarray
    after: np.ndarray


@dataclass
class _Action:
    """One undo step: what changed, and the rows and overrides before and after."""

    name: str
    cell_ids: tuple[int, ...]
    changes_labels: bool
    rows_before: _Rows
    rows_after: _Rows
    overrides_before: dict[int, Override]
    overrides_after: dict[int, Override]
    detail: dict = field(default_factory=dict)
    mito_patch: _MitoPatch | None = None
    deleted_px: tuple | None = None


class ReviewSession:
    """One image under review.

    Parameters
    ----------
    image_id : str
        The image's id (the folder name under ``DIR/images``).
    stack : Stack or None
        The image; without it edits are allowed but nothing is re-measured.
    result : ImageResult
        Labels and per-image tables.
    params : RunParams, optional
        The parameters the labels and tables were made with.
    out_dir : path-like, optional
        The output folder the image belongs to (where :meth:`save` writes).
    calls : DataFrame, optional
        Batch-level columns (:data:`CALL_COLUMNS`) per ``cell_id``.
    overrides : DataFrame, optional
        Saved overrides (``review.csv`` columns).
    role : str
        The sample-sheet role of the image (``test``, ``inhibitor_control``, ...).
    """

    #: Emitted with the action name after every change of labels, tables or classes.
    changed = Signal(str)

    def __init__(self, image_id: str, stack: Stack | None, result: ImageResult,
                 params: RunParams | None = None, *, out_dir: str | os.PathLike | None = None,
                 calls: pd.DataFrame | None = None, overrides: pd.DataFrame | None = None,
                 role: str = "") -> None:
        self.image_id = image_id
        self.stack = stack
        self.result = result
        self.params = params or RunParams()
        self.out_dir = None if out_dir is None else Path(out_dir)
        self.role = role
        self.calls = calls_table(calls)
        self.overrides: dict[int, Override] = overrides_dict(overrides)
        self.threshold_x: float | None = None
        self.selected: list[int] = []
        self.layer = None
        self.marks_layer = None
        self._marks: np.ndarray | None = None
        self._has_calls = bool(self.calls.notna().any(axis=None))
        self._auto_colormap = None
        self._colours: dict = {}
        self._features: pd.DataFrame | None = None
        self.unsaved: list[EditRecord] = []
        self.labels_changed = False
        self._undo: list[_Action] = []
        self._redo: list[_Action] = []
        self._applying = False

    # ------------------------------------------------------------------ layer binding

    def attach(self, layer) -> None:
        """Edit ``layer`` (a napari ``Labels`` layer showing ``result.cells``).

        Shares the layer's array as the labels, re-measures hand-painted strokes, binds
        Ctrl+Z / Ctrl+Shift+Z to :meth:`undo` / :meth:`redo` and shows the features.
        """
        layer = unwrap_proxy(layer)
        self.layer = layer
        self._auto_colormap = layer.colormap
        self.result = replace(self.result, cells=layer.data)
        layer.metadata["spmito"] = self
        layer.events.paint.connect(self._on_paint)
        layer.bind_key("Control-Z", lambda _layer: self.undo(), overwrite=True)
        layer.bind_key("Control-Shift-Z", lambda _layer: self.redo(), overwrite=True)
        self._refresh_layer()

    @property
    def cells(self) -> np.ndarray:
        """The cell labels (the layer's array once attached)."""
        return self.result.cells

    def cell_at(self, position_px: Sequence[float]) -> int:
        """The cell id at a point in pixel coordinates (0 outside every cell)."""
        index = tuple(int(round(p)) for p in position_px)
        if any(i < 0 or i >= n for i, n in zip(index, self.cells.shape)):
            return 0
        return int(self.cells[index])

    # ---------------------------------------------------------------------- selection

    def select(self, cell_id: int) -> None:
        """Add a cell to the selection, or remove it when it is selected already."""
        if cell_id <= 0:
            return
        if cell_id in self.selected:
            self.selected.remove(cell_id)
        else:
            self.selected.append(cell_id)
        self._selection_changed()

    def select_only(self, cell_id: int) -> None:
        """Make ``cell_id`` the whole selection."""
        self.selected = [cell_id] if cell_id > 0 else []
        self._selection_changed()

    def clear_selection(self) -> None:
        """Select no cell."""
        self.selected = []
        self._selection_changed()

    def _selection_changed(self) -> None:
        self._draw_marks()
        self.changed.emit("selection")

    # -------------------------------------------------------------------------- marks

    def show_marks(self, layer) -> None:
        """Draw the selection and the deleted cells as outlines on ``layer``.

        ``layer`` is a Labels layer over :attr:`marks`, as
        :func:`spmito.plugins.layers.result_layers` makes it.
        """
        self.marks_layer = unwrap_proxy(layer)
        self._draw_marks()

    @property
    def marks(self) -> np.ndarray:
        """The marks image (``uint8``).

        :data:`SELECTED_MARK` on selected cells, :data:`DELETED_MARK` where cells were
        deleted in this review, 0 elsewhere.
        """
        if self._marks is None or self._marks.shape != self.cells.shape:
            self._marks = np.zeros(self.cells.shape, np.uint8)
        return self._marks

    def _draw_marks(self) -> None:
        marks = self.marks
        marks[...] = 0
        deleted = [action.deleted_px for action in self._undo if action.deleted_px is not None]
        if deleted:
            mask = np.zeros(self.cells.shape, bool)
            for indices in deleted:
                mask[indices] = True
            draw_outline(marks, mask, DELETED_MARK)
        if self.selected:
            draw_outline(marks, np.isin(self.cells, self.selected), SELECTED_MARK)
        if self.marks_layer is not None:
            self.marks_layer.refresh()

    # -------------------------------------------------------------------- label edits

    def merge(self, cell_ids: Iterable[int] | None = None) -> tuple[int, ...]:
        """Merge cells (default: the selection) into the one with the smallest id."""
        ids = self._ids_or_selection(cell_ids)
        edit = edits.merge_cells(self.cells, ids)
        self._apply_edit("merge", edit, {"into": min(edit.cell_ids)})
        return edit.cell_ids

    def delete(self, cell_ids: Iterable[int] | None = None) -> tuple[int, ...]:
        """Delete cells (default: the selection)."""
        edit = edits.delete_cells(self.cells, self._ids_or_selection(cell_ids))
        self._apply_edit("delete", edit, {})
        return edit.cell_ids

    def split_by_line(self, line_px: np.ndarray) -> tuple[int, ...]:
        """Cut the cell a drawn line crosses most along the line.

        Parameters
        ----------
        line_px : ndarray, shape (N, ndim)
            Polyline vertices in pixel coordinates of the labels; in 3-D the plane of the
            first vertex picks the cell and the cut runs through every plane.
        """
        line_px = np.asarray(line_px, float)
        cell_id = self._cell_crossed_by(line_px)
        edit = edits.split_cell_by_line(self.cells, cell_id, line_px[:, -2:])
        self._apply_edit("split_line", edit, {"line_px": np.round(line_px, 2).tolist()})
        return edit.cell_ids

    def split_by_seeds(self, seeds_px: np.ndarray) -> tuple[int, ...]:
        """Split the cell under the first seed into one part per seed (watershed)."""
        seeds_px = np.asarray(seeds_px, float)
        cell_id = self.cell_at(seeds_px[0]) if len(seeds_px) else 0
        edit = edits.split_cell_by_seeds(self.cells, cell_id, seeds_px,
                                         voxel_size_um=self.result.voxel_size_um)
        self._apply_edit("split_seeds", edit, {"seeds_px": np.round(seeds_px, 2).tolist()})
        return edit.cell_ids

    def next_free_id(self) -> int:
        """The id a new cell painted by hand should get."""
        return edits.next_free_id(self.cells)

    # ------------------------------------------------------------------ class changes

    def toggle_population(self, cell_id: int) -> str:
        """Flip a cell between SP and MP (a manual override); return the new class."""
        new = "MP" if self._shown(cell_id, "population") == "SP" else "SP"
        self._change_override("population", cell_id, population=new)
        return new

    def toggle_excluded(self, cell_id: int) -> bool:
        """Exclude a kept cell or keep an excluded one (a manual override)."""
        excluded = not bool(self._shown(cell_id, "excluded"))
        self._change_override("exclusion", cell_id, excluded=excluded)
        return excluded

    def set_gate(self, threshold_x: float | None) -> None:
        """Call cells SP below ``threshold_x`` of ``hoechst_x`` (``None``: the batch's calls)."""
        self.threshold_x = threshold_x
        self._refresh_layer()
        self.changed.emit("gate")

    def set_hoechst_x(self, hoechst_x: pd.Series) -> None:
        """Replace the normalised Hoechst of the cells (a Series indexed by ``cell_id``)."""
        calls = self.calls.reindex(self.calls.index.union(hoechst_x.index))
        calls["hoechst_x"] = hoechst_x.reindex(calls.index).astype(float)
        self.calls = calls
        self._refresh_layer()
        self.changed.emit("hoechst_x")

    # ------------------------------------------------------------------- undo / redo

    def undo(self) -> None:
        """Undo the last action (labels, tables and overrides together)."""
        self._step(self._undo, self._redo, undoing=True)

    def redo(self) -> None:
        """Redo the last undone action."""
        self._step(self._redo, self._undo, undoing=False)

    @property
    def can_undo(self) -> bool:
        """Whether there is an action to undo."""
        return bool(self._undo)

    # --------------------------------------------------------------------- features

    def features(self) -> pd.DataFrame:
        """The per-cell table of the review: measurements, classes and overrides."""
        return review_features(self.result.cell_table, self.calls,
                               self.overrides_table(), self.threshold_x)

    @property
    def shown_features(self) -> pd.DataFrame:
        """:meth:`features` as of the last change (computed once per change)."""
        if self._features is None:
            self._features = self.features()
        return self._features

    def edited_ids(self) -> set[int]:
        """Cells split, merged or painted since the batch classified the image.

        The batch's calls for them are gone and ``spmito report`` makes new ones (empty
        for images the batch never classified).
        """
        if not self._has_calls:
            return set()
        features = self.shown_features
        calls = self.calls.reindex(features["index"].astype("int64"))
        uncalled = calls[list(CALL_COLUMNS)].isna().all(axis=1).to_numpy()
        unclassified = ~features["population"].isin(["SP", "MP"]).to_numpy()
        return set(features["index"].to_numpy()[uncalled & unclassified].astype(int).tolist())

    def overrides_table(self) -> pd.DataFrame:
        """The overrides as a ``review.csv`` table."""
        if not self.overrides:
            return corrections.empty_overrides()
        ids = sorted(self.overrides)
        return pd.DataFrame({"cell_id": pd.Series(ids, dtype="int64"),
                             "population_override": [self.overrides[i][0] for i in ids],
                             "excluded_override": [self.overrides[i][1] for i in ids]})

    # ------------------------------------------------------------------------- save

    def save(self, out_dir: str | os.PathLike | None = None) -> Path:
        """Write labels (when edited), re-measured tables, overrides and the edit log.

        Parameters
        ----------
        out_dir : path-like, optional
            The output folder; default the one the image was read from. An image that was
            segmented in napari gets the batch's per-image outputs there first.

        Returns
        -------
        Path
            The output folder.
        """
        target = Path(out_dir) if out_dir is not None else self.out_dir
        if target is None:
            raise ValueError(f"{self.image_id}: choose an output folder to save into")
        if not image_dir(target, self.image_id).is_dir():
            _write_as_batch_output(target, self)
        elif self.labels_changed:
            corrections.write_corrected_labels(target, self.image_id,
                                               {"cells": self.cells, "mito": self.result.mito},
                                               self.result.voxel_size_um)
            corrections.write_corrected_tables(target, self.image_id, self.result.cell_table,
                                               self.result.mito_table)
        corrections.write_review(target, self.image_id, self.overrides_table())
        self.unsaved.append(EditRecord("save", self.image_id, (), {"folder": str(target)}))
        corrections.append_edits(target, self.unsaved)
        self.unsaved = []
        self.out_dir = target
        self.labels_changed = False
        self.changed.emit("save")
        return target

    # ---------------------------------------------------------------------- internals

    def _shown(self, cell_id: int, column: str):
        """A cell's value in the features as of the last change."""
        return self.shown_features.set_index("index").at[cell_id, column]

    def _ids_or_selection(self, cell_ids: Iterable[int] | None) -> list[int]:
        ids = list(self.selected if cell_ids is None else cell_ids)
        if not ids:
            raise edits.EditError("select cells first (click them)")
        return ids

    def _cell_crossed_by(self, line_px: np.ndarray) -> int:
        """The cell most of the line's length lies on."""
        if len(line_px) < 2:
            raise edits.EditError("draw a line of two or more points across the cell")
        steps = np.linspace(0, 1, 64)[:, None]
        samples = np.concatenate([a + steps * (b - a) for a, b in zip(line_px[:-1],
                                                                     line_px[1:])])
        if self.cells.ndim == 3:
            samples[:, 0] = line_px[0, 0]
        ids = np.array([self.cell_at(p) for p in samples])
        ids = ids[ids > 0]
        if ids.size == 0:
            raise edits.EditError("the line crosses no cell")
        return int(np.bincount(ids).argmax())

    def _apply_edit(self, name: str, edit: edits.LabelEdit, detail: dict) -> None:
        """Write a label edit as one napari undo step, re-measure, record the action."""
        if self.layer is None:
            raise RuntimeError("attach the session to its cells layer before editing")
        self._applying = True
        try:
            with self.layer.block_history():
                self.layer.data_setitem(edit.indices, edit.values)
        finally:
            self._applying = False
        deleted_px = edit.indices if name == "delete" else None
        self._after_label_change(name, edit.cell_ids, detail, deleted_px)

    def _on_paint(self, event) -> None:
        """A stroke painted, filled or erased by hand: re-measure the labels it touched."""
        if self._applying:
            return
        ids = _ids_in_history_item(event.value)
        if ids:
            # napari may announce a single (non-stroke) edit before writing it: write first
            _write_history_item(self.cells, event.value)
            self._after_label_change("paint", ids, {})

    def _after_label_change(self, name: str, cell_ids: tuple[int, ...], detail: dict,
                            deleted_px: tuple | None = None) -> None:
        """Re-measure the changed cells; their batch calls no longer apply (report redoes).

        The selection is cleared, so that no later action reaches a cell off screen.
        """
        before = self._rows(cell_ids)
        overrides_before = {i: self.overrides[i] for i in cell_ids if i in self.overrides}
        mito_patch = self._remeasure(cell_ids)
        self.calls = self.calls.drop(index=list(cell_ids), errors="ignore")
        present = set(self.result.cell_table["cell_id"].astype(int))
        for cell_id in cell_ids:
            if cell_id not in present:
                self.overrides.pop(cell_id, None)
        overrides_after = {i: self.overrides[i] for i in cell_ids if i in self.overrides}
        self.selected = []  # a label edit ends the selection: the next acts on new clicks
        self._record(_Action(name, cell_ids, True, before, self._rows(cell_ids),
                             overrides_before, overrides_after, detail, mito_patch,
                             deleted_px))
        self.labels_changed = True

    def _remeasure(self, cell_ids: tuple[int, ...]) -> _MitoPatch | None:
        """Re-measure cells; their mitochondria pieces change in place (the layer's array).

        :func:`~spmito.imaging.pipeline.remeasure_cells` re-cuts the mitochondria by the edited
        cells only, so the pieces change inside those cells' bounding box.
        """
        if self.stack is None:
            return None
        edited = edits.mask_of_cells(self.cells, cell_ids)
        box = edits.bounding_box(edited)
        before = None if box is None else self.result.mito[box].copy()
        remeasured = remeasure_cells(self.stack, self.result, cell_ids, self.params,
                                     edited_mask=edited)
        mito = self.result.mito
        if box is not None:
            mito[box] = remeasured.mito[box]
        self.result = replace(remeasured, mito=mito)
        return None if box is None else _MitoPatch(box, before, mito[box].copy())

    def _change_override(self, name: str, cell_id: int, **change) -> None:
        before = {cell_id: self.overrides[cell_id]} if cell_id in self.overrides else {}
        population, excluded = self.overrides.get(cell_id, (None, None))
        self.overrides[cell_id] = (change.get("population", population),
                                   change.get("excluded", excluded))
        rows = self._rows((cell_id,))
        self._record(_Action(name, (cell_id,), False, rows, rows, before,
                             {cell_id: self.overrides[cell_id]}, change))

    def _record(self, action: _Action) -> None:
        self._undo.append(action)
        del self._undo[:-self._history_limit()]
        self._redo.clear()
        self.unsaved.append(EditRecord(action.name, self.image_id, action.cell_ids,
                                       action.detail))
        self._refresh_layer()
        self.changed.emit(action.name)

    def _step(self, source: list[_Action], target: list[_Action], undoing: bool) -> None:
        if not source:
            return
        action = source.pop()
        if action.changes_labels and self.layer is not None:
            self._applying = True
            try:
                self.layer.undo() if undoing else self.layer.redo()
            finally:
                self._applying = False
            self.labels_changed = True
        rows = action.rows_before if undoing else action.rows_after
        self._restore_rows(action.cell_ids, rows)
        if action.mito_patch is not None:
            patch = action.mito_patch
            self.result.mito[patch.box] = patch.before if undoing else patch.after
        for cell_id in action.cell_ids:
            self.overrides.pop(cell_id, None)
        self.overrides.update(action.overrides_before if undoing else action.overrides_after)
        target.append(action)
        if action.changes_labels:
            self.selected = []
        self.unsaved.append(EditRecord("undo" if undoing else "redo", self.image_id,
                                       action.cell_ids, {"action": action.name}))
        self._refresh_layer()
        self.changed.emit("undo" if undoing else "redo")

    def _history_limit(self) -> int:
        """Actions kept for undo: no more than napari keeps label edits, so both agree."""
        history = getattr(self.layer, "_undo_history", None)  # napari keeps it private
        return getattr(history, "maxlen", None) or 100

    def _rows(self, cell_ids: Iterable[int]) -> _Rows:
        ids = list(cell_ids)
        cells, mito = self.result.cell_table, self.result.mito_table
        return _Rows(cells[cells["cell_id"].isin(ids)], mito[mito["cell_id"].isin(ids)],
                     self.calls[self.calls.index.isin(ids)])

    def _restore_rows(self, cell_ids: Sequence[int], rows: _Rows) -> None:
        cell_table = replace_rows(self.result.cell_table, cell_ids, rows.cells, "cell_id")
        mito_table = replace_rows(self.result.mito_table, cell_ids, rows.mito, "mito_id")
        self.result = replace(self.result, cell_table=cell_table, mito_table=mito_table)
        kept = self.calls[~self.calls.index.isin(list(cell_ids))]
        self.calls = pd.concat([part for part in (kept, rows.calls) if len(part)]
                               or [self.calls.iloc[:0]]).sort_index()

    def _refresh_layer(self) -> None:
        """Show the current features on the layer, and the class colours when they changed.

        Replacing a napari label colormap re-maps the whole image (about 0.1 s for
        2048 x 2048 px, napari issue #6732), so it happens only when a colour changes.
        """
        self._features = None
        self._draw_marks()
        if self.layer is None:
            return
        features = self.shown_features
        self.layer.features = layer_features(features)
        colours = class_colours(features, self.edited_ids())
        if not colours_differ(self._colours, colours, features["index"].tolist()):
            return
        self._colours = colours
        if colours:
            from napari.utils.colormaps import DirectLabelColormap

            self.layer.colormap = DirectLabelColormap(color_dict=colours)
        else:
            self.layer.colormap = self._auto_colormap


def _ids_in_history_item(item: Iterable) -> tuple[int, ...]:
    """Labels changed by one napari history item (old and new values, 0 excluded)."""
    values: set[int] = set()
    for atom in item:
        if hasattr(atom, "old_values"):  # a masked paint atom (brush, fill, polygon)
            old, new = atom.old_values, atom.new_value
        else:  # a data_setitem atom: (indices, old values, new values)
            _, old, new = atom
        values.update(np.unique(np.asarray(old)).tolist())
        values.update(np.unique(np.asarray(new)).tolist())
    return tuple(sorted(int(v) for v in values if v != 0))


def _write_as_batch_output(out_dir: Path, session: ReviewSession) -> None:
    """Write an image segmented in napari as the batch would: labels, tables, done.json."""
    write_image_outputs(out_dir, session.image_id, session.result)
    source = session.stack.source if session.stack is not None else None
    record = done_record(session.image_id, str(source), session.params) \
        if source is not None and Path(source).is_file() else {"image_id": session.image_id}
    write_done(out_dir, session.image_id, record, len(session.result.cell_table),
               session.result.provenance)


def _write_history_item(labels: np.ndarray, item: Iterable) -> None:
    """Make ``labels`` hold the new values of a napari history item (idempotent)."""
    for atom in item:
        if hasattr(atom, "old_values"):
            if atom.mask is None:
                labels[atom.slice_key] = atom.new_value
            else:
                region = labels[atom.slice_key]
                region[atom.mask] = atom.new_value
        else:
            indices, _, new = atom
            labels[indices] = new


def unwrap_proxy(obj):
    """The napari object behind the read-only proxy napari hands to plugin widgets."""
    return getattr(obj, "__wrapped__", obj)


def session_of(layer) -> ReviewSession | None:
    """The review session behind a cells layer (attached on first use), or ``None``."""
    layer = unwrap_proxy(layer)
    session = layer.metadata.get("spmito") if hasattr(layer, "metadata") else None
    if not isinstance(session, ReviewSession):
        return None
    role = layer.metadata.get("spmito_role")
    if session.layer is not layer and role == "cells":
        session.attach(layer)
    elif session.marks_layer is not layer and role == "marks":
        session.show_marks(layer)
    return session

