"""Column names, method names and the warning shared by the statistics modules."""

from __future__ import annotations

DEFAULT_LINK_BY = ("plate", "replicate", "cell_line", "condition")
DEFAULT_STRATA = ("cell_line", "condition")
#: Fewest QC-passed cells per well before SP % is flagged as imprecise.
MIN_CELLS_PER_WELL = 1000
WELL_COLUMNS = ("n_cells", "n_excluded", "n_sp", "sp_percent", "sp_ci_low", "sp_ci_high",
                "delta_sp_percent", "delta_ci_low", "delta_ci_high")
STATS_COLUMNS = ("endpoint", "contrast", "n_replicates", "fold_change", "ci_low", "ci_high",
                 "p_value", "p_adjusted", "method")
CONTRAST = "SP vs MP"
TTEST = "replicate log-ratio t-test"
DESCRIPTIVE = "per-replicate descriptive"
MIXED_MODEL = "mixed model"


class StatsWarning(UserWarning):
    """A summary was computed but a reviewer should know something about it."""
