"""The bundled models against synthetic ground truth (fields never used in training).

The figures of the note come from benchmarks/eval_segmentation.py, whose functions these
tests call: the 2-D checks on its full set of 10 fields, the 3-D check on one of its 3 stacks.
"""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.eval_segmentation import SEEDS_2D, SEEDS_3D, score_field_2d, score_field_3d
from spmito.imaging.synthetic import SynthParams, make_field
from spmito.segment.backends import get_backend
from spmito.segment.cells import segment_cells
from spmito.segment.nuclei import segment_nuclei
from spmito.segment.weights import BUNDLED_MODELS, file_sha256


@pytest.fixture(scope="module")
def scores_2d():
    """The acceptance set: all 10 held-out fields (133 cells; ~4 s each). On fewer fields one
    missed dim nucleus already moves the matching rate by 3 points."""
    return [score_field_2d(seed) for seed in SEEDS_2D]


def test_bundled_cell_model_reaches_ap50_of_0_9_on_held_out_2d_fields(scores_2d):
    assert np.mean([s["ap50_cells"] for s in scores_2d]) >= 0.90


def test_bundled_nucleus_model_finds_bright_and_dim_nuclei(scores_2d):
    assert np.mean([s["ap50_nuclei"] for s in scores_2d]) >= 0.90


def test_found_cells_get_their_own_nucleus_in_98_percent_of_cases(scores_2d):
    found = sum(s["found"] for s in scores_2d)
    right = sum(s["right"] for s in scores_2d)
    assert found >= 0.9 * sum(s["n_cells"] for s in scores_2d)
    assert right >= 0.98 * found


def test_stitched_3d_cells_reach_ap50_of_0_8():
    assert score_field_3d(SEEDS_3D[0], "stitch")["ap50_cells"] >= 0.80


def test_stitching_a_stack_keeps_cellposes_console_output_out(capfd):
    field = make_field(SynthParams.for_ndim(3, size_px=96, n_z=16), 13)
    hoechst = field.channel("hoechst").copy()
    hoechst[:3] = np.median(hoechst)  # planes without a nucleus
    labels = segment_nuclei(hoechst, field.params.voxel_size_um, device="cpu").labels
    assert labels.max() >= 1 and not labels[:3].any()
    printed = capfd.readouterr()
    assert "it/s" not in printed.err + printed.out  # Cellpose's per-stack stitching bar
    assert "no seeds found" not in printed.err + printed.out


def test_3d_flows_mode_segments_a_small_stack():
    field = make_field(SynthParams.for_ndim(3, size_px=160, n_z=32), 11)
    result = segment_cells(field.channel("cell"), field.channel("hoechst"),
                           field.params.voxel_size_um, 12.0, device="cpu", mode_3d="do_3d")
    assert result.labels.shape == field.cells.shape
    assert result.provenance["mode_3d"] == "do_3d"
    assert abs(int(result.labels.max()) - int(field.cells.max())) <= 2


def test_labels_are_on_the_input_grid_and_provenance_names_the_weights():
    field = make_field(SynthParams.for_ndim(2, size_px=256), 12)
    result = segment_nuclei(field.channel("hoechst"), field.params.voxel_size_um, device="cpu")
    assert result.labels.shape == field.nuclei.shape and result.labels.dtype == np.int32
    assert np.array_equal(np.unique(result.labels), np.arange(result.labels.max() + 1))
    provenance = result.provenance
    assert provenance["backend"] == "cellpose3" and provenance["model"] == "bundled"
    assert provenance["model_sha256"] == file_sha256(BUNDLED_MODELS["nuclei"])
    assert provenance["diameter_um"] == 8.0 and provenance["device"] == "cpu"


def test_the_model_loads_once_per_process():
    assert get_backend("bundled", "cells", "cpu") is get_backend("bundled", "cells", "cpu")


def test_mismatched_channels_and_unknown_backends_are_refused():
    with pytest.raises(ValueError, match="same stack"):
        segment_cells(np.zeros((32, 32)), np.zeros((16, 16)), (0.1, 0.1))
    with pytest.raises(ValueError, match="cellpose-sam"):
        segment_cells(np.zeros((32, 32)), None, (0.1, 0.1), backend="cellpose-sam")
