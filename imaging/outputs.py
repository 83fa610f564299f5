"""The output folder of ``spmito run``: where each file is, and writing and reading it.

The one place that knows the layout (contract.md):

``DIR/images/<image_id>/``
    ``cells.ome.tif``, ``nuclei.ome.tif``, ``mito.ome.tif`` (:data:`LABEL_FILES`), the
    per-image tables ``cells.csv`` and ``mito.csv``, and ``done.json`` written last: the
    input's sha256, the analysis-parameter hash, the provenance and the sha256 of the label
    images as written (``--resume`` and :mod:`spmito.imaging.corrections` compare them).
``DIR/*.csv``, ``DIR/*.parquet``
    Tables, each written atomically (:func:`write_table_csv`, :func:`write_parquet`).

The batch (:mod:`spmito.imaging.batch`), the summary (:mod:`spmito.imaging.summary`), QC,
the corrections made in napari and the napari reader all go through here. Reading an input
image again "as the batch read it" is :func:`read_input_stack`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from spmito.imaging.atomic import atomic_path, write_text_atomic
from spmito.imaging.io import read_labels, read_stack, write_labels
from spmito.imaging.params import RunParams
from spmito.imaging.provenance import now_iso, sha256_file
from spmito.imaging.stack import Stack

#: The label images of each image, ``images/<id>/<name>.ome.tif``.
LABEL_FILES = ("cells", "nuclei", "mito")
#: Written last for each image: present means the image's outputs are complete.
DONE_JSON = "done.json"


# ------------------------------------------------------------------------------ paths


def image_dir(out_dir: str | os.PathLike, image_id: str) -> Path:
    """``DIR/images/<image_id>``."""
    return Path(out_dir) / "images" / image_id


def label_path(out_dir: str | os.PathLike, image_id: str, name: str) -> Path:
    """``DIR/images/<image_id>/<name>.ome.tif`` (``name`` one of :data:`LABEL_FILES`)."""
    return image_dir(out_dir, image_id) / f"{name}.ome.tif"


def finished_images(out_dir: str | os.PathLike, image_ids: Iterable[str]) -> list[str]:
    """Those of ``image_ids`` whose outputs are complete (a ``done.json``), in order."""
    return [str(image_id) for image_id in image_ids
            if (image_dir(out_dir, str(image_id)) / DONE_JSON).is_file()]


# ----------------------------------------------------------------------------- tables


def write_table_csv(path: Path, table: pd.DataFrame) -> None:
    """Write a table as CSV atomically, ``image_id`` first when present."""
    if "image_id" in table.columns:
        table = table[["image_id", *[c for c in table.columns if c != "image_id"]]]
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)


def write_parquet(path: Path, table: pd.DataFrame) -> None:
    """Write a table as Parquet atomically (mixed object columns stored as text)."""
    table = table.copy()
    for column in [c for c in table.columns if table[c].dtype == object]:
        table[column] = table[column].map(lambda v: None if v is None or v is pd.NA
                                          or (isinstance(v, float) and np.isnan(v)) else str(v))
    with atomic_path(path) as tmp:
        table.to_parquet(tmp, index=False)


def write_image_tables(out_dir: str | os.PathLike, image_id: str, cell_table: pd.DataFrame,
                       mito_table: pd.DataFrame) -> None:
    """Write ``images/<id>/cells.csv`` and ``mito.csv``, each atomically, ``image_id`` first."""
    folder = image_dir(out_dir, image_id)
    write_table_csv(folder / "cells.csv", cell_table.assign(image_id=image_id))
    write_table_csv(folder / "mito.csv", mito_table.assign(image_id=image_id))


def read_image_table(out_dir: str | os.PathLike, image_id: str, name: str) -> pd.DataFrame:
    """``images/<id>/<name>.csv`` (``name``: ``cells`` or ``mito``), ``image_id`` as text."""
    return pd.read_csv(image_dir(out_dir, image_id) / f"{name}.csv", dtype={"image_id": str})


# ----------------------------------------------------------------------------- labels


def write_label_image(out_dir: str | os.PathLike, image_id: str, name: str,
                      labels: np.ndarray, voxel_size_um: Sequence[float]) -> Path:
    """Write one label image of an image atomically (OME-TIFF with the voxel size in µm)."""
    path = label_path(out_dir, image_id, name)
    write_labels(path, labels, voxel_size_um, uuid_key=f"{image_id}/{name}")
    return path


def read_label_images(out_dir: str | os.PathLike, image_id: str,
                      names: Sequence[str] = LABEL_FILES) -> dict[str, np.ndarray]:
    """The label images of an image, by name."""
    return {name: read_labels(label_path(out_dir, image_id, name))[0] for name in names}


def write_image_outputs(out_dir: str | os.PathLike, image_id: str, result) -> None:
    """Write the label images and per-image tables of one image, each atomically.

    ``result`` is an :class:`spmito.imaging.pipeline.ImageResult`.
    """
    for name in LABEL_FILES:
        write_label_image(out_dir, image_id, name, getattr(result, name), result.voxel_size_um)
    write_image_tables(out_dir, image_id, result.cell_table, result.mito_table)


# -------------------------------------------------------------------------- done.json


def done_record(image_id: str, input_path: str, params: RunParams,
                cells_mask: str | None = None) -> dict:
    """The fingerprint that ``--resume`` compares (input and mask sha256, parameter hash)."""
    record = {"image_id": image_id, "input": input_path,
              "input_sha256": sha256_file(input_path),
              "params_sha256": params.analysis_hash()}
    if cells_mask:
        record["cells_mask_sha256"] = sha256_file(cells_mask)
    return record


def write_done(out_dir: str | os.PathLike, image_id: str, record: dict, n_cells: int,
               provenance: dict) -> None:
    """Write ``done.json`` last: ``record``, the time, the provenance, the labels' sha256."""
    record = {**record, "finished": now_iso(), "n_cells": int(n_cells),
              "provenance": provenance,
              "labels_sha256": {name: sha256_file(label_path(out_dir, image_id, name))
                                for name in LABEL_FILES}}
    write_text_atomic(image_dir(out_dir, image_id) / DONE_JSON,
                      json.dumps(record, indent=2, default=str) + "\n")


def done_records(out_dir: str | os.PathLike) -> dict[str, dict]:
    """Every ``done.json`` of the folder by image id (sorted): the finished images."""
    return {path.parent.name: json.loads(path.read_text(encoding="utf-8"))
            for path in sorted(Path(out_dir).glob(f"images/*/{DONE_JSON}"))}


def read_done(out_dir: str | os.PathLike, image_id: str) -> dict:
    """The ``done.json`` of an image (``OSError`` when absent, ``ValueError`` when damaged)."""
    return json.loads((image_dir(out_dir, image_id) / DONE_JSON).read_text(encoding="utf-8"))


# ------------------------------------------------------------------------- the inputs


def read_input_stack(path: str | os.PathLike, params: RunParams) -> Stack:
    """Read an input image with the run's reading options (axes, roles, voxel size, ...)."""
    return read_stack(path, axes=params.axes, channels=params.channels,
                      voxel_size_um=params.voxel_size_um, timepoint=params.timepoint,
                      allow_external_files=params.allow_external_files,
                      allow_unusual_voxel_size=params.allow_unusual_voxel_size)
