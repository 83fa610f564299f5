"""Statistics of an image over every label in one pass (``bincount`` over the labelled voxels)."""

from __future__ import annotations

import numpy as np


def present_labels(labels: np.ndarray) -> np.ndarray:
    """The labels (> 0) present in a label image, ascending."""
    ids = np.flatnonzero(np.bincount(labels.ravel()))
    return ids[ids > 0]


def voxels_per_label(labels: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Number of voxels of each label of ``ids``."""
    return np.bincount(labels.ravel(), minlength=int(ids.max(initial=0)) + 1)[ids]


def sum_per_label(image: np.ndarray, labels: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Sum of ``image`` over each label of ``ids``.

    Only the labelled voxels are converted to float, so a sparse label image (mitochondria,
    nuclei) costs little memory on a large stack.
    """
    where = labels > 0
    sums = np.bincount(labels[where], weights=image[where].astype(float),
                       minlength=int(ids.max(initial=0)) + 1)
    return sums[ids]


def range_per_label(image: np.ndarray, labels: np.ndarray, ids: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Minimum and maximum of ``image`` over each label of ``ids``.

    ``ndimage`` sorts the values it is given: giving it the labelled voxels only keeps a
    sparse label image (mitochondria) cheap.
    """
    from scipy import ndimage as ndi

    where = labels > 0
    values, owners = image[where], labels[where]
    return (np.asarray(ndi.minimum(values, owners, ids)),
            np.asarray(ndi.maximum(values, owners, ids)))


def mean_per_label(image: np.ndarray, labels: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Mean of ``image`` over each label of ``ids`` (0 for an absent label)."""
    return sum_per_label(image, labels, ids) / np.maximum(voxels_per_label(labels, ids), 1)


def centroids_per_label(labels: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Centroid (pixels, one column per axis) of each label of ``ids``.

    Coordinate sums are accumulated plane by plane (row by row in 2-D) with ``bincount``:
    no per-label loop, and no full-size float image per axis as in
    ``ndimage.center_of_mass``.
    """
    n = int(ids.max(initial=0)) + 1
    sums = np.zeros((n, labels.ndim))
    counts = np.zeros(n)
    for first, plane in enumerate(labels):
        inside = plane > 0
        owners = plane[inside]
        counts += np.bincount(owners, minlength=n)
        sums[:, 0] += first * np.bincount(owners, minlength=n)
        for axis, coordinate in enumerate(np.nonzero(inside), start=1):
            sums[:, axis] += np.bincount(owners, weights=coordinate, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums[ids] / counts[ids, None]
