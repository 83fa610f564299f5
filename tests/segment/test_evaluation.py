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


def test_the_dsb_benchmark_says_why_each_unmatched_nucleus_was_missed():
    """Six hand-drawn nuclei: one found, one missed, one split in two, two merged into one,
    one drawn far too large; and a small one on the image's edge that is missed too."""
    from benchmarks.dsb_nuclei import unmatched_kinds

    truth = np.zeros((60, 80), np.int32)
    predicted = np.zeros_like(truth)
    truth[5:15, 5:15], predicted[5:15, 5:15] = 1, 1            # found
    truth[5:15, 25:35] = 2                                     # missed
    truth[5:15, 45:55] = 3
    predicted[5:15, 45:50], predicted[5:15, 50:55] = 2, 3      # split in two
    truth[30:40, 5:15], truth[30:40, 15:25] = 4, 5
    predicted[30:40, 5:25] = 4                                 # the two merged
    truth[30:36, 40:46] = 6
    predicted[26:46, 34:54] = 5                                # outline 11x too large
    truth[55:60, 70:73] = 7                                    # small, on the edge, missed
    kinds = unmatched_kinds(truth, predicted)
    assert kinds == {"missed": 2, "split": 1, "merged": 2, "outline": 1, "small": 1,
                     "on_edge": 1}
