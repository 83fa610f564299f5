"""Review cells widget under Xvfb: canvas clicks, buttons and shortcuts, as a user gives them."""

from __future__ import annotations

import numpy as np
import pytest
from qtpy.QtCore import Qt

from spmito.imaging import corrections
from spmito.plugins._qt.review_widget import CUT_LINE, SEEDS, ReviewWidget
from spmito.plugins.review_table import SELECTED_MARK
from tests.plugins._qt.conftest import click, click_cell, press_key, zoom_on
from tests.plugins.conftest import IMAGE_ID, two_neighbours

SHIFT, CTRL = Qt.KeyboardModifier.ShiftModifier, Qt.KeyboardModifier.ControlModifier


@pytest.fixture
def widget(folder_viewer, qtbot):
    widget = ReviewWidget(folder_viewer)
    folder_viewer.window.add_dock_widget(widget)
    zoom_on(folder_viewer, widget.cells.value)
    return widget


def _cells(widget):
    return widget.cells.value


def _outlined(session):
    return set(np.unique(session.cells[session.marks == SELECTED_MARK]).tolist()) - {0}


def test_the_cells_layer_of_the_folder_is_chosen(widget):
    assert _cells(widget).name == f"{IMAGE_ID} cells"
    assert widget.session.layer is _cells(widget)


def test_clicks_select_then_shift_m_merges_and_ctrl_z_undoes(widget, folder_viewer, qtbot):
    layer = _cells(widget)
    a, b = two_neighbours(layer.data)
    click_cell(qtbot, folder_viewer, layer, a)
    click_cell(qtbot, folder_viewer, layer, b)
    assert f"Selected: {a}, {b}" in widget.selection.text()
    assert _outlined(widget.session) == {a, b}
    n_cells = len(layer.features)
    press_key(folder_viewer, Qt.Key.Key_M, SHIFT)
    assert len(layer.features) == n_cells - 1 and not (layer.data == max(a, b)).any()
    assert "merged" in widget.status.text()
    assert widget.session.selected == [] and _outlined(widget.session) == set()
    press_key(folder_viewer, Qt.Key.Key_Z, CTRL)
    assert len(layer.features) == n_cells and (layer.data == max(a, b)).any()


def test_after_a_merge_delete_reaches_only_the_new_click(widget, folder_viewer, qtbot):
    """The reported bug: Delete after a merge also deleted the merged cell off screen."""
    layer = _cells(widget)
    a, b = two_neighbours(layer.data)
    click_cell(qtbot, folder_viewer, layer, a)
    click_cell(qtbot, folder_viewer, layer, b)
    click(qtbot, widget.buttons["merge"])
    other = next(int(i) for i in layer.features["index"] if i != min(a, b))
    click_cell(qtbot, folder_viewer, layer, other)
    click(qtbot, widget.buttons["delete"])
    assert f"deleted cells [{other}]" in widget.status.text()
    assert (layer.data == min(a, b)).any()


def test_a_click_in_flip_mode_flips_the_cell(widget, folder_viewer, qtbot):
    layer = _cells(widget)
    cell_id = int(layer.features["index"].iloc[0])
    flip = [b for b in widget.click_action.native.findChildren(_radio_button())
            if b.text() == "flip SP/MP"][0]
    click(qtbot, flip)
    assert widget.click_action.value == "flip SP/MP"
    before = layer.features.set_index("index").at[cell_id, "population"]
    click_cell(qtbot, folder_viewer, layer, cell_id)
    after = layer.features.set_index("index").at[cell_id, "population"]
    assert {before, after} == {"SP", "MP"}
    assert widget.session.shown_features.set_index("index").at[
        cell_id, "population_source"] == "manual"


def test_split_along_a_drawn_line(widget, folder_viewer, qtbot):
    layer = _cells(widget)
    cell_id = int(layer.features.sort_values("cell_area_um2")["index"].iloc[-1])
    ys, xs = np.nonzero(layer.data == cell_id)
    click(qtbot, widget.buttons["draw_line"])
    shapes = folder_viewer.layers[CUT_LINE]
    assert folder_viewer.layers.selection.active is shapes and shapes.mode == "add_path"
    x_mid = float(np.median(xs))
    shapes.add_paths([np.array([[ys.min() - 3, x_mid], [ys.max() + 3, x_mid]])])
    new_id = widget.session.next_free_id()
    click(qtbot, widget.buttons["split"])
    assert set(layer.features["index"]) >= {cell_id, new_id}, widget.status.text()
    assert len(shapes.data) == 0 and folder_viewer.layers.selection.active is layer
    mito = folder_viewer.layers[f"{IMAGE_ID} mitochondria"]
    assert mito.data is widget.session.result.mito, "re-cut pieces show in the mito layer"
    pieces_in_new_cell = set(np.unique(mito.data[layer.data == new_id])) - {0}
    assert set(widget.session.result.mito_table.query("cell_id == @new_id")["mito_id"]) == \
        pieces_in_new_cell


def test_split_at_seeds_then_delete_with_shortcuts(widget, folder_viewer, qtbot):
    layer = _cells(widget)
    cell_id = int(layer.features["index"].iloc[1])
    ys, xs = np.nonzero(layer.data == cell_id)
    click(qtbot, widget.buttons["place_seeds"])
    seeds = folder_viewer.layers[SEEDS]
    assert seeds.mode == "add"
    seeds.add([[np.median(ys), xs.min() + 2], [np.median(ys), xs.max() - 2]])
    press_key(folder_viewer, Qt.Key.Key_S, SHIFT)
    parts = [int(i) for i in np.unique(layer.data[(ys, xs)])]
    assert len(parts) == 2, widget.status.text()
    for part in parts:
        click_cell(qtbot, folder_viewer, layer, part)
    press_key(folder_viewer, Qt.Key.Key_D, SHIFT)
    assert not np.isin(layer.data, parts).any()
    assert not layer.features["index"].isin(parts).any()


def test_new_cell_paints_the_next_free_id_on_background(widget, qtbot):
    layer = _cells(widget)
    new_id = widget.session.next_free_id()
    click(qtbot, widget.buttons["new_cell"])
    assert layer.mode == "paint" and layer.selected_label == new_id and layer.preserve_labels
    background = np.argwhere(layer.data == 0)[len(np.argwhere(layer.data == 0)) // 2]
    with layer.block_history():  # one brush stroke, as napari's mouse binding makes it
        layer.paint(background, new_id)
    assert new_id in set(layer.features["index"])


def test_errors_are_shown_not_raised(widget, qtbot):
    click(qtbot, widget.buttons["merge"])
    assert "select cells first" in widget.status.text()
    click(qtbot, widget.buttons["split"])
    assert "cut line" in widget.status.text()


def test_the_save_button_writes_the_folder_corrections(widget, folder_viewer, qtbot,
                                                       output_folder):
    layer = _cells(widget)
    a, b = two_neighbours(layer.data)
    click_cell(qtbot, folder_viewer, layer, a)
    click_cell(qtbot, folder_viewer, layer, b)
    click(qtbot, widget.buttons["merge"])
    click_cell(qtbot, folder_viewer, layer, min(a, b))
    click(qtbot, widget.buttons["exclude"])
    click(qtbot, widget.buttons["save"])
    assert "saved" in widget.status.text()
    assert corrections.corrected_images(output_folder) == [IMAGE_ID]
    review = corrections.read_review(output_folder, IMAGE_ID)
    assert review.to_dict("records") == [{"cell_id": min(a, b), "population_override": None,
                                          "excluded_override": True}]
    log = corrections.read_edits(output_folder)
    assert [(r.action, r.cell_ids) for r in log] == [
        ("merge", tuple(sorted((a, b)))), ("exclusion", (min(a, b),)), ("save", ())]


def test_an_image_without_a_folder_asks_where_to_save(widget, folder_viewer, qtbot, tmp_path,
                                                      monkeypatch):
    widget.session.out_dir = None
    asked = []
    monkeypatch.setattr("spmito.plugins._qt.review_widget.QFileDialog.getExistingDirectory",
                        lambda *args: asked.append(args) or str(tmp_path / "elsewhere"))
    click(qtbot, widget.buttons["save"])
    assert len(asked) == 1 and "saved" in widget.status.text(), widget.status.text()
    assert (tmp_path / "elsewhere" / "images" / IMAGE_ID / "cells.ome.tif").is_file()


def _radio_button():
    from qtpy.QtWidgets import QRadioButton

    return QRadioButton
