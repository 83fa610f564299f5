"""Per-mitochondrion and per-cell tables on hand-built images with exact answers."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.draw import disk, ellipsoid

from spmito.measure.objects.cells import measure_cells, measure_image
from spmito.measure.objects.mito import (
    count_per_cell,
    measure_mitochondria,
    mito_columns,
    split_mitochondria,
)

SPACING_2D = (0.1, 0.1)
BACKGROUND = 100.0


def _two_touching_cells():
    """Cells 1 (left) and 2 (right) sharing the column boundary x = 40, room around them."""
    cells = np.zeros((100, 160), np.int32)
    cells[30:70, 20:40] = 1
    cells[30:70, 40:60] = 2
    nuclei = np.zeros_like(cells)
    nuclei[40:60, 24:36] = 11  # nucleus ids need not match cell ids
    nuclei[40:60, 44:56] = 12
    mito = np.zeros_like(cells)
    mito[33:36, 30:50] = 5  # a tube crossing the cell boundary
    mito[64:67, 45:52] = 6  # inside cell 2 only
    mito[10:13, 100:110] = 7  # outside every cell
    return cells, nuclei, mito


def test_two_touching_cells_split_a_crossing_mitochondrion():
    cells, nuclei, mito = _two_touching_cells()
    table = measure_mitochondria(mito, cells, nuclei, np.full(cells.shape, BACKGROUND),
                                 SPACING_2D).set_index("mito_id")
    assert list(table.columns) == mito_columns(2)[1:]
    assert table["cell_id"].to_dict() == {5: 1, 6: 2, 7: 0, 8: 2}  # 8: right half of 5
    assert table.loc[5, "area_um2"] == pytest.approx(3 * 10 * 0.01)
    assert table.loc[8, "area_um2"] == pytest.approx(3 * 10 * 0.01)
    assert table.loc[6, "area_um2"] == pytest.approx(3 * 7 * 0.01)
    counts = measure_cells(cells, nuclei, mito, SPACING_2D, hoechst_img=np.ones(cells.shape),
                           mito_img=np.ones(cells.shape)).set_index("cell_id")["mito_count"]
    assert counts.to_dict() == {1: 1, 2: 2}
    quick = count_per_cell(mito, cells, nuclei, SPACING_2D).set_index("cell_id")
    assert quick["mito_count"].to_dict() == {1: 1, 2: 2}
    assert quick["mito_area_um2"].to_dict() == pytest.approx({1: 0.3, 2: 0.3 + 0.21})


def test_split_keeps_labels_of_objects_that_need_no_split():
    cells, nuclei, mito = _two_touching_cells()
    pieces = split_mitochondria(mito, cells, nuclei, SPACING_2D)
    assert np.array_equal(pieces == 6, mito == 6) and np.array_equal(pieces == 7, mito == 7)
    assert set(np.unique(pieces)) == {0, 5, 6, 7, 8}


def test_pieces_below_the_minimum_size_are_not_counted():
    cells, nuclei, mito = _two_touching_cells()
    mito[50, 45] = 9  # 0.01 µm² < 0.06 µm²
    pieces = split_mitochondria(mito, cells, nuclei, SPACING_2D)
    assert 9 not in pieces


def test_3d_mitochondrion_through_the_nucleus_becomes_two_pieces_of_the_same_cell():
    cells = np.zeros((20, 60, 60), np.int32)
    cells[2:18, 10:50, 10:50] = 1
    nuclei = np.zeros_like(cells)
    nuclei[6:14, 25:35, 25:35] = 1
    mito = np.zeros_like(cells)
    mito[10, 29:31, 15:45] = 1  # crosses the nucleus along x
    table = measure_mitochondria(mito, cells, nuclei, np.full(cells.shape, BACKGROUND),
                                 (0.3, 0.1, 0.1))
    assert len(table) == 2 and set(table["cell_id"]) == {1}
    voxel = 0.3 * 0.1 * 0.1
    assert sorted(table["volume_um3"] / voxel) == pytest.approx([20.0, 20.0])
    assert list(table.columns) == mito_columns(3)


def test_intensities_are_background_corrected_with_the_cell_annulus():
    cells, nuclei, mito = _two_touching_cells()
    image = np.full(cells.shape, BACKGROUND)
    image[mito > 0] += 40.0
    table = measure_mitochondria(mito, cells, nuclei, image, SPACING_2D).set_index("mito_id")
    assert table["intensity_mean"].to_numpy() == pytest.approx(40.0)
    assert table.loc[6, "intensity_integrated"] == pytest.approx(40.0 * 21)


def test_shape_features_of_a_disc_a_tube_and_a_ball():
    labels = np.zeros((80, 80), np.int32)
    labels[disk((40, 20), 10)] = 1
    labels[38:43, 40:75] = 2  # 5 px = 0.5 µm wide
    table = measure_mitochondria(labels, np.ones_like(labels), np.zeros_like(labels),
                                 np.ones(labels.shape), SPACING_2D).set_index("mito_id")
    assert table.loc[1, "form_factor"] == pytest.approx(1.0, abs=0.12)
    assert table.loc[2, "form_factor"] > 2.5
    assert table.loc[2, "mean_width_um"] == pytest.approx(0.5, abs=0.05)
    ball = np.pad(ellipsoid(8, 8, 8).astype(np.int32), 2)
    table = measure_mitochondria(ball, np.ones_like(ball), np.zeros_like(ball),
                                 np.ones(ball.shape), (0.1, 0.1, 0.1))
    assert table.loc[0, "sphericity"] == pytest.approx(1.0, abs=0.08)
    tube = np.zeros((9, 9, 40), np.int32)
    tube[2:7, 2:7, 3:37] = 1  # 0.5 µm square cross-section
    table = measure_mitochondria(tube, np.ones_like(tube), np.zeros_like(tube),
                                 np.ones(tube.shape), (0.1, 0.1, 0.1))
    assert table.loc[0, "mean_width_um"] == pytest.approx(0.5, abs=0.05)
    assert table.loc[0, "sphericity"] < 0.7


def _cell_field(ndim: int):
    """Two cells with nuclei on a flat background; Hoechst +50 over each nucleus."""
    shape = (12, 120, 120) if ndim == 3 else (120, 120)
    lead = (slice(2, 10),) if ndim == 3 else ()
    cells = np.zeros(shape, np.int32)
    nuclei = np.zeros(shape, np.int32)
    cells[lead + (slice(20, 50), slice(20, 50))] = 1
    cells[lead + (slice(70, 100), slice(60, 90))] = 2
    nuclei[lead + (slice(25, 40), slice(25, 40))] = 1
    nuclei[lead + (slice(75, 90), slice(65, 80))] = 2
    hoechst = np.full(shape, 100, np.uint16)
    hoechst[nuclei > 0] += 50
    return cells, nuclei, hoechst


@pytest.mark.parametrize("ndim", [2, 3])
def test_integrated_hoechst_is_exact_over_the_nucleus(ndim):
    cells, nuclei, hoechst = _cell_field(ndim)
    voxel_size_um = (0.3, 0.1, 0.1)[-ndim:]
    mito = np.zeros_like(cells)
    table = measure_cells(cells, nuclei, mito, voxel_size_um, hoechst_img=hoechst,
                          mito_img=np.ones(cells.shape)).set_index("cell_id")
    n_nucleus = np.count_nonzero(nuclei == 1)
    assert table["hoechst_background"].tolist() == [100.0, 100.0]
    assert table.loc[1, "hoechst_integrated"] == pytest.approx(50.0 * n_nucleus)
    assert table.loc[1, "hoechst_mean"] == pytest.approx(50.0)
    size = "area_um2" if ndim == 2 else "volume_um3"
    assert table.loc[1, f"nucleus_{size}"] == pytest.approx(n_nucleus * np.prod(voxel_size_um))
    assert table.loc[1, f"cell_{size}"] == pytest.approx(np.count_nonzero(cells == 1)
                                                         * np.prod(voxel_size_um))
    assert not table["background_from_field"].any()
    assert table["cell_solidity"].between(0.9, 1.0).all()


def test_flatfield_is_divided_out_before_the_background():
    cells, nuclei, hoechst = _cell_field(2)
    flatfield = np.ones(cells.shape)
    flatfield[:, 60:] = 0.5  # the right half is lit at half intensity
    dim = hoechst.astype(float)
    dim[:, 60:] *= 0.5
    table = measure_cells(cells, nuclei, np.zeros_like(cells), SPACING_2D,
                          hoechst_img=dim, mito_img=np.ones(cells.shape),
                          flatfield=flatfield).set_index("cell_id")
    # the flat field normalised to mean 1 is 4/3 (left) and 2/3 (right): after division both
    # halves read 0.75x the unvignetted image, so both cells agree again
    for cell in (1, 2):
        n_nucleus = np.count_nonzero(nuclei == cell)
        assert table.loc[cell, "hoechst_integrated"] == pytest.approx(50.0 * 0.75 * n_nucleus)


def test_qc_flags_border_z_clipping_and_saturation():
    cells, nuclei, hoechst = _cell_field(3)
    cells[0:2, 20:50, 20:50] = 1  # cell 1 now touches the first plane
    cells[2:10, 100:120, 60:90] = 2  # cell 2 reaches the lateral edge
    hoechst[5, 30, 30:40] = np.iinfo(np.uint16).max  # 10 of 1800 nuclear voxels of cell 1
    table = measure_cells(cells, nuclei, np.zeros_like(cells), (0.3, 0.1, 0.1),
                          hoechst_img=hoechst, mito_img=np.ones(cells.shape)
                          ).set_index("cell_id")
    assert table["z_clipped"].to_dict() == {1: True, 2: False}
    assert table["touches_border"].to_dict() == {1: False, 2: True}
    assert table["saturated"].to_dict() == {1: True, 2: False}


def test_background_falls_back_to_the_field_mode_when_cells_fill_the_field():
    cells = np.ones((60, 60), np.int32)
    cells[:, 30:] = 2
    cells[0:3, 0:3] = 0  # a few background pixels only
    nuclei = np.zeros_like(cells)
    hoechst = np.full(cells.shape, 120.0)
    hoechst[0:3, 0:3] = 100.0
    table = measure_cells(cells, nuclei, np.zeros_like(cells), SPACING_2D,
                          hoechst_img=hoechst, mito_img=np.ones(cells.shape))
    assert table["background_from_field"].all()
    assert table["hoechst_background"].to_numpy() == pytest.approx(100.0, abs=0.5)
    assert table["hoechst_integrated"].isna().all()  # no nucleus: no DNA content


def test_per_cell_mitochondria_aggregates():
    cells, nuclei, mito = _two_touching_cells()
    mito_img = np.full(cells.shape, BACKGROUND)
    mito_img[mito > 0] += 10.0
    viability = np.full(cells.shape, 20.0)
    viability[cells == 2] = 30.0
    result = measure_image(cells, nuclei, mito, SPACING_2D, hoechst_img=np.ones(cells.shape),
                           mito_img=mito_img, viability_img=viability)
    table = result.cells.set_index("cell_id")
    assert set(result.mito["mito_id"]) == set(np.unique(result.mito_pieces)) - {0}
    cell2 = table.loc[2]
    assert cell2["mito_count"] == 2
    assert cell2["mito_area_um2"] == pytest.approx((30 + 21) * 0.01)
    assert cell2["mito_fraction"] == pytest.approx((30 + 21) / (40 * 20))
    assert cell2["mito_mean_size"] == pytest.approx((30 + 21) * 0.01 / 2)
    assert cell2["fragmentation_index"] == pytest.approx(2 / ((30 + 21) * 0.01))
    assert cell2["mito_intensity_integrated"] == pytest.approx(10.0 * (30 + 21))
    assert cell2["mito_intensity_mean"] == pytest.approx(10.0)
    assert (cell2["mito_networks"], cell2["mito_individuals"]) == (0, 2)
    assert cell2["mito_branches"] == 2 and cell2["mito_endpoints"] == 4
    assert table["viability_mean"].to_dict() == pytest.approx({1: 0.0, 2: 10.0})
