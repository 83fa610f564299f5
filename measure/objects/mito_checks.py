"""Checks of a mitochondria segmentation without a truth mask (real images).

Three figures, each from a method independent of :mod:`spmito.segment.mito`:

- **coverage**: the share of the bright mitochondrial signal that lies inside objects,
  weighted by the signal (the integrated top-hat above the background level, over the bright
  pixels); ``coverage_pixels`` counts the bright pixels instead (each pixel counts once,
  however bright: the dim flanks of the PSF weigh as much as a mitochondrion's core); also
  within the optical resolution of the objects (``coverage_within_resolution``: objects
  grown by ``RESOLUTION_UM`` laterally and ``AXIAL_RESOLUTION_UM`` along z: a half-maximum
  edge leaves the PSF's flanks outside, and in 3-D a segmentation that removes the axial
  blur rightly leaves out the out-of-focus light above and below a mitochondrion). The
  bright signal is where a plain white top-hat of the image exceeds ``bright_sigmas``
  (default 5) robust sigmas above the background level (:func:`background_level`, per
  plane, in the checked region).
- **precision**: the share of object pixels whose top-hat exceeds the background level by
  ``object_sigmas`` (default 2) robust sigmas, i.e. that are above the background.
- **plain count**: the objects of a second, plain method: the image smoothed by a Gaussian
  of one pixel, its top-hat above its Otsu threshold (over the region), connected
  components of at least ``min_px`` pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

#: Half-side (µm) of the flat cuboid of the plain white top-hat; at least 3 pixels.
TOPHAT_RADIUS_UM = 1.5


@dataclass(frozen=True)
class SegmentationChecks:
    """Truth-free figures of one segmentation (see the module docstring)."""

    coverage: float
    coverage_pixels: float
    coverage_within_resolution: float
    precision: float
    n_objects: int
    n_plain: int


def plain_tophat(image: np.ndarray, voxel_size_um) -> np.ndarray:
    """White top-hat of the image (float32) by a flat cuboid of ``TOPHAT_RADIUS_UM``.

    In 3-D the cuboid is one plane thick: each plane is compared with its own background.
    """
    voxel_size_um = np.asarray(voxel_size_um, float)
    radius = np.maximum(np.rint(TOPHAT_RADIUS_UM / voxel_size_um), 3).astype(int)
    if image.ndim == 3:
        radius[0] = 0
    values = np.asarray(image, np.float32)
    return ndi.white_tophat(values, size=tuple(2 * radius + 1))


def background_level(tophat: np.ndarray, where: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Background level and robust sigma of the top-hat within ``where``, per plane.

    The level is the mode of the values (the peak of their histogram, 256 bins between the
    0.5th and 99.5th percentiles, smoothed over 5 bins): the background's most common value
    however much of the region the objects cover (a cut-out cell full of mitochondria). The
    sigma is 1.4826 x the median distance to the mode of the values below it, which are
    background only. Shaped to broadcast against ``tophat`` (one value in 2-D).
    """
    planes = tophat if tophat.ndim == 3 else tophat[np.newaxis]
    masks = where if where.ndim == 3 else where[np.newaxis]
    centers, sigmas = [], []
    for plane, mask in zip(planes, masks, strict=True):
        values = plane[mask] if mask.any() else plane.ravel()
        counts, edges = np.histogram(values, bins=256,
                                     range=tuple(np.percentile(values, [0.5, 99.5])))
        peak = int(np.argmax(ndi.uniform_filter1d(counts.astype(float), 5)))
        center = 0.5 * float(edges[peak] + edges[peak + 1])
        below = center - values[values < center]
        centers.append(center)
        sigmas.append(1.4826 * float(np.median(below)) if below.size else 0.0)
    shape = (-1, 1, 1) if tophat.ndim == 3 else ()
    return np.reshape(centers, shape), np.reshape(sigmas, shape)


#: Lateral and axial resolution (µm): the FWHM of a widefield PSF at 600 nm and NA 1.3 is
#: 0.23 µm laterally and about 0.8 µm along z.
RESOLUTION_UM = 0.23
AXIAL_RESOLUTION_UM = 0.8


def _grown_by_resolution(objects: np.ndarray, voxel_size_um) -> np.ndarray:
    """Objects grown by the resolution (at least one pixel per axis).

    Where an object ends is known to about the PSF's width: a half-maximum edge leaves the
    PSF's flanks outside, though they are the object's light.
    """
    voxel_size_um = np.asarray(voxel_size_um, float)
    resolution = np.array([AXIAL_RESOLUTION_UM, RESOLUTION_UM, RESOLUTION_UM][-objects.ndim:])
    reach = np.maximum(np.rint(resolution / voxel_size_um), 1).astype(int)
    return ndi.maximum_filter(objects, size=tuple(2 * reach + 1))


def _weighted_share(inside: np.ndarray, weights: np.ndarray) -> float:
    """Share of the ``weights`` (all of them: pass the selected ones) where ``inside``."""
    return float(weights[inside].sum() / max(weights.sum(), 1e-12))


def check_segmentation(labels: np.ndarray, image: np.ndarray, voxel_size_um,
                       mask: np.ndarray | None = None, *, bright_sigmas: float = 5.0,
                       object_sigmas: float = 2.0,
                       min_px: int = 3) -> SegmentationChecks:
    """Coverage, precision and the plain method's object count.

    Parameters
    ----------
    labels : ndarray of int
        Mitochondria labels of ``image``.
    image : ndarray
        The mitochondria channel, 2-D or 3-D.
    voxel_size_um : sequence of float
        Voxel size per axis in µm.
    mask : ndarray of bool, optional
        Where the checks look (e.g. the cell); default everywhere.
    bright_sigmas, object_sigmas : float
        Thresholds in robust sigmas of the background of the bright signal and of an object
        pixel.
    min_px : int
        Smallest object of the plain method (pixels).

    Returns
    -------
    SegmentationChecks
    """
    where = np.ones(image.shape, bool) if mask is None else np.asarray(mask, bool)
    tophat = plain_tophat(image, voxel_size_um)
    center, sigma = background_level(tophat, where)
    inside = (labels > 0) & where
    above = tophat > center + object_sigmas * sigma
    bright = (tophat > center + bright_sigmas * sigma) & where
    signal = (tophat - center)[bright]
    return SegmentationChecks(
        coverage=_weighted_share(inside[bright], signal),
        coverage_pixels=_weighted_share(inside[bright], np.ones_like(signal)),
        coverage_within_resolution=_weighted_share(
            _grown_by_resolution(labels > 0, voxel_size_um)[bright], signal),
        precision=float(np.count_nonzero(above & inside) / max(np.count_nonzero(inside), 1)),
        n_objects=int(np.unique(labels[inside]).size),
        n_plain=plain_count(image, voxel_size_um, where, min_px),
    )


def plain_count(image: np.ndarray, voxel_size_um, where: np.ndarray, min_px: int = 3) -> int:
    """Objects of the plain method: Otsu threshold of the smoothed top-hat, components.

    Parameters
    ----------
    image : ndarray
        The mitochondria channel, 2-D or 3-D.
    voxel_size_um : sequence of float
        Voxel size per axis in µm.
    where : ndarray of bool
        Region looked at (the threshold is computed there).
    min_px : int
        Smallest component counted (pixels or voxels).

    Returns
    -------
    int
    """
    from skimage.filters import threshold_otsu

    smooth = ndi.gaussian_filter(np.asarray(image, np.float32), 1.0)
    tophat = plain_tophat(smooth, voxel_size_um)
    foreground = (tophat > threshold_otsu(tophat[where])) & where
    components, n = ndi.label(foreground, structure=np.ones((3,) * image.ndim, bool))
    sizes = np.bincount(components.ravel(), minlength=n + 1)[1:]
    return int(np.count_nonzero(sizes >= min_px))
