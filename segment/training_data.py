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


def with_dimmed_nuclei(image: np.ndarray, labels: np.ndarray, rng: np.random.Generator,
                       share: float = 0.2, dimming: tuple[float, float] = (3.0, 10.0),
                       halo_px: int = 4) -> np.ndarray:
    """A copy of a nucleus image in which some nuclei are side-population dim.

    Side-population cells pump Hoechst out: their nuclei are 3-10x dimmer than their
    neighbours'. A real image with such nuclei is made from a hand-labelled one by scaling
    a random ``share`` of its nuclei, and the blur halo ``halo_px`` around them (not into
    other nuclei), towards the level right around each (the median of the ring from
    ``halo_px`` to ``3 * halo_px`` outside it, in no nucleus) by a factor drawn
    log-uniformly from ``dimming``. The labels are unchanged:
    the dim nuclei stay nuclei.

    Parameters
    ----------
    image : ndarray
        2-D nucleus image.
    labels : ndarray of int
        Its nucleus labels.
    rng : numpy.random.Generator
        Chooses the nuclei and their factors.
    share : float
        Share of the nuclei dimmed (at least one).
    dimming : (float, float)
        Smallest and largest factor.
    halo_px : int
        Pixels around a nucleus dimmed with it.

    Returns
    -------
    ndarray of float32
    """
    from scipy import ndimage as ndi

    labels = np.asarray(labels)
    values = np.asarray(image, np.float32)
    ids = np.unique(labels)
    ids = ids[ids > 0]
    if not ids.size:
        return values.copy()
    chosen = rng.choice(ids, max(1, int(round(share * ids.size))), replace=False)
    factors = np.exp(rng.uniform(*np.log(dimming), chosen.size)).astype(np.float32)
    chosen_labels = np.where(np.isin(labels, chosen), labels, 0)
    distance, nearest_index = ndi.distance_transform_edt(chosen_labels == 0,
                                                         return_indices=True)
    nearest = chosen_labels[tuple(nearest_index)]  # the chosen nucleus nearest each pixel
    ring = (distance > halo_px) & (distance <= 3 * halo_px) & (labels == 0)
    level = np.zeros(int(ids.max()) + 1, np.float32)
    level[chosen] = ndi.median(values, np.where(ring, nearest, 0), chosen)
    if np.isnan(level).any():  # a nucleus with no free ring: the level between all nuclei
        level[np.isnan(level)] = np.median(values[labels == 0]) if (labels == 0).any() else 0
    scale = np.zeros_like(level)
    scale[chosen] = 1.0 / factors
    region = (distance <= halo_px) & ((labels == 0) | (chosen_labels > 0))
    around = level[nearest[region]]
    dimmed = values.copy()
    dimmed[region] = around + (values[region] - around) * scale[nearest[region]]
    return dimmed
