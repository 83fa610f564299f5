"""The truth-free checks of a mitochondria segmentation, on a field whose truth is known."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from spmito.imaging.synthetic import SynthParams, make_field
from spmito.measure.objects.mito_checks import check_segmentation


@pytest.fixture(scope="module")
def field():
    return make_field(SynthParams(size_px=200, snr=10.0), 17)


def test_the_true_objects_pass_and_nothing_covers_nothing(field):
    image, voxel_size_um = field.channel("mito"), field.params.voxel_size_um
    truth = check_segmentation(field.mito, image, voxel_size_um)
    assert truth.coverage_within_resolution >= 0.9 and truth.precision >= 0.9
    assert truth.coverage_within_resolution > truth.coverage
    assert truth.n_objects == len(field.mito_truth)
    assert 0.5 * truth.n_objects <= truth.n_plain <= 1.5 * truth.n_objects
    # the PSF's flanks are outside even the true masks: 87 % of the bright signal lies
    # inside them, 78 % of its pixels (dim flank pixels count as much as bright cores)
    assert 0.7 <= truth.coverage_pixels < truth.coverage < 0.95
    empty = check_segmentation(np.zeros_like(field.mito), image, voxel_size_um)
    assert empty.coverage == empty.coverage_pixels == 0 and empty.n_objects == 0


def test_objects_on_the_background_fail_the_precision(field):
    image, voxel_size_um = field.channel("mito"), field.params.voxel_size_um
    background_blobs = ndi.label(ndi.binary_erosion(field.cells == 0, iterations=10)
                                 & (np.indices(image.shape).sum(axis=0) % 40 < 4))[0]
    checks = check_segmentation(background_blobs, image, voxel_size_um)
    assert checks.precision < 0.2 and checks.coverage < 0.05 and checks.coverage_pixels < 0.05
