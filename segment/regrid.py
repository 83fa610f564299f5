"""Labels found at the network's scale, brought back onto the input grid.

:func:`spmito.segment.backends.segment_objects` runs the network on a resampled copy of the
image, so that objects are about as wide as the network was trained on. A 60 µm cell at
0.06 µm per pixel is segmented 25 times smaller than it is imaged. Enlarging such labels
by nearest neighbour draws every outline as a staircase of 25-pixel steps. Here the
outline comes instead from the network's own cell probability, interpolated linearly
onto the input grid: the same level (``cellprob_threshold``) that decided the labels at
the network's scale decides, between its samples, where each object ends. Which object a
pixel belongs to is the bilinear vote of the labels around it.

Cellpose's labels are not exactly the pixels above the threshold (flows that do not
converge are dropped, holes are filled), so the probability is first made to agree with
the labels at the network's samples: at least :data:`_LABEL_MARGIN` above the threshold
inside an object and as far below it outside.
"""

from __future__ import annotations

import itertools

import numpy as np

#: How far (logit) the cell probability is put above the threshold at a labelled sample and
#: below it at an unlabelled one, where the two disagree.
_LABEL_MARGIN = 0.5

#: Output voxels handled at once (bounds the memory of the corner arrays).
_CHUNK_VOXELS = 1 << 21


def labels_on_input_grid(labels: np.ndarray, cellprob: np.ndarray, shape: tuple[int, ...],
                         cellprob_threshold: float) -> np.ndarray:
    """Resample network-scale labels onto a grid of ``shape`` with smooth outlines.

    Each output voxel looks at the ``2**ndim`` network-scale voxels around it (pixel centres
    aligned as in :func:`skimage.transform.resize`). It belongs to the object with the
    largest bilinear weight among them if the bilinearly interpolated cell probability
    there exceeds ``cellprob_threshold``, and to the background otherwise. The probability
    is first clipped to agree with the labels at the network's samples (see the module
    notes), so an object's outline lies between its last sample and the first outside it.

    Parameters
    ----------
    labels : ndarray of int
        Labels at the network's scale.
    cellprob : ndarray of float
        The network's cell probability (logit) on the same grid as ``labels``.
    shape : tuple of int
        The input grid; axes may be enlarged, shrunk or kept.
    cellprob_threshold : float
        The level at which the labels were cut.

    Returns
    -------
    ndarray of int32
        Labels on ``shape``. An object smaller than one output voxel may vanish; numbers are
        not made sequential.
    """
    labels = np.asarray(labels)
    if labels.shape != np.shape(cellprob) or labels.ndim != len(shape):
        raise ValueError(f"labels {labels.shape}, cell probability {np.shape(cellprob)} and "
                         f"target shape {tuple(shape)} do not match")
    if labels.shape == tuple(shape):
        return labels.astype(np.int32, copy=False)
    out = np.zeros(shape, np.int32)
    agreeing = np.where(labels > 0,
                        np.maximum(cellprob, cellprob_threshold + _LABEL_MARGIN),
                        np.minimum(cellprob, cellprob_threshold - _LABEL_MARGIN)
                        ).astype(np.float32)
    rows_per_chunk = max(1, _CHUNK_VOXELS // max(1, int(np.prod(shape[1:]))))
    neighbours = [_neighbours_along(n, m) for n, m in zip(shape, labels.shape, strict=True)]
    for start in range(0, shape[0], rows_per_chunk):
        rows = slice(start, min(start + rows_per_chunk, shape[0]))
        chunk = [tuple(part[rows] for part in neighbours[0]), *neighbours[1:]]
        out[rows] = _vote(labels, agreeing, chunk, cellprob_threshold)
    return out


def _neighbours_along(n_out: int, n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lower and upper input index around each output index, and the upper one's weight.

    An axis that keeps its length (z of a stitched stack) has one neighbour: lower is upper.
    """
    if n_out == n_in:
        same = np.arange(n_in)
        return same, same, np.zeros(n_in, np.float32)
    position = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
    lower = np.minimum(np.floor(position).astype(np.intp), max(n_in - 2, 0))
    upper = np.minimum(lower + 1, n_in - 1)
    return lower, upper, (position - lower).astype(np.float32)


def _vote(labels: np.ndarray, agreeing: np.ndarray, neighbours: list, threshold: float
          ) -> np.ndarray:
    """Labels of one block of output rows (see :func:`labels_on_input_grid`).

    Voxels whose neighbours all agree take their label as it is; only the others (the
    outlines) are weighed.
    """
    sides = [(0,) if lower is upper else (0, 1) for lower, upper, _ in neighbours]
    corners = list(itertools.product(*sides))
    corner_labels = [labels[np.ix_(*[neighbours[axis][side] for axis, side in enumerate(c)])]
                     for c in corners]
    out = corner_labels[0].copy()
    mixed = np.zeros(out.shape, bool)
    for other in corner_labels[1:]:
        mixed |= other != out
    where = np.nonzero(mixed)
    weights, cellprob_here = [], np.zeros(where[0].size, np.float32)
    for corner in corners:
        weight = np.ones(where[0].size, np.float32)
        for axis, side in enumerate(corner):
            if len(sides[axis]) == 2:
                fraction = neighbours[axis][2][where[axis]]
                weight *= fraction if side else 1.0 - fraction
        weights.append(weight)
        cellprob_here += weight * agreeing[tuple(neighbours[axis][side][where[axis]]
                                                 for axis, side in enumerate(corner))]
    candidates = [corner[where] for corner in corner_labels]
    best = np.zeros(where[0].size, np.int32)
    best_weight = np.zeros(where[0].size, np.float32)
    for candidate in candidates:
        support = sum(w * (other == candidate)
                      for other, w in zip(candidates, weights, strict=True))
        better = (candidate > 0) & (support > best_weight)
        best[better] = candidate[better]
        best_weight[better] = support[better]
    out[where] = np.where(cellprob_here > threshold, best, 0)
    return out
