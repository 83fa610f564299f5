"""Per-cell measurements (``cells.csv``): geometry, integrated Hoechst, mitochondria, QC flags.

Everything is computed for all cells in one pass over the image (``bincount`` over labels,
``ndimage`` label statistics, one distance transform for all annuli); only the solidity and
the per-mitochondrion shape features loop, over bounding-box crops.

Columns (2-D images use the ``_area_um2`` names and have no ``centroid_z``; 3-D images the
``_volume_um3`` names):

``cell_id, centroid_z, centroid_y, centroid_x`` (pixels), ``cell_area_um2 | cell_volume_um3``,
``nucleus_area_um2 | nucleus_volume_um3`` (the cell's voxels lying in any nucleus label),
``cell_solidity`` (size over convex-hull size),
``hoechst_integrated`` = Σ over the nuclear region of (H − b), H optionally flat-field
corrected (divided by the flat field normalised to mean 1), b the annulus background
(:mod:`spmito.measure.objects.background`); ``hoechst_mean`` = ``hoechst_integrated`` /
nuclear voxels
(both NaN without a nucleus); ``hoechst_background`` = b; ``background_from_field`` (True
where the annulus was too small and the per-field mode was used);
``viability_mean`` (mean of V − b_V over the cell; only with a viability image);
``mito_count`` (pieces of :func:`spmito.measure.objects.mito.split_mitochondria` in the cell),
``mito_area_um2 | mito_volume_um3`` (total), ``mito_fraction`` (total / size of the analysis
region K), ``mito_mean_size`` (total / count), ``fragmentation_index`` (count / total),
``mito_skeleton_length_um, mito_branches, mito_junctions, mito_endpoints`` (sums),
``mito_networks`` / ``mito_individuals`` (pieces with / without a junction),
``mito_intensity_integrated`` = Σ over K of (M − b_M) (segmentation-free mass),
``mito_intensity_mean`` = mean of (M − b_M) over the mitochondria voxels,
``touches_border`` (touches the lateral image edge), ``z_clipped`` (touches the first or last
plane; always False in 2-D), ``saturated`` (more than 0.1 % of the nuclear voxels at the
maximum of an integer dtype).
"""

from __future__ import annotations

from dataclasses import dataclass

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
    labels_on_lateral_edge,
    mean_per_label,
    present_labels,
    sum_per_label,
    voxels_per_label,
)
from spmito.measure.objects.mito import analysis_regions, mito_table, pieces_in_regions, size_name

#: Fraction of saturated nuclear voxels above which a cell is flagged (domain.md §2).
SATURATED_FRACTION = 0.001


@dataclass(frozen=True)
class ImageMeasurements:
    """The tables of one image and the mitochondria pieces they describe.

    Attributes
    ----------
    cells : DataFrame
        One row per cell (``cells.csv`` without ``image_id`` and the nucleus matching).
    mito : DataFrame
        One row per mitochondrion (``mito.csv`` without ``image_id``).
    mito_pieces : ndarray of int32
        The label image whose labels are ``mito["mito_id"]``.
    """

    cells: pd.DataFrame
    mito: pd.DataFrame
    mito_pieces: np.ndarray


def measure_cells(cells: np.ndarray, nuclei: np.ndarray, mito_labels: np.ndarray, voxel_size_um,
                  *, hoechst_img: np.ndarray, mito_img: np.ndarray,
                  viability_img: np.ndarray | None = None, flatfield: np.ndarray | None = None,
                  annulus_um: tuple[float, float] = (ANNULUS_INNER_UM, ANNULUS_OUTER_UM),
                  min_size: float | None = None) -> pd.DataFrame:
    """One row per cell (``cells.csv`` without ``image_id``, ``nucleus_id``, ``n_nuclei``).

    Parameters are those of :func:`measure_image`, which also returns the per-mitochondrion
    table; call it instead when both tables are needed (the mitochondria are measured once).

    Returns
    -------
    DataFrame
        See the module docstring for the columns.
    """
    return measure_image(cells, nuclei, mito_labels, voxel_size_um, hoechst_img=hoechst_img,
                         mito_img=mito_img, viability_img=viability_img, flatfield=flatfield,
                         annulus_um=annulus_um, min_size=min_size).cells


def measure_image(cells: np.ndarray, nuclei: np.ndarray, mito_labels: np.ndarray, voxel_size_um,
                  *, hoechst_img: np.ndarray, mito_img: np.ndarray,
                  viability_img: np.ndarray | None = None, flatfield: np.ndarray | None = None,
                  annulus_um: tuple[float, float] = (ANNULUS_INNER_UM, ANNULUS_OUTER_UM),
                  min_size: float | None = None,
                  cell_ids: np.ndarray | None = None) -> ImageMeasurements:
    """Per-cell and per-mitochondrion tables of one image.

    Parameters
    ----------
    cells, nuclei : ndarray of int
        Cell and nucleus labels, ``(Y, X)`` or ``(Z, Y, X)``.
    mito_labels : ndarray of int or bool
        Mitochondria labels (e.g. from :func:`spmito.segment.mito.segment_mitochondria`).
    voxel_size_um : sequence of float
        Voxel size per axis in µm.
    hoechst_img, mito_img : ndarray
        Hoechst and mitochondria channels (raw).
    viability_img : ndarray, optional
        Viability stain (PI, DRAQ7, SYTOX); adds ``viability_mean``.
    flatfield : ndarray, optional
        Flat field of the Hoechst channel, ``(Y, X)`` or the image's shape; divided out after
        normalisation to mean 1.
    annulus_um : (float, float)
        Inner and outer radii of the background annulus (domain.md: 2 and 6 µm).
    min_size : float, optional
        Smallest mitochondrion piece counted (µm² or µm³); default 0.06 µm² / 0.025 µm³.
    cell_ids : ndarray of int, optional
        Tabulate only these cells and their mitochondria (default: every cell). The other
        cells still shape the result: they are no background for the annuli and they cut
        mitochondria at their boundaries; ``mito_pieces`` holds every cell's pieces. Used to
        re-measure edited cells on a crop.

    Returns
    -------
    ImageMeasurements
    """
    voxel_size_um = np.asarray(voxel_size_um, float)
    ids = present_labels(cells)
    if cell_ids is not None:
        ids = np.intersect1d(ids, cell_ids)
    annuli = cell_annuli(cells, voxel_size_um, *annulus_um)
    hoechst = _flatfield_corrected(hoechst_img, flatfield)
    hoechst_b, from_field = background_per_cell(hoechst, annuli, ids)
    mito_b, _ = background_per_cell(mito_img, annuli, ids)
    regions = analysis_regions(cells, nuclei)
    pieces = pieces_in_regions(mito_labels, regions, voxel_size_um, min_size)
    mito_offsets = dict(zip(ids.tolist(), mito_b.tolist(), strict=True))
    mito_offsets[0] = field_mode(mito_img[annuli.grid][annuli.outside])
    tabulated = pieces if cell_ids is None else np.where(np.isin(cells, ids), pieces, 0)
    mito = mito_table(tabulated, regions, mito_img, voxel_size_um, mito_offsets)

    nuclear = np.where(nuclei > 0, cells, 0)
    table = _geometry(cells, nuclear, ids, voxel_size_um)
    table = table.join(_hoechst(hoechst, hoechst_img, nuclear, ids, hoechst_b))
    table["background_from_field"] = from_field
    if viability_img is not None:
        viability_b, _ = background_per_cell(viability_img, annuli, ids)
        table["viability_mean"] = mean_per_label(viability_img, cells, ids) - viability_b
    del regions
    table = table.join(_mito_per_cell(mito, cells, nuclear, mito_img, ids, mito_b, voxel_size_um))
    table = table.join(_qc_flags(cells, hoechst_img, nuclear, ids))
    return ImageMeasurements(table.reset_index(), mito, pieces)


def _flatfield_corrected(image: np.ndarray, flatfield: np.ndarray | None) -> np.ndarray:
    """``image`` divided by ``flatfield / mean(flatfield)`` (float32), or ``image``."""
    if flatfield is None:
        return image
    flatfield = np.asarray(flatfield, np.float32)
    if flatfield.shape not in (image.shape, image.shape[-2:]) or not np.all(flatfield > 0):
        raise ValueError(f"the flat field must be positive with shape {image.shape[-2:]} or "
                         f"{image.shape}; got shape {flatfield.shape}")
    return image.astype(np.float32) / (flatfield / flatfield.mean())


def _geometry(cells: np.ndarray, nuclear: np.ndarray, ids: np.ndarray, voxel_size_um: np.ndarray
              ) -> pd.DataFrame:
    """Centroid (pixels), cell and nucleus size, solidity; indexed by ``cell_id``."""
    ndim = cells.ndim
    voxel = float(np.prod(voxel_size_um))
    table = pd.DataFrame(index=pd.Index(ids, name="cell_id"))
    centroids = centroids_per_label(cells, ids)
    for axis, name in enumerate("zyx"[-ndim:]):
        table[f"centroid_{name}"] = centroids[:, axis]
    size = size_name(ndim)
    table[f"cell_{size}"] = voxels_per_label(cells, ids) * voxel
    table[f"nucleus_{size}"] = voxels_per_label(nuclear, ids) * voxel
    table["cell_solidity"] = [_solidity(cells[box] == label)
                              for label, box in _boxes(cells, ids)]
    return table


def _boxes(labels: np.ndarray, ids: np.ndarray) -> list[tuple[int, tuple[slice, ...]]]:
    """``(label, bounding box)`` of each of ``ids``."""
    boxes = ndi.find_objects(labels)
    return [(int(label), boxes[label - 1]) for label in ids]


def _solidity(mask: np.ndarray) -> float:
    """Size of ``mask`` over the size of its convex hull.

    The hull is that of the pixels' corners, so it encloses the pixels (a digital disc of
    radius 50 px has solidity 0.98). Only the first and last pixel of every row (along the
    last axis) can be hull vertices; their hull, grown by the pixel corners (the hull of a
    Minkowski sum), gives the result in 2-D and 3-D, where ``regionprops``' rasterised hull
    takes minutes per 3-D cell.
    """
    from scipy.spatial import ConvexHull, QhullError

    rows = np.argwhere(mask.any(axis=-1))
    lines = mask[tuple(rows.T)]
    first = np.argmax(lines, axis=1)
    last = lines.shape[1] - 1 - np.argmax(lines[:, ::-1], axis=1)
    ends = np.vstack([np.column_stack([rows, first]), np.column_stack([rows, last])])
    corners = np.array(np.meshgrid(*[[-0.5, 0.5]] * mask.ndim, indexing="ij")).reshape(
        mask.ndim, -1).T
    try:
        vertices = ends[ConvexHull(ends).vertices]
        hull_size = ConvexHull((vertices[:, None, :] + corners).reshape(-1, mask.ndim)).volume
    except QhullError:  # a flat object (one plane or one row): no volume inside its hull
        return 1.0
    return float(np.count_nonzero(mask) / hull_size)


def _hoechst(hoechst: np.ndarray, raw: np.ndarray, nuclear: np.ndarray, ids: np.ndarray,
             background: np.ndarray) -> pd.DataFrame:
    """Integrated and mean background-corrected Hoechst over each cell's nuclear region."""
    n_nuclear = voxels_per_label(nuclear, ids).astype(float)
    integrated = sum_per_label(hoechst, nuclear, ids) - n_nuclear * background
    integrated[n_nuclear == 0] = np.nan
    return pd.DataFrame({
        "hoechst_integrated": integrated,
        "hoechst_mean": integrated / np.where(n_nuclear > 0, n_nuclear, np.nan),
        "hoechst_background": background,
    }, index=pd.Index(ids, name="cell_id"))


def _mito_per_cell(mito: pd.DataFrame, cells: np.ndarray, nuclear: np.ndarray,
                   mito_img: np.ndarray, ids: np.ndarray, background: np.ndarray,
                   voxel_size_um: np.ndarray) -> pd.DataFrame:
    """Per-cell sums over the mitochondria pieces and the mito signal over K."""
    ndim = cells.ndim
    size = size_name(ndim)
    voxel = float(np.prod(voxel_size_um))
    inside = mito[mito["cell_id"] > 0].assign(
        mito_count=1, mito_networks=lambda table: (table["junctions"] > 0).astype(int))
    summed = {"mito_count": "mito_count", size: f"mito_{size}",
              "skeleton_length_um": "mito_skeleton_length_um", "branches": "mito_branches",
              "junctions": "mito_junctions", "endpoints": "mito_endpoints",
              "mito_networks": "mito_networks", "intensity_integrated": "mito_signal"}
    per_cell = (inside.groupby("cell_id")[list(summed)].sum().rename(columns=summed)
                .reindex(ids, fill_value=0))
    per_cell.index.name = "cell_id"
    count, total = per_cell["mito_count"], per_cell[f"mito_{size}"]
    # K: the whole cell in 2-D, the cell minus its nuclear region in 3-D
    k_voxels = voxels_per_label(cells, ids)
    k_signal = sum_per_label(mito_img, cells, ids)
    if ndim == 3:
        k_voxels = k_voxels - voxels_per_label(nuclear, ids)
        k_signal = k_signal - sum_per_label(mito_img, nuclear, ids)
    per_cell["mito_individuals"] = count - per_cell["mito_networks"]
    per_cell["mito_fraction"] = total / np.maximum(k_voxels * voxel, 1e-12)
    per_cell["mito_mean_size"] = total / count.where(count > 0)
    per_cell["fragmentation_index"] = count / total.where(total > 0)
    per_cell["mito_intensity_integrated"] = k_signal - k_voxels * background
    voxels = total / voxel
    per_cell["mito_intensity_mean"] = per_cell.pop("mito_signal") / voxels.where(voxels > 0)
    order = ["mito_count", f"mito_{size}", "mito_fraction", "mito_mean_size",
             "fragmentation_index", "mito_skeleton_length_um", "mito_branches",
             "mito_junctions", "mito_endpoints", "mito_networks", "mito_individuals",
             "mito_intensity_integrated", "mito_intensity_mean"]
    return per_cell[order]


def _qc_flags(cells: np.ndarray, raw_hoechst: np.ndarray, nuclear: np.ndarray,
              ids: np.ndarray) -> pd.DataFrame:
    """``touches_border``, ``z_clipped`` and ``saturated`` per cell."""
    planes = [cells[0], cells[-1]] if cells.ndim == 3 else []
    n_nuclear = voxels_per_label(nuclear, ids)
    if np.issubdtype(raw_hoechst.dtype, np.integer):
        at_max = raw_hoechst == np.iinfo(raw_hoechst.dtype).max
        n_saturated = voxels_per_label(np.where(at_max, nuclear, 0), ids)
    else:
        n_saturated = np.zeros(ids.size, int)
    return pd.DataFrame({
        "touches_border": labels_on_lateral_edge(cells, ids),
        "z_clipped": _labels_in(planes, ids),
        "saturated": n_saturated > SATURATED_FRACTION * np.maximum(n_nuclear, 1),
    }, index=pd.Index(ids, name="cell_id"))


def _labels_in(faces: list[np.ndarray], ids: np.ndarray) -> np.ndarray:
    """Whether each of ``ids`` appears on any of ``faces``."""
    if not faces:
        return np.zeros(ids.size, bool)
    return np.isin(ids, np.unique(np.concatenate([f.ravel() for f in faces])))
