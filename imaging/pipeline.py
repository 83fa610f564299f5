"""One stack -> label images + per-cell and per-mitochondrion tables.

The single place that composes segmentation (:mod:`segment`) and measurement
(:mod:`measure`); the batch runner and the napari widgets both call it, so a result computed
in napari equals the headless one for the same input and parameters.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from spmito.imaging.errors import SpmitoInputError
from spmito.imaging.io import read_flatfield
from spmito.imaging.params import AUTO, RunParams
from spmito.imaging.stack import Stack
from spmito.measure.objects.cells import measure_image
from spmito.measure.objects.labelstats import labels_on_lateral_edge
from spmito.segment._numba_cache import import_cellpose
from spmito.segment.backends import ImageScaleError
from spmito.segment.cells import segment_cells
from spmito.segment.edits import mask_of_cells
from spmito.segment.mito import segment_mitochondria
from spmito.segment.nuclei import (
    drop_nuclei_not_standing_out,
    estimate_nucleus_diameter_um,
    join_micronuclei,
    match_nuclei_to_cells,
    segment_nuclei,
)
from spmito.segment.propagate import (
    add_cells_for_nuclei,
    cell_signal_without_stain,
    cells_from_nuclei,
    cells_with_several_nuclei,
    divide_cells_among_nuclei,
    join_micronuclei_in_grown_cells,
    uncovered_nuclei,
)

#: ``progress(step, fraction)`` callback; steps are reported in this order (nuclei before
#: cells when the cells are grown from the nuclei, ``cell_method="nuclei"``).
STEPS = ("cells", "nuclei", "mitochondria", "measure")

#: Channel roles every analysis needs (``cell`` falls back to ``hoechst``).
REQUIRED_ROLES = ("hoechst", "mito")

ProgressCallback = Callable[[str, float], None]


@dataclass
class ImageResult:
    """Labels and tables of one image.

    Attributes
    ----------
    cells, nuclei : ndarray
        Label images on the input grid (``(Y, X)`` or ``(Z, Y, X)``).
    mito : ndarray
        The mitochondria split by cell, on the same grid: each piece of a mitochondrion
        inside one cell has its own label, the ``mito_id`` of ``mito_table`` (what
        ``mito.ome.tif`` holds), not the segmentation's connected objects.
    cell_table : DataFrame
        One row per cell (contract.md ``cells.csv`` columns, without ``image_id`` and the
        batch-level population columns).
    mito_table : DataFrame
        One row per mitochondrion (contract.md ``mito.csv``).
    voxel_size_um : tuple of float
        ``(y, x)`` or ``(z, y, x)``.
    provenance : dict
        Segmentation backend, model and sha256, parameters that produced the labels.
    """

    cells: np.ndarray
    nuclei: np.ndarray
    mito: np.ndarray
    cell_table: pd.DataFrame
    mito_table: pd.DataFrame
    voxel_size_um: tuple[float, ...]
    provenance: dict = field(default_factory=dict)


def require_roles(stack: Stack) -> None:
    """Refuse a stack without the :data:`REQUIRED_ROLES`, naming its channels and the fix.

    Raises
    ------
    ChannelError
        A required role has no channel (e.g. channels named ``ch0, ch1`` or ``red, green``
        and no ``--channels``).
    """
    for role in REQUIRED_ROLES:
        stack.channel_index(role)


def _channels(stack: Stack, *roles: str) -> dict[str, np.ndarray | None]:
    """Channel data for each role present (``None`` for an absent optional role)."""
    return {role: stack.channel(role) if stack.has_role(role) else None for role in roles}


#: Nucleus diameters (µm) an estimate may give: outside, the pixel size or the image is off.
PLAUSIBLE_NUCLEUS_UM = (3.0, 40.0)


def nucleus_diameter_um(params: RunParams, hoechst: np.ndarray,
                        voxel_size_um: tuple[float, ...], source=None) -> tuple[float, bool]:
    """The nucleus diameter to segment at, and whether it was estimated from the image.

    ``params.nucleus_diameter_um == "auto"``: :func:`estimate_nucleus_diameter_um`, refused
    outside :data:`PLAUSIBLE_NUCLEUS_UM`.

    Parameters
    ----------
    params : RunParams
        The run's settings (``nucleus_diameter_um``: µm or ``"auto"``).
    hoechst : ndarray
        The Hoechst channel, ``(Y, X)`` or ``(Z, Y, X)``.
    voxel_size_um : tuple of float
        Voxel size per axis in µm.
    source : path-like, optional
        The image file, named in errors.

    Returns
    -------
    diameter_um : float
    estimated : bool

    Raises
    ------
    SpmitoInputError
        The estimate failed or is implausible (naming ``source``, the image file).
    """
    if params.nucleus_diameter_um != AUTO:
        return float(params.nucleus_diameter_um), False
    fix = "Give the nucleus diameter in µm (--nucleus-diameter) or check the pixel size"
    try:
        estimate = estimate_nucleus_diameter_um(hoechst, voxel_size_um)
    except ValueError as error:
        raise SpmitoInputError(source, str(error), fix) from error
    low, high = PLAUSIBLE_NUCLEUS_UM
    if not low <= estimate <= high:
        raise SpmitoInputError(source, f"the nucleus diameter estimated from the Hoechst "
                               f"channel, {estimate:.1f} µm, is outside {low:g}-{high:g} µm",
                               fix)
    return estimate, True


def _check_given_mask(mask: np.ndarray, stack: Stack) -> np.ndarray:
    if mask.shape != stack.spatial_shape:
        raise SpmitoInputError(stack.source, f"the given cell mask has shape {mask.shape} but "
                               f"the image is {stack.spatial_shape}",
                               "Give a mask drawn on this image (same Z, Y, X size).")
    if not np.issubdtype(mask.dtype, np.integer):
        raise SpmitoInputError(stack.source, f"the given cell mask has dtype {mask.dtype}",
                               "Give an integer label image (0 = background).")
    return mask


#: Why cells were grown from nuclei although the cell model was asked for (``run.json``).
CELL_METHOD_WITHOUT_STAIN = ("nuclei: the image has no cell channel, and the cell model "
                             "segments a cell stain, not the Hoechst")


def segment_stack(stack: Stack, params: RunParams, given_cells: np.ndarray | None = None,
                  progress: ProgressCallback | None = None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """Cells (or the given mask), nuclei and mitochondria of one stack.

    Without a cell channel the cells are grown from the nuclei (over the mitochondria and
    the Hoechst haze) whatever ``params.cell_method`` says: the cell model segments a cell
    stain, and on the Hoechst alone it draws nucleus-sized cells. The provenance then says so
    (``cell_method``).

    Returns
    -------
    cells, nuclei, mito : ndarray
        Label images.
    provenance : dict
        Backend and model of the cell segmentation.
    """
    import_cellpose()  # before any network runs: Cellpose's numba kernels from the disk cache
    report = progress or (lambda step, fraction: None)
    voxel_size_um = stack.voxel_size_um
    images = _channels(stack, "hoechst", "cell", "mito")
    # the cell model segments a cell stain: on the Hoechst alone it draws nucleus-sized cells
    grow_from_nuclei = given_cells is None and (params.cell_method == "nuclei"
                                                or images["cell"] is None)
    if not grow_from_nuclei:
        report("cells", 0.0)
        if given_cells is None:
            segmentation = segment_cells(images["cell"], images["hoechst"],
                                         voxel_size_um=voxel_size_um,
                                         diameter_um=params.cell_diameter_um,
                                         model=params.model, device=params.device,
                                         mode_3d=params.mode_3d)
            cells, provenance = segmentation.labels, segmentation.provenance
        else:
            cells, provenance = _check_given_mask(given_cells, stack), {"backend": "given mask"}
    report("nuclei", 0.0 if grow_from_nuclei else 0.3)
    if grow_from_nuclei:
        signal, grown_over = _growth_signal(images, voxel_size_um)
        max_distance_um = _max_distance_um(params)
        nuclei = _nuclei_one_per_cell(stack, images, params,
                                      growth=(signal, max_distance_um))
        report("cells", 0.3)
        cells = cells_from_nuclei(nuclei.labels, signal, voxel_size_um, max_distance_um)
        provenance = {"backend": "cells from nuclei", "grown_over": grown_over,
                      "max_distance_um": max_distance_um}
        if params.cell_method != "nuclei":
            provenance["cell_method"] = CELL_METHOD_WITHOUT_STAIN
    else:
        nuclei = _nuclei_one_per_cell(stack, images, params, cells=cells)
        if given_cells is None:
            cells, provenance = complete_model_cells(cells, nuclei.labels, images, params,
                                                      voxel_size_um, provenance)
    provenance = {**provenance, "nuclei": nuclei.provenance, "voxel_size_um": list(voxel_size_um)}
    report("mitochondria", 0.55)
    mito = segment_mitochondria(images["mito"], voxel_size_um, params.mito_params,
                                mask=cells > 0)
    return cells, nuclei.labels, mito, provenance


def _nuclei_one_per_cell(stack: Stack, images: dict[str, np.ndarray | None],
                         params: RunParams, cells: np.ndarray | None = None,
                         growth: tuple[np.ndarray, float] | None = None):
    """The nuclei, less those not standing out of the Hoechst haze, micronuclei joined.

    Micronuclei join the nucleus of the same cell: ``cells`` (the model's or the given
    mask), or without them the cells that ``growth`` (signal, reach in µm) would grow from
    the larger nuclei.
    """
    voxel_size_um = stack.voxel_size_um
    diameter_um, estimated = nucleus_diameter_um(params, images["hoechst"], voxel_size_um,
                                                 stack.source)
    nuclei = segment_nuclei(images["hoechst"], voxel_size_um=voxel_size_um,
                            diameter_um=diameter_um, model=params.nucleus_model,
                            device=params.device, mode_3d=params.mode_3d)
    labels, not_standing_out = drop_nuclei_not_standing_out(
        nuclei.labels, images["hoechst"], voxel_size_um)
    if growth is None:
        labels, micronuclei = join_micronuclei(labels, voxel_size_um, cells=cells)
    else:
        labels, micronuclei = join_micronuclei_in_grown_cells(labels, growth[0], voxel_size_um,
                                                              growth[1])
    return replace(nuclei, labels=labels, provenance={
        **nuclei.provenance, "diameter_estimated": estimated,
        "nuclei_dropped_not_standing_out": not_standing_out,
        "micronuclei_joined": micronuclei})


def complete_model_cells(cells: np.ndarray, nuclei: np.ndarray,
                          images: dict[str, np.ndarray | None], params: RunParams,
                          voxel_size_um: tuple[float, ...], provenance: dict
                          ) -> tuple[np.ndarray, dict]:
    """The cell model's cells made to hold one nucleus each, as ``spmito run`` does.

    A cell with several nuclei is divided among them over the cell stain (unless
    ``params.divide_multinucleate_cells`` is off), and each nucleus that no cell holds gets a
    cell grown from it around the others (:mod:`spmito.segment.propagate`). The growth
    signal is only built when a cell or a nucleus needs it.

    Parameters
    ----------
    cells, nuclei : ndarray of int
        The cell model's cells and the nuclei, on one grid.
    images : dict
        Channel images by role; ``cell`` (or ``None``), and ``mito`` and ``hoechst`` for a
        field without a cell stain.
    params : RunParams
        ``divide_multinucleate_cells`` and the reach of grown cells
        (``cell_max_distance_um``, default ``cell_diameter_um``).
    voxel_size_um : tuple of float
        Voxel size in µm.
    provenance : dict
        The cell segmentation's provenance, returned with the counts added.

    Returns
    -------
    cells : ndarray of int32
    provenance : dict
        With ``cells_divided_between_nuclei``, ``cells_grown_for_nuclei_outside_cells`` and,
        when either is not 0, ``grown_over`` (the signal they grew over).
    """
    left_out = uncovered_nuclei(cells, nuclei)
    shared = (params.divide_multinucleate_cells
              and cells_with_several_nuclei(cells, nuclei).size > 0)
    provenance = {**provenance, "cells_divided_between_nuclei": 0,
                  "cells_grown_for_nuclei_outside_cells": 0}
    if left_out.size == 0 and not shared:
        return cells, provenance
    signal, grown_over = _growth_signal(images, voxel_size_um)
    n_divided = 0
    if shared:
        cells, n_divided = divide_cells_among_nuclei(cells, nuclei, signal, images["hoechst"],
                                                     voxel_size_um)
    cells, n_added = add_cells_for_nuclei(cells, nuclei, left_out, signal, voxel_size_um,
                                          _max_distance_um(params))
    provenance = {**provenance, "cells_divided_between_nuclei": n_divided,
                  "cells_grown_for_nuclei_outside_cells": n_added}
    return cells, ({**provenance, "grown_over": grown_over} if n_divided or n_added
                   else provenance)


def _growth_signal(images: dict[str, np.ndarray | None], voxel_size_um: tuple[float, ...]
                   ) -> tuple[np.ndarray, str]:
    """What cells grow over from their nuclei, and its name for the provenance.

    The cell stain, or without one the mitochondria channel plus the Hoechst haze.
    """
    if images["cell"] is not None:
        return images["cell"], "cell"
    return (cell_signal_without_stain(images["mito"], images["hoechst"], voxel_size_um),
            "mito+hoechst")


def _max_distance_um(params: RunParams) -> float:
    """How far a cell grown from its nucleus may reach (default: one cell diameter)."""
    return params.cell_max_distance_um or params.cell_diameter_um


def measure_labels(stack: Stack, cells: np.ndarray, nuclei: np.ndarray, mito: np.ndarray,
                   params: RunParams, cell_ids: np.ndarray | None = None
                   ) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """Per-cell and per-mitochondrion tables of labelled images (one pass over the image).

    ``cell_ids`` limits the tables to those cells (see
    :func:`spmito.measure.objects.cells.measure_image`).

    Returns
    -------
    cell_table, mito_table : DataFrame
        Sorted by ``cell_id`` and ``mito_id``.
    mito_pieces : ndarray
        The mitochondria split by cell (and, in 3-D, without the nucleus): the label image
        whose values are ``mito_table["mito_id"]``.
    """
    voxel_size_um = stack.voxel_size_um
    images = _channels(stack, "hoechst", "mito", "viability")
    measured = measure_image(cells, nuclei, mito, voxel_size_um, hoechst_img=images["hoechst"],
                             mito_img=images["mito"], viability_img=images["viability"],
                             flatfield=_flatfield(params.flatfield), annulus_um=params.annulus_um,
                             min_size=params.mito_params.min_size(stack.ndim),
                             cell_ids=cell_ids)
    matches = match_nuclei_to_cells(cells, nuclei)
    cell_table = matches.merge(measured.cells, on="cell_id", how="right")
    return (cell_table.sort_values("cell_id", ignore_index=True),
            measured.mito.sort_values("mito_id", ignore_index=True), measured.mito_pieces)


@functools.lru_cache(maxsize=2)
def _flatfield(path: str | None) -> np.ndarray | None:
    """The flat-field image, read once per process."""
    return None if path is None else read_flatfield(path)


def analyse_stack(stack: Stack, params: RunParams | None = None, *,
                  given_cells: np.ndarray | None = None,
                  progress: ProgressCallback | None = None) -> ImageResult:
    """Segment and measure one stack.

    Parameters
    ----------
    stack : Stack
        The image, with roles ``hoechst`` and ``mito`` (``cell`` recommended).
    params : RunParams, optional
        Analysis parameters (defaults when omitted).
    given_cells : ndarray, optional
        A cell label image to use instead of segmenting cells.
    progress : callable, optional
        ``progress(step, fraction)`` with steps from :data:`STEPS`.

    Returns
    -------
    ImageResult
    """
    params = params or RunParams()
    require_roles(stack)
    clock = _StepClock(progress)
    try:
        cells, nuclei, mito, provenance = segment_stack(stack, params, given_cells,
                                                        clock.report)
    except ImageScaleError as error:
        raise SpmitoInputError(stack.source, str(error),
                               "Check the voxel size (the file's, or --voxel-size) and "
                               "--cell-diameter / --nucleus-diameter, all in µm") from error
    clock.report("measure", 0.8)
    cell_table, mito_table, mito_pieces = measure_labels(stack, cells, nuclei, mito, params)
    clock.report("measure", 1.0)
    provenance = {**provenance, "seconds": clock.seconds}
    return ImageResult(cells, nuclei, mito_pieces, cell_table, mito_table, stack.voxel_size_um,
                       provenance)


class _StepClock:
    """Passes progress on and times each step (seconds per step, for run.json/benchmarks)."""

    def __init__(self, progress: ProgressCallback | None):
        self._progress = progress
        self._step: str | None = None
        self._since = time.perf_counter()
        self.seconds: dict[str, float] = {}

    def report(self, step: str, fraction: float) -> None:
        now = time.perf_counter()
        if self._step is not None:
            self.seconds[self._step] = round(self.seconds.get(self._step, 0.0)
                                             + now - self._since, 4)
        self._step, self._since = step, now
        if self._progress is not None:
            self._progress(step, fraction)


def remeasure_cells(stack: Stack, result: ImageResult, cell_ids: Iterable[int],
                    params: RunParams | None = None, *,
                    edited_mask: np.ndarray | None = None) -> ImageResult:
    """Re-measure only ``cell_ids`` after an edit of ``result.cells``.

    Measures on the bounding box of the changed cells grown by the background-annulus
    radius, so the cost scales with the edited cells, not the image. Rows of cells that no
    longer exist are dropped; rows of new cells are added.

    Parameters
    ----------
    stack : Stack
        The image the labels belong to.
    result : ImageResult
        Labels (already edited) and the tables before the edit.
    cell_ids : iterable of int
        Cells whose labels changed (deleted, merged, split, new).
    params : RunParams, optional
        Analysis parameters.
    edited_mask : ndarray of bool, optional
        Where ``result.cells`` holds one of ``cell_ids``, when the caller has it already (a
        whole-image pass saved per edit).

    Returns
    -------
    ImageResult
        Same labels, updated tables.
    """
    params = params or RunParams()
    ids = np.unique(np.asarray(list(cell_ids), dtype=np.int64))
    ids = ids[ids > 0]
    keep_cells = ~result.cell_table["cell_id"].isin(ids)
    keep_mito = ~result.mito_table["cell_id"].isin(ids)
    if edited_mask is None and ids.size:

        edited_mask = mask_of_cells(result.cells, ids)
    new_cells, new_mito, mito = _measure_region(stack, result, ids, edited_mask, params)
    cell_table = pd.concat([result.cell_table[keep_cells], new_cells], ignore_index=True)
    mito_table = pd.concat([result.mito_table[keep_mito], new_mito], ignore_index=True)
    return ImageResult(result.cells, result.nuclei, mito,
                       cell_table.sort_values("cell_id", ignore_index=True),
                       mito_table.sort_values("mito_id", ignore_index=True),
                       result.voxel_size_um, result.provenance)


def _measure_region(stack: Stack, result: ImageResult, ids: np.ndarray,
                    edited: np.ndarray | None, params: RunParams
                    ) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """Tables of cells ``ids`` measured on a crop around them, and the updated mito labels.

    The pieces inside those cells are written back; coordinates and ids are the full
    image's. Cells of ``ids`` that no longer exist (deleted, merged away) get no row.
    """
    box = _grown_box(edited, params.annulus_um[1], stack.voxel_size_um) if ids.size else None
    if box is None:
        return result.cell_table.iloc[:0], result.mito_table.iloc[:0], result.mito
    changed = edited[box]
    # every cell of the crop takes part (neighbours are not background of the annulus and cut
    # mitochondria at their boundary); only the edited cells are tabulated
    cell_table, mito_table, pieces = measure_labels(_crop_stack(stack, box), result.cells[box],
                                                    result.nuclei[box], result.mito[box], params,
                                                    cell_ids=ids)
    pieces, mito_table = _fresh_ids_for_new_pieces(pieces, mito_table, result.mito, box)
    mito = result.mito.copy()
    mito[box][changed] = pieces[changed]
    offset = [s.start for s in box]
    for table in (cell_table, mito_table):
        for axis, name in enumerate("zyx"[-len(offset):]):
            column = f"centroid_{name}"
            if column in table:
                table[column] = table[column] + offset[axis]
    cell_table["touches_border"] = labels_on_lateral_edge(result.cells,
                                                          cell_table["cell_id"].to_numpy())
    return cell_table, mito_table, mito


def _fresh_ids_for_new_pieces(pieces: np.ndarray, mito_table: pd.DataFrame,
                              mito: np.ndarray, box: tuple[slice, ...]
                              ) -> tuple[np.ndarray, pd.DataFrame]:
    """Give pieces created by an edit ids unused in the whole image.

    A split through a mitochondrion creates a piece; objects that were not split keep their
    ids.
    """
    new = np.setdiff1d(np.unique(pieces), np.unique(mito[box]))
    new = new[new > 0]
    if new.size == 0:
        return pieces, mito_table
    lookup = np.arange(int(pieces.max()) + 1, dtype=pieces.dtype)
    first = int(mito.max()) + 1
    lookup[new] = np.arange(first, first + new.size)
    return lookup[pieces], mito_table.assign(mito_id=lookup[mito_table["mito_id"].to_numpy()])


def _grown_box(mask: np.ndarray, margin_um: float, voxel_size_um: tuple[float, ...]
               ) -> tuple[slice, ...] | None:
    """Bounding box of ``mask`` grown by ``margin_um`` on each side, clipped to the image.

    Found from one projection per axis (no index arrays of the whole image); ``None`` when
    the mask is empty. A 3-D box keeps every plane.
    """
    box = []
    for axis, (size, step) in enumerate(zip(mask.shape, voxel_size_um)):
        others = tuple(a for a in range(mask.ndim) if a != axis)
        hit = np.flatnonzero(mask.any(axis=others))
        if hit.size == 0:
            return None
        if mask.ndim == 3 and axis == 0:
            box.append(slice(0, size))  # all planes: z_clipped needs the first and last
            continue
        pad = int(np.ceil(margin_um / step)) + 1
        box.append(slice(max(int(hit[0]) - pad, 0), min(int(hit[-1]) + pad + 1, size)))
    return tuple(box)


def _crop_stack(stack: Stack, box: tuple[slice, ...]) -> Stack:
    """A Stack restricted to a spatial box (channel axis kept whole)."""
    index = list(box)
    index.insert(stack.axes.index("C"), slice(None))
    return replace(stack, data=np.asarray(stack.data[tuple(index)]))
