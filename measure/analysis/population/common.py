"""Constants, errors and the G1 window shared by the gating modules."""

from __future__ import annotations

import numpy as np

from spmito.measure.analysis.gate_methods import GATE_CHOICES

SCHEMA_VERSION = 1
#: ``assign_populations`` methods: ``auto`` (by the number of control cells) or a choice.
METHODS = ("auto", *GATE_CHOICES)
EXCLUSION_CODES = ("dead", "pyknotic", "doublet", "no_nucleus", "border", "z_clipped",
                   "saturated", "no_hoechst")
DEFAULT_GROUP_BY = ("plate", "cell_line")
DEFAULT_EXCLUSION_GROUP_BY = ("plate", "cell_line", "sheet_population")

#: Window of normalised Hoechst around the G1 peak used by robust and dual-emission gates.
G1_WINDOW = (-0.6, 0.35)
#: Fewest QC-passed control cells for ``control_quantile`` under ``auto``.
MIN_CONTROL_CELLS_QUANTILE = 1000
#: Fewest QC-passed control cells for any automatic gate (fewer: a manual gate is needed).
MIN_CONTROL_CELLS = 200
#: Fewest reference cells for a KDE mode of the G0/G1 peak.
MIN_REFERENCE_CELLS = 20
#: Sorted SP vs MP residual-Hoechst AUC under which the sort is flagged.
MIN_SORT_AUC = 0.8
#: Fewest expected SP cells for a trustworthy mixture fraction.
MIN_EXPECTED_SP_CELLS = 30
#: Automatic viability threshold: group median + this many robust SDs.
VIABILITY_ROBUST_SDS = 5.0
#: domain.md §2: a cell less solid than this (size over convex-hull size) is a ``doublet``.
#: Spread adherent cells are often less solid than that with one nucleus; 0 turns the shape
#: test off and leaves the nucleus count and the size rule to find doublets.
DOUBLET_MIN_SOLIDITY = 0.90
MAX_MIXTURE_COMPONENTS = 4


class GatingError(ValueError):
    """A gate cannot be set or applied (too few control cells, a bad gate file, ...)."""


class GatingWarning(UserWarning):
    """A gate was set but a reviewer should know something about it."""



def in_g1_window(x: np.ndarray) -> np.ndarray:
    """Whether each normalised Hoechst value lies in the G1 window (:data:`G1_WINDOW`)."""
    return (x > G1_WINDOW[0]) & (x < G1_WINDOW[1])
