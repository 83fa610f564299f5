"""Skeleton graph metrics of labelled objects, through skan.

Each object is skeletonised on its own bounding-box crop (``skimage.morphology.skeletonize``,
2-D or 3-D); where two objects touch, the skeleton voxels next to the other object are dropped
so that no two skeletons touch. One ``skan.Skeleton`` then holds every object's graph, and its
paths and nodes are counted per object:

``skeleton_length_um``
    summed path lengths (in µm, with the voxel size);
``branches``
    paths of the graph; an object whose skeleton has no path (a dot) counts as 1 branch;
``junctions``
    nodes of degree ≥ 3;
``endpoints``
    nodes of degree 1 (a dot has none, a straight tube two).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import ndimage as ndi

from spmito.measure.objects.labelstats import present_labels

SKELETON_COLUMNS = ("skeleton_length_um", "branches", "junctions", "endpoints")


def skeleton_metrics(labels: np.ndarray, voxel_size_um) -> pd.DataFrame:
    """Skeleton length, branches, junctions and end points of every object.

    Parameters
    ----------
    labels : ndarray of int
        ``(Y, X)`` or ``(Z, Y, X)`` label image (0 = background).
    voxel_size_um : sequence of float
        Voxel size per axis in µm.

    Returns
    -------
    DataFrame
        Indexed by label (every label present), columns :data:`SKELETON_COLUMNS`.
    """
    return graph_metrics(separated_skeletons(labels), labels, voxel_size_um)


def separated_skeletons(labels: np.ndarray) -> np.ndarray:
    """Skeleton of every object, with no skeleton voxel touching another object's skeleton.

    Parameters
    ----------
    labels : ndarray of int
        Label image.

    Returns
    -------
    ndarray of bool
        The union of the per-object skeletons.
    """
    from skimage.morphology import skeletonize

    full = np.ones((3,) * labels.ndim, bool)
    skeleton = np.zeros(labels.shape, bool)
    for label, box in enumerate(ndi.find_objects(labels), start=1):
        if box is None:
            continue
        box = _grow_box(box, labels.shape, 1)
        crop = labels[box]
        bone = skeletonize(crop == label)
        others = (crop != label) & (crop > 0)
        if others.any():
            bone &= ~ndi.binary_dilation(others, structure=full)
        skeleton[box] |= bone
    return skeleton


def _grow_box(box: tuple[slice, ...], shape: tuple[int, ...], margin: int) -> tuple[slice, ...]:
    return tuple(slice(max(s.start - margin, 0), min(s.stop + margin, n))
                 for s, n in zip(box, shape, strict=True))


def graph_metrics(skeleton: np.ndarray, labels: np.ndarray, voxel_size_um) -> pd.DataFrame:
    """Count the skan paths and nodes of a skeleton per object.

    Parameters
    ----------
    skeleton : ndarray of bool
        Skeletons in which no two objects' skeletons touch (:func:`separated_skeletons`).
    labels : ndarray of int
        The objects.
    voxel_size_um : sequence of float
        Voxel size per axis in µm.

    Returns
    -------
    DataFrame
        Indexed by label, columns :data:`SKELETON_COLUMNS` (see the module docstring).
    """
    voxel_size_um = np.asarray(voxel_size_um, float)
    present = present_labels(labels)
    n = int(labels.max(initial=0))
    length = np.zeros(n + 1)
    branches = np.zeros(n + 1, int)
    junctions = np.zeros(n + 1, int)
    endpoints = np.zeros(n + 1, int)
    if _has_a_path(skeleton):
        from skan import Skeleton, summarize

        graph = Skeleton(skeleton, spacing=voxel_size_um, keep_images=False)
        with warnings.catch_warnings():  # skan's own use of deprecated pandas API
            warnings.simplefilter("ignore", DeprecationWarning)
            paths = summarize(graph, separator="_")
        node_label = labels[tuple(np.round(graph.coordinates).astype(int).T)]
        src = paths["node_id_src"].to_numpy()
        dst = paths["node_id_dst"].to_numpy()
        path_label = node_label[src]
        length += np.bincount(path_label, weights=paths["branch_distance"], minlength=n + 1)
        branches += np.bincount(path_label, minlength=n + 1)
        path_nodes = np.unique(np.concatenate([src, dst]))
        junction_nodes = path_nodes[graph.degrees[path_nodes] >= 3]
        junctions += np.bincount(node_label[junction_nodes], minlength=n + 1)
        endpoints += np.bincount(node_label[graph.degrees == 1], minlength=n + 1)
    branches = np.maximum(branches, 1)  # a dot (no path) is one branch
    return pd.DataFrame({
        "skeleton_length_um": length[present],
        "branches": branches[present],
        "junctions": junctions[present],
        "endpoints": endpoints[present],
    }, index=pd.Index(present, name="label"))


def _has_a_path(skeleton: np.ndarray) -> bool:
    """Whether two skeleton voxels touch (skan fails when every voxel is isolated)."""
    n_voxels = int(np.count_nonzero(skeleton))
    n_components = ndi.label(skeleton, structure=np.ones((3,) * skeleton.ndim, bool))[1]
    return n_components < n_voxels
