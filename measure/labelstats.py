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


def mean_per_label(image: np.ndarray, labels: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Mean of ``image`` over each label of ``ids`` (0 for an absent label)."""
    return sum_per_label(image, labels, ids) / np.maximum(voxels_per_label(labels, ids), 1)
