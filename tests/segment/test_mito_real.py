"""Mitochondria segmentation on real images, checked without a truth mask.

Images and voxel sizes: ``tests/segment/real_mito_images.py``. Checks
(:mod:`spmito.measure.objects.mito_checks`): the share of the bright signal (top-hat above 5
robust sigmas of the background) within the optical resolution of the objects, the share of
object pixels above the background, and the object count against a plain Otsu-and-components
count.

Issue 13 asks for 80 % of the bright signal *inside* the objects. That does not hold on any
of these images: 0.48–0.69 of the signal (0.18–0.46 of the bright pixels) in 2-D, 0.17–0.40
(0.04–0.30) in 3-D. A half-maximum edge leaves the PSF's flanks and the out-of-focus glow
outside, and in 3-D the bright signal spans 2.0–2.6 µm along z over objects 0.3–0.35 µm
thick (MitoGraph stacks). Lower edges do not reach 80 % either (at a quarter of the local
maximum 0.63–0.76 in 2-D) and make synthetic areas up to 34 % too large at 0.1 µm pixels
(17–21 % already at 0.4 of the maximum): docs/mito_pixel_sizes.md, section 3b,
``benchmarks/mito_real_images.py --edge-sweep``. The tests therefore assert the share within
the optical resolution of the objects, a deviation from the issue.

Count factor: the plain method merges what touches at its lower threshold (a yeast network
is one or two objects for it), ours splits at half maximum; on these images ours is the
larger, by 1.5–2.7x on the Mito-Hacker cells and the zelda field, 1.7x on the BPAE cell
(3.9x before the square root of skewed backgrounds removed haze texture over the nucleus
and noise in the empty background) and up to 7x on the yeast stacks:
the stated factors are 5 in 2-D and 8 in 3-D.
"""

from __future__ import annotations

import numpy as np
import pytest

from spmito.measure.objects.mito_checks import check_segmentation
from spmito.segment.mito import MitoParams, segment_mitochondria
from tests.segment.real_mito_images import (
    binned_image,
    bpae_cell,
    mitograph_yeast,
    mitohacker_cells,
    nellie_yeast,
    zelda_bpae,
)

#: Our count over the plain method's: at least 1, at most this (2-D, 3-D).
COUNT_FACTOR = {2: 5.0, 3: 8.0}


def _assert_checks(image, min_coverage: float = 0.8):
    labels = segment_mitochondria(image.image, image.voxel_size_um, MitoParams(), mask=image.mask)
    checks = check_segmentation(labels, image.image, image.voxel_size_um, image.mask)
    assert checks.coverage_within_resolution >= min_coverage, (image.name, checks)
    assert checks.precision >= 0.8, (image.name, checks)
    ratio = checks.n_objects / max(checks.n_plain, 1)
    assert 1.0 <= ratio <= COUNT_FACTOR[image.image.ndim], (image.name, checks)
    return checks


@pytest.mark.real_data
def test_zelda_bpae_mitotracker_field(real_data):
    """512² BPAE field at 0.524 µm: before, 0 objects and float16 overflows."""
    checks = _assert_checks(zelda_bpae(real_data))
    assert checks.n_objects > 300  # a dozen cells full of mitochondria


#: The coverage bar of the BPAE cell. Its background holds about 10 photons per pixel, with
#: right-skewed noise (skewness 0.47 of the pixel noise); the check's bright signal (a top-hat
#: above 5 sigmas measured below the mode) takes in the cytoplasmic glow and its shot noise
#: (a top-hat of noise on a bright flat region is positive: the opening follows the noise's
#: minima). Before the square-root transform of skewed backgrounds the segmentation reached
#: 0.85 by outlining that texture (over the nucleus) and the empty background's noise (74
#: objects in a 250 x 400 pixel crop without a cell); without them 0.78, precision 0.92 ->
#: 0.99 (overlay: ``benchmarks/mito_real_images.py``).
BPAE_CELL_MIN_COVERAGE = 0.75


@pytest.mark.real_data
def test_bpae_cell(real_data):
    _assert_checks(bpae_cell(real_data), BPAE_CELL_MIN_COVERAGE)


@pytest.mark.real_data
def test_bpae_cell_background_holds_almost_no_objects(real_data):
    """Rows 430–680, columns 700–1100 of the BPAE cell image hold no cell, only a background of
    about 10 photons per pixel: 74 objects before the square-root transform of skewed shot
    noise, 5 with it."""
    image = bpae_cell(real_data)
    labels = segment_mitochondria(image.image, image.voxel_size_um, MitoParams())
    crop = labels[430:680, 700:1100]
    assert np.unique(crop[crop > 0]).size <= 10


@pytest.mark.real_data
def test_mitohacker_cut_out_cells(real_data):
    """Nine cells cut out by another tool (pixels outside are 0), 8-bit, saturated puncta."""
    for image in mitohacker_cells(real_data):
        _assert_checks(image)


@pytest.mark.real_data
def test_mitograph_yeast_stacks(real_data):
    for image in mitograph_yeast(real_data):
        _assert_checks(image)


@pytest.mark.real_data
def test_nellie_yeast_stack(real_data):
    _assert_checks(nellie_yeast(real_data))


def _total_area_um2(image) -> float:
    labels = segment_mitochondria(image.image, image.voxel_size_um, MitoParams(), mask=image.mask)
    return float(np.count_nonzero(labels) * np.prod(image.voxel_size_um))


@pytest.mark.real_data
@pytest.mark.parametrize("which", ["bpae_cell", "mitohacker"])
def test_total_area_does_not_depend_on_the_sampling(which, real_data):
    """Binned 2x and 3x (pixel size scaled to match), the total mitochondrial area of a cell
    changes by at most 20 %."""
    image = bpae_cell(real_data) if which == "bpae_cell" else mitohacker_cells(real_data)[1]
    reference = _total_area_um2(image)
    for factor in (2, 3):
        assert _total_area_um2(binned_image(image, factor)) == pytest.approx(reference,
                                                                            rel=0.2), factor
