"""Physical scale: µm diameters and voxel sizes become the network's pixel scale and back."""

from __future__ import annotations

import numpy as np
import pytest

from spmito.segment.backends import network_zoom, resample_image, resize_labels


def test_zoom_makes_the_object_diameter_the_network_diameter():
    zoom = network_zoom((0.1, 0.1), diameter_um=12.0, diameter_px=30.0, resample_z=False)
    assert zoom == pytest.approx((0.25, 0.25))  # 120 px cells -> 30 px


def test_zoom_keeps_z_when_stitching_and_makes_voxels_isotropic_for_3d_flows():
    voxel_size_um = (0.3, 0.12, 0.12)
    stitched = network_zoom(voxel_size_um, 12.0, 30.0, resample_z=False)
    isotropic = network_zoom(voxel_size_um, 12.0, 30.0, resample_z=True)
    assert stitched == pytest.approx((1.0, 0.3, 0.3))
    assert isotropic == pytest.approx((0.75, 0.3, 0.3))
    assert voxel_size_um[0] / isotropic[0] == pytest.approx(voxel_size_um[1] / isotropic[1])


@pytest.mark.parametrize("bad", [0.0, -3.0, float("nan")])
def test_a_diameter_that_is_not_a_positive_length_is_refused(bad):
    with pytest.raises(ValueError, match="diameter_um"):
        network_zoom((0.1, 0.1), bad, 30.0, resample_z=False)


def test_resampling_shrinks_every_channel_to_the_zoomed_shape():
    image = np.random.default_rng(0).integers(0, 1000, (2, 200, 120)).astype(np.uint16)
    small = resample_image(image, (0.25, 0.5))
    assert small.shape == (2, 50, 60) and small.dtype == np.float32
    assert small.mean() == pytest.approx(image.mean(), rel=0.02)


def test_labels_come_back_on_the_input_grid_with_their_values():
    labels = np.zeros((50, 50), np.int32)
    labels[10:30, 5:25] = 7
    labels[35:45, 30:48] = 3
    big = resize_labels(labels, (200, 200))
    assert big.shape == (200, 200)
    assert set(np.unique(big)) == {0, 3, 7}
    assert np.count_nonzero(big == 7) == 16 * np.count_nonzero(labels == 7)
    assert np.array_equal(resize_labels(big, (50, 50)), labels)
