"""Fixtures of the Qt tests: a viewer showing an output folder, screenshots kept as artifacts."""

from __future__ import annotations

from pathlib import Path

import napari
import numpy as np
import pytest

from spmito.plugins._reader import read_output_folder
from tests.plugins.conftest import IMAGE_ID

MANIFEST = Path(__file__).resolve().parents[3] / "plugins" / "napari.yaml"

#: Screenshots the tests take, for a person to look at (git-ignored).
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"


def add_layer_data(viewer, layer_data):
    """Add reader/sample LayerData tuples to a viewer; return the layers."""
    return [viewer.add_layer(napari.layers.Layer.create(data, kwargs, kind))
            for data, kwargs, kind in layer_data]


def run_and_wait(qtbot, widget, timeout_ms=60_000):
    """Start the Segment & measure widget's analysis and wait until it has finished.

    Waits for the widget's own end-of-run handling (the Run button enabled again) rather than
    for the worker's ``finished`` signal: a worker that ends at once (cancelled) can emit it
    before a later ``waitSignal`` connects, and the signal is then never seen.
    """
    click(qtbot, widget.run_button)
    assert widget.worker is not None and not widget.run_button.isEnabled(), \
        widget.status.text()
    qtbot.waitUntil(widget.run_button.isEnabled, timeout=timeout_ms)
    return widget.worker


def add_label_layers(viewer, image_folder):
    """Add the label layers the spmito reader makes of an image folder (channels left out:
    they cost a second a test and the widgets under test do not need them)."""
    return add_layer_data(viewer, [layer for layer in read_output_folder(str(image_folder))
                                   if layer[2] == "labels"])


@pytest.fixture
def spmito_plugin():
    """Register the manifest with npe2, as installing the package would.

    An installed spmito (``pip install -e .``, as in CI) is found by discovery and left as it
    is: registering and then unregistering it here would make napari's next discovery
    register its commands a second time.
    """
    from npe2 import PluginManager, PluginManifest

    manager = PluginManager.instance()
    manager.discover()
    manifest = PluginManifest.from_file(MANIFEST)
    registered_here = manifest.name not in manager
    if registered_here:
        manager.register(manifest)
    yield manager
    if registered_here:
        manager.unregister(manifest.name)


@pytest.fixture
def folder_viewer(make_napari_viewer, output_folder):
    """A window of 1600 x 1000 with the labels of the output folder's test image."""
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1600, 1000)
    add_label_layers(viewer, output_folder / "images" / IMAGE_ID)
    return viewer


@pytest.fixture
def save_widget_image():
    """Save what a Qt widget shows as test-artifacts/<name>.png; return the path."""

    def save(widget, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        widget.grab().save(str(path))
        return path

    return save


@pytest.fixture
def save_screenshot():
    """Save a viewer screenshot (RGBA array) as test-artifacts/<name>.png; return the path."""
    from PIL import Image

    def save(image: np.ndarray, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        Image.fromarray(image).save(path)
        return path

    return save



# ------------------------------------------------------------ input as a user gives it


def click(qtbot, button):
    """Press a Qt button with the mouse."""
    from qtpy.QtCore import Qt

    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def press_key(viewer, key, modifier=None):
    """Press a key (with a modifier) on the napari canvas, as on the keyboard."""
    from pytestqt.qtbot import QtBot
    from qtpy.QtCore import Qt

    canvas = viewer.window._qt_viewer.canvas.native
    QtBot.keyClick(canvas, key, modifier or Qt.KeyboardModifier.NoModifier)


def inside_pixel(labels, cell_id):
    """The pixel (row, col) of a cell farthest from its edge (a safe place to click)."""
    from scipy import ndimage

    mask = labels == cell_id
    distance = ndimage.distance_transform_edt(mask)
    return np.unravel_index(int(np.argmax(distance)), mask.shape)


def canvas_point(viewer, layer, pixel):
    """The canvas position (Qt logical pixels) of a data pixel of a 2-D layer."""
    from qtpy.QtCore import QPoint

    canvas = viewer.window._qt_viewer.canvas.native
    world = np.asarray(layer.data_to_world(pixel))[-2:]
    camera = viewer.camera
    centre = np.asarray(camera.center[-2:])
    row, col = (world - centre) * camera.zoom + np.array([canvas.height(), canvas.width()]) / 2
    return QPoint(int(round(col)), int(round(row)))


def click_cell(qtbot, viewer, layer, cell_id):
    """Left-click a cell of ``layer`` on the napari canvas (the cell must be in view)."""
    from qtpy.QtCore import Qt

    canvas = viewer.window._qt_viewer.canvas.native
    point = canvas_point(viewer, layer, inside_pixel(layer.data, cell_id))
    assert canvas.rect().contains(point), f"cell {cell_id} is off screen at {point}"
    qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=point)


def click_row(qtbot, view, row):
    """Left-click a row of a table view."""
    from qtpy.QtCore import Qt

    rect = view.visualRect(view.model().index(row, 0))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def save_window(viewer, name):
    """Save a screenshot of the whole napari window as test-artifacts/<name>.png."""
    from PIL import Image
    from qtpy.QtWidgets import QApplication

    QApplication.processEvents()  # lay out docks added since the last event loop turn
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    Image.fromarray(viewer.screenshot(canvas_only=False, flash=False)).save(path)
    return path


def drag_gate(qtbot, gating, from_x, to_x):
    """Drag the gate line with the mouse on the histogram's Qt canvas (data coordinates)."""
    from qtpy.QtCore import QPoint, Qt

    canvas = gating.canvas
    y = float(np.mean(gating.axes.get_ylim()))
    ratio = canvas.devicePixelRatioF()

    def point(x):
        px, py = gating.axes.transData.transform((x, y))
        return QPoint(int(px / ratio), int(canvas.height() - py / ratio))

    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=point(from_x))
    qtbot.mouseMove(canvas, point((from_x + to_x) / 2))
    qtbot.mouseMove(canvas, point(to_x))
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=point(to_x))


def type_into(qtbot, widget, text):
    """Select what a line edit or spin box holds and type ``text`` (then Enter)."""
    from qtpy.QtCore import Qt

    widget.setFocus()
    widget.selectAll()
    qtbot.keyClicks(widget, text)
    qtbot.keyClick(widget, Qt.Key.Key_Return)


def zoom_on(viewer, layer):
    """Centre the canvas on a 2-D layer and zoom so that all of it is in view."""
    from qtpy.QtWidgets import QApplication

    QApplication.processEvents()
    canvas = viewer.window._qt_viewer.canvas.native
    extent = np.array(layer.data.shape[-2:]) * np.asarray(layer.scale[-2:])
    origin = np.asarray(layer.translate[-2:])
    viewer.camera.center = tuple(origin + extent / 2 - np.asarray(layer.scale[-2:]) / 2)
    viewer.camera.zoom = 0.9 * min(canvas.height() / extent[0], canvas.width() / extent[1])
