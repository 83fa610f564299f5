"""End to end under Xvfb: the plugin loads in napari; segment -> look -> edit -> save -> reopen."""

from __future__ import annotations

import numpy as np
import pytest
from qtpy.QtWidgets import QRadioButton

from spmito.imaging import corrections
from spmito.imaging.io import read_labels
from spmito.imaging.synthetic import write_field
from spmito.plugins._qt.review_widget import ReviewWidget
from spmito.plugins._qt.segment_widget import SegmentWidget
from spmito.plugins._reader import read_image_file, read_output_folder
from tests.plugins._qt.conftest import (
    MANIFEST,
    add_layer_data,
    click,
    click_cell,
    run_and_wait,
    zoom_on,
)
from tests.plugins.conftest import two_neighbours

WIDGETS = ("Segment & measure", "Review cells", "SP gating", "Measurements")


def test_the_plugin_loads_its_widgets_reader_and_samples(make_napari_viewer, spmito_plugin,
                                                         output_folder):
    from npe2 import PluginManifest

    PluginManifest.from_file(MANIFEST).validate_imports()  # every command resolves
    viewer = make_napari_viewer()
    for name in WIDGETS:
        dock, widget = viewer.window.add_plugin_dock_widget("spmito", name)
        assert getattr(widget.viewer, '__wrapped__', widget.viewer) is viewer, name
    layers = viewer.open(str(output_folder / "images" / "field_a"), plugin="spmito")
    assert [layer.name for layer in layers][-2:] == ["field_a cells", "field_a selection"]
    assert viewer.layers["field_a cells"].units[0] == "micrometer"
    samples = viewer.open_sample("spmito", "synthetic_2d")
    assert [layer.metadata["spmito_role"] for layer in samples] == ["hoechst", "cell", "mito"]


def _cells_only_screenshot(viewer, cells_layer):
    """A canvas screenshot showing only the cells layer, filled and opaque."""
    shown = {layer.name: layer.visible for layer in viewer.layers}
    for layer in viewer.layers:
        layer.visible = layer is cells_layer
    cells_layer.opacity = 1.0
    viewer.reset_view()
    image = viewer.screenshot(canvas_only=True, flash=False)
    for layer in viewer.layers:
        layer.visible = shown[layer.name]
    return image


def _screen_to_pixels(viewer, layer, screenshot):
    """Data pixel (row, col) of the cells layer under each screenshot pixel.

    napari puts the centre of data pixel i at world coordinate i * scale.
    """
    height, width = screenshot.shape[:2]
    rows, cols = np.mgrid[0:height, 0:width]
    zoom = viewer.camera.zoom
    centre = np.asarray(viewer.camera.center[-2:])
    world_y = centre[0] + (rows + 0.5 - height / 2) / zoom
    world_x = centre[1] + (cols + 0.5 - width / 2) / zoom
    return (np.floor(world_y / layer.scale[0] + 0.5).astype(int),
            np.floor(world_x / layer.scale[1] + 0.5).astype(int))


def test_segment_screenshot_edit_save_and_reopen(make_napari_viewer, qtbot, tmp_path,
                                                 monkeypatch, field_2d, truth_segmentation,
                                                 save_screenshot):
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1600, 1000)
    image_path = write_field(field_2d, tmp_path / "input", "field_e2e", preview=False)
    add_layer_data(viewer, read_image_file(str(image_path)))
    segment = SegmentWidget(viewer)
    viewer.window.add_dock_widget(segment)
    run_and_wait(qtbot, segment)
    cells = viewer.layers["field_e2e cells"]

    # what a user sees: the coloured cells lie where the true cells are
    viewer.reset_view()
    save_screenshot(viewer.screenshot(canvas_only=True, flash=False), "segmented_overlay")
    screenshot = _cells_only_screenshot(viewer, cells)
    save_screenshot(screenshot, "segmented_cells_only")
    rows, cols = _screen_to_pixels(viewer, cells, screenshot)
    inside = (rows >= 0) & (rows < cells.data.shape[0]) & (cols >= 0) & (cols < cells.data.shape[1])
    truth = np.zeros(screenshot.shape[:2], bool)
    truth[inside] = field_2d.cells[rows[inside], cols[inside]] > 0
    coloured = screenshot[..., :3].max(axis=-1) > 30
    iou = (coloured & truth).sum() / (coloured | truth).sum()
    assert iou > 0.98, f"coloured screen pixels match the true cells with IoU {iou:.3f}"
    assert not coloured[~inside].any(), "nothing is drawn outside the image"

    # review: merge two cells, flip one, save into a new output folder (asked for)
    review = ReviewWidget(viewer)
    viewer.window.add_dock_widget(review)
    zoom_on(viewer, cells)
    a, b = two_neighbours(cells.data)
    click_cell(qtbot, viewer, cells, a)
    click_cell(qtbot, viewer, cells, b)
    click(qtbot, review.buttons["merge"])
    flip = [button for button in review.click_action.native.findChildren(QRadioButton)
            if button.text() == "flip SP/MP"][0]
    click(qtbot, flip)
    click_cell(qtbot, viewer, cells, min(a, b))
    cells.opacity = 0.6
    save_screenshot(viewer.screenshot(canvas_only=True, flash=False), "reviewed_overlay")
    out_dir = tmp_path / "out"
    monkeypatch.setattr("spmito.plugins._qt.review_widget.QFileDialog.getExistingDirectory",
                        lambda *args: str(out_dir))
    click(qtbot, review.buttons["save"])

    folder = out_dir / "images" / "field_e2e"
    saved, voxel_size_um = read_labels(folder / "cells.ome.tif")
    assert np.array_equal(saved, cells.data) and not (saved == max(a, b)).any()
    assert voxel_size_um == pytest.approx(field_2d.params.voxel_size_um)
    assert corrections.read_review(out_dir, "field_e2e")["population_override"].tolist() == ["SP"]
    assert [r.action for r in corrections.read_edits(out_dir)] == ["merge", "population", "save"]

    reopened = make_napari_viewer()
    layers = add_layer_data(reopened, read_output_folder(str(folder)))
    assert [layer.name for layer in layers] == [
        f"field_e2e {name}" for name in ("hoechst", "cell", "mito", "nuclei", "mitochondria",
                                         "cells", "selection")]
    reopened_cells = reopened.layers["field_e2e cells"]
    assert np.array_equal(reopened_cells.data, cells.data)
    features = reopened_cells.metadata["spmito"].shown_features.set_index("index")
    assert features.at[min(a, b), "population"] == "SP"
    assert features.at[min(a, b), "population_source"] == "manual"


def test_every_control_has_a_tooltip(make_napari_viewer, spmito_plugin, folder_viewer):
    from qtpy.QtWidgets import (
        QAbstractButton,
        QAbstractItemView,
        QAbstractSpinBox,
        QComboBox,
        QLineEdit,
    )

    kinds = (QAbstractButton, QComboBox, QLineEdit, QAbstractSpinBox, QAbstractItemView)
    missing = []
    for name in WIDGETS:
        _, widget = folder_viewer.window.add_plugin_dock_widget("spmito", name)
        for control in widget.findChildren(kinds):
            if isinstance(control, QLineEdit) and isinstance(control.parent(),
                                                             (QComboBox, QAbstractSpinBox)):
                continue  # the editor inside a combo or spin box: its owner has the tip
            owner, tip = control, ""
            while owner is not None and owner is not widget and not tip:
                tip, owner = owner.toolTip(), owner.parent()
            if not tip:
                missing.append(f"{name}: {type(control).__name__} {control.objectName()!r} "
                               f"{getattr(control, 'text', lambda: '')()!r}")
    assert not missing, missing
