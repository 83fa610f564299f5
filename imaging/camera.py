"""The camera and texture model shared by the synthetic images (fields, plates, cell sheets).

One place for how photons become counts, so that every synthetic image has the same noise.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi


def camera_counts(rng: np.random.Generator, photons: np.ndarray, background_photons: float,
                  read_noise: float, gain: float = 1.0, offset: float = 100,
                  bit_depth: int = 16) -> np.ndarray:
    """Poisson shot noise, Gaussian read noise, gain and offset; clipped to the bit depth.

    Parameters
    ----------
    rng : numpy.random.Generator
        Draws the shot noise, then the read noise (in that order).
    photons : ndarray
        Expected signal photons per pixel (the background is added).
    background_photons : float
        Expected background photons per pixel.
    read_noise : float
        Read noise SD in electrons.
    gain : float
        ADU per electron.
    offset : float
        Camera offset in ADU.
    bit_depth : {8, 16}
        The counts' integer type.

    Returns
    -------
    ndarray of uint8 or uint16
    """
    electrons = rng.poisson(np.clip(photons + background_photons, 0, None))
    electrons = electrons + rng.normal(0.0, read_noise, size=photons.shape)
    adu = electrons * gain + offset
    dtype = np.uint8 if bit_depth == 8 else np.uint16
    return np.clip(np.rint(adu), 0, np.iinfo(dtype).max).astype(dtype)


def smooth_field(rng: np.random.Generator, shape: tuple[int, ...], sigma_px,
                 amplitude: float, floor: float) -> np.ndarray:
    """1 + a smooth zero-mean random field of relative SD ``amplitude``, at least ``floor``."""
    noise = ndi.gaussian_filter(rng.normal(size=shape).astype(np.float32), sigma_px)
    noise /= noise.std() + 1e-12
    return np.clip(1.0 + amplitude * noise, floor, None)
