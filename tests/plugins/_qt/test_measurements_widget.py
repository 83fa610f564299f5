"""Measurements widget under Xvfb: the table follows the layer; a row selects and centres."""

from __future__ import annotations

import numpy as np
import pytest
from napari.utils.status_messages import format_feature_value

from plugins._qt.measurements_widget import MeasurementsWidget
from plugins._qt.review_widget import ReviewWidget
from tests.plugins.conftest import IMAGE_ID, two_neighbours


@pytest.fixture
def widget(folder_viewer):
    widget = MeasurementsWidget(folder_viewer)
    folder_viewer.window.add_dock_widget(widget)
    return widget


def test_table_shows_the_layer_features(widget, folder_viewer):
    layer = folder_viewer.layers[f"{IMAGE_ID} cells"]
    assert widget.model.rowCount() == len(layer.features)
    columns = [widget.model.headerData(i, _horizontal()) for i in range(widget.model.columnCount())]
    assert columns[0] == "index" and "cell_area_um2" in columns and "population" in columns


def test_a_row_selects_and_centres_its_cell(widget, folder_viewer):
    layer = folder_viewer.layers[f"{IMAGE_ID} cells"]
    row = 5
    widget.view.selectRow(row)
    cell_id = int(layer.features["index"].iloc[row])
    assert layer.selected_label == cell_id
    assert layer.metadata["spmito"].selected == [cell_id]
    centroid = widget.model.table.iloc[row][["centroid_y", "centroid_x"]].to_numpy(float)
    np.testing.assert_allclose(folder_viewer.camera.center[-2:], centroid * layer.scale)


def test_a_cell_clicked_in_the_viewer_highlights_its_row(widget, folder_viewer):
    review = ReviewWidget(folder_viewer)
    layer = folder_viewer.layers[f"{IMAGE_ID} cells"]
    cell_id = int(layer.features["index"].iloc[7])
    review.click_cell(cell_id)
    assert widget.view.currentIndex().row() == 7


def test_hovering_a_cell_shows_its_features_in_the_status(folder_viewer):
    layer = folder_viewer.layers[f"{IMAGE_ID} cells"]
    cell_id = int(layer.features["index"].iloc[3])
    y, x = np.argwhere(layer.data == cell_id)[0]
    status = layer.get_status(layer.data_to_world((y, x)), world=True)
    area = layer.features.set_index("index").at[cell_id, "cell_area_um2"]
    assert f"cell_id: {cell_id}," in status["coordinates"]
    assert f"cell_area_um2: {format_feature_value(area)}" in status["coordinates"]


def test_the_table_follows_edits(widget, folder_viewer):
    review = ReviewWidget(folder_viewer)
    layer = folder_viewer.layers[f"{IMAGE_ID} cells"]
    rows = widget.model.rowCount()
    review.session.merge(two_neighbours(layer.data))
    assert widget.model.rowCount() == rows - 1


def _horizontal():
    from qtpy.QtCore import Qt

    return Qt.Orientation.Horizontal
