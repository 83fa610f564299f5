"""read_stack on small files written here: axes, channel names and roles, voxel sizes, laziness."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import tifffile

from spmito.imaging.io import LAZY_ABOVE_BYTES, read_stack, write_ome_tiff
from spmito.imaging.tiffmeta import length_unit_to_um

RNG = np.random.default_rng(7)


def _random(shape, dtype=np.uint16):
    return RNG.integers(1, 1000, shape).astype(dtype)


def test_ome_zcyx_with_channel_names_gets_roles_and_nm_sizes(tmp_path):
    path = tmp_path / "field.ome.tif"
    data = _random((4, 3, 16, 20))
    tifffile.imwrite(path, data, ome=True, metadata={
        "axes": "ZCYX", "Channel": {"Name": ["Hoechst 33342", "CellMask Orange", "TOM20-AF647"]},
        "PhysicalSizeZ": 300, "PhysicalSizeZUnit": "nm", "PhysicalSizeY": 0.1,
        "PhysicalSizeX": 0.1})

    stack = read_stack(path)

    assert stack.axes == "ZCYX"
    np.testing.assert_array_equal(stack.data, data)
    assert stack.channel_names == ("Hoechst 33342", "CellMask Orange", "TOM20-AF647")
    assert stack.roles == {"hoechst": 0, "cell": 1, "mito": 2}
    assert stack.voxel_size_um == (0.3, 0.1, 0.1)
    np.testing.assert_array_equal(stack.channel("mito"), data[:, 2])


def test_imagej_hyperstack_with_labels_unit_and_spacing(tmp_path):
    path = tmp_path / "hyperstack.tif"
    data = _random((2, 5, 3, 16, 16))  # TZCYX
    tifffile.imwrite(path, data, imagej=True, resolution=(1 / 0.065, 1 / 0.065), metadata={
        "axes": "TZCYX", "unit": "\\u00B5m", "spacing": 0.25,
        "Labels": ["DAPI", "Actin", "MitoTracker Deep Red"] * 10})

    stack = read_stack(path, timepoint=1)

    assert stack.data.shape == (5, 3, 16, 16)
    np.testing.assert_array_equal(stack.data, data[1])
    assert stack.channel_names == ("DAPI", "Actin", "MitoTracker Deep Red")
    assert stack.roles == {"hoechst": 0, "cell": 1, "mito": 2}
    assert stack.voxel_size_um == pytest.approx((0.25, 0.065, 0.065))
    assert stack.metadata["timepoint"] == 1


def test_axes_override_reorders_czyx_and_drops_singletons(tmp_path):
    path = tmp_path / "planes.tif"
    data = _random((2, 1, 4, 8, 8))  # C, (empty T), Z, Y, X as another tool saved them
    tifffile.imwrite(path, data, photometric="minisblack")  # axes QQQYX: meaning unknown

    stack = read_stack(path, axes="cqzyx", voxel_size_um=(1.0, 0.2, 0.2))

    assert stack.axes == "ZCYX"
    np.testing.assert_array_equal(stack.data, data[:, 0].transpose(1, 0, 2, 3))
    assert stack.metadata["axes"] == "CQZYX"


def test_rgb_samples_become_named_channels(tmp_path):
    path = tmp_path / "rgb.tif"
    data = _random((8, 10, 3), np.uint8)
    tifffile.imwrite(path, data, photometric="rgb")
    stack = read_stack(path, voxel_size_um=(0.2, 0.2))
    assert stack.channel_names == ("red", "green", "blue")
    np.testing.assert_array_equal(stack.data, data.transpose(2, 0, 1))


def test_single_z_plane_is_2d(tmp_path):
    path = tmp_path / "one_plane.ome.tif"
    write_ome_tiff(path, _random((1, 2, 8, 8)), "ZCYX", (0.5, 0.1, 0.1))
    stack = read_stack(path)
    assert stack.axes == "CYX"
    assert stack.voxel_size_um == (0.1, 0.1)


def test_explicit_channels_by_index_and_name_replace_name_roles(tmp_path):
    path = tmp_path / "named.ome.tif"
    write_ome_tiff(path, _random((3, 8, 8)), "CYX", (0.1, 0.1), ["DAPI", "BF", "Cy5"])
    stack = read_stack(path, channels={"hoechst": 0, "mito": "cy5"})
    assert stack.roles == {"hoechst": 0, "mito": 2}


def test_ambiguous_channel_names_give_no_role(tmp_path):
    path = tmp_path / "two_dapi.ome.tif"
    write_ome_tiff(path, _random((2, 8, 8)), "CYX", (0.1, 0.1), ["DAPI", "Hoechst"])
    assert read_stack(path).roles == {}


def test_given_voxel_size_wins_and_yx_keeps_the_file_z(tmp_path):
    path = tmp_path / "calibrated.ome.tif"
    write_ome_tiff(path, _random((3, 1, 8, 8)), "ZCYX", (0.5, 0.2, 0.2))
    assert read_stack(path, voxel_size_um=(1.0, 0.1, 0.1)).voxel_size_um == (1.0, 0.1, 0.1)
    partial = read_stack(path, voxel_size_um=(0.1, 0.1))
    assert partial.voxel_size_um == (0.5, 0.1, 0.1)
    assert partial.metadata["voxel_size_source"] == {"z": "OME", "y": "given", "x": "given"}


def test_tiff_resolution_in_centimetres(tmp_path):
    path = tmp_path / "cm.tif"
    tifffile.imwrite(path, _random((8, 8)), resolution=(50000, 40000),
                     resolutionunit="CENTIMETER")
    assert read_stack(path).voxel_size_um == pytest.approx((0.25, 0.2))


@pytest.mark.parametrize("unit,um", [("micron", 1.0), ("\\u00B5m", 1.0),
                                     ("\\u005Cu00B5m", 1.0), ("\u03bcm", 1.0), ("nm", 1e-3),
                                     ("mm", 1e3), ("pixel", None), ("", None), (None, None)])
def test_length_units(unit, um):
    assert length_unit_to_um(unit) == um


def test_lazy_stack_matches_eager_stack(tmp_path):
    path = tmp_path / "small.ome.tif"
    data = _random((3, 2, 16, 16))
    write_ome_tiff(path, data, "ZCYX", (0.3, 0.1, 0.1), ["hoechst", "mito"])
    lazy = read_stack(path, lazy=True)
    assert type(lazy.data).__module__.startswith("dask")
    np.testing.assert_array_equal(lazy.channel("mito"), read_stack(path).channel("mito"))


def _bytes_read_by_this_process() -> int:
    with open("/proc/self/io") as io:
        return next(int(line.split()[1]) for line in io if line.startswith("rchar"))


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux /proc/self/io")
def test_large_file_opens_lazily_without_reading_pixels(tmp_path):
    path = tmp_path / "large.ome.tif"
    shape = (100, 3, 2048, 2048)  # 2.5 GB of uint16, written sparse: no pixels on disk
    pixels = tifffile.memmap(path, shape=shape, dtype=np.uint16, ome=True, bigtiff=True,
                             metadata={"axes": "ZCYX", "PhysicalSizeZ": 0.3,
                                       "PhysicalSizeY": 0.1, "PhysicalSizeX": 0.1})
    pixels[7, 1, :4, :4] = 42
    pixels.flush()
    del pixels
    assert path.stat().st_size > LAZY_ABOVE_BYTES

    before, started = _bytes_read_by_this_process(), time.perf_counter()
    stack = read_stack(path)
    opened_bytes = _bytes_read_by_this_process() - before

    assert time.perf_counter() - started < 2.0
    assert opened_bytes < 2_000_000  # headers only
    assert stack.metadata["lazy"] is True
    assert stack.data.shape == (100, 3, 2048, 2048)
    plane = np.asarray(stack.data[7, 1])
    assert plane[:4, :4].tolist() == [[42] * 4] * 4
    assert _bytes_read_by_this_process() - before < 3 * 2048 * 2048 * 2  # about one plane
