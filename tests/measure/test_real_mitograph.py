"""Real yeast stacks against MitoGraph's own numbers (a reference from another tool).

One budding-yeast cell per stack, voxel 0.056 x 0.056 x 0.2 µm (not in the files). The cell is
the whole stack and there is no nucleus, so K is the whole stack.

MitoGraph binarises the raw stack, so its "volume from voxels" carries the axial blur, like
ours without the axial deconvolution: volumes are compared in that convention. With the
deconvolution (the default) the tubules lose the axial PSF's extra thickness; what is checked
then is that they come out about as thick along z as they are wide, as round tubules are.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import tifffile

from spmito.measure.objects.cells import measure_cells
from spmito.segment.mito import MitoParams, segment_mitochondria

VOXEL_SIZE_UM = (0.2, 0.056, 0.056)
FILES = [f"BuddingYeastGlucose0{i}" for i in range(1, 6)]

#: MitoGraph's convention: thresholds on the blurred stack, domain.md's minimum object.
APPARENT = MitoParams(deconvolution_iterations=0, min_volume_um3=0.05)


def _stacks(real_data):
    folder = real_data / "mitograph_yeast"
    reference = pd.read_csv(folder / "reference_mitograph_outputs.csv").set_index("file")
    for name in FILES:
        yield name, tifffile.imread(folder / f"{name}.tif"), reference.loc[name]


def _whole_stack_row(image: np.ndarray, labels: np.ndarray) -> pd.Series:
    whole_stack = np.ones(image.shape, np.int32)
    return measure_cells(whole_stack, np.zeros_like(whole_stack), labels, VOXEL_SIZE_UM,
                         hoechst_img=np.zeros_like(image), mito_img=image).iloc[0]


def _mean_chord_um(mask: np.ndarray, axis: int) -> float:
    """Mean length of the runs of object voxels crossed by lines along ``axis`` (µm)."""
    crossed = mask.sum(axis=axis)
    return float(crossed[crossed > 0].mean()) * VOXEL_SIZE_UM[axis]


def _axial_over_lateral(mask: np.ndarray) -> float:
    """Mean chord along z over the mean of the chords along y and x."""
    lateral = (_mean_chord_um(mask, 1) + _mean_chord_um(mask, 2)) / 2
    return _mean_chord_um(mask, 0) / lateral


@pytest.mark.real_data
def test_apparent_volume_and_length_agree_with_mitograph_within_30_percent(real_data):
    for name, image, expected in _stacks(real_data):
        row = _whole_stack_row(image, segment_mitochondria(image, VOXEL_SIZE_UM, APPARENT))
        assert row["mito_volume_um3"] == pytest.approx(expected["volume_from_voxels_um3"],
                                                       rel=0.3), name
        assert row["mito_skeleton_length_um"] == pytest.approx(expected["total_length_um"],
                                                               rel=0.3), name


@pytest.mark.real_data
def test_deconvolved_tubules_are_as_thick_as_wide_and_as_long_as_mitograph_finds(real_data):
    for name, image, expected in _stacks(real_data):
        labels = segment_mitochondria(image, VOXEL_SIZE_UM)
        apparent = segment_mitochondria(image, VOXEL_SIZE_UM, APPARENT)
        assert _axial_over_lateral(apparent > 0) > 1.3, name  # the axial PSF's extra
        assert 0.8 <= _axial_over_lateral(labels > 0) <= 1.2, name
        row = _whole_stack_row(image, labels)
        assert row["mito_skeleton_length_um"] == pytest.approx(expected["total_length_um"],
                                                               rel=0.3), name
