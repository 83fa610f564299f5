"""Exceptions for bad input.

Every error a user can cause with a file names the file, says what was found and says
what to do. Catch :class:`SpmitoInputError` to handle all of them (the batch runner does,
and lists them in ``failures.csv``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from os import PathLike


class SpmitoError(Exception):
    """Base class of every error spmito raises on purpose."""


class SpmitoInputError(SpmitoError, ValueError):
    """An input file or setting that spmito cannot use.

    Parameters
    ----------
    path : str or PathLike or None
        The file at fault (``None`` for a setting or an in-memory array: the message then
        starts with the problem).
    problem : str
        What was expected and what was found.
    fix : str
        What the user can do about it.
    """

    def __init__(self, path: str | PathLike | None, problem: str, fix: str = ""):
        self.path = None if path is None else str(path)
        self.problem = problem
        self.fix = fix
        message = problem if self.path is None else f"{self.path}: {problem}"
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


class ImageTooLargeError(SpmitoInputError):
    """The image (or a step's copy of it) needs more memory than spmito allows itself."""


#: Longest text of a foreign exception quoted in a message.
_QUOTED_CHARS = 300


def describe_exception(error: BaseException) -> str:
    """``"TypeName: message"`` of a foreign exception, cut to a readable length."""
    text = str(error).strip().replace("\n", " ")
    if len(text) > _QUOTED_CHARS:
        text = text[:_QUOTED_CHARS] + "..."
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


@contextlib.contextmanager
def input_errors(path: str | PathLike | None, doing: str) -> Iterator[None]:
    """Turn every exception raised while ``doing`` something with ``path`` into spmito's own.

    The boundary where a file becomes pixels: tifffile, its codecs, XML and JSON parsers and
    the operating system raise whatever a damaged or hostile file provokes (``KeyError``,
    ``ZeroDivisionError``, ``AssertionError``, codec errors, ``RecursionError``, ...). Inside
    this block they become a :class:`CorruptFileError` (a ``MemoryError``: an
    :class:`ImageTooLargeError`) naming the file, what failed and what to do; the original
    stays attached as ``__cause__``. :class:`SpmitoError` passes through unchanged.

    Parameters
    ----------
    path : path-like or None
        The file being read.
    doing : str
        What was being done, for the message (e.g. ``"reading the mito channel"``).
    """
    try:
        yield
    except SpmitoError:
        raise
    except MemoryError as error:
        raise ImageTooLargeError(
            path, f"{doing} needs more memory than this machine could give "
            f"({describe_exception(error)})",
            "Crop or bin the image, or analyse it on a machine with more memory") from error
    except OSError as error:
        raise CorruptFileError(
            path, f"{doing} failed: the operating system refused ({describe_exception(error)})",
            "Check that the file exists, is readable and that its path is not too long "
            "(shorten folder or file names)") from error
    except Exception as error:  # noqa: BLE001 - this is the boundary: every cause is the file's
        raise CorruptFileError(
            path, f"{doing} failed: the file is damaged or uses a TIFF feature spmito cannot "
            f"read ({describe_exception(error)})",
            "Export the file again (e.g. as OME-TIFF from Fiji or bfconvert) and check that "
            "the transfer finished") from error
