"""Statistics of an image over every label, in one pass over the image.

``np.bincount`` casts its input to int64 and its weights to float64; running it on slabs of
about four million voxels keeps those copies small on large stacks.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

#: Voxels per slab.
_SLAB_VOXELS = 1 << 22


def _slabs(*arrays: np.ndarray) -> Iterator[tuple[np.ndarray, ...]]:
    """Matching slabs of same-shape arrays along the first axis."""
    shape = arrays[0].shape
    step = max(1, _SLAB_VOXELS // max(1, int(np.prod(shape[1:]))))
    for start in range(0, shape[0], step):
        yield tuple(a[start:start + step] for a in arrays)


def present_labels(labels: np.ndarray) -> np.ndarray:
    """The labels (> 0) present in a label image, ascending."""
    counts = np.zeros(int(labels.max(initial=0)) + 1, np.int64)
    for (slab,) in _slabs(labels):
        counts += np.bincount(slab.ravel(), minlength=counts.size)
    ids = np.flatnonzero(counts)
    return ids[ids > 0]


def voxels_per_label(labels: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Number of voxels of each label of ``ids`` (labels may be negative: not counted)."""
    n = int(ids.max(initial=0)) + 1
    counts = np.zeros(n, np.int64)
    for (slab,) in _slabs(labels):
        inside = (slab > 0) & (slab < n)
        counts += np.bincount(slab[inside], minlength=n)
    return counts[ids]


def sum_per_label(image: np.ndarray, labels: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Sum of ``image`` over each label of ``ids`` (labels may be negative: not counted)."""
    n = int(ids.max(initial=0)) + 1
    sums = np.zeros(n)
    for image_slab, slab in _slabs(image, labels):
        inside = (slab > 0) & (slab < n)
        sums += np.bincount(slab[inside], weights=image_slab[inside].astype(float),
                            minlength=n)
    return sums[ids]


def mean_per_label(image: np.ndarray, labels: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Mean of ``image`` over each label of ``ids`` (0 for an absent label)."""
    return sum_per_label(image, labels, ids) / np.maximum(voxels_per_label(labels, ids), 1)


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


def centroids_per_label(labels: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Centroid (pixels, one column per axis) of each label of ``ids``.

    Coordinate sums are accumulated with ``bincount``, plane by plane in 3-D (a 2-D image is
    one plane): no per-label loop, and no full-size float image per axis as in
    ``ndimage.center_of_mass``.
    """
    n = int(ids.max(initial=0)) + 1
    sums = np.zeros((n, labels.ndim))
    counts = np.zeros(n)
    planes = labels if labels.ndim == 3 else labels[np.newaxis]
    for z, plane in enumerate(planes):
        inside = (plane > 0) & (plane < n)
        owners = plane[inside]
        per_label = np.bincount(owners, minlength=n)
        counts += per_label
        if labels.ndim == 3:
            sums[:, 0] += z * per_label
        for axis, coordinate in enumerate(np.nonzero(inside), start=labels.ndim - 2):
            sums[:, axis] += np.bincount(owners, weights=coordinate, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums[ids] / counts[ids, None]


def labels_on_lateral_edge(labels: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Whether each of ``ids`` touches the lateral image edge.

    Parameters
    ----------
    labels : ndarray of int
        ``(Y, X)`` or ``(Z, Y, X)`` labels.
    ids : array-like of int
        Labels to look up.

    Returns
    -------
    ndarray of bool
        True where the label lies on the first or last row or column (of any plane).
    """
    faces = [np.take(labels, index, axis=axis).ravel() for axis in (-2, -1) for index in (0, -1)]
    return np.isin(np.asarray(ids), np.unique(np.concatenate(faces)))
