"""napari writer: a labels layer as OME-TIFF with its physical pixel size (no Qt)."""

from __future__ import annotations

from typing import Any

import numpy as np

from spmito.imaging.errors import SpmitoInputError
from spmito.imaging.io import write_labels

#: How pint (napari's layer units) spells the unit the writer stores.
_MICROMETRE = "micrometer"


def write_labels_layer(path: str, data: Any, meta: dict) -> list[str]:
    """Write one labels layer to ``path`` (``.ome.tif``) with the layer's scale as µm.

    Parameters
    ----------
    path : str
        The file to write.
    data : array-like
        The label image, ``(Y, X)`` or ``(Z, Y, X)``.
    meta : dict
        The layer's attributes: ``scale`` is the voxel size, ``units`` must be µm (spmito
        layers carry both).

    Returns
    -------
    list of str
        The path written.

    Raises
    ------
    SpmitoInputError
        When the layer's units are not µm: its scale is not a physical size, and spmito
        does not guess one.
    """
    labels = np.asarray(data)
    units = [str(unit) for unit in meta.get("units") or ()]
    if any(unit != _MICROMETRE for unit in units):
        raise SpmitoInputError(path, f"the layer's units are {units}, not µm, so its pixel "
                               "size is unknown", "Open the image with the spmito reader, or "
                               "set the layer's scale in µm and its units to µm")
    write_labels(path, labels, tuple(float(s) for s in meta["scale"]))
    return [path]
