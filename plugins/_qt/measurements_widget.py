"""Measurements: the plate's images, their QC warnings, an image's cells table.

The table is linked both ways with the canvas.
"""

# no `from __future__ import annotations`: napari injects the viewer by its annotation

import napari
import numpy as np
import pandas as pd
from magicgui.widgets import ComboBox
from qtpy.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt
from qtpy.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from spmito.plugins._qt._choices import cells_layer_choices, cells_layers, session_layers
from spmito.plugins._qt._layout import ColourLegend, scrollable
from spmito.plugins._reader import image_folder_layers
from spmito.plugins.plate import (
    arrange_side_by_side,
    plate_overview,
    qc_warnings,
    table_for_reading,
)
from spmito.plugins.review import session_of

#: The table's filters: label -> which rows of the features they keep.
FILTERS = {
    "all cells": lambda f: np.ones(len(f), bool),
    "SP": lambda f: (f["population"] == "SP").to_numpy() & ~f["excluded"].to_numpy(bool),
    "MP": lambda f: (f["population"] == "MP").to_numpy() & ~f["excluded"].to_numpy(bool),
    "no class": lambda f: ~f["population"].isin(["SP", "MP"]).to_numpy(),
    "excluded": lambda f: f["excluded"].to_numpy(bool),
}

#: The role under which the model hands out raw values for sorting.
SORT_ROLE = Qt.ItemDataRole.UserRole


class FeaturesModel(QAbstractTableModel):
    """A read-only Qt table over a DataFrame; sorts numbers as numbers."""

    def __init__(self, table: pd.DataFrame | None = None):
        super().__init__()
        self.table = pd.DataFrame() if table is None else table

    def set_table(self, table: pd.DataFrame) -> None:
        """Show another table."""
        self.beginResetModel()
        self.table = table
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: B008, N802 - Qt's signature
        """Number of rows."""
        return len(self.table)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: B008, N802 - Qt's signature
        """Number of columns."""
        return self.table.shape[1]

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        """The text of a cell (display), or its value (sorting)."""
        if not index.isValid() or role not in (Qt.ItemDataRole.DisplayRole, SORT_ROLE):
            return None
        value = self.table.iat[index.row(), index.column()]
        if role == SORT_ROLE:
            if isinstance(value, (int, float, np.integer, np.floating, bool, np.bool_)):
                return -np.inf if pd.isna(value) else float(value)
            return "" if value is None else str(value)
        if isinstance(value, float | np.floating):
            return "" if np.isnan(value) else f"{value:.4g}"
        return "" if value is None else str(value)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        """Column names; row numbers."""
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return str(self.table.columns[section])
        return str(section + 1)


class MeasurementsWidget(QWidget):
    """The images of the open output folder, and the cells table of the chosen image.

    The image picker lists the folder's images (role, well, cells, SP %, QC warnings) and
    opens the chosen one beside those already open. The QC line lists the ``qc.csv``
    warnings of the image and of the run. The table sorts by a click on a column header,
    filters by class and exports what it shows; a row selects and centres its cell, and a
    cell clicked in the image selects its row. Hovering a cell shows its main features in
    napari's status bar.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        The viewer holding the cells layers.
    """

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__()
        self.viewer = viewer
        self._session = None
        self._clicked_layers = []
        self.images = QComboBox()
        self.images.setToolTip("the images of the output folder: role, well, cells, SP % "
                               "and QC warnings")
        self.open_button = QPushButton("Open image")
        self.open_button.setToolTip("open the chosen image beside the open ones")
        self.open_button.clicked.connect(lambda: self.open_chosen_image())
        self.cells = ComboBox(label="Cells layer", choices=cells_layer_choices(viewer),
                              tooltip="the image whose cells the table lists")
        self.cells.changed.connect(self._show_layer)
        self.qc = QLabel("")
        self.qc.setWordWrap(True)
        self.qc.setToolTip("plausibility warnings of qc.csv for this image and the run")
        self.show_only = QComboBox()
        self.show_only.addItems(list(FILTERS))
        self.show_only.setToolTip("show all cells, or only SP, MP, unclassified or excluded")
        self.show_only.currentTextChanged.connect(lambda _text: self._refresh())
        self.export_button = QPushButton("Export CSV…")
        self.export_button.setToolTip("save the rows shown, in the order shown, as CSV")
        self.export_button.clicked.connect(lambda: self.export())
        self.model = FeaturesModel()
        self.proxy = QSortFilterProxyModel()
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        self.view = QTableView()
        self.view.setModel(self.proxy)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.view.setToolTip("click a row to select and centre its cell; click a column "
                             "header to sort")
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.selectionModel().currentRowChanged.connect(
            lambda current, _previous: self._row_chosen(current.row()))
        self.count = QLabel("")
        pick = QHBoxLayout()
        pick.addWidget(self.images, 1)
        pick.addWidget(self.open_button)
        rows = QHBoxLayout()
        rows.addWidget(QLabel("Show"))
        rows.addWidget(self.show_only, 1)
        rows.addWidget(self.export_button)
        content = QWidget()
        layout = QVBoxLayout(content)
        layout.addLayout(pick)
        layout.addWidget(self.cells.native)
        layout.addWidget(self.qc)
        layout.addWidget(ColourLegend())
        layout.addLayout(rows)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.count)
        scrollable(self, content)
        self.view.setMinimumHeight(160)
        viewer.layers.events.inserted.connect(self._layer_inserted)
        self.reset_choices()

    # ------------------------------------------------------------------- the plate

    def reset_choices(self, *_) -> None:
        """Refresh the image picker and the list of cells layers."""
        self.cells.reset_choices()
        self._show_layer(self.cells.value)
        self._list_images()

    def open_chosen_image(self) -> None:
        """Open the image chosen in the picker beside the open ones (or show it)."""
        choice = self.images.currentData()
        if choice is None:
            return
        out_dir, image_id = choice
        open_layers = [layer for layer in cells_layers(self.viewer)
                       if session_of(layer).image_id == image_id]
        if not open_layers:
            for data, kwargs, kind in image_folder_layers(out_dir, image_id):
                self.viewer.add_layer(napari.layers.Layer.create(data, kwargs, kind))
            self.viewer.reset_view()  # show the new image beside the others
            open_layers = [layer for layer in cells_layers(self.viewer)
                           if session_of(layer).image_id == image_id]
        self.cells.value = open_layers[0]
        self.viewer.layers.selection.active = open_layers[0]

    def _list_images(self) -> None:
        folders = dict.fromkeys(session_of(layer).out_dir for layer in cells_layers(self.viewer)
                                if session_of(layer).out_dir is not None)
        current = self.images.currentData()
        self.images.blockSignals(True)
        self.images.clear()
        for out_dir in folders:
            for row in plate_overview(out_dir).itertuples(index=False):
                self.images.addItem(_describe_image(row), (out_dir, row.image_id))
        if current is not None:
            index = self.images.findData(current)
            self.images.setCurrentIndex(max(index, 0))
        self.images.blockSignals(False)

    def _layer_inserted(self, event) -> None:
        """Place each image beside the others; keep the cells (not the marks) active."""
        layer = event.value
        if "spmito_image" not in layer.metadata:
            return
        groups = {}
        for other in self.viewer.layers:
            if "spmito_image" in other.metadata:
                groups.setdefault(other.metadata["spmito_image"], []).append(other)
        arrange_side_by_side(list(groups.values()))
        if layer.metadata.get("spmito_role") == "marks":
            cells = [other for other in groups[layer.metadata["spmito_image"]]
                     if other.metadata.get("spmito_role") == "cells"]
            if cells:
                self.viewer.layers.selection.active = cells[0]

    # ------------------------------------------------------------------- the cells

    def export(self, path=None) -> None:
        """Write the rows shown, in the order shown, to a CSV file (asks where)."""
        if not len(self.model.table):
            self.count.setText("nothing to export: no cells shown")
            return
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, "Export the cells table",
                                                  f"{self._session.image_id}_cells.csv",
                                                  "CSV (*.csv)")
        if not path:
            return
        self.shown_table().to_csv(path, index=False)
        self.count.setText(f"{self.proxy.rowCount()} rows exported to {path}")

    def shown_table(self) -> pd.DataFrame:
        """The rows of the table as shown: filtered and sorted."""
        rows = [self.proxy.mapToSource(self.proxy.index(row, 0)).row()
                for row in range(self.proxy.rowCount())]
        return self.model.table.iloc[rows]

    def show_cell(self, cell_id: int) -> None:
        """Select ``cell_id`` and centre the view on its centroid."""
        layer, session = self.cells.value, self._session
        features = session.shown_features.set_index("index")
        centroid_px = [features.at[cell_id, f"centroid_{axis}"]
                       for axis in "zyx"[-layer.ndim:]]
        centre = np.asarray(layer.data_to_world(centroid_px))
        if layer.ndim == 3:
            self.viewer.dims.set_point(0, centre[0])
        self.viewer.camera.center = tuple(centre[-2:])
        layer.selected_label = cell_id
        session.select_only(cell_id)

    def _row_chosen(self, row: int) -> None:
        if row < 0 or self._session is None:
            return
        source = self.proxy.mapToSource(self.proxy.index(row, 0)).row()
        self.show_cell(int(self.model.table["cell_id"].iat[source]))

    def _show_layer(self, layer) -> None:
        if self._session is not None:
            self._session.changed.disconnect(self._refresh)
        for clicked in self._clicked_layers:
            if self._on_mouse in clicked.mouse_drag_callbacks:
                clicked.mouse_drag_callbacks.remove(self._on_mouse)
        self._session = None if layer is None else session_of(layer)
        self._clicked_layers = session_layers(self.viewer, self._session)
        for clicked in self._clicked_layers:
            clicked.mouse_drag_callbacks.append(self._on_mouse)
        if self._session is not None:
            self._session.changed.connect(self._refresh)
        self._show_qc()
        self._refresh()

    def _on_mouse(self, layer, event):
        """A click on a cell selects it (when no Review widget handles the clicks)."""
        if layer.mode != "pan_zoom" or event.button != 1 or layer.metadata.get("spmito_review"):
            return
        cell_id = self._session.cell_at(self.cells.value.world_to_data(event.position))
        yield
        if event.type == "mouse_release" and cell_id:
            self._session.select_only(cell_id)

    def _show_qc(self) -> None:
        session = self._session
        if session is None or session.out_dir is None:
            self.qc.setText("")
            return
        warnings = qc_warnings(session.out_dir, session.image_id)
        if warnings.empty:
            found = (session.out_dir / "qc.csv").is_file()
            self.qc.setText("QC: every check passed" if found else "QC: no qc.csv in the output "
                            "folder (run spmito report to make one)")
            return
        lines = [f"⚠ {'run' if row.image_id == '' else row.image_id} · {row.check}: "
                 f"{row.message}" for row in warnings.itertuples(index=False)]
        self.qc.setText("\n".join(lines))

    def _refresh(self, action: str = "") -> None:
        if action == "selection":
            self._show_selected_row()
            return
        if self._session is None:
            self.model.set_table(pd.DataFrame())
            self.count.setText("no cells layer")
            return
        features = self._session.shown_features
        kept = FILTERS[self.show_only.currentText()](features)
        self.model.set_table(table_for_reading(features[kept]).reset_index(drop=True))
        self.count.setText(f"{int(kept.sum())} of {len(features)} cells shown")
        self._show_selected_row()

    def _show_selected_row(self) -> None:
        """Highlight the row of the cell selected last (e.g. by a click in the viewer)."""
        selected = self._session.selected if self._session is not None else []
        ids = self.model.table["cell_id"].tolist() if len(self.model.table) else []
        if not selected or selected[-1] not in ids:
            return
        row = self.proxy.mapFromSource(self.model.index(ids.index(selected[-1]), 0)).row()
        if self.view.currentIndex().row() == row:
            return
        self.view.selectionModel().blockSignals(True)
        self.view.selectRow(row)
        self.view.selectionModel().blockSignals(False)
        self.view.scrollTo(self.proxy.index(row, 0))


def _describe_image(row) -> str:
    """One line of the image picker."""
    parts = [str(row.image_id)]
    for name in ("role", "well"):
        value = getattr(row, name, None)
        if isinstance(value, str) and value:
            parts.append(value)
    n_cells = getattr(row, "n_cells", np.nan)
    if pd.notna(n_cells):
        parts.append(f"{int(n_cells)} cells")
    sp = getattr(row, "sp_percent", np.nan)
    parts.append(f"{sp:.1f} % SP" if pd.notna(sp) else "no SP/MP yet")
    if row.n_warnings:
        parts.append(f"⚠ {row.n_warnings} QC")
    return " · ".join(parts)
