"""Nuclei from the Hoechst channel, and which nucleus belongs to which cell.

Side-population nuclei are 3–10x dimmer in Hoechst than main-population ones, so nuclei are
segmented by a network trained with many dim nuclei among bright ones (the bundled nucleus
model), not by a global threshold that would miss them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy import ndimage as ndi
from scipy import sparse

from spmito.measure.objects.labelstats import labels_on_lateral_edge
from spmito.segment.backends import Segmentation, get_backend, segment_objects

#: Foreground components of at most this many pixels are debris to the diameter estimate.
MIN_COMPONENT_PX = 20


def estimate_nucleus_diameter_um(hoechst_img: np.ndarray,
                                 voxel_size_um: tuple[float, ...]) -> float:
    """A first guess of the nucleus diameter: the median Otsu foreground component's.

    The image (in 3-D its maximum projection along z) is smoothed by a Gaussian of one pixel
    and thresholded by Otsu; the median area of the components of more than
    :data:`MIN_COMPONENT_PX` pixels gives the equivalent diameter. Touching nuclei merge into
    one component, but the median holds while most stand apart: on the held-out DSB groups
    the nucleus model scores AP@0.5 0.819 with this estimate and 0.820 with the hand-drawn
    nuclei's own median diameter (segment/models/MODEL_CARD.md). A field of a few large
    textured nuclei (bright chromatin, nucleoli) falls apart into its bright parts: the BPAE
    nucleus (15.6 µm) comes out at 3.9 µm.

    Parameters
    ----------
    hoechst_img : ndarray
        ``(Y, X)`` or ``(Z, Y, X)``.
    voxel_size_um : tuple of float
        Voxel size ``(y, x)`` or ``(z, y, x)`` in µm.

    Returns
    -------
    float
        Diameter in µm.

    Raises
    ------
    ValueError
        The image is flat or holds no component large enough.
    """
    from skimage import filters, measure

    image = np.asarray(hoechst_img, np.float32)
    if image.ndim == 3:
        image = image.max(axis=0)
    smooth = filters.gaussian(image, 1.0)
    if not np.ptp(smooth) > 0:
        raise ValueError("the Hoechst channel is flat: no nucleus size can be estimated; give "
                         "the nucleus diameter in µm")
    areas = np.bincount(measure.label(smooth > filters.threshold_otsu(smooth)).ravel())[1:]
    areas = areas[areas > MIN_COMPONENT_PX]
    if not areas.size:
        raise ValueError("no nucleus-sized object above the Otsu threshold of the Hoechst "
                         "channel: give the nucleus diameter in µm")
    pixel_um = float(np.sqrt(voxel_size_um[-1] * voxel_size_um[-2]))
    return float(2.0 * np.sqrt(np.median(areas) / np.pi) * pixel_um)


def segment_nuclei(hoechst_img: np.ndarray, voxel_size_um: tuple[float, ...],
                   diameter_um: float = 8.0, model: str = "bundled", device: str = "auto",
                   mode_3d: str = "stitch", *, backend: str = "cellpose3",
                   flow_threshold: float | None = None,
                   cellprob_threshold: float | None = None,
                   stitch_threshold: float = 0.25, second_look: bool = True) -> Segmentation:
    """Segment nuclei in a Hoechst (nuclear stain) image or stack.

    Parameters
    ----------
    hoechst_img : ndarray
        ``(Y, X)`` or ``(Z, Y, X)``.
    voxel_size_um : tuple of float
        Voxel size ``(y, x)`` or ``(z, y, x)`` in µm.
    diameter_um : float
        Typical nucleus diameter in µm (:func:`estimate_nucleus_diameter_um` guesses it).
    model : str or path-like
        ``"bundled"`` (the spmito nucleus model), a cached Cellpose model name
        (``"nuclei"``) or a weights file.
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"``.
    mode_3d : {"stitch", "do_3d"}
        How 3-D stacks are segmented (see :func:`spmito.segment.cells.segment_cells`).
    backend : str
        Segmentation backend.
    flow_threshold, cellprob_threshold, stitch_threshold : float
        Cellpose's thresholds; ``None`` takes the model's own (the bundled model's recipe
        gives flow 0.4 and cell probability -0.5, see segment/models/MODEL_CARD.md;
        otherwise Cellpose's 0.4 and 0.0).
    second_look : bool
        Look again for nuclei much dimmer than the others (:func:`add_dim_nuclei`).

    Returns
    -------
    Segmentation
        ``labels`` (int32, input grid) and ``provenance``.
    """
    hoechst_img = np.asarray(hoechst_img)
    loaded = get_backend(model, "nuclei", device, backend)

    def segment(image: np.ndarray) -> Segmentation:
        return segment_objects(np.stack([image, np.zeros_like(image)]), voxel_size_um,
                               diameter_um, loaded, mode_3d=mode_3d,
                               flow_threshold=flow_threshold,
                               cellprob_threshold=cellprob_threshold,
                               stitch_threshold=stitch_threshold)

    found = segment(hoechst_img)
    if not second_look:
        return found
    labels, n_added = add_dim_nuclei(found.labels, hoechst_img, voxel_size_um, diameter_um,
                                     lambda image: segment(image).labels)
    return Segmentation(labels, {**found.provenance, "dim_nuclei_added": n_added})


#: The second look hides the found nuclei and this far around them (in nucleus diameters).
HIDDEN_REACH_DIAMETERS = 0.25
#: A nucleus of the second look is at least this share of the found nuclei's median size ...
DIM_NUCLEUS_MIN_RELATIVE_SIZE = 0.35
#: ... and at least this solid (the crescents of halos round hidden nuclei are not).
DIM_NUCLEUS_MIN_SOLIDITY = 0.85


def add_dim_nuclei(nuclei: np.ndarray, hoechst_img: np.ndarray,
                   voxel_size_um: tuple[float, ...], diameter_um: float,
                   segment: Callable[[np.ndarray], np.ndarray]) -> tuple[np.ndarray, int]:
    """Look again for nuclei much dimmer than those found, and add them.

    The network sees the image scaled between its 1st and 99th percentiles, which bright
    nuclei set: a nucleus 10x dimmer (a side-population nucleus) then reads as faint
    haze and is missed. Here the found nuclei and ``HIDDEN_REACH_DIAMETERS`` around them
    are set to the background level and the image is segmented again. A nucleus of this
    second look is added when it lies clear of the hidden nuclei, is nucleus-sized
    (``DIM_NUCLEUS_MIN_RELATIVE_SIZE`` of the found ones' median) and solid
    (``DIM_NUCLEUS_MIN_SOLIDITY``), and stands out of the Hoechst around it by the bar of
    :func:`drop_nuclei_not_standing_out`. Nothing is run when no smoothed pixel outside
    the found nuclei stands that far above the background.

    Parameters
    ----------
    nuclei : ndarray of int
        The nuclei found, ``(Y, X)`` or ``(Z, Y, X)``.
    hoechst_img : ndarray
        The Hoechst channel on the same grid.
    voxel_size_um : tuple of float
        Voxel size in µm.
    diameter_um : float
        Typical nucleus diameter.
    segment : callable
        Image -> nucleus labels (the same model and settings as the first look).

    Returns
    -------
    labels : ndarray of int32
        The nuclei found, then the added ones numbered after them.
    n_added : int
    """
    from skimage.measure import regionprops

    nuclei = np.asarray(nuclei, np.int32)
    if not nuclei.any():
        return nuclei, 0
    voxel = np.asarray(voxel_size_um, float)
    hidden = ndi.distance_transform_edt(nuclei == 0, sampling=voxel) <= (
        HIDDEN_REACH_DIAMETERS * diameter_um)
    if hidden.all():
        return nuclei, 0
    image = np.asarray(hoechst_img, np.float32)
    fill = float(np.median(image[~hidden]))
    bar = MIN_RELATIVE_CONTRAST * float(nucleus_contrast(nuclei, image, voxel_size_um).median())
    masked = np.where(hidden, np.float32(fill), image)
    smooth = ndi.gaussian_filter(masked, 0.15 * diameter_um / voxel)
    if not bar > 0 or smooth[~hidden].max() - fill < bar:
        return nuclei, 0
    second = np.asarray(segment(masked.astype(hoechst_img.dtype, copy=False)), np.int32)
    near_hidden = ndi.binary_dilation(hidden, iterations=2)
    second[np.isin(second, np.unique(second[near_hidden]))] = 0
    if not second.any():
        return nuclei, 0
    sizes = np.bincount(nuclei.ravel())[1:]
    least_size = DIM_NUCLEUS_MIN_RELATIVE_SIZE * float(np.median(sizes[sizes > 0]))
    contrast = nucleus_contrast(second, image, voxel_size_um)
    added = nuclei.copy()
    last_label = int(nuclei.max())
    n_added = 0
    for region in regionprops(second):
        if (region.area >= least_size and region.solidity >= DIM_NUCLEUS_MIN_SOLIDITY
                and contrast.get(region.label, -np.inf) > bar):
            n_added += 1
            added[tuple(region.coords.T)] = last_label + n_added
    return added, n_added


#: Width (µm) of the ring around a nucleus that its Hoechst contrast is measured against.
CONTRAST_RING_UM = 1.5
#: A nucleus stands out when its contrast exceeds this share of the image's median nucleus
#: contrast. SP nuclei, 3-10x dimmer than MP ones, stand 0.1-0.3; on 41 DSB training images
#: the lowest of 1998 found nuclei stands 0.14; a patch of cytoplasmic haze that the model
#: took for a nucleus on a synthetic cell sheet stood -0.002.
MIN_RELATIVE_CONTRAST = 0.05


def nucleus_contrast(nuclei: np.ndarray, hoechst_img: np.ndarray,
                     voxel_size_um: tuple[float, ...],
                     ring_um: float = CONTRAST_RING_UM) -> pd.Series:
    """Each nucleus's mean Hoechst minus the median of a ring around it.

    The ring is the pixels within ``ring_um`` of the nucleus (a box, at least one pixel per
    axis) that lie in no nucleus: the cytoplasm or background right around it.

    Parameters
    ----------
    nuclei : ndarray of int
        Nucleus labels, ``(Y, X)`` or ``(Z, Y, X)``.
    hoechst_img : ndarray
        The Hoechst channel on the same grid.
    voxel_size_um : tuple of float
        Voxel size per axis in µm.
    ring_um : float
        Width of the ring.

    Returns
    -------
    pandas.Series
        Contrast by nucleus label (NaN where the ring is empty).
    """
    from scipy import ndimage as ndi

    nuclei = np.asarray(nuclei)
    labels = np.unique(nuclei)
    labels = labels[labels > 0]
    if not labels.size:
        return pd.Series(dtype=float)
    reach = np.maximum(np.rint(ring_um / np.asarray(voxel_size_um, float)), 1).astype(int)
    around = ndi.maximum_filter(nuclei, size=tuple(2 * reach + 1))
    ring = np.where(nuclei == 0, around, 0)
    values = np.asarray(hoechst_img, np.float32)
    inside = ndi.mean(values, nuclei, labels)
    level = ndi.median(values, ring, labels) if ring.any() else np.full(labels.size, np.nan)
    return pd.Series(np.asarray(inside) - np.asarray(level), index=labels)


def drop_nuclei_not_standing_out(nuclei: np.ndarray, hoechst_img: np.ndarray,
                                 voxel_size_um: tuple[float, ...],
                                 min_relative_contrast: float = MIN_RELATIVE_CONTRAST
                                 ) -> tuple[np.ndarray, int]:
    """Remove "nuclei" that do not stand out of the Hoechst right around them.

    A patch of cytoplasmic haze taken for a nucleus would get a cell of its own, and its
    near-zero integrated Hoechst would pass for a side-population cell. A nucleus is kept
    when its :func:`nucleus_contrast` is positive and above ``min_relative_contrast`` of
    the median contrast of the image's nuclei (a nucleus without a ring is kept).

    Returns
    -------
    labels : ndarray of int32
        The kept nuclei, numbered 1..n in their old order.
    n_dropped : int
    """
    from skimage.segmentation import relabel_sequential

    contrast = nucleus_contrast(nuclei, hoechst_img, voxel_size_um)
    measured = contrast.dropna()
    if measured.empty:
        return np.asarray(nuclei, np.int32), 0
    bar = max(0.0, min_relative_contrast * float(measured.median()))
    dropped = measured.index[measured <= bar].to_numpy()
    if not dropped.size:
        return np.asarray(nuclei, np.int32), 0
    kept = np.where(np.isin(nuclei, dropped), 0, nuclei)
    return relabel_sequential(kept.astype(np.int32))[0], int(dropped.size)


#: A micronucleus lies within this distance (µm) of its cell's nucleus.
MICRONUCLEUS_GAP_UM = 1.5
#: ... and is at most this fraction of that nucleus's equivalent diameter (micronuclei are
#: 1/16-1/3 of it; two daughter nuclei or two neighbouring cells' nuclei are alike in size).
MICRONUCLEUS_MAX_DIAMETER_RATIO = 0.4


def join_micronuclei(nuclei: np.ndarray, voxel_size_um: tuple[float, ...],
                     max_gap_um: float = MICRONUCLEUS_GAP_UM,
                     max_diameter_ratio: float = MICRONUCLEUS_MAX_DIAMETER_RATIO,
                     cells: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """Give each micronucleus the label of the nucleus it sits next to.

    A micronucleus (a small DNA body beside the nucleus, common in cancer cells) belongs to
    its cell: as a nucleus of its own it would get a cell of its own, whose small integrated
    Hoechst would pass for a side-population cell. A nucleus whose equivalent diameter is
    at most ``max_diameter_ratio`` of its largest neighbour joins that neighbour, so the
    cell's integrated Hoechst counts its DNA. Neighbours are the nuclei within
    ``max_gap_um`` and, given ``cells``, the nuclei held by the same cell. A nucleus cut by
    the image edge is never taken for a micronucleus.

    Parameters
    ----------
    nuclei : ndarray of int
        Nucleus labels, 2-D or 3-D.
    voxel_size_um : tuple of float
        Voxel size in µm.
    max_gap_um, max_diameter_ratio : float
        The rule above.
    cells : ndarray of int, optional
        Cells on the same grid (a cell holds a nucleus when it holds most of its pixels).

    Returns
    -------
    labels : ndarray of int32
        The nuclei with each micronucleus joined, numbered 1..n in their old order.
    n_joined : int
    """
    from skimage.segmentation import relabel_sequential

    nuclei = np.asarray(nuclei, np.int32)
    sizes = np.bincount(nuclei.ravel())
    sizes[0] = 0
    ndim = nuclei.ndim
    candidates = micronucleus_candidates(nuclei, max_diameter_ratio)
    cell_of = np.zeros(sizes.size, np.int64)
    if cells is not None:
        holding_cells, held_nuclei = nuclei_held_by_cells(np.asarray(cells), nuclei)
        cell_of[held_nuclei] = holding_cells
    joined = nuclei.copy()
    n_joined = 0
    margin = [int(np.ceil(max_gap_um / size)) + 1 for size in voxel_size_um]
    for label, box in enumerate(ndi.find_objects(nuclei), start=1):
        if not candidates[label]:
            continue
        window = tuple(slice(max(b.start - m, 0), b.stop + m) for b, m in zip(box, margin))
        local = nuclei[window]
        near = ndi.distance_transform_edt(local != label, sampling=voxel_size_um) <= max_gap_um
        neighbours = np.unique(local[near & (local != label) & (local > 0)])
        if cell_of[label]:
            same_cell = np.flatnonzero(cell_of == cell_of[label])
            neighbours = np.union1d(neighbours, same_cell[same_cell != label])
        if not neighbours.size:
            continue
        host = neighbours[np.argmax(sizes[neighbours])]
        if sizes[label] <= max_diameter_ratio ** ndim * sizes[host]:
            joined[window][local == label] = host
            n_joined += 1
    if not n_joined:
        return nuclei, 0
    return relabel_sequential(joined)[0], n_joined


def micronucleus_candidates(nuclei: np.ndarray,
                            max_diameter_ratio: float = MICRONUCLEUS_MAX_DIAMETER_RATIO
                            ) -> np.ndarray:
    """Which nuclei are small enough to be a micronucleus of the largest one.

    A nucleus is a candidate when its equivalent diameter is at most ``max_diameter_ratio``
    of the largest nucleus's and it is not cut by the image's edge in Y or X (it would be
    small for want of the rest). :func:`join_micronuclei` then asks for a larger neighbour.

    Parameters
    ----------
    nuclei : ndarray of int
        Nucleus labels, 2-D or 3-D.
    max_diameter_ratio : float
        Largest equivalent diameter of a candidate, relative to the largest nucleus.

    Returns
    -------
    ndarray of bool
        Indexed by label (index 0, the background, is False).
    """
    nuclei = np.asarray(nuclei)
    sizes = np.bincount(nuclei.ravel())
    sizes[0] = 0
    candidates = (sizes > 0) & (sizes <= max_diameter_ratio ** nuclei.ndim * sizes.max())
    candidates[labels_on_lateral_edge(nuclei, np.arange(sizes.size))] = False
    return candidates


def match_nuclei_to_cells(cells: np.ndarray, nuclei: np.ndarray) -> pd.DataFrame:
    """Assign nuclei to cells in one pass over the images.

    Parameters
    ----------
    cells, nuclei : ndarray of int
        Label images on the same grid (0 = background).

    Returns
    -------
    DataFrame
        One row per cell label, sorted by ``cell_id``: ``nucleus_id``, the nucleus that
        overlaps the cell most (0 when none does; the lower id on a tie), and ``n_nuclei``,
        the number of nuclei with more than half of their pixels inside the cell. Cells with
        no nucleus or several are kept; ``n_nuclei`` flags them.
    """
    cells = np.asarray(cells)
    overlap, held_by = _overlap_and_majority(cells, nuclei)
    cell_ids = np.unique(cells)
    cell_ids = cell_ids[cell_ids > 0]
    n_rows = overlap.shape[0]
    n_nuclei = np.bincount(held_by.row, minlength=n_rows)
    return pd.DataFrame({"cell_id": cell_ids,
                         "nucleus_id": _largest_overlap(overlap, n_rows)[cell_ids],
                         "n_nuclei": n_nuclei[cell_ids]})


def nuclei_held_by_cells(cells: np.ndarray, nuclei: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which cell holds each nucleus: the one with more than half of the nucleus's pixels.

    Parameters
    ----------
    cells, nuclei : ndarray of int
        Label images on the same grid (0 = background).

    Returns
    -------
    cell_ids, nucleus_ids : ndarray of int64
        One entry per held nucleus, sorted by cell and then nucleus; nuclei that no cell
        holds are left out.
    """
    _, held_by = _overlap_and_majority(np.asarray(cells), nuclei)
    order = np.lexsort((held_by.col, held_by.row))
    return held_by.row[order].astype(np.int64), held_by.col[order].astype(np.int64)


def _overlap_and_majority(cells: np.ndarray, nuclei: np.ndarray
                          ) -> tuple[sparse.coo_matrix, sparse.coo_matrix]:
    """Pixels shared by each (cell, nucleus) pair, and the pairs where the cell holds the nucleus.

    Rows are cell labels, columns nucleus labels.
    """
    nuclei = np.asarray(nuclei)
    if cells.shape != nuclei.shape:
        raise ValueError(f"cells {cells.shape} and nuclei {nuclei.shape} must share a grid")
    n_rows, n_cols = int(cells.max(initial=0)) + 1, int(nuclei.max(initial=0)) + 1
    both = (cells > 0) & (nuclei > 0)
    overlap = sparse.coo_matrix(
        (np.ones(int(both.sum()), np.int64),
         (cells[both].astype(np.int64), nuclei[both].astype(np.int64))),
        shape=(n_rows, n_cols)).tocsr().tocoo()  # duplicates summed: pixels per pair
    nucleus_size = np.bincount(nuclei.ravel().astype(np.int64), minlength=n_cols)
    majority = overlap.data * 2 > nucleus_size[overlap.col]
    held_by = sparse.coo_matrix((overlap.data[majority],
                                 (overlap.row[majority], overlap.col[majority])),
                                shape=overlap.shape)
    return overlap, held_by


def _largest_overlap(overlap: sparse.coo_matrix, n_rows: int) -> np.ndarray:
    """Per row (cell id), the column (nucleus id) of its largest count.

    0 for an empty row; the lower id on a tie.
    """
    order = np.lexsort((overlap.col, -overlap.data, overlap.row))
    rows, cols = overlap.row[order], overlap.col[order]
    first = np.r_[True, rows[1:] != rows[:-1]] if len(rows) else np.zeros(0, bool)
    best = np.zeros(n_rows, np.int64)
    best[rows[first]] = cols[first]
    return best


def nucleus_cell_agreement(cells: np.ndarray, nuclei: np.ndarray) -> dict[str, float]:
    """How well cells and nuclei agree: the two per-image segmentation QC shares.

    A nucleus is inside a cell when more than half of its pixels lie in that one cell (the
    rule of :func:`match_nuclei_to_cells`). A cell that touches the lateral image edge and
    holds no nucleus is *cut off*: the field shows part of a cell whose nucleus lies outside
    it, which says nothing about the segmentation, so the QC share
    ``whole_cells_one_nucleus_fraction`` leaves such cells out.

    Parameters
    ----------
    cells, nuclei : ndarray of int
        Label images on the same grid (0 = background).

    Returns
    -------
    dict
        ``n_cells``, ``n_nuclei``, ``n_cells_cut_off`` (cells on the lateral edge without a
        nucleus), ``nuclei_in_cell_fraction`` (nuclei inside a cell over all nuclei),
        ``cells_one_nucleus_fraction`` (cells holding exactly one nucleus over all cells)
        and ``whole_cells_one_nucleus_fraction`` (the same over the cells that are not cut
        off: what the QC table reports); a fraction is NaN when its denominator is 0.
    """
    matches = match_nuclei_to_cells(cells, nuclei)
    nucleus_ids = np.unique(np.asarray(nuclei))
    n_nuclei = int((nucleus_ids > 0).sum())
    n_cells = len(matches)
    inside = int(matches["n_nuclei"].sum())
    one = int((matches["n_nuclei"] == 1).sum())
    cut_off = int(((matches["n_nuclei"] == 0).to_numpy()
                   & labels_on_lateral_edge(np.asarray(cells), matches["cell_id"].to_numpy())
                   ).sum())
    return {"n_cells": n_cells, "n_nuclei": n_nuclei, "n_cells_cut_off": cut_off,
            "nuclei_in_cell_fraction": _share(inside, n_nuclei),
            "cells_one_nucleus_fraction": _share(one, n_cells),
            "whole_cells_one_nucleus_fraction": _share(one, n_cells - cut_off)}


def _share(count: int, total: int) -> float:
    return count / total if total else float("nan")
