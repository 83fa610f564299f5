"""SP/MP classification of cells: exclusions, Hoechst normalisation, gates (domain.md §2).

The batch calls :func:`assign_populations` once on the per-cell table of all images; the
napari gating widget calls :func:`fit_gate`, :meth:`Gate.classify` and :meth:`Gate.save`.

Decisions (the reference behaviour is domain.md §2; where this module adds to it):

Groups
    Exclusion medians (pyknotic, doublet, automatic viability threshold) are taken per
    ``exclusion_group_by`` = plate + cell line + sheet population: one plate is one
    imaging session, cell lines differ in size and ploidy, and sorted SP nuclei are dimmer
    by design, so sorted SP and MP images get their own medians. They are computed over
    complete single-nucleus cells (one nucleus, not touching the border, not z-clipped).
    Normalisation and gates are per ``group_by`` = plate + cell line (myeloma lines are
    aneuploid, so G1 DNA content differs between lines). Missing columns are skipped.
Reference cells for ``m_ref``
    Kept cells of inhibitor-control and gate-setting wells; when a group has none, its
    sorted-MP cells; when it has neither, all its kept cells (with a warning).
Non-positive Hoechst
    ``I <= 0`` (or missing with a nucleus present) means the background estimate failed for
    that nucleus: DNA content and efflux are unmeasurable. ``hoechst_x`` is NaN and, for
    every method but ``sheet``, the cell is excluded with code ``no_hoechst``. Flooring it
    instead would make it SP by construction and inflate SP % with artefacts. Sorted
    populations do not need Hoechst, so ``sheet`` keeps such cells.
Who is classified
    Every cell with a finite ``hoechst_x`` (or a sheet population) gets a population,
    excluded cells too (so a reviewer sees the call); statistics use kept cells only.
Gates never score the wells that set them
    Test wells are gated by the pooled controls of their group. Each control well is gated
    by the pool without it (leave-one-well-out); a group with a single control well is
    cross-fitted: its images (or, with one image, its cells at random) are split in two
    halves, each gated by the other half. Cross-fitted and leave-one-out gates use the
    method of the pooled gate. A manual gate is applied unchanged to every well.
``sp_probability``
    Filled by the mixture gate only (the posterior of the SP component); NaN for hard gates
    and sorted populations, where no probability model exists.
"""


from __future__ import annotations

from spmito.measure.analysis.gate_methods import GATE_CHOICES, GATE_METHODS
from spmito.measure.analysis.population.assign import CHANNELS, assign_populations
from spmito.measure.analysis.population.common import (
    DEFAULT_EXCLUSION_GROUP_BY,
    DEFAULT_GROUP_BY,
    DOUBLET_MIN_SOLIDITY,
    EXCLUSION_CODES,
    G1_WINDOW,
    MAX_MIXTURE_COMPONENTS,
    METHODS,
    MIN_CONTROL_CELLS,
    MIN_CONTROL_CELLS_QUANTILE,
    MIN_EXPECTED_SP_CELLS,
    MIN_REFERENCE_CELLS,
    MIN_SORT_AUC,
    SCHEMA_VERSION,
    VIABILITY_ROBUST_SDS,
    GatingError,
    GatingWarning,
)
from spmito.measure.analysis.population.exclusions import (
    complete_cells,
    exclusion_reason_counts,
    flag_exclusions,
)
from spmito.measure.analysis.population.gate import Gate, load_gates, save_gates
from spmito.measure.analysis.population.mixture import (
    MIXTURE_BIN_WIDTH,
    MixtureWellFit,
    fit_gaussian_mixture_1d,
    fit_mixture_well,
    mixture_density,
)
from spmito.measure.analysis.population.normalise import g1_mode_log2
from spmito.measure.analysis.population.thresholds import (
    fit_gate,
    quantile_threshold,
    robust_threshold,
)

__all__ = [
    "CHANNELS", "GATE_CHOICES", "DEFAULT_EXCLUSION_GROUP_BY", "DEFAULT_GROUP_BY",
    "DOUBLET_MIN_SOLIDITY", "EXCLUSION_CODES", "G1_WINDOW", "GATE_METHODS",
    "MAX_MIXTURE_COMPONENTS", "METHODS", "MIN_CONTROL_CELLS",
    "MIN_CONTROL_CELLS_QUANTILE", "MIN_EXPECTED_SP_CELLS", "MIN_REFERENCE_CELLS",
    "MIN_SORT_AUC", "MIXTURE_BIN_WIDTH", "SCHEMA_VERSION", "VIABILITY_ROBUST_SDS", "Gate",
    "GatingError", "GatingWarning", "MixtureWellFit", "assign_populations", "complete_cells",
    "exclusion_reason_counts", "fit_gate",
    "fit_gaussian_mixture_1d", "fit_mixture_well", "flag_exclusions", "g1_mode_log2",
    "load_gates", "mixture_density", "quantile_threshold", "robust_threshold", "save_gates",
]
