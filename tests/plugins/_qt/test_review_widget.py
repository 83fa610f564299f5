"""Review cells widget under Xvfb: clicks, shortcuts, drawn lines and seeds, undo, save."""

from __future__ import annotations

import numpy as np
import pytest
from napari.utils.interactions import mouse_press_callbacks, mouse_release_callbacks
from qtpy.QtCore import Qt

from imaging import corrections
from plugins._qt.review_widget import CUT_LINE, SEEDS, ReviewWidget
from tests.plugins.conftest import IMAGE_ID, two_neighbours


@pytest.fixture
def widget(folder_viewer):
    widget = ReviewWidget(folder_viewer)
    folder_viewer.window.add_dock_widget(widget)
    return widget


def _cells(widget):
    return widget.cells.value


def _press_key(viewer, key, modifier=Qt.KeyboardModifier.NoModifier):
    from pytestqt.qtbot import QtBot

    canvas = viewer.window._qt_viewer.canvas.native
    QtBot.keyClick(canvas, key, modifier)


class _MouseEvent:
    """The attributes napari's mouse callbacks read."""

    def __init__(self, kind, position):
        self.type = kind
        self.position = position
        self.button = 1
        self.modifiers = []
        self.view_direction = None
        self.dims_displayed = [0, 1]
        self.is_dragging = False
        self.handled = False


def test_the_cells_layer_of_the_folder_is_chosen(widget):
    assert _cells(widget).name == f"{IMAGE_ID} cells"
    assert widget.session.layer is _cells(widget)


def test_clicks_select_then_shift_m_merges_and_ctrl_z_undoes(widget, folder_viewer):
    layer = _cells(widget)
    a, b = two_neighbours(layer.data)
    widget.click_cell(a)
    widget.click_cell(b)
    assert f"Selected: {a}, {b}" in widget.selection.text()
    n_cells = len(layer.features)
    folder_viewer.layers.selection.active = layer
    _press_key(folder_viewer, Qt.Key.Key_M, Qt.KeyboardModifier.ShiftModifier)
    assert len(layer.features) == n_cells - 1 and not (layer.data == max(a, b)).any()
    assert "merged" in widget.status.text()
    _press_key(folder_viewer, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert len(layer.features) == n_cells and (layer.data == max(a, b)).any()


def test_a_mouse_click_in_pan_zoom_mode_flips_the_cell(widget):
    layer = _cells(widget)
    cell_id = int(layer.features["index"].iloc[0])
    y, x = np.argwhere(layer.data == cell_id)[0]
    world = tuple(layer.data_to_world((y, x)))
    widget.click_action.value = "flip SP/MP"
    before = layer.features.set_index("index").at[cell_id, "population"]
    mouse_press_callbacks(layer, _MouseEvent("mouse_press", world))
    mouse_release_callbacks(layer, _MouseEvent("mouse_release", world))
    after = layer.features.set_index("index").at[cell_id, "population"]
    assert {before, after} == {"SP", "MP"}
    assert layer.features.set_index("index").at[cell_id, "population_source"] == "manual"


def test_split_along_a_drawn_line(widget, folder_viewer):
    layer = _cells(widget)
    cell_id = int(layer.features.sort_values("cell_area_um2")["index"].iloc[-1])
    ys, xs = np.nonzero(layer.data == cell_id)
    widget.draw_cut_line()
    shapes = folder_viewer.layers[CUT_LINE]
    assert folder_viewer.layers.selection.active is shapes and shapes.mode == "add_path"
    x_mid = float(np.median(xs))
    shapes.add_paths([np.array([[ys.min() - 3, x_mid], [ys.max() + 3, x_mid]])])
    new_id = widget.session.next_free_id()
    widget.split()
    assert set(layer.features["index"]) >= {cell_id, new_id}, widget.status.text()
    assert len(shapes.data) == 0 and folder_viewer.layers.selection.active is layer
    mito = folder_viewer.layers[f"{IMAGE_ID} mitochondria"]
    assert mito.data is widget.session.result.mito, "re-cut pieces show in the mito layer"
    pieces_in_new_cell = set(np.unique(mito.data[layer.data == new_id])) - {0}
    assert set(widget.session.result.mito_table.query("cell_id == @new_id")["mito_id"]) == \
        pieces_in_new_cell


def test_split_at_seeds_then_delete_with_shortcuts(widget, folder_viewer):
    layer = _cells(widget)
    cell_id = int(layer.features["index"].iloc[1])
    ys, xs = np.nonzero(layer.data == cell_id)
    widget.place_seeds()
    seeds = folder_viewer.layers[SEEDS]
    seeds.add([[np.median(ys), xs.min() + 2], [np.median(ys), xs.max() - 2]])
    _press_key(folder_viewer, Qt.Key.Key_S, Qt.KeyboardModifier.ShiftModifier)
    parts = [int(i) for i in np.unique(layer.data[(ys, xs)])]
    assert len(parts) == 2, widget.status.text()
    for part in parts:
        widget.click_cell(part)
    _press_key(folder_viewer, Qt.Key.Key_D, Qt.KeyboardModifier.ShiftModifier)
    assert not np.isin(layer.data, parts).any()
    assert not layer.features["index"].isin(parts).any()


def test_new_cell_paints_the_next_free_id_on_background(widget):
    layer = _cells(widget)
    new_id = widget.session.next_free_id()
    widget.new_cell()
    assert layer.mode == "paint" and layer.selected_label == new_id and layer.preserve_labels
    background = np.argwhere(layer.data == 0)[len(np.argwhere(layer.data == 0)) // 2]
    with layer.block_history():  # one brush stroke, as napari's mouse binding makes it
        layer.paint(background, new_id)
    assert new_id in set(layer.features["index"])


def test_errors_are_shown_not_raised(widget):
    widget.merge()
    assert "select cells first" in widget.status.text()
    widget.split()
    assert "cut line" in widget.status.text()


def test_save_writes_the_folder_corrections(widget, output_folder):
    layer = _cells(widget)
    a, b = two_neighbours(layer.data)
    widget.click_cell(a)
    widget.click_cell(b)
    widget.merge()
    widget.exclude_selected()
    widget.save()
    assert "saved" in widget.status.text()
    assert corrections.corrected_images(output_folder) == [IMAGE_ID]
    review = corrections.read_review(output_folder, IMAGE_ID)
    assert review.to_dict("records") == [{"cell_id": min(a, b), "population_override": None,
                                          "excluded_override": True}]
    log = corrections.read_edits(output_folder)
    assert [(r.action, r.cell_ids) for r in log] == [
        ("merge", tuple(sorted((a, b)))), ("exclusion", (min(a, b),)), ("save", ())]
