"""Scoring segmentations against ground truth (synthetic truth, or hand-corrected masks)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from spmito.segment.nuclei import match_nuclei_to_cells


def average_precision_50(true_labels: np.ndarray, predicted_labels: np.ndarray) -> float:
    """Average precision at IoU 0.5, TP / (TP + FP + FN), as Cellpose computes it.

    Works for 2-D and 3-D label images (objects are matched one to one on IoU). Labels need
    not be consecutive: both images are relabelled first, since Cellpose counts the objects
    of an image as its largest label.
    """
    from cellpose.metrics import average_precision
    from skimage.segmentation import relabel_sequential

    true_labels, predicted_labels = (relabel_sequential(np.asarray(labels).astype(np.int32))[0]
                                     for labels in (true_labels, predicted_labels))
    ap = average_precision([true_labels], [predicted_labels], threshold=[0.5])[0]
    return float(ap[0, 0])


def touching_label_pairs(labels: np.ndarray) -> np.ndarray:
    """Pairs of labels that touch (share a face along some axis), ``(n, 2)``, each ``a < b``.

    Sorted by ``a``, then ``b``. Used to build test cases such as two neighbouring cells
    merged into one.
    """
    labels = np.asarray(labels)
    pairs = []
    for axis in range(labels.ndim):
        first = np.moveaxis(labels, axis, 0)[:-1].ravel()
        second = np.moveaxis(labels, axis, 0)[1:].ravel()
        touching = (first != second) & (first > 0) & (second > 0)
        pairs.append(np.sort(np.stack([first[touching], second[touching]], axis=1), axis=1))
    pairs = np.concatenate(pairs) if pairs else np.empty((0, 2), labels.dtype)
    return np.unique(pairs, axis=0).astype(np.int64)


def iou_matches(true_labels: np.ndarray, predicted_labels: np.ndarray) -> dict[int, int]:
    """True label -> predicted label for every pair with IoU above 0.5.

    Such pairs are unique on both sides.
    """
    true_labels = np.asarray(true_labels).ravel().astype(np.int64)
    predicted_labels = np.asarray(predicted_labels).ravel().astype(np.int64)
    shape = (int(true_labels.max(initial=0)) + 1, int(predicted_labels.max(initial=0)) + 1)
    overlap = sparse.coo_matrix((np.ones(true_labels.size, np.int64),
                                 (true_labels, predicted_labels)), shape=shape).tocsr().tocoo()
    true_size = np.bincount(true_labels, minlength=shape[0])
    predicted_size = np.bincount(predicted_labels, minlength=shape[1])
    keep = (overlap.row > 0) & (overlap.col > 0)
    rows, cols, inter = overlap.row[keep], overlap.col[keep], overlap.data[keep]
    iou = inter / (true_size[rows] + predicted_size[cols] - inter)
    good = iou > 0.5
    return dict(zip(rows[good].tolist(), cols[good].tolist(), strict=True))


@dataclass(frozen=True)
class MatchingScore:
    """How often a segmented cell got the right nucleus.

    Attributes
    ----------
    n_true_cells : int
        Cells in the truth.
    n_found : int
        True cells matched by a predicted cell (IoU > 0.5).
    n_right : int
        Found cells whose predicted nucleus assignment is right: ``n_nuclei == 1`` and
        ``nucleus_id`` is the predicted nucleus matching the cell's true nucleus; or, for a
        true cell without a nucleus in the field, ``n_nuclei == 0``.
    """

    n_true_cells: int
    n_found: int
    n_right: int

    @property
    def right_of_found(self) -> float:
        """Fraction of found cells with the right nucleus."""
        return self.n_right / self.n_found if self.n_found else float("nan")

    @property
    def right_of_all(self) -> float:
        """Fraction of all true cells found and given the right nucleus."""
        return self.n_right / self.n_true_cells if self.n_true_cells else float("nan")


def nucleus_matching_score(true_cells: np.ndarray, true_nuclei: np.ndarray,
                           predicted_cells: np.ndarray, predicted_nuclei: np.ndarray
                           ) -> MatchingScore:
    """Score :func:`spmito.segment.nuclei.match_nuclei_to_cells` on predicted labels.

    The truth is synthetic: a true nucleus carries its cell's id.

    Parameters
    ----------
    true_cells, true_nuclei : ndarray
        Truth label images (nucleus id = cell id).
    predicted_cells, predicted_nuclei : ndarray
        Segmentations on the same grid.

    Returns
    -------
    MatchingScore
    """
    cell_match = iou_matches(true_cells, predicted_cells)
    nucleus_match = iou_matches(true_nuclei, predicted_nuclei)
    assigned = match_nuclei_to_cells(predicted_cells, predicted_nuclei).set_index("cell_id")
    true_ids = np.unique(true_cells)
    true_ids = true_ids[true_ids > 0]
    has_nucleus = set(np.unique(true_nuclei).tolist())
    right = 0
    for true_id, predicted_id in cell_match.items():
        row = assigned.loc[predicted_id]
        if true_id in has_nucleus:
            right += bool(row.n_nuclei == 1
                          and row.nucleus_id == nucleus_match.get(true_id, -1))
        else:
            right += bool(row.n_nuclei == 0)
    return MatchingScore(len(true_ids), len(cell_match), right)
