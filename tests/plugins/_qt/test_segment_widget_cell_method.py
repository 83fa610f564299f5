"""The segment form offers the cell method next to the Cellpose model."""

from __future__ import annotations

import numpy as np
import pytest
from qtpy.QtCore import Qt

from spmito.plugins._qt.segment_widget import SegmentWidget


@pytest.fixture
def widget(make_napari_viewer):
    """The form with a Hoechst layer and a pixel size: enough for ``params()``."""
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((32, 32), np.float32), name="hoechst")
    widget = SegmentWidget(viewer)
    widget.channels["hoechst"].value = viewer.layers["hoechst"]
    widget.voxel_size.value = "0,1"
    return widget


def test_the_form_offers_cells_from_nuclei_next_to_cellpose(widget):
    fields = list(widget.form)
    assert fields.index(widget.cell_method) + 1 == fields.index(widget.model)
    assert widget.cell_method.choices == ("cellpose", "nuclei")
    assert widget.params().cell_method == "cellpose"
    widget.cell_method.value = "nuclei"
    assert widget.params().cell_method == "nuclei"


def test_a_click_on_the_division_box_keeps_multinucleate_cells(widget, qtbot):
    box = widget.divide_multinucleate_cells
    fields = list(widget.form)
    assert fields.index(box) == fields.index(widget.model) + 1
    assert widget.params().divide_multinucleate_cells is True
    widget.show()
    qtbot.mouseClick(box.native, Qt.MouseButton.LeftButton)
    assert widget.params().divide_multinucleate_cells is False
    widget.cell_method.value = "nuclei"
    assert not box.enabled and not widget.model.enabled
    widget.cell_method.value = "cellpose"
    assert box.enabled


def test_a_click_on_estimate_makes_the_nucleus_diameter_auto(widget, qtbot):
    box = widget.estimate_nucleus_diameter
    fields = list(widget.form)
    assert fields.index(box) == fields.index(widget.nucleus_diameter_um) + 1
    assert widget.params().nucleus_diameter_um == 8.0
    widget.show()
    qtbot.mouseClick(box.native, Qt.MouseButton.LeftButton)
    assert widget.params().nucleus_diameter_um == "auto"
    assert not widget.nucleus_diameter_um.enabled
    qtbot.mouseClick(box.native, Qt.MouseButton.LeftButton)
    assert widget.params().nucleus_diameter_um == 8.0 and widget.nucleus_diameter_um.enabled
