"""Segment & measure widget under Xvfb: form -> stack/params, thread worker, result layers."""

from __future__ import annotations

import napari
import numpy as np
import pandas as pd
import pytest
from qtpy.QtCore import Qt

from spmito.imaging.io import read_stack
from spmito.imaging.pipeline import analyse_stack
from spmito.plugins._qt.segment_widget import SegmentWidget
from spmito.plugins._reader import read_image_file
from spmito.plugins.review import ReviewSession
from tests.plugins._qt.conftest import click, run_and_wait, type_into


@pytest.fixture
def image_file(tmp_path, field_2d):
    from spmito.imaging.synthetic import write_field

    return write_field(field_2d, tmp_path, "field_b", preview=False)


@pytest.fixture
def widget(make_napari_viewer, image_file):
    viewer = make_napari_viewer()
    for data, kwargs, kind in read_image_file(str(image_file)):
        viewer.add_layer(napari.layers.Layer.create(data, kwargs, kind))
    widget = SegmentWidget(viewer)
    viewer.window.add_dock_widget(widget)
    return widget


def test_form_picks_channels_by_role_and_the_layer_pixel_size(widget, image_file):
    assert {role: getattr(c.value, "name", None) for role, c in widget.channels.items()} == {
        "hoechst": "field_b hoechst", "cell": "field_b cell", "mito": "field_b mito",
        "hoechst_red": None, "viability": None}
    batch_stack = read_stack(image_file)
    stack = widget.stack()
    assert stack.voxel_size_um == batch_stack.voxel_size_um
    for role in ("hoechst", "cell", "mito"):
        np.testing.assert_array_equal(stack.channel(role), batch_stack.channel(role))
    assert widget.image_id() == "field_b"
    widget.cell_diameter_um.value = 14.5
    assert widget.params().cell_diameter_um == 14.5


def test_result_equals_the_batch_on_the_same_file(qtbot, widget, image_file, truth_segmentation):
    run_and_wait(qtbot, widget)
    layers = widget.viewer.layers
    assert [layer.name for layer in layers][-4:] == ["field_b nuclei", "field_b mitochondria",
                                                     "field_b cells", "field_b selection"]
    assert layers.selection.active is layers["field_b cells"]
    cells = layers["field_b cells"]
    session = cells.metadata["spmito"]
    assert isinstance(session, ReviewSession) and session.layer is cells
    assert cells.scale.tolist() == list(read_stack(image_file).voxel_size_um)
    batch = analyse_stack(read_stack(image_file), widget.params())
    np.testing.assert_array_equal(cells.data, batch.cells)
    pd.testing.assert_frame_equal(session.result.cell_table, batch.cell_table)
    assert cells.features["index"].tolist() == batch.cell_table["cell_id"].tolist()
    assert widget.progress.value() == 100 and "cells" in widget.status.text()


def test_cancel_stops_the_worker_and_says_so(qtbot, widget, truth_segmentation):
    click(qtbot, widget.run_button)
    assert widget.cancel_button.isEnabled()
    click(qtbot, widget.cancel_button)
    qtbot.waitUntil(widget.run_button.isEnabled, timeout=60_000)
    assert widget.status.text() == "cancelled"
    assert "field_b cells" not in widget.viewer.layers
    assert not widget.cancel_button.isEnabled()


def test_a_layer_without_pixel_size_takes_a_typed_one_with_a_decimal_comma(
        qtbot, widget, truth_segmentation):
    for combo in widget.channels.values():
        if combo.value is not None:
            combo.value.scale, combo.value.units = (1, 1), ("pixel", "pixel")
    click(qtbot, widget.run_button)
    assert widget.worker is None and "no physical pixel size" in widget.status.text()
    assert "0,65" in widget.status.text()
    type_into(qtbot, widget.voxel_size.native, "0,25")
    run_and_wait(qtbot, widget)
    cells = widget.viewer.layers["field_b cells"]
    assert tuple(cells.scale) == (0.25, 0.25)
    for name in ("hoechst", "cell", "mito"):  # the channels now lie under the labels
        layer = widget.viewer.layers[f"field_b {name}"]
        assert tuple(layer.scale) == (0.25, 0.25) and str(layer.units[0]) == "micrometer"


def test_channels_read_as_z_planes_are_refused_with_the_way_out(qtbot, widget):
    planes = widget.viewer.add_image(np.zeros((3, 64, 64), np.uint16), name="as z planes")
    widget.reset_choices()
    widget.channels["hoechst"].value = planes
    click(qtbot, widget.run_button)
    assert widget.worker is None
    assert "3 planes" in widget.status.text() and "spmito reader" in widget.status.text()


def test_a_diameter_far_from_the_cells_is_reported(qtbot, widget, truth_segmentation):
    widget.cell_diameter_um.value = 60.0
    run_and_wait(qtbot, widget)
    assert "µm across, the cell diameter given is 60 µm" in widget.status.text()
    assert "SP/MP is called by a gate" in widget.status.text()


@pytest.mark.slow
def test_cellpose_in_the_widget_equals_the_batch(qtbot, make_napari_viewer, tmp_path):
    from spmito.imaging.synthetic import SynthParams, make_field, write_field
    from spmito.segment.weights import ModelNotFoundError, resolve_model

    try:
        resolve_model("bundled", "cells")
        resolve_model("bundled", "nuclei")
    except ModelNotFoundError as error:
        pytest.skip(f"no bundled Cellpose model in this checkout: {error}")
    small = make_field(SynthParams.for_ndim(2, size_px=160, pixel_size_um=0.3), seed=5)
    image_file = write_field(small, tmp_path, "field_b", preview=False)
    viewer = make_napari_viewer()
    for data, kwargs, kind in read_image_file(str(image_file)):
        viewer.add_layer(napari.layers.Layer.create(data, kwargs, kind))
    widget = SegmentWidget(viewer)
    widget.device.value = "cpu"
    widget.estimate_nucleus_diameter.value = True  # the nucleus size from the Hoechst channel
    run_and_wait(qtbot, widget, timeout_ms=300_000)
    assert "nucleus diameter estimated at" in widget.status.text()
    cells = viewer.layers["field_b cells"]
    batch = analyse_stack(read_stack(image_file), widget.params())
    np.testing.assert_array_equal(cells.data, batch.cells)
    np.testing.assert_array_equal(viewer.layers["field_b mitochondria"].data, batch.mito)
    pd.testing.assert_frame_equal(cells.metadata["spmito"].result.cell_table, batch.cell_table)
    assert cells.metadata["spmito"].result.provenance["backend"] != "truth (test)"


def test_a_single_image_gets_sp_and_mp_by_normalising_on_itself(qtbot, widget,
                                                                 truth_segmentation):
    from spmito.plugins._qt.gating_widget import GatingWidget
    from tests.plugins._qt.conftest import drag_gate

    run_and_wait(qtbot, widget)
    gating = GatingWidget(widget.viewer)
    widget.viewer.window.add_dock_widget(gating)
    assert gating.model.threshold_x is None and "Normalise on controls" in gating.summary.text()
    controls = gating.control_layers.native
    item = controls.findItems("field_b cells", Qt.MatchFlag.MatchExactly)[0]
    qtbot.mouseClick(controls.viewport(), Qt.MouseButton.LeftButton,
                     pos=controls.visualItemRect(item).center())
    click(qtbot, gating.normalise_button)
    assert "Normalised" in gating.summary.text(), gating.summary.text()
    session = widget.viewer.layers["field_b cells"].metadata["spmito"]
    x = session.shown_features["hoechst_x"].to_numpy(float)
    assert np.isfinite(x).all() and abs(np.median(x)) < 1
    gate = float(np.quantile(x, 0.1))
    drag_gate(qtbot, gating, gate, gate)  # a click on the histogram sets the gate
    qtbot.waitUntil(lambda: set(session.shown_features["population"]) == {"SP", "MP"},
                    timeout=3000)
    assert "% SP" in gating.summary.text() and "nan" not in gating.summary.text()
