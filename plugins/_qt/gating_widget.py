"""SP gating: histograms of hoechst_x (test vs control), a draggable gate, live recolouring."""

# no `from __future__ import annotations`: napari injects the viewer by its annotation

import napari
import numpy as np
from magicgui.widgets import Container, Select
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from qtpy.QtWidgets import (
    QDoubleSpinBox,
    QFileDialog,
    QLabel,
    QPushButton,
    QWidget,
)
from superqt.utils import qthrottled

from spmito.plugins._qt._choices import cells_layer_choices, cells_layers
from spmito.plugins._qt._layout import button_row, dock_body
from spmito.plugins.gating import (
    GatingModel,
    batch_gate,
    default_roles,
    describe_gate,
    normalise_on_controls,
)
from spmito.plugins.review import session_of
from spmito.plugins.review_table import CLASS_COLOURS

#: The x axis, in the words of a biologist.
X_LABEL = "Hoechst, relative to the G1 peak\nof the controls (log2)"

#: Histogram bin width on the log2 scale.
BIN_WIDTH_X = 0.05

#: The histogram keeps at least this height when the dock is crowded.
CANVAS_MIN_HEIGHT_PX = 220

#: Height of the image lists (a few names; they scroll).
LIST_HEIGHT_PX = 64

#: Shortest interval between two recolourings of the images while the gate is dragged.
RECOLOUR_EVERY_MS = 150


class GatingWidget(QWidget):
    """Set the SP gate by eye on the cells' normalised Hoechst and save it for the batch.

    The widget opens on the gate the batch applied to the open images (their plate and
    cell line in ``DIR/gating.json``) and changes no class until the gate is moved. Drag
    the vertical line (or type the threshold): every open image's cells are recalled SP
    (``hoechst_x`` below the line) or MP and recoloured at once; manual overrides from the
    Review widget keep winning. "Save gate" writes ``DIR/manual_gate.json``, which
    ``spmito report DIR`` applies.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        The viewer whose cells layers are gated.
    """

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__()
        self.viewer = viewer
        self.model = GatingModel([], [])
        self._recolour = qthrottled(self.model.apply, timeout=RECOLOUR_EVERY_MS)
        self._dragging = False
        self._moved = False
        self.gate_source = QLabel("")
        self.gate_source.setWordWrap(True)
        self.test_layers = Select(label="Test images", choices=cells_layer_choices(viewer),
                                  tooltip="images whose SP % the gate measures")
        # a short label: the form's label column would otherwise squeeze the list's names
        self.control_layers = Select(label="Controls", choices=cells_layer_choices(viewer),
                                     tooltip="inhibitor-control images (e.g. verapamil): "
                                             "they set the gate")
        for choice in (self.test_layers, self.control_layers):
            choice.native.setMaximumHeight(LIST_HEIGHT_PX)  # the histogram comes first
        self._form = Container(widgets=[self.test_layers, self.control_layers])
        self.test_layers.changed.connect(self._use_chosen_layers)
        self.control_layers.changed.connect(self._use_chosen_layers)
        self.figure = Figure(figsize=(4, 2.6), tight_layout=True)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumHeight(CANVAS_MIN_HEIGHT_PX)
        self.canvas.setToolTip("histograms of the cells' Hoechst; click or drag to move the "
                               "gate (cells left of the line are SP)")
        self.axes = self.figure.add_subplot()
        self.line = None
        self.canvas.mpl_connect("button_press_event", self._on_press)
        self.canvas.mpl_connect("motion_notify_event", self._on_motion)
        self.canvas.mpl_connect("button_release_event", self._on_release)
        self.threshold = QDoubleSpinBox()
        self.threshold.setRange(-10.0, 10.0)
        self.threshold.setSingleStep(0.05)
        self.threshold.setDecimals(3)
        self.threshold.setPrefix("SP: Hoechst below ")
        self.threshold.setSpecialValueText("no gate")
        self.threshold.setKeyboardTracking(False)  # a typed value applies on Enter
        self.threshold.setValue(self.threshold.minimum())
        self.threshold.setToolTip("the gate, log2 of Hoechst relative to the controls' G1 "
                                  "peak (0 = G1, -1 = half of it); type a value or drag the "
                                  "line")
        self.threshold.valueChanged.connect(self.set_threshold)
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.normalise_button = QPushButton("Normalise on controls")
        self.normalise_button.setToolTip(
            "images segmented in napari: compute their Hoechst relative to the G1 peak of "
            "the images chosen under Controls")
        self.normalise_button.clicked.connect(lambda: self.normalise())
        self.save_button = QPushButton("Save gate…")
        self.save_button.setToolTip("write the gate to the output folder (manual_gate.json); "
                                    "spmito report DIR applies it")
        self.save_button.clicked.connect(lambda: self.save())
        dock_body(self, self._form.native, self.gate_source, self.canvas, self.threshold,
                  self.summary, button_row(self.normalise_button, self.save_button))
        self.reset_choices()

    def reset_choices(self, *_) -> None:
        """Refresh the image lists; split new images into test and control by role."""
        known = set(self.model.sessions)
        self._form.reset_choices()
        sessions = [session_of(layer) for layer in cells_layers(self.viewer)]
        test, control = default_roles([s for s in sessions if s not in known])
        if test or control:
            self.test_layers.value = [*self.test_layers.value,
                                      *(s.layer for s in test)]
            self.control_layers.value = [*self.control_layers.value,
                                         *(s.layer for s in control)]
        self._use_chosen_layers()

    # ---------------------------------------------------------------------- gate

    def set_threshold(self, threshold_x: float) -> None:
        """Move the gate to ``threshold_x``; recolour every chosen image (throttled).

        The line and the SP % follow the pointer at once; the images are recoloured at most
        every :data:`RECOLOUR_EVERY_MS` while dragging, and once more where it stops
        (recolouring a large labels layer takes napari about 0.1 s).
        """
        if self.model.threshold_x is not None and np.isclose(threshold_x,
                                                              self.model.threshold_x):
            return
        self.model.threshold_x = float(threshold_x)
        self._moved = True
        self.gate_source.setText("Your gate: cells left of the line are SP. 'Save gate…' "
                                 "writes it for spmito report")
        self._recolour()
        self._show_threshold()

    def _show_threshold(self) -> None:
        """The spin box, the line and the SP % at the model's threshold (no recolouring)."""
        self.threshold.blockSignals(True)
        self.threshold.setValue(self.threshold.minimum() if self.model.threshold_x is None
                                else self.model.threshold_x)
        self.threshold.blockSignals(False)
        self._draw_line()
        self._show_summary()

    def normalise(self) -> None:
        """Compute hoechst_x of images segmented in napari from the controls' G1 peak."""
        try:
            normalise_on_controls(self.model.sessions, self.model.control)
        except (ImportError, ValueError) as error:
            self.summary.setText(f"Cannot normalise: {error}")
            return
        self._draw_histograms()
        if self.model.threshold_x is None:
            self.summary.setText(f"{self.summary.text()}\nNormalised. Click the histogram "
                                 "where SP ends to set the gate")

    def save(self, out_dir=None) -> None:
        """Write the gate into the images' output folder (asks when there is none)."""
        folders = {s.out_dir for s in self.model.sessions if s.out_dir is not None}
        if out_dir is None:
            out_dir = next(iter(folders)) if len(folders) == 1 else \
                QFileDialog.getExistingDirectory(self, "Output folder the gate is for")
        if not out_dir:
            self.summary.setText("Not saved: no output folder chosen")
            return
        try:
            path = self.model.save(out_dir)
        except ValueError as error:
            self.summary.setText(str(error))
            return
        self.summary.setText(f"{self.summary.text()}\nsaved {path}")

    # ------------------------------------------------------------------- drawing

    def _use_chosen_layers(self, *_) -> None:
        self.model.test = [session_of(layer) for layer in self.test_layers.value]
        self.model.control = [session_of(layer) for layer in self.control_layers.value]
        self._start_at_the_batch_gate()
        if self._moved:
            self.model.apply()
        self._draw_histograms()

    def _start_at_the_batch_gate(self) -> None:
        """Show the batch's gate of the chosen images until the user moves it.

        No image is reclassified: the batch's classes are this gate's.
        """
        if self.model.threshold_x is not None or not self.model.sessions:
            return
        gate = batch_gate(self.model.sessions)
        if gate is None:
            self.gate_source.setText("No batch gate for these images: click the histogram "
                                     "to set one")
            return
        self.gate_source.setText(describe_gate(gate))
        if gate.get("threshold_x") is not None:
            self.model.threshold_x = float(gate["threshold_x"])

    def _draw_histograms(self) -> None:
        self.axes.clear()
        test, control = self.model.hoechst_x("test"), self.model.hoechst_x("control")
        values = np.concatenate([test, control])
        if values.size:
            bins = np.arange(values.min() - BIN_WIDTH_X, values.max() + 2 * BIN_WIDTH_X,
                             BIN_WIDTH_X)
            if control.size:
                self.axes.hist(control, bins=bins, color="0.6", alpha=0.7,
                               label=f"control (n={control.size})")
            if test.size:
                self.axes.hist(test, bins=bins, histtype="step", linewidth=1.5,
                               color=CLASS_COLOURS["MP"], label=f"test (n={test.size})")
            self.axes.legend(fontsize="small")
        self.axes.set_xlabel(X_LABEL, fontsize="small")
        self.axes.set_ylabel("cells")
        self.line = None
        self._show_threshold()

    def _draw_line(self) -> None:
        if self.model.threshold_x is None:
            self.canvas.draw_idle()
            return
        if self.line is None:
            self.line = self.axes.axvline(self.model.threshold_x, color=CLASS_COLOURS["SP"],
                                          linewidth=2, picker=5)
        self.line.set_xdata([self.model.threshold_x] * 2)
        self.canvas.draw_idle()

    def _show_summary(self) -> None:
        self.summary.setText("   ".join(self._summary_parts()))

    def _summary_parts(self) -> list[str]:
        """SP % per group, or what is missing for one."""
        if not self.model.sessions:
            return ["Open an output folder's images (or segment one) to gate their cells"]
        parts = []
        for which in ("test", "control"):
            n_cells = self.model.hoechst_x(which).size
            if not getattr(self.model, which):
                continue
            if n_cells == 0:
                parts.append(f"{which}: no cells with a Hoechst value")
            elif self.model.threshold_x is None:
                parts.append(f"{which}: {n_cells} cells, no gate yet")
            else:
                parts.append(f"{which}: {self.model.sp_percent(which):.1f} % SP "
                             f"of {n_cells} cells")
        if not self.model.hoechst_x("test").size and not self.model.hoechst_x("control").size:
            parts.append("No relative Hoechst yet (images segmented in napari): choose "
                         "control images under Controls and click 'Normalise on controls'")
        elif not self.model.control:
            parts.append("No control image chosen: SP/MP rests on the batch gate or yours")
        return parts

    # -------------------------------------------------------------- mouse on plot

    def _on_press(self, event) -> None:
        if event.inaxes is self.axes and event.xdata is not None:
            self._dragging = True
            self.set_threshold(float(event.xdata))

    def _on_motion(self, event) -> None:
        if self._dragging and event.inaxes is self.axes and event.xdata is not None:
            self.set_threshold(float(event.xdata))

    def _on_release(self, event) -> None:
        self._dragging = False
