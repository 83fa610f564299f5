"""The mitochondria knobs of the synthetic generator: layouts, optics, camera, saturation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from spmito.imaging.synthetic import SynthParams, make_field

SMALL = dict(size_px=160, mito_count_mp=12.0)


def test_fragmented_fields_hold_puncta_and_networked_fields_networks():
    fragmented = make_field(SynthParams(mito_layout="fragmented", **SMALL), 3).truth
    networked = make_field(SynthParams(mito_layout="networked", **SMALL), 3).truth
    assert fragmented["n_networks"].sum() == 0
    assert fragmented["n_puncta"].sum() > 2 * fragmented["n_tubules"].sum()
    assert networked["n_networks"].sum() > networked["n_puncta"].sum()
    # the fragmentation index (count / total size) tells them apart
    index = [(t["mito_count"] / t["mito_size"]).median() for t in (fragmented, networked)]
    assert index[0] > 2 * index[1]


def test_eight_bit_output_with_gain_and_offset_keeps_the_snr():
    params = SynthParams(bit_depth=8, camera_gain=0.4, camera_offset=10, **SMALL)
    field = make_field(params, 5)
    mito = field.channel("mito")
    assert mito.dtype == np.uint8
    background = mito[field.cells == 0].astype(float)
    assert np.median(background) == pytest.approx(10 + 0.4 * params.background_photons, abs=2)
    objects = mito[field.mito > 0].astype(float) - np.median(background)
    snr = np.median(objects) / background.std()
    assert snr == pytest.approx(params.snr, rel=0.25)


def test_saturation_clips_the_requested_share_of_mitochondria_pixels():
    field = make_field(SynthParams(mito_saturation=0.1, **SMALL), 6)
    mito = field.channel("mito")
    top = mito.max()
    share = np.mean(mito[field.mito > 0] == top)
    assert 0.07 <= share <= 0.13
    assert top < np.iinfo(np.uint16).max


def test_psf_width_follows_wavelength_and_numerical_aperture():
    """A lower NA blurs the mitochondria: less of their light stays in the truth mask."""
    def light_inside(numerical_aperture):
        field = make_field(SynthParams(numerical_aperture=numerical_aperture, snr=50.0,
                                       mito_haze=0.0, **SMALL), 8)
        signal = field.channel("mito").astype(float) - np.median(field.channel("mito"))
        near = ndi.binary_dilation(field.mito > 0, iterations=6)
        return signal[field.mito > 0].sum() / signal[near].sum()

    assert light_inside(0.6) < light_inside(1.4) - 0.1


def test_bad_mito_knobs_are_refused():
    with pytest.raises(ValueError, match="mito_layout"):
        SynthParams(mito_layout="tangled")
    with pytest.raises(ValueError, match="bit_depth"):
        SynthParams(bit_depth=12)
    with pytest.raises(ValueError, match="mito_saturation"):
        SynthParams(mito_saturation=1.0)
