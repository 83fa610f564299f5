"""Reading microscopy files into :class:`~imaging.stack.Stack` and writing label images.

(Foundation issue: the reader is being built; the OME-TIFF writers below are final.)
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence

import numpy as np
import tifffile

from imaging.atomic import atomic_path
from imaging.errors import CorruptFileError

_SPATIAL_AXES = ("Z", "Y", "X")


def ome_metadata(
    axes: str,
    voxel_size_um: Sequence[float],
    channel_names: Sequence[str] | None = None,
    uuid_key: str | None = None,
) -> dict:
    """OME metadata for :func:`tifffile.imwrite` with physical sizes in µm.

    Parameters
    ----------
    axes : str
        Axes of the array, e.g. ``"ZCYX"`` or ``"YX"``.
    voxel_size_um : sequence of float
        One size per spatial axis present in ``axes`` (z, y, x order).
    channel_names : sequence of str, optional
        Channel names, when ``axes`` has a ``C``.
    uuid_key : str, optional
        Makes the OME UUID a function of this key (uuid5) instead of random, so that the
        same content gives byte-identical files.
    """
    spatial = [ax for ax in axes if ax in _SPATIAL_AXES]
    if len(spatial) != len(voxel_size_um):
        raise ValueError(f"axes {axes!r} need {len(spatial)} voxel sizes, got {voxel_size_um}")
    metadata: dict = {"axes": axes}
    for ax, size in zip(spatial, voxel_size_um):
        metadata[f"PhysicalSize{ax}"] = float(size)
        metadata[f"PhysicalSize{ax}Unit"] = "µm"
    if channel_names is not None:
        metadata["Channel"] = {"Name": list(channel_names)}
    if uuid_key is not None:
        metadata["UUID"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"spmito:{uuid_key}"))
    return metadata


def write_ome_tiff(
    path: str | os.PathLike,
    data: np.ndarray,
    axes: str,
    voxel_size_um: Sequence[float],
    channel_names: Sequence[str] | None = None,
    uuid_key: str | None = None,
    compression: str | None = "zlib",
) -> None:
    """Write an array as OME-TIFF with physical sizes, atomically.

    Parameters
    ----------
    path : path-like
        Output file (``.ome.tif``).
    data : ndarray
        The image; its dtype is kept.
    axes : str
        Axes of ``data`` (``YX``, ``ZYX``, ``CYX``, ``ZCYX``).
    voxel_size_um : sequence of float
        Physical size per spatial axis, in µm.
    channel_names : sequence of str, optional
        Channel names stored in the OME metadata.
    uuid_key : str, optional
        Deterministic OME UUID (see :func:`ome_metadata`).
    compression : str or None
        TIFF compression (lossless); ``None`` to store raw.
    """
    data = np.asarray(data)
    metadata = ome_metadata(axes, voxel_size_um, channel_names, uuid_key)
    with atomic_path(path) as tmp:
        tifffile.imwrite(tmp, data, ome=True, metadata=metadata, compression=compression,
                         photometric="minisblack")


def write_labels(
    path: str | os.PathLike,
    labels: np.ndarray,
    voxel_size_um: Sequence[float],
    uuid_key: str | None = None,
) -> None:
    """Write a 2-D or 3-D label image as OME-TIFF; the round trip is exact.

    Parameters
    ----------
    path : path-like
        Output ``.ome.tif`` file.
    labels : ndarray of int
        ``(Y, X)`` or ``(Z, Y, X)`` label image; dtype is preserved.
    voxel_size_um : sequence of float
        ``(y, x)`` or ``(z, y, x)`` in µm.
    uuid_key : str, optional
        Deterministic OME UUID.
    """
    labels = np.asarray(labels)
    if labels.ndim not in (2, 3) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be a 2-D or 3-D integer array, got {labels.dtype} "
                         f"{labels.shape}")
    axes = "ZYX"[-labels.ndim:]
    write_ome_tiff(path, labels, axes, voxel_size_um, uuid_key=uuid_key)


def read_labels(path: str | os.PathLike) -> tuple[np.ndarray, tuple[float, ...]]:
    """Read a label image written by :func:`write_labels`.

    Returns
    -------
    labels : ndarray
        ``(Y, X)`` or ``(Z, Y, X)``, dtype as written.
    voxel_size_um : tuple of float
        ``(y, x)`` or ``(z, y, x)`` in µm.

    Raises
    ------
    CorruptFileError
        When the file cannot be read.
    """
    try:
        with tifffile.TiffFile(path) as tif:
            labels = tif.series[0].asarray()
            pixels = _ome_pixels_attributes(tif)
    except (OSError, ValueError, tifffile.TiffFileError) as error:
        raise CorruptFileError(path, f"cannot read the label image ({error})",
                               "Re-export the mask as a TIFF/OME-TIFF.") from error
    axes = "ZYX"[-labels.ndim:]
    voxel = tuple(float(pixels.get(f"PhysicalSize{ax}", 1.0)) for ax in axes)
    return labels, voxel


def _ome_pixels_attributes(tif: tifffile.TiffFile) -> dict:
    """The attributes of the first OME ``Pixels`` element (empty when not OME)."""
    if not tif.is_ome or tif.ome_metadata is None:
        return {}
    from xml.etree import ElementTree

    root = ElementTree.fromstring(tif.ome_metadata)
    for element in root.iter():
        if element.tag.endswith("Pixels"):
            return dict(element.attrib)
    return {}
