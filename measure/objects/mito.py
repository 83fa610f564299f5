"""Per-mitochondrion measurements (``mito.csv``) and the split of mitochondria by cell.

Analysis region K (domain.md §3): the cell minus its nuclear region in 3-D (a cell's nuclear
region is its voxels lying in any nucleus label), the whole cell in 2-D. The objects measured
are the connected parts (8-connectivity in 2-D, 26 in 3-D) of each mitochondrion within one
region: a mitochondrion crossing a cell boundary is cut in two, one lying outside every cell
gets ``cell_id`` 0, and in 3-D the voxels inside nuclei are not measured. Pieces smaller than
the minimum object size (0.06 µm², 0.025 µm³) are dropped. A piece keeps the label of its
mitochondrion (the largest piece of a split one; the others get new labels), so ``mito_id``
matches the segmentation labels wherever nothing was split.

Columns (2-D uses ``area_um2`` / ``form_factor``, 3-D ``volume_um3`` / ``sphericity``):
``mito_id`` (label in :func:`split_mitochondria`'s output), ``cell_id``, size,
``skeleton_length_um, branches, junctions, endpoints`` (:mod:`spmito.measure.objects.skeleton`),
``mean_width_um`` (twice the distance from the skeleton to the background minus one pixel,
averaged along the skeleton), ``form_factor`` = P²/(4πA) (1 for a disc) or ``sphericity`` =
π^(1/3)(6V)^(2/3)/S (1 for a ball; S from a marching-cubes mesh), ``intensity_mean,
intensity_integrated`` (mito signal minus the background of the object's cell), and
``centroid_z, centroid_y, centroid_x`` in pixels (no ``centroid_z`` in 2-D).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import ndimage as ndi

from spmito.measure.objects.background import (
    ANNULUS_INNER_UM,
    ANNULUS_OUTER_UM,
    background_per_cell,
    cell_annuli,
    field_mode,
)
from spmito.measure.objects.labelstats import (
    centroids_per_label,
    present_labels,
    range_per_label,
    sum_per_label,
    voxels_per_label,
)
from spmito.measure.objects.skeleton import SKELETON_COLUMNS, graph_metrics, separated_skeletons
from spmito.segment.mito import MitoParams


def size_name(ndim: int) -> str:
    """``"area_um2"`` for 2-D images, ``"volume_um3"`` for 3-D."""
    return "area_um2" if ndim == 2 else "volume_um3"


def mito_columns(ndim: int) -> list[str]:
    """The columns of :func:`measure_mitochondria`, in order."""
    shape = "form_factor" if ndim == 2 else "sphericity"
    centroids = [f"centroid_{axis}" for axis in "zyx"[-ndim:]]
    return ["mito_id", "cell_id", size_name(ndim), *SKELETON_COLUMNS, "mean_width_um", shape,
            "intensity_mean", "intensity_integrated", *centroids]


def analysis_regions(cells: np.ndarray, nuclei: np.ndarray) -> np.ndarray:
    """The analysis region of every cell as one image.

    Parameters
    ----------
    cells, nuclei : ndarray of int
        Cell and nucleus labels of the same shape.

    Returns
    -------
    ndarray of int32
        The cell id on its region K, 0 outside every cell, -1 on the nuclear region of a cell
        in 3-D (not analysed).
    """
    regions = cells.astype(np.int32, copy=True)
    if cells.ndim == 3:
        regions[(nuclei > 0) & (cells > 0)] = -1
    return regions


def split_mitochondria(mito_labels: np.ndarray, cells: np.ndarray, nuclei: np.ndarray,
                       voxel_size_um, min_size: float | None = None) -> np.ndarray:
    """The mitochondria as measured: connected parts of each object within one region.

    An object lying in one analysis region in one piece keeps its label; an object crossing
    a cell boundary (or cut by a nucleus in 3-D) is split, its largest part keeping the label
    and the others getting new labels above the largest input label.

    Parameters
    ----------
    mito_labels : ndarray of int or bool
        Mitochondria labels (e.g. from :func:`spmito.segment.mito.segment_mitochondria`); a boolean
        mask is labelled first (full connectivity).
    cells, nuclei : ndarray of int
        Cell and nucleus labels.
    voxel_size_um : sequence of float
        Voxel size per axis in µm.
    min_size : float, optional
        Smallest piece kept, µm² (2-D) or µm³ (3-D); default from :class:`MitoParams`.

    Returns
    -------
    ndarray of int32
        Piece labels; the ``mito_id`` of :func:`measure_mitochondria`.
    """
    return pieces_in_regions(mito_labels, analysis_regions(cells, nuclei), voxel_size_um, min_size)


def pieces_in_regions(mito_labels: np.ndarray, regions: np.ndarray, voxel_size_um,
                      min_size: float | None = None) -> np.ndarray:
    """:func:`split_mitochondria` with the analysis regions already computed.

    Parameters
    ----------
    mito_labels : ndarray of int or bool
        Mitochondria labels.
    regions : ndarray of int
        Output of :func:`analysis_regions`.
    voxel_size_um : sequence of float
        Voxel size per axis in µm.
    min_size : float, optional
        Smallest piece kept, µm² (2-D) or µm³ (3-D); default from :class:`MitoParams`.

    Returns
    -------
    ndarray of int32
        Piece labels.
    """
    if mito_labels.dtype == bool:
        mito_labels = ndi.label(mito_labels, structure=np.ones((3,) * regions.ndim, bool))[0]
    pieces = np.where(regions >= 0, mito_labels, 0).astype(np.int32, copy=False)
    _split_crossing_objects(pieces, regions)
    if min_size is None:
        min_size = MitoParams().min_size(regions.ndim)
    every_label = np.arange(int(pieces.max(initial=0)) + 1)
    small = voxels_per_label(pieces, every_label) < min_size / float(np.prod(voxel_size_um))
    small[0] = False
    pieces[small[pieces]] = 0
    return pieces


def _split_crossing_objects(pieces: np.ndarray, regions: np.ndarray) -> None:
    """Split, in place, the objects that span several regions or several components.

    Found in one pass over the image (per-label minimum and maximum of the region and of the
    connected-component labels); each is relabelled on its bounding box, where
    ``skimage.measure.label`` joins equal region values only.
    """
    from skimage.measure import label

    ids = present_labels(pieces)
    if ids.size == 0:
        return
    components = ndi.label(pieces > 0, structure=np.ones((3,) * pieces.ndim, bool))[0]
    region_low, region_high = range_per_label(regions, pieces, ids)
    component_low, component_high = range_per_label(components, pieces, ids)
    crossing = (region_low != region_high) | (component_low != component_high)
    del components
    boxes = ndi.find_objects(pieces)
    next_label = int(ids[-1]) + 1
    for object_label in ids[crossing]:
        box = boxes[object_label - 1]
        inside = pieces[box] == object_label
        parts = label(np.where(inside, regions[box] + 2, 0), connectivity=pieces.ndim)
        part_ids, part_sizes = np.unique(parts[inside], return_counts=True)
        largest_first = part_ids[np.argsort(-part_sizes, kind="stable")]
        new_ids = np.zeros(int(parts.max()) + 1, np.int32)
        new_ids[largest_first] = [object_label, *range(next_label,
                                                       next_label + part_ids.size - 1)]
        next_label += part_ids.size - 1
        pieces[box][inside] = new_ids[parts[inside]]


def piece_cells(pieces: np.ndarray, regions: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """The cell of each piece in ``ids`` (0 = outside every cell)."""
    if ids.size == 0:
        return np.zeros(0, np.int64)
    return range_per_label(regions, pieces, ids)[1].astype(np.int64)


def count_per_cell(mito_labels: np.ndarray, cells: np.ndarray, nuclei: np.ndarray, voxel_size_um,
                   min_size: float | None = None) -> pd.DataFrame:
    """Mitochondria count and total size per cell, without the shape and graph features.

    The same pieces as :func:`measure_mitochondria` (hence the same ``mito_count`` and
    ``mito_area_um2 | mito_volume_um3`` as :func:`spmito.measure.objects.cells.measure_cells`), at a
    fraction of the cost: for quick counts and parameter sweeps.

    Parameters
    ----------
    mito_labels : ndarray of int or bool
        Mitochondria labels.
    cells, nuclei : ndarray of int
        Cell and nucleus labels.
    voxel_size_um : sequence of float
        Voxel size per axis in µm.
    min_size : float, optional
        Smallest piece kept (µm² or µm³); default from :class:`MitoParams`.

    Returns
    -------
    DataFrame
        ``cell_id, mito_count, mito_area_um2 | mito_volume_um3``, one row per cell.
    """
    pieces = split_mitochondria(mito_labels, cells, nuclei, voxel_size_um, min_size)
    ids = present_labels(pieces)
    cell_ids = present_labels(cells)
    n = int(cell_ids.max(initial=0)) + 1
    cell_of = piece_cells(pieces, analysis_regions(cells, nuclei), ids)
    voxels = voxels_per_label(pieces, ids)
    size = np.bincount(cell_of, weights=voxels, minlength=n) * float(np.prod(voxel_size_um))
    return pd.DataFrame({"cell_id": cell_ids,
                         "mito_count": np.bincount(cell_of, minlength=n)[cell_ids],
                         f"mito_{size_name(cells.ndim)}": size[cell_ids]})


def measure_mitochondria(mito_labels: np.ndarray, cells: np.ndarray, nuclei: np.ndarray,
                         mito_img: np.ndarray, voxel_size_um, *,
                         background: Mapping[int, float] | None = None,
                         annulus_um: tuple[float, float] = (ANNULUS_INNER_UM, ANNULUS_OUTER_UM),
                         min_size: float | None = None) -> pd.DataFrame:
    """One row per mitochondrion (``mito.csv`` without ``image_id``).

    Parameters
    ----------
    mito_labels : ndarray of int or bool
        Mitochondria labels (e.g. from :func:`spmito.segment.mito.segment_mitochondria`).
    cells, nuclei : ndarray of int
        Cell and nucleus labels (a nucleus may carry any id; what counts is where it lies).
    mito_img : ndarray
        The mitochondria channel (raw).
    voxel_size_um : sequence of float
        Voxel size per axis in µm.
    background : mapping of int to float, optional
        Mito-channel background per cell id (key 0: outside every cell). Default: the median
        of each cell's annulus and the per-field mode outside cells
        (:mod:`spmito.measure.objects.background`).
    annulus_um : (float, float)
        Inner and outer annulus radii for the default background.
    min_size : float, optional
        Smallest piece kept (µm² or µm³); default from :class:`MitoParams`.

    Returns
    -------
    DataFrame
        Columns :func:`mito_columns`, one row per piece of :func:`split_mitochondria`.
    """
    pieces = split_mitochondria(mito_labels, cells, nuclei, voxel_size_um, min_size)
    if background is None:
        background = mito_background(cells, mito_img, voxel_size_um, annulus_um)
    return mito_table(pieces, analysis_regions(cells, nuclei), mito_img, voxel_size_um, background)


def mito_background(cells: np.ndarray, mito_img: np.ndarray, voxel_size_um,
                    annulus_um: tuple[float, float] = (ANNULUS_INNER_UM, ANNULUS_OUTER_UM)
                    ) -> dict[int, float]:
    """Mito-channel background per cell (annulus median) and outside cells (key 0, field mode).

    Parameters
    ----------
    cells : ndarray of int
        Cell labels.
    mito_img : ndarray
        The mitochondria channel.
    voxel_size_um : sequence of float
        Voxel size per axis in µm.
    annulus_um : (float, float)
        Inner and outer annulus radii.

    Returns
    -------
    dict of int to float
    """
    annuli = cell_annuli(cells, voxel_size_um, *annulus_um)
    ids = present_labels(cells)
    values, _ = background_per_cell(mito_img, annuli, ids)
    background = dict(zip(ids.tolist(), values.tolist(), strict=True))
    background[0] = field_mode(mito_img[annuli.grid][annuli.outside])
    return background


def mito_table(pieces: np.ndarray, regions: np.ndarray, mito_img: np.ndarray, voxel_size_um,
               background: Mapping[int, float]) -> pd.DataFrame:
    """Measure already split pieces (see :func:`measure_mitochondria`).

    Parameters
    ----------
    pieces : ndarray of int32
        Output of :func:`split_mitochondria`.
    regions : ndarray of int
        Output of :func:`analysis_regions`.
    mito_img : ndarray
        The mitochondria channel.
    voxel_size_um : sequence of float
        Voxel size per axis in µm.
    background : mapping of int to float
        Mito-channel background per cell id (missing: 0).

    Returns
    -------
    DataFrame
        Columns :func:`mito_columns`.
    """
    voxel_size_um = np.asarray(voxel_size_um, float)
    ndim = pieces.ndim
    ids = present_labels(pieces)
    cell_of = piece_cells(pieces, regions, ids)
    voxels = voxels_per_label(pieces, ids).astype(float)
    offsets = np.array([background.get(int(c), 0.0) for c in cell_of], float)
    integrated = sum_per_label(mito_img, pieces, ids) - voxels * offsets
    table = pd.DataFrame({
        "mito_id": ids,
        "cell_id": cell_of,
        size_name(ndim): voxels * float(np.prod(voxel_size_um)),
        "intensity_mean": integrated / np.maximum(voxels, 1),
        "intensity_integrated": integrated,
    })
    skeleton = separated_skeletons(pieces)
    table = table.join(graph_metrics(skeleton, pieces, voxel_size_um), on="mito_id")
    table = table.join(_shape_features(pieces, skeleton, voxel_size_um), on="mito_id")
    centroids = centroids_per_label(pieces, ids)
    for axis, name in enumerate("zyx"[-ndim:]):
        table[f"centroid_{name}"] = centroids[:, axis]
    return table[mito_columns(ndim)]


def _shape_features(pieces: np.ndarray, skeleton: np.ndarray, voxel_size_um: np.ndarray
                    ) -> pd.DataFrame:
    """Mean width and form factor (2-D) or sphericity (3-D), one object crop at a time."""
    shape_name = "form_factor" if pieces.ndim == 2 else "sphericity"
    rows = {}
    for label, box in enumerate(ndi.find_objects(pieces), start=1):
        if box is None:
            continue
        mask, bone = _padded_crops(pieces, skeleton, box, label)
        rows[label] = (_mean_width(mask, bone, voxel_size_um), _compactness(mask, voxel_size_um))
    return pd.DataFrame.from_dict(rows, orient="index", columns=["mean_width_um", shape_name])


def _padded_crops(pieces: np.ndarray, skeleton: np.ndarray, box: tuple[slice, ...], label: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The object's mask and skeleton on its bounding box with one background voxel around."""
    grown = tuple(slice(max(s.start - 1, 0), min(s.stop + 1, n))
                  for s, n in zip(box, pieces.shape, strict=True))
    mask = pieces[grown] == label
    bone = skeleton[grown] & mask
    if any(s.start == 0 or s.stop == n for s, n in zip(grown, pieces.shape, strict=True)):
        mask, bone = np.pad(mask, 1), np.pad(bone, 1)  # the object may touch the image edge
    return mask, bone


def _mean_width(mask: np.ndarray, bone: np.ndarray, voxel_size_um: np.ndarray) -> float:
    """Twice the distance from the skeleton to the background, minus one pixel.

    The object's edge lies half a pixel beyond its last pixel. Averaged along the skeleton;
    the deepest voxels stand in for a skeleton cut away at a contact with another object.
    """
    depth = ndi.distance_transform_edt(mask, sampling=voxel_size_um)
    along = depth[bone] if bone.any() else depth[depth == depth.max()]
    return 2.0 * float(along.mean()) - float(voxel_size_um[-1])


def _compactness(mask: np.ndarray, voxel_size_um: np.ndarray) -> float:
    """P²/(4πA) of a 2-D mask, or π^(1/3)(6V)^(2/3)/S of a 3-D mask (padded by one voxel)."""
    size = float(mask.sum() * np.prod(voxel_size_um))
    if mask.ndim == 2:
        from skimage.measure import perimeter

        perimeter_um = perimeter(mask) * float(np.sqrt(voxel_size_um[0] * voxel_size_um[1]))
        return perimeter_um**2 / (4.0 * np.pi * size)
    from skimage.measure import marching_cubes, mesh_surface_area

    vertices, faces, _, _ = marching_cubes(mask.astype(np.float32), level=0.5,
                                           spacing=voxel_size_um)
    surface = mesh_surface_area(vertices, faces)
    return float(np.pi ** (1 / 3) * (6.0 * size) ** (2 / 3) / surface)
