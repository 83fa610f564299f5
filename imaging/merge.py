"""One field recorded as one file per channel, made into the one file ``spmito run`` reads.

High-content screening microscopes (ImageXpress, Opera/Operetta, CellInsight) and many
acquisition scripts write every channel of a field to its own TIFF. ``spmito merge-channels``
stacks them into one OME-TIFF whose channels are named by their roles (``hoechst``, ``cell``,
``mito``, ...), so ``spmito run`` maps them without ``--channels``; the voxel size is written
into it, so it is given once.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from spmito.imaging.errors import SpmitoInputError
from spmito.imaging.io import read_stack, write_ome_tiff
from spmito.imaging.stack import ROLES, Stack


def merge_channel_files(files: Mapping[str, str | os.PathLike], out: str | os.PathLike, *,
                        voxel_size_um: Sequence[float] | None = None, axes: str | None = None,
                        allow_unusual_voxel_size: bool = False) -> Path:
    """Write single-channel files of one field as one OME-TIFF, channels named by role.

    Parameters
    ----------
    files : mapping of str to path-like
        Role (``hoechst``, ``cell``, ``mito``, ``hoechst_red``, ``viability``) to the file
        holding that channel, in the order the channels are written.
    out : path-like
        The OME-TIFF to write (atomically).
    voxel_size_um : sequence of float, optional
        ``(y, x)`` or ``(z, y, x)`` in µm, for files that record none (or a wrong one).
    axes : str, optional
        Axes of the files when their metadata is missing or wrong (e.g. ``ZYX``).
    allow_unusual_voxel_size : bool
        Accept voxel sizes outside the plausible range.

    Returns
    -------
    Path
        ``out``.

    Raises
    ------
    SpmitoInputError
        An unknown role, a file with more than one channel, or files whose shapes or voxel
        sizes differ (each names the file and the fix); the reading errors of
        :func:`spmito.imaging.io.read_stack` (missing voxel size, damaged file, ...).
    """
    unknown = [role for role in files if role not in ROLES]
    if unknown or not files:
        raise SpmitoInputError(None, f"unknown channel role(s) {unknown}" if unknown
                               else "no channel file given",
                               f"Give role=file pairs with roles among {', '.join(ROLES)}")
    stacks = {role: read_stack(path, axes=axes, voxel_size_um=voxel_size_um, lazy=False,
                               allow_unusual_voxel_size=allow_unusual_voxel_size)
              for role, path in files.items()}
    first = _check_alike(stacks)
    data = np.concatenate([np.asarray(stack.data) for stack in stacks.values()],
                          axis=first.axes.index("C"))
    write_ome_tiff(out, data, first.axes, first.voxel_size_um, channel_names=list(stacks))
    return Path(out)


def _check_alike(stacks: Mapping[str, Stack]) -> Stack:
    """The first stack, after checking every one holds one channel of the same grid."""
    for role, stack in stacks.items():
        if len(stack.channel_names) != 1:
            raise SpmitoInputError(stack.source, f"the file for {role!r} holds "
                                   f"{len(stack.channel_names)} channels, not one",
                                   "Give one file per channel (or split this one first)")
    first_role, first = next(iter(stacks.items()))
    for role, stack in stacks.items():
        if stack.data.shape != first.data.shape:
            raise SpmitoInputError(stack.source, f"the {role} channel is "
                                   f"{_grid(stack)}, the {first_role} channel {_grid(first)}",
                                   "Give the channels of one field, recorded on one grid")
        if not np.allclose(stack.voxel_size_um, first.voxel_size_um, rtol=1e-3):
            raise SpmitoInputError(stack.source, f"the {role} channel has voxel size "
                                   f"{stack.voxel_size_um} µm, the {first_role} channel "
                                   f"{first.voxel_size_um} µm",
                                   "Check the files' metadata, or give --voxel-size for all")
    return first


def _grid(stack: Stack) -> str:
    spatial = [n for axis, n in zip(stack.axes, stack.data.shape, strict=True) if axis != "C"]
    return " x ".join(map(str, spatial)) + " pixels"
