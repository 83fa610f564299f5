"""Run parameters: command-line flags, a TOML config whose keys mirror them, and defaults.

Precedence: a flag given on the command line wins over the config file, which wins over
the defaults. Every length is in µm. :meth:`RunParams.analysis_hash` fingerprints what
changes per-image results (used by ``--resume``); batch-level settings (gate, workers) do
not invalidate per-image outputs.
"""

from __future__ import annotations

import hashlib
import json
import math
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from spmito.imaging.channels import parse_channels
from spmito.imaging.choices import CELL_METHODS, GATES
from spmito.imaging.errors import SpmitoInputError
from spmito.imaging.io import parse_voxel_size
from spmito.measure.analysis.population import DOUBLET_MIN_SOLIDITY
from spmito.measure.objects.background import ANNULUS_INNER_UM, ANNULUS_OUTER_UM
from spmito.segment.mito import MitoParams


@dataclass(frozen=True)
class RunParams:
    """Everything ``spmito run`` needs to know, lengths in µm.

    Per-image analysis
        ``channels`` (role -> index or name), ``voxel_size_um`` (override), ``axes``,
        ``timepoint``, ``cell_method`` (``cellpose``, or ``nuclei``: cells grown from the
        nuclei over the cell stain, or the mitochondria and Hoechst channels without one),
        ``cell_max_distance_um`` (how far a cell grown from its nucleus may reach; default the
        cell diameter), ``divide_multinucleate_cells`` (cell method ``cellpose``: divide a
        model cell that holds several nuclei into one cell per nucleus; off keeps them, and
        the tables flag them as doublets), ``model`` (cells), ``nucleus_model``,
        ``cell_diameter_um``, ``nucleus_diameter_um`` (µm, or ``"auto"``: estimated per
        image, :func:`spmito.segment.nuclei.estimate_nucleus_diameter_um`), ``device``,
        ``mode_3d`` (``stitch`` or ``do_3d``), ``cells_mask`` (the path of a given cell label
        image; one image only), ``mito`` (the ``[mito]`` table: keyword arguments of
        :class:`spmito.segment.mito_params.MitoParams`, checked when the config is read; as
        :attr:`mito_params`), ``annulus_um`` (inner, outer radius of the Hoechst background
        annulus), ``flatfield`` (an image file).
    Batch level
        ``gate``, ``gate_file``, ``alpha``, ``doublet_min_solidity`` (a cell less solid than
        this is excluded as a doublet; domain.md's 0.90, 0 for spread adherent cells whose
        nuclei already show the doublets), ``workers``, ``scheduler``, ``resume``,
        ``strict`` (a failed plausibility check in ``qc.csv`` makes the exit status 1).
    Reading permissions (:func:`spmito.imaging.io.read_stack`)
        ``allow_external_files`` (OME ``TiffData`` in other files), ``allow_unusual_voxel_size``
        (outside :data:`spmito.imaging.io.PLAUSIBLE_VOXEL_UM`).
    """

    channels: Mapping[str, int | str] | None = None
    voxel_size_um: tuple[float, ...] | None = None
    axes: str | None = None
    timepoint: int | None = None
    cell_method: str = "cellpose"
    cell_max_distance_um: float | None = None
    divide_multinucleate_cells: bool = True
    model: str = "bundled"
    nucleus_model: str = "bundled"
    cell_diameter_um: float = 12.0
    nucleus_diameter_um: float | str = 8.0
    device: str = "auto"
    mode_3d: str = "stitch"
    cells_mask: str | None = None
    mito: Mapping[str, Any] = field(default_factory=dict)
    annulus_um: tuple[float, float] = (ANNULUS_INNER_UM, ANNULUS_OUTER_UM)
    flatfield: str | None = None
    gate: str | None = None
    gate_file: str | None = None
    alpha: float = 0.01
    doublet_min_solidity: float = DOUBLET_MIN_SOLIDITY
    workers: int | None = None
    scheduler: str | None = None
    resume: bool = True
    strict: bool = False
    allow_external_files: bool = False
    allow_unusual_voxel_size: bool = False

    #: fields that do not change per-image results (the permissions only let more in)
    BATCH_ONLY = ("gate", "gate_file", "alpha", "doublet_min_solidity", "workers", "scheduler",
                  "resume", "strict", "allow_external_files", "allow_unusual_voxel_size")

    @property
    def mito_params(self) -> MitoParams:
        """The ``[mito]`` settings as :class:`~spmito.segment.mito.MitoParams` (defaults filled).

        ``mito`` itself keeps only the keys given, so that ``run.json`` and the analysis hash
        stay those of the settings the user wrote.
        """
        return MitoParams(**self.mito)

    def to_dict(self) -> dict:
        """Plain JSON-able parameters (for run.json)."""
        return json.loads(json.dumps(asdict(self), default=str))

    def analysis_dict(self) -> dict:
        """The parameters that determine per-image outputs."""
        return {k: v for k, v in self.to_dict().items() if k not in self.BATCH_ONLY}

    def analysis_hash(self) -> str:
        """sha256 of :meth:`analysis_dict` (canonical JSON)."""
        text = json.dumps(self.analysis_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()


#: The value of ``nucleus_diameter`` that estimates it per image.
AUTO = "auto"

# names on the command line / in the config -> RunParams field
_ALIASES = {
    "voxel_size": "voxel_size_um",
    "cell_diameter": "cell_diameter_um",
    "nucleus_diameter": "nucleus_diameter_um",
    "annulus": "annulus_um",
    "cell_max_distance": "cell_max_distance_um",
}


def read_run_params(out_dir: str | Path) -> RunParams:
    """The parameters recorded in ``DIR/run.json`` (defaults when there is none).

    Keys this version does not know are ignored, so a folder written by a newer spmito
    still opens.
    """
    path = Path(out_dir) / "run.json"
    if not path.is_file():
        return RunParams()
    recorded = json.loads(path.read_text(encoding="utf-8")).get("parameters_um", {})
    known = {f.name for f in fields(RunParams)}
    return RunParams(**{k: tuple(v) if isinstance(v, list) else v
                        for k, v in recorded.items() if k in known})


def load_config(path: str | Path) -> dict:
    """Read a TOML config; keys mirror the flags (``cell_diameter`` or ``cell-diameter``).

    Raises
    ------
    SpmitoInputError
        When the file is missing, is not TOML, or has unknown keys.
    """
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise SpmitoInputError(path, "config file not found", "Check the --config path."
                               ) from error
    except tomllib.TOMLDecodeError as error:
        raise SpmitoInputError(path, f"not valid TOML ({error})",
                               "Fix the syntax; keys mirror the flags, e.g. "
                               "cell_diameter = 12") from error
    return _normalise_keys(raw, source=path)


def _normalise_keys(values: Mapping[str, Any], source: Path | None) -> dict:
    known = {f.name for f in fields(RunParams)}
    out: dict[str, Any] = {}
    for key, value in values.items():
        name = key.replace("-", "_")
        name = _ALIASES.get(name, name)
        if name not in known:
            raise SpmitoInputError(source, f"unknown setting {key!r}",
                                   f"Known settings: {', '.join(sorted(known))}")
        out[name] = _checked_mito(value, source) if name == "mito" else value
    return out


def _checked_mito(values: Any, source: Path | None) -> dict:
    """The ``[mito]`` table, refused (naming the key and the file) unless MitoParams takes it."""
    known = [f.name for f in fields(MitoParams)]
    if not isinstance(values, Mapping):
        raise SpmitoInputError(source, f"mito must be a table of settings, not {values!r}",
                               f"Write a [mito] table with some of: {', '.join(known)}")
    for key in values:
        if key not in known:
            raise SpmitoInputError(source, f"unknown [mito] setting {key!r}",
                                   f"Known [mito] settings: {', '.join(known)}")
    try:
        MitoParams(**values)
    except (TypeError, ValueError) as error:
        raise SpmitoInputError(source, f"bad [mito] settings ({error})",
                               "Give each [mito] setting as a number or true/false") from error
    return dict(values)


#: On/off settings: a config must give them as TOML booleans.
_SWITCHES = tuple(f.name for f in fields(RunParams) if f.type in ("bool", bool))


def _coerce(values: dict) -> dict:
    """Convert strings from flags/config into the field types."""
    out = dict(values)
    if isinstance(out.get("channels"), str):
        out["channels"] = parse_channels(out["channels"])
    voxel = out.get("voxel_size_um")
    if voxel is not None:
        # a TOML config may give a list; the flag gives "z,y,x"
        out["voxel_size_um"] = parse_voxel_size(voxel if isinstance(voxel, str)
                                                else ",".join(str(v) for v in voxel))
    if out.get("annulus_um") is not None:
        out["annulus_um"] = tuple(float(v) for v in out["annulus_um"])
    if out.get("cell_method") is not None and out["cell_method"] not in CELL_METHODS:
        raise SpmitoInputError(None, f"unknown cell method {out['cell_method']!r}",
                               f"Use one of {', '.join(CELL_METHODS)}")
    if out.get("cell_max_distance_um") is not None and float(out["cell_max_distance_um"]) <= 0:
        raise SpmitoInputError(None, "cell_max_distance must be a positive length in µm",
                               "Give how far a cell may reach beyond its nucleus, e.g. 15")
    if out.get("nucleus_diameter_um") is not None:
        out["nucleus_diameter_um"] = _nucleus_diameter(out["nucleus_diameter_um"])
    if out.get("doublet_min_solidity") is not None:
        out["doublet_min_solidity"] = checked_doublet_min_solidity(out["doublet_min_solidity"])
    if out.get("gate") is not None and out["gate"] not in GATES:
        raise SpmitoInputError(None, f"unknown gate {out['gate']!r}",
                               f"Use one of {', '.join(GATES)}")
    for name in _SWITCHES:
        if out.get(name) is not None and not isinstance(out[name], bool):
            raise SpmitoInputError(None, f"{name} must be true or false, not {out[name]!r}",
                                   f"Write {name} = true or {name} = false (no quotes)")
    if out.get("gate_file") and not out.get("gate"):
        out["gate"] = "manual"
    return out


def _nucleus_diameter(value: Any) -> float | str:
    """A positive diameter in µm, or ``"auto"``."""
    if isinstance(value, str) and value.strip().lower() == AUTO:
        return AUTO
    return _checked_number(value, "nucleus_diameter", "a diameter in µm or 'auto'",
                           lambda number: number > 0,
                           "Give e.g. 8 (µm), or auto to estimate it per image")


def checked_doublet_min_solidity(value: Any) -> float:
    """The doublet rule's solidity bar from a flag or the config, as a number from 0 to 1.

    Raises
    ------
    SpmitoInputError
        Not a number from 0 to 1.
    """
    return _checked_number(value, "doublet_min_solidity", "a number from 0 to 1",
                           lambda number: 0.0 <= number <= 1.0,
                           "Give 0.9 (domain.md's doublet rule) or 0 to turn the shape test "
                           "off for spread adherent cells")


def _checked_number(value: Any, name: str, expected: str, valid, fix: str) -> float:
    """``value`` as a float when it is a number (not a boolean) that ``valid`` accepts."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if isinstance(value, bool) or not math.isfinite(number) or not valid(number):
        raise SpmitoInputError(None, f"{name} must be {expected}, not {value!r}", fix)
    return number


def resolve_params(flags: Mapping[str, Any], config_path: str | Path | None = None
                   ) -> RunParams:
    """Merge defaults, a TOML config and command-line flags (flags win).

    Parameters
    ----------
    flags : mapping
        Option values from the command line; ``None`` means "not given".
    config_path : path, optional
        A TOML file whose keys mirror the flags.
    """
    merged: dict[str, Any] = load_config(config_path) if config_path else {}
    given = {k: v for k, v in flags.items() if v is not None}
    merged.update(_normalise_keys(given, source=None))
    return RunParams(**_coerce(merged))
