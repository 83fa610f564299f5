"""Mitochondria segmentation in 2-D and 3-D; every length is given in µm.

The default method (``"adaptive"``) follows the Mitochondria-Analyzer recipe of domain.md §3
and adds what real images need, from 0.05 to 0.5 µm per pixel, on any microscope:

Every filter is sized in µm and converted with the voxel size, with a floor in pixels
laterally (denoising 0.5 px, detection 0.5 px, object-edge denoising 0.35 px, Hessian 1 px,
background cuboid half-side 3 px, local-mean sigma 1 px, half-maximum window 1 px): at
coarse pixels a filter sized in µm alone would be sub-pixel and do nothing. Arithmetic is in
float32 whatever the input dtype.

1. optional contrast steps (gamma, CLAHE), off by default;
2. light denoising: a Gaussian of ``denoise_sigma_um`` per axis (floored);
3. background removal: the grey opening by a flat cuboid of half-side
   ``background_radius_um``, averaged over the same cuboid, is subtracted (separable
   minimum/maximum/mean filters: O(N), anisotropic for free). The averaging makes the
   background's values symmetric noise instead of a top-hat's skewed ones;
4. significance: the background-free signal in units of the noise of the *background*. Per
   plane (each plane is its own exposure) the background level is the mode of the values
   (half-sample mode) and the noise their spread below it, where there are background
   voxels only: however dense the mitochondria (a perinuclear network, a cut-out cell that
   fills its crop), they do not raise it. Where the background itself is noisier than that
   (shot noise over cytoplasmic haze or a stained nucleus) the local RMS of the negative
   scores (2 µm neighbourhood) raises the units locally. The same is done for the
   detection response (step 7).
   The spread below the mode stands for the spread above it only if the noise is
   symmetric. Shot noise at a few photons per pixel is right-skewed (skewness
   1/sqrt(photons)), and its upper tail passed the seed test hundreds of times more often
   than a Gaussian's (a 1-photon background field: 245 objects in 512² pixels). Where the
   background's pixel noise is that skewed, the signal is taken as the difference of the
   square roots (generalised Anscombe transform) of the denoised image and of its
   background, which makes the noise symmetric; the transform's level comes from the
   standard deviation and skewness of the background's pixel noise, measured outside the
   cells when a mask is given, else in the dimmest quarter of the image
   (:func:`_zero_variance_level`). Backgrounds of more than about 25 photons (skewness
   below 0.2, the synthetic fields the thresholds were tuned on, most 8-bit and float
   images) keep the linear signal;
5. axial deconvolution (3-D only): the background-free signal is deconvolved along z by the
   axial point spread function (Richardson–Lucy, ``deconvolution_iterations``; Gaussian
   model of a widefield PSF from ``emission_wavelength_um``, ``numerical_aperture`` and
   ``immersion_index``, or a measured ``axial_fwhm_um``). Mitochondria (0.2–0.5 µm) are thinner
   than the axial PSF (about 0.8 µm at NA 1.3), so without it their extent along z is the
   PSF's, not theirs, and volumes come out about twice too large. Laterally the PSF is about
   as wide as the objects and the edges below find their widths, so it is not deconvolved
   (which also keeps blocks independent: z is never cut). The significance and seed scores
   stay on the signal before deconvolution: it changes where objects end, not which are found;
6. object extent (``"adaptive"``): brighter than the local weighted mean (Gaussian-weighted,
   ``block_size_um`` block, as ``skimage.filters.threshold_local(method="gaussian")``) and
   at least ``peak_fraction`` of the brightest voxel within ``peak_halfwidth_um`` (a
   half-maximum edge: sizes do not depend on brightness). ``"ridge"`` replaces the local
   mean by a Hessian test (Sato-type tubeness support: the second Hessian eigenvalue is
   negative and dominates the first) at ``ridge_sigma_um``, which cuts the saddle between
   touching tubules, and keeps the half-maximum edge;
   The extent is taken on the signal denoised by ``denoise_sigma_um`` with a lower floor
   (0.35 px) than the scores': the 0.5 px floor would widen objects and merge neighbours
   one pixel apart at coarse pixels; no floor at all leaves the half-maximum test on the raw
   pixels, whose noise at SNR 4 breaks one-pixel-wide tubules (12 % of the true pixels
   fail it at 0.3 µm) and shrinks them;
7. hysteresis: a connected component (8-connectivity in 2-D, 26 in 3-D) is kept when it
   holds a seed, a voxel whose score after a detection filter close to the PSF
   (``detection_sigma_um``, floored) exceeds ``seed_snr``; its voxels need ``low_snr`` only;
8. objects smaller than ``min_area_um2`` / ``min_volume_um3`` are dropped, then those whose
   peak score is below ``min_relative_peak`` of the bright objects' peaks (haze texture in
   bright stacks).

``"otsu"`` is the global Otsu + connected-components baseline (denoising, Otsu threshold on
the whole image, components, minimum size), kept to compare against.

Pixels coarser than 0.13 µm (about half the optical resolution at NA 1.3, 600 nm; the QC
check's cut-off, :data:`spmito.segment.sampling.MAX_COUNT_PIXEL_UM`) log a warning
(:func:`coarse_pixel_warning`): the counts are then counts of resolvable objects.

Memory: steps 2–6 run on lateral blocks (full depth) with a halo wide enough for the chain of
filters, so the result does not depend on the block size; the whole-image arrays are the input,
two float32 scores, three boolean masks and the int32 labels (about 15 bytes per voxel); the
background-noise statistics of step 4 read at most about a million voxels.

One module (about 760 lines) on purpose: the steps above are one algorithm whose helpers
share the block geometry (``_Geometry``) and are read top to bottom in the order of the
steps; its parameters are in :mod:`spmito.segment.mito_params`.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from spmito.segment.mito_params import MitoParams
from spmito.segment.sampling import MAX_COUNT_PIXEL_UM, pixel_too_coarse_to_count

#: A child of the ``spmito`` logger, whose handlers write the run's log.
log = logging.getLogger("spmito.mito")

#: Gaussian kernels are cut at this many sigmas (scipy's default).
_TRUNCATE = 4.0


def segment_mitochondria(mito_img: np.ndarray, voxel_size_um, params: MitoParams = MitoParams(),
                         mask: np.ndarray | None = None, *, block_px: int = 256) -> np.ndarray:
    """Segment mitochondria into instance labels.

    Parameters
    ----------
    mito_img : ndarray
        Mitochondria channel, ``(Y, X)`` or ``(Z, Y, X)``, any real dtype.
    voxel_size_um : sequence of float
        Voxel size per axis in µm, ``(y, x)`` or ``(z, y, x)``.
    params : MitoParams
        Segmentation parameters.
    mask : ndarray of bool, optional
        Where objects may lie (e.g. ``cells > 0``); voxels outside are background.
    block_px : int
        Lateral block side for the filtering (memory only: results do not depend on it).

    Returns
    -------
    ndarray of int32
        Labels 1..N, one per connected object (8-connectivity in 2-D, 26 in 3-D).
    """
    image = np.asarray(mito_img)
    voxel_size_um = _check_voxel_size(image, voxel_size_um)
    message = coarse_pixel_warning(voxel_size_um, params)
    if message is not None:
        _warn_once(message)
    min_voxels = params.min_size(image.ndim) / float(np.prod(voxel_size_um))
    if params.method == "otsu":
        foreground = _otsu_foreground(image, voxel_size_um, params)
        if mask is not None:
            foreground &= np.asarray(mask, bool)
        return _seeded_components(foreground, foreground, min_voxels)
    foreground, score, detection = _significant_scores(image, voxel_size_um, params, block_px,
                                                       mask)
    foreground &= score > params.low_snr
    if mask is not None:
        foreground &= np.asarray(mask, bool)
    seeds = detection > params.seed_threshold(voxel_size_um)
    del detection
    seeds &= foreground
    labels = _seeded_components(foreground, seeds, min_voxels)
    del foreground, seeds
    return _without_faint_objects(labels, score, params.min_relative_peak)


@functools.lru_cache(maxsize=64)
def _warn_once(message: str) -> None:
    """Log a warning once per process (a batch of images of one pixel size: one line)."""
    log.warning(message)


def coarse_pixel_warning(voxel_size_um, params: MitoParams = MitoParams()) -> str | None:
    """What to tell the user when the pixels are too coarse to count mitochondria, or None.

    Counting needs the lateral pixel at most about half the optical resolution (Nyquist;
    :data:`spmito.segment.sampling.MAX_COUNT_PIXEL_UM`, the cut-off the QC check uses too);
    coarser, two mitochondria about a pixel apart merge and ``mito_count`` counts resolvable
    objects.

    Parameters
    ----------
    voxel_size_um : sequence of float
        Voxel size per axis in µm; the last one is the lateral pixel.
    params : MitoParams
        Its optics give the resolution.

    Returns
    -------
    str or None
    """
    pixel_um = float(np.max(np.asarray(voxel_size_um, float)[-2:]))
    resolution_um = params.lateral_resolution_um()
    if not pixel_too_coarse_to_count(voxel_size_um):
        return None
    return (f"pixels of {pixel_um:.3g} µm are coarser than {MAX_COUNT_PIXEL_UM} µm, about half "
            f"the optical resolution ({resolution_um:.2f} µm at NA {params.numerical_aperture:g}, "
            f"{params.emission_wavelength_um * 1000:.0f} nm): mitochondria closer than about "
            f"{2 * pixel_um:.2g} µm merge, so mito_count counts resolvable objects, not "
            "individual mitochondria; sizes and intensities stay valid")


def _keep_labels(labels: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Relabel int32 ``labels`` in place: ``keep[label]`` ones become 1..N in order, others 0."""
    keep = keep.copy()
    keep[0] = False
    new_ids = np.zeros(keep.size, np.int32)
    new_ids[keep] = np.arange(1, int(keep.sum()) + 1, dtype=np.int32)
    for slab in _slabs(labels):  # np.take casts indices to int64: slab by slab
        np.take(new_ids, slab, out=slab, mode="clip")
    return labels


def _label_sizes(labels: np.ndarray, n: int) -> np.ndarray:
    """Voxels per label 0..n (``bincount`` slab by slab: it casts to int64)."""
    sizes = np.zeros(n + 1, np.int64)
    for slab in _slabs(labels):
        sizes += np.bincount(slab.ravel(), minlength=n + 1)
    return sizes


def _slabs(array: np.ndarray) -> list[np.ndarray]:
    """Views of ``array`` along its first axis, about four million voxels each."""
    return np.array_split(array, max(1, -(-array.size // (1 << 22))), axis=0)


# ------------------------------------------------------------------------------ helpers


def _check_voxel_size(image: np.ndarray, voxel_size_um) -> np.ndarray:
    voxel_size_um = np.asarray(voxel_size_um, float)
    if (image.ndim not in (2, 3) or voxel_size_um.shape != (image.ndim,)
            or np.any(voxel_size_um <= 0)):
        raise ValueError(f"need a 2-D or 3-D image and one positive voxel size per axis in µm; "
                         f"got image shape {image.shape} and voxel size {tuple(voxel_size_um)}")
    return voxel_size_um


def _per_axis_um(axial_um: float, lateral_um: float, ndim: int) -> np.ndarray:
    """A length per axis: ``(axial, lateral, lateral)`` in 3-D, ``(lateral, lateral)`` in 2-D."""
    return np.array([axial_um, lateral_um, lateral_um][-ndim:], float)


def _reach_px(sigma_px: np.ndarray) -> np.ndarray:
    """How far (pixels) a Gaussian filter of ``sigma_px`` reads around a voxel."""
    return (_TRUNCATE * np.asarray(sigma_px) + 0.5).astype(int)


#: Floors (pixels) of the lateral filter sizes: below them a filter is sub-pixel and does not
#: do what its µm size says (coarse pixels, 0.2–0.5 µm).
_MIN_DENOISE_PX = 0.5
_MIN_EXTENT_DENOISE_PX = 0.35
_MIN_DETECTION_PX = 0.5
_MIN_RIDGE_PX = 1.0
_MIN_BACKGROUND_PX = 3
_MIN_BLOCK_SIGMA_PX = 1.0
_MIN_PEAK_PX = 1


def _lateral_floor(values_px: np.ndarray, floor_px: float) -> np.ndarray:
    """``values_px`` with its lateral (last two) entries raised to at least ``floor_px``."""
    floored = np.asarray(values_px, float).copy()
    floored[-2:] = np.maximum(floored[-2:], floor_px)
    return floored


@dataclass(frozen=True)
class _Geometry:
    """The parameters converted to pixels for one voxel size, with floors in pixels."""

    denoise_px: np.ndarray
    extent_denoise_px: np.ndarray
    background_px: np.ndarray
    block_sigma_px: np.ndarray
    peak_px: np.ndarray
    detection_extra_px: np.ndarray
    ridge_px: np.ndarray
    axial_psf_px: float

    @classmethod
    def from_params(cls, params: MitoParams, voxel_size_um: np.ndarray) -> _Geometry:
        ndim = voxel_size_um.size
        denoise = _lateral_floor(params.denoise_sigma_um / voxel_size_um, _MIN_DENOISE_PX)
        detection_total = _lateral_floor(_per_axis_um(*params.detection_sigma_um, ndim)
                                         / voxel_size_um, _MIN_DETECTION_PX)
        background = np.maximum(np.rint(params.background_radius_um / voxel_size_um), 1)
        block_sigma = np.maximum(params.block_size_um / voxel_size_um - 1.0, 0.0) / 6.0
        peak = np.rint(_per_axis_um(*params.peak_halfwidth_um, ndim) / voxel_size_um)
        return cls(
            denoise_px=denoise,
            extent_denoise_px=_lateral_floor(params.denoise_sigma_um / voxel_size_um,
                                             _MIN_EXTENT_DENOISE_PX),
            background_px=_lateral_floor(background, _MIN_BACKGROUND_PX).astype(int),
            block_sigma_px=_lateral_floor(block_sigma, _MIN_BLOCK_SIGMA_PX),
            peak_px=_lateral_floor(peak, _MIN_PEAK_PX).astype(int),
            detection_extra_px=np.sqrt(np.maximum(detection_total**2 - denoise**2, 0.0)),
            ridge_px=_lateral_floor(params.ridge_sigma_um / voxel_size_um, _MIN_RIDGE_PX),
            axial_psf_px=_axial_blur_px(params, voxel_size_um),
        )

    def halo_px(self) -> np.ndarray:
        """Pixels of context a block needs so that its interior equals the whole-image result.

        That is the reach of the longest chain of filters.
        """
        smooth = _reach_px(self.denoise_px)
        tophat = smooth + 3 * self.background_px
        chains = [tophat + _reach_px(self.block_sigma_px), tophat + self.peak_px,
                  tophat + _reach_px(self.detection_extra_px),
                  smooth + _reach_px(self.ridge_px) + 1]
        return np.max(chains, axis=0) + 1


def _axial_blur_px(params: MitoParams, voxel_size_um: np.ndarray) -> float:
    """Sigma (z pixels) of the axial blur of the denoised image: the PSF and the denoising.

    0 in 2-D and when the deconvolution is off.
    """
    if voxel_size_um.size != 3 or params.deconvolution_iterations == 0:
        return 0.0
    return float(np.hypot(params.axial_psf_sigma_um(), params.denoise_sigma_um) / voxel_size_um[0])


def _lateral_blocks(shape: tuple[int, ...], block_px: int, halo_px: np.ndarray
                    ) -> Iterator[tuple[tuple[slice, ...], tuple[slice, ...], tuple[slice, ...]]]:
    """Tile the last two axes; yield ``(outer, inner, inner_within_outer)`` slices.

    ``outer`` adds ``halo_px`` of context (clipped to the image); the depth axis of a 3-D
    image is never cut.
    """
    lead = (slice(None),) * (len(shape) - 2)
    starts = [range(0, n, block_px) for n in shape[-2:]]
    for y0 in starts[0]:
        for x0 in starts[1]:
            inner, outer, local = [], [], []
            for start, n, halo in zip((y0, x0), shape[-2:], halo_px[-2:], strict=True):
                stop = min(start + block_px, n)
                lo, hi = max(start - halo, 0), min(stop + halo, n)
                inner.append(slice(start, stop))
                outer.append(slice(lo, hi))
                local.append(slice(start - lo, stop - lo))
            yield lead + tuple(outer), lead + tuple(inner), lead + tuple(local)


# --------------------------------------------------------------------- the evidence


def _contrast_adjusted(image: np.ndarray, voxel_size_um: np.ndarray,
                       params: MitoParams) -> np.ndarray:
    """Gamma and CLAHE on the image scaled to [0, 1] (returns the input when both are off)."""
    if params.gamma is None and params.clahe_slope is None:
        return image
    from skimage.exposure import equalize_adapthist, rescale_intensity

    adjusted = rescale_intensity(image.astype(np.float32), out_range=(0.0, 1.0))
    if params.gamma is not None:
        np.power(adjusted, params.gamma, out=adjusted)
    if params.clahe_slope is not None:
        nbins = 256
        tile = np.maximum(np.rint(params.clahe_tile_um / voxel_size_um), 2).astype(int)
        adjusted = equalize_adapthist(adjusted, kernel_size=tuple(tile),
                                      clip_limit=params.clahe_slope / nbins, nbins=nbins)
    return adjusted.astype(np.float32)


def _background(image: np.ndarray, radius_px: np.ndarray) -> np.ndarray:
    """The background under the objects: a grey opening, averaged.

    The opening is by a flat cuboid of half-side ``radius_px``; the average over the same
    cuboid.

    The opening alone (a white top-hat) follows the local minima of the noise, so the
    background's values are skewed (heavy upper tail, a lower side pressed against 0) the
    more, the fewer pixels the cuboid holds (coarse pixels); averaged, the opening is a smooth
    surface under the objects, and the background's values are the noise, about symmetric.
    """
    size = tuple(2 * radius_px + 1)
    background = ndi.maximum_filter(ndi.minimum_filter(image, size=size), size=size)
    return ndi.uniform_filter(background, size=size, output=background)


def _axially_deconvolved(signal: np.ndarray, sigma_px: float, n_iterations: int) -> np.ndarray:
    """Richardson–Lucy deconvolution along the first axis by a Gaussian of ``sigma_px``.

    ``estimate <- estimate * (h * (signal / (h * estimate)))`` with the symmetric kernel ``h``,
    started from the signal (Richardson 1972, Lucy 1974; ``skimage.restoration.
    richardson_lucy`` with a 1-D PSF, but with mirrored instead of zero-padded ends: an
    object in the first or last plane is not dimmed). The signal must be non-negative (a
    top-hat is); the total along each column is kept.
    """
    # the blur along the first axis as one matrix product: 5x faster than a filter along
    # the slowest axis of a C-ordered stack, and the same numbers
    n_planes = signal.shape[0]
    kernel = ndi.gaussian_filter1d(np.eye(n_planes), sigma_px, axis=0, mode="reflect",
                                   truncate=_TRUNCATE).astype(np.float32)

    def blur(values: np.ndarray) -> np.ndarray:
        return (kernel @ values.reshape(n_planes, -1)).reshape(values.shape)

    observed = np.maximum(signal, 0.0, dtype=np.float32)
    estimate = observed.copy()
    tiny = np.finfo(np.float32).tiny
    for _ in range(n_iterations):
        ratio = blur(estimate)
        np.divide(observed, np.maximum(ratio, tiny, out=ratio), out=ratio)
        estimate *= blur(ratio)
    return estimate


def _adaptive_extent(signal: np.ndarray, geometry: _Geometry, params: MitoParams) -> np.ndarray:
    """Above the local weighted mean and at least ``peak_fraction`` of the local maximum."""
    local_mean = ndi.gaussian_filter(signal, geometry.block_sigma_px)
    extent = signal > local_mean
    del local_mean
    extent &= _half_maximum_extent(signal, geometry, params)
    return extent


def _half_maximum_extent(signal: np.ndarray, geometry: _Geometry, params: MitoParams
                         ) -> np.ndarray:
    """At least ``peak_fraction`` of the brightest voxel within ``peak_halfwidth_um``."""
    local_max = ndi.maximum_filter(signal, size=tuple(2 * geometry.peak_px + 1))
    local_max *= np.float32(params.peak_fraction)
    return signal > local_max


def _ridge_extent(smooth: np.ndarray, voxel_size_um: np.ndarray, geometry: _Geometry) -> np.ndarray:
    """Cross-sections of bright tubes and blobs, from the Hessian in µm units.

    The second-largest eigenvalue is negative and larger in magnitude than the largest.
    """
    from skimage.feature import hessian_matrix_eigvals

    ndim = smooth.ndim
    elements = []
    for i in range(ndim):
        for j in range(i, ndim):
            order = [0] * ndim
            order[i] += 1
            order[j] += 1
            derivative = ndi.gaussian_filter(smooth, geometry.ridge_px, order=order)
            elements.append(derivative / np.float32(voxel_size_um[i] * voxel_size_um[j]))
    eigenvalues = hessian_matrix_eigvals(elements)  # decreasing along axis 0
    return eigenvalues[1] < -np.abs(eigenvalues[0])


def _object_extent(signal: np.ndarray, smooth: np.ndarray, voxel_size_um: np.ndarray,
                   geometry: _Geometry, params: MitoParams) -> np.ndarray:
    """Where objects lie: the extent test of ``params.method`` on the (deconvolved) signal."""
    if geometry.axial_psf_px > 0:
        signal = _axially_deconvolved(signal, geometry.axial_psf_px,
                                      params.deconvolution_iterations)
    if params.method == "ridge":
        extent = _ridge_extent(smooth, voxel_size_um, geometry)
        extent &= _half_maximum_extent(signal, geometry, params)
        return extent
    return _adaptive_extent(signal, geometry, params)


def _block_evidence(raw: np.ndarray, voxel_size_um: np.ndarray, geometry: _Geometry,
                    params: MitoParams, zero_variance_level: float | None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For one block: the extent mask, the background-free signal and the detection response.

    The scores use the denoising floored at half a pixel; the extent uses the denoising of
    ``denoise_sigma_um`` floored at 0.35 pixel, so that the scores' floor does not widen the
    objects. Voxels whose whole denoising neighbourhood is exactly 0 (the
    padding around a cut-out cell) get a NaN signal: they are no data and stay out of the
    noise statistics.
    """
    raw = raw.astype(np.float32, copy=False)
    smooth = ndi.gaussian_filter(raw, geometry.denoise_px)
    background = _background(smooth, geometry.background_px)
    signal = smooth - background
    if np.array_equal(geometry.extent_denoise_px, geometry.denoise_px):
        extent_signal = signal
    else:
        extent_signal = ndi.gaussian_filter(raw, geometry.extent_denoise_px)
        extent_signal -= background
    del raw
    extent = _object_extent(extent_signal, smooth, voxel_size_um, geometry, params)
    padding = smooth == 0
    del extent_signal
    if zero_variance_level is not None:
        signal = _stabilised_difference(smooth, background, zero_variance_level)
    del smooth, background
    detection = ndi.gaussian_filter(signal, geometry.detection_extra_px)
    signal[padding] = np.nan
    return extent, signal, detection


def _significant_scores(image: np.ndarray, voxel_size_um: np.ndarray, params: MitoParams,
                        block_px: int, mask: np.ndarray | None = None
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Extent mask, significance score and detection score of the whole image (float32).

    Computed in lateral blocks; both scores are then put in units of the background noise,
    per plane (:func:`_in_background_noise_units`).
    """
    adjusted = _contrast_adjusted(image, voxel_size_um, params)
    geometry = _Geometry.from_params(params, voxel_size_um)
    extent = np.zeros(image.shape, bool)
    score = np.zeros(image.shape, np.float32)
    detection = np.zeros(image.shape, np.float32)
    zero_variance_level = _zero_variance_level(adjusted, mask)
    for outer, inner, local in _lateral_blocks(image.shape, block_px, geometry.halo_px()):
        block_extent, block_score, block_detection = _block_evidence(
            adjusted[outer], voxel_size_um, geometry, params, zero_variance_level)
        extent[inner] = block_extent[local]
        score[inner] = block_score[local]
        detection[inner] = block_detection[local]
    no_data = np.isnan(score)
    _in_background_noise_units(score, no_data)
    _in_background_noise_units(detection, no_data)
    score[no_data] = 0.0
    detection[no_data] = 0.0
    _in_local_noise_units(score, detection, voxel_size_um)
    return extent, score, detection


def _stabilised_difference(smooth: np.ndarray, background: np.ndarray, zero_variance_level: float
                           ) -> np.ndarray:
    """``sqrt(smooth - level) - sqrt(background - level)`` (float32; negative roots are 0).

    The generalised Anscombe transform (Murtagh et al. 1995, Makitalo & Foi 2013) up to a
    constant factor: with the noise variance growing linearly with the mean and vanishing at
    ``zero_variance_level``, the square root makes the noise of every level about equally
    wide and symmetric (shot noise at a few photons is right-skewed). Applied to the
    denoised image: a local mean of Poisson-Gaussian counts has the same linear mean-variance
    relation, with the same zero.
    """
    level = np.float32(zero_variance_level)
    stabilised = np.subtract(smooth, level, dtype=np.float32)
    np.sqrt(np.maximum(stabilised, 0.0, out=stabilised), out=stabilised)
    root_background = np.subtract(background, level, dtype=np.float32)
    np.sqrt(np.maximum(root_background, 0.0, out=root_background), out=root_background)
    stabilised -= root_background
    return stabilised


#: Side (pixels) of the lateral blocks of the noise statistics of :func:`_zero_variance_level`,
#: the share of the blocks (the dimmest, in percent) they use, about how many planes and
#: voxels at most enter them (planes and bands of blocks evenly spaced), the fewest residuals
#: they need, and the skewness of the pixel noise below which the transform is off and above
#: which it has its full strength (ramped in between).
_NOISE_BLOCK_PX = 8
_NOISE_DIMMEST_PERCENT = 25
_NOISE_PLANES = 8
_NOISE_FIT_VOXELS = 1 << 20
_NOISE_MIN_SAMPLES = 1 << 14
_SKEW_OFF = 0.2
_SKEW_FULL = 0.4
#: Integer images whose pixel noise is narrower than this (ADU) get no transform: the
#: skewness of their residuals is then that of the rounding to integers, not of the noise
#: (8-bit images of a few grey levels of noise). Photon-counting cameras with a gain of
#: several ADU per photon have wider noise and keep it.
_MIN_NOISE_SD_ADU = 1.5


def _zero_variance_level(image: np.ndarray, mask: np.ndarray | None = None) -> float | None:
    """The level of the square-root transform for the background's shot noise, or None.

    Photon counts are Poisson: at ``n`` photons per pixel (gain ``g`` ADU per photon) the
    noise has the standard deviation ``g sqrt(n)`` and the skewness ``1 / sqrt(n)``, and
    the generalised Anscombe transform ``sqrt(x - level)`` with ``level = background -
    g n`` makes it symmetric with one width at every level (Makitalo & Foi 2013). Both are
    measured on the pixel noise of the background, so no camera model is needed: the
    high-pass residual of every pixel (the pixel minus the mean of its four lateral
    neighbours) in the dimmest ``_NOISE_DIMMEST_PERCENT`` % of the lateral blocks of
    ``_NOISE_BLOCK_PX`` (background; the residual ignores smooth haze and gradients), its
    standard deviation and skewness turned into the pixel's (``r`` has 1.25 times the
    variance and 0.671 times the skewness of white noise), clipped at 6 standard deviations
    (edges of structure). Then ``n = 1 / skewness²`` and ``g n = sd / skewness``.

    Where the skewness is below ``_SKEW_OFF`` (more than about 25 photons per pixel) the
    transform is off (None): after the detection filter the noise is then near Gaussian,
    the thresholds were tuned on such backgrounds (30 photons, skewness 0.15), and the
    linear score keeps its power for faint objects (for Poisson counts the likelihood-ratio
    test is linear in the counts; the square root compresses what lies above the
    background). Between ``_SKEW_OFF`` and ``_SKEW_FULL`` its strength ramps up (the
    skewness it removes is scaled by 0 to 1), so that the result does not jump.
    Symmetric noise (floats, read noise, most 8-bit images) gives no transform.
    """
    planes = image if image.ndim == 3 else image[np.newaxis]
    plane_step = max(1, planes.shape[0] // _NOISE_PLANES)
    band_step = max(1, -(-planes[::plane_step].size // _NOISE_FIT_VOXELS))
    if mask is None:
        outside = [None] * planes.shape[0]
    else:
        outside = ~np.asarray(mask, bool).reshape(planes.shape)
    values, residuals = [], []
    for plane, plane_outside in zip(planes[::plane_step], outside[::plane_step], strict=True):
        plane_values, plane_residuals = _pixel_residual_blocks(plane.astype(np.float32),
                                                               plane_outside, band_step)
        values.append(plane_values)
        residuals.append(plane_residuals)
    values, residuals = np.concatenate(values), np.concatenate(residuals)
    if mask is None and len(values):
        means = values.mean(axis=1)
        dim = means <= np.percentile(means, _NOISE_DIMMEST_PERCENT)
        values, residuals = values[dim], residuals[dim]
    if residuals.size < _NOISE_MIN_SAMPLES:
        return None
    background = float(np.median(values))
    residual = residuals.ravel().astype(np.float64)
    residual -= residual.mean()
    sd = float(np.sqrt(np.mean(np.square(residual))))
    if sd == 0 or (sd < _MIN_NOISE_SD_ADU * np.sqrt(1.25) and _integer_valued(values)):
        return None
    np.clip(residual, -6 * sd, 6 * sd, out=residual)
    skewness = float(np.mean(residual**3) / np.mean(residual**2) ** 1.5) / 0.671
    strength = np.clip((skewness - _SKEW_OFF) / (_SKEW_FULL - _SKEW_OFF), 0.0, 1.0)
    if strength == 0:
        return None
    pixel_sd = sd / np.sqrt(1.25)
    return background - pixel_sd / min(strength * skewness, 1.0)


def _integer_valued(values: np.ndarray) -> bool:
    """Whether ``values`` are integers (counts of an integer image, whatever their dtype)."""
    return bool(np.all(values == np.round(values)))


def _pixel_residual_blocks(plane: np.ndarray, outside: np.ndarray | None, band_step: int
                          ) -> tuple[np.ndarray, np.ndarray]:
    """Pixels and their high-pass residuals, one row per lateral block of ``_NOISE_BLOCK_PX``.

    The residual is the pixel minus the mean of its four lateral neighbours. The blocks lie
    in bands of ``_NOISE_BLOCK_PX`` rows, every ``band_step``-th band (a subsample of big
    planes). Blocks with a pixel next to no data (exact zeros: the padding of a cut-out
    cell) or to the plane's maximum (saturation), or, given ``outside``, with a pixel not
    outside, are left out.
    """
    b = _NOISE_BLOCK_PX
    n_blocks = (plane.shape[1] - 2) // b
    starts = np.arange(0, plane.shape[0] - b - 1, b * band_step)
    if n_blocks == 0 or starts.size == 0:
        return np.empty((0, b * b), np.float32), np.empty((0, b * b), np.float32)
    bands = plane[starts[:, np.newaxis] + np.arange(b + 2)]  # (band, b + 2 rows, columns)
    centre = bands[:, 1:-1, 1:-1]
    residual = centre - 0.25 * (bands[:, :-2, 1:-1] + bands[:, 2:, 1:-1]
                                + bands[:, 1:-1, :-2] + bands[:, 1:-1, 2:])

    def blocks(values: np.ndarray) -> np.ndarray:
        cut = values[:, :, :n_blocks * b].reshape(len(starts), b, n_blocks, b)
        return cut.transpose(0, 2, 1, 3).reshape(-1, b * b)

    def any_per_block(flags: np.ndarray, reach: int) -> np.ndarray:
        """Per block: whether a flagged pixel lies in its columns widened by ``reach``."""
        counts = np.zeros((len(starts), flags.shape[2] + 1), np.int32)
        np.cumsum(flags.any(axis=1), axis=1, out=counts[:, 1:])
        first = np.arange(n_blocks) * b + 1 - reach
        return (counts[:, first + b + 2 * reach] - counts[:, first]).ravel() > 0

    usable = ~any_per_block((bands == 0) | (bands >= plane.max()), 1)
    if outside is not None:
        inside = ~outside[starts[:, np.newaxis] + np.arange(1, b + 1)]
        usable &= ~any_per_block(inside, 0)
    return blocks(centre)[usable], blocks(residual)[usable]


#: At most this many voxels per plane enter the noise statistics (a regular subsample).
_NOISE_SAMPLE = 1 << 18


def _in_background_noise_units(score: np.ndarray, no_data: np.ndarray) -> None:
    """Shift and scale a score, in place, so that the background is 0 with unit spread.

    Per plane in 3-D (each plane is its own exposure), over the image in 2-D. The background
    level is the mode of the values (:func:`_half_sample_mode`): objects only add values
    above it, so it holds however much of the plane they cover (dense perinuclear networks,
    a cell cut out and filling its crop). The spread is measured below the mode, where there
    are background voxels only (1.4826 x their median distance to it): the noise of the
    background, not of the structures, in the units of the filtered score, whatever its
    correlation (resampled, denoised or 8-bit images, EM-CCD).
    """
    planes = score if score.ndim == 3 else score[np.newaxis]
    masks = no_data if no_data.ndim == 3 else no_data[np.newaxis]
    for plane, mask in zip(planes, masks, strict=True):
        stride = max(1, int(np.sqrt(plane.size / _NOISE_SAMPLE)))
        sample = plane[::stride, ::stride][~mask[::stride, ::stride]]
        if sample.size == 0:
            continue
        center = _half_sample_mode(sample)
        below = center - sample[sample < center]
        spread = 1.4826 * float(np.median(below)) if below.size else 0.0
        plane -= np.float32(center)
        plane /= np.float32(max(spread, np.finfo(np.float32).tiny))


#: Gaussian sigma (µm) of the neighbourhood of the local noise, and the grid step (µm) on
#: which it is computed (it varies slowly: haze, the cytoplasm over a nucleus).
_LOCAL_NOISE_SIGMA_UM = 2.0
_LOCAL_NOISE_STEP_UM = 0.5


def _in_local_noise_units(score: np.ndarray, detection: np.ndarray, voxel_size_um: np.ndarray
                          ) -> None:
    """Divide both scores, in place, by the local spread of the background where it exceeds 1.

    Shot noise grows with the signal: over cytoplasmic haze or a stained nucleus the
    background is noisier than the dark background that set the units, and its texture would
    pass for objects. The local spread is the RMS of the negative scores in a Gaussian
    neighbourhood of ``_LOCAL_NOISE_SIGMA_UM``, per plane, computed on a coarser grid and
    interpolated back: the background's noise is symmetric about 0 and objects only add
    positive values, so below 0 there is background only (the failure of a local RMS of
    everything where mitochondria are dense, or dim).
    """
    step = np.maximum(np.rint(_LOCAL_NOISE_STEP_UM / voxel_size_um[-2:]), 1).astype(int)
    sigma_px = _LOCAL_NOISE_SIGMA_UM / (voxel_size_um[-2:] * step)
    score_planes = score if score.ndim == 3 else score[np.newaxis]
    detection_planes = detection if detection.ndim == 3 else detection[np.newaxis]
    for plane, detection_plane in zip(score_planes, detection_planes, strict=True):
        coarse = plane[::step[0], ::step[1]]
        below = (coarse < 0).astype(np.float32)
        weight = ndi.gaussian_filter(below, sigma_px, mode="nearest")
        power = ndi.gaussian_filter(np.square(coarse) * below, sigma_px, mode="nearest")
        spread = np.sqrt(power / np.maximum(weight, 1e-3))
        np.maximum(spread, 1.0, out=spread)
        if np.all(spread == 1.0):
            continue
        zoom = [n / c for n, c in zip(plane.shape, coarse.shape, strict=True)]
        factor = ndi.zoom(spread, zoom, order=1, mode="nearest", grid_mode=True)
        plane /= factor
        detection_plane /= factor


def _half_sample_mode(values: np.ndarray) -> float:
    """Mode of a sample: the half-sample mode of Bickel & Frühwirth (2006).

    Repeatedly keep the densest half of the sorted values (the shortest interval holding half
    of them) until two or three remain.
    """
    ordered = np.sort(values.astype(np.float64, copy=False))
    while ordered.size > 3:
        half = (ordered.size + 1) // 2
        widths = ordered[half - 1:] - ordered[:ordered.size - half + 1]
        start = int(np.argmin(widths))
        ordered = ordered[start:start + half]
    return float(np.mean(ordered)) if ordered.size < 3 else float(np.median(ordered))


def _without_faint_objects(labels: np.ndarray, score: np.ndarray, min_ratio: float
                           ) -> np.ndarray:
    """Drop objects whose peak score is below ``min_ratio`` times the bright objects' peaks.

    The reference is the 90th percentile of the peak scores: robust to one bright artefact and
    to many faint objects.
    """
    n = int(labels.max())
    if n == 0 or min_ratio <= 0:
        return labels
    peaks = np.zeros(n + 1, np.float32)
    inside = labels > 0  # ndimage sorts what it is given: the object voxels only
    peaks[1:] = ndi.maximum(score[inside], labels[inside], np.arange(1, n + 1))
    return _keep_labels(labels, peaks >= min_ratio * np.percentile(peaks[1:], 90))


def _otsu_foreground(image: np.ndarray, voxel_size_um: np.ndarray,
                     params: MitoParams) -> np.ndarray:
    """Baseline: denoised image above its global Otsu threshold."""
    from skimage.filters import threshold_otsu

    smooth = ndi.gaussian_filter(image.astype(np.float32), params.denoise_sigma_um / voxel_size_um)
    return smooth > threshold_otsu(smooth)


def _seeded_components(foreground: np.ndarray, seeds: np.ndarray, min_voxels: float
                       ) -> np.ndarray:
    """Components of ``foreground`` with a seed voxel and at least ``min_voxels`` voxels.

    Full connectivity; numbered 1..N (int32).
    """
    structure = np.ones((3,) * foreground.ndim, bool)
    labels = np.zeros(foreground.shape, np.int32)
    n = ndi.label(foreground, structure=structure, output=labels)
    keep = np.zeros(n + 1, bool)
    keep[labels[seeds]] = True
    keep &= _label_sizes(labels, n) >= min_voxels
    return _keep_labels(labels, keep)
