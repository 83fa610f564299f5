"""Segment & measure: the batch's per-image analysis on the chosen layers, in a thread."""

# no `from __future__ import annotations`: napari injects the viewer by its annotation

import threading
from pathlib import Path

import napari
from magicgui.widgets import CheckBox, ComboBox, Container, FloatSpinBox, LineEdit
from napari.qt.threading import FunctionWorker, create_worker
from qtpy.QtCore import QObject, Signal
from qtpy.QtWidgets import QLabel, QProgressBar, QPushButton, QWidget

from spmito.imaging.errors import SpmitoInputError
from spmito.imaging.params import AUTO, RunParams
from spmito.imaging.stack import Stack, image_stem
from spmito.plugins._qt._choices import image_layer_choices, labels_layer_choices
from spmito.plugins._qt._layout import button_row, dock_body
from spmito.plugins.analysis import AnalysisCancelled, analyse, parse_pixel_size, result_warnings
from spmito.plugins.layers import STACK_ROLES, result_layers, stack_from_channels
from spmito.plugins.review import ReviewSession, session_of

#: Channel roles the analysis needs; the others are optional.
REQUIRED_ROLES = ("hoechst", "mito")

_ROLE_LABELS = {"hoechst": "Hoechst", "cell": "Cell stain", "mito": "Mitochondria",
                "hoechst_red": "Hoechst red (optional)", "viability": "Viability (optional)"}


class _ProgressRelay(QObject):
    """Carries progress reports from the worker thread to the widget (queued signal)."""

    progressed = Signal(str, float)


class SegmentWidget(QWidget):
    """Segment cells, nuclei and mitochondria and measure them, as ``spmito run`` does.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        The viewer whose layers are analysed and which receives the results.
    """

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__()
        self.viewer = viewer
        self.worker: FunctionWorker | None = None
        self._cancel = threading.Event()
        self._relay = _ProgressRelay()
        self._relay.progressed.connect(self._show_progress)
        defaults = RunParams()
        self.channels = {role: ComboBox(label=_ROLE_LABELS[role],
                                        choices=image_layer_choices(viewer),
                                        nullable=role not in REQUIRED_ROLES)
                         for role in STACK_ROLES}
        self.cells_mask = ComboBox(label="Cell mask (skips Cellpose)",
                                   choices=labels_layer_choices(viewer), nullable=True)
        self.voxel_size = LineEdit(label="Pixel size (µm)",
                                   tooltip="e.g. 0.65 or 0,65 (y = x); 3-D: z step first, "
                                           "e.g. 0,3; 0,65. Empty: the pixel size the file "
                                           "records")
        self.cell_method = ComboBox(
            label="Cells from", choices=[("Cellpose", "cellpose"), ("Nuclei", "nuclei")],
            value=defaults.cell_method,
            tooltip="Cellpose: the cell model (a nucleus it leaves out gets a cell grown from "
            "it). Nuclei: each nucleus grows over the cell stain (without one, over "
            "mitochondria + Hoechst haze); one cell per nucleus")
        self.model = LineEdit(label="Cellpose model (cells)", value=defaults.model)
        self.divide_multinucleate_cells = CheckBox(
            text="Divide cells with several nuclei", value=defaults.divide_multinucleate_cells,
            tooltip="Cellpose: a cell that holds several nuclei (touching cells, or daughters "
            "just after division, drawn as one) is divided into one cell per nucleus over the "
            "cell stain. Off keeps it, flagged as a doublet (binucleate cells)")
        self.cell_method.changed.connect(self._enable_cellpose_options)
        self.nucleus_model = LineEdit(label="Cellpose model (nuclei)",
                                      value=defaults.nucleus_model)
        self.cell_diameter_um = FloatSpinBox(label="Cell diameter (µm)", min=1, max=500,
                                             step=0.5, value=defaults.cell_diameter_um)
        self.nucleus_diameter_um = FloatSpinBox(label="Nucleus diameter (µm)", min=1, max=500,
                                                step=0.5, value=defaults.nucleus_diameter_um)
        self.estimate_nucleus_diameter = CheckBox(
            text="Estimate the nucleus diameter", value=False,
            tooltip="per image, from an Otsu mask of the Hoechst channel (spmito run "
            "--nucleus-diameter auto); a lone large textured nucleus comes out too small")
        self.estimate_nucleus_diameter.changed.connect(
            lambda estimate: setattr(self.nucleus_diameter_um, "enabled", not estimate))
        self.annulus_inner_um = FloatSpinBox(label="Background annulus from (µm)", min=0,
                                             max=100, step=0.5, value=defaults.annulus_um[0])
        self.annulus_outer_um = FloatSpinBox(label="Background annulus to (µm)", min=0.5,
                                             max=100, step=0.5, value=defaults.annulus_um[1])
        self.device = ComboBox(label="Device", choices=["auto", "cpu", "cuda"],
                               value=defaults.device)
        self.mode_3d = ComboBox(label="3-D mode", choices=["stitch", "do_3d"],
                                value=defaults.mode_3d)
        self.form = Container(widgets=[*self.channels.values(), self.cells_mask,
                                       self.voxel_size, self.cell_method, self.model,
                                       self.divide_multinucleate_cells, self.nucleus_model,
                                       self.cell_diameter_um,
                                       self.nucleus_diameter_um,
                                       self.estimate_nucleus_diameter, self.annulus_inner_um,
                                       self.annulus_outer_um, self.device, self.mode_3d])
        self._add_tooltips()
        self.run_button = QPushButton("Segment && measure")
        self.run_button.setToolTip("segment cells, nuclei and mitochondria and measure them, "
                                   "as spmito run does")
        self.run_button.clicked.connect(lambda: self.run())
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("stop the analysis at its next step")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(lambda: self.cancel())
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        dock_body(self, self.form.native, button_row(self.run_button, self.cancel_button),
                  self.progress, self.status, stretch=True)
        self.reset_choices()

    def _enable_cellpose_options(self, cell_method: str) -> None:
        """The Cellpose model and the division of its cells only matter with Cellpose."""
        for widget in (self.model, self.divide_multinucleate_cells):
            widget.enabled = cell_method == "cellpose"

    def _add_tooltips(self) -> None:
        """A tooltip on every control of the form that has none."""
        for role, combo in self.channels.items():
            combo.tooltip = combo.tooltip or f"the image layer of the {_ROLE_LABELS[role]} channel"
        defaults = {self.cells_mask: "a labels layer of cells to use instead of Cellpose",
                    self.model: "Cellpose model for the cells: bundled, a name or a path",
                    self.nucleus_model: "Cellpose model for the nuclei (Hoechst channel)",
                    self.cell_diameter_um: "typical cell diameter in µm; measure one with "
                                           "napari's ruler (U2OS: about 40-60 µm)",
                    self.nucleus_diameter_um: "typical nucleus diameter in µm",
                    self.annulus_inner_um: "the ring around each nucleus whose median is "
                                           "the Hoechst background: inner radius (µm)",
                    self.annulus_outer_um: "outer radius of the background ring (µm)",
                    self.device: "where Cellpose runs: auto uses a GPU when there is one",
                    self.mode_3d: "3-D stacks: stitch 2-D masks, or run Cellpose in 3-D"}
        for widget in self.form:
            widget.tooltip = widget.tooltip or defaults.get(widget, widget.label)

    # ------------------------------------------------------------------ form -> inputs

    def reset_choices(self, *_) -> None:
        """Refresh the layer lists; give each role the layer that carries it, if any.

        A layer chosen by hand stays chosen unless it carries another role.
        """
        self.form.reset_choices()
        for role, combo in self.channels.items():
            current = combo.value
            current_role = None if current is None else current.metadata.get("spmito_role")
            if current is not None and current_role in (role, "", None):
                continue
            match = [layer for layer in combo.choices
                     if layer is not None and layer.metadata.get("spmito_role") == role]
            if match:
                combo.value = match[0]
            elif role not in REQUIRED_ROLES:
                combo.value = None

    def params(self) -> RunParams:
        """The analysis parameters of the form (the CLI's, in µm)."""
        return RunParams(cell_method=self.cell_method.value,
                         divide_multinucleate_cells=bool(self.divide_multinucleate_cells.value),
                         model=self.model.value.strip() or "bundled",
                         nucleus_model=self.nucleus_model.value.strip() or "bundled",
                         cell_diameter_um=float(self.cell_diameter_um.value),
                         nucleus_diameter_um=(AUTO if self.estimate_nucleus_diameter.value
                                              else float(self.nucleus_diameter_um.value)),
                         annulus_um=(float(self.annulus_inner_um.value),
                                     float(self.annulus_outer_um.value)),
                         device=self.device.value, mode_3d=self.mode_3d.value,
                         voxel_size_um=self._voxel_size_um())

    def stack(self) -> Stack:
        """The chosen channel layers as one stack with roles and voxel size."""
        layers = {role: combo.value for role, combo in self.channels.items()}
        for role in REQUIRED_ROLES:
            if layers[role] is None:
                raise SpmitoInputError(None, f"no {_ROLE_LABELS[role]} layer chosen",
                                       "Open the image and choose its channels")
        channels = {role: layer.data for role, layer in layers.items() if layer is not None}
        return stack_from_channels(channels, self._voxel_size_um(), self._source())

    def image_id(self) -> str:
        """The id of the analysed image: its file name, else the Hoechst layer's name."""
        source = self._source()
        return image_stem(source) if source else self.channels["hoechst"].value.name

    def _voxel_size_um(self) -> tuple[float, ...]:
        layer = self.channels["hoechst"].value
        if layer is None:
            raise SpmitoInputError(None, "no Hoechst layer chosen", "Choose its channels")
        if self.voxel_size.value.strip():
            return parse_pixel_size(self.voxel_size.value, layer.ndim)
        if any(str(unit) != "micrometer" for unit in layer.units):
            raise SpmitoInputError(self._source(), f"layer {layer.name!r} has no physical "
                                   f"pixel size (units {tuple(map(str, layer.units))})",
                                   "Type the pixel size in µm above, e.g. 0.65 or 0,65")
        return tuple(float(s) for s in layer.scale)

    def _check_channels(self) -> None:
        """Refuse one layer for two roles, and a channel axis read as z planes."""
        chosen = [combo.value for combo in self.channels.values() if combo.value is not None]
        if len({id(layer) for layer in chosen}) < len(chosen):
            raise SpmitoInputError(self._source(), "one layer is chosen for two channels",
                                   "Choose one layer per channel")
        layer = self.channels["hoechst"].value
        if layer.ndim == 3 and layer.data.shape[0] <= 5 \
                and "spmito_role" not in layer.metadata:
            raise SpmitoInputError(self._source(), f"layer {layer.name!r} has "
                                   f"{layer.data.shape[0]} planes: probably channels read "
                                   "as z planes by napari's own reader", "Open the file with "
                                   "the spmito reader (File > Open with Plugin > spmito), or "
                                   "split the layer (right-click > Split Stack)")

    def _use_pixel_size_on_channels(self, voxel_size_um) -> None:
        """Put the channel layers on the grid the results will have (µm)."""
        for combo in self.channels.values():
            if combo.value is not None:
                combo.value.scale = voxel_size_um
                combo.value.units = ("µm",) * combo.value.ndim

    def _source(self) -> Path | None:
        layer = self.channels["hoechst"].value
        if layer is None:
            return None
        source = layer.metadata.get("spmito_source") or layer.source.path
        return Path(source) if source else None

    # --------------------------------------------------------------------- running

    def run(self) -> FunctionWorker | None:
        """Start the analysis in a thread worker; return it (``None`` on a form error)."""
        try:
            self._check_channels()
            stack, params, image_id = self.stack(), self.params(), self.image_id()
        except (SpmitoInputError, ValueError) as error:
            self.status.setText(str(error))
            return None
        self._use_pixel_size_on_channels(stack.voxel_size_um)
        mask_layer = self.cells_mask.value
        given_cells = None if mask_layer is None else mask_layer.data
        self._cancel.clear()
        self.worker = create_worker(analyse, stack, params, image_id=image_id,
                                    given_cells=given_cells,
                                    progress=self._relay.progressed.emit,
                                    cancelled=self._cancel.is_set,
                                    _connect={"returned": self._show_result,
                                              "errored": self._show_error,
                                              "finished": self._finished},
                                    _start_thread=False)
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setValue(0)
        self.status.setText(f"analysing {image_id}…")
        self.worker.start()
        return self.worker

    def cancel(self) -> None:
        """Ask the running analysis to stop at its next step."""
        self._cancel.set()
        self.status.setText("cancelling…")

    def _show_progress(self, step: str, fraction: float) -> None:
        self.progress.setValue(int(round(100 * fraction)))
        self.status.setText(f"{step}…")

    def _show_result(self, session: ReviewSession) -> None:
        """Replace the image's result layers with the new ones; attach the review."""
        names = {kwargs["name"] for _, kwargs, _ in result_layers(session)}
        for layer in [layer for layer in self.viewer.layers if layer.name in names]:
            self.viewer.layers.remove(layer)
        added = [self.viewer.add_layer(napari.layers.Layer.create(data, kwargs, kind))
                 for data, kwargs, kind in result_layers(session)]
        for layer in added:
            session_of(layer)
        self.viewer.layers.selection.active = session.layer
        self.progress.setValue(100)
        self.status.setText("\n".join([_summary(session), *result_warnings(session)]))

    def _show_error(self, error: Exception) -> None:
        cancelled = isinstance(error, AnalysisCancelled)
        self.status.setText("cancelled" if cancelled else f"failed: {error}")

    def _finished(self) -> None:
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)


def _summary(session: ReviewSession) -> str:
    """The first status line: cells found, and the nucleus diameter when it was estimated."""
    nuclei = session.result.provenance.get("nuclei", {})
    estimated = (f"; nucleus diameter estimated at {nuclei['diameter_um']:.1f} µm"
                 if nuclei.get("diameter_estimated") else "")
    return f"{session.image_id}: {len(session.result.cell_table)} cells{estimated}"
