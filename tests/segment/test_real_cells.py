"""Cells on real fields with a Hoechst channel and a cell stain (no hand-drawn cells).

The checks are issue #15's: nuclei inside a cell (>= 90 %) and cells with exactly one nucleus
(>= 85 %), :func:`spmito.segment.nuclei.nucleus_cell_agreement`, for the Cellpose path and for cells
grown from nuclei; and, since growing from nuclei gives one cell per nucleus by construction,
that the grown cells cover the stained area. The figures and overlays come from
``benchmarks/eval_real_cells.py``, whose functions these tests call.
"""

from __future__ import annotations

import numpy as np
import pytest
from skimage import filters, measure

from benchmarks.eval_real_cells import (
    bbbc022_field,
    bbbc022_held_out_half,
    bpae_field,
    field_cells,
    field_nuclei,
    score_real_cells,
    stain_coverage,
)
from spmito.segment.nuclei import nucleus_cell_agreement

pytestmark = pytest.mark.real_data


@pytest.fixture(scope="module")
def bbbc022(real_data):
    field = bbbc022_field(real_data)
    return field, field_nuclei(field)


@pytest.fixture(scope="module")
def bpae(real_data):
    return bpae_field(real_data)


def test_the_nucleus_model_finds_the_u2os_nuclei_of_bbbc022(bbbc022):
    """About 26 nuclei lie wholly or partly in the crop (26 by the classical baseline of
    benchmarks/eval_segmentation.py, checked on the overlay)."""
    _, nuclei = bbbc022
    assert 23 <= int(nuclei.max()) <= 28


def test_cells_grown_from_nuclei_cover_the_conA_stain_of_bbbc022(bbbc022):
    field, nuclei = bbbc022
    scores = score_real_cells(field, "nuclei", nuclei)[0]
    assert scores["nuclei_in_cell_fraction"] >= 0.90
    assert scores["cells_one_nucleus_fraction"] >= 0.85
    assert scores["stain_coverage"] >= 0.85


def test_spmito_run_puts_the_bbbc022_nuclei_in_cells_of_their_own(bbbc022):
    """The Cellpose path as ``spmito run`` takes it: the model's cells, a cell holding two
    nuclei divided between them (two pairs of touching nuclei in one ConA patch, likely
    just-divided cells, checked on the overlay), every nucleus in a cell. 25 of 27 cells
    hold one nucleus (the other two are cut by the crop edge, their nucleus outside it)."""
    field, nuclei = bbbc022
    scores = score_real_cells(field, "cellpose+run", nuclei)[0]
    assert scores["nuclei_in_cell_fraction"] >= 0.90
    assert scores["cells_one_nucleus_fraction"] >= 0.85


@pytest.mark.xfail(strict=True, reason=(
    "known limit, segment/models/MODEL_CARD.md: the cell model alone (fine-tuned on synthetic "
    "sheets and pseudo-labels of the left half of this crop) draws 25 U2OS cells and puts "
    "every nucleus in a cell (100 %), but 20 of 25 cells hold one nucleus (80 %, the bar is "
    "85 %): pairs of touching nuclei in one ConA patch share a cell (spmito run divides "
    "them, see the test above), and two cells cut by the crop edge have their nucleus "
    "outside it (the QC table leaves those two out: 20 of 23, 87 %); strict, so a model "
    "that reaches the bar over all cells makes this test fail until updated"))
def test_the_cell_model_alone_puts_the_bbbc022_nuclei_in_cells_of_their_own(bbbc022):
    field, nuclei = bbbc022
    scores = score_real_cells(field, "cellpose", nuclei)[0]
    assert scores["nuclei_in_cell_fraction"] >= 0.90
    assert scores["cells_one_nucleus_fraction"] >= 0.85


def test_the_cell_model_puts_every_nucleus_of_the_held_out_bbbc022_half_in_a_cell(real_data):
    """The right half of the crop, which the cell model's pseudo-labels left out: 13 nuclei,
    all in a cell (the stage-1 model: 9 of 13). The model alone draws 9 of 13 cells with one
    nucleus (two merged pairs of touching nuclei, two cells cut by the half's edges);
    ``spmito run`` divides the pairs: 13 of 15."""
    field = bbbc022_held_out_half(real_data)
    nuclei = field_nuclei(field)
    scores = score_real_cells(field, "cellpose", nuclei)[0]
    assert scores["nuclei_in_cell_fraction"] >= 0.90
    run_scores = score_real_cells(field, "cellpose+run", nuclei)[0]
    assert run_scores["nuclei_in_cell_fraction"] >= 0.90
    assert run_scores["cells_one_nucleus_fraction"] >= 0.85


def _main_nucleus(field) -> np.ndarray:
    """The BPAE cell's nucleus: the largest Otsu component of the smoothed Hoechst."""
    smooth = filters.gaussian(field.hoechst.astype(np.float32), 2)
    pieces = measure.label(smooth > filters.threshold_otsu(smooth))
    largest = np.argmax(np.bincount(pieces.ravel())[1:]) + 1
    return (pieces == largest).astype(np.int32)


@pytest.mark.parametrize(("method", "least_coverage"), [("nuclei", 0.85),
                                                         ("nuclei-nostain", 0.65)])
def test_the_bpae_cell_grown_from_its_nucleus_fills_its_actin_outline(bpae, method,
                                                                      least_coverage):
    """Over the actin stain the cell follows the outline.

    Without a stain (mitochondria and Hoechst haze) it misses the thin actin-only edges and
    tails, hence the lower bar.
    """
    nucleus = _main_nucleus(bpae)
    cells, _ = field_cells(bpae, nucleus, method)
    assert int(cells.max()) == 1
    assert stain_coverage(bpae, cells) >= least_coverage


@pytest.mark.parametrize("method", ["cellpose+run", "nuclei"])
def test_the_bpae_nuclei_lie_in_cells_with_one_nucleus(bpae, method):
    """The nucleus model retrained on real nuclei finds the BPAE nucleus (the synthetic-only
    one found none), and the cell paths of ``spmito run`` put it in a cell of its own.

    Stage 4 of the nucleus model also finds a DNA-bright body in the cell's tapering lower
    tail (5x the Hoechst around it, without a nuclear edge; checked on the overlay). Both
    paths join it to the nucleus: ``spmito run`` because the model cell holds both, cells
    from nuclei because the cell grown from the nucleus alone reaches it; either way one
    cell, without a small false one whose Hoechst would pass for a side-population cell."""
    nuclei = field_nuclei(bpae)
    assert int(nuclei.max()) >= 1
    cells, nuclei = field_cells(bpae, nuclei, method)
    assert int(cells.max()) == int(nuclei.max()) == 1
    agreement = nucleus_cell_agreement(cells, nuclei)
    assert agreement["nuclei_in_cell_fraction"] >= 0.90
    assert agreement["cells_one_nucleus_fraction"] >= 0.85


def test_the_cell_model_draws_the_bpae_cell_as_one_cell_around_its_nucleus(bpae):
    cells, _ = field_cells(bpae, field_nuclei(bpae), "cellpose")
    nucleus = _main_nucleus(bpae)
    assert int(cells.max()) == 1
    assert nucleus_cell_agreement(cells, nucleus)["nuclei_in_cell_fraction"] == 1.0
    assert stain_coverage(bpae, cells) >= 0.8
