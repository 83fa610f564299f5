"""Fixtures of the Qt tests: a viewer showing an output folder, screenshots kept as artifacts."""

from __future__ import annotations

from pathlib import Path

import napari
import numpy as np
import pytest

from plugins._reader import read_output_folder
from tests.plugins.conftest import IMAGE_ID

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
    worker = widget.run()
    assert worker is not None, widget.status.text()
    qtbot.waitUntil(widget.run_button.isEnabled, timeout=timeout_ms)
    return worker


def add_label_layers(viewer, image_folder):
    """Add the label layers the spmito reader makes of an image folder (channels left out:
    they cost a second a test and the widgets under test do not need them)."""
    return add_layer_data(viewer, [layer for layer in read_output_folder(str(image_folder))
                                   if layer[2] == "labels"])


@pytest.fixture
def folder_viewer(make_napari_viewer, output_folder):
    """A viewer with the labels of the output folder's test image (spmito reader)."""
    viewer = make_napari_viewer()
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

