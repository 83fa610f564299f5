"""The biologist's story under Xvfb, every step a mouse click or a key press.

``napari DIR`` on a plate output folder -> pick an image -> merge, split, delete, flip,
undo (what is highlighted after each step) -> save -> SP gating opens on the batch gate
-> drag the gate, save -> ``spmito report`` applies every edit and the new gate. A
screenshot of the whole window is saved at each step (test-artifacts/story_*.png).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QScrollArea

from spmito.imaging import corrections
from spmito.imaging.cli import main
from spmito.plugins.review_table import CLASS_COLOURS, DELETED_MARK, SELECTED_MARK
from tests.plugins._qt.conftest import (
    ARTIFACTS,
    click,
    click_cell,
    drag_gate,
    inside_pixel,
    press_key,
    save_window,
    zoom_on,
)
from tests.plugins.conftest import BATCH_THRESHOLD_X, CONTROL_ID, IMAGE_ID, two_neighbours

#: The screen the window must fit, with all four widgets docked.
SCREEN = (1600, 1000)


def _write_qc(out_dir):
    """A qc.csv as the batch writes it (contract.md): an image's and the run's failed checks."""
    pd.DataFrame([
        {"image_id": IMAGE_ID, "check": "few_mitochondria", "severity": "fail",
         "value": 80.0, "expected": 50.0, "message": "most cells have no mitochondria: check "
         "the mito channel"},
        {"image_id": "", "check": "gate_few_cells", "severity": "warning", "value": 40,
         "expected": 1000, "message": "the gate rests on few control cells"},
    ]).to_csv(out_dir / "qc.csv", index=False)


def _selected_ids(session):
    """The cells the marks layer outlines as selected."""
    return set(np.unique(session.cells[session.marks == SELECTED_MARK]).tolist()) - {0}


@pytest.mark.slow
def test_a_biologist_reviews_a_plate_and_regates_it(make_napari_viewer, spmito_plugin, qtbot,
                                                      output_folder, capsys):
    (output_folder / corrections.MANUAL_GATE).unlink()  # the gate must come from gating.json
    _write_qc(output_folder)
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(*SCREEN)

    # 1. napari DIR: the plate opens on its test image, coloured SP/MP, with the picker docked
    viewer.open(str(output_folder), plugin="spmito")
    cells = viewer.layers[f"{IMAGE_ID} cells"]
    session = cells.metadata["spmito"]
    population = cells.features.set_index("index")["population"]
    sp_cell = int(population[population == "SP"].index[0])
    np.testing.assert_allclose(cells.colormap.map(sp_cell)[:3],
                               _rgb(CLASS_COLOURS["SP"]), atol=0.01)
    _, measurements = viewer.window.add_plugin_dock_widget("spmito", "Measurements")
    qc_text = measurements.qc.text()
    assert "few_mitochondria" in qc_text and "gate_few_cells" in qc_text
    save_window(viewer, "story_1_plate_opened")

    # 2. pick the control image in the picker: it opens beside the test image
    measurements.images.setFocus()
    qtbot.keyClick(measurements.images, Qt.Key.Key_Down)
    assert measurements.images.currentData()[1] == CONTROL_ID
    click(qtbot, measurements.open_button)
    control = viewer.layers[f"{CONTROL_ID} cells"]
    width_um = cells.data.shape[1] * cells.scale[1]
    assert control.translate[-1] >= width_um and cells.translate[-1] == 0
    assert viewer.layers[f"{CONTROL_ID} hoechst"].translate[-1] == control.translate[-1]
    save_window(viewer, "story_2_control_picked")

    # 3. review the test image: merge, split, delete, flip, undo
    for name in ("Review cells", "SP gating", "Segment & measure"):
        viewer.window.add_plugin_dock_widget("spmito", name)
    _, review = viewer.window.add_plugin_dock_widget("spmito", "Review cells")
    window = viewer.window._qt_window
    assert window.width() <= SCREEN[0] and window.height() <= SCREEN[1], window.size()
    review.cells.value = cells
    viewer.layers.selection.active = cells
    zoom_on(viewer, cells)
    a, b = two_neighbours(cells.data)
    click_cell(qtbot, viewer, cells, a)
    click_cell(qtbot, viewer, cells, b)
    assert session.selected == [a, b] and _selected_ids(session) == {a, b}
    save_window(viewer, "story_3_two_cells_selected")
    click(qtbot, review.buttons["merge"])
    assert not (cells.data == max(a, b)).any() and _selected_ids(session) == set()
    merged = min(a, b)
    save_window(viewer, "story_4_merged")

    big = int(cells.features.sort_values("cell_area_um2")["index"].iloc[-1])
    ys, xs = np.nonzero(cells.data == big)
    click(qtbot, review.buttons["draw_line"])
    cut = viewer.layers["cut line"]
    assert cut.mode == "add_path"
    x_mid = float(np.median(xs))
    cut.add_paths([np.array([[ys.min() - 3, x_mid], [ys.max() + 3, x_mid]])])
    new_id = session.next_free_id()
    viewer.layers.selection.active = cells
    press_key(viewer, Qt.Key.Key_S, Qt.KeyboardModifier.ShiftModifier)
    assert {big, new_id} <= set(cells.features["index"]), review.status.text()
    assert _selected_ids(session) == set()
    save_window(viewer, "story_5_split")

    doomed = next(int(i) for i in cells.features["index"] if i not in (merged, big, new_id))
    doomed_pixel = inside_pixel(cells.data, doomed)
    doomed_mask = cells.data == doomed
    click_cell(qtbot, viewer, cells, doomed)
    assert _selected_ids(session) == {doomed}
    click(qtbot, review.buttons["delete"])
    assert not (cells.data == doomed).any() and _selected_ids(session) == set()
    outline = session.marks == DELETED_MARK
    assert outline.any() and (outline <= doomed_mask).all() and not outline[doomed_pixel]
    save_window(viewer, "story_6_deleted")

    flipped = next(int(i) for i in cells.features["index"]
                   if i not in (merged, big, new_id) and population.get(i) in ("SP", "MP"))
    before = cells.features.set_index("index").at[flipped, "population"]
    click_cell(qtbot, viewer, cells, flipped)
    press_key(viewer, Qt.Key.Key_T, Qt.KeyboardModifier.ShiftModifier)
    assert cells.features.set_index("index").at[flipped, "population"] != before
    assert _selected_ids(session) == {flipped}  # a flip keeps the selection
    save_window(viewer, "story_7_flipped")
    press_key(viewer, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert cells.features.set_index("index").at[flipped, "population"] == before
    assert _selected_ids(session) == {flipped}
    assert (session.marks == DELETED_MARK).any(), "the deleted cell stays outlined"
    save_window(viewer, "story_8_flip_undone")

    # 4. save through the button
    click(qtbot, review.buttons["save"])
    assert "saved" in review.status.text()
    actions = [record.action for record in corrections.read_edits(output_folder)]
    assert actions == ["merge", "split_line", "delete", "population", "undo", "save"]

    # 5. SP gating opens on the batch gate, and changes no class by opening; the biologist
    # closes the docks she is done with, so that the histogram has room
    for name in ("Segment & measure", "Review cells"):
        viewer.window.remove_dock_widget(viewer.window._wrapped_dock_widgets[
            f"{name} (spmito)"])
    _, gating = viewer.window.add_plugin_dock_widget("spmito", "SP gating")
    gating.reset_choices()
    assert gating.model.threshold_x == pytest.approx(BATCH_THRESHOLD_X)
    assert "Batch gate" in gating.gate_source.text()
    assert "relative to the G1 peak" in gating.axes.get_xlabel()
    assert cells.features.set_index("index").at[flipped, "population"] == before
    save_window(viewer, "story_9_gating_opened")

    # 6. drag the gate and save through the button
    x = session.shown_features["hoechst_x"].dropna()
    target = float(x.quantile(0.3))
    drag_gate(qtbot, gating, BATCH_THRESHOLD_X, target)
    assert gating.model.threshold_x == pytest.approx(target, abs=0.05)
    new_gate = gating.model.threshold_x
    qtbot.waitUntil(lambda: session.threshold_x == new_gate, timeout=3000)
    click(qtbot, gating.save_button)
    assert corrections.read_manual_gate(output_folder)["threshold_x"] == pytest.approx(new_gate)
    save_window(viewer, "story_10_gate_dragged_and_saved")
    body = gating.findChild(QScrollArea).widget()  # the whole widget, unscrolled
    body.grab().save(str(ARTIFACTS / "story_10b_gating_widget.png"))

    # 7. spmito report applies every edit and the new gate
    assert main(["report", str(output_folder)]) == 0, capsys.readouterr()
    table = pd.read_csv(output_folder / "cells.csv")
    image = table[table["image_id"] == IMAGE_ID].set_index("cell_id")
    assert max(a, b) not in image.index and merged in image.index
    assert {big, new_id} <= set(image.index) and doomed not in image.index
    assert image.at[flipped, "population_source"] != "manual"  # the flip was undone
    gates = json.loads((output_folder / "gating.json").read_text())
    assert [g["method"] for g in gates] == ["manual"]
    assert gates[0]["threshold_x"] == pytest.approx(new_gate)
    kept = image[~image["excluded"].astype(bool) & image["hoechst_x"].notna()]
    assert (kept["population"] == np.where(kept["hoechst_x"] < new_gate, "SP", "MP")).all()


def _rgb(colour):
    from matplotlib.colors import to_rgb

    return to_rgb(colour)
