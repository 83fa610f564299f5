"""Mitochondria segmentation: accuracy against synthetic truth, invariances, edge cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage as ndi
from scipy.stats import norm

from spmito.imaging.camera import camera_counts
from spmito.imaging.synthetic import SynthParams, make_field
from spmito.measure.objects.mito import count_per_cell
from spmito.segment.mito import (
    MitoParams,
    _axially_deconvolved,
    _significant_scores,
    _zero_variance_level,
    segment_mitochondria,
)
from spmito.segment.mito_params import FWHM_PER_SIGMA

BASELINE = MitoParams(method="otsu")


@pytest.fixture(scope="module")
def fields_2d():
    return [make_field(SynthParams.for_ndim(2, snr=5.0), seed) for seed in (11, 12, 13)]


@pytest.fixture(scope="module")
def fields_3d():
    # moderate difficulty in 3-D: objects at least one axial resolution width (0.84 µm) apart
    return [make_field(SynthParams.for_ndim(3, size_px=256, snr=5.0, mito_gap_um=0.85), seed)
            for seed in (21, 22)]


def _per_cell_errors(fields, params) -> pd.DataFrame:
    """Measured vs true count and total size per cell, inside the true cells."""
    rows = []
    for field in fields:
        voxel_size_um = field.params.voxel_size_um
        labels = segment_mitochondria(field.channel("mito"), voxel_size_um, params,
                                      mask=field.cells > 0)
        counted = count_per_cell(labels, field.cells, field.nuclei, voxel_size_um)
        merged = counted.merge(field.truth, on="cell_id", suffixes=("", "_true"))
        size = "mito_area_um2" if field.params.ndim == 2 else "mito_volume_um3"
        rows.append(pd.DataFrame({
            "count_error": merged["mito_count"] / merged["mito_count_true"] - 1,
            "size_ratio": merged[size] / merged["mito_size"],
        }))
    return pd.concat(rows, ignore_index=True)


def _summary(errors: pd.DataFrame) -> dict:
    return {"within_15": float((errors["count_error"].abs() <= 0.15).mean()),
            "mape": float(errors["count_error"].abs().median()),
            "size_ratio": float(errors["size_ratio"].median())}


def test_2d_counts_and_sizes_match_the_truth_and_beat_global_otsu(fields_2d):
    ours = _summary(_per_cell_errors(fields_2d, MitoParams()))
    baseline = _summary(_per_cell_errors(fields_2d, BASELINE))
    assert ours["within_15"] >= 0.85 and ours["mape"] <= 0.10
    assert 0.8 <= ours["size_ratio"] <= 1.2
    assert abs(ours["size_ratio"] - 1) < abs(baseline["size_ratio"] - 1)


def test_3d_counts_and_volumes_match_the_truth_and_beat_global_otsu(fields_3d):
    ours = _summary(_per_cell_errors(fields_3d, MitoParams()))
    baseline = _summary(_per_cell_errors(fields_3d, BASELINE))
    assert ours["within_15"] >= 0.85 and ours["mape"] <= 0.10
    assert 0.8 <= ours["size_ratio"] <= 1.2
    assert baseline["mape"] > 0.5  # global Otsu merges everything in 3-D haze


def test_3d_volumes_without_axial_deconvolution_carry_the_axial_psf(fields_3d):
    """Objects thinner than the axial PSF come out about as thick as its half maximum: this is
    what the deconvolution corrects (the counts do not depend on it)."""
    apparent = _summary(_per_cell_errors(fields_3d[:1], MitoParams(deconvolution_iterations=0,
                                                                   min_volume_um3=0.05)))
    assert apparent["size_ratio"] > 1.4


def test_axial_deconvolution_recovers_a_thin_slab():
    """A 0.3 µm slab blurred by a 0.84 µm (FWHM) axial PSF is about 0.9 µm thick at half
    maximum; after deconvolution about its own thickness, with the same total signal."""
    z_step_um, sigma_um = 0.1, 0.84 / FWHM_PER_SIGMA
    truth = np.zeros((81, 1, 1), np.float32)
    truth[39:42] = 1.0  # 3 planes of 0.1 µm
    blurred = ndi.gaussian_filter1d(truth, sigma_um / z_step_um, axis=0)

    def half_max_thickness_um(profile):
        return np.count_nonzero(profile > profile.max() / 2) * z_step_um

    restored = _axially_deconvolved(blurred, sigma_um / z_step_um, 20)
    assert half_max_thickness_um(blurred) == pytest.approx(0.9, abs=0.1)
    assert half_max_thickness_um(restored) == pytest.approx(0.3, abs=0.15)
    assert restored.sum() == pytest.approx(blurred.sum(), rel=1e-3)


@pytest.mark.parametrize("ndim", [2, 3])
def test_blockwise_result_equals_the_whole_image_result(ndim, fields_2d, fields_3d):
    field = fields_2d[0] if ndim == 2 else fields_3d[0]
    crop = (slice(0, 160), slice(0, 200)) if ndim == 2 else (slice(None), slice(0, 96),
                                                           slice(0, 128))
    image = field.channel("mito")[crop]
    voxel_size_um = field.params.voxel_size_um
    whole = segment_mitochondria(image, voxel_size_um, block_px=1024)
    blocks = segment_mitochondria(image, voxel_size_um, block_px=48)
    assert whole.max() > 5
    assert np.array_equal(whole, blocks)


def test_mask_restricts_objects(fields_2d):
    field = fields_2d[0]
    mask = np.zeros(field.cells.shape, bool)
    mask[:, :256] = True
    labels = segment_mitochondria(field.channel("mito"), field.params.voxel_size_um, mask=mask)
    assert labels.max() > 10 and not labels[:, 256:].any()


def test_parameters_are_physical_lengths(fields_2d):
    """The same field sampled twice as finely (with half the pixel size) gives the same
    objects: every parameter is converted with the voxel size."""
    field = fields_2d[1]
    image = field.channel("mito").astype(np.float32)
    voxel_size_um = np.asarray(field.params.voxel_size_um)
    coarse = segment_mitochondria(image, voxel_size_um)
    fine = segment_mitochondria(ndi.zoom(image, 2, order=1), voxel_size_um / 2)
    n_coarse, n_fine = coarse.max(), fine.max()
    assert abs(int(n_fine) - int(n_coarse)) <= 0.1 * n_coarse
    area = np.count_nonzero(coarse) * np.prod(voxel_size_um)
    assert np.count_nonzero(fine) * np.prod(voxel_size_um / 2) == pytest.approx(area, rel=0.15)


@pytest.mark.parametrize("method", ["ridge", "otsu"])
def test_other_methods_find_the_mitochondria(method, fields_2d):
    field = fields_2d[2]
    labels = segment_mitochondria(field.channel("mito"), field.params.voxel_size_um,
                                  MitoParams(method=method), mask=field.cells > 0)
    recall = np.mean(ndi.maximum(labels > 0, field.mito,
                                 np.arange(1, field.mito.max() + 1)))
    assert recall > 0.9


def test_contrast_options_keep_the_objects(fields_2d):
    field = fields_2d[2]
    voxel_size_um = field.params.voxel_size_um
    plain = segment_mitochondria(field.channel("mito"), voxel_size_um)
    adjusted = segment_mitochondria(field.channel("mito"), voxel_size_um,
                                    MitoParams(gamma=0.8, clahe_slope=1.8))
    assert abs(int(adjusted.max()) - int(plain.max())) <= 0.15 * plain.max()


def test_noise_free_and_empty_images():
    image = np.zeros((64, 64), np.float32)
    assert segment_mitochondria(image, (0.1, 0.1)).max() == 0
    image[30:33, 20:40] = 100.0  # a clean tube, no noise at all
    labels = segment_mitochondria(image, (0.1, 0.1))
    assert labels.max() == 1 and labels[31, 30] == 1


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="method"):
        MitoParams(method="magic")
    with pytest.raises(ValueError, match="numerical_aperture"):
        MitoParams(numerical_aperture=1.6)
    with pytest.raises(ValueError, match="deconvolution_iterations"):
        MitoParams(deconvolution_iterations=-1)
    with pytest.raises(ValueError, match="axial_fwhm_um"):
        MitoParams(axial_fwhm_um=0.0)
    with pytest.raises(ValueError, match="voxel size"):
        segment_mitochondria(np.zeros((8, 8)), (0.1, 0.1, 0.3))


@pytest.mark.parametrize(("pixel_um", "snr"), [
    (0.2, 8.0), (0.3, 8.0),
    pytest.param(0.3, 4.0, marks=pytest.mark.xfail(strict=True, reason=(
        "0.3 µm at SNR 4 scatters around the 15 % bar: this 8-cell field gives a median "
        "count error of 17 % (area 1.05); with seed 32 added (16 cells) 17 % (18 % before "
        "the 0.35 px edge denoising); the benchmark's held-out seed 2026 13 % "
        "(docs/mito_pixel_sizes.md)"))),
])
def test_counts_and_sizes_hold_at_coarse_pixels(pixel_um, snr):
    """The parameters follow the pixel size: at 0.2–0.3 µm (before: 0 objects per cell)
    counts and total areas stay close to the truth; seeds never used for tuning."""
    field = make_field(SynthParams(pixel_size_um=pixel_um, size_px=int(round(40 / pixel_um)),
                                   snr=snr), 31)
    summary = _summary(_per_cell_errors([field], MitoParams()))
    assert summary["mape"] <= (0.15 if snr < 5 else 0.10)
    assert 0.85 <= summary["size_ratio"] <= 1.15


def test_coarse_pixels_warn_that_counts_are_resolvable_objects(caplog):
    image = np.zeros((64, 64), np.float32)
    with caplog.at_level("WARNING", logger="spmito"):
        segment_mitochondria(image, (0.1, 0.1))
        assert not caplog.records
        segment_mitochondria(image, (0.33, 0.33))
    assert "resolvable objects" in caplog.text and "0.33 µm" in caplog.text


def test_result_does_not_depend_on_the_intensity_scale_or_dtype(fields_2d):
    """float32 arithmetic: a 1e4x brighter float image (float16 overflowed before) and an
    8-bit rescaling give the same objects as the uint16 original."""
    field = fields_2d[0]
    image = field.channel("mito")[:256, :256]
    voxel_size_um = field.params.voxel_size_um
    reference = segment_mitochondria(image, voxel_size_um)
    bright = segment_mitochondria(image.astype(np.float64) * 1e4, voxel_size_um)
    assert np.array_equal(reference, bright)
    scaled = image.astype(float) - image.min()
    eight_bit = np.rint(scaled * (255 / scaled.max())).astype(np.uint8)
    labels = segment_mitochondria(eight_bit, voxel_size_um)
    assert abs(int(labels.max()) - int(reference.max())) <= 0.1 * reference.max()


@pytest.mark.parametrize("pixel_um", [0.1, 0.2])
def test_eight_bit_saturated_hazy_unevenly_lit_fields(pixel_um):
    """An 8-bit camera with gain and offset, 5 % of the mitochondria's pixels saturated,
    cytosolic haze at 15 % of their brightness and 30 % vignetting."""
    params = SynthParams(pixel_size_um=pixel_um, size_px=int(round(40 / pixel_um)), snr=8.0,
                         bit_depth=8, camera_gain=0.5, camera_offset=10, mito_saturation=0.05,
                         mito_haze=0.15, vignetting=0.3)
    summary = _summary(_per_cell_errors([make_field(params, 41)], MitoParams()))
    assert summary["mape"] <= 0.15
    assert 0.85 <= summary["size_ratio"] <= 1.15


def _few_photon_background(photons: float, gain: float, offset: float, bit_depth: int,
                           read_noise: float = 0.0, shape=(512, 512)) -> np.ndarray:
    """Camera counts of a field holding background only (no object anywhere)."""
    return camera_counts(np.random.default_rng(0), np.zeros(shape), photons, read_noise,
                         gain, offset, bit_depth)


@pytest.mark.parametrize("pixel_um", [0.1, 0.2])
@pytest.mark.parametrize("variant", ["8-bit counts", "float in [0, 1]", "denoised"])
def test_few_photon_background_gives_no_objects(variant, pixel_um):
    """One photon per pixel on an 8-bit camera (gain 4 ADU per photon, offset 20): right-skewed
    shot noise. Before the square-root transform its upper tail passed the seed test: 245
    (0.1 µm) and 96 (0.2 µm) objects in the counts, 19 and 251 after a 1-pixel Gaussian
    denoising (correlated noise)."""
    counts = _few_photon_background(1.0, 4.0, 20, 8)
    image = {"8-bit counts": counts, "float in [0, 1]": counts / np.float32(255),
             "denoised": ndi.gaussian_filter(counts.astype(np.float32), 1.0)}[variant]
    assert segment_mitochondria(image, (pixel_um, pixel_um)).max() <= 1


@pytest.mark.parametrize(("photons", "gain", "offset", "bit_depth", "read_noise"), [
    (1.0, 4.0, 20, 8, 0.0),
    (3.0, 1.0, 100, 16, 0.5),
])
def test_false_seeds_on_a_few_photon_background_are_as_rare_as_for_gaussian_noise(
        photons, gain, offset, bit_depth, read_noise):
    """The share of background pixels whose detection score passes the seed threshold, at
    most 5x the Gaussian tail the threshold stands for (3.4e-6 at 0.1 µm). Before: 2.1e-3
    (620x) at 1 photon, 6.1e-5 (18x) at 3 photons."""
    image = _few_photon_background(photons, gain, offset, bit_depth, read_noise)
    voxel_size_um = np.array([0.1, 0.1])
    params = MitoParams()
    _, _, detection = _significant_scores(image, voxel_size_um, params, 256)
    threshold = params.seed_threshold(voxel_size_um)
    assert np.mean(detection > threshold) <= 5 * norm.sf(threshold)


def test_square_root_transform_only_where_the_background_noise_is_skewed():
    """Its level: near the camera offset for one photon per pixel (gain 4, offset 20: the
    level where the shot noise vanishes), also when only the pixels outside a mask are
    background; none for symmetric noise (Gaussian floats, 30 photons with read noise: the
    synthetic fields), for 8-bit noise narrower than 1.5 grey levels (rounding), nor for a
    cut-out cell with nothing outside it."""
    counts = _few_photon_background(1.0, 4.0, 20, 8)
    assert abs(_zero_variance_level(counts) - 20) < 2
    cell = np.zeros(counts.shape, bool)
    cell[:, :200] = True
    hidden = counts.copy()
    hidden[cell] = 250  # whatever lies in the cell does not count
    assert abs(_zero_variance_level(hidden, cell) - 20) < 2
    assert _zero_variance_level(counts, np.ones(counts.shape, bool)) is None

    rng = np.random.default_rng(1)
    assert _zero_variance_level(rng.normal(10.0, 1.0, (512, 512)).astype(np.float32)) is None
    assert _zero_variance_level(_few_photon_background(30.0, 1.0, 100, 16, 2.0)) is None
    narrow = np.clip(np.rint(rng.gamma(2.0, 0.4, (512, 512))) + 3, 0, 255).astype(np.uint8)
    assert _zero_variance_level(narrow) is None
