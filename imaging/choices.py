"""The named choices of ``spmito run`` options, one list each.

Shared by the command line (:mod:`spmito.imaging.cli`), the config reader
(:mod:`spmito.imaging.params`) and the code that acts on them; imports nothing heavy, so
that ``spmito --help`` stays fast.
"""

from spmito.measure.analysis.gate_methods import GATE_CHOICES

#: How cells are found: the Cellpose cell model, or each nucleus grown over the cell signal.
CELL_METHODS = ("cellpose", "nuclei")
#: ``--gate``: a gate method, or ``sheet`` (sorted populations from the sample sheet).
GATES = GATE_CHOICES
#: Where the networks run.
DEVICES = ("cpu", "cuda", "auto")

__all__ = ["CELL_METHODS", "DEVICES", "GATES"]
