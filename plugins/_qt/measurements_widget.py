"""Measurements: the cells table of an image, linked to its layer."""

# no `from __future__ import annotations`: napari injects the viewer by its annotation

import napari
import numpy as np
import pandas as pd
from magicgui.widgets import ComboBox
from qtpy.QtCore import QAbstractTableModel, QModelIndex, Qt
from qtpy.QtWidgets import QAbstractItemView, QLabel, QTableView, QVBoxLayout, QWidget

from plugins._qt._choices import cells_layer_choices
from plugins.review import session_of


class FeaturesModel(QAbstractTableModel):
    """A read-only Qt table over a DataFrame."""

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
        """The text of a cell."""
        if role != Qt.ItemDataRole.DisplayRole or not index.isValid():
            return None
        value = self.table.iat[index.row(), index.column()]
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
    """The per-cell table of the chosen cells layer; a row selects and centres its cell.

    Hovering a cell in the viewer shows its main features in napari's status bar (the
    layer's ``features``, whose ``index`` column holds the cell ids).

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        The viewer holding the cells layers.
    """

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__()
        self.viewer = viewer
        self._session = None
        self.cells = ComboBox(label="Cells layer", choices=cells_layer_choices(viewer))
        self.cells.changed.connect(self._show_layer)
        self.model = FeaturesModel()
        self.view = QTableView()
        self.view.setModel(self.model)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.selectionModel().currentRowChanged.connect(
            lambda current, _previous: self.show_row(current.row()))
        self.count = QLabel("")
        layout = QVBoxLayout(self)
        layout.addWidget(self.cells.native)
        layout.addWidget(self.view)
        layout.addWidget(self.count)
        self.reset_choices()

    def reset_choices(self, *_) -> None:
        """Refresh the list of cells layers."""
        self.cells.reset_choices()
        self._show_layer(self.cells.value)

    def show_row(self, row: int) -> None:
        """Select the cell of a table row, centre the view on it (its plane in 3-D)."""
        if row < 0 or row >= len(self.model.table):
            return
        cell_id = int(self.model.table["index"].iat[row])
        self.show_cell(cell_id)

    def show_cell(self, cell_id: int) -> None:
        """Select ``cell_id`` and centre the view on its centroid."""
        layer, session = self.cells.value, self._session
        features = self.model.table.set_index("index")
        centroid_px = [features.at[cell_id, f"centroid_{axis}"]
                       for axis in "zyx"[-layer.ndim:]]
        centre = np.asarray(layer.data_to_world(centroid_px))
        if layer.ndim == 3:
            self.viewer.dims.set_point(0, centre[0])
        self.viewer.camera.center = tuple(centre[-2:])
        layer.selected_label = cell_id
        session.select_only(cell_id)

    def _show_layer(self, layer) -> None:
        if self._session is not None:
            self._session.changed.disconnect(self._refresh)
        self._session = None if layer is None else session_of(layer)
        if self._session is not None:
            self._session.changed.connect(self._refresh)
        self._refresh()

    def _refresh(self, action: str = "") -> None:
        if action == "selection":
            self._show_selected_row()
            return
        table = pd.DataFrame() if self._session is None else self._session.shown_features
        self.model.set_table(table)
        self.count.setText(f"{len(table)} cells" if len(table) else "no cells layer")

    def _show_selected_row(self) -> None:
        """Highlight the row of the cell selected last (e.g. by a click in the viewer)."""
        selected = self._session.selected if self._session is not None else []
        ids = self.model.table["index"].tolist() if len(self.model.table) else []
        if not selected or selected[-1] not in ids:
            return
        row = ids.index(selected[-1])
        if self.view.currentIndex().row() == row:
            return
        self.view.selectionModel().blockSignals(True)
        self.view.selectRow(row)
        self.view.selectionModel().blockSignals(False)
        self.view.scrollTo(self.model.index(row, 0))
