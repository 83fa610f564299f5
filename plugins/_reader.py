"""napari reader: spmito output folders and TIFF/OME-TIFF images (no Qt).

An output folder opens as the image's channels, its nuclei, mitochondria and cell labels
(in µm) and the cells' features, in the state the last review saved: corrected labels,
re-measured tables, the batch's classes (``DIR/cells.csv``) and the overrides of
``review.csv``. Give ``DIR/images/<image_id>``, or ``DIR`` when it holds one image.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from imaging import corrections
from imaging.io import read_labels, read_stack
from imaging.params import RunParams, read_run_params
from imaging.pipeline import ImageResult
from imaging.stack import IMAGE_SUFFIXES, Stack
from plugins.layers import LayerDataTuple, image_layers, result_layers
from plugins.review import CALL_COLUMNS, ReviewSession

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
        return read_output_folder
    if str(path).lower().endswith(IMAGE_SUFFIXES) and Path(path).is_file():
        return read_image_file
    return None


def image_folder(path: str | os.PathLike) -> Path | None:
    """``DIR/images/<id>`` for that folder or for an output folder of one image."""
    path = Path(path)
    if (path / "cells.ome.tif").is_file() and path.parent.name == "images":
        return path
    candidates = sorted(p.parent for p in path.glob("images/*/cells.ome.tif"))
    return candidates[0] if len(candidates) == 1 else None


def read_image_file(path: str | list[str]) -> list[LayerDataTuple]:
    """One layer per channel of a TIFF/OME-TIFF/ImageJ file, roles from channel names."""
    path = path[0] if isinstance(path, list) else path
    return image_layers(read_stack(path))


def read_output_folder(path: str | list[str]) -> list[LayerDataTuple]:
    """The channels, labels and features of one image of an output folder."""
    path = path[0] if isinstance(path, list) else path
    folder = image_folder(path)
    session = open_review(folder.parent.parent, folder.name)
    channels = image_layers(session.stack, session.image_id) if session.stack else []
    return channels + result_layers(session)


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
    folder = out_dir / "images" / image_id
    params = read_run_params(out_dir)
    labels = {name: read_labels(folder / f"{name}.ome.tif") for name in ("cells", "nuclei",
                                                                           "mito")}
    voxel_size_um = labels["cells"][1] or _stack_voxel_size(params)
    result = ImageResult(labels["cells"][0], labels["nuclei"][0], labels["mito"][0],
                         _image_table(folder / "cells.csv"), _image_table(folder / "mito.csv"),
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
    done_path = folder / "done.json"
    done = json.loads(done_path.read_text(encoding="utf-8")) if done_path.is_file() else {}
    source = done.get("input")
    if not source or not Path(source).is_file():
        log.warning("%s: input image %r not found; labels only, edits are not re-measured",
                    folder, source)
        return None
    return read_stack(source, axes=params.axes, channels=params.channels,
                      voxel_size_um=params.voxel_size_um, timepoint=params.timepoint)


def _image_table(path: Path) -> pd.DataFrame:
    """A per-image table without its ``image_id`` column."""
    return pd.read_csv(path).drop(columns="image_id", errors="ignore")


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
