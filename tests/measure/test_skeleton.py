"""Skeleton graph metrics on tiny hand-built masks, where the answer is known exactly."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.draw import line

from spmito.measure.objects.skeleton import separated_skeletons, skeleton_metrics


def _metrics(labels, voxel_size_um=(0.1, 0.1)):
    return skeleton_metrics(labels, voxel_size_um).loc[1]


def test_straight_tube_is_one_branch_with_two_endpoints():
    labels = np.zeros((9, 20), np.int32)
    labels[3:6, 2:18] = 1  # 3 px wide, 16 px long
    row = _metrics(labels)
    assert (row.branches, row.junctions, row.endpoints) == (1, 0, 2)
    assert row.skeleton_length_um == pytest.approx(1.3, abs=0.25)


def test_y_shape_has_three_branches_and_one_junction():
    labels = np.zeros((40, 40), np.int32)
    for end in [(4, 20), (34, 5), (34, 35)]:
        rr, cc = line(20, 20, *end)
        labels[rr, cc] = 1
    row = _metrics(labels)
    assert (row.branches, row.junctions, row.endpoints) == (3, 1, 3)
    expected = (16 + 2 * np.hypot(14, 15)) * 0.1
    assert row.skeleton_length_um == pytest.approx(expected, rel=0.08)


def test_dot_is_one_object_with_one_branch():
    labels = np.zeros((9, 9), np.int32)
    labels[3:6, 3:6] = 1  # skeletonises to a 2-pixel diagonal
    row = _metrics(labels)
    assert (row.branches, row.junctions) == (1, 0)
    assert row.skeleton_length_um <= 0.15


def test_single_pixel_dot_has_no_length_and_no_endpoint():
    labels = np.zeros((9, 9), np.int32)
    labels[4, 4] = 1
    labels[1:4, 1:8] = 2  # a tube elsewhere, so that skan runs
    row = _metrics(labels)
    assert (row.branches, row.junctions, row.endpoints) == (1, 0, 0)
    assert row.skeleton_length_um == 0.0


def test_a_dot_alone_in_the_image_does_not_break_skan():
    labels = np.zeros((5, 5), np.int32)
    labels[2, 2] = 7
    table = skeleton_metrics(labels, (0.1, 0.1))
    assert list(table.index) == [7] and table.loc[7, "branches"] == 1


def test_ring_is_one_branch_without_junction_or_endpoint():
    yy, xx = np.mgrid[:30, :30]
    radius = np.hypot(yy - 15, xx - 15)
    labels = ((radius >= 7) & (radius <= 9)).astype(np.int32)
    row = _metrics(labels)
    assert (row.branches, row.junctions, row.endpoints) == (1, 0, 0)
    assert row.skeleton_length_um == pytest.approx(2 * np.pi * 0.8, rel=0.1)


def test_3d_lengths_use_the_anisotropic_spacing():
    labels = np.zeros((12, 5, 5), np.int32)
    labels[1:11, 2, 2] = 1  # 10 planes along z
    row = skeleton_metrics(labels, (0.3, 0.1, 0.1)).loc[1]
    assert row.skeleton_length_um == pytest.approx(9 * 0.3)
    assert (row.branches, row.junctions, row.endpoints) == (1, 0, 2)


def test_3d_cross_has_four_branches_and_one_junction():
    labels = np.zeros((15, 15, 15), np.int32)
    labels[7, 7, 1:14] = 1
    labels[7, 1:14, 7] = 1
    row = skeleton_metrics(labels, (0.1, 0.1, 0.1)).loc[1]
    assert (row.branches, row.junctions, row.endpoints) == (4, 1, 4)


def test_touching_objects_keep_separate_skeletons():
    labels = np.zeros((7, 30), np.int32)
    labels[2:5, 1:15] = 1
    labels[2:5, 15:29] = 2  # the same tube, cut in two by a cell boundary
    skeleton = separated_skeletons(labels)
    assert not np.any(skeleton[:, 14] & skeleton[:, 15])
    table = skeleton_metrics(labels, (0.1, 0.1))
    assert table["branches"].tolist() == [1, 1]
    assert table["endpoints"].tolist() == [2, 2]
