"""SP gating widget under Xvfb: histograms, dragging the gate recolours cells, gate file."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.backend_bases import MouseEvent

from imaging import corrections
from plugins._qt.gating_widget import GatingWidget
from plugins.review import CLASS_COLOURS
from tests.plugins._qt.conftest import add_label_layers
from tests.plugins.conftest import CONTROL_ID, IMAGE_ID


@pytest.fixture
def widget(folder_viewer, output_folder):
    add_label_layers(folder_viewer, output_folder / "images" / CONTROL_ID)
    widget = GatingWidget(folder_viewer)
    folder_viewer.window.add_dock_widget(widget)
    return widget


def _population(layer):
    return layer.features.set_index("index")["population"]


def _drag(widget, from_x, to_x):
    """Press on the plot at ``from_x`` and release at ``to_x`` (data coordinates)."""
    axes = widget.axes
    y = np.mean(axes.get_ylim())
    for name, x in (("button_press_event", from_x), ("motion_notify_event", to_x),
                    ("button_release_event", to_x)):
        px, py = axes.transData.transform((x, y))
        widget.canvas.callbacks.process(name, MouseEvent(name, widget.canvas, px, py, button=1))


def test_images_are_split_into_test_and_control_by_role(widget):
    assert [layer.name for layer in widget.test_layers.value] == [f"{IMAGE_ID} cells"]
    assert [layer.name for layer in widget.control_layers.value] == [f"{CONTROL_ID} cells"]
    assert widget.model.hoechst_x("test").size > 10
    labels = [text.get_text() for text in widget.axes.get_legend().get_texts()]
    assert labels[0].startswith("control") and labels[1].startswith("test")


def test_dragging_the_gate_recalls_and_recolours_every_image(widget, folder_viewer, qtbot,
                                                             save_widget_image):
    test_layer = folder_viewer.layers[f"{IMAGE_ID} cells"]
    x = test_layer.features.set_index("index")["hoechst_x"]
    _drag(widget, widget.model.threshold_x, float(x.median()))
    threshold = widget.model.threshold_x
    assert threshold == pytest.approx(x.median(), abs=0.02)
    assert widget.threshold.value() == pytest.approx(threshold, abs=1e-3)
    expected = np.where(x < threshold, "SP", "MP")
    qtbot.waitUntil(lambda: _population(test_layer).tolist() == expected.tolist(),
                    timeout=3000)  # recolouring is throttled while dragging
    kept = x[~test_layer.features.set_index("index")["excluded"].to_numpy(bool)]
    sp_cell = int(kept.idxmin())
    np.testing.assert_allclose(test_layer.colormap.color_dict[sp_cell][:3], [1, 0, 1])
    assert f"test: {100 * np.mean(kept < threshold):.1f} % SP" in widget.summary.text()
    assert widget.line.get_xdata()[0] == pytest.approx(threshold)
    widget.resize(480, 640)
    save_widget_image(widget, "gating_widget")


def test_typed_threshold_and_saved_gate(widget, output_folder):
    widget.threshold.setValue(-0.75)
    assert widget.model.threshold_x == pytest.approx(-0.75)
    widget.save()
    gate = corrections.read_manual_gate(output_folder)
    assert gate["threshold_x"] == pytest.approx(-0.75)
    assert gate["reference_wells"] == [CONTROL_ID] and gate["n_reference_cells"] > 10
    assert corrections.read_edits(output_folder)[-1].action == "gate"
    assert CLASS_COLOURS["SP"] == "#ff00ff"
