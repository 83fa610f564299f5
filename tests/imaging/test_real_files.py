"""read_stack / read_labels on the public images of ../shared/data/real (see its README)."""

from __future__ import annotations

import numpy as np
import pytest

from spmito.imaging.errors import MissingVoxelSizeError, UnsupportedAxesError
from spmito.imaging.io import read_labels, read_stack

pytestmark = pytest.mark.real_data

MITOGRAPH_VOXEL_UM = (0.2, 0.056, 0.056)  # README: 0.056 x 0.056 x 0.2 µm, not in the files


@pytest.mark.parametrize("name", ["3ch_DNA_Actin_Mitochondria-AF488.tif",
                                  "3ch_DNA_Actin_Mitochondria-MitoTracker.tif"])
def test_zelda_bpae_is_2d_single_channel_with_imagej_pixel_size(real_data, name):
    stack = read_stack(real_data / "zelda_bpae" / name)

    assert stack.axes == "CYX"
    assert stack.data.shape == (1, 512, 512)
    assert stack.data.dtype == np.uint16
    # ImageJ: 1.908699 pixels per '\u005Cu00B5m' (an escaped escape of µm)
    assert stack.voxel_size_um == pytest.approx((0.524, 0.524), abs=5e-4)
    assert stack.metadata["voxel_size_source"] == {"y": "ImageJ", "x": "ImageJ"}


@pytest.mark.parametrize("name,n_z", [("BuddingYeastGlucose01.tif", 44),
                                      ("BuddingYeastGlucose03.tif", 40)])
def test_mitograph_yeast_is_zyx_without_voxel_size(real_data, name, n_z):
    path = real_data / "mitograph_yeast" / name
    with pytest.raises(MissingVoxelSizeError) as error:
        read_stack(path)
    assert str(path) in str(error.value)

    stack = read_stack(path, voxel_size_um=MITOGRAPH_VOXEL_UM)
    assert stack.axes == "ZCYX"
    assert stack.data.shape == (n_z, 1, 200, 200)
    assert stack.voxel_size_um == MITOGRAPH_VOXEL_UM


def test_mitograph_test001_keeps_its_micromanager_z_step(real_data):
    path = real_data / "mitograph_yeast" / "MitoGraphTest001.tif"
    with pytest.raises(MissingVoxelSizeError, match=r"y, x .*z 0.2 µm \(Micro-Manager\)"):
        read_stack(path)

    stack = read_stack(path, voxel_size_um=(0.11, 0.11))  # pixel size only: z from the file
    assert stack.axes == "ZCYX"
    assert stack.data.shape == (41, 1, 192, 192)
    assert stack.voxel_size_um == (0.2, 0.11, 0.11)
    assert stack.channel_names == ("ch0",)  # its labels are per-slice JSON, not names


def test_nellie_yeast_time_series_needs_a_timepoint(real_data):
    path = real_data / "nellie_yeast" / "yeast_3d_mitochondria_T0-4.ome.tif"
    with pytest.raises(UnsupportedAxesError, match="5 time points.*--timepoint"):
        read_stack(path)

    last = read_stack(path, timepoint=4)
    assert last.axes == "ZCYX"
    assert last.data.shape == (17, 1, 192, 279)
    assert last.voxel_size_um == (0.25, 0.0655, 0.0655)
    assert last.metadata["file_axes"] == "TZYX"
    first = read_stack(path, timepoint=0)
    assert not np.array_equal(first.data, last.data)


def test_mitohacker_rgb_reads_as_three_named_channels(real_data):
    path = real_data / "mitohacker_cells" / "YFP0143_27_cell1_2048.tif"
    with pytest.raises(MissingVoxelSizeError):
        read_stack(path)

    stack = read_stack(path, voxel_size_um=(0.1, 0.1),
                       channels={"hoechst": "blue", "mito": "green"})
    assert stack.axes == "CYX"
    assert stack.data.shape == (3, 1024, 1024)
    assert stack.data.dtype == np.uint8
    assert stack.channel_names == ("red", "green", "blue")
    assert stack.roles == {"hoechst": 2, "mito": 1}
    assert stack.channel("mito").max() > 0
    assert not stack.data[0].any()  # README: the red channel is empty


def test_stardist_2d_image_and_mask(real_data):
    folder = real_data / "stardist_nuclei"
    with pytest.raises(MissingVoxelSizeError):  # 1 pixel per (no) unit is "not recorded"
        read_stack(folder / "img2d.tif")

    stack = read_stack(folder / "img2d.tif", voxel_size_um=(0.5, 0.5))
    assert stack.axes == "CYX"
    assert stack.data.shape == (1, 512, 512)
    labels, voxel = read_labels(folder / "mask2d.tif")
    assert labels.shape == (512, 512)
    assert voxel is None
    assert len(np.unique(labels)) - 1 == 125


def test_stardist_3d_planes_of_unknown_meaning_need_axes(real_data):
    folder = real_data / "stardist_nuclei"
    with pytest.raises(UnsupportedAxesError, match="--axes ZYX"):
        read_stack(folder / "img3d.tif", voxel_size_um=(1, 1, 1))

    stack = read_stack(folder / "img3d.tif", axes="ZYX", voxel_size_um=(1.0, 0.5, 0.5))
    assert stack.axes == "ZCYX"
    assert stack.data.shape == (31, 1, 61, 57)
    labels, _ = read_labels(folder / "mask3d.tif")
    assert labels.shape == (31, 61, 57)
    assert len(np.unique(labels)) - 1 == 51
