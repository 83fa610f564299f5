"""The gate methods by name: the one list that the CLI, the config and the gating code share.

A module of its own that imports nothing, so that ``spmito --help`` lists the choices
without loading the gating code.
"""

#: Gates set on the cells' normalised Hoechst (:class:`spmito.measure.analysis.population.Gate`).
GATE_METHODS = ("control_quantile", "control_robust", "mixture", "dual_emission", "manual")
#: What ``--gate`` (and the config's ``gate``) accepts: a gate method, or ``sheet`` (the
#: populations a sorted plate's sample sheet gives).
GATE_CHOICES = (*GATE_METHODS, "sheet")
