"""``napari DIR`` shows the whole image once the Measurements dock has taken its space."""

from __future__ import annotations

import pytest


def test_the_opened_image_fits_the_canvas_beside_the_dock(make_napari_viewer, spmito_plugin,
                                                          qtbot, output_folder):
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1100, 1000)  # the dock makes the canvas narrow
    viewer.open(str(output_folder), plugin="spmito")
    qtbot.wait(200)  # the dock's layout settles
    opened = viewer.camera.zoom
    viewer.reset_view()  # what the home button gives: the whole image in the canvas
    assert opened == pytest.approx(viewer.camera.zoom, rel=0.02)
