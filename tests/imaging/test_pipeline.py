"""The per-image pipeline's measurement and the re-measure of edited cells."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spmito.imaging.params import RunParams
from spmito.imaging.pipeline import ImageResult, measure_labels, remeasure_cells
from spmito.imaging.stack import Stack
from spmito.imaging.synthetic import CHANNEL_NAMES, SynthParams, make_field
from spmito.segment.edits import merge_cells

ROLES = {"hoechst": 0, "cell": 1, "mito": 2}


def _measured(ndim: int, size_px: int, seed: int):
    field = make_field(SynthParams.for_ndim(ndim, size_px=size_px), seed)
    stack = Stack(field.image, "ZCYX" if ndim == 3 else "CYX", CHANNEL_NAMES, ROLES,
                  field.params.voxel_size_um)
    cells = field.cells.astype(np.int32)
    cell_table, mito_table, pieces = measure_labels(stack, cells, field.nuclei, field.mito,
                                                    RunParams())
    return stack, ImageResult(cells, field.nuclei, pieces, cell_table, mito_table,
                              stack.voxel_size_um)


@pytest.mark.parametrize(("ndim", "size_px"), [(2, 384), (3, 160)])
def test_remeasuring_an_untouched_cell_reproduces_the_full_image_row(ndim, size_px):
    stack, result = _measured(ndim, size_px, seed=5)
    cell_id = int(result.cell_table["cell_id"].iloc[len(result.cell_table) // 2])
    again = remeasure_cells(stack, result, [cell_id])
    before = result.cell_table.set_index("cell_id").loc[cell_id]
    after = again.cell_table.set_index("cell_id").loc[cell_id]
    pd.testing.assert_series_equal(after[before.index], before, check_names=False,
                                   rtol=1e-9)
    assert np.array_equal(again.mito, result.mito)
    pd.testing.assert_frame_equal(again.mito_table, result.mito_table, rtol=1e-9)


def test_merging_two_cells_remeasures_one_cell_with_both_mitochondria_sets():
    stack, result = _measured(2, 384, seed=5)
    table = result.cell_table.set_index("cell_id")
    cells = result.cells
    # two touching cells: neighbours across a label boundary
    right = cells[:, 1:][(cells[:, 1:] != cells[:, :-1]) & (cells[:, :-1] > 0)
                         & (cells[:, 1:] > 0)]
    left = cells[:, :-1][(cells[:, 1:] != cells[:, :-1]) & (cells[:, :-1] > 0)
                         & (cells[:, 1:] > 0)]
    a, b = int(left[0]), int(right[0])
    edit = merge_cells(cells, [a, b])
    merged = edit.apply(cells.copy())
    edited = ImageResult(merged, result.nuclei, result.mito, result.cell_table,
                         result.mito_table, result.voxel_size_um)
    after = remeasure_cells(stack, edited, edit.cell_ids)
    rows = after.cell_table.set_index("cell_id")
    survivor, gone = min(a, b), max(a, b)
    assert gone not in rows.index and survivor in rows.index
    expected_area = table.loc[a, "cell_area_um2"] + table.loc[b, "cell_area_um2"]
    assert rows.loc[survivor, "cell_area_um2"] == pytest.approx(expected_area)
    expected = table.loc[a, "mito_count"] + table.loc[b, "mito_count"]
    assert abs(rows.loc[survivor, "mito_count"] - expected) <= 1
    assert set(after.mito_table["mito_id"]) == set(np.unique(after.mito)) - {0}
