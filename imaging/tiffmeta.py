r"""What a TIFF file records about its pixels: physical voxel size and channel names.

Sources, first one wins per axis:

1. OME-XML ``Pixels`` ``PhysicalSizeX/Y/Z`` with their units (default µm, as OME says);
2. ImageJ: ``XResolution``/``YResolution`` in pixels per ``unit`` (the ImageJ description's
   ``unit``, often escaped, e.g. ``\u00B5m``) and ``spacing`` for z, in the same unit;
3. Micro-Manager summary ``PixelSize_um`` and ``z-step_um`` (native files, or kept in the
   slice labels of an ImageJ re-save);
4. plain TIFF ``XResolution``/``YResolution`` with a metric ``ResolutionUnit``.

"Not recorded", so never used: a size of 0, a length unit that is missing or not a length
(``pixel``), a plain-TIFF resolution of exactly 1 pixel per unit (the writers' default), and
any resolution in pixels per inch (a print setting from image editors, not a microscope's
pixel size; it is named in the error so that the user can pass it on purpose).

OME-XML is parsed only after :func:`safe_xml_dict` has checked it: no DTD and no entity
declarations (they can expand without bound, "billion laughs", or read other files, XXE),
at most :data:`MAX_XML_DEPTH` nested elements and :data:`MAX_XML_CHARS` characters. The
standard library's expat parser does the checking (its handlers see every DTD and entity
declaration), so no extra dependency is needed.
"""

from __future__ import annotations

import functools
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from xml.parsers import expat

import tifffile

from spmito.imaging.errors import CorruptFileError

#: Deepest element nesting accepted in OME-XML (real files nest about 6 deep).
MAX_XML_DEPTH = 64

#: Longest OME-XML accepted, in characters (a large plate's metadata is a few MB).
MAX_XML_CHARS = 64 << 20

#: Bytes per pixel of the OME ``Pixels Type`` values.
_OME_TYPE_BYTES = {"int8": 1, "uint8": 1, "bit": 1, "int16": 2, "uint16": 2, "int32": 4,
                   "uint32": 4, "float": 4, "double": 8, "complex": 8, "double-complex": 16}

_XML_FIX = ("Export the file again (e.g. as OME-TIFF from Fiji or bfconvert); its metadata "
            "is damaged or was written to attack the reader")

#: Micrometres per length unit, keyed by lower-case unit names (OME and ImageJ spellings).
LENGTH_UNITS_UM: dict[str, float] = {
    "m": 1e6, "meter": 1e6, "metre": 1e6,
    "cm": 1e4, "centimeter": 1e4, "centimetre": 1e4,
    "mm": 1e3, "millimeter": 1e3, "millimetre": 1e3,
    "µm": 1.0, "um": 1.0, "micron": 1.0, "microns": 1.0, "micrometer": 1.0,
    "micrometre": 1.0, "micrometers": 1.0, "micrometres": 1.0,
    "nm": 1e-3, "nanometer": 1e-3, "nanometre": 1e-3,
    "å": 1e-4, "angstrom": 1e-4,
    "pm": 1e-6, "picometer": 1e-6, "picometre": 1e-6,
}

_METRIC_RESOLUTION_UNITS_UM = {
    tifffile.RESUNIT.CENTIMETER: 1e4,
    tifffile.RESUNIT.MILLIMETER: 1e3,
    tifffile.RESUNIT.MICROMETER: 1.0,
}


@dataclass(frozen=True)
class RecordedVoxelSize:
    """The physical voxel size a file records, axis by axis.

    Attributes
    ----------
    size_um : dict
        ``"z"``, ``"y"``, ``"x"`` to a size in µm, for the axes the file records.
    source : dict
        The same keys to where each size was found (``"OME"``, ``"ImageJ"``, ...).
    notes : tuple of str
        Calibration found but not used, for error messages.
    """

    size_um: dict[str, float] = field(default_factory=dict)
    source: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def describe(self) -> str:
        """A short account for messages, e.g. ``"z 0.2 µm (Micro-Manager)"``."""
        parts = [f"{axis} {self.size_um[axis]:g} µm ({self.source[axis]})"
                 for axis in ("z", "y", "x") if axis in self.size_um]
        return "; ".join(parts + list(self.notes)) or "nothing"


def length_unit_to_um(unit: object) -> float | None:
    r"""Micrometres per ``unit``, or ``None`` when it is not a known length unit.

    Handles the escaped micro signs ImageJ writes (``\u00B5m``, even ``\u005Cu00B5m``) and
    the Greek mu.
    """
    if not isinstance(unit, str):
        return None
    text = unit.strip()
    for _ in range(3):  # ImageJ may escape the backslash of the escape itself
        if "\\u" not in text:
            break
        try:
            text = text.encode("latin-1", "backslashreplace").decode("unicode_escape")
        except UnicodeError:  # a broken escape such as \\uZZZZ: not a unit
            return None
    return LENGTH_UNITS_UM.get(text.replace("\u03bc", "\u00b5").lower())


def _file_of(tif: tifffile.TiffFile) -> str:
    return str(tif.filehandle.path)


def safe_xml_dict(text: str, source: str | os.PathLike | None = None) -> dict:
    """``tifffile.xml2dict(text)`` after checking that the XML is safe to parse.

    The result is cached (the reader asks for the same file's metadata several times);
    callers must not change it.

    Raises
    ------
    CorruptFileError
        The XML is longer than :data:`MAX_XML_CHARS`, nests deeper than
        :data:`MAX_XML_DEPTH`, declares a DTD or entities, or is not well-formed.
    """
    return _checked_xml_dict(text, None if source is None else str(source))


@functools.lru_cache(maxsize=4)
def _checked_xml_dict(text: str, source: str | None) -> dict:
    if len(text) > MAX_XML_CHARS:
        raise CorruptFileError(source, f"the XML metadata has {len(text)} characters, more "
                               f"than the {MAX_XML_CHARS} spmito reads", _XML_FIX)
    parser = expat.ParserCreate()
    depth = 0

    def enter(name: str, attributes: dict) -> None:
        nonlocal depth
        depth += 1
        if depth > MAX_XML_DEPTH:
            raise CorruptFileError(source, f"the XML metadata nests elements more than "
                                   f"{MAX_XML_DEPTH} deep", _XML_FIX)

    def leave(name: str) -> None:
        nonlocal depth
        depth -= 1

    def refuse_declaration(*args: object) -> None:
        raise CorruptFileError(source, "the XML metadata declares a DTD or entities, which "
                               "spmito refuses (they can expand without bound or read other "
                               "files)", _XML_FIX)

    parser.StartElementHandler = enter
    parser.EndElementHandler = leave
    parser.StartDoctypeDeclHandler = refuse_declaration
    parser.EntityDeclHandler = refuse_declaration
    try:
        parser.Parse(text, True)
    except expat.ExpatError as error:
        raise CorruptFileError(source, f"the XML metadata is not well-formed ({error})",
                               _XML_FIX) from error
    return tifffile.xml2dict(text)


def _as_dict(node: object) -> dict:
    """``node`` when it is a dict (an XML element with attributes or children), else ``{}``."""
    return node if isinstance(node, dict) else {}


def _as_list(node: object) -> list:
    """Repeated XML elements as a list (one element is not wrapped by xml2dict)."""
    if node is None:
        return []
    return node if isinstance(node, list) else [node]


def ome_images(tif: tifffile.TiffFile) -> list[dict]:
    """The OME ``Image`` elements of ``tif``, checked by :func:`safe_xml_dict` ([] if not OME)."""
    if not tif.is_ome or not tif.ome_metadata:
        return []
    ome = _as_dict(safe_xml_dict(tif.ome_metadata, _file_of(tif)).get("OME"))
    return [_as_dict(image) for image in _as_list(ome.get("Image"))]


def ome_pixels(tif: tifffile.TiffFile) -> dict:
    """Attributes and children of the first OME ``Image``'s ``Pixels`` (empty when not OME)."""
    images = ome_images(tif)
    return _as_dict(images[0].get("Pixels")) if images else {}


def _count(value: object) -> int:
    """An OME size attribute as a count (1 when absent; 0 when not a whole number >= 0)."""
    if value is None:
        return 1
    try:
        number = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):
        return 0
    return max(number, 0)


def ome_declared_bytes(tif: tifffile.TiffFile) -> tuple[int, int]:
    """Pixel bytes and planes the OME ``Pixels`` of every ``Image`` declare (0, 0 if not OME).

    Read from the XML alone, before tifffile lays out the series, so that a file declaring
    a petabyte is refused before anything is allocated for it.
    """
    n_bytes = n_planes = 0
    for image in ome_images(tif):
        pixels = _as_dict(image.get("Pixels"))
        planes = math.prod(_count(pixels.get(f"Size{axis}")) for axis in "ZCT")
        plane_px = _count(pixels.get("SizeX")) * _count(pixels.get("SizeY"))
        n_planes += planes
        n_bytes += planes * plane_px * _OME_TYPE_BYTES.get(str(pixels.get("Type")), 8)
    return n_bytes, n_planes


def ome_external_files(tif: tifffile.TiffFile) -> list[str]:
    """Files other than ``tif`` that the OME ``TiffData`` elements point at (``UUID FileName``).

    Paths are resolved against the folder of ``tif``, as tifffile resolves them.
    """
    own = Path(_file_of(tif)).resolve()
    others: list[str] = []
    for image in ome_images(tif):
        for tiff_data in _as_list(_as_dict(image.get("Pixels")).get("TiffData")):
            uuid = _as_dict(tiff_data).get("UUID")
            name = _as_dict(uuid).get("FileName") if isinstance(uuid, dict) else None
            if name is None:
                continue
            target = (own.parent / str(name)).resolve()
            if target != own and str(target) not in others:
                others.append(str(target))
    return others


def _positive(value: object) -> float | None:
    """``value`` as a positive finite number, else ``None``."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def _ome_voxel_um(pixels: dict) -> dict[str, float]:
    sizes = {}
    for axis in ("z", "y", "x"):
        size = _positive(pixels.get(f"PhysicalSize{axis.upper()}"))
        factor = length_unit_to_um(pixels.get(f"PhysicalSize{axis.upper()}Unit", "µm"))
        if size is not None and factor is not None:
            sizes[axis] = size * factor
    return sizes


def _resolution(page: tifffile.TiffPage) -> tuple[float, float]:
    """``(x, y)`` pixels per resolution unit; ``(0, 0)`` when the tags are unusable."""
    try:
        x, y = page.get_resolution()
        return float(x), float(y)
    except (ZeroDivisionError, TypeError, ValueError, KeyError, IndexError, OverflowError):
        return 0.0, 0.0


def _pixel_size_from_resolution(page: tifffile.TiffPage, um_per_unit: float) -> dict[str, float]:
    pixels_per_unit_x, pixels_per_unit_y = _resolution(page)
    sizes = {}
    for axis, per_unit in (("y", pixels_per_unit_y), ("x", pixels_per_unit_x)):
        if _positive(per_unit) is not None:
            sizes[axis] = um_per_unit / per_unit
    return sizes


def _imagej_voxel_um(tif: tifffile.TiffFile) -> dict[str, float]:
    metadata = _as_dict(tif.imagej_metadata)
    um_per_unit = length_unit_to_um(metadata.get("unit"))
    if um_per_unit is None:
        return {}
    sizes = _pixel_size_from_resolution(tif.pages.first, um_per_unit)
    z_step = _positive(metadata.get("spacing"))
    if z_step is not None:
        sizes["z"] = z_step * um_per_unit
    return sizes


def micromanager_summary(tif: tifffile.TiffFile) -> dict:
    """The Micro-Manager acquisition summary, from a native file or ImageJ slice labels."""
    native = _as_dict(tif.micromanager_metadata)
    if isinstance(native.get("Summary"), dict):
        return native["Summary"]
    labels = _as_dict(tif.imagej_metadata).get("Labels")
    if not isinstance(labels, list | tuple) or not labels or not isinstance(labels[0], str):
        return {}
    _, _, text = labels[0].partition("\n")
    try:
        summary = _as_dict(json.loads(text)).get("Summary", {})
        return _as_dict(json.loads(summary) if isinstance(summary, str) else summary)
    except (ValueError, RecursionError):
        return {}


def _micromanager_voxel_um(tif: tifffile.TiffFile) -> dict[str, float]:
    summary = micromanager_summary(tif)
    sizes = {}
    pixel_um = _positive(summary.get("PixelSize_um"))
    if pixel_um is not None:
        sizes["y"] = sizes["x"] = pixel_um
    try:
        z_step_um = abs(float(summary.get("z-step_um", 0)))
    except (TypeError, ValueError, OverflowError):
        z_step_um = 0.0
    if math.isfinite(z_step_um) and z_step_um > 0:
        sizes["z"] = z_step_um
    return sizes


def _tiff_resolution_voxel_um(page: tifffile.TiffPage) -> tuple[dict[str, float], list[str]]:
    unit = page.resolutionunit
    resolution = _resolution(page)
    if unit == tifffile.RESUNIT.INCH and resolution != (1, 1) and resolution[0] > 0:
        return {}, [f"a resolution of {resolution[0]:g} pixels per inch "
                    f"({25400 / resolution[0]:.4g} µm per pixel), a print setting that "
                    "spmito does not trust as a pixel size"]
    if unit not in _METRIC_RESOLUTION_UNITS_UM or 1 in resolution:
        return {}, []
    return _pixel_size_from_resolution(page, _METRIC_RESOLUTION_UNITS_UM[unit]), []


def _without_float_noise(value: float) -> float:
    """``value`` rounded to 12 significant digits: 0.20000000000000007 becomes 0.2."""
    return float(f"{value:.12g}")


def recorded_voxel_size(tif: tifffile.TiffFile) -> RecordedVoxelSize:
    """The physical voxel size ``tif`` records (see the module notes for the rules).

    Parameters
    ----------
    tif : tifffile.TiffFile
        An open file.

    Returns
    -------
    RecordedVoxelSize
        Sizes in µm for the axes the file records, and where each was found.
    """
    resolution_sizes, notes = _tiff_resolution_voxel_um(tif.pages.first)
    candidates = (
        ("OME", _ome_voxel_um(ome_pixels(tif))),
        ("ImageJ", _imagej_voxel_um(tif) if tif.is_imagej else {}),
        ("Micro-Manager", _micromanager_voxel_um(tif)),
        ("TIFF resolution", {} if tif.is_imagej else resolution_sizes),
    )
    size_um: dict[str, float] = {}
    source: dict[str, str] = {}
    for name, sizes in candidates:
        for axis, size in sizes.items():
            if axis not in size_um:
                size_um[axis], source[axis] = _without_float_noise(size), name
    return RecordedVoxelSize(size_um, source, tuple(notes))


def _sensible_names(names: list[str], n_channels: int) -> tuple[str, ...] | None:
    """``names`` when they can serve as channel names: one each, short, distinct, one line."""
    if len(names) != n_channels or len(set(names)) != n_channels:
        return None
    if not all(0 < len(name) <= 64 and "\n" not in name for name in names):
        return None
    return tuple(names)


def recorded_channel_names(tif: tifffile.TiffFile, n_channels: int) -> tuple[str, ...] | None:
    """Channel names from OME ``Channel Name`` or ImageJ ``Labels``, when sensible.

    ImageJ labels name planes (channels vary fastest in a hyperstack), so the first
    ``n_channels`` labels are used, and only for a file ImageJ calls multichannel.

    Returns
    -------
    tuple of str or None
        One name per channel, or ``None`` when the file records no usable names.
    """
    channels = _as_list(ome_pixels(tif).get("Channel"))
    if channels:
        names = [str(_as_dict(c).get("Name", "")).strip() for c in channels]
        return _sensible_names(names, n_channels)
    imagej = _as_dict(tif.imagej_metadata)
    labels = imagej.get("Labels")
    if isinstance(labels, list | tuple) and labels and imagej.get("channels") == n_channels:
        return _sensible_names([str(label).strip() for label in labels[:n_channels]],
                               n_channels)
    return None
