"""Labels found at the network's scale come back onto the input grid with smooth outlines."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage.transform import resize

from spmito.segment.backends import resize_labels
from spmito.segment.regrid import labels_on_input_grid

SHAPE = (240, 240)
FACTOR = 8


def _disks(centres, radius_px: float) -> tuple[np.ndarray, np.ndarray]:
    """True disks on the fine grid and a logit-like probability (signed distance in px)."""
    yy, xx = np.mgrid[:SHAPE[0], :SHAPE[1]]
    truth = np.zeros(SHAPE, np.int32)
    signed = np.full(SHAPE, -np.inf)
    for number, (cy, cx) in enumerate(centres, start=1):
        inside = radius_px - np.hypot(yy - cy, xx - cx)
        truth[(inside > 0) & (inside > signed)] = number
        signed = np.maximum(signed, inside)
    return truth, np.clip(signed, -20, 20)


def _at_network_scale(truth: np.ndarray, signed: np.ndarray):
    small_shape = tuple(n // FACTOR for n in SHAPE)
    cellprob = resize(signed, small_shape, order=1, anti_aliasing=True).astype(np.float32)
    return resize_labels(truth, small_shape) * (cellprob > 0), cellprob


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return np.count_nonzero(a & b) / np.count_nonzero(a | b)


def test_an_enlarged_object_follows_its_probability_not_a_staircase():
    truth, signed = _disks([(120, 120)], radius_px=70)
    labels, cellprob = _at_network_scale(truth, signed)
    smooth = labels_on_input_grid(labels, cellprob, SHAPE, 0.0)
    blocky = resize_labels(labels, SHAPE)
    assert _iou(smooth == 1, truth == 1) > 0.995
    assert _iou(blocky == 1, truth == 1) < 0.985
    # the outline has no 8-pixel steps: its pixels lie within 1.5 px of the true circle
    outline = smooth.astype(bool) & ~ndi.binary_erosion(smooth.astype(bool))
    yy, xx = np.nonzero(outline)
    assert np.abs(np.hypot(yy - 120, xx - 120) - 70).max() < 1.5


def test_touching_objects_keep_their_numbers_and_meet_between_their_samples():
    truth, signed = _disks([(120, 75), (120, 165)], radius_px=50)
    labels, cellprob = _at_network_scale(truth, signed)
    labels[labels == 2] = 9
    out = labels_on_input_grid(labels, cellprob, SHAPE, 0.0)
    assert set(np.unique(out)) == {0, 1, 9}
    assert _iou(out == 1, truth == 1) > 0.97 and _iou(out == 9, truth == 2) > 0.97


def test_holes_filled_at_the_network_scale_stay_filled():
    labels = np.zeros((30, 30), np.int32)
    labels[5:25, 5:25] = 4
    cellprob = np.where(labels > 0, 3.0, -3.0).astype(np.float32)
    cellprob[12:18, 12:18] = -3.0  # a dim centre that Cellpose's hole filling kept
    out = labels_on_input_grid(labels, cellprob, SHAPE, 0.0)
    assert np.all(out[110:130, 110:130] == 4)


def test_stitched_stacks_are_enlarged_plane_by_plane_and_equal_grids_pass_through():
    truth, signed = _disks([(120, 120)], radius_px=60)
    labels, cellprob = _at_network_scale(truth, signed)
    stack = labels_on_input_grid(np.stack([labels, labels * 0]),
                                 np.stack([cellprob, cellprob - 50]), (2, *SHAPE), 0.0)
    assert np.array_equal(stack[0], labels_on_input_grid(labels, cellprob, SHAPE, 0.0))
    assert not stack[1].any()
    assert np.array_equal(labels_on_input_grid(labels, cellprob, labels.shape, 0.0), labels)


def test_mismatched_shapes_are_refused():
    with pytest.raises(ValueError, match="do not match"):
        labels_on_input_grid(np.zeros((4, 4), int), np.zeros((4, 5)), (8, 8), 0.0)
