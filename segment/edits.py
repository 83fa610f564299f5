"""Corrections of a cell label image: merge, split, delete, the next free id.

The napari review widget and any script use these to correct a segmentation. Each edit
returns a :class:`LabelEdit` — the pixels to change and their new values — rather than a
new image, so that

- the caller applies it where it wants: ``labels[edit.indices] = edit.values``, or napari's
  undoable ``Labels.data_setitem(edit.indices, edit.values)`` (one undo step);
- the cost scales with the cells touched: the work happens on their bounding box;
- :attr:`LabelEdit.cell_ids` names the cells to re-measure.

Coordinates are in pixels of the label image, ``(y, x)`` for lines and ``(y, x)`` or
``(z, y, x)`` for seed points. In a 3-D image a line cuts the cell in every plane (the cut
is extruded along z). No function modifies its input.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi
from skimage.draw import line as raster_line
from skimage.segmentation import watershed

__all__ = [
    "EditError",
    "LabelEdit",
    "bounding_box",
    "mask_of_cells",
    "delete_cells",
    "merge_cells",
    "next_free_id",
    "split_cell_by_line",
    "split_cell_by_seeds",
]


class EditError(ValueError):
    """An edit cannot be made as asked (no such cell, a line that cuts nothing, ...)."""


@dataclass(frozen=True)
class LabelEdit:
    """Pixels of a label image to change.

    Attributes
    ----------
    indices : tuple of ndarray
        One integer array per axis (NumPy fancy index) of the pixels that change.
    values : ndarray
        The new label of each of those pixels.
    cell_ids : tuple of int
        Every label whose pixels change, before or after the edit (the cells to
        re-measure); new ids included, 0 excluded.
    """

    indices: tuple[np.ndarray, ...]
    values: np.ndarray
    cell_ids: tuple[int, ...]

    @property
    def n_pixels(self) -> int:
        """Number of pixels changed."""
        return int(self.values.size)

    def apply(self, labels: np.ndarray) -> np.ndarray:
        """Write the edit into ``labels`` in place and return it."""
        labels[self.indices] = self.values
        return labels


def next_free_id(labels: np.ndarray) -> int:
    """The smallest id larger than every label in use (``1`` for an empty image)."""
    return int(labels.max(initial=0)) + 1


def delete_cells(labels: np.ndarray, cell_ids: Iterable[int]) -> LabelEdit:
    """Set the pixels of ``cell_ids`` to background.

    Raises
    ------
    EditError
        When none of the ids is in the image.
    """
    ids, box = _cells_and_box(labels, cell_ids)
    region = labels[box]
    new = np.where(np.isin(region, ids), 0, region)
    return _edit_from_region(labels, box, new, ids)


def merge_cells(labels: np.ndarray, cell_ids: Iterable[int]) -> LabelEdit:
    """Give every pixel of ``cell_ids`` the smallest of those ids.

    Raises
    ------
    EditError
        When fewer than two of the ids are in the image.
    """
    ids, box = _cells_and_box(labels, cell_ids)
    if ids.size < 2:
        raise EditError(f"merging needs two or more cells; found only {ids.tolist()} "
                        "in the image")
    region = labels[box]
    new = np.where(np.isin(region, ids), ids.min(), region)
    return _edit_from_region(labels, box, new, ids)


def split_cell_by_line(labels: np.ndarray, cell_id: int, line_yx: Sequence[Sequence[float]],
                       first_new_id: int | None = None) -> LabelEdit:
    """Cut a cell in two (or more) along a drawn polyline.

    The line is rasterised as an 8-connected path, which separates the cell into
    4-connected parts (6-connected in 3-D, where the cut runs through every plane). The
    largest part keeps ``cell_id``; the others get ``first_new_id``, ``first_new_id + 1``,
    ... The pixels under the line go to the nearest part, so no pixel is lost.

    Parameters
    ----------
    labels : ndarray of int
        ``(Y, X)`` or ``(Z, Y, X)`` label image.
    cell_id : int
        The cell to cut.
    line_yx : sequence of (y, x)
        Vertices of the polyline in pixel coordinates (two or more).
    first_new_id : int, optional
        The id of the first new part; default :func:`next_free_id`.

    Raises
    ------
    EditError
        When the cell is absent or the line does not cut it in two.
    """
    vertices = np.asarray(line_yx, float)
    if vertices.ndim != 2 or vertices.shape[1] != 2 or len(vertices) < 2:
        raise EditError(f"a cutting line needs two or more (y, x) vertices, got shape "
                        f"{vertices.shape}")
    ids, box = _cells_and_box(labels, [cell_id])
    cell_id = int(ids[0])
    mask = labels[box] == cell_id
    cut = _raster_polyline(vertices - [box[-2].start, box[-1].start], mask.shape[-2:])
    parts, n_parts = ndi.label(mask & ~cut, structure=ndi.generate_binary_structure(mask.ndim, 1))
    if n_parts < 2:
        raise EditError(f"the line does not cut cell {cell_id} in two; draw it across the "
                        "whole cell, from outside to outside")
    parts = _fill_from_nearest_part(parts, mask)
    new_ids = _ids_for_parts(parts, cell_id, first_new_id, labels)
    return _edit_from_parts(labels, box, parts, new_ids, cell_id)


def split_cell_by_seeds(labels: np.ndarray, cell_id: int,
                        seeds_px: Sequence[Sequence[float]],
                        first_new_id: int | None = None, *,
                        voxel_size_um: Sequence[float] | None = None) -> LabelEdit:
    """Split a cell into one part per seed point (watershed on the distance to its edge).

    The largest part keeps ``cell_id``; the others get ``first_new_id``, ... in seed order.

    Parameters
    ----------
    labels : ndarray of int
        ``(Y, X)`` or ``(Z, Y, X)`` label image.
    cell_id : int
        The cell to split.
    seeds_px : sequence of points
        Two or more points inside the cell, in pixel coordinates of ``labels``.
    first_new_id : int, optional
        The id of the first new part; default :func:`next_free_id`.
    voxel_size_um : sequence of float, optional
        Pixel size per axis (µm), so that the distance to the edge is isotropic.

    Raises
    ------
    EditError
        When the cell is absent, fewer than two seeds lie inside it, or two seeds share a
        pixel.
    """
    ids, box = _cells_and_box(labels, [cell_id])
    cell_id = int(ids[0])
    seeds = np.round(np.asarray(seeds_px, float)).astype(np.int64)
    if seeds.ndim != 2 or seeds.shape[1] != labels.ndim:
        raise EditError(f"seed points need {labels.ndim} coordinates each, got shape "
                        f"{seeds.shape}")
    inside = [tuple(s) for s in seeds if _is_inside(labels, s, cell_id)]
    if len(set(inside)) < 2:
        raise EditError(f"splitting cell {cell_id} needs two or more distinct seed points "
                        f"inside it; {len(set(inside))} of {len(seeds)} are")
    mask = labels[box] == cell_id
    markers = np.zeros(mask.shape, np.int32)
    offset = np.array([s.start for s in box])
    for number, seed in enumerate(dict.fromkeys(inside), start=1):
        markers[tuple(np.asarray(seed) - offset)] = number
    distance = ndi.distance_transform_edt(np.pad(mask, 1), sampling=voxel_size_um)
    distance = distance[(slice(1, -1),) * mask.ndim]
    parts = watershed(-distance, markers, mask=mask)
    new_ids = _ids_for_parts(parts, cell_id, first_new_id, labels)
    return _edit_from_parts(labels, box, parts, new_ids, cell_id)


# ----------------------------------------------------------------------------- helpers


def _cells_and_box(labels: np.ndarray, cell_ids: Iterable[int]
                   ) -> tuple[np.ndarray, tuple[slice, ...]]:
    """The distinct ``cell_ids`` present in ``labels`` (sorted) and their bounding box.

    One pass over the image; the rest works on the box.
    """
    asked = np.unique(np.asarray(list(cell_ids), dtype=np.int64))
    asked = asked[asked > 0]
    if asked.size == 0:
        raise EditError("no cell given (0 is the background)")
    mask = mask_of_cells(labels, asked)
    box = bounding_box(mask)
    if box is None:
        raise EditError(f"cell(s) {asked.tolist()} are not in the label image")
    return np.unique(labels[box][mask[box]]).astype(np.int64), box


def mask_of_cells(labels: np.ndarray, cell_ids: Iterable[int]) -> np.ndarray:
    """Where ``labels`` holds one of ``cell_ids`` (boolean image).

    For a few ids, comparisons in the labels' own dtype beat :func:`numpy.isin` (which
    sorts or builds a table) by about two.
    """
    ids = [int(i) for i in cell_ids]
    if len(ids) > 8:
        return np.isin(labels, ids)
    mask = np.zeros(labels.shape, bool)
    for cell_id in ids:
        mask |= labels == cell_id
    return mask


def bounding_box(mask: np.ndarray) -> tuple[slice, ...] | None:
    """The smallest box holding every true pixel of ``mask`` (``None`` when it is empty).

    Scans the image once per axis, each time only within the box found so far.
    """
    box = [slice(None)] * mask.ndim
    for axis in range(mask.ndim):
        others = tuple(a for a in range(mask.ndim) if a != axis)
        where = np.flatnonzero(mask[tuple(box)].any(axis=others))
        if where.size == 0:
            return None
        start = box[axis].start or 0
        box[axis] = slice(start + int(where[0]), start + int(where[-1]) + 1)
    return tuple(box)


def _edit_from_region(labels: np.ndarray, box: tuple[slice, ...], new: np.ndarray,
                      ids: Iterable[int]) -> LabelEdit:
    """The edit that turns ``labels[box]`` into ``new``."""
    old = labels[box]
    changed = np.nonzero(old != new)
    indices = tuple(index + s.start for index, s in zip(changed, box))
    values = new[changed].astype(labels.dtype)
    touched = {int(i) for i in ids} | {int(v) for v in np.unique(values)}
    return LabelEdit(indices, values, tuple(sorted(touched - {0})))


def _raster_polyline(vertices: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Boolean image of an 8-connected polyline through ``vertices`` (clipped to ``shape``)."""
    cut = np.zeros(shape, bool)
    rounded = np.round(vertices).astype(np.int64)
    rows, cols = [], []
    for start, stop in zip(rounded[:-1], rounded[1:]):
        r, c = raster_line(int(start[0]), int(start[1]), int(stop[0]), int(stop[1]))
        rows.append(r)
        cols.append(c)
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    keep = (rows >= 0) & (rows < shape[0]) & (cols >= 0) & (cols < shape[1])
    cut[rows[keep], cols[keep]] = True
    return cut


def _fill_from_nearest_part(parts: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Give the cell pixels left unlabelled (the cut) the label of the nearest part."""
    if mask.ndim == 3:  # the 2-D cut repeats in every plane: fill plane by plane
        return np.stack([_fill_from_nearest_part(p, m) for p, m in zip(parts, mask)])
    if not parts.any():
        return parts
    nearest = ndi.distance_transform_edt(parts == 0, return_distances=False,
                                         return_indices=True)
    filled = parts[tuple(nearest)]
    return np.where(mask, filled, 0)


def _ids_for_parts(parts: np.ndarray, cell_id: int, first_new_id: int | None,
                   labels: np.ndarray) -> np.ndarray:
    """Label of each part number (index 0 = background): largest part keeps ``cell_id``."""
    sizes = np.bincount(parts.ravel())
    sizes[0] = 0
    numbers = np.flatnonzero(sizes)
    first = next_free_id(labels) if first_new_id is None else int(first_new_id)
    largest = numbers[np.argmax(sizes[numbers])]
    others = numbers[numbers != largest]
    ids = np.zeros(sizes.size, np.int64)
    ids[largest] = cell_id
    ids[others] = np.arange(first, first + others.size)
    return ids


def _edit_from_parts(labels: np.ndarray, box: tuple[slice, ...], parts: np.ndarray,
                     part_ids: np.ndarray, cell_id: int) -> LabelEdit:
    """The edit that relabels the cell's parts, leaving other pixels alone."""
    region = labels[box]
    new = np.where(parts > 0, part_ids[parts], region)
    return _edit_from_region(labels, box, new, [cell_id])


def _is_inside(labels: np.ndarray, point: np.ndarray, cell_id: int) -> bool:
    """Whether an integer point lies in the image and on ``cell_id``."""
    if np.any(point < 0) or np.any(point >= labels.shape):
        return False
    return int(labels[tuple(point)]) == cell_id
