"""Bad input files for the reader: one builder per fuzzing signature of issue #11, and mutators.

The builders write a small good image and damage it the way the hostile-user fuzzing of
issue #11 did (a TIFF tag overwritten in place, an OME-XML description replaced, bytes cut
or flipped). :data:`BAD_IMAGES` maps a name to a builder; ``tests/imaging/test_bad_inputs.py``
reads each one and expects spmito's own error. :func:`mutate_tiff` and :func:`mutate_sheet`
make random damage for the property-based fuzz test and for ``benchmarks/fuzz_inputs.py``.
"""

from __future__ import annotations

import random
import re
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import tifffile

from spmito.imaging.io import write_ome_tiff

SHAPE_CYX = (3, 48, 48)
CHANNELS = ("hoechst", "cell", "mito")


def good_field(seed: int = 0) -> np.ndarray:
    """A small 3-channel field with some texture (uint16, CYX)."""
    rng = np.random.default_rng(seed)
    return rng.integers(100, 4000, SHAPE_CYX, dtype=np.uint16)


def write_good_ome(path: Path, seed: int = 0, compression: str | None = "zlib") -> Path:
    """A readable 2-D OME-TIFF with hoechst, cell and mito channels, 0.2 µm pixels."""
    write_ome_tiff(path, good_field(seed), "CYX", (0.2, 0.2), CHANNELS,
                   compression=compression)
    return path


def write_good_imagej(path: Path, seed: int = 0) -> Path:
    """An uncompressed ImageJ hyperstack (ZCYX, 3 z, 3 channels) with calibration."""
    data = np.stack([good_field(seed + z) for z in range(3)])
    tifffile.imwrite(path, data, imagej=True, resolution=(5.0, 5.0),
                     metadata={"axes": "ZCYX", "unit": "micron", "spacing": 0.5,
                               "Labels": [*CHANNELS] * 3})
    return path


def write_good_plain(path: Path, seed: int = 0, compression: str | None = None) -> Path:
    """A plain one-page TIFF (one channel, YX) with a metric resolution (0.2 µm pixels)."""
    tifffile.imwrite(path, good_field(seed)[0], photometric="minisblack", metadata=None,
                     resolution=(5.0, 5.0), resolutionunit="MICROMETER",
                     compression=compression)
    return path


def overwrite_tag(path: Path, name: str, value, page: int = 0) -> Path:
    """Overwrite one tag of one page in place."""
    with tifffile.TiffFile(path, mode="r+b") as tif:
        tif.pages[page].tags[name].overwrite(value)
    return path


def replace_description(path: Path, edit: Callable[[str], str]) -> Path:
    """Replace the first page's ImageDescription by ``edit(old)``."""
    with tifffile.TiffFile(path, mode="r+b") as tif:
        tag = tif.pages.first.tags["ImageDescription"]
        tag.overwrite(edit(tag.value).encode("utf-8"))
    return path


def _ome(path: Path, edit: Callable[[str], str]) -> Path:
    return replace_description(write_good_ome(path), edit)


def _nested_ome(depth: int) -> Callable[[str], str]:
    return lambda xml: xml.replace("<LightPath/>", "<a>" * depth + "</a>" * depth, 1)


_LAUGHS = ('<?xml version="1.0"?><!DOCTYPE OME [<!ENTITY a "lol">'
           + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">'
                     for i in range(8))
           + ']><OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06">&i;</OME>')
_XXE = ('<?xml version="1.0"?><!DOCTYPE OME [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        '<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06"><Image ID="Image:0">'
        '<Pixels DimensionOrder="XYCZT" Type="uint16" SizeX="48" SizeY="48" SizeC="3" '
        'SizeZ="1" SizeT="1"><Channel Name="&x;"/><TiffData IFD="0" PlaneCount="3"/>'
        '</Pixels></Image></OME>')


def _external_ome(path: Path, target: str) -> Path:
    """An OME-TIFF whose TiffData takes its planes from ``target``."""
    other = write_good_ome(path.parent / "other_source.ome.tif", seed=7)
    uuid = re.search(r'UUID="(urn:uuid:[^"]+)"', tifffile.TiffFile(other).ome_metadata)
    name = target.replace("OTHER", str(other))
    return _ome(path, lambda xml: xml.replace(
        '<TiffData IFD="0" PlaneCount="3"/>',
        f'<TiffData IFD="0" PlaneCount="3"><UUID FileName="{name}">{uuid.group(1)}</UUID>'
        '</TiffData>'))


def _three_page_wide(path: Path) -> Path:
    """An 8 KB zlib file of 3 pages whose first page declares a width of 2**32 - 1."""
    tifffile.imwrite(path, np.zeros((3, 32, 32), np.uint16), compression="zlib",
                     photometric="minisblack", metadata=None)
    for page in range(3):
        overwrite_tag(path, "ImageWidth", 2**32 - 1, page)
    return path


def _imagej_mm_summary(path: Path) -> Path:
    label = "hoechst\n" + '{"Summary": "5"}'
    data = np.stack([good_field(0)])
    tifffile.imwrite(path, data, imagej=True,
                     metadata={"axes": "ZCYX", "Labels": [label, "cell", "mito"]})
    return path


def _corrupt_compressed_data(path: Path) -> Path:
    """A zlib OME-TIFF whose compressed strips are overwritten with noise."""
    write_good_ome(path)
    with tifffile.TiffFile(path) as tif:
        spans = [(o, c) for o, c in zip(tif.pages.first.dataoffsets,
                                         tif.pages.first.databytecounts, strict=True)]
    data = bytearray(path.read_bytes())
    rng = random.Random(3)
    for offset, count in spans:
        data[offset:offset + count] = bytes(rng.randrange(256) for _ in range(count))
    path.write_bytes(bytes(data))
    return path


def _voxel(path: Path, size_um: str) -> Path:
    return _ome(path, lambda xml: xml.replace('PhysicalSizeX="0.2"', f'PhysicalSizeX="{size_um}"')
                .replace('PhysicalSizeY="0.2"', f'PhysicalSizeY="{size_um}"'))


def _typed(path: Path, dtype) -> Path:
    data = good_field(0).astype(dtype) if dtype is not bool else good_field(0) > 2000
    tifffile.imwrite(path, data, ome=True, photometric="minisblack",
                     metadata={"axes": "CYX", "PhysicalSizeX": 0.2, "PhysicalSizeY": 0.2,
                               "Channel": {"Name": list(CHANNELS)}})
    return path


def _strip_offsets_zero(path: Path) -> Path:
    write_good_plain(path)
    with tifffile.TiffFile(path) as tif:
        count = len(tif.pages.first.dataoffsets)
    return overwrite_tag(path, "StripOffsets", (0,) * count)


def _ifd_loop(path: Path) -> Path:
    """The last page's next-IFD offset points back at the first IFD."""
    tifffile.imwrite(path, good_field(0), photometric="minisblack", metadata=None)
    with tifffile.TiffFile(path) as tif:
        first, last = tif.pages[0].offset, tif.pages[-1]
        ntags = len(last.tags)
        next_pointer = last.offset + 2 + 12 * ntags
    data = bytearray(path.read_bytes())
    data[next_pointer:next_pointer + 4] = int(first).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    return path


def _huge_tiles(path: Path) -> Path:
    """A tiled zlib OME-TIFF whose TileWidth claims 2**31 - 16 pixels (8 GiB tiles)."""
    tifffile.imwrite(path, good_field(0), photometric="minisblack", tile=(16, 16),
                     compression="zlib", metadata={"axes": "CYX", "PhysicalSizeX": 0.2,
                                                   "PhysicalSizeY": 0.2})
    return overwrite_tag(path, "TileWidth", 2**31 - 16)


def _flip_byte(path: Path, position: int, value: int) -> Path:
    data = bytearray(path.read_bytes())
    data[position] = value
    path.write_bytes(bytes(data))
    return path


#: Signature of issue #11 -> builder ``f(path) -> path`` of a file spmito must refuse.
BAD_IMAGES: dict[str, Callable[[Path], Path]] = {
    "01_image_width_0": lambda p: overwrite_tag(write_good_plain(p), "ImageWidth", 0),
    "01_rows_per_strip_0": lambda p: overwrite_tag(write_good_plain(p), "RowsPerStrip", 0),
    "02_x_resolution_0_inch": lambda p: overwrite_tag(overwrite_tag(
        write_good_plain(p), "ResolutionUnit", 2), "XResolution", (0, 1)),
    "03_bits_per_sample_0": lambda p: overwrite_tag(write_good_plain(p), "BitsPerSample", 0),
    "04_imagej_unit_bad_escape": lambda p: replace_description(
        write_good_imagej(p), lambda d: d.replace("unit=micron", "unit=\\uZZZZ")),
    "05_ome_size_z_2_pow_40": lambda p: _ome(p, lambda x: x.replace('SizeZ="1"',
                                                                    f'SizeZ="{2**40}"')),
    "06_ome_empty_channels": lambda p: _ome(p, lambda x: re.sub(
        r"<Channel [^>]*><LightPath/></Channel>", "<Channel/>", x)),
    "06_micromanager_summary_string": _imagej_mm_summary,
    "06_ome_image_not_an_element": lambda p: _ome(p, lambda x: re.sub(
        r"<Image .*</Image>", "<Image>5</Image>", x)),
    # the count of the first tag (ImageWidth) becomes 0: tifffile compares a tuple with 0
    "08_header_byte_flip": lambda p: _flip_byte(write_good_plain(p), 14, 0),
    "09_ome_nested_10000_deep": lambda p: _ome(p, _nested_ome(10_000)),
    "09_ome_malformed": lambda p: _ome(p, lambda x: x.replace("</Pixels>", "</Pixel>")),
    "09_ome_billion_laughs": lambda p: _ome(p, lambda x: _LAUGHS),
    "09_ome_xxe": lambda p: _ome(p, lambda x: _XXE),
    "11_lazy_corrupt_zlib": _corrupt_compressed_data,
    "12_declares_width_2_pow_32": _three_page_wide,
    "17_ome_tiffdata_absolute_path": lambda p: _external_ome(p, "OTHER"),
    "17_ome_tiffdata_parent_path": lambda p: _external_ome(p, "../outside.ome.tif"),
    "18_complex_pixels": lambda p: _typed(p, np.complex64),
    "18_bool_pixels": lambda p: _typed(p, bool),
    "18_voxel_2e-10_um": lambda p: _voxel(p, "2.3e-10"),
    "18_voxel_4e13_um": lambda p: _voxel(p, "4.3e13"),
    "18_strip_offsets_0": _strip_offsets_zero,
    "18_ifd_loop": _ifd_loop,
    "18_ome_tile_width_2_pow_31": _huge_tiles,
}


# ------------------------------------------------------------------------- mutators

#: Values that break size arithmetic when written into a TIFF tag.
SPECIAL_VALUES = (0, 1, 2, 3, 7, 255, 256, 65535, 2**31 - 1, 2**32 - 1)

#: OME-XML edits: attribute values that readers divide by, multiply or trust.
_OME_EDITS = (
    (r'SizeZ="\d+"', [f'SizeZ="{v}"' for v in ("0", "-1", "3", str(2**40), "x")]),
    (r'SizeC="\d+"', [f'SizeC="{v}"' for v in ("0", "1", "2", "9", str(2**31))]),
    (r'SizeX="\d+"', [f'SizeX="{v}"' for v in ("0", "1", "47", str(2**32 - 1))]),
    (r'Type="\w+"', [f'Type="{v}"' for v in ("float", "bit", "complex", "double", "nonsense")]),
    (r'PhysicalSizeX="[^"]*"', [f'PhysicalSizeX="{v}"' for v in
                                ("0", "-1", "nan", "inf", "1e-300", "1e300", "abc")]),
    (r'PhysicalSizeXUnit="[^"]*"', ['PhysicalSizeXUnit="pixel"', 'PhysicalSizeXUnit="\\u"',
                                    'PhysicalSizeXUnit="km"']),
    (r'DimensionOrder="\w+"', ['DimensionOrder="XYZCT"', 'DimensionOrder="QQQ"']),
    (r'<TiffData [^>]*/>', ['<TiffData IFD="7" PlaneCount="3"/>', '<TiffData/>',
                            '<TiffData IFD="-1"/>', '<TiffData IFD="0" PlaneCount="99"/>']),
    (r"<Channel [^>]*>", ["<Channel>", '<Channel Name="">', '<Channel Name="hoechst">']),
    (r"</Pixels>", ["", "</Pixel>", "<Pixels/></Pixels>"]),
    (r"<Image ", ["<Image><Image ", "<X "]),
)


def _flip_bytes(data: bytearray, rng: random.Random) -> None:
    for _ in range(rng.randint(1, 8)):
        # the header and IFDs are where structure lives: aim there most of the time
        end = len(data) if rng.random() < 0.3 else min(len(data), 512)
        position = rng.randrange(end)
        data[position] = rng.randrange(256)


def _overwrite_random_tag(path: Path, rng: random.Random) -> None:
    with tifffile.TiffFile(path, mode="r+b") as tif:
        page = tif.pages[rng.randrange(len(tif.pages))]
        tag = rng.choice(list(page.tags.values()))
        if tag.code == 270:
            return
        count = tag.count if tag.count else 1
        values = [rng.choice(SPECIAL_VALUES) for _ in range(count)]
        if tag.dtype in (5, 10):  # rationals: numerator, denominator pairs
            values = [v for _ in range(count) for v in (rng.choice(SPECIAL_VALUES),
                                                        rng.choice((0, 1, 3)))]
        try:
            tag.overwrite(values[0] if count == 1 and tag.dtype not in (5, 10) else values)
        except (ValueError, TypeError, OverflowError, struct.error):
            pass


def _edit_ome(path: Path, rng: random.Random) -> None:
    def edit(xml: str) -> str:
        for _ in range(rng.randint(1, 3)):
            pattern, choices = rng.choice(_OME_EDITS)
            xml = re.sub(pattern, rng.choice(choices), xml, count=1)
        return xml

    try:
        replace_description(path, edit)
    except (KeyError, ValueError):
        pass


def _edit_imagej(path: Path, rng: random.Random) -> None:
    edits = ("unit=\\uZZZZ", "unit=\\\\u00B5m", "spacing=0", "spacing=nan", "spacing=1e308",
             "images=999999999", "channels=0", "slices=2", "frames=7", "hyperstack=false",
             "unit=pixel", "channels=3\nslices=3\nframes=3")

    def edit(text: str) -> str:
        return text + "\n" + "\n".join(rng.sample(edits, rng.randint(1, 3))) + "\n"

    try:
        replace_description(path, edit)
    except (KeyError, ValueError):
        pass


def _cut(data: bytearray, rng: random.Random) -> bytearray:
    return data[: rng.randrange(1, len(data))]


#: Writers of the good files the mutators start from: ``f(path, seed)``.
BASES = (
    lambda p, s: write_good_ome(p, s),
    lambda p, s: write_good_ome(p, s, compression=None),
    lambda p, s: write_good_ome(p, s, compression="lzw"),
    lambda p, s: write_good_ome(p, s, compression="zstd"),
    lambda p, s: write_good_imagej(p, s),
    lambda p, s: write_good_plain(p, s),
    lambda p, s: write_good_plain(p, s, compression="jpeg2000"),
    lambda p, s: write_good_plain(p, s, compression="packbits"),
)


def write_unmutated(path: Path, seed: int) -> Path:
    """The good file :func:`mutate_tiff` starts from for ``seed``."""
    random.Random(seed).choice(BASES)(path, seed % 5)
    return path


def mutate_tiff(path: Path, seed: int) -> Path:
    """Write a small good TIFF of a random kind to ``path`` and damage it (seeded)."""
    rng = random.Random(seed)
    rng.choice(BASES)(path, seed % 5)
    for _ in range(rng.randint(1, 3)):
        kind = rng.random()
        if kind < 0.5:
            try:  # an earlier mutation may have made the file unparsable: skip this one
                if kind < 0.3:
                    _overwrite_random_tag(path, rng)
                else:
                    (_edit_ome if path.name.endswith(".ome.tif") else _edit_imagej)(path, rng)
            except Exception:  # noqa: BLE001, S110 - a mutation that cannot apply is skipped
                pass
        elif kind < 0.85:
            data = bytearray(path.read_bytes())
            _flip_bytes(data, rng)
            path.write_bytes(bytes(data))
        else:
            path.write_bytes(bytes(_cut(bytearray(path.read_bytes()), rng)))
    return path


SHEET_HEADER = ("path", "image_id", "plate", "well", "replicate", "condition", "role",
                 "population", "cell_line")
NASTY_CELLS = ("", " ", ",", '"', '""', "NaN", "nan", "abc", "-1", "1e400", "0", "..", ".",
                "../x", "/", "a/b", "\\", "\x00", "\u202e", "é", "µm", "x" * 300,
                "test", "inhibitor_control", "gate_setting", "SP", "MP", "unsorted",
                ".ome.tif", "missing.tif", "/dev/null", "/etc/passwd", "=1+1", "\t", "\r")


def good_sheet_rows(images: list[str]) -> list[list[str]]:
    """Rows of a good sheet over ``images`` (paths relative to the sheet)."""
    return [[image, f"img{i}", "P1", f"A{i + 1}", str(1 + i % 3), "ctrl",
             "inhibitor_control" if i % 2 else "test", "unsorted", "line"]
            for i, image in enumerate(images)]


def mutate_sheet(images: list[str], seed: int) -> str:
    """The text of a sample sheet over ``images``, damaged (seeded)."""
    rng = random.Random(seed)
    header = list(SHEET_HEADER)
    rows = good_sheet_rows(images)
    for _ in range(rng.randint(1, 4)):
        kind = rng.random()
        row = rng.choice([r for r in rows if r] or [header])
        if kind < 0.45:
            row[rng.randrange(len(row))] = rng.choice(NASTY_CELLS)
        elif kind < 0.55:
            row.append(rng.choice(NASTY_CELLS))  # one field more than the header
        elif kind < 0.65:
            del row[rng.randrange(len(row))]
        elif kind < 0.72:
            rows.append(list(row))  # duplicate row, same image_id
        elif kind < 0.8:
            header[rng.randrange(len(header))] = rng.choice(NASTY_CELLS)
        elif kind < 0.86:
            rows.insert(rng.randrange(len(rows) + 1), [])
        elif kind < 0.92:
            rows.append([rng.choice(images)])
        else:
            header.append(rng.choice(("path", "PATH", "extra", "")))
    text = "\n".join(",".join(cells) for cells in [header, *rows]) + "\n"
    if rng.random() < 0.1:
        position = rng.randrange(len(text))
        text = text[:position] + rng.choice(("\x00", '"', "\ufeff", "\n,\n")) + text[position:]
    return text
