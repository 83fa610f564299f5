"""napari reader: spmito output folders and TIFF/OME-TIFF images (no Qt).

An output folder opens as the image's channels, its nuclei, mitochondria and cell labels
(in µm) and the cells' features, in the state the last review saved: corrected labels,
re-measured tables, the batch's classes (``DIR/cells.csv``) and the overrides of
``review.csv``; the cells are coloured SP/MP at once. Give ``DIR/images/<image_id>``, or
``DIR`` (``napari DIR``): a plate opens on its first image (test images first) and docks
the Measurements widget, whose image picker opens the others beside it.

A TIFF that records no pixel size opens in pixels, with a warning that says where to type
the pixel size (the Segment & measure widget).
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from spmito.imaging import corrections
from spmito.imaging.errors import MissingVoxelSizeError
from spmito.imaging.io import read_labels, read_stack
from spmito.imaging.outputs import (
    DONE_JSON,
    LABEL_FILES,
    image_dir,
    label_path,
    read_done,
    read_image_table,
    read_input_stack,
)
from spmito.imaging.params import RunParams, read_run_params
from spmito.imaging.pipeline import ImageResult
from spmito.imaging.stack import IMAGE_SUFFIXES, Stack
from spmito.plugins.layers import LayerDataTuple, image_layers, result_layers
from spmito.plugins.review import ReviewSession
from spmito.plugins.review_table import CALL_COLUMNS

log = logging.getLogger("spmito")

#: Per-cell measurements that must match for a batch call to still describe a cell.
_MEASUREMENTS = ("hoechst_integrated", "cell_area_um2", "cell_volume_um3")

ReaderFunction = Callable[[str | list[str]], list[LayerDataTuple]]


def get_reader(path: str | list[str]) -> ReaderFunction | None:
    """The reader for ``path`` (npe2 ``reader`` command), or ``None`` when it is not ours."""
    if isinstance(path, list):
        if len(path) != 1:
            return None
        path = path[0]
    if image_folder(path) is not None:
        return open_output_folder
    if str(path).lower().endswith(IMAGE_SUFFIXES) and Path(path).is_file():
        return read_image_file
    return None


def image_folder(path: str | os.PathLike) -> Path | None:
    """``DIR/images/<id>`` for that folder, or an output folder's first image.

    The first image is the first of :func:`plate_images`; ``None`` when ``path`` is
    neither.
    """
    path = Path(path)
    if (path / "cells.ome.tif").is_file() and path.parent.name == "images":
        return path
    images = plate_images(path)
    return image_dir(path, images[0]) if images else None


def plate_images(out_dir: str | os.PathLike) -> list[str]:
    """The analysed images of an output folder: test images first, then by id.

    Order and roles come from ``DIR/cells.csv`` when the batch wrote it.
    """
    out_dir = Path(out_dir)
    ids = sorted(p.parent.name for p in out_dir.glob("images/*/cells.ome.tif"))
    roles = image_roles(out_dir)
    return sorted(ids, key=lambda image_id: (roles.get(image_id, "test") != "test", image_id))


def image_roles(out_dir: str | os.PathLike) -> dict[str, str]:
    """``{image_id: role}`` from the output folder's sample sheet (``DIR/sheet.csv``)."""
    path = Path(out_dir) / "sheet.csv"
    if not path.is_file():
        return {}
    sheet = pd.read_csv(path, dtype=str)
    if not {"image_id", "role"} <= set(sheet.columns):
        return {}
    return dict(zip(sheet["image_id"], sheet["role"].fillna("")))


def read_image_file(path: str | list[str]) -> list[LayerDataTuple]:
    """One layer per channel of a TIFF/OME-TIFF/ImageJ file, roles from channel names.

    A file without a recorded pixel size opens in pixels (``units`` = pixel) with a
    warning; its layers' metadata says so (``spmito_pixel_size_recorded`` False).
    """
    path = path[0] if isinstance(path, list) else path
    try:
        return image_layers(read_stack(path))
    except MissingVoxelSizeError:
        stack = _read_in_pixels(path)
    warnings.warn(f"{Path(path).name} records no pixel size: opened in pixels. Type the "
                  "pixel size in Segment & measure (e.g. 0.65 or 0,65 µm)", stacklevel=2)
    layers = image_layers(stack)
    for _, kwargs, _ in layers:
        kwargs["units"] = "pixel"
        kwargs["metadata"]["spmito_pixel_size_recorded"] = False
    return layers


def _read_in_pixels(path: str) -> Stack:
    """The stack with 1 as the missing pixel size (and z step)."""
    try:
        return read_stack(path, voxel_size_um=(1.0, 1.0))
    except MissingVoxelSizeError:
        return read_stack(path, voxel_size_um=(1.0, 1.0, 1.0))


def read_output_folder(path: str | list[str]) -> list[LayerDataTuple]:
    """The channels, labels and features of one image of an output folder.

    ``path`` is ``DIR/images/<id>`` or ``DIR`` (its first image).
    """
    path = path[0] if isinstance(path, list) else path
    folder = image_folder(path)
    return image_folder_layers(folder.parent.parent, folder.name)


def open_output_folder(path: str | list[str]) -> list[LayerDataTuple]:
    """:func:`read_output_folder` as napari's reader; docks the Measurements widget.

    Its image picker opens the folder's other images.
    """
    layers = read_output_folder(path)
    _dock_measurements()
    return layers


def image_folder_layers(out_dir: str | os.PathLike, image_id: str) -> list[LayerDataTuple]:
    """The layers of one image of an output folder.

    Channels (when the input image is where the batch read it), nuclei, mitochondria,
    cells and the marks layer.
    """
    session = open_review(out_dir, image_id)
    channels = image_layers(session.stack, session.image_id) if session.stack else []
    return channels + result_layers(session)


def _dock_measurements() -> None:
    """Dock spmito's Measurements widget (its image picker) in the current napari window."""
    try:
        import napari

        viewer = napari.current_viewer()
        if viewer is not None and viewer.window is not None:
            viewer.window.add_plugin_dock_widget("spmito", "Measurements")
            # napari fits the view to the canvas as it adds the layers, before the dock has
            # taken its width: fit again once it has, or a wide image is cut off
            from qtpy.QtCore import QTimer

            QTimer.singleShot(0, viewer.reset_view)
    except Exception as error:  # noqa: BLE001 - a missing dock must not stop the reading
        log.warning("could not dock the Measurements widget: %s", error)


def open_review(out_dir: str | os.PathLike, image_id: str) -> ReviewSession:
    """A review session of one image of an output folder, in its last saved state.

    Parameters
    ----------
    out_dir : path-like
        The output folder of ``spmito run``.
    image_id : str
        The image.

    Returns
    -------
    ReviewSession
        Without a stack (no re-measuring) when the input image named in ``done.json`` is
        no longer where the batch read it.
    """
    out_dir = Path(out_dir)
    folder = image_dir(out_dir, image_id)
    params = read_run_params(out_dir)
    labels = {name: read_labels(label_path(out_dir, image_id, name)) for name in LABEL_FILES}
    voxel_size_um = labels["cells"][1] or _stack_voxel_size(params)
    result = ImageResult(labels["cells"][0], labels["nuclei"][0], labels["mito"][0],
                         _image_table(out_dir, image_id, "cells"),
                         _image_table(out_dir, image_id, "mito"),
                         tuple(voxel_size_um))
    calls = _batch_calls(out_dir, image_id, result.cell_table)
    role = str(calls["role"].iloc[0]) if "role" in calls and len(calls) else ""
    return ReviewSession(image_id, _input_stack(folder, params), result, params,
                         out_dir=out_dir, calls=calls,
                         overrides=corrections.read_review(out_dir, image_id), role=role)


def _stack_voxel_size(params: RunParams) -> tuple[float, ...]:
    if params.voxel_size_um is None:
        raise ValueError("the label images record no voxel size and run.json gives none")
    return tuple(params.voxel_size_um)


def _input_stack(folder: Path, params: RunParams) -> Stack | None:
    """The image the batch analysed, read as the batch read it (``None`` when missing)."""
    done = read_done(folder.parent.parent, folder.name) if (folder / DONE_JSON).is_file() else {}
    source = done.get("input")
    if not source or not Path(source).is_file():
        log.warning("%s: input image %r not found; labels only, edits are not re-measured",
                    folder, source)
        return None
    return read_input_stack(source, params)


def _image_table(out_dir: Path, image_id: str, name: str) -> pd.DataFrame:
    """A per-image table without its ``image_id`` column."""
    return read_image_table(out_dir, image_id, name).drop(columns="image_id", errors="ignore")


def _batch_calls(out_dir: Path, image_id: str, cell_table: pd.DataFrame) -> pd.DataFrame:
    """The image's rows of ``DIR/cells.csv``: the batch's classes, exclusions, role.

    Cells re-measured since the batch wrote ``DIR/cells.csv`` (corrected in napari: their
    measurements differ from the image's ``cells.csv``) get no calls: theirs wait for
    ``spmito report``.
    """
    path = out_dir / "cells.csv"
    if not path.is_file():
        return pd.DataFrame({"cell_id": pd.Series(dtype="int64")})
    table = pd.read_csv(path, dtype={"image_id": str}, low_memory=False)
    table = table[table["image_id"] == image_id]
    measured = [c for c in _MEASUREMENTS if c in table.columns and c in cell_table.columns]
    both = table.merge(cell_table[["cell_id", *measured]], on="cell_id",
                       suffixes=("", "_now"))
    same = np.ones(len(both), bool)
    for column in measured:
        same &= np.isclose(both[column].to_numpy(float), both[f"{column}_now"].to_numpy(float),
                           equal_nan=True)
    calls = [c for c in CALL_COLUMNS if c in table.columns]
    for column in calls:
        both[column] = both[column].astype(object).where(same, None)
    return both[["cell_id", *calls, *(["role"] if "role" in table.columns else [])]]
