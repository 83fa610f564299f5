"""Cells grown from nuclei (CellProfiler's IdentifySecondaryObjects, "propagation").

Each nucleus is a seed. It grows over a cell signal, and stops where the signal falls to
background, at intensity edges (a watershed on the signal's gradient), where it meets the
cell grown from a neighbouring nucleus, and at a maximum distance in µm from the nucleus.
That gives exactly one cell per nucleus, with no network and no cell model: what a lab
without a cell stain needs, and a check on a cell model where there is one.

With no cell stain, the cell signal is the mitochondria channel blurred over about a micron
(mitochondria fill the cytoplasm but are punctate) plus the faint Hoechst haze outside the
nucleus (:func:`cell_signal_without_stain`).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.filters import sobel, threshold_otsu
from skimage.segmentation import expand_labels, watershed

from spmito.segment.nuclei import join_micronuclei, micronucleus_candidates, nuclei_held_by_cells

#: Gaps in the stain smaller than this (µm², per plane) are part of the cell: dim spots of a
#: textured cytoplasm, not background.
_SMALLEST_GAP_UM2 = 10.0

#: Percentiles that map an image to about [0, 1] before images are combined or thresholded.
_NORMALISE_PERCENTILES = (1.0, 99.5)


def cells_from_nuclei(nuclei: np.ndarray, cell_img: np.ndarray, voxel_size_um: tuple[float, ...],
                      max_distance_um: float, *, smoothing_um: float = 0.5,
                      compactness: float = 0.03, occupied: np.ndarray | None = None
                      ) -> np.ndarray:
    """Grow one cell from every nucleus over a cell signal.

    Parameters
    ----------
    nuclei : ndarray of int
        Nucleus labels, ``(Y, X)`` or ``(Z, Y, X)`` (0 = background); each becomes a cell with
        the same label.
    cell_img : ndarray
        Cell signal on the same grid: a cytoplasm or membrane stain, or
        :func:`cell_signal_without_stain`.
    voxel_size_um : tuple of float
        Voxel size in µm, ``(y, x)`` or ``(z, y, x)``.
    max_distance_um : float
        How far (µm) a cell may reach beyond its nucleus.
    smoothing_um : float
        Gaussian sigma (µm, lateral) applied to the cell signal before the foreground
        threshold and the gradient; removes pixel noise and stain texture.
    compactness : float
        Weight of the distance travelled from the nucleus against the intensity edges
        crossed (skimage's compact watershed, here in units of the normalised gradient per
        µm per µm, so that it means the same at every pixel size): 0 follows intensity
        edges only; larger values pull the boundary between touching cells towards the
        middle between their nuclei.
    occupied : ndarray of bool, optional
        Pixels that already belong to cells found otherwise (by a cell model): no cell grows
        into them.

    Returns
    -------
    ndarray of int32
        Cell labels on the input grid; cell ``k`` contains nucleus ``k`` (its pixels outside
        ``occupied``, at the least) and nothing of another nucleus.

    Raises
    ------
    ValueError
        When the images do not share a grid or the voxel size does not match their dimensions.
    """
    nuclei = np.asarray(nuclei)
    cell_img = np.asarray(cell_img, dtype=np.float32)
    _check_grid(nuclei, cell_img, voxel_size_um)
    if max_distance_um <= 0:
        raise ValueError(f"max_distance_um must be positive, got {max_distance_um}")
    free = np.ones(nuclei.shape, bool) if occupied is None else ~np.asarray(occupied, bool)
    markers = np.where(free, nuclei, 0).astype(np.int32, copy=False)
    if not markers.any():
        return np.zeros(nuclei.shape, np.int32)
    signal = _smoothed(cell_img, voxel_size_um, smoothing_um)
    reach = ndi.distance_transform_edt(markers == 0, sampling=voxel_size_um) <= max_distance_um
    # the threshold separates cytoplasm from background: nuclei (seeds anyway) are left out,
    # as they are much dimmer (cytoplasmic stains) or brighter (the Hoechst term) than both
    stained = _fill_small_gaps(signal > foreground_threshold(signal[nuclei == 0]), voxel_size_um)
    grow_into = ((stained & reach) | (markers > 0)) & free
    cells = _propagate(markers, signal, grow_into, voxel_size_um, compactness)
    return cells.astype(np.int32, copy=False)


def join_micronuclei_in_grown_cells(nuclei: np.ndarray, cell_img: np.ndarray,
                                    voxel_size_um: tuple[float, ...], max_distance_um: float
                                    ) -> tuple[np.ndarray, int]:
    """:func:`~spmito.segment.nuclei.join_micronuclei` where cells will grow from the nuclei.

    Without a cell model, "the same cell" is the cell grown over ``cell_img`` from the
    nuclei that cannot be micronuclei (:func:`~spmito.segment.nuclei.micronucleus_candidates`):
    a small DNA body in a cell's cytoplasm, beyond the gap rule, joins that cell's nucleus
    instead of seeding a small cell of its own, whose integrated Hoechst would pass for a
    side-population cell.

    Parameters
    ----------
    nuclei : ndarray of int
        Nucleus labels.
    cell_img : ndarray
        What the cells grow over (see :func:`cells_from_nuclei`).
    voxel_size_um : tuple of float
        Voxel size in µm.
    max_distance_um : float
        How far a cell may reach beyond its nucleus.

    Returns
    -------
    labels : ndarray of int32
    n_joined : int
    """
    candidates = micronucleus_candidates(nuclei)
    if not candidates.any():
        return join_micronuclei(nuclei, voxel_size_um)
    larger = np.where(candidates[nuclei], 0, nuclei)
    cells = cells_from_nuclei(larger, cell_img, voxel_size_um, max_distance_um)
    return join_micronuclei(nuclei, voxel_size_um, cells=cells)


def uncovered_nuclei(cells: np.ndarray, nuclei: np.ndarray, least_inside: float = 0.5
                     ) -> np.ndarray:
    """Numbers of the nuclei with less than ``least_inside`` of their pixels inside a cell.

    Parameters
    ----------
    cells, nuclei : ndarray of int
        Cell and nucleus labels on one grid (0 = background).
    least_inside : float
        Share of a nucleus's pixels that must lie inside a cell for it to count as held.

    Returns
    -------
    ndarray of int
        Sorted nucleus numbers.
    """
    nuclei = np.asarray(nuclei)
    size = np.bincount(nuclei.ravel())
    held = np.bincount(nuclei.ravel(), weights=np.asarray(cells).ravel() > 0,
                       minlength=size.size)
    left_out = np.flatnonzero((size > 0) & (held < least_inside * size))
    return left_out[left_out > 0]


def add_cells_for_nuclei(cells: np.ndarray, nuclei: np.ndarray, numbers: np.ndarray,
                         cell_img: np.ndarray, voxel_size_um: tuple[float, ...],
                         max_distance_um: float) -> tuple[np.ndarray, int]:
    """Grow a cell for each nucleus in ``numbers`` around the cells already found.

    Every nucleus counts for the side-population gate (its integrated Hoechst), so a cell
    missed by the cell model would drop its nucleus from the analysis. The nuclei (usually
    :func:`uncovered_nuclei`) are grown over ``cell_img`` as in :func:`cells_from_nuclei`,
    without entering ``cells``.

    Parameters
    ----------
    cells : ndarray of int
        Cell labels (0 = background).
    nuclei : ndarray of int
        Nucleus labels on the same grid.
    numbers : ndarray of int
        Sorted numbers of the nuclei to grow.
    cell_img : ndarray
        Cell signal: a cytoplasm or membrane stain, or :func:`cell_signal_without_stain`.
    voxel_size_um : tuple of float
        Voxel size in µm.
    max_distance_um : float
        How far (µm) a grown cell may reach beyond its nucleus.

    Returns
    -------
    cells : ndarray of int32
        ``cells`` with the grown cells added, numbered after the largest given label.
    n_added : int
        How many cells were grown.
    """
    cells = np.asarray(cells, dtype=np.int32)
    nuclei = np.asarray(nuclei)
    if len(numbers) == 0:
        return cells, 0
    grown = cells_from_nuclei(np.where(np.isin(nuclei, numbers), nuclei, 0), cell_img,
                              voxel_size_um, max_distance_um, occupied=cells > 0)
    new = grown > 0
    out = cells.copy()
    out[new] = int(cells.max()) + 1 + np.searchsorted(numbers, grown[new])
    return out, int(np.unique(grown[new]).size)


def divide_cells_among_nuclei(cells: np.ndarray, nuclei: np.ndarray, cell_img: np.ndarray,
                              nuclear_img: np.ndarray, voxel_size_um: tuple[float, ...], *,
                              least_relative_contrast: float = 0.05, smoothing_um: float = 0.5,
                              compactness: float = 0.03) -> tuple[np.ndarray, int]:
    """Divide every cell that holds more than one nucleus into one cell per nucleus.

    A cell model draws two touching cells, or two daughters just after division, as one cell
    when the stain shows no clear edge between them. Such a cell would be excluded as a
    doublet, and both nuclei lost to the side-population gate. Within the cell's outline its
    nuclei grow over ``cell_img`` as in :func:`cells_from_nuclei` (intensity edges, then the
    middle between the nuclei), and every pixel of the cell goes to one of them.

    A nucleus belongs to a cell when more than half of its pixels lie inside it
    (:func:`spmito.segment.nuclei.nuclei_held_by_cells`). Only nuclei that stand out of the
    cell's own nuclear-stain haze count: a "nucleus" whose mean stain above the cell's
    non-nuclear pixels is below ``least_relative_contrast`` of the brightest one's is most
    likely cytoplasm taken for a nucleus (the one found on a held-out synthetic sheet stood
    -0.002 of its neighbour's), and given a cell of its own it would pass for a
    side-population cell (little Hoechst). It divides nothing; the cell keeps it. The bar is
    low because real nuclei differ a lot: in the synthetic fields a side-population nucleus
    (3.5x dimmed) stood 0.16 of its main-population neighbour's, and main-population G1
    nuclei 0.27-0.88 of an S or G2 neighbour's.

    Parameters
    ----------
    cells : ndarray of int
        Cell labels (0 = background).
    nuclei : ndarray of int
        Nucleus labels on the same grid.
    cell_img : ndarray
        Cell signal: a cytoplasm or membrane stain, or :func:`cell_signal_without_stain`.
    nuclear_img : ndarray
        The nuclear stain (Hoechst) on the same grid.
    voxel_size_um : tuple of float
        Voxel size in µm, ``(y, x)`` or ``(z, y, x)``.
    least_relative_contrast : float
        Share of the brightest nucleus's contrast that another nucleus needs to count.
    smoothing_um, compactness : float
        As in :func:`cells_from_nuclei`.

    Returns
    -------
    cells : ndarray of int32
        The cells; the part of a divided cell with its lowest-numbered nucleus keeps the cell's
        label, the other parts are numbered after the largest given label.
    n_divided : int
        How many cells were divided.

    Raises
    ------
    ValueError
        When the images do not share a grid or the voxel size does not match their dimensions.
    """
    cells = np.asarray(cells, dtype=np.int32)
    nuclei = np.asarray(nuclei)
    nuclear_img = np.asarray(nuclear_img, dtype=np.float32)
    _check_grid(cells, np.asarray(cell_img), voxel_size_um)
    _check_grid(cells, nuclear_img, voxel_size_um)
    cell_ids, nucleus_ids = nuclei_held_by_cells(cells, nuclei)
    out = cells.copy()
    signal = None
    n_divided = 0
    next_label = int(cells.max()) + 1
    boxes = ndi.find_objects(cells)
    for cell in _repeated(cell_ids):
        box = boxes[cell - 1]
        inside = cells[box] == cell
        own = _nuclei_standing_out(inside, nuclei[box], nucleus_ids[cell_ids == cell],
                                   nuclear_img[box], least_relative_contrast)
        if own.size < 2:
            continue
        if signal is None:
            signal = _smoothed(np.asarray(cell_img, dtype=np.float32), voxel_size_um,
                               smoothing_um)
        markers = np.where(inside & np.isin(nuclei[box], own), nuclei[box], 0)
        parts = _propagate(markers, signal[box], inside, voxel_size_um, compactness)
        # pixels cut off from every nucleus inside the outline go to the nearest part
        parts = np.where(inside, expand_labels(parts, distance=max(inside.shape)), 0)
        relabel = np.zeros(int(own.max()) + 1, np.int32)
        relabel[own] = [cell, *range(next_label, next_label + own.size - 1)]
        next_label += own.size - 1
        out[box][inside] = relabel[parts[inside]]
        n_divided += 1
    return out, n_divided


def cells_with_several_nuclei(cells: np.ndarray, nuclei: np.ndarray) -> np.ndarray:
    """Labels of the cells that hold more than one nucleus (sorted).

    A nucleus belongs to the cell with more than half of its pixels
    (:func:`spmito.segment.nuclei.nuclei_held_by_cells`).
    """
    cell_ids, _ = nuclei_held_by_cells(cells, nuclei)
    return _repeated(cell_ids)


def _repeated(sorted_ids: np.ndarray) -> np.ndarray:
    """The values that occur more than once in a sorted array, once each."""
    return np.unique(sorted_ids[1:][sorted_ids[1:] == sorted_ids[:-1]])


def _nuclei_standing_out(inside: np.ndarray, nuclei: np.ndarray, held: np.ndarray,
                         nuclear_img: np.ndarray, least_relative_contrast: float
                         ) -> np.ndarray:
    """The held nuclei whose stain above the cell's non-nuclear pixels is high enough.

    The contrast of each is its mean stain inside the cell minus the median of the cell's
    pixels outside every nucleus; a nucleus counts when its contrast is at least
    ``least_relative_contrast`` of the largest.
    """
    cytoplasm = inside & (nuclei == 0)
    level = float(np.median(nuclear_img[cytoplasm])) if cytoplasm.any() else 0.0
    contrast = np.array([nuclear_img[inside & (nuclei == number)].mean() - level
                         for number in held])
    if contrast.max() <= 0:
        return held[:0]
    return held[contrast >= least_relative_contrast * contrast.max()]


def cell_signal_without_stain(mito_img: np.ndarray, hoechst_img: np.ndarray,
                              voxel_size_um: tuple[float, ...], mito_blur_um: float = 1.0
                              ) -> np.ndarray:
    """A cell signal for :func:`cells_from_nuclei` when there is no cell stain.

    The mitochondria channel blurred by ``mito_blur_um`` (it fills the cytoplasm with
    separate puncta and tubules) plus the Hoechst channel, both normalised to their 1st and
    99.5th percentiles; the Hoechst term marks the nuclei and the faint haze of the cell
    around them.

    Parameters
    ----------
    mito_img, hoechst_img : ndarray
        Mitochondria and Hoechst channels on the same grid.
    voxel_size_um : tuple of float
        Voxel size in µm.
    mito_blur_um : float
        Gaussian sigma (µm, lateral) of the mitochondria blur.

    Returns
    -------
    ndarray of float32
    """
    mito_img = np.asarray(mito_img, dtype=np.float32)
    hoechst_img = np.asarray(hoechst_img, dtype=np.float32)
    _check_grid(hoechst_img, mito_img, voxel_size_um)
    mito = ndi.gaussian_filter(normalise(mito_img), _sigma_px(voxel_size_um, mito_blur_um))
    return (normalise(mito) + normalise(hoechst_img)).astype(np.float32)


def normalise(image: np.ndarray) -> np.ndarray:
    """``image`` mapped so that its 1st percentile is 0 and its 99.5th is 1 (float32)."""
    low, high = np.percentile(image, _NORMALISE_PERCENTILES)
    return ((image - low) / max(float(high - low), 1e-12)).astype(np.float32)


def foreground_threshold(signal: np.ndarray) -> float:
    """Cell-versus-background level of a normalised, smoothed cell signal.

    Otsu's threshold of the log signal: a cytoplasmic stain spans a decade or more between
    dim cell edges and bright perinuclear regions, and Otsu on the linear image puts the dim
    cells into the background.
    """
    log_signal = np.log1p(np.clip(signal, 0.0, None) * 100.0)
    return float(np.expm1(threshold_otsu(log_signal)) / 100.0)


def _smoothed(cell_img: np.ndarray, voxel_size_um: tuple[float, ...], smoothing_um: float
              ) -> np.ndarray:
    """The cell signal normalised to about [0, 1] and smoothed laterally by ``smoothing_um``."""
    return ndi.gaussian_filter(normalise(cell_img), _sigma_px(voxel_size_um, smoothing_um))


def _propagate(markers: np.ndarray, signal: np.ndarray, grow_into: np.ndarray,
               voxel_size_um: tuple[float, ...], compactness: float) -> np.ndarray:
    """Seeded watershed of ``markers`` over the edges of ``signal``, within ``grow_into``."""
    edges = _edges(_capped_at_cytoplasm(signal, grow_into & (markers == 0)))
    # the gradient is per pixel and skimage's distances are in pixels: both scale with the
    # pixel size, hence its square
    compactness_px = compactness * float(np.mean(voxel_size_um[-2:])) ** 2
    return watershed(edges, markers, mask=grow_into, compactness=compactness_px)


def _fill_small_gaps(mask: np.ndarray, voxel_size_um: tuple[float, ...]) -> np.ndarray:
    """``mask`` with gaps smaller than :data:`_SMALLEST_GAP_UM2` filled, per plane."""
    if mask.ndim == 3:
        return np.stack([_fill_small_gaps(plane, voxel_size_um[-2:]) for plane in mask])
    gaps, _ = ndi.label(~mask)
    small = np.bincount(gaps.ravel()) * float(np.prod(voxel_size_um)) < _SMALLEST_GAP_UM2
    small[0] = False
    return mask | small[gaps]


def _capped_at_cytoplasm(signal: np.ndarray, cytoplasm: np.ndarray) -> np.ndarray:
    """The signal clipped at the 90th percentile of the cytoplasm.

    A nucleus far brighter than the cytoplasm (the Hoechst term of a field without cell
    stain) then makes no edge that would stop its own cell and let the neighbours take its
    cytoplasm.
    """
    if not cytoplasm.any():
        return signal
    return np.minimum(signal, np.percentile(signal[cytoplasm], 90))


def _edges(signal: np.ndarray) -> np.ndarray:
    """Gradient magnitude of the signal (per plane in 3-D: z steps are coarser)."""
    if signal.ndim == 2:
        return sobel(signal)
    return np.stack([sobel(plane) for plane in signal])


def _sigma_px(voxel_size_um: tuple[float, ...], sigma_um: float) -> tuple[float, ...]:
    """Gaussian sigma per axis in pixels; lateral only (no smoothing along z)."""
    lateral = tuple(sigma_um / float(step) for step in voxel_size_um[-2:])
    return (0.0,) * (len(voxel_size_um) - 2) + lateral


def _check_grid(labels: np.ndarray, image: np.ndarray, voxel_size_um: tuple[float, ...]) -> None:
    if labels.shape != image.shape:
        raise ValueError(f"images of shape {labels.shape} and {image.shape} must share a grid; "
                         "give channels of the same stack")
    if labels.ndim not in (2, 3) or len(voxel_size_um) != labels.ndim:
        raise ValueError(f"voxel_size_um {tuple(voxel_size_um)} does not match a {labels.ndim}-D "
                         "image; give (y, x) or (z, y, x) in µm")
