"""Physical scale: µm diameters and voxel sizes become the network's pixel scale and back."""

from __future__ import annotations

import numpy as np
import pytest

from spmito.segment.backends import (
    MAX_TILE_PX,
    network_tile_px,
    network_zoom,
    resample_image,
    resize_labels,
)


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


@pytest.mark.parametrize("shape", [(90, 90), (261, 261), (256, 320), (300, 1000),
                                   (1024, 1024), (2100, 700)])
def test_network_tiles_cover_the_image_in_fewer_pixels_than_cellposes_default(shape):
    """Cellpose's tiler, given the chosen tile size, covers the padded image with tiles of
    at most MAX_TILE_PX, and with fewer pixels than its default 224-pixel tiles."""
    from cellpose.transforms import get_pad_yx, make_tiles

    pads = get_pad_yx(*shape)
    padded = np.zeros((2, shape[0] + pads[0] + pads[1], shape[1] + pads[2] + pads[3]),
                      np.float32)
    tile_px = network_tile_px(shape)
    tiles, ysub, xsub, _, _ = make_tiles(padded, bsize=tile_px, tile_overlap=0.1)
    default_tiles = make_tiles(padded, bsize=224, tile_overlap=0.1)[0]
    assert tile_px <= MAX_TILE_PX
    assert max(y1 for _, y1 in ysub) == padded.shape[1]
    assert max(x1 for _, x1 in xsub) == padded.shape[2]
    assert tiles.size <= default_tiles.size
    if max(padded.shape[1:]) <= MAX_TILE_PX:
        assert tiles.shape[:2] == (1, 1)
