"""Training images as the networks see them: object sizes in pixels, two channels, planes.

Used by the training (:mod:`spmito.segment.training`), ``spmito train`` and the training
scripts, which must measure and cut their images the way the training does.
"""

from __future__ import annotations

import numpy as np


def median_diameter_px(labels: np.ndarray) -> float:
    """Median equivalent-circle diameter (pixels) of the objects of a 2-D label image."""
    sizes = np.bincount(np.asarray(labels).ravel())[1:]
    sizes = sizes[sizes > 0]
    if not len(sizes):
        raise ValueError("a training mask has no objects")
    return float(2.0 * np.sqrt(np.median(sizes) / np.pi))


def two_channels(image: np.ndarray) -> np.ndarray:
    """A 2-D training image as ``(2, Y, X)``: object channel, helper channel (zeros if absent).

    Accepts ``(Y, X)``, ``(1, Y, X)`` or ``(2, Y, X)``.
    """
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[np.newaxis]
    if image.ndim != 3 or image.shape[0] not in (1, 2):
        raise ValueError(f"training images must be (Y, X), (1, Y, X) or (2, Y, X); got "
                         f"shape {image.shape}")
    if image.shape[0] == 1:
        image = np.concatenate([image, np.zeros_like(image)])
    return image


def largest_section_diameter_px(labels: np.ndarray) -> float:
    """Median equivalent-circle diameter (pixels) of the largest z-section of each object.

    The lateral size a user quotes for a cell in a 3-D label image.
    """
    labels = np.asarray(labels)
    n_labels = int(labels.max(initial=0)) + 1
    per_plane = np.stack([np.bincount(plane.ravel(), minlength=n_labels) for plane in labels])
    largest = per_plane[:, 1:].max(axis=0)
    largest = largest[largest > 0]
    if not len(largest):
        raise ValueError("a training mask has no objects")
    return float(2.0 * np.sqrt(np.median(largest) / np.pi))


def stack_planes(image: np.ndarray, labels: np.ndarray, n_planes: int | None = None
                 ) -> tuple[list[np.ndarray], list[np.ndarray], list[float]]:
    """2-D training pairs from a 3-D stack, each with the objects' full lateral diameter.

    Parameters
    ----------
    image : ndarray
        ``(C, Z, Y, X)`` with C = 1 or 2 (channel to segment, helper channel).
    labels : ndarray
        ``(Z, Y, X)`` labels.
    n_planes : int, optional
        Planes to take, evenly spread between the first and last plane holding objects;
        default: every such plane.

    Returns
    -------
    images, masks, diameters_px : lists
        Arguments for :func:`train_model`.
    """
    image, labels = np.asarray(image), np.asarray(labels)
    if image.ndim != 4 or image.shape[1:] != labels.shape:
        raise ValueError(f"expected a (C, Z, Y, X) image and (Z, Y, X) labels on the same "
                         f"grid; got {image.shape} and {labels.shape}")
    occupied = np.flatnonzero(labels.reshape(len(labels), -1).any(axis=1))
    if not len(occupied):
        raise ValueError("a training mask has no objects")
    count = len(occupied) if n_planes is None else min(n_planes, len(occupied))
    planes = np.unique(np.linspace(occupied[0], occupied[-1], count).round().astype(int))
    planes = [z for z in planes if labels[z].any()]
    diameter = largest_section_diameter_px(labels)
    return ([image[:, z] for z in planes], [labels[z] for z in planes],
            [diameter] * len(planes))
