"""The in-memory form of one microscopy image: :class:`Stack`.

A stack holds the pixel data with axes normalised to ``CYX`` (2-D) or ``ZCYX`` (3-D),
the channel names, the *roles* of the channels (domain.md §1), the physical voxel size in
µm and the file it came from. Data may be a NumPy array or a lazy Dask array: nothing is
read from disk until a channel is asked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from spmito.imaging.errors import (
    ChannelError,
    EmptyImageError,
    InvalidValuesError,
    SpmitoInputError,
    UnsupportedAxesError,
    input_errors,
)

#: Channel roles spmito knows (domain.md §1).
ROLES = ("hoechst", "cell", "mito", "hoechst_red", "viability")

#: The two axis layouts a Stack may have.
STACK_AXES = ("CYX", "ZCYX")

#: Image file endings, longest first (``.ome.tif`` before ``.tif``).
IMAGE_SUFFIXES = (".ome.tiff", ".ome.tif", ".tiff", ".tif")


def image_stem(path: str | Path) -> str:
    """A file's name without its image ending: ``a/b/well_A1.ome.tif`` gives ``well_A1``."""
    name = Path(path).name
    for suffix in IMAGE_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem


@dataclass(frozen=True)
class Stack:
    """One multichannel 2-D or 3-D image with its physical metadata.

    Parameters
    ----------
    data : array-like
        Pixel data with axes ``axes``; a NumPy array or a lazy (Dask) array.
    axes : {"CYX", "ZCYX"}
        Axis order of ``data``.
    channel_names : tuple of str
        One name per channel.
    roles : mapping of str to int
        Channel role (``hoechst``, ``cell``, ``mito``, ...) to channel index.
    voxel_size_um : tuple of float
        Physical size of a pixel per spatial axis, ``(y, x)`` or ``(z, y, x)``, in µm.
    source : Path or None
        The file the stack was read from.
    metadata : dict
        Anything else worth keeping (the chosen time point, the original axes, ...).
    """

    data: Any
    axes: str
    channel_names: tuple[str, ...]
    roles: Mapping[str, int]
    voxel_size_um: tuple[float, ...]
    source: Path | None = None
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "channel_names", tuple(self.channel_names))
        object.__setattr__(self, "roles", dict(self.roles))
        object.__setattr__(self, "voxel_size_um", tuple(float(v) for v in self.voxel_size_um))
        if self.axes not in STACK_AXES:
            raise UnsupportedAxesError(
                self.source,
                f"stack axes must be one of {STACK_AXES}, got {self.axes!r}",
                "Pass the file's axes explicitly (e.g. axes='ZCYX').",
            )
        if len(self.data.shape) != len(self.axes):
            raise UnsupportedAxesError(
                self.source,
                f"data has {len(self.data.shape)} dimensions but axes {self.axes!r} "
                f"name {len(self.axes)}",
                "Pass an axes string with one letter per dimension.",
            )
        if len(self.channel_names) != self.n_channels:
            raise ChannelError(
                self.source,
                f"{len(self.channel_names)} channel names for {self.n_channels} channels",
                "Give one name per channel.",
            )
        for role, index in self.roles.items():
            if not 0 <= index < self.n_channels:
                raise ChannelError(
                    self.source,
                    f"channel role {role!r} points at channel {index}, but the image has "
                    f"{self.n_channels} channel(s) (0..{self.n_channels - 1})",
                    "Fix the channel mapping, e.g. --channels hoechst=0,cell=1,mito=2.",
                )
        if len(self.voxel_size_um) != self.ndim or not all(
            np.isfinite(v) and v > 0 for v in self.voxel_size_um
        ):
            raise SpmitoInputError(
                self.source,
                f"voxel size must be {self.ndim} positive numbers in µm "
                f"({'z, y, x' if self.is_3d else 'y, x'}), got {self.voxel_size_um}",
                "Pass --voxel-size with one value per spatial axis.",
            )

    @property
    def is_3d(self) -> bool:
        """True for a ZCYX stack."""
        return self.axes == "ZCYX"

    @property
    def ndim(self) -> int:
        """Number of spatial dimensions (2 or 3)."""
        return 3 if self.is_3d else 2

    @property
    def n_channels(self) -> int:
        """Number of channels."""
        return int(self.data.shape[self.axes.index("C")])

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        """Shape of one channel: ``(y, x)`` or ``(z, y, x)``."""
        return tuple(int(n) for ax, n in zip(self.axes, self.data.shape, strict=True) if ax != "C")

    @property
    def name(self) -> str:
        """A short name for messages and image ids: the file name without extension."""
        return "image" if self.source is None else image_stem(self.source)

    def has_role(self, role: str) -> bool:
        """Whether a channel plays ``role``."""
        return role in self.roles

    def channel_index(self, role: str) -> int:
        """The index of the channel that plays ``role``.

        Raises
        ------
        ChannelError
            When no channel has that role.
        """
        if role not in self.roles:
            known = ", ".join(f"{r}={i}" for r, i in self.roles.items()) or "none"
            raise ChannelError(
                self.source,
                f"no channel has the role {role!r} (roles known: {known}; "
                f"channels: {', '.join(self.channel_names)})",
                f"Map it explicitly, e.g. --channels {role}=<index or name>.",
            )
        return self.roles[role]

    def channel(self, role: str, *, validate: bool = True) -> np.ndarray:
        """Pixel data of the channel playing ``role`` as a NumPy array (``(Z,)Y,X``).

        Parameters
        ----------
        role : str
            A channel role, e.g. ``"mito"``.
        validate : bool
            Refuse NaN/inf values and a constant (empty) channel.

        Raises
        ------
        ChannelError, InvalidValuesError, EmptyImageError
        CorruptFileError, ImageTooLargeError
            A lazy stack whose pixels cannot be decoded or do not fit in memory (what the
            codec raised is the cause).
        """
        index = self.channel_index(role)
        taker = [slice(None)] * len(self.axes)
        taker[self.axes.index("C")] = index
        with input_errors(self.source, f"reading the {role} channel"):
            array = np.asarray(self.data[tuple(taker)])
        if validate:
            check_channel_values(array, self.source, role)
        return array

    def with_roles(self, roles: Mapping[str, int]) -> Stack:
        """A copy with other channel roles."""
        return replace(self, roles=dict(roles))


def check_channel_values(array: np.ndarray, source: Path | str | None, role: str) -> None:
    """Refuse channel data that cannot be analysed.

    Parameters
    ----------
    array : ndarray
        One channel.
    source : path or None
        The file it came from, for the message.
    role : str
        The channel's role, for the message.

    Raises
    ------
    InvalidValuesError
        The channel holds NaN or infinite values.
    EmptyImageError
        The channel has no pixels or a single value everywhere.
    """
    if array.size == 0:
        raise EmptyImageError(
            source, f"the {role} channel has no pixels (shape {array.shape})",
            "Check the file and its axes.",
        )
    if np.issubdtype(array.dtype, np.floating):
        bad = int(np.count_nonzero(~np.isfinite(array)))
        if bad:
            raise InvalidValuesError(
                source,
                f"the {role} channel holds {bad} NaN or infinite value(s) of {array.size}",
                "Replace them (e.g. with the background value) or export the raw "
                "camera image instead of a processed one.",
            )
    low, high = array.min(), array.max()
    if low == high:
        raise EmptyImageError(
            source,
            f"the {role} channel is constant (every pixel is {low})",
            "Check that the right channel is mapped to this role and that the "
            "acquisition recorded signal.",
        )
