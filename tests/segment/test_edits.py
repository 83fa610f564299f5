"""Label corrections: merge, split by line or seeds, delete, next free id (no Qt, no napari)."""

from __future__ import annotations

import numpy as np
import pytest

from spmito.segment.edits import (
    EditError,
    bounding_box,
    delete_cells,
    merge_cells,
    next_free_id,
    split_cell_by_line,
    split_cell_by_seeds,
)
from spmito.segment.edits import (
    mask_of_cells as cells_mask,
)


@pytest.fixture
def two_cells():
    """Cell 3 (rows 2-9, cols 2-17) above cell 7 (rows 12-17, cols 2-9), in a 20x20 image."""
    labels = np.zeros((20, 20), np.uint16)
    labels[2:10, 2:18] = 3
    labels[12:18, 2:10] = 7
    return labels


def _applied(labels, edit):
    return edit.apply(labels.copy())


def test_next_free_id_is_one_past_the_largest_label(two_cells):
    assert next_free_id(two_cells) == 8
    assert next_free_id(np.zeros((4, 4), np.int32)) == 1


def test_delete_sets_only_the_cell_to_background(two_cells):
    edit = delete_cells(two_cells, [7])
    after = _applied(two_cells, edit)
    assert not (after == 7).any()
    assert np.array_equal(after == 3, two_cells == 3)
    assert edit.cell_ids == (7,)
    assert edit.n_pixels == 6 * 8


def test_edit_does_not_modify_its_input(two_cells):
    before = two_cells.copy()
    merge_cells(two_cells, [3, 7])
    assert np.array_equal(two_cells, before)


def test_merge_gives_every_pixel_the_smallest_id(two_cells):
    edit = merge_cells(two_cells, [7, 3])
    after = _applied(two_cells, edit)
    assert set(np.unique(after)) == {0, 3}
    assert np.array_equal(after > 0, two_cells > 0)
    assert edit.cell_ids == (3, 7)


def test_merge_refuses_a_single_cell(two_cells):
    with pytest.raises(EditError, match="two or more"):
        merge_cells(two_cells, [3, 99])


def test_unknown_cell_is_refused_with_its_id(two_cells):
    with pytest.raises(EditError, match=r"\[42\]"):
        delete_cells(two_cells, [42])


def test_split_by_line_cuts_the_cell_and_loses_no_pixel(two_cells):
    edit = split_cell_by_line(two_cells, 3, [(0, 12), (12, 12)])
    after = _applied(two_cells, edit)
    assert np.array_equal(after > 0, two_cells > 0)
    assert set(np.unique(after)) == {0, 3, 7, 8}
    # the larger, left part keeps the id; the right part gets the next free id
    assert (after[2:10, 2:12] == 3).all() and (after[2:10, 13:18] == 8).all()
    assert edit.cell_ids == (3, 8)


def test_split_by_polyline_with_a_bend(two_cells):
    edit = split_cell_by_line(two_cells, 3, [(0, 5), (6, 10), (11, 15)], first_new_id=20)
    after = _applied(two_cells, edit)
    assert set(np.unique(after[two_cells == 3])) == {3, 20}


def test_split_by_line_that_does_not_cross_the_cell_is_refused(two_cells):
    with pytest.raises(EditError, match="does not cut cell 3"):
        split_cell_by_line(two_cells, 3, [(0, 12), (5, 12)])


def test_split_by_line_in_3d_cuts_every_plane():
    labels = np.zeros((4, 12, 12), np.int32)
    labels[:, 2:10, 2:10] = 5
    after = _applied(labels, split_cell_by_line(labels, 5, [(0, 6), (11, 6)]))
    assert set(np.unique(after)) == {0, 5, 6}
    for plane in after:
        assert set(np.unique(plane[2:10, 2:10])) == {5, 6}


def test_split_by_seeds_gives_one_part_per_seed(two_cells):
    edit = split_cell_by_seeds(two_cells, 3, [(5, 4), (5, 15)], first_new_id=11)
    after = _applied(two_cells, edit)
    assert np.array_equal(after > 0, two_cells > 0)
    assert after[5, 4] != after[5, 15]
    assert {after[5, 4], after[5, 15]} == {3, 11}
    # the watershed divides a symmetric rectangle in the middle
    assert abs(int((after == 3).sum()) - int((after == 11).sum())) <= 16


def test_split_by_seeds_needs_two_seeds_inside(two_cells):
    with pytest.raises(EditError, match="1 of 2"):
        split_cell_by_seeds(two_cells, 3, [(5, 4), (15, 15)])


def test_split_by_seeds_in_3d():
    labels = np.zeros((6, 10, 20), np.int32)
    labels[1:5, 2:8, 2:18] = 1
    after = _applied(labels, split_cell_by_seeds(labels, 1, [(3, 5, 4), (3, 5, 15)],
                                                 voxel_size_um=(0.3, 0.1, 0.1)))
    assert set(np.unique(after)) == {0, 1, 2}


def test_bounding_box_of_a_mask():
    mask = np.zeros((5, 6, 7), bool)
    mask[1, 2, 3] = mask[3, 4, 1] = True
    assert bounding_box(mask) == (slice(1, 4), slice(2, 5), slice(1, 4))
    assert bounding_box(np.zeros((3, 3), bool)) is None


@pytest.mark.parametrize("ids", [[3], [3, 7], list(range(1, 12))])
def test_cells_mask_equals_isin(two_cells, ids):
    np.testing.assert_array_equal(cells_mask(two_cells, ids), np.isin(two_cells, ids))
