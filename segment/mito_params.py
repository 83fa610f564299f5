"""Parameters of the mitochondria segmentation (:class:`MitoParams`).

The method is described in :mod:`spmito.segment.mito`; a config's ``[mito]`` table
holds these fields.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

METHODS = ("adaptive", "ridge", "otsu")

#: 2-D seeds: Gaussian tail (beyond 4.5) per pixel at the reference pixel size (µm), and how
#: it grows with the pixel area (1: a constant false-seed rate per µm²).
_SEED_TAIL_AT_REFERENCE = 3.4e-6
_REFERENCE_PIXEL_UM = 0.1
_SEED_TAIL_AREA_EXPONENT = 1.3

#: FWHM of a Gaussian over its sigma, 2 sqrt(2 ln 2).
FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))


@dataclass(frozen=True)
class MitoParams:
    """Mitochondria segmentation parameters; lengths in µm, scores in noise standard deviations.

    Parameters
    ----------
    method : {"adaptive", "ridge", "otsu"}
        Object extent from the local weighted mean and half maximum (default); from a Hessian
        ridge test and half maximum (dense tubular networks); or the global-Otsu baseline.
    background_radius_um : float
        Half-side of the flat cuboid of the white top-hat (domain.md: 1.25 µm).
    denoise_sigma_um : float
        Gaussian denoising sigma (0.08 µm is 0.5–1 pixel at usual pixel sizes).
    gamma : float or None
        Gamma applied to the image scaled to [0, 1] before anything else; domain.md suggests
        0.8 (2-D) or 0.9 (3-D). None: off.
    clahe_slope : float or None
        CLAHE maximum slope (ImageJ convention, domain.md: 1.8); None: off. CLAHE runs on the
        whole image, not in blocks (it needs a few float copies of the image).
    clahe_tile_um : float
        CLAHE tile side.
    block_size_um : float
        Block of the local weighted-mean threshold (domain.md: 1.25 µm).
    peak_fraction : float
        An object voxel is at least this fraction of the brightest voxel nearby (0.5: the
        object ends at half maximum, like a FWHM).
    peak_halfwidth_um : (float, float)
        ``(axial, lateral)`` half-widths of "nearby" for ``peak_fraction``. The axial one is
        about an axial resolution, so that the out-of-focus flanks of an object above or
        below are not objects; longer windows start to erase dim objects that sit under
        bright ones.
    detection_sigma_um : (float, float)
        ``(axial, lateral)`` total Gaussian sigma of the seed detection filter (close to the
        PSF of a high-NA objective).
    ridge_sigma_um : float
        Scale of the Hessian for ``method="ridge"`` (about a tubule radius).
    deconvolution_iterations : int
        Richardson–Lucy iterations of the axial deconvolution (3-D only). 0 turns it off: the
        extent along z is then about the axial PSF's half maximum, the convention of tools
        that threshold the raw stack (MitoGraph, Mitochondria Analyzer), and volumes of
        objects thinner than the PSF come out about twice their true size. On the synthetic
        stacks (docs/mito_counting_limits.md) 15–40 iterations give volumes within ±12 % of
        the truth; fewer deconvolve less, more thin the objects further and start to split
        them in the noise.
    emission_wavelength_um, numerical_aperture, immersion_index : float
        Optics of the Gaussian widefield PSF model (Zhang, Zerubia & Olivo-Marin 2007): axial
        sigma ``0.66 * wavelength * index / NA**2``, i.e. an axial FWHM of 0.84 µm for the
        defaults (600 nm, NA 1.3, oil).
    axial_fwhm_um : float or None
        Measured axial FWHM of the PSF (beads), used instead of the widefield model; set it
        for confocal and spinning-disk stacks, whose axial PSF is narrower.
    low_snr : float
        Score every object voxel must exceed (2: the half-maximum edge of dim objects, not
        this, ends them).
    seed_snr : float or None
        Detection score at least one voxel of an object must exceed. None: 6 in 3-D; in 2-D
        4.5 at 0.1 µm pixels and, at other pixel sizes, the Gaussian tail 3.4e-6 x
        ((pixel / 0.1 µm)²)^1.3: 4.6 at 0.08 µm, 4.1 at 0.2 µm, 3.85 at 0.3 µm, 3.5 at
        0.5 µm. A constant false-seed rate per µm² (exponent 1) would give 4.0 at 0.3 µm;
        there puncta are one pixel, their detection cannot average over several pixels, and
        at SNR 4 about 15 % of the objects peak below 4: the slightly higher false-seed rate
        per µm² balances missed puncta against false seeds (tuned on
        ``SeedSequence([7, i])``, 15 fields at 0.3 µm, SNR 4, with the 0.35 px edge
        denoising: median count error 10.5 % -> 10.0 %, median bias -5 % -> 0, worst group
        of 3 fields 17 % -> 12 %). A stack holds 30–60 times more voxels per cell than a
        field, so it needs a higher threshold for the same rate per cell (the tail beyond 6
        is about 1e-9).
    min_relative_peak : float
        Objects whose peak score is below this fraction of the 90th percentile of the peak
        scores of all the objects of the image are dropped: out-of-focus haze and cytosolic
        texture reach "significant" scores in bright real stacks (a few % of the peaks of
        real mitochondria). 0 disables.
    min_area_um2, min_volume_um3 : float
        Smallest object kept in 2-D and 3-D. domain.md gives 0.06 µm² and 0.05 µm³; the latter
        is a volume with the axial blur (Mitochondria Analyzer does not deconvolve), about twice
        the deconvolved volume of a small object, hence 0.025 µm³ here.
    """

    method: str = "adaptive"
    background_radius_um: float = 1.25
    denoise_sigma_um: float = 0.08
    gamma: float | None = None
    clahe_slope: float | None = None
    clahe_tile_um: float = 8.0
    block_size_um: float = 1.25
    peak_fraction: float = 0.5
    peak_halfwidth_um: tuple[float, float] = (1.0, 0.6)
    detection_sigma_um: tuple[float, float] = (0.25, 0.1)
    ridge_sigma_um: float = 0.1
    deconvolution_iterations: int = 20
    emission_wavelength_um: float = 0.6
    numerical_aperture: float = 1.3
    immersion_index: float = 1.518
    axial_fwhm_um: float | None = None
    low_snr: float = 2.0
    seed_snr: float | None = None
    min_relative_peak: float = 0.1
    min_area_um2: float = 0.06
    min_volume_um3: float = 0.025

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown mitochondria method {self.method!r}; "
                             f"choose one of {', '.join(METHODS)}")
        if not 0.0 <= self.peak_fraction < 1.0:
            raise ValueError(f"peak_fraction must be in [0, 1), got {self.peak_fraction}")
        if self.deconvolution_iterations < 0:
            raise ValueError("deconvolution_iterations must be >= 0, "
                             f"got {self.deconvolution_iterations}")
        if not 0.0 < self.numerical_aperture < self.immersion_index:
            raise ValueError(f"numerical_aperture must be in (0, immersion_index="
                             f"{self.immersion_index}), got {self.numerical_aperture}")
        if self.emission_wavelength_um <= 0 or (self.axial_fwhm_um is not None
                                                and self.axial_fwhm_um <= 0):
            raise ValueError("emission_wavelength_um and axial_fwhm_um must be positive")

    def seed_threshold(self, voxel_size_um) -> float:
        """``seed_snr``, or its default for the voxel size (see the class docstring)."""
        if self.seed_snr is not None:
            return self.seed_snr
        voxel_size_um = np.asarray(voxel_size_um, float)
        if voxel_size_um.size == 3:
            return 6.0
        from scipy.special import ndtri

        area_ratio = float(np.prod(voxel_size_um)) / _REFERENCE_PIXEL_UM**2
        tail = _SEED_TAIL_AT_REFERENCE * area_ratio**_SEED_TAIL_AREA_EXPONENT
        return float(-ndtri(min(tail, 1e-3)))

    def lateral_resolution_um(self) -> float:
        """Rayleigh lateral resolution ``0.61 * wavelength / NA`` (0.28 µm by default)."""
        return 0.61 * self.emission_wavelength_um / self.numerical_aperture

    def min_size(self, ndim: int) -> float:
        """Smallest object kept: µm² in 2-D, µm³ in 3-D."""
        return self.min_area_um2 if ndim == 2 else self.min_volume_um3

    def axial_psf_sigma_um(self) -> float:
        """Sigma of the Gaussian axial PSF: from ``axial_fwhm_um``, else the widefield model."""
        if self.axial_fwhm_um is not None:
            return self.axial_fwhm_um / FWHM_PER_SIGMA
        return (0.66 * self.emission_wavelength_um * self.immersion_index
                / self.numerical_aperture**2)
