"""Synthetic adherent-cell fields: exact labels the bundled cell model learns from."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.measure import regionprops

from spmito.imaging.cell_sheets import (
    CELL_STAINS,
    CellSheetParams,
    _split_into_daughters,
    make_cell_sheet,
    varied_sheet_params,
)


@pytest.mark.parametrize("stain", CELL_STAINS)
def test_every_nucleus_lies_in_the_cell_of_the_same_number(stain):
    sheet = make_cell_sheet(CellSheetParams(stain=stain, daughter_fraction=0.3), 4)
    assert sheet.cell.dtype == np.uint16 and sheet.cell.shape == sheet.cells.shape
    numbers = set(np.unique(sheet.cells)) - {0}
    assert len(numbers) >= 10
    assert set(np.unique(sheet.nuclei)) - {0} == numbers
    assert np.all(sheet.cells[sheet.nuclei > 0] == sheet.nuclei[sheet.nuclei > 0])
    # the stain is brighter inside cells than between them
    assert sheet.cell[sheet.cells > 0].mean() > 1.5 * sheet.cell[sheet.cells == 0].mean()


def test_the_same_seed_gives_the_same_field():
    params = varied_sheet_params(np.random.default_rng(3))
    first, second = make_cell_sheet(params, 11), make_cell_sheet(params, 11)
    assert np.array_equal(first.cell, second.cell)
    assert np.array_equal(first.cells, second.cells)


def test_a_divided_cell_becomes_two_smaller_daughters_side_by_side():
    rng = np.random.default_rng(0)
    centres = rng.uniform(0, 500, size=(200, 2))
    radii = rng.uniform(20, 30, size=200)
    new_centres, new_radii = _split_into_daughters(rng, centres, radii, 0.25)
    n_split = len(new_centres) - len(centres)
    assert 30 <= n_split <= 70
    kept = len(centres) - n_split
    first, second = new_centres[kept:kept + n_split], new_centres[kept + n_split:]
    daughters = new_radii[kept:kept + n_split]
    assert np.array_equal(daughters, new_radii[kept + n_split:])
    # the mother sat midway between its daughters, which touch along a shared edge
    assert np.allclose(np.hypot(*(first - second).T), 2 * 0.9 * daughters)
    midpoints = (first + second) / 2
    nearest_mother = np.min(np.hypot(*(midpoints[:, None] - centres[None]).transpose(2, 0, 1)),
                            axis=1)
    assert nearest_mother.max() < 1e-9


def test_just_divided_pairs_render_as_touching_cells_with_a_nucleus_each():
    sheet = make_cell_sheet(CellSheetParams(daughter_fraction=1.0, spacing_factor=1.4), 2)
    cells = regionprops(sheet.cells)
    touching = 0
    for cell in cells:
        grown = np.zeros(sheet.cells.shape, bool)
        grown[cell.slice] = cell.image
        grown = np.pad(grown, 1)[:-2, 1:-1] | np.pad(grown, 1)[2:, 1:-1] | grown
        neighbours = set(np.unique(sheet.cells[grown])) - {0, cell.label}
        touching += bool(neighbours)
    # scattered mothers (spacing 1.4 cell diameters), so a touching neighbour is the sister
    assert touching >= 0.8 * len(cells)
    assert np.all(sheet.cells[sheet.nuclei > 0] == sheet.nuclei[sheet.nuclei > 0])
