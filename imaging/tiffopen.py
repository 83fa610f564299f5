"""Opening a TIFF file safely: damage, size and structure checks before any pixel is read.

:func:`spmito.imaging.io.read_stack` opens every file through :func:`open_series`; a damaged
or hostile file becomes a :class:`~spmito.imaging.errors.SpmitoInputError` naming the file
and the fix, never a crash or a huge allocation.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from spmito.imaging.errors import (
    CorruptFileError,
    SpmitoInputError,
    describe_exception,
    input_errors,
)
from spmito.imaging.tiffmeta import (
    ome_declared_bytes,
    ome_external_files,
)

#: Most pixel bytes a file may declare per byte it holds. zlib cannot pass about 1032:1 and
#: a microscopy field, even a nearly empty one, stays far below; a higher claim is damage.
MAX_COMPRESSION_RATIO = 2000

#: Declared pixel bytes accepted whatever the file's size (small files, tiny headers).
_ALWAYS_ACCEPTED_BYTES = 64 << 20

#: The TIFF header: no pixel data starts inside it.
_TIFF_HEADER_BYTES = 8

#: Fewest file bytes a declared plane takes (its IFD alone takes 18; RGB planes share one).
_MIN_BYTES_PER_PLANE = 8


#: Words in tifffile's log messages that mean the file is damaged (tifffile logs, then goes on
#: with whatever it could parse, e.g. a single page of a cut-off stack).
_DAMAGE_HINTS = ("corrupt", "invalid offset", "invalid page offset", "is missing", "expected",
                 "failed to read", "failed to reshape", "incompletely", "does not match",
                 "circular", "incorrect stripoffsets", "incorrect stripbytecounts",
                 "incorrect tileoffsets", "incorrect tilebytecounts", "missing data offset",
                 "invalid tiffdata", "cannot handle discontiguous")

#: tifffile's message when it drops a tag it cannot read; damage when the tag is one that
#: lays out or calibrates the pixels (other tags, e.g. private ones, may be dropped).
_DROPPED_LAYOUT_TAG = re.compile(
    r"TiffTag (256|257|258|259|262|270|273|277|278|279|282|283|284|296|317|322|323|324|325"
    r"|338|339|50838|50839) @\d+> invalid")

REEXPORT_FIX = "Copy or export the file again; check that the transfer finished"



def _check_is_file(path: Path) -> None:
    try:
        exists, is_file = path.exists(), path.is_file()
    except OSError as error:  # e.g. a name longer than the file system allows
        raise CorruptFileError(path, f"cannot be looked up ({describe_exception(error)})",
                               "Shorten the file or folder names") from error
    if not exists:
        problem = ("is a symbolic link to a file that does not exist" if path.is_symlink()
                   else "the file does not exist")
        raise CorruptFileError(path, problem, "Check the path and its spelling")
    if not is_file:
        raise CorruptFileError(path, "is a folder or a special file, not an image file",
                               "Give the image file itself")


class _TifffileLog(logging.Handler):
    """Collects what tifffile logs in this thread while a file is being parsed.

    Other threads (e.g. Dask workers reading other files) are ignored.
    """

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.thread = threading.get_ident()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.messages.append(record.getMessage())

    def damage(self) -> list[str]:
        """The messages that say the file is damaged."""
        return [m for m in self.messages if any(hint in m.lower() for hint in _DAMAGE_HINTS)
                or _DROPPED_LAYOUT_TAG.search(m)]


@contextlib.contextmanager
def _capture_tifffile_log() -> Iterator[_TifffileLog]:
    logger = logging.getLogger("tifffile")
    handler = _TifffileLog()
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def _page_damage(page: Any, file_bytes: int) -> list[str]:
    """What is wrong with where one page's pixel data lies in its file of ``file_bytes``."""
    keyframe = page.keyframe
    offsets, counts = page.dataoffsets, page.databytecounts
    problems = []
    if not keyframe.is_tiled and keyframe.rowsperstrip == 0:
        problems.append("RowsPerStrip is 0")
    if keyframe.is_tiled:
        tile_bytes = (keyframe.tilewidth * keyframe.tilelength * keyframe.tiledepth
                      * keyframe.samplesperpixel * keyframe.dtype.itemsize)
        if tile_bytes > _ALWAYS_ACCEPTED_BYTES:
            problems.append(f"tiles of {keyframe.tilewidth} x {keyframe.tilelength} pixels "
                            f"({tile_bytes / 2**20:.4g} MiB each)")
    for offset, count in zip(offsets, counts, strict=True):
        if count and offset < _TIFF_HEADER_BYTES:
            problems.append(f"pixel data at byte {offset}, inside the TIFF header")
        if offset + count > file_bytes:
            problems.append(f"pixel data end at byte {offset + count}, the file has "
                            f"{file_bytes} bytes")
    stored_whole_bytes = keyframe.bitspersample == keyframe.dtype.itemsize * 8
    if keyframe.compression == 1 and stored_whole_bytes:
        problems += _uncompressed_size_damage(keyframe, sum(counts))
    return problems


def _uncompressed_size_damage(keyframe: Any, stored: int) -> list[str]:
    """An uncompressed page must hold its pixel bytes; strips may pad one strip at most.

    More than that means a size tag (ImageLength, ImageWidth, ...) was damaged into a
    smaller, plausible-looking image.
    """
    if stored < keyframe.nbytes:
        return [f"an uncompressed page holds {stored} of its {keyframe.nbytes} pixel bytes"]
    if keyframe.is_tiled or not keyframe.shape:
        return []
    row_bytes = keyframe.nbytes // max(keyframe.imagelength * keyframe.imagedepth, 1)
    padding = row_bytes * min(keyframe.rowsperstrip, keyframe.imagelength)
    if stored > keyframe.nbytes + padding:
        return [f"an uncompressed page stores {stored} pixel bytes for an image of "
                f"{keyframe.nbytes}: its size tags are damaged"]
    return []


def _structure_damage(series: tifffile.TiffPageSeries) -> list[str]:
    """Pixel data that lies outside its file or inside the header (first damaged page)."""
    if series.dataoffset is not None:  # one contiguous block: its ends and the first page
        start, size = series.dataoffset, series.parent.filehandle.size
        end = start + series.nbytes
        if start < _TIFF_HEADER_BYTES:
            return [f"pixel data at byte {start}, inside the TIFF header"]
        if end > size:
            return [f"pixel data end at byte {end}, the file has {size} bytes"]
        pages = [series.keyframe]
    else:
        pages = [page for page in series.pages if page is not None]
    for page in pages:
        problems = _page_damage(page, page.parent.filehandle.size)
        if problems:
            return problems
    return []


def _files_read(series: tifffile.TiffPageSeries) -> dict[str, int]:
    """Every file the series takes pixels from, with its size in bytes (main file first)."""
    files = {str(series.parent.filehandle.path): series.parent.filehandle.size}
    for page in series.pages:
        if page is not None:
            files.setdefault(str(page.parent.filehandle.path), page.parent.filehandle.size)
    return files


def _check_declared_bytes(declared: int, file_bytes: int, path: Path) -> None:
    """Refuse pixel sizes no lossless compression of ``file_bytes`` bytes could hold."""
    if declared <= max(_ALWAYS_ACCEPTED_BYTES, MAX_COMPRESSION_RATIO * file_bytes):
        return
    raise CorruptFileError(
        path, f"the file declares {declared / 2**20:.4g} MiB of pixels but holds "
        f"{file_bytes / 2**20:.4g} MiB, more than the {MAX_COMPRESSION_RATIO}:1 that "
        "lossless compression of a microscope image can reach: its sizes are damaged",
        REEXPORT_FIX + "; if the file is genuine, save it uncompressed or with zlib")


def _check_ome_declarations(tif: tifffile.TiffFile, path: Path,
                            allow_external_files: bool) -> None:
    """Refuse OME metadata that points at other files or declares impossible sizes.

    Runs before tifffile lays out the series (which allocates per declared plane).
    """
    external = ome_external_files(tif)
    if external and not allow_external_files:
        raise SpmitoInputError(
            path, f"its OME metadata takes pixels from other files ({', '.join(external[:3])}"
            f"{', ...' if len(external) > 3 else ''}); spmito reads only the files it is given",
            "If those files belong to this image (a multi-file OME-TIFF), pass "
            "--allow-external-files; run.json then records the sha256 of every file read")
    if external:
        return  # the pixels are spread over several files: checked on the series
    declared, planes = ome_declared_bytes(tif)
    file_bytes = tif.filehandle.size
    _check_declared_bytes(declared, file_bytes, path)
    if planes > max(1, file_bytes // _MIN_BYTES_PER_PLANE):
        raise CorruptFileError(path, f"the OME metadata declares {planes} planes, more than "
                               f"a file of {file_bytes} bytes can hold", REEXPORT_FIX)


def _check_pixel_type(series: tifffile.TiffPageSeries, path: Path) -> None:
    dtype = np.dtype(series.dtype)
    if dtype.kind in "uif":
        return
    kind = {"c": "complex numbers", "b": "true/false values"}.get(dtype.kind, "not numbers")
    raise SpmitoInputError(
        path, f"its pixels are {kind} ({dtype}), not intensities",
        "Save the intensities as integers or floats (e.g. the magnitude of a complex image; "
        "a mask belongs in a label image, not in a channel)")


def _open_tiff(path: Path) -> tifffile.TiffFile:
    try:
        return tifffile.TiffFile(path)
    except Exception as error:  # noqa: BLE001 - whatever the cause, this is no TIFF to read
        raise CorruptFileError(
            path, f"is not a readable TIFF file ({describe_exception(error)})",
            "spmito reads TIFF, OME-TIFF and ImageJ TIFF; convert other formats with "
            "Fiji or bfconvert (Bio-Formats)") from error


def _checked_series(tif: tifffile.TiffFile, path: Path, allow_external_files: bool,
                    log: _TifffileLog) -> tuple[tifffile.TiffPageSeries, dict[str, int]]:
    """The first series of ``tif`` and the files it reads, checked.

    Refused when ``log`` (tifffile's complaints since the file was opened) or the series'
    layout says that the file is damaged.
    """
    _check_ome_declarations(tif, path, allow_external_files)
    if not tif.series:
        raise CorruptFileError(path, "the TIFF file holds no image", REEXPORT_FIX)
    series = tif.series[0]
    damage = log.damage() + _structure_damage(series)
    files = _files_read(series)
    if damage:
        raise CorruptFileError(path, "the file is truncated or damaged "
                               f"({'; '.join(dict.fromkeys(damage))})", REEXPORT_FIX)
    if len(files) > 1 and not allow_external_files:
        raise SpmitoInputError(path, f"its pixels come from other files too "
                               f"({', '.join(list(files)[1:4])})",
                               "Pass --allow-external-files if they belong to this image")
    _check_declared_bytes(series.nbytes, sum(files.values()), path)
    _check_pixel_type(series, path)
    return series, files


def open_series(path: Path, allow_external_files: bool = False
                 ) -> tuple[tifffile.TiffFile, tifffile.TiffPageSeries, dict[str, int]]:
    """Open ``path`` and its first image series, refusing missing, non-TIFF, damaged files.

    Returns the open file (the caller closes it), the series and the files the series
    takes pixels from, with their sizes.
    """
    _check_is_file(path)
    with _capture_tifffile_log() as log:
        tif = _open_tiff(path)
        try:
            with input_errors(path, "reading the TIFF structure"):
                series, files = _checked_series(tif, path, allow_external_files, log)
        except BaseException:
            tif.close()
            raise
    return tif, series, files


def read_eagerly(series: tifffile.TiffPageSeries, path: Path) -> np.ndarray:
    """The series' pixels in memory; a decoding error becomes spmito's error naming the file."""
    with input_errors(path, "decoding the pixel data"):
        return series.asarray()


def open_lazily(path: Path) -> Any:
    """A Dask array over tifffile's Zarr view of the first series; reads no pixels.

    The file stays open while the array is in use and is closed when it is dropped.
    """
    import dask.array as da
    import zarr

    store = tifffile.imread(path, aszarr=True)
    array = zarr.open(store, mode="r")
    weakref.finalize(array, store.close)
    return da.from_zarr(array)
