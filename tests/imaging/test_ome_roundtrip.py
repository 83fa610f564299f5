"""The OME-TIFF writers round-trip exactly: values, dtype, shape, voxel size, channel names."""

from __future__ import annotations

import numpy as np
import pytest

from spmito.imaging.io import read_labels, read_stack, write_labels, write_ome_tiff


@pytest.mark.parametrize("shape,voxel_size_um", [((40, 50), (0.108, 0.0975)),
                                                 ((6, 40, 50), (0.3, 0.108, 0.0975))])
@pytest.mark.parametrize("dtype", [np.uint16, np.uint32])
def test_labels_round_trip_exactly(tmp_path, shape, voxel_size_um, dtype):
    labels = np.random.default_rng(3).integers(0, np.iinfo(dtype).max, shape, dtype=dtype,
                                               endpoint=True)
    path = tmp_path / "cells.ome.tif"

    write_labels(path, labels, voxel_size_um)
    read, read_voxel_um = read_labels(path)

    assert read.dtype == labels.dtype
    assert read.shape == labels.shape
    np.testing.assert_array_equal(read, labels)
    assert read_voxel_um == voxel_size_um


def test_same_labels_and_key_give_identical_bytes(tmp_path):
    labels = np.arange(64, dtype=np.uint16).reshape(8, 8)
    write_labels(tmp_path / "a.ome.tif", labels, (0.1, 0.1), uuid_key="plate1/A1/cells")
    write_labels(tmp_path / "b.ome.tif", labels, (0.1, 0.1), uuid_key="plate1/A1/cells")
    assert (tmp_path / "a.ome.tif").read_bytes() == (tmp_path / "b.ome.tif").read_bytes()


def test_image_round_trips_through_read_stack(tmp_path):
    data = np.random.default_rng(4).random((5, 3, 12, 14), dtype=np.float32)
    path = tmp_path / "field.ome.tif"

    write_ome_tiff(path, data, "ZCYX", (0.25, 0.065, 0.065), ["hoechst", "cell", "mito"])
    stack = read_stack(path)

    np.testing.assert_array_equal(stack.data, data)
    assert stack.data.dtype == np.float32
    assert stack.voxel_size_um == (0.25, 0.065, 0.065)
    assert stack.channel_names == ("hoechst", "cell", "mito")
    assert stack.roles == {"hoechst": 0, "cell": 1, "mito": 2}
