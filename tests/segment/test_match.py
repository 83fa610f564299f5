"""match_nuclei_to_cells: largest-overlap nucleus, majority count, every cell kept."""

from __future__ import annotations

import time

import numpy as np
import pytest

from spmito.imaging.synthetic import SynthParams, make_field
from spmito.segment.nuclei import match_nuclei_to_cells


def _table(cells, nuclei):
    return match_nuclei_to_cells(cells, nuclei).set_index("cell_id")


def test_cells_without_or_with_several_nuclei_are_kept_and_flagged():
    cells = np.zeros((20, 30), np.int32)
    cells[:, :10], cells[:, 10:20], cells[:, 20:] = 1, 2, 5
    nuclei = np.zeros_like(cells)
    nuclei[2:8, 2:8] = 4  # cell 1: one nucleus
    nuclei[2:6, 12:18] = 6  # cell 2: two nuclei (a doublet)
    nuclei[10:18, 12:18] = 9
    table = _table(cells, nuclei)  # cell 5: none
    assert list(table.index) == [1, 2, 5]
    assert table.loc[1].tolist() == [4, 1]
    assert table.loc[2].tolist() == [9, 2]  # the larger of its two nuclei
    assert table.loc[5].tolist() == [0, 0]


def test_a_nucleus_counts_only_for_the_cell_that_holds_its_majority():
    cells = np.zeros((10, 20), np.int32)
    cells[:, :10], cells[:, 10:] = 1, 2
    nuclei = np.zeros_like(cells)
    nuclei[3:7, 6:14] = 3  # split 4 / 4 between the cells: no majority anywhere
    nuclei[0:2, 0:3] = 8  # wholly in cell 1
    table = _table(cells, nuclei)
    assert table.loc[1].tolist() == [3, 1]  # 16 px of nucleus 3 beat 6 px of nucleus 8
    assert table.loc[2].tolist() == [3, 0]
    nuclei[3:7, 9] = 0  # now 12 of 16 remaining pixels... in cell 2
    table = _table(cells, nuclei)
    assert table.loc[2].tolist() == [3, 1]
    assert table.loc[1, "n_nuclei"] == 1  # only nucleus 8


def test_ties_go_to_the_lower_nucleus_id_and_empty_images_work():
    cells = np.ones((4, 4), np.int32)
    nuclei = np.zeros_like(cells)
    nuclei[0, :2], nuclei[3, :2] = 7, 5
    assert _table(cells, nuclei).loc[1].tolist() == [5, 2]
    empty = match_nuclei_to_cells(np.zeros((5, 5), int), np.zeros((5, 5), int))
    assert list(empty.columns) == ["cell_id", "nucleus_id", "n_nuclei"] and empty.empty


@pytest.mark.parametrize("ndim", [2, 3])
def test_every_synthetic_cell_gets_its_own_true_nucleus(ndim):
    params = SynthParams.for_ndim(ndim, size_px=256 if ndim == 2 else 160,
                                  **({"n_z": 24} if ndim == 3 else {}))
    field = make_field(params, 5)
    table = _table(field.cells, field.nuclei)
    with_nucleus = np.unique(field.nuclei[field.nuclei > 0])
    assert len(table) == field.cells.max()
    assert (table.loc[with_nucleus, "nucleus_id"] == with_nucleus).all()
    assert (table.loc[with_nucleus, "n_nuclei"] == 1).all()
    without = table.index.difference(with_nucleus)
    assert (table.loc[without, "n_nuclei"] == 0).all()


def test_one_pass_scales_to_thousands_of_cells():
    side, step = 2048, 32
    yy, xx = np.mgrid[:side, :side]
    cells = ((yy // step) * (side // step) + xx // step + 1).astype(np.int32)
    nuclei = np.where((yy % step > 8) & (xx % step > 8) & (xx % step < 24), cells, 0)
    started = time.perf_counter()
    table = match_nuclei_to_cells(cells, nuclei)
    seconds = time.perf_counter() - started
    assert len(table) == (side // step) ** 2 == 4096
    assert (table["nucleus_id"] == table["cell_id"]).all() and (table["n_nuclei"] == 1).all()
    assert seconds < 5.0


def test_nucleus_cell_agreement_counts_outside_and_shared_nuclei():
    from spmito.segment.nuclei import nucleus_cell_agreement
    cells = np.zeros((20, 30), np.int32)
    cells[:, :10], cells[:, 10:20] = 1, 2          # cell 3 absent: columns 20-29 are background
    nuclei = np.zeros_like(cells)
    nuclei[2:5, 2:5] = 1                           # in cell 1
    nuclei[2:5, 12:15] = 2                         # cell 2 holds two nuclei
    nuclei[10:13, 12:15] = 3
    nuclei[2:5, 22:25] = 4                         # outside every cell
    qc = nucleus_cell_agreement(cells, nuclei)
    assert qc["n_cells"] == 2 and qc["n_nuclei"] == 4
    assert qc["nuclei_in_cell_fraction"] == 3 / 4
    assert qc["cells_one_nucleus_fraction"] == 1 / 2


def test_a_cell_cut_off_by_the_image_edge_without_its_nucleus_is_left_out_of_the_qc_share():
    """Of four cells, one holds its nucleus, one touches the left edge with no nucleus in
    view (its nucleus lies outside the field), one lies inside the field with no nucleus (a
    segmentation fault) and one holds two: the QC share counts three cells, one with one
    nucleus; the share over all cells counts four."""
    from spmito.segment.nuclei import nucleus_cell_agreement
    cells = np.zeros((30, 40), np.int32)
    cells[5:15, 10:20] = 1
    cells[5:15, 0:6] = 2                           # on the left edge, no nucleus
    cells[18:28, 10:20] = 3                        # inside the field, no nucleus
    cells[18:28, 25:38] = 4
    nuclei = np.zeros_like(cells)
    nuclei[8:11, 13:16] = 1
    nuclei[20:23, 27:30], nuclei[20:23, 33:36] = 2, 3
    qc = nucleus_cell_agreement(cells, nuclei)
    assert qc["n_cells"] == 4 and qc["n_cells_cut_off"] == 1
    assert qc["cells_one_nucleus_fraction"] == 1 / 4
    assert qc["whole_cells_one_nucleus_fraction"] == 1 / 3
    cells[5:15, 0:6] = 0
    cells[5:15, 1:6] = 2                           # one column in from the edge: counted
    qc = nucleus_cell_agreement(cells, nuclei)
    assert qc["n_cells_cut_off"] == 0
    assert qc["whole_cells_one_nucleus_fraction"] == 1 / 4


@pytest.mark.parametrize("ndim", [2, 3])
def test_a_haze_patch_taken_for_a_nucleus_is_dropped_and_dim_sp_nuclei_are_kept(ndim):
    """Half the cells SP (3-10x dimmer nuclei); a nucleus-sized patch of one cell's
    cytoplasm is added as a "nucleus". Only that patch goes."""
    from scipy import ndimage as ndi

    from spmito.segment.nuclei import drop_nuclei_not_standing_out, nucleus_contrast

    field = make_field(SynthParams.for_ndim(ndim, sp_fraction=0.5), seed=11)
    hoechst, voxel = field.channel("hoechst"), field.params.voxel_size_um
    contrast = nucleus_contrast(field.nuclei, hoechst, voxel)
    assert (contrast / contrast.median()).min() > 0.08  # the dimmest SP nucleus
    kept, dropped = drop_nuclei_not_standing_out(field.nuclei, hoechst, voxel)
    assert dropped == 0 and kept.max() == field.nuclei.max()

    # a patch of cytoplasm as far from every nucleus as the cell allows
    cell = int(np.bincount(field.cells.ravel())[1:].argmax()) + 1
    depth = ndi.distance_transform_edt((field.cells == cell) & (field.nuclei == 0))
    patch = depth >= 0.6 * depth.max()
    assert patch.sum() > 10
    fake = field.nuclei.max() + 1
    with_fake = np.where(patch, fake, field.nuclei)
    kept, dropped = drop_nuclei_not_standing_out(with_fake, hoechst, voxel)
    assert dropped == 1 and not kept[patch].any()
    np.testing.assert_array_equal(kept > 0, field.nuclei > 0)


@pytest.mark.parametrize("ndim", [2, 3])
def test_a_micronucleus_joins_the_nucleus_beside_it_and_alike_neighbours_stay_apart(ndim):
    from skimage.draw import ellipsoid

    from spmito.segment.nuclei import join_micronuclei

    voxel = (0.5,) * ndim

    def ball(radius_px):
        shape = ellipsoid(*(radius_px,) * 3)[1:-1, 1:-1, 1:-1]
        return shape if ndim == 3 else shape[radius_px]

    nuclei = np.zeros((40,) * (ndim - 2) + (60, 120), np.int32)
    centre = (20,) * (ndim - 2)

    def place(label, radius_px, row, col):
        body = ball(radius_px)
        span = tuple(slice(c - radius_px, c + radius_px + 1) for c in (*centre, row, col))
        nuclei[span][body] = label

    place(1, 12, 30, 20)   # a nucleus ...
    place(2, 3, 30, 36)    # ... with a micronucleus one pixel (0.5 µm) beside it
    place(3, 3, 30, 60)    # a small nucleus on its own
    place(4, 10, 30, 85)   # two alike nuclei touching: daughters or neighbours
    place(5, 9, 30, 105)
    joined, n_joined = join_micronuclei(nuclei, voxel)
    assert n_joined == 1
    assert joined.max() == 4 and len(np.unique(joined[nuclei == 2])) == 1
    assert joined[nuclei == 2][0] == joined[nuclei == 1][0]
    assert len(np.unique(joined[(nuclei == 4) | (nuclei == 5)])) == 2
    untouched, none = join_micronuclei(nuclei, voxel, max_gap_um=0.2)
    assert none == 0 and np.array_equal(untouched, nuclei)


def test_a_small_nucleus_far_from_the_large_one_in_its_cell_joins_it():
    from spmito.segment.nuclei import join_micronuclei

    nuclei = np.zeros((60, 120), np.int32)
    nuclei[20:40, 10:30] = 1   # the nucleus
    nuclei[28:32, 60:64] = 2   # a small DNA body 15 µm away, in the same cell
    cells = np.zeros_like(nuclei)
    cells[5:55, 5:80] = 1
    assert join_micronuclei(nuclei, (0.5, 0.5))[1] == 0  # by distance alone: apart
    joined, n_joined = join_micronuclei(nuclei, (0.5, 0.5), cells=cells)
    assert n_joined == 1 and set(np.unique(joined)) == {0, 1}
    nuclei[28:32, 60:64] = 0
    nuclei[0:4, 60:64] = 2     # cut by the image edge: small for want of the rest
    assert join_micronuclei(nuclei, (0.5, 0.5), cells=cells)[1] == 0
    nuclei[0:4, 60:64] = 0
    nuclei[28:32, 60:64] = 2
    cells[:, 45:] = 0
    cells[5:55, 50:80] = 2     # in a cell of its own it stays a nucleus
    assert join_micronuclei(nuclei, (0.5, 0.5), cells=cells)[1] == 0


def test_without_a_cell_model_a_small_body_joins_the_nucleus_whose_grown_cell_holds_it():
    """Cells grown from nuclei: the cell grown from the large nucleus alone tells whether a
    small DNA body lies in its cytoplasm (joined) or in a stained patch of its own."""
    from spmito.segment.propagate import join_micronuclei_in_grown_cells

    nuclei = np.zeros((60, 140), np.int32)
    nuclei[20:40, 10:30] = 1   # the nucleus
    nuclei[28:32, 60:64] = 2   # a small body 15 µm away, in the same stained cytoplasm
    nuclei[28:32, 118:122] = 3  # a small body in a stained patch beyond a dark gap
    stain = np.full(nuclei.shape, 5.0, np.float32)
    stain[5:55, 5:80] = 100.0
    stain[20:40, 105:135] = 100.0
    joined, n_joined = join_micronuclei_in_grown_cells(nuclei, stain, (0.5, 0.5), 40.0)
    assert n_joined == 1
    assert joined[30, 62] == joined[30, 20] != joined[30, 120] > 0
