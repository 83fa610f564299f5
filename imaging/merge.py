"""One field recorded as one file per channel, made into the one file ``spmito run`` reads.

High-content screening microscopes (ImageXpress, Opera/Operetta, CellInsight) and many
acquisition scripts write every channel of a field to its own TIFF. ``spmito merge-channels``
stacks them into one OME-TIFF whose channels are named by their roles (``hoechst``, ``cell``,
``mito``, ...), so ``spmito run`` maps them without ``--channels``; the voxel size is written
into it, so it is given once.

A plate goes in one call: a *channel sheet* is a sample sheet whose ``path`` column is
replaced by one column per role (``hoechst``, ``cell``, ``mito``, ...), each cell the file of
that channel. :func:`merge_channel_sheet` writes one OME-TIFF per row and the sample sheet
``spmito run`` takes, with every other column carried through.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from spmito.imaging.errors import SampleSheetError, SpmitoError, SpmitoInputError
from spmito.imaging.io import read_stack, write_ome_tiff
from spmito.imaging.outputs import write_table_csv
from spmito.imaging.sheet import unique_image_ids
from spmito.imaging.stack import ROLES, Stack, image_stem


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


@dataclass(frozen=True)
class MergedSheet:
    """What :func:`merge_channel_sheet` wrote, and the rows it could not merge."""

    sheet: Path
    n_images: int
    failures: list[str]


def merge_channel_sheet(channel_sheet: str | os.PathLike, out_dir: str | os.PathLike, *,
                        voxel_size_um: Sequence[float] | None = None, axes: str | None = None,
                        allow_unusual_voxel_size: bool = False) -> MergedSheet:
    """Merge every row of a channel sheet; write ``out_dir/sheet.csv`` for ``spmito run``.

    Parameters
    ----------
    channel_sheet : path-like
        A CSV with one column per role (files relative to its folder, or absolute), an
        optional ``image_id`` (default: the first channel file's name) and any sample-sheet
        columns (plate, well, role, ...), which are carried through.
    out_dir : path-like
        Folder for ``<image_id>.ome.tif`` and ``sheet.csv`` (created).
    voxel_size_um, axes, allow_unusual_voxel_size
        As in :func:`merge_channel_files`, for every row.

    Returns
    -------
    MergedSheet
        ``sheet.csv``'s path, the images written, and one message per failed row (the row as
        a spreadsheet shows it, the file and the fix); a failed row is left out of
        ``sheet.csv`` and the others go on.

    Raises
    ------
    SampleSheetError
        The sheet cannot be read, has no role column, or has a ``path`` column.
    """
    sheet = Path(channel_sheet)
    table = _read_channel_sheet(sheet)
    roles = [column for column in table.columns if column in ROLES]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table["image_id"] = unique_image_ids(_image_id(row, roles) for _, row in table.iterrows())
    written, failures = [], []
    for number, row in tqdm(table.iterrows(), total=len(table), desc="merging",
                            unit="field"):
        files = {role: sheet.parent / row[role] for role in roles if row[role].strip()}
        target = out / f"{row['image_id']}.ome.tif"
        try:
            merge_channel_files(files, target, voxel_size_um=voxel_size_um, axes=axes,
                                allow_unusual_voxel_size=allow_unusual_voxel_size)
        except SpmitoError as error:
            failures.append(f"{sheet}, row {number}: {error}")
            continue
        written.append({"path": target.name,
                        **row.drop(labels=roles).to_dict()})
    merged = out / "sheet.csv"
    write_table_csv(merged, pd.DataFrame(written, columns=["path", *table.columns.drop(roles)]))
    return MergedSheet(merged, len(written), failures)


def _image_id(row: pd.Series, roles: list[str]) -> str:
    """The row's ``image_id``, else its first channel file's name, else ``row<N>``."""
    given = str(row.get("image_id", "")).strip()
    first_file = next((row[role] for role in roles if row[role].strip()), "")
    return given or (image_stem(first_file) if first_file else f"row{row.name}")


def _read_channel_sheet(sheet: Path) -> pd.DataFrame:
    """The channel sheet's cells as text, columns lower-cased, index = row (header = 1)."""
    try:
        table = pd.read_csv(sheet, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as error:
        raise SampleSheetError(sheet, f"cannot be read as a CSV file ({error})",
                               "Save it as CSV (comma-separated, UTF-8)") from error
    table.columns = [str(column).strip().lower() for column in table.columns]
    if "path" in table.columns:
        raise SampleSheetError(sheet, "it has a 'path' column: it is a sample sheet already",
                               "Give it to spmito run; a channel sheet has one column per "
                               "role (hoechst, cell, mito) instead")
    if not any(column in ROLES for column in table.columns) or table.empty:
        raise SampleSheetError(sheet, "no column is named by a channel role, or no row",
                               f"Add one column per channel named {', '.join(ROLES)}, "
                               "each holding that channel's file, one row per field")
    table.index = table.index + 2
    return table
