"""Channel roles: which channel of an image plays ``hoechst``, ``cell``, ``mito``, ...

Roles come from an explicit mapping (``--channels hoechst=0,mito=MitoTracker``) or, without
one, from the channel names recorded in the file, matched against :data:`ROLE_ALIASES`.

Name matching rules (case and punctuation are ignored, ``"TOM20-AF647"`` reads as the words
``tom20 af647``):

- a channel name matches an alias when the whole name equals it, when the alias's words
  appear in a row among the name's words (``"Hoechst red emission"`` has ``hoechst red``),
  or when the name starts with an alias of four letters or more (``"MitoTrackerDeepRed"``);
- an alias inside a longer matching alias does not count, so ``hoechst red`` beats
  ``hoechst``; a name whose remaining aliases belong to two roles (``"DAPI + MitoTracker"``)
  gets no role;
- a role claimed by two channels is given to neither: spmito never picks one silently,
  and :meth:`Stack.channel_index` then asks for an explicit mapping.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from os import PathLike

from spmito.imaging.errors import ChannelError, SpmitoInputError
from spmito.imaging.stack import ROLES

#: Channel names (stains, dyes, proteins) recognised for each role, lower case.
ROLE_ALIASES: dict[str, tuple[str, ...]] = {
    "hoechst": ("hoechst", "hoechst 33342", "h33342", "dapi", "dna", "nuclei", "nucleus",
                "nuclear"),
    "hoechst_red": ("hoechst_red", "hoechst red", "hoechst far red"),
    "cell": ("cell", "cellmask", "membrane", "cytoplasm", "phalloidin", "actin", "wga",
             "brightfield", "bf"),
    "mito": ("mito", "mitochondria", "mitotracker", "tom20", "mito fp", "mitofp"),
    "viability": ("viability", "pi", "propidium iodide", "draq7", "sytox", "live dead"),
}

#: Aliases at least this long also match as the start of a name ("MitoTrackerDeepRed").
_PREFIX_MATCH_MIN_CHARS = 4

ChannelRef = int | str


def _words(name: str) -> tuple[str, ...]:
    """Lower-case alphanumeric words of a channel name."""
    return tuple(re.findall(r"[a-z0-9]+", name.lower()))


def _alias_matches(alias: str, name_words: tuple[str, ...]) -> bool:
    alias_words = _words(alias)
    joined_alias, joined_name = "".join(alias_words), "".join(name_words)
    if joined_alias == joined_name:
        return True
    span = len(alias_words)
    if any(name_words[i:i + span] == alias_words for i in range(len(name_words) - span + 1)):
        return True
    return len(joined_alias) >= _PREFIX_MATCH_MIN_CHARS and joined_name.startswith(joined_alias)


def role_of_channel_name(name: str) -> str | None:
    """The role a channel name stands for, or ``None`` when it names none (or two).

    Parameters
    ----------
    name : str
        A channel name as recorded in a file, e.g. ``"DAPI"`` or ``"MitoTracker Deep Red"``.

    Returns
    -------
    str or None
        A key of :data:`ROLE_ALIASES`.

    Examples
    --------
    >>> role_of_channel_name("Hoechst 33342"), role_of_channel_name("hoechst_red")
    ('hoechst', 'hoechst_red')
    >>> role_of_channel_name("TOM20-AF647"), role_of_channel_name("Cy5") is None
    ('mito', True)
    """
    name_words = _words(name)
    matched = {("".join(_words(alias)), role)
               for role, aliases in ROLE_ALIASES.items()
               for alias in aliases if _alias_matches(alias, name_words)}
    most_specific = {role for alias, role in matched
                     if not any(alias != other and alias in other for other, _ in matched)}
    return most_specific.pop() if len(most_specific) == 1 else None


def roles_from_channel_names(channel_names: Sequence[str]) -> dict[str, int]:
    """Roles implied by channel names; a role claimed by two channels is left out.

    Parameters
    ----------
    channel_names : sequence of str
        One name per channel.

    Returns
    -------
    dict
        Role to channel index.
    """
    claimed: dict[str, list[int]] = {}
    for index, name in enumerate(channel_names):
        role = role_of_channel_name(name)
        if role is not None:
            claimed.setdefault(role, []).append(index)
    return {role: indices[0] for role, indices in claimed.items() if len(indices) == 1}


def _describe_channels(channel_names: Sequence[str]) -> str:
    return ", ".join(f"{i}={name!r}" for i, name in enumerate(channel_names))


def _channel_index(ref: ChannelRef, role: str, channel_names: Sequence[str],
                   source: str | PathLike | None) -> int:
    n_channels = len(channel_names)
    if isinstance(ref, int) and not isinstance(ref, bool):
        if 0 <= ref < n_channels:
            return ref
        raise ChannelError(
            source,
            f"channel role {role!r} points at channel {ref}, but the image has {n_channels} "
            f"channel(s): {_describe_channels(channel_names)}",
            f"Use an index from 0 to {n_channels - 1} or a channel name, "
            f"e.g. --channels {role}=0",
        )
    if isinstance(ref, str):
        names, lowered = list(channel_names), [name.lower() for name in channel_names]
        if ref in names:
            return names.index(ref)
        if lowered.count(ref.lower()) == 1:
            return lowered.index(ref.lower())
        raise ChannelError(
            source,
            f"channel role {role!r} names channel {ref!r}, but the image's channels are "
            f"{_describe_channels(channel_names)}",
            f"Use one of these names or an index, e.g. --channels {role}=0",
        )
    raise ChannelError(source, f"channel role {role!r} maps to {ref!r}, which is neither a "
                       "channel index nor a channel name", "Give an integer or a name")


def resolve_roles(
    channel_names: Sequence[str],
    channels: Mapping[str, ChannelRef] | None = None,
    source: str | PathLike | None = None,
) -> dict[str, int]:
    """Channel roles of an image, from an explicit mapping or from its channel names.

    Parameters
    ----------
    channel_names : sequence of str
        The image's channel names.
    channels : mapping of str to int or str, optional
        Role to channel index or channel name (exact, then case-insensitive). When given,
        it is the whole mapping: names are not consulted for other roles.
    source : path-like, optional
        The file, for error messages.

    Returns
    -------
    dict
        Role to channel index.

    Raises
    ------
    ChannelError
        An unknown role, an index out of range or a name the image does not have.
    """
    if channels is None:
        return roles_from_channel_names(channel_names)
    _check_role_names(channels, source)
    return {role: _channel_index(ref, role, channel_names, source)
            for role, ref in channels.items()}


def _check_role_names(roles: Mapping[str, object] | Sequence[str],
                      source: str | PathLike | None) -> None:
    unknown = [role for role in roles if role not in ROLES]
    if unknown:
        raise ChannelError(source, f"unknown channel role(s) {', '.join(map(repr, unknown))}",
                           f"Roles are: {', '.join(ROLES)}")


def parse_channels(text: str) -> dict[str, ChannelRef]:
    """Parse a ``--channels`` value: ``"hoechst=0,cell=1,mito=MitoTracker"``.

    Parameters
    ----------
    text : str
        Comma-separated ``role=channel`` pairs; a channel is an index (digits) or a name.

    Returns
    -------
    dict
        Role to channel index (int) or channel name (str), in the order given.

    Raises
    ------
    SpmitoInputError
        Malformed pairs, an unknown or repeated role.

    Examples
    --------
    >>> parse_channels("hoechst=0, mito=MitoTracker")
    {'hoechst': 0, 'mito': 'MitoTracker'}
    """
    fix = "Write role=channel pairs separated by commas, e.g. --channels hoechst=0,cell=1,mito=2"
    mapping: dict[str, ChannelRef] = {}
    for pair in text.split(","):
        role, sep, ref = (part.strip() for part in pair.partition("="))
        if not (sep and role and ref):
            raise SpmitoInputError(None, f"cannot read --channels {text!r}: {pair.strip()!r} "
                                   "is not role=channel", fix)
        if role in mapping:
            raise SpmitoInputError(None, f"--channels {text!r} gives role {role!r} twice", fix)
        mapping[role] = int(ref) if ref.isdigit() else ref
    _check_role_names(mapping, None)
    return mapping
