"""Mitochondria counts on fields of a second generator that shares no code with spmito's.

The segmentation was tuned on ``spmito.imaging.synthetic``; these fields are drawn on a grid
4x finer than the pixels, through an Airy PSF, with branched tubules, varied brightness, haze
and an illumination gradient (``benchmarks/mito_second_generator.py``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage as ndi

from benchmarks.mito_eval import summarise
from benchmarks.mito_second_generator import (
    SUPERSAMPLING,
    Acquisition,
    cells_and_nuclei,
    draw_mitochondria,
    make_field,
    per_cell_errors,
)
from spmito.segment.mito import MitoParams


def test_the_second_generator_keeps_its_objects_apart_by_the_gap():
    fine_um, gap_um = 0.1 / SUPERSAMPLING, 0.35
    rng = np.random.default_rng(5)
    cells, nuclei = cells_and_nuclei(rng, (1600, 1600), fine_um)
    mito, truth = draw_mitochondria(rng, cells, nuclei, fine_um, gap_um, dense=True)
    assert truth["mito_count"].min() >= 40
    closest_um = min(
        ndi.distance_transform_edt(mito != label)[(mito > 0) & (mito != label)].min() * fine_um
        for label in rng.choice(np.arange(1, mito.max() + 1), 20, replace=False))
    assert closest_um >= gap_um - fine_um


@pytest.mark.parametrize(("pixel_um", "dense"), [(0.1, True), (0.2, False)])
def test_counts_and_areas_hold_on_the_second_generator(pixel_um, dense):
    rng = np.random.default_rng([77, int(pixel_um * 1000), int(dense)])
    errors = pd.concat([per_cell_errors(make_field(Acquisition(pixel_um, snr=8.0), rng, dense),
                                        MitoParams()) for _ in range(2)], ignore_index=True)
    summary = summarise(errors)
    assert summary["mape"] <= 0.10
    assert abs(summary["size_ratio"] - 1) <= 0.15
