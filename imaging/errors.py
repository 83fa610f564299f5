"""Exceptions for bad input.

Every error a user can cause with a file names the file, says what was found and says
what to do. Catch :class:`SpmitoInputError` to handle all of them (the batch runner does,
and lists them in ``failures.csv``).
"""

from __future__ import annotations

from os import PathLike


class SpmitoError(Exception):
    """Base class of every error spmito raises on purpose."""


class SpmitoInputError(SpmitoError, ValueError):
    """An input file or setting that spmito cannot use.

    Parameters
    ----------
    path : str or PathLike or None
        The file at fault (``None`` for an in-memory array).
    problem : str
        What was expected and what was found.
    fix : str
        What the user can do about it.
    """

    def __init__(self, path: str | PathLike | None, problem: str, fix: str = ""):
        self.path = None if path is None else str(path)
        self.problem = problem
        self.fix = fix
        where = self.path if self.path is not None else "<in-memory image>"
        message = f"{where}: {problem}"
        if fix:
            message += f". {fix}"
        super().__init__(message)

    def __reduce__(self):
        # keep the exception picklable across Dask workers
        return (type(self), (self.path, self.problem, self.fix))


class CorruptFileError(SpmitoInputError):
    """The file is missing, truncated, or not a readable image."""


class UnsupportedAxesError(SpmitoInputError):
    """The axes of the image cannot be mapped onto (Z,)C,Y,X."""


class ChannelError(SpmitoInputError):
    """A channel role points at a channel the image does not have, or roles are unknown."""


class MissingVoxelSizeError(SpmitoInputError):
    """The file records no physical voxel size and none was given."""


class EmptyImageError(SpmitoInputError):
    """The image (or a channel of it) is empty or constant."""


class InvalidValuesError(SpmitoInputError):
    """The image holds NaN or infinite values."""


class SampleSheetError(SpmitoInputError):
    """A sample sheet row or column is wrong (a missing file, an unknown role, ...)."""
