"""Rendering a synthetic field: stains, PSF blur, illumination, camera and saturation."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from spmito.imaging.camera import camera_counts, smooth_field
from spmito.imaging.synthetic.geometry import _Canvas, _Cell, _deep_inside
from spmito.imaging.synthetic.params import EMISSION_UM, SynthParams


def _psf_sigma_px(params: SynthParams, wavelength_um: float) -> tuple[float, ...]:
    """Gaussian PSF sigma per axis in pixels (widefield approximation, oil n=1.518)."""
    lateral = 0.21 * wavelength_um / params.numerical_aperture
    axial = 0.66 * wavelength_um * 1.518 / params.numerical_aperture**2
    sigmas_um = (axial, lateral, lateral) if params.ndim == 3 else (lateral, lateral)
    return tuple(s / p for s, p in zip(sigmas_um, params.voxel_size_um))


def _hoechst_signal(rng, params, canvas, cells: list[_Cell], nuclei: np.ndarray):
    """Nuclear stain whose integral per nucleus is DNA content x stain / dimming."""
    unit_photons = 300.0 * _typical_nucleus_size(params) / float(np.prod(params.voxel_size_um))
    texture = smooth_field(rng, canvas.shape, 0.5 / params.pixel_size_um, 0.25, floor=0.2)
    if params.chromocentre_spacing_um > 0:
        texture += _chromocentres(rng, params, nuclei)
    n_cells = len(cells)
    texture_sum = ndi.sum_labels(texture, nuclei, index=np.arange(1, n_cells + 1))
    integral = np.array([unit_photons * c.dna_content * c.stain / c.hoechst_dimming
                         for c in cells])
    per_label = np.zeros(n_cells + 1)
    per_label[1:] = integral / np.maximum(texture_sum, 1e-12)
    return (texture * per_label[nuclei]).astype(np.float32), integral


#: Chromocentre size (Gaussian sigma, µm): mouse chromocentres are 0.5-1.5 µm across.
CHROMOCENTRE_SIGMA_UM = 0.25


def _chromocentres(rng: np.random.Generator, params: SynthParams,
                   nuclei: np.ndarray) -> np.ndarray:
    """Bright round DNA foci at random places inside the nuclei, peak ``contrast``."""
    inside = np.flatnonzero(nuclei)
    voxel_um = float(np.prod(params.voxel_size_um))
    n_spots = rng.poisson(inside.size * voxel_um / params.chromocentre_spacing_um ** params.ndim)
    spots = np.zeros(nuclei.shape, np.float32)
    spots.flat[rng.choice(inside, size=min(n_spots, inside.size), replace=False)] = 1.0
    sigma_px = [CHROMOCENTRE_SIGMA_UM / size for size in params.voxel_size_um]
    peak = np.prod(np.sqrt(2 * np.pi) * np.asarray(sigma_px))
    return ndi.gaussian_filter(spots, sigma_px) * (peak * params.chromocentre_contrast)


def _typical_nucleus_size(params: SynthParams) -> float:
    """Area (µm², 2-D) or volume (µm³, 3-D) of an average nucleus.

    G1 MP nuclei then average ~300 photons per voxel.
    """
    radius = np.mean(params.nucleus_fraction) * np.mean(params.cell_diameter_um) / 2
    if params.ndim == 2:
        return float(np.pi * radius**2)
    return float(4 / 3 * np.pi * radius**3 * 0.8)


def _cell_signal(params: SynthParams, canvas: _Canvas, cells: np.ndarray,
                 nuclei: np.ndarray) -> np.ndarray:
    """Membrane ring (0.5 µm) plus cytoplasm stain, dim over the nucleus."""
    ring = (cells > 0) & ~_deep_inside(cells, 0.5, canvas.voxel_size_um)
    signal = np.where(cells > 0, 60.0, 0.0)
    signal[nuclei > 0] = 15.0
    signal[ring] = 250.0
    return signal.astype(np.float32)


def _mito_signal(rng: np.random.Generator, params: SynthParams, mito: np.ndarray,
                 cells: np.ndarray, n_mito: int) -> np.ndarray:
    """Per-object brightness (log-normal, CV ~20 %) plus a faint cytosolic haze."""
    brightness = np.zeros(n_mito + 1, np.float32)
    brightness[1:] = np.exp(rng.normal(0.0, 0.2, size=n_mito))
    return brightness[mito] + np.where(cells > 0, params.mito_haze, 0.0).astype(np.float32)


def _illumination(params: SynthParams, canvas: _Canvas) -> np.ndarray | float:
    """Vignetting: illumination falling off quadratically towards the field corners."""
    if params.vignetting <= 0:
        return 1.0
    center = (np.array(canvas.shape[-2:]) - 1) / 2
    yy, xx = np.ogrid[: canvas.shape[-2], : canvas.shape[-1]]
    corner = np.hypot(params.size_px / 2, params.size_px / 2)
    r2 = ((yy - center[0]) ** 2 + (xx - center[1]) ** 2) / corner**2
    return (1.0 - params.vignetting * np.minimum(r2, 1.5)).astype(np.float32)


def _camera(rng: np.random.Generator, params: SynthParams, photons: np.ndarray) -> np.ndarray:
    """Counts of the field's camera (:func:`spmito.imaging.camera.camera_counts`)."""
    return camera_counts(rng, photons, params.background_photons, params.read_noise,
                         params.camera_gain, params.camera_offset, params.bit_depth)


def _saturated(params: SynthParams, adu: np.ndarray, mito: np.ndarray) -> np.ndarray:
    """Clip the brightest ``mito_saturation`` of the mitochondria's pixels to one top level."""
    if params.mito_saturation <= 0 or not np.any(mito):
        return adu
    top = np.quantile(adu[mito > 0], 1.0 - params.mito_saturation, method="higher")
    return np.minimum(adu, top.astype(adu.dtype))


def _emission_um(params: SynthParams, channel: str) -> float:
    """Emission wavelength of a channel (the mito channel's is a parameter)."""
    return params.mito_wavelength_um if channel == "mito" else EMISSION_UM[channel]


def _noise_std(params: SynthParams) -> float:
    return float(np.sqrt(params.background_photons + params.read_noise**2))
