"""Layer choices for magicgui combo boxes, shared by the widgets."""

from __future__ import annotations

from collections.abc import Callable

import napari

from spmito.plugins.review import ReviewSession, session_of


def image_layer_choices(viewer: napari.viewer.Viewer) -> Callable:
    """A magicgui ``choices`` callable listing the viewer's image layers."""
    return lambda _widget: [(layer.name, layer) for layer in viewer.layers
                            if isinstance(layer, napari.layers.Image)]


def labels_layer_choices(viewer: napari.viewer.Viewer) -> Callable:
    """A magicgui ``choices`` callable listing the viewer's labels layers."""
    return lambda _widget: [(layer.name, layer) for layer in viewer.layers
                            if isinstance(layer, napari.layers.Labels)]


def cells_layer_choices(viewer: napari.viewer.Viewer) -> Callable:
    """A magicgui ``choices`` callable listing the cells layers of spmito sessions."""
    return lambda _widget: [(layer.name, layer) for layer in cells_layers(viewer)]


def cells_layers(viewer: napari.viewer.Viewer) -> list[napari.layers.Labels]:
    """The labels layers that show the cells of a review session."""
    return [layer for layer in viewer.layers
            if isinstance(layer, napari.layers.Labels)
            and isinstance(layer.metadata.get("spmito"), ReviewSession)
            and layer.metadata.get("spmito_role") == "cells"]


def session_layers(viewer: napari.viewer.Viewer, session: ReviewSession | None
                   ) -> list[napari.layers.Labels]:
    """The cells layer of ``session`` and the marks layer over it.

    A click on either is a click on a cell; binds the marks layer to the session.
    """
    layers = [layer for layer in viewer.layers
              if session is not None and layer.metadata.get("spmito") is session
              and layer.metadata.get("spmito_role") in ("cells", "marks")]
    for layer in layers:
        session_of(layer)
    return layers
