"""The segment form offers the cell method next to the Cellpose model."""

from __future__ import annotations

import numpy as np

from spmito.plugins._qt.segment_widget import SegmentWidget


def test_the_form_offers_cells_from_nuclei_next_to_cellpose(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((32, 32), np.float32), name="hoechst")
    widget = SegmentWidget(viewer)
    widget.channels["hoechst"].value = viewer.layers["hoechst"]
    widget.voxel_size.value = "0,1"
    fields = list(widget.form)
    assert fields.index(widget.cell_method) + 1 == fields.index(widget.model)
    assert widget.cell_method.choices == ("cellpose", "nuclei")
    assert widget.params().cell_method == "cellpose"
    widget.cell_method.value = "nuclei"
    assert widget.params().cell_method == "nuclei"
