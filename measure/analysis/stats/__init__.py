"""Per-well SP %, ΔSP % and the replicate-level SP-vs-MP comparison (domain.md §4).

Three tables (contract.md): :func:`well_table` -> ``wells.csv``, :func:`replicate_table`
-> ``replicates.csv``, :func:`compare_populations` -> ``stats.csv``.

Decisions (the reference behaviour is domain.md §4; where this module adds to it):

Control link for ΔSP %
    A test well is linked to the inhibitor-control wells that share its ``link_by`` values
    (default plate + replicate + cell line + condition; absent columns are skipped), so
    ``condition`` must describe the biology (knock-down, drug), not the inhibitor, which the
    ``role``/``inhibitor`` columns carry. Several linked control wells are pooled (their
    counts summed). A test well without a linked control gets no ΔSP (NaN, with a warning).
SP % of a mixture gate
    The fitted SP weight with its bootstrap CI. A well fitted in two cross-fitted halves
    gets the cell-weighted mean of the halves and a normal CI from their bootstrap SDs.
Cells in the SP-vs-MP comparison
    QC-passed cells of ``role == "test"`` wells (all wells when there is no ``role``
    column) with population SP or MP. Inhibitor-control cells are left out: their "SP"
    cells are the gate's false positives. Comparisons are made within strata (default cell
    line + condition), each biological ``replicate`` giving one paired SP/MP summary.
Zero medians
    log2(median SP / median MP) is undefined when a median is 0 (counts such as junctions
    often are). Such an endpoint is compared on replicate means instead, for every
    replicate of its stratum (one estimand per endpoint), and the ``method`` column says
    so; a replicate whose means are 0 too is dropped, and ``note`` says so.
Multiplicity
    The primary endpoint (total mitochondrial size per cell) is tested alone at 5 %; Holm's
    adjustment runs over the secondary endpoints of each stratum and analysis.
"""


from __future__ import annotations

from spmito.measure.analysis.stats.common import (
    CONTRAST,
    DEFAULT_LINK_BY,
    DEFAULT_STRATA,
    DESCRIPTIVE,
    MIN_CELLS_PER_WELL,
    MIXED_MODEL,
    STATS_COLUMNS,
    TTEST,
    WELL_COLUMNS,
    StatsWarning,
)
from spmito.measure.analysis.stats.compare import (
    STATISTICS,
    cliffs_delta,
    compare_populations,
    log_ratio_test,
    wilcoxon_floor_note,
)
from spmito.measure.analysis.stats.intervals import (
    difference_interval,
    newcombe_interval,
    wilson_interval,
)
from spmito.measure.analysis.stats.replicates import (
    analysis_cells,
    endpoint_columns,
    primary_endpoint,
    replicate_table,
)
from spmito.measure.analysis.stats.wells import well_table

__all__ = [
    "CONTRAST", "DEFAULT_LINK_BY", "DEFAULT_STRATA", "DESCRIPTIVE", "MIN_CELLS_PER_WELL",
    "MIXED_MODEL", "STATISTICS", "STATS_COLUMNS", "TTEST", "WELL_COLUMNS", "StatsWarning",
    "analysis_cells", "cliffs_delta", "compare_populations", "difference_interval",
    "endpoint_columns", "log_ratio_test", "newcombe_interval", "primary_endpoint",
    "replicate_table", "well_table", "wilcoxon_floor_note", "wilson_interval",
]
