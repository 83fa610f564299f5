"""Review cells: merge, split, delete, new cell, SP/MP and exclusion by click; undo; save."""

# no `from __future__ import annotations`: napari injects the viewer by its annotation

import napari
import numpy as np
from magicgui.widgets import ComboBox, Container, RadioButtons
from qtpy.QtWidgets import QFileDialog, QGridLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from spmito.imaging.errors import SpmitoInputError
from spmito.plugins._qt._choices import cells_layer_choices, session_layers
from spmito.plugins._qt._layout import ColourLegend, scrollable
from spmito.plugins.review import ReviewSession, session_of, unwrap_proxy
from spmito.segment.edits import EditError

#: What a left click on a cell does (in pan/zoom mode).
CLICK_ACTIONS = ("select", "flip SP/MP", "exclude/include")

#: The helper layers the reviewer draws on.
CUT_LINE, SEEDS = "cut line", "split seeds"

#: Largest pointer travel, in screen pixels, that still counts as a click (not a pan).
CLICK_TOLERANCE_PX = 4

#: Tooltips of the buttons, by name.
TOOLTIPS = {
    "merge": "merge the selected cells into one (the smallest id stays)",
    "split": "split the cell crossed by the cut line, or the cell under the seeds",
    "delete": "delete the selected cells (they are outlined in red until saved)",
    "new_cell": "paint a new cell with the next free id (brush paints background only)",
    "flip": "flip the selected cells between SP and MP (your call wins over the gate)",
    "exclude": "exclude the selected cells from SP % and statistics, or include them again",
    "draw_line": "draw a cut line across a cell (click points, double-click ends), then Split",
    "place_seeds": "click one point in each part of a cell, then Split",
    "undo": "undo the last action (labels, tables and classes together)",
    "redo": "redo the last undone action",
    "save": "save the corrections into the output folder, where spmito report DIR uses them",
}


class ReviewWidget(QWidget):
    """Correct the cells of an image and their classes; every action re-measures and undoes.

    Keyboard (on the cells layer and the drawing layers): Shift+M merge the selected cells,
    Shift+S split along the cut line (or at the seeds), Shift+D delete the selected cells,
    Shift+N paint a new cell, Shift+T flip SP/MP of the selected cells, Shift+E exclude or
    include them, Ctrl+Z / Ctrl+Shift+Z undo / redo.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        The viewer holding the cells layers (from the reader or Segment & measure).
    """

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__()
        self.viewer = viewer
        self._bound = None
        self.actions = {
            "merge": ("Merge", "Shift-M", self.merge),
            "split": ("Split", "Shift-S", self.split),
            "delete": ("Delete", "Shift-D", self.delete),
            "new_cell": ("New cell", "Shift-N", self.new_cell),
            "flip": ("Flip SP/MP", "Shift-T", self.flip_selected),
            "exclude": ("Exclude/include", "Shift-E", self.exclude_selected),
        }
        self.cells = ComboBox(label="Cells layer", choices=cells_layer_choices(viewer),
                              tooltip="the image whose cells you review")
        self.click_action = RadioButtons(label="A click on a cell", choices=CLICK_ACTIONS,
                                         value="select",
                                         tooltip="what a left click on a cell does (in the "
                                                 "pan/zoom mode of the cells layer)")
        form = Container(widgets=[self.cells, self.click_action])
        self.buttons = {}
        grid = QGridLayout()
        for number, (name, (text, key, method)) in enumerate(self.actions.items()):
            button = QPushButton(f"{text}  [{key.replace('-', '+')}]")
            # a lambda: Qt's `checked` argument must not reach the method
            button.clicked.connect(lambda _checked=False, method=method: method())
            grid.addWidget(button, number // 2, number % 2)
            self.buttons[name] = button
        extra = {"draw_line": ("Draw cut line", self.draw_cut_line),
                 "place_seeds": ("Place seeds", self.place_seeds),
                 "undo": ("Undo  [Ctrl+Z]", self.undo),
                 "redo": ("Redo  [Ctrl+Shift+Z]", self.redo),
                 "save": ("Save corrections…", self.save)}
        for number, (name, (text, method)) in enumerate(extra.items(), start=len(self.actions)):
            button = QPushButton(text)
            button.clicked.connect(lambda _checked=False, method=method: method())
            grid.addWidget(button, number // 2, number % 2)
            self.buttons[name] = button
        for name, button in self.buttons.items():
            button.setToolTip(TOOLTIPS[name])
        self.selection = QLabel("Selected: none")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        content = QWidget()
        layout = QVBoxLayout(content)
        layout.addWidget(form.native)
        layout.addWidget(ColourLegend())
        layout.addWidget(self.selection)
        layout.addLayout(grid)
        layout.addWidget(self.status)
        layout.addStretch()
        scrollable(self, content)
        self._form = form
        self.cells.changed.connect(self._bind_layer)
        self.reset_choices()

    # ------------------------------------------------------------------- the session

    @property
    def session(self) -> ReviewSession | None:
        """The review session of the chosen cells layer."""
        layer = self.cells.value
        return None if layer is None else session_of(layer)

    def reset_choices(self, *_) -> None:
        """Refresh the list of cells layers."""
        self._form.reset_choices()
        self._bind_layer(self.cells.value)

    def _bind_layer(self, layer) -> None:
        """Route clicks and shortcuts of ``layer`` (and only it) to this widget."""
        layer = unwrap_proxy(layer)
        if layer is self._bound:
            return
        if self._bound is not None:
            for bound in session_layers(self.viewer, session_of(self._bound)):
                self._unbind(bound)
            session_of(self._bound).changed.disconnect(self._show_state)
        self._bound = layer
        if layer is None:
            return
        session = session_of(layer)
        for bound in session_layers(self.viewer, session):  # the cells and the marks on top
            bound.mouse_drag_callbacks.append(self._on_mouse)
            bound.metadata["spmito_review"] = True
            self._bind_keys(bound)
        session.changed.connect(self._show_state)
        self._activate_cells()
        self._show_state()

    def _bind_keys(self, layer) -> None:
        for _, key, method in self.actions.values():
            layer.bind_key(key, lambda _layer, method=method: method(), overwrite=True)

    def _unbind(self, layer) -> None:
        if self._on_mouse in layer.mouse_drag_callbacks:
            layer.mouse_drag_callbacks.remove(self._on_mouse)
        layer.metadata.pop("spmito_review", None)
        for _, key, _ in self.actions.values():
            layer.bind_key(key, None)

    def _on_mouse(self, layer, event):
        """A left click (not a drag) in pan/zoom mode acts on the cell under the pointer."""
        if layer.mode != "pan_zoom" or event.button != 1 or self.session is None:
            return
        start = np.asarray(event.position)
        cell_id = self.session.cell_at(self.cells.value.world_to_data(event.position))
        yield
        while event.type == "mouse_move":
            yield
        travel_px = np.linalg.norm(np.asarray(event.position) - start) * self.viewer.camera.zoom
        if travel_px <= CLICK_TOLERANCE_PX and cell_id:
            self.click_cell(int(cell_id))

    # ---------------------------------------------------------------------- actions

    def click_cell(self, cell_id: int) -> None:
        """Do the chosen click action on a cell."""
        action = self.click_action.value
        if action == "select":
            self._do(lambda s: s.select(cell_id))
        elif action == "flip SP/MP":
            self._do(lambda s: self._say(f"cell {cell_id} is now "
                                         f"{s.toggle_population(cell_id)}"))
        else:
            self._do(lambda s: self._say(f"cell {cell_id} is now "
                                         f"{'excluded' if s.toggle_excluded(cell_id) else 'kept'}"))

    def merge(self) -> None:
        """Merge the selected cells."""
        self._do(lambda s: self._say(f"merged cells {list(s.merge())}"))

    def delete(self) -> None:
        """Delete the selected cells."""
        self._do(lambda s: self._say(f"deleted cells {list(s.delete())}"))

    def split(self) -> None:
        """Split a cell along the cut line, or at the seed points."""
        def split(session: ReviewSession) -> None:
            line, seeds = self._helper_points(CUT_LINE), self._helper_points(SEEDS)
            if line is not None and len(line) >= 2:
                changed = session.split_by_line(line)
                self._clear_helper(CUT_LINE)
            elif seeds is not None and len(seeds) >= 2:
                changed = session.split_by_seeds(seeds)
                self._clear_helper(SEEDS)
            else:
                raise EditError("draw a cut line across the cell, or place two or more seeds "
                                "in it, first")
            self._say(f"split into cells {list(changed)}")
            self._activate_cells()

        self._do(split)

    def new_cell(self) -> None:
        """Paint a new cell: the brush gets the next free id and paints only background."""
        def start_painting(session: ReviewSession) -> None:
            layer = self.cells.value
            layer.selected_label = session.next_free_id()
            layer.preserve_labels = True
            self._activate_cells()
            layer.mode = "paint"
            self._say(f"paint cell {layer.selected_label} (brush, or the polygon tool [3]); "
                      "press Z to go back to clicking")

        self._do(start_painting)

    def flip_selected(self) -> None:
        """Flip SP/MP of each selected cell (one undo step each)."""
        self._do(lambda s: self._say(", ".join(f"{c}: {s.toggle_population(c)}"
                                               for c in list(s.selected)) or "select cells first"))

    def exclude_selected(self) -> None:
        """Exclude or include each selected cell (one undo step each)."""
        self._do(lambda s: self._say(", ".join(
            f"{c}: {'excluded' if s.toggle_excluded(c) else 'kept'}"
            for c in list(s.selected)) or "select cells first"))

    def undo(self) -> None:
        """Undo the last action."""
        self._do(lambda s: s.undo())

    def redo(self) -> None:
        """Redo the last undone action."""
        self._do(lambda s: s.redo())

    def save(self, out_dir=None) -> None:
        """Save the corrections into the image's output folder (asks when it has none)."""
        session = self.session
        if session is None:
            return
        if out_dir is None and session.out_dir is None:
            out_dir = QFileDialog.getExistingDirectory(self, "Output folder to save into")
            if not out_dir:
                return
        self._do(lambda s: self._say(f"saved to {s.save(out_dir)}"))

    # ------------------------------------------------------------- drawing helpers

    def draw_cut_line(self) -> None:
        """Open the cut-line layer in path mode: click points across the cell, then split."""
        self._helper_layer(CUT_LINE).mode = "add_path"
        self._say("click points across the cell (double-click ends the line), then split")

    def place_seeds(self) -> None:
        """Open the seed layer in add mode: one point per part, then split."""
        self._helper_layer(SEEDS).mode = "add"
        self._say("click one point in each part of the cell, then split")

    def _helper_layer(self, name: str):
        """The drawing layer ``name`` on the cells' grid (created when missing), active."""
        cells = self.cells.value
        if name not in self.viewer.layers:
            kind = napari.layers.Shapes if name == CUT_LINE else napari.layers.Points
            colour = {"edge_color": "yellow", "edge_width": 2} if name == CUT_LINE \
                else {"face_color": "yellow", "size": 8}
            layer = kind(ndim=cells.ndim, scale=cells.scale, translate=cells.translate,
                         units=cells.units, name=name, **colour)
            self.viewer.add_layer(layer)
            self._bind_keys(layer)
        layer = self.viewer.layers[name]
        self.viewer.layers.selection.active = layer
        return layer

    def _helper_points(self, name: str) -> np.ndarray | None:
        """Points of a drawing layer in the cells layer's pixel coordinates."""
        if name not in self.viewer.layers:
            return None
        layer = self.viewer.layers[name]
        points = layer.data[-1] if name == CUT_LINE and len(layer.data) else layer.data
        if len(points) == 0:
            return None
        world = np.array([layer.data_to_world(p) for p in points])
        return np.array([self.cells.value.world_to_data(p) for p in world])

    def _clear_helper(self, name: str) -> None:
        layer = self.viewer.layers[name]
        layer.data = [] if name == CUT_LINE else np.empty((0, layer.ndim))

    def _activate_cells(self) -> None:
        self.viewer.layers.selection.active = self.cells.value

    def _refresh_mitochondria(self, session: ReviewSession) -> None:
        """Redraw the image's mitochondria: re-measuring re-cuts them by the edited cells."""
        for layer in self.viewer.layers:
            if layer.metadata.get("spmito") is session \
                    and layer.metadata.get("spmito_role") == "mitochondria":
                layer.refresh()

    # ----------------------------------------------------------------- feedback

    def _do(self, action) -> None:
        """Run ``action(session)``; show what went wrong instead of raising."""
        session = self.session
        if session is None:
            self._say("open an image's cells (reader or Segment & measure) first")
            return
        try:
            action(session)
        except (EditError, SpmitoInputError, ValueError, KeyError) as error:
            self._say(f"not done: {error}")

    def _say(self, text: str) -> None:
        self.status.setText(text)

    def _show_state(self, action: str = "") -> None:
        session = self.session
        if session is None:
            return
        if action not in ("selection", "population", "exclusion", "gate", "hoechst_x", "save"):
            self._refresh_mitochondria(session)
        selected = ", ".join(map(str, session.selected)) or "none"
        unsaved = len(session.unsaved)
        self.selection.setText(f"Selected: {selected}   ·   unsaved actions: {unsaved}")
        self.buttons["undo"].setEnabled(session.can_undo)
