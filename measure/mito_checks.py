"""Checks of a mitochondria segmentation without a truth mask (real images).

Three figures, each from a method independent of :mod:`segment.mito`:

- **coverage**: the share of the bright mitochondrial signal that lies inside objects. The
  bright signal is where a plain white top-hat of the image exceeds ``bright_sigmas``
  (default 5) robust sigmas above its median (1.4826 x the median absolute deviation, per
  plane, in the checked region): the background's spread as long as objects cover less than
  half of the region, larger (stricter) where they cover more.
- **precision**: the share of object pixels whose top-hat exceeds its median by
  ``object_sigmas`` (default 2) robust sigmas, i.e. that are above the background.
- **plain count**: the objects of a second, plain method: the same top-hat above
  ``plain_sigmas`` (default 4) robust sigmas, connected components, at least ``min_px``
  pixels.
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
    precision: float
    n_objects: int
    n_plain: int


def plain_tophat(image: np.ndarray, spacing_um) -> np.ndarray:
    """White top-hat of the image (float32) by a flat cuboid of ``TOPHAT_RADIUS_UM``.

    In 3-D the cuboid is one plane thick: each plane is compared with its own background.
    """
    spacing = np.asarray(spacing_um, float)
    radius = np.maximum(np.rint(TOPHAT_RADIUS_UM / spacing), 3).astype(int)
    if image.ndim == 3:
        radius[0] = 0
    values = np.asarray(image, np.float32)
    return ndi.white_tophat(values, size=tuple(2 * radius + 1))


def background_level(tophat: np.ndarray, where: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median and robust sigma (1.4826 x MAD) of the top-hat within ``where``, per plane.

    Shaped to broadcast against ``tophat`` (one value in 2-D).
    """
    planes = tophat if tophat.ndim == 3 else tophat[np.newaxis]
    masks = where if where.ndim == 3 else where[np.newaxis]
    centers, sigmas = [], []
    for plane, mask in zip(planes, masks, strict=True):
        values = plane[mask] if mask.any() else plane.ravel()
        center = float(np.median(values))
        centers.append(center)
        sigmas.append(1.4826 * float(np.median(np.abs(values - center))))
    shape = (-1, 1, 1) if tophat.ndim == 3 else ()
    return np.reshape(centers, shape), np.reshape(sigmas, shape)


def check_segmentation(labels: np.ndarray, image: np.ndarray, spacing_um,
                       mask: np.ndarray | None = None, *, bright_sigmas: float = 5.0,
                       object_sigmas: float = 2.0, plain_sigmas: float = 4.0,
                       min_px: int = 3) -> SegmentationChecks:
    """Coverage, precision and the plain method's object count.

    Parameters
    ----------
    labels : ndarray of int
        Mitochondria labels of ``image``.
    image : ndarray
        The mitochondria channel, 2-D or 3-D.
    spacing_um : sequence of float
        Voxel size per axis in µm.
    mask : ndarray of bool, optional
        Where the checks look (e.g. the cell); default everywhere.
    bright_sigmas, object_sigmas, plain_sigmas : float
        Thresholds in noise sigmas of the bright signal, of an object pixel and of the plain
        method.
    min_px : int
        Smallest object of the plain method (pixels).

    Returns
    -------
    SegmentationChecks
    """
    where = np.ones(image.shape, bool) if mask is None else np.asarray(mask, bool)
    tophat = plain_tophat(image, spacing_um)
    center, sigma = background_level(tophat, where)
    bright = (tophat > center + bright_sigmas * sigma) & where
    inside = (labels > 0) & where
    above = tophat > center + object_sigmas * sigma
    plain = (tophat > center + plain_sigmas * sigma) & where
    components, n = ndi.label(plain, structure=np.ones((3,) * image.ndim, bool))
    sizes = np.bincount(components.ravel(), minlength=n + 1)[1:]
    n_objects = np.unique(labels[inside]).size
    return SegmentationChecks(
        coverage=float(tophat[bright & inside].sum() / max(tophat[bright].sum(), 1e-12)),
        precision=float(np.count_nonzero(above & inside) / max(np.count_nonzero(inside), 1)),
        n_objects=int(n_objects),
        n_plain=int(np.count_nonzero(sizes >= min_px)),
    )
