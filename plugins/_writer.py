"""napari writer: a labels layer as OME-TIFF with its physical pixel size (no Qt)."""

from __future__ import annotations

from typing import Any

import numpy as np

from imaging.io import write_labels


def write_labels_layer(path: str, data: Any, meta: dict) -> list[str]:
    """Write one labels layer to ``path`` (``.ome.tif``) with the layer's scale as µm.

    Parameters
    ----------
    path : str
        The file to write.
    data : array-like
        The label image, ``(Y, X)`` or ``(Z, Y, X)``.
    meta : dict
        The layer's attributes; ``scale`` is the voxel size in µm (spmito layers carry it).

    Returns
    -------
    list of str
        The path written.
    """
    labels = np.asarray(data)
    scale = meta.get("scale") or (1.0,) * labels.ndim
    write_labels(path, labels, tuple(float(s) for s in scale))
    return [path]
