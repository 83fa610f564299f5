"""Reading microscopy files into :class:`~spmito.imaging.stack.Stack` and writing label images.

:func:`read_stack` reads TIFF, OME-TIFF and ImageJ hyperstacks (with tifffile) into a
:class:`~spmito.imaging.stack.Stack` with axes ``CYX`` or ``ZCYX``, channel roles and a voxel size
in µm. The rules it follows:

Axes
    The file's axes are tifffile's reading of the OME/ImageJ metadata (``series[0].axes``);
    ``axes=`` replaces them, one tifffile letter per dimension (``"ZYX"``, ``"TZCYX"``,
    ``"YXS"``). ``Z`` of length 1 is dropped (a 2-D image has no Z); a file without ``C``
    gets one channel. ``S`` (samples, e.g. RGB) of length > 1 becomes the channel axis,
    named ``red, green, blue`` for RGB files. ``T`` of length > 1 needs ``timepoint=``.
    Any other axis is dropped when it has length 1 and refused otherwise, in particular
    tifffile's ``Q``/``I`` (planes of unknown meaning in a plain multi-page TIFF): spmito
    never guesses whether planes are z-slices or channels.
Voxel size
    From the file, see :mod:`spmito.imaging.tiffmeta`; ``voxel_size_um=`` wins. For a 3-D stack,
    two values ``(y, x)`` replace the pixel size and keep the file's z step.
Channels
    Names from OME ``Channel Name`` or ImageJ ``Labels``, else ``ch0, ch1, ...``; roles from
    ``channels=`` or from the names (:mod:`spmito.imaging.channels`).
Laziness
    Files whose pixels take more than :data:`LAZY_ABOVE_BYTES` are opened as a Dask array
    over tifffile's Zarr store: opening reads only the TIFF headers.
Bad files
    Everything a damaged or hostile file can make tifffile, its codecs, the XML parser or
    the operating system raise becomes spmito's own error
    (:func:`spmito.imaging.errors.input_errors`),
    also when a lazy channel is first read. Before anything is allocated, the sizes a file
    declares are checked against its size (:data:`MAX_COMPRESSION_RATIO`), OME-XML is parsed
    safely (:func:`spmito.imaging.tiffmeta.safe_xml_dict`), pixels outside the file or inside its
    header are refused, and so are complex and boolean pixels. Voxel sizes outside
    :data:`PLAUSIBLE_VOXEL_UM` are refused unless ``allow_unusual_voxel_size``. OME
    ``TiffData`` pointing at other files is refused unless ``allow_external_files``; then
    ``Stack.metadata["files"]`` lists every file read, for hashing.

One module (about 550 lines) on purpose: :func:`read_stack` and the rules above are one
reader, and the writers beside it (:func:`write_ome_tiff`, :func:`write_labels`) produce the
OME layout that :func:`read_labels` and :func:`read_stack` read back.
"""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import tifffile

from spmito.imaging.atomic import atomic_path
from spmito.imaging.channels import ChannelRef, parse_channels, resolve_roles
from spmito.imaging.errors import (
    CorruptFileError,
    EmptyImageError,
    MissingVoxelSizeError,
    SpmitoInputError,
    UnsupportedAxesError,
    input_errors,
)
from spmito.imaging.stack import Stack
from spmito.imaging.tiffmeta import (
    RecordedVoxelSize,
    recorded_channel_names,
    recorded_voxel_size,
)
from spmito.imaging.tiffopen import (
    MAX_COMPRESSION_RATIO,
    REEXPORT_FIX,
    open_lazily,
    open_series,
    read_eagerly,
)

__all__ = [
    "LAZY_ABOVE_BYTES",
    "MAX_COMPRESSION_RATIO",
    "PLAUSIBLE_VOXEL_UM",
    "ome_metadata",
    "parse_channels",
    "parse_voxel_size",
    "read_flatfield",
    "read_labels",
    "read_stack",
    "write_labels",
    "write_ome_tiff",
]

#: ``lazy="auto"`` opens files whose uncompressed pixels exceed this many bytes lazily.
LAZY_ABOVE_BYTES = 1 << 30

#: Voxel sizes in µm accepted without ``allow_unusual_voxel_size``: from beyond the
#: resolution of super-resolution microscopy to a slide scanner's coarsest objective.
PLAUSIBLE_VOXEL_UM = (0.01, 100.0)

_SPATIAL_AXES = ("Z", "Y", "X")

_RGB_NAMES = ("red", "green", "blue", "alpha")



@dataclass(frozen=True)
class _AxesPlan:
    """How to turn the file's array into ``(Z)CYX``.

    ``index`` has one entry per file axis: an int picks one position (dropping the axis),
    a slice keeps it. ``kept`` names the kept axes, with samples renamed to ``C``.
    """

    index: tuple[int | slice, ...]
    kept: str
    samples_as_channels: bool
    n_channels: int

    @property
    def stack_axes(self) -> str:
        return "ZCYX" if "Z" in self.kept else "CYX"

    def apply(self, data: Any) -> Any:
        """Index, reorder and add the channel axis; works on NumPy and Dask arrays."""
        data = data[self.index]
        order = sorted(range(len(self.kept)), key=lambda i: "ZCYX".index(self.kept[i]))
        data = data.transpose(order)
        if "C" not in self.kept:
            data = data[(slice(None),) * ("Z" in self.kept) + (None,)]
        return data


def _refuse_axis(letter: str, size: int, axes: str, shape: tuple[int, ...],
                 path: Path) -> UnsupportedAxesError:
    found = f"axes {axes!r}, shape {shape}"
    if letter in "QI":
        return UnsupportedAxesError(
            path,
            f"the file does not record what its {size} planes are ({found}; tifffile "
            f"calls them {tifffile.TIFF.AXES_NAMES[letter]!r}), and spmito does not guess",
            "Pass the axes: --axes ZYX if the planes are z-slices, --axes CYX if they are "
            "channels (with more dimensions e.g. --axes ZCYX)")
    name = tifffile.TIFF.AXES_NAMES.get(letter, "unknown")
    return UnsupportedAxesError(
        path,
        f"axis {letter!r} ({name}) has {size} entries ({found}); spmito analyses one (z-)stack "
        "of channels per file",
        f"Save one file per {name} position, or pass --axes if the metadata is wrong")


def _timepoint_index(size: int, timepoint: int | None, axes: str, shape: tuple[int, ...],
                     path: Path) -> int:
    if timepoint is None and size == 1:
        return 0
    if timepoint is None:
        raise UnsupportedAxesError(
            path, f"the file is a time series of {size} time points (axes {axes!r}, "
            f"shape {shape})",
            f"Pick one with --timepoint T (T from 0 to {size - 1})")
    if not 0 <= timepoint < size:
        raise UnsupportedAxesError(
            path, f"time point {timepoint} does not exist: the file has {size} "
            f"(axes {axes!r}, shape {shape})",
            f"Use --timepoint from 0 to {size - 1}")
    return timepoint


def _check_axes_string(axes: str, shape: tuple[int, ...], path: Path) -> None:
    if len(axes) != len(shape):
        raise UnsupportedAxesError(
            path, f"axes {axes!r} name {len(axes)} dimensions, but the image has "
            f"{len(shape)} (shape {shape})",
            "Give one tifffile letter per dimension, e.g. --axes ZCYX")
    if len(set(axes)) != len(axes) or not {"Y", "X"} <= set(axes):
        raise UnsupportedAxesError(
            path, f"axes {axes!r} must name Y and X once each and repeat no letter",
            "Use tifffile letters, e.g. --axes ZCYX, CYX, TZCYX or YXS")


def _plan_axes(shape: tuple[int, ...], axes: str, path: Path,
               timepoint: int | None) -> _AxesPlan:
    """Decide how a ``shape`` with ``axes`` becomes ``(Z)CYX`` (see the module notes)."""
    _check_axes_string(axes, shape, path)
    sizes = dict(zip(axes, shape, strict=True))
    samples_as_channels = sizes.get("S", 1) > 1
    if samples_as_channels and sizes.get("C", 1) > 1:
        raise UnsupportedAxesError(
            path, f"the image has both channels (C={sizes['C']}) and samples per pixel "
            f"(S={sizes['S']}) (axes {axes!r}, shape {shape})",
            "Export it with one kind of channel, e.g. as a multichannel OME-TIFF")
    if "T" not in sizes and timepoint not in (None, 0):
        raise UnsupportedAxesError(path, f"--timepoint {timepoint} given, but the file has no "
                                   f"time axis (axes {axes!r}, shape {shape})",
                                   "Leave --timepoint out for this file")
    index: list[int | slice] = []
    kept = ""
    for letter, size in zip(axes, shape, strict=True):
        keep = (letter in "YX" or (letter == "Z" and size > 1)
                or (letter == "C" and not samples_as_channels)
                or (letter == "S" and samples_as_channels))
        if keep:
            index.append(slice(None))
            kept += "C" if letter == "S" else letter
        elif letter == "T":
            index.append(_timepoint_index(size, timepoint, axes, shape, path))
        elif size == 1:
            index.append(0)
        else:
            raise _refuse_axis(letter, size, axes, shape, path)
    n_channels = sizes["S"] if samples_as_channels else sizes.get("C", 1)
    return _AxesPlan(tuple(index), kept, samples_as_channels, n_channels)


def _check_plausible_voxel(sizes: dict[str, float], source: dict[str, str], path: Path) -> None:
    low, high = PLAUSIBLE_VOXEL_UM
    odd = [axis for axis in sizes if not low <= sizes[axis] <= high]
    if not odd:
        return
    found = ", ".join(f"{axis} {sizes[axis]:.3g} µm ({source[axis]})" for axis in odd)
    given = all(source[axis] == "given" for axis in odd)
    raise SpmitoInputError(
        path, f"implausible voxel size {found}: light microscopes sample {low:g} to "
        f"{high:g} µm per voxel, so the {'value given' if given else 'metadata'} is "
        "probably wrong", "Pass the voxel size in µm with --voxel-size, or "
        "--allow-unusual-voxel-size if this size is right")


def _voxel_size_um(recorded: RecordedVoxelSize, given: Sequence[float] | None, is_3d: bool,
                   path: Path, allow_unusual: bool = False
                   ) -> tuple[tuple[float, ...], dict[str, str]]:
    """The stack's voxel size and where each value came from."""
    needed = ("z", "y", "x") if is_3d else ("y", "x")
    example = "--voxel-size Z,Y,X (e.g. 0.3,0.1,0.1)" if is_3d else \
        "--voxel-size Y,X (e.g. 0.1,0.1)"
    sizes = dict(recorded.size_um)
    source = dict(recorded.source)
    if given is not None:
        given = tuple(float(v) for v in given)
        if len(given) not in (2, len(needed)):
            raise SpmitoInputError(
                path, f"the voxel size given has {len(given)} value(s) {given}, but the image "
                f"is {len(needed)}-D", f"Pass {example}, in µm")
        sizes.update(zip(needed[-len(given):], given, strict=True))
        source.update(dict.fromkeys(needed[-len(given):], "given"))
    missing = [axis for axis in needed if axis not in sizes]
    if missing:
        if missing == ["y", "x"] and is_3d:
            example = "--voxel-size Y,X (keeps the recorded z step) or Z,Y,X"
        raise MissingVoxelSizeError(
            path, f"the file does not record the voxel size along {', '.join(missing)} "
            f"(found: {recorded.describe()}), and spmito does not guess it",
            f"Pass it in µm: {example}")
    if not allow_unusual:
        _check_plausible_voxel({axis: sizes[axis] for axis in needed}, source, path)
    return tuple(sizes[axis] for axis in needed), {axis: source[axis] for axis in needed}


def _channel_names(tif: tifffile.TiffFile, series: tifffile.TiffPageSeries,
                   plan: _AxesPlan) -> tuple[str, ...]:
    n_channels = plan.n_channels
    rgb = series.keyframe.photometric == tifffile.PHOTOMETRIC.RGB
    if plan.samples_as_channels and rgb and n_channels <= len(_RGB_NAMES):
        return _RGB_NAMES[:n_channels]
    names = recorded_channel_names(tif, n_channels)
    return names if names is not None else tuple(f"ch{i}" for i in range(n_channels))


def read_stack(
    path: str | os.PathLike,
    *,
    axes: str | None = None,
    channels: Mapping[str, ChannelRef] | None = None,
    voxel_size_um: Sequence[float] | None = None,
    timepoint: int | None = None,
    lazy: bool | Literal["auto"] = "auto",
    allow_external_files: bool = False,
    allow_unusual_voxel_size: bool = False,
) -> Stack:
    """Read a TIFF, OME-TIFF or ImageJ file into a :class:`~spmito.imaging.stack.Stack`.

    Parameters
    ----------
    path : path-like
        The image file.
    axes : str, optional
        tifffile axis letters replacing the file's, one per dimension of tifffile's
        (squeezed) shape, e.g. ``"ZYX"``, ``"ZCYX"``, ``"TZCYX"``, ``"YXS"``.
    channels : mapping of str to int or str, optional
        Role to channel index or name, e.g. ``{"hoechst": 0, "mito": "MitoTracker"}``.
        Default: roles from the channel names
        (:func:`spmito.imaging.channels.role_of_channel_name`).
    voxel_size_um : sequence of float, optional
        ``(z, y, x)`` or ``(y, x)`` in µm; wins over the file's metadata. For a 3-D stack,
        ``(y, x)`` keeps the file's z step.
    timepoint : int, optional
        The time point to read from a time series (required when it has several).
    lazy : bool or "auto"
        ``True``: pixels stay on disk as a Dask array until used; ``False``: read now;
        ``"auto"``: lazily when the pixels take more than :data:`LAZY_ABOVE_BYTES`.
    allow_external_files : bool
        Read OME ``TiffData`` from other files (a multi-file OME-TIFF); refused by default.
    allow_unusual_voxel_size : bool
        Accept voxel sizes outside :data:`PLAUSIBLE_VOXEL_UM`.

    Returns
    -------
    Stack
        Axes ``CYX`` or ``ZCYX``; ``metadata`` holds ``file_axes``, ``axes`` (those used),
        ``timepoint``, ``voxel_size_source`` (per axis), ``lazy`` and ``files`` (every file
        the pixels come from, ``path`` first).

    Raises
    ------
    CorruptFileError
        Missing, truncated or damaged file, or not a TIFF (whatever tifffile or a codec
        raised is its cause).
    ImageTooLargeError
        Reading it needs more memory than the machine gives.
    UnsupportedAxesError
        Axes that cannot be mapped onto ``(Z)CYX``, or a time series without ``timepoint``.
    MissingVoxelSizeError
        The file records no voxel size and none was given.
    ChannelError
        A role that names a channel the image does not have.
    EmptyImageError
        The image has no pixels.
    SpmitoInputError
        Complex or boolean pixels, an implausible voxel size, pixels in other files.
    """
    if lazy not in (True, False, "auto"):
        raise ValueError(f"lazy must be True, False or 'auto', got {lazy!r}")
    path = Path(path)
    tif, series, files = open_series(path, allow_external_files)
    with tif, input_errors(path, "reading the image"):
        used_axes = series.axes if axes is None else axes.upper()
        plan = _plan_axes(tuple(series.shape), used_axes, path, timepoint)
        if 0 in series.shape:
            raise EmptyImageError(path, f"the image has no pixels (shape {series.shape})",
                                  "Check the file")
        channel_names = _channel_names(tif, series, plan)
        roles = resolve_roles(channel_names, channels, path)
        voxel, voxel_source = _voxel_size_um(recorded_voxel_size(tif), voxel_size_um,
                                             "Z" in plan.kept, path, allow_unusual_voxel_size)
        read_lazily = lazy is True or (lazy == "auto" and series.nbytes > LAZY_ABOVE_BYTES)
        data = open_lazily(path) if read_lazily else read_eagerly(series, path)
        if tuple(data.shape) != tuple(series.shape):
            raise CorruptFileError(path, f"the pixels decode to shape {tuple(data.shape)}, but "
                                   f"the file declares {tuple(series.shape)}", REEXPORT_FIX)
        data = plan.apply(data)
    return Stack(
        data=data,
        axes=plan.stack_axes,
        channel_names=channel_names,
        roles=roles,
        voxel_size_um=voxel,
        source=path,
        metadata={"file_axes": series.axes, "axes": used_axes, "timepoint": timepoint,
                  "voxel_size_source": voxel_source, "lazy": read_lazily,
                  "files": list(files)},
    )


def parse_voxel_size(text: str) -> tuple[float, ...]:
    """Parse a ``--voxel-size`` value: ``"Z,Y,X"``, ``"Y,X"`` or one number in µm.

    Parameters
    ----------
    text : str
        One to three comma-separated positive numbers; one number means square pixels of a
        2-D image (``Y = X``).

    Returns
    -------
    tuple of float
        ``(z, y, x)`` or ``(y, x)``.

    Raises
    ------
    SpmitoInputError
        Not one to three positive finite numbers.

    Examples
    --------
    >>> parse_voxel_size("0.3, 0.1,0.1")
    (0.3, 0.1, 0.1)
    >>> parse_voxel_size("0.65")
    (0.65, 0.65)
    """
    fix = "Write Z,Y,X or Y,X in µm, e.g. --voxel-size 0.3,0.1,0.1"
    try:
        sizes = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise SpmitoInputError(None, f"cannot read --voxel-size {text!r}: not numbers", fix) \
            from None
    if len(sizes) == 1:
        sizes = sizes * 2
    if len(sizes) not in (2, 3) or not all(math.isfinite(s) and s > 0 for s in sizes):
        raise SpmitoInputError(None, f"--voxel-size {text!r} must be 1 to 3 positive numbers",
                               fix)
    return sizes


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
    for ax, size in zip(spatial, voxel_size_um, strict=True):
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


def read_flatfield(path: str | os.PathLike) -> np.ndarray:
    """Read a flat-field image (``YX``, any dtype) as float32.

    Raises
    ------
    CorruptFileError
        The file cannot be read.
    SpmitoInputError
        It is not a single 2-D plane, or it has non-positive or non-finite values.
    """
    path = Path(path)
    tif, series, _ = open_series(path)
    with tif:
        image = np.squeeze(read_eagerly(series, path)).astype(np.float32)
    if image.ndim != 2:
        raise SpmitoInputError(path, f"a flat field must be one YX plane, got shape {image.shape}",
                               "Average your flat-field stack into one plane first.")
    if not np.all(np.isfinite(image)) or image.min() <= 0:
        raise SpmitoInputError(path, "the flat field has zero, negative or non-finite values",
                               "Use a smoothed illumination image (e.g. a blurred mean of "
                               "empty fields).")
    return image


def read_labels(path: str | os.PathLike) -> tuple[np.ndarray, tuple[float, ...] | None]:
    """Read a label image, e.g. one written by :func:`write_labels` or a corrected mask.

    Parameters
    ----------
    path : path-like
        A 2-D or 3-D single-channel TIFF/OME-TIFF.

    Returns
    -------
    labels : ndarray
        ``(Y, X)`` or ``(Z, Y, X)``, dtype as written.
    voxel_size_um : tuple of float or None
        ``(y, x)`` or ``(z, y, x)`` in µm, or ``None`` when the file does not record it
        (masks from other tools often do not; use the image's voxel size then).

    Raises
    ------
    CorruptFileError
        When the file is missing, damaged or not a TIFF.
    UnsupportedAxesError
        When it is not 2-D or 3-D.
    """
    path = Path(path)
    tif, series, _ = open_series(path)
    with tif, input_errors(path, "reading the label image"):
        labels = read_eagerly(series, path)
        recorded = recorded_voxel_size(tif)
    if labels.ndim not in (2, 3):
        raise UnsupportedAxesError(
            path, f"a label image must be 2-D or 3-D, got shape {labels.shape} "
            f"(axes {series.axes!r})", "Save the mask as one (Z)YX image without channels")
    axes = ("z", "y", "x")[-labels.ndim:]
    if not all(axis in recorded.size_um for axis in axes):
        return labels, None
    return labels, tuple(recorded.size_um[axis] for axis in axes)
