"""Cells grown from nuclei (segment/propagate.py) against synthetic truth and simple geometry."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from spmito.imaging.synthetic import SynthParams, make_field
from spmito.segment.evaluation import average_precision_50, touching_label_pairs
from spmito.segment.nuclei import nucleus_cell_agreement
from spmito.segment.propagate import (
    add_cells_for_nuclei,
    cell_signal_without_stain,
    cells_from_nuclei,
    divide_cells_among_nuclei,
    uncovered_nuclei,
)

#: Held-out synthetic seeds (also used by benchmarks/eval_segmentation.py).
SEEDS = (9001, 9002, 9003)


@pytest.fixture(scope="module")
def fields():
    return [make_field(SynthParams.for_ndim(2), seed) for seed in SEEDS]


def _disk(shape, centre, radius):
    yy, xx = np.ogrid[: shape[0], : shape[1]]
    return (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius**2


def test_cells_grown_over_the_cell_stain_match_the_true_cells(fields):
    scores = [average_precision_50(f.cells, cells_from_nuclei(
        f.nuclei, f.channel("cell"), f.params.voxel_size_um, 12.0)) for f in fields]
    assert np.mean(scores) >= 0.95


def test_cells_grown_without_a_cell_stain_match_the_true_cells(fields):
    scores = []
    for f in fields:
        signal = cell_signal_without_stain(f.channel("mito"), f.channel("hoechst"),
                                           f.params.voxel_size_um)
        scores.append(average_precision_50(
            f.cells, cells_from_nuclei(f.nuclei, signal, f.params.voxel_size_um, 12.0)))
    assert np.mean(scores) >= 0.95


def test_every_nucleus_gets_one_cell_with_its_label_that_holds_it(fields):
    f = fields[0]
    cells = cells_from_nuclei(f.nuclei, f.channel("cell"), f.params.voxel_size_um, 12.0)
    inside = f.nuclei > 0
    assert np.array_equal(cells[inside], f.nuclei[inside])
    assert set(np.unique(cells)) == set(np.unique(f.nuclei))
    agreement = nucleus_cell_agreement(cells, f.nuclei)
    assert agreement["nuclei_in_cell_fraction"] == agreement["cells_one_nucleus_fraction"] == 1


def test_nuclei_that_a_cell_model_left_out_get_their_true_cells_around_the_found_ones(fields):
    f = fields[0]
    missed = (2, 5, 7)
    found = np.where(np.isin(f.cells, missed), 0, f.cells)  # a cell model that missed three
    left_out = uncovered_nuclei(found, f.nuclei)
    assert list(left_out) == list(missed)
    cells, n_added = add_cells_for_nuclei(found, f.nuclei, left_out, f.channel("cell"),
                                          f.params.voxel_size_um, 12.0)
    assert n_added == len(missed)
    assert np.array_equal(cells[found > 0], found[found > 0])  # the found cells are kept
    for number in missed:
        grown = np.unique(cells[f.nuclei == number])
        assert grown.size == 1 and grown[0] > found.max()
        truth = f.cells == number
        assert np.count_nonzero(truth & (cells == grown[0])) / np.count_nonzero(
            truth | (cells == grown[0])) > 0.6  # cells_from_nuclei alone: 0.63-0.81 here
    agreement = nucleus_cell_agreement(cells, f.nuclei)
    assert agreement["nuclei_in_cell_fraction"] == 1.0


def test_nuclei_held_by_the_found_cells_add_nothing(fields):
    f = fields[1]
    assert uncovered_nuclei(f.cells, f.nuclei).size == 0
    cells, n_added = add_cells_for_nuclei(f.cells, f.nuclei, uncovered_nuclei(f.cells, f.nuclei),
                                          f.channel("cell"), f.params.voxel_size_um, 12.0)
    assert n_added == 0 and np.array_equal(cells, f.cells)


def test_a_cell_model_that_merged_two_touching_cells_gets_them_back(fields):
    """Two true neighbours drawn as one cell: divided at the stain between their nuclei."""
    divided_pairs = 0
    for f in fields:
        for first, second in touching_label_pairs(f.cells)[:2]:
            merged = np.where(f.cells == second, first, f.cells)
            cells, n_divided = divide_cells_among_nuclei(merged, f.nuclei, f.channel("cell"),
                                                         f.channel("hoechst"),
                                                         f.params.voxel_size_um)
            assert n_divided == 1
            others = (f.cells > 0) & ~np.isin(f.cells, (first, second))
            assert np.array_equal(cells[others], merged[others])  # one-nucleus cells kept
            assert np.array_equal(cells > 0, merged > 0)  # no pixel gained or lost
            for number in (first, second):
                part = np.unique(cells[f.nuclei == number])
                assert part.size == 1
                truth = f.cells == number
                found = cells == part[0]
                assert np.count_nonzero(truth & found) / np.count_nonzero(truth | found) > 0.8
            assert nucleus_cell_agreement(cells, f.nuclei)["cells_one_nucleus_fraction"] == 1
            divided_pairs += 1
    assert divided_pairs >= 4


def _two_nuclei_in_one_cell(second_brightness):
    """A 50 x 90 px cell (label 4) with nuclei 7 (left) and 3 (right), another cell (9) with
    none, and a nuclear stain: 1 in the cytoplasm, 5 in nucleus 7, ``second_brightness`` in
    nucleus 3."""
    nuclei = np.zeros((60, 100), np.int32)
    nuclei[_disk(nuclei.shape, (30, 25), 8)] = 7
    nuclei[_disk(nuclei.shape, (30, 75), 8)] = 3
    cells = np.zeros_like(nuclei)
    cells[5:55, 5:95] = 4
    cells[0:4, 0:4] = 9
    nuclear = np.where(cells > 0, 1.0, 0.0) + 4.0 * (nuclei == 7)
    nuclear += (second_brightness - 1.0) * (nuclei == 3)
    return cells, nuclei, nuclear


def test_the_part_with_the_lowest_nucleus_keeps_the_cell_label():
    cells, nuclei, nuclear = _two_nuclei_in_one_cell(second_brightness=4.0)
    divided, n_divided = divide_cells_among_nuclei(cells, nuclei, np.ones(cells.shape),
                                                   nuclear, (0.5, 0.5))
    assert n_divided == 1
    assert divided[30, 75] == 4 and divided[30, 25] == 10  # after the largest label, 9
    assert np.array_equal(divided[0:4, 0:4], cells[0:4, 0:4])
    # a uniform stain: the boundary lies midway between the nuclei
    assert np.all(divided[5:55, 5:48] == 10) and np.all(divided[5:55, 53:95] == 4)


def test_a_nucleus_that_hardly_stands_out_of_the_haze_divides_nothing():
    """Contrast above the cytoplasm 4 and 0.1 (< a twentieth): cytoplasm taken for a nucleus.

    A dim side-population nucleus (contrast 0.6, 0.15 of its neighbour's) still divides the
    cell."""
    cells, nuclei, nuclear = _two_nuclei_in_one_cell(second_brightness=1.1)
    divided, n_divided = divide_cells_among_nuclei(cells, nuclei, np.ones(cells.shape),
                                                   nuclear, (0.5, 0.5))
    assert n_divided == 0 and np.array_equal(divided, cells)
    _, n_divided = divide_cells_among_nuclei(cells, nuclei, np.ones(cells.shape), nuclear,
                                             (0.5, 0.5), least_relative_contrast=0.02)
    assert n_divided == 1
    cells, nuclei, nuclear = _two_nuclei_in_one_cell(second_brightness=1.6)
    assert divide_cells_among_nuclei(cells, nuclei, np.ones(cells.shape), nuclear,
                                     (0.5, 0.5))[1] == 1


def test_cells_with_one_nucleus_or_none_are_not_divided(fields):
    f = fields[2]
    cells, n_divided = divide_cells_among_nuclei(f.cells, f.nuclei, f.channel("cell"),
                                                 f.channel("hoechst"), f.params.voxel_size_um)
    assert n_divided == 0 and np.array_equal(cells, f.cells)


def test_a_cell_stops_at_the_edge_of_its_stain():
    """A 60 px stained disk blurred by 2 px: the cell's radius is the disk's within 3 px.

    The log threshold lies at the geometric mean of stain and background, ~0.7 sigma of the
    (2.2 px) total blur outside the edge.
    """
    stain = np.where(_disk((200, 200), (100, 100), 60), 1000.0, 100.0)
    stain = ndi.gaussian_filter(stain, 2) + np.random.default_rng(0).normal(0, 10, stain.shape)
    nucleus = _disk((200, 200), (100, 100), 20).astype(np.int32)
    cell = cells_from_nuclei(nucleus, stain, (0.5, 0.5), 100.0) > 0
    assert abs(np.sqrt(cell.sum() / np.pi) - 60) <= 3.0
    assert cell[_disk((200, 200), (100, 100), 57)].all()


def test_a_cell_reaches_no_farther_than_the_maximum_distance():
    stain = np.full((200, 200), 1000.0)
    stain[:, :20] = 100.0  # some background, so that a threshold exists
    nucleus = _disk((200, 200), (100, 100), 10).astype(np.int32)
    cell = cells_from_nuclei(nucleus, stain, (0.5, 0.5), max_distance_um=15.0) > 0
    reach_um = ndi.distance_transform_edt(nucleus == 0, sampling=(0.5, 0.5))[cell].max()
    assert 14.0 <= reach_um <= 15.0


def test_neighbours_split_a_uniform_sheet_between_their_nuclei():
    stain = np.full((100, 200), 1000.0)
    stain[:5] = 100.0
    nuclei = np.zeros((100, 200), np.int32)
    nuclei[_disk(nuclei.shape, (50, 50), 8)] = 1
    nuclei[_disk(nuclei.shape, (50, 150), 8)] = 2
    cells = cells_from_nuclei(nuclei, stain, (1.0, 1.0), 200.0)
    left, right = cells[:, :95], cells[:, 105:]
    assert (left[left > 0] == 1).all() and (right[right > 0] == 2).all()


def test_3d_stacks_get_3d_cells():
    stain = np.zeros((5, 80, 80))
    stain[:, _disk((80, 80), (40, 40), 25)] = 1000.0
    stain += np.random.default_rng(1).normal(0, 10, stain.shape)
    nuclei = np.zeros(stain.shape, np.int32)
    nuclei[1:4, _disk((80, 80), (40, 40), 8)] = 1
    cells = cells_from_nuclei(nuclei, stain, (1.0, 0.5, 0.5), 30.0)
    assert cells.shape == stain.shape and cells.dtype == np.int32
    assert cells[2][_disk((80, 80), (40, 40), 22)].min() == 1
    assert cells[2][~_disk((80, 80), (40, 40), 28)].max() == 0


def test_a_3d_cell_with_two_nuclei_is_divided_in_every_plane():
    cells2d, nuclei2d, nuclear2d = _two_nuclei_in_one_cell(second_brightness=4.0)
    cells, nuclei, nuclear = (np.stack([plane] * 4) for plane in (cells2d, nuclei2d, nuclear2d))
    divided, n_divided = divide_cells_among_nuclei(cells, nuclei, np.ones(cells.shape),
                                                   nuclear, (1.0, 0.5, 0.5))
    assert n_divided == 1 and divided.shape == cells.shape
    assert np.all(divided[:, 5:55, 5:48] == 10) and np.all(divided[:, 5:55, 53:95] == 4)


def test_no_nuclei_give_no_cells_and_bad_input_is_refused():
    assert not cells_from_nuclei(np.zeros((20, 20), int), np.ones((20, 20)), (1, 1), 5).any()
    with pytest.raises(ValueError, match="share a grid"):
        cells_from_nuclei(np.zeros((20, 20), int), np.ones((10, 10)), (1, 1), 5)
    with pytest.raises(ValueError, match="voxel_size_um"):
        cells_from_nuclei(np.zeros((20, 20), int), np.ones((20, 20)), (1, 1, 1), 5)
    with pytest.raises(ValueError, match="positive"):
        cells_from_nuclei(np.zeros((20, 20), int), np.ones((20, 20)), (1, 1), 0)
