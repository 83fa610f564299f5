"""Measurements widget under Xvfb: the table sorts, filters, exports and follows the canvas
both ways; the QC warnings of qc.csv; the image picker of an output folder."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from napari.utils.status_messages import format_feature_value
from qtpy.QtCore import Qt

from spmito.plugins._qt.measurements_widget import MeasurementsWidget
from spmito.plugins._qt.review_widget import ReviewWidget
from spmito.plugins.review_table import SELECTED_MARK
from tests.plugins._qt.conftest import click, click_cell, click_row, zoom_on
from tests.plugins.conftest import CONTROL_ID, IMAGE_ID, two_neighbours


@pytest.fixture
def widget(folder_viewer):
    widget = MeasurementsWidget(folder_viewer)
    folder_viewer.window.add_dock_widget(widget)
    zoom_on(folder_viewer, widget.cells.value)
    return widget


def _column(widget, name):
    columns = [widget.model.headerData(i, Qt.Orientation.Horizontal)
               for i in range(widget.model.columnCount())]
    return columns.index(name)


def test_the_table_leads_with_the_cell_and_its_class(widget, folder_viewer):
    layer = folder_viewer.layers[f"{IMAGE_ID} cells"]
    assert widget.model.rowCount() == len(layer.features)
    columns = list(widget.model.table.columns)
    assert columns[:4] == ["cell_id", "population", "excluded", "hoechst_x"]
    assert "index" not in columns and "cell_area_um2" in columns[:6]


def test_a_row_click_selects_outlines_and_centres_its_cell(widget, folder_viewer, qtbot):
    layer = folder_viewer.layers[f"{IMAGE_ID} cells"]
    session = layer.metadata["spmito"]
    click_row(qtbot, widget.view, 5)
    cell_id = int(widget.shown_table()["cell_id"].iloc[5])
    assert session.selected == [cell_id] and layer.selected_label == cell_id
    outlined = set(np.unique(session.cells[session.marks == SELECTED_MARK])) - {0}
    assert outlined == {cell_id}
    centroid = widget.shown_table().iloc[5][["centroid_y", "centroid_x"]].to_numpy(float)
    np.testing.assert_allclose(folder_viewer.camera.center[-2:], centroid * layer.scale)


def test_a_cell_clicked_on_the_canvas_selects_its_row_without_review(widget, folder_viewer,
                                                                    qtbot):
    layer = folder_viewer.layers[f"{IMAGE_ID} cells"]
    cell_id = int(widget.shown_table()["cell_id"].iloc[7])
    click_cell(qtbot, folder_viewer, layer, cell_id)
    assert widget.view.currentIndex().row() == 7


def test_header_click_sorts_and_the_filter_and_export_follow(widget, qtbot, tmp_path,
                                                             monkeypatch):
    header = widget.view.horizontalHeader()
    section = header.sectionViewportPosition(_column(widget, "hoechst_x")) + 5
    from qtpy.QtCore import QPoint

    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton,
                     pos=QPoint(section, header.height() // 2))
    shown = widget.shown_table()["hoechst_x"].dropna().to_numpy()
    assert len(shown) > 10 and (np.all(np.diff(shown) >= 0) or np.all(np.diff(shown) <= 0))
    widget.show_only.setFocus()
    qtbot.keyClick(widget.show_only, Qt.Key.Key_Down)  # "SP"
    assert widget.show_only.currentText() == "SP"
    shown = widget.shown_table()
    assert len(shown) > 0 and set(shown["population"]) == {"SP"}
    path = tmp_path / "sp_cells.csv"
    monkeypatch.setattr("spmito.plugins._qt.measurements_widget.QFileDialog.getSaveFileName",
                        lambda *args: (str(path), "CSV (*.csv)"))
    click(qtbot, widget.export_button)
    exported = pd.read_csv(path)
    assert exported["cell_id"].tolist() == shown["cell_id"].tolist()
    assert f"{len(shown)} rows exported" in widget.count.text()


def test_hovering_a_cell_shows_its_class_and_size_in_the_status(folder_viewer):
    layer = folder_viewer.layers[f"{IMAGE_ID} cells"]
    cell_id = int(layer.features["index"].iloc[3])
    y, x = np.argwhere(layer.data == cell_id)[0]
    status = layer.get_status(layer.data_to_world((y, x)), world=True)
    area = layer.features.set_index("index").at[cell_id, "cell_area_um2"]
    assert f"cell_id: {cell_id}," in status["coordinates"]
    assert f"cell_area_um2: {format_feature_value(area)}" in status["coordinates"]
    assert len(status["coordinates"]) < 160, "short enough for the status bar"


def test_the_table_follows_edits(widget, folder_viewer, qtbot):
    review = ReviewWidget(folder_viewer)
    folder_viewer.window.add_dock_widget(review)
    layer = folder_viewer.layers[f"{IMAGE_ID} cells"]
    rows = widget.model.rowCount()
    a, b = two_neighbours(layer.data)
    click_cell(qtbot, folder_viewer, layer, a)
    click_cell(qtbot, folder_viewer, layer, b)
    assert widget.view.currentIndex().row() >= 0
    click(qtbot, review.buttons["merge"])
    assert widget.model.rowCount() == rows - 1


def test_qc_warnings_of_the_image_and_the_run(folder_viewer, output_folder):
    pd.DataFrame({"image_id": [IMAGE_ID, CONTROL_ID, None],
                  "check": ["undersampled_objects", "saturation", "control_sp_high"],
                  "severity": ["warning", "warning", "fail"], "value": [1, 2, 3],
                  "expected": [4, 5, 5],
                  "message": ["objects at the pixel scale", "saturated", "controls SP > 5 %"]}
                 ).to_csv(output_folder / "qc.csv", index=False)
    widget = MeasurementsWidget(folder_viewer)
    text = widget.qc.text()
    assert "undersampled_objects" in text and "control_sp_high" in text
    assert "saturation" not in text  # another image's
    assert "⚠ 1 QC" in widget.images.itemText(0)


def test_the_batch_qc_csv_is_shown_and_its_absence_is_said(folder_viewer, output_folder):
    batch_qc = pd.read_csv(output_folder / "qc.csv", keep_default_na=False)
    shown = MeasurementsWidget(folder_viewer).qc.text()
    assert all(check in shown for check in batch_qc.loc[batch_qc["image_id"] == "", "check"])
    (output_folder / "qc.csv").unlink()
    assert "no qc.csv" in MeasurementsWidget(folder_viewer).qc.text()


def test_the_picker_opens_an_image_beside_the_open_one(widget, folder_viewer, qtbot):
    assert [widget.images.itemData(i)[1] for i in range(widget.images.count())] == [
        IMAGE_ID, CONTROL_ID]
    widget.images.setFocus()
    qtbot.keyClick(widget.images, Qt.Key.Key_Down)
    click(qtbot, widget.open_button)
    test, control = (folder_viewer.layers[f"{i} cells"] for i in (IMAGE_ID, CONTROL_ID))
    assert control.translate[-1] >= test.data.shape[1] * test.scale[1]
    assert widget.cells.value is control
    assert folder_viewer.layers.selection.active is control
