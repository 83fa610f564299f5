"""napari layer data of spmito images and results, and stacks back from layers (no Qt).

Layers carry physical scale in µm (``scale`` = voxel size, ``units`` = µm) and, in their
``metadata``, ``spmito_role`` (a channel role, or ``cells``/``nuclei``/``mitochondria`` for
labels) and, for label layers, ``spmito``: the :class:`~spmito.plugins.review.ReviewSession` of
the image.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from spmito.imaging.errors import SpmitoInputError
from spmito.imaging.stack import Stack
from spmito.plugins.review import ReviewSession
from spmito.plugins.review_table import (
    DELETED_MARK,
    MARK_COLOURS,
    SELECTED_MARK,
    class_colours,
    layer_features,
)

#: ``(data, kwargs, layer_type)`` as napari readers and sample-data functions return them.
LayerDataTuple = tuple[Any, dict, str]

UNIT = "µm"

#: Colormap of each channel role.
ROLE_COLORMAPS = {"hoechst": "blue", "cell": "gray", "mito": "magenta", "hoechst_red": "red",
                  "viability": "yellow"}

#: Roles the Segment & measure widget asks for, in stack order.
STACK_ROLES = ("hoechst", "cell", "mito", "hoechst_red", "viability")


def image_layers(stack: Stack, image_id: str | None = None) -> list[LayerDataTuple]:
    """One image layer per channel, coloured by role, on the physical grid (µm).

    Parameters
    ----------
    stack : Stack
        The image.
    image_id : str, optional
        Prefix of the layer names (default: the stack's name).
    """
    prefix = image_id or stack.name
    role_of = {index: role for role, index in stack.roles.items()}
    channel_axis = stack.axes.index("C")
    layers = []
    for index, channel_name in enumerate(stack.channel_names):
        role = role_of.get(index, "")
        data = np.take(stack.data, index, axis=channel_axis) if isinstance(stack.data, np.ndarray) \
            else stack.data[(slice(None),) * channel_axis + (index,)]
        layers.append((data, {
            "name": f"{prefix} {channel_name}",
            "scale": stack.voxel_size_um,
            "units": UNIT,
            "colormap": ROLE_COLORMAPS.get(role, "gray"),
            "blending": "additive",
            "metadata": {"spmito_role": role, "spmito_image": prefix,
                         "spmito_source": None if stack.source is None else str(stack.source),
                         "spmito_pixel_size_recorded": stack.metadata.get(
                             "spmito_pixel_size_recorded", True)},
        }, "image"))
    return layers


def result_layers(session: ReviewSession) -> list[LayerDataTuple]:
    """Nuclei, mitochondria, cells and marks label layers of a session (marks on top).

    The cells layer carries the session's main features (``index`` = cell id) so napari
    shows them for the cell under the cursor, and is coloured by class from the start
    (:data:`~spmito.plugins.review.CLASS_COLOURS`). The marks layer outlines the selected and the
    deleted cells. Every layer carries the session in its metadata.
    """
    from napari.utils.colormaps import DirectLabelColormap

    result = session.result
    name = session.image_id
    common = {"scale": result.voxel_size_um, "units": UNIT}

    def metadata(role: str) -> dict:
        return {"spmito": session, "spmito_role": role, "spmito_image": name}

    colours = class_colours(session.shown_features, session.edited_ids())
    cells_colormap = {"colormap": DirectLabelColormap(color_dict=colours)} if colours else {}
    marks_colormap = DirectLabelColormap(color_dict={
        None: "transparent", 0: "transparent", SELECTED_MARK: MARK_COLOURS["selected"],
        DELETED_MARK: MARK_COLOURS["deleted"]})
    return [
        (result.nuclei, {**common, "name": f"{name} nuclei", "opacity": 0.4,
                         "visible": False, "metadata": metadata("nuclei")}, "labels"),
        (result.mito, {**common, "name": f"{name} mitochondria", "opacity": 0.8,
                       "metadata": metadata("mitochondria")}, "labels"),
        (result.cells, {**common, "name": f"{name} cells", "opacity": 0.45,
                        "features": layer_features(session.shown_features),
                        **cells_colormap, "metadata": metadata("cells")}, "labels"),
        (session.marks, {**common, "name": f"{name} selection", "opacity": 1.0,
                         "colormap": marks_colormap,
                         "metadata": metadata("marks")}, "labels"),
    ]


def stack_from_channels(channels: Mapping[str, Any], voxel_size_um: Sequence[float],
                        source: str | os.PathLike | None = None) -> Stack:
    """A :class:`Stack` from one array per role (the layers chosen in the widget).

    Parameters
    ----------
    channels : mapping of role to array
        ``(Y, X)`` or ``(Z, Y, X)`` arrays of the same shape, e.g. ``{"hoechst": ...,
        "cell": ..., "mito": ...}``; channels are stacked in :data:`STACK_ROLES` order.
    voxel_size_um : sequence of float
        ``(y, x)`` or ``(z, y, x)`` in µm.
    source : path-like, optional
        The file the channels came from.

    Raises
    ------
    SpmitoInputError
        When the arrays differ in shape or are not 2-D or 3-D.
    """
    roles = [role for role in STACK_ROLES if channels.get(role) is not None]
    arrays = [channels[role] for role in roles]
    shapes = {tuple(a.shape) for a in arrays}
    if len(shapes) != 1 or len(next(iter(shapes))) not in (2, 3):
        found = ", ".join(f"{role} {tuple(a.shape)}" for role, a in zip(roles, arrays))
        raise SpmitoInputError(source, f"the channels must be 2-D or 3-D arrays of one shape; "
                               f"got {found}", "Choose layers of the same image")
    ndim = len(next(iter(shapes)))
    axis = 1 if ndim == 3 else 0
    data = np.stack([np.asarray(a) for a in arrays], axis=axis)
    return Stack(data, "ZCYX" if ndim == 3 else "CYX", tuple(roles),
                 {role: i for i, role in enumerate(roles)}, tuple(voxel_size_um),
                 source=None if source is None else Path(source))
