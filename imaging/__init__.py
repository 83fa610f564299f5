"""Files and experiments: stacks, metadata, sample sheets, synthetic data, the pipeline.

Importing this package imports neither Qt, napari nor torch.
"""

from spmito.imaging.errors import SpmitoError, SpmitoInputError
from spmito.imaging.stack import ROLES, Stack

__all__ = ["ROLES", "SpmitoError", "SpmitoInputError", "Stack"]
