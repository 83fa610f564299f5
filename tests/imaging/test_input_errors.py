"""Every bad input raises its own exception type, and the message names the file."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from spmito.imaging.errors import (
    ChannelError,
    CorruptFileError,
    EmptyImageError,
    InvalidValuesError,
    MissingVoxelSizeError,
    SampleSheetError,
    SpmitoInputError,
    UnsupportedAxesError,
)
from spmito.imaging.io import read_labels, read_stack, write_ome_tiff
from spmito.imaging.sheet import read_sample_sheet


def _raises_naming(error_type, path, call, *args, **kwargs):
    with pytest.raises(error_type) as error:
        call(*args, **kwargs)
    assert str(path) in str(error.value)
    assert error.value.path == str(path)
    return str(error.value)


def _cut(source, target, keep_fraction):
    data = source.read_bytes()
    target.write_bytes(data[: int(len(data) * keep_fraction)])
    return target


@pytest.fixture
def zcyx_imagej(tmp_path):
    """An uncompressed ImageJ hyperstack, 6 z x 2 channels, with a pixel size and z step."""
    path = tmp_path / "hyperstack.tif"
    data = np.arange(6 * 2 * 32 * 32, dtype=np.uint16).reshape(6, 2, 32, 32)
    tifffile.imwrite(path, data, imagej=True, resolution=(10, 10),
                     metadata={"axes": "ZCYX", "unit": "micron", "spacing": 0.3})
    return path


def test_truncated_uncompressed_stack(zcyx_imagej, tmp_path):
    # tifffile alone would log a warning and return the first plane as a 2-D image
    cut = _cut(zcyx_imagej, tmp_path / "cut.tif", 0.5)
    message = _raises_naming(CorruptFileError, cut, read_stack, cut)
    assert "truncated or damaged" in message


def test_truncated_compressed_stack(tmp_path):
    whole = tmp_path / "whole.ome.tif"
    write_ome_tiff(whole, np.random.default_rng(0).integers(0, 999, (8, 2, 64, 64),
                                                              dtype=np.uint16),
                   "ZCYX", (0.3, 0.1, 0.1))
    cut = _cut(whole, tmp_path / "cut.ome.tif", 0.6)
    _raises_naming(CorruptFileError, cut, read_stack, cut)


def test_file_cut_inside_the_header(zcyx_imagej, tmp_path):
    cut = _cut(zcyx_imagej, tmp_path / "header.tif", 0.0005)
    _raises_naming(CorruptFileError, cut, read_stack, cut)


def test_not_a_tiff(tmp_path):
    path = tmp_path / "notes.tif"
    path.write_text("not an image")
    message = _raises_naming(CorruptFileError, path, read_stack, path)
    assert "not a readable TIFF" in message


def test_missing_file(tmp_path):
    path = tmp_path / "nowhere.tif"
    message = _raises_naming(CorruptFileError, path, read_stack, path)
    assert "does not exist" in message


def test_missing_label_file(tmp_path):
    path = tmp_path / "cells.ome.tif"
    _raises_naming(CorruptFileError, path, read_labels, path)


def test_planes_of_unknown_meaning(tmp_path):
    path = tmp_path / "planes.tif"
    tifffile.imwrite(path, np.ones((5, 16, 16), np.uint16))  # tifffile's own 'QYX'
    message = _raises_naming(UnsupportedAxesError, path, read_stack, path,
                             voxel_size_um=(1, 1, 1))
    assert "--axes ZYX" in message and "--axes CYX" in message


def test_unsupported_extra_axis(tmp_path):
    path = tmp_path / "angles.ome.tif"
    tifffile.imwrite(path, np.ones((3, 16, 16), np.uint16), ome=True,
                     metadata={"axes": "AYX"})
    message = _raises_naming(UnsupportedAxesError, path, read_stack, path, axes="AYX",
                             voxel_size_um=(1, 1))
    assert "'A' (angle) has 3 entries" in message


def test_axes_override_of_the_wrong_length(zcyx_imagej):
    _raises_naming(UnsupportedAxesError, zcyx_imagej, read_stack, zcyx_imagej, axes="CYX")


def test_timepoint_out_of_range(tmp_path):
    path = tmp_path / "movie.ome.tif"
    write_ome_tiff(path, np.ones((3, 1, 8, 8), np.uint16), "TCYX", (0.1, 0.1))
    message = _raises_naming(UnsupportedAxesError, path, read_stack, path, timepoint=3)
    assert "from 0 to 2" in message


@pytest.mark.parametrize("channels,expected", [({"mito": 5}, "has 2 channel(s)"),
                                               ({"mito": "TOM20"}, "names channel 'TOM20'"),
                                               ({"mitochondria": 0}, "unknown channel role")])
def test_channel_out_of_range_or_unknown(zcyx_imagej, channels, expected):
    message = _raises_naming(ChannelError, zcyx_imagej, read_stack, zcyx_imagej,
                             channels=channels)
    assert expected in message
    assert "0='ch0', 1='ch1'" in message or "Roles are" in message


def test_missing_voxel_size_without_override(tmp_path):
    path = tmp_path / "uncalibrated.tif"
    tifffile.imwrite(path, np.ones((16, 16), np.uint16))
    message = _raises_naming(MissingVoxelSizeError, path, read_stack, path)
    assert "--voxel-size Y,X" in message


def test_print_resolution_in_inches_is_not_a_pixel_size(tmp_path):
    path = tmp_path / "from_an_editor.tif"
    tifffile.imwrite(path, np.ones((16, 16), np.uint16), resolution=(72, 72),
                     resolutionunit="INCH")
    message = _raises_naming(MissingVoxelSizeError, path, read_stack, path)
    assert "72 pixels per inch" in message


def test_three_voxel_sizes_for_a_2d_image(tmp_path):
    path = tmp_path / "flat.ome.tif"
    write_ome_tiff(path, np.ones((1, 8, 8), np.uint16), "CYX", (0.1, 0.1))
    message = _raises_naming(SpmitoInputError, path, read_stack, path,
                             voxel_size_um=(1, 1, 1))
    assert "2-D" in message


def test_constant_image(tmp_path):
    path = tmp_path / "blank.ome.tif"
    write_ome_tiff(path, np.full((1, 16, 16), 7, np.uint16), "CYX", (0.1, 0.1), ["mito"])
    stack = read_stack(path)
    message = _raises_naming(EmptyImageError, path, stack.channel, "mito")
    assert "constant" in message


def test_nan_in_float_data(tmp_path):
    path = tmp_path / "processed.ome.tif"
    data = np.random.default_rng(1).random((1, 16, 16), dtype=np.float32)
    data[0, 3, 4] = np.nan
    write_ome_tiff(path, data, "CYX", (0.1, 0.1), ["mito"])
    stack = read_stack(path)
    message = _raises_naming(InvalidValuesError, path, stack.channel, "mito")
    assert "1 NaN" in message


def test_wrong_image_path_in_sample_sheet(tmp_path):
    sheet = tmp_path / "plate.csv"
    sheet.write_text("path,well\nmissing_A1.tif,A1\n")
    message = _raises_naming(SampleSheetError, sheet, read_sample_sheet, sheet)
    assert "row 2, column 'path'" in message
    assert str(tmp_path / "missing_A1.tif") in message
