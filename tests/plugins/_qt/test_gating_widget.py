"""SP gating widget under Xvfb: it opens on the batch gate, a mouse drag moves the gate and
recolours every image, the buttons save and normalise."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.colors import to_rgb

from spmito.imaging import corrections
from spmito.plugins._qt.gating_widget import GatingWidget
from spmito.plugins.review_table import CLASS_COLOURS
from tests.plugins._qt.conftest import add_label_layers, click, drag_gate, type_into
from tests.plugins.conftest import BATCH_THRESHOLD_X, CONTROL_ID, IMAGE_ID


@pytest.fixture
def widget(folder_viewer, output_folder):
    add_label_layers(folder_viewer, output_folder / "images" / CONTROL_ID)
    widget = GatingWidget(folder_viewer)
    folder_viewer.window.add_dock_widget(widget)
    return widget


def _population(layer):
    return layer.features.set_index("index")["population"]


def test_images_are_split_into_test_and_control_by_role(widget):
    assert [layer.name for layer in widget.test_layers.value] == [f"{IMAGE_ID} cells"]
    assert [layer.name for layer in widget.control_layers.value] == [f"{CONTROL_ID} cells"]
    assert widget.model.hoechst_x("test").size > 10
    labels = [text.get_text() for text in widget.axes.get_legend().get_texts()]
    assert labels[0].startswith("control") and labels[1].startswith("test")


def test_it_opens_on_the_batch_gate_and_reclassifies_nothing(folder_viewer, output_folder):
    add_label_layers(folder_viewer, output_folder / "images" / CONTROL_ID)
    test_layer = folder_viewer.layers[f"{IMAGE_ID} cells"]
    before = _population(test_layer).tolist()
    (output_folder / corrections.MANUAL_GATE).unlink()  # only gating.json says where it is
    widget = GatingWidget(folder_viewer)
    assert widget.model.threshold_x == pytest.approx(BATCH_THRESHOLD_X)
    assert widget.threshold.value() == pytest.approx(BATCH_THRESHOLD_X)
    assert "Batch gate of plate P1 (manual)" in widget.gate_source.text()
    assert widget.axes.get_xlabel().startswith("Hoechst, relative to the G1 peak")
    assert _population(test_layer).tolist() == before
    assert all(s.threshold_x is None for s in widget.model.sessions)


def test_dragging_the_gate_recalls_and_recolours_every_image(widget, folder_viewer, qtbot,
                                                             save_widget_image):
    test_layer = folder_viewer.layers[f"{IMAGE_ID} cells"]
    x = test_layer.features.set_index("index")["hoechst_x"]
    drag_gate(qtbot, widget, widget.model.threshold_x, float(x.median()))
    threshold = widget.model.threshold_x
    assert threshold == pytest.approx(x.median(), abs=0.05)
    assert widget.threshold.value() == pytest.approx(threshold, abs=1e-3)
    expected = np.where(x < threshold, "SP", "MP")
    qtbot.waitUntil(lambda: _population(test_layer).tolist() == expected.tolist(),
                    timeout=3000)  # recolouring is throttled while dragging
    kept = x[~test_layer.features.set_index("index")["excluded"].to_numpy(bool)]
    sp_cell = int(kept.idxmin())
    np.testing.assert_allclose(test_layer.colormap.map(sp_cell)[:3],
                               to_rgb(CLASS_COLOURS["SP"]), atol=0.01)
    assert f"test: {100 * np.mean(kept < threshold):.1f} % SP" in widget.summary.text()
    assert widget.line.get_xdata()[0] == pytest.approx(threshold)
    widget.resize(480, 640)
    save_widget_image(widget, "gating_widget")


def test_typed_threshold_and_the_save_button(widget, output_folder, qtbot):
    type_into(qtbot, widget.threshold, "-0.75")
    assert widget.model.threshold_x == pytest.approx(-0.75)
    click(qtbot, widget.save_button)
    assert "saved" in widget.summary.text()
    gate = corrections.read_manual_gate(output_folder)
    assert gate["threshold_x"] == pytest.approx(-0.75)
    assert gate["reference_wells"] == [CONTROL_ID] and gate["n_reference_cells"] > 10
    assert corrections.read_edits(output_folder)[-1].action == "gate"


def test_normalise_without_controls_says_what_to_do(widget, qtbot):
    widget.control_layers.value = []
    click(qtbot, widget.normalise_button)
    assert "Controls" in widget.summary.text()
    assert "concatenate" not in widget.summary.text()


def test_images_without_hoechst_values_read_in_words_not_nan(widget, qtbot):
    for session in widget.model.sessions:
        session.set_hoechst_x(session.calls["hoechst_x"] * np.nan)
    widget.reset_choices()
    assert "nan" not in widget.summary.text()
    assert "no cells with a Hoechst value" in widget.summary.text()
    assert "Normalise on controls" in widget.summary.text()
