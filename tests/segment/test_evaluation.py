"""Scoring against ground truth: average precision at IoU 0.5."""

from __future__ import annotations

import numpy as np

from spmito.segment.evaluation import average_precision_50, touching_label_pairs


def test_average_precision_counts_objects_not_the_largest_label():
    # hand-made masks often skip labels (img2d: 125 nuclei, largest label 183)
    truth = np.zeros((40, 40), np.uint16)
    truth[2:10, 2:10], truth[20:30, 20:30] = 5, 183
    predicted = np.zeros((40, 40), np.int32)
    predicted[2:10, 2:10], predicted[20:30, 20:29] = 1, 2
    assert average_precision_50(truth, predicted) == 1.0
    predicted[20:30, 20:29] = 0
    assert average_precision_50(truth, predicted) == 0.5


def test_touching_label_pairs_are_those_sharing_a_face():
    labels = np.array([[1, 1, 2, 0],
                       [3, 0, 2, 0],
                       [3, 3, 0, 4]])
    assert touching_label_pairs(labels).tolist() == [[1, 2], [1, 3]]
    stack = np.stack([labels, np.full_like(labels, 5)])  # every label touches 5 across z
    assert touching_label_pairs(stack).tolist() == [[1, 2], [1, 3], [1, 5], [2, 5], [3, 5],
                                                    [4, 5]]
