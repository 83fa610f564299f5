"""Per-cell background from an annulus around each cell (domain.md §2).

The background ``b`` of a cell is the median of the non-cell pixels 2–6 µm from it. The
annuli of all cells are built in one pass: every non-cell pixel is given to its nearest cell
(one Euclidean distance transform with indices, in µm), and belongs to that cell's
annulus when the distance is within [inner, outer]. Where two cells are closer than 12 µm their
annuli share the pixels between them by nearest cell (a Voronoi split).

The annuli are computed on a regular subsample of the grid, about one sample per
``sample_um`` (0.5 µm, about one PSF width: neighbouring samples are nearly independent), so
that a 3-D stack costs little memory; the median of the samples estimates the median of the
annulus.

Fallback: a cell whose annulus holds fewer than ``min_samples`` samples (cells packed edge to
edge, a cell filling the field) gets the per-field mode of all non-cell samples instead, and
is flagged. When the field has no non-cell pixel at all, the background is NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

#: Annulus radii (µm) of domain.md §2.
ANNULUS_INNER_UM = 2.0
ANNULUS_OUTER_UM = 6.0


@dataclass(frozen=True)
class Annuli:
    """The sampled background annuli of every cell of a label image.

    Attributes
    ----------
    grid : tuple of slice
        The sampling grid (strided slices of the full image).
    ring : ndarray of int
        On the grid: the cell whose annulus a sample belongs to, 0 elsewhere.
    outside : ndarray of bool
        On the grid: samples outside every cell (for the per-field mode).
    """

    grid: tuple[slice, ...]
    ring: np.ndarray
    outside: np.ndarray


def cell_annuli(cells: np.ndarray, voxel_size_um, inner_um: float = ANNULUS_INNER_UM,
                outer_um: float = ANNULUS_OUTER_UM, sample_um: float = 0.5) -> Annuli:
    """Sampled annuli ``inner_um``–``outer_um`` around every cell.

    Parameters
    ----------
    cells : ndarray of int
        Cell labels, ``(Y, X)`` or ``(Z, Y, X)``.
    voxel_size_um : sequence of float
        Voxel size per axis in µm.
    inner_um, outer_um : float
        Annulus radii (distance from the cell edge).
    sample_um : float
        Approximate distance between samples.

    Returns
    -------
    Annuli
    """
    voxel_size_um = np.asarray(voxel_size_um, float)
    step = np.maximum(np.floor(sample_um / voxel_size_um), 1).astype(int)
    grid = tuple(slice(None, None, int(s)) for s in step)
    sampled = cells[grid]
    outside = sampled == 0
    if outside.all() or not outside.any():
        return Annuli(grid, np.zeros(sampled.shape, sampled.dtype), outside)
    distance, nearest = ndi.distance_transform_edt(outside, sampling=voxel_size_um * step,
                                                   return_indices=True)
    ring = sampled[tuple(nearest)]
    ring[(distance < inner_um) | (distance > outer_um)] = 0
    return Annuli(grid, ring, outside)


def background_per_cell(image: np.ndarray, annuli: Annuli, cell_ids: np.ndarray,
                        min_samples: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Median of each cell's annulus, or the per-field mode where the annulus is too small.

    Parameters
    ----------
    image : ndarray
        The channel, same shape as the label image the annuli come from.
    annuli : Annuli
        From :func:`cell_annuli`.
    cell_ids : ndarray of int
        The cells to return, in order.
    min_samples : int
        Fewest annulus samples for a per-cell median.

    Returns
    -------
    background : ndarray of float
        One value per cell.
    from_field : ndarray of bool
        True where the per-field mode was used.
    """
    sampled = image[annuli.grid]
    counts = np.bincount(annuli.ring.ravel(), minlength=int(cell_ids.max(initial=0)) + 1)
    counts = counts[cell_ids] if cell_ids.size else counts[:0]
    from_field = counts < min_samples
    background = np.full(cell_ids.size, np.nan)
    enough = cell_ids[~from_field]
    if enough.size:
        background[~from_field] = ndi.median(sampled, annuli.ring, enough)
    if from_field.any():
        background[from_field] = field_mode(sampled[annuli.outside])
    return background, from_field


def field_mode(values: np.ndarray) -> float:
    """Mode of pixel values: centre of the fullest Freedman–Diaconis histogram bin.

    Parameters
    ----------
    values : ndarray
        Background pixel values (any shape).

    Returns
    -------
    float
        The mode; NaN when ``values`` is empty.
    """
    values = np.asarray(values, float).ravel()
    if values.size == 0:
        return float("nan")
    low, high = np.percentile(values, [0.5, 99.5])
    if high <= low:
        return float(low)
    counts, edges = np.histogram(values, bins="fd", range=(low, high))
    peak = int(np.argmax(counts))
    return float((edges[peak] + edges[peak + 1]) / 2)
