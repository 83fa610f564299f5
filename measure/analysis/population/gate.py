"""The gate record and its JSON (``gating.json``, manual gates saved in napari)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from importlib import metadata
from os import PathLike
from pathlib import Path

import numpy as np

from spmito.measure.analysis.gate_methods import GATE_CHOICES
from spmito.measure.analysis.population.common import SCHEMA_VERSION, GatingError
from spmito.measure.analysis.population.dual_emission import dual_emission_calls
from spmito.measure.analysis.population.mixture import fit_mixture_well


def _software_version() -> str:
    try:
        return metadata.version("spmito")
    except metadata.PackageNotFoundError:
        return "unknown"




@dataclasses.dataclass
class Gate:
    """A gate in normalised Hoechst space; JSON-serialisable (``gating.json``, napari).

    A cell is SP when ``hoechst_x < threshold_x`` (threshold gates), when it lies inside
    ``vertices`` (a polygon in (``hoechst_x``, ``hoechst_red_x``), manual gates), when the
    SP component's posterior exceeds 0.5 (``mixture``), or when it lies outside the robust
    G1 ellipse and below both G1 medians (``dual_emission``).

    Attributes
    ----------
    method : str
        One of :data:`~spmito.measure.analysis.gate_methods.GATE_CHOICES`.
    alpha : float
        Nominal fraction of control cells called SP.
    threshold_x : float or None
        Threshold on ``hoechst_x``.
    threshold_ci : list of float or None
        Distribution-free 95 % CI of the threshold (``control_quantile``).
    vertices : list of [x, red_x] or None
        Polygon of a manual two-channel gate.
    params : dict
        Method-specific values: mixture components, MCD location and scatter, sort AUC.
    group : dict
        The group (plate, cell line) the gate belongs to.
    reference_wells : list of str
        Wells whose cells set the gate.
    n_reference_cells : int
        QC-passed cells that set the gate.
    applies_to : list of str
        Wells the gate classified.
    reference_log2_intensity : dict
        log2 ``m_ref`` per channel (``hoechst``, ``hoechst_red``) of the group, to map the
        threshold back to integrated intensity, and ``reference_cells``: which cells set it
        (``inhibitor-control``, ``sorted-MP`` or ``all``).
    well_estimates : list of dict
        Mixture gates: per well (or half-well) ``well, n_cells, sp_fraction, ci_low,
        ci_high, bootstrap_sd``.
    warnings : list of str
        What a reviewer should know about this gate.
    gate_id : str
        The value of the ``gate_id`` column of the cells it classified.
    software_version, created : str
        Provenance.
    schema_version : int
        Version of this JSON layout.
    """

    method: str
    alpha: float = 0.01
    threshold_x: float | None = None
    threshold_ci: list[float] | None = None
    vertices: list[list[float]] | None = None
    params: dict = dataclasses.field(default_factory=dict)
    group: dict = dataclasses.field(default_factory=dict)
    reference_wells: list[str] = dataclasses.field(default_factory=list)
    n_reference_cells: int = 0
    applies_to: list[str] = dataclasses.field(default_factory=list)
    reference_log2_intensity: dict = dataclasses.field(default_factory=dict)
    well_estimates: list[dict] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)
    gate_id: str = ""
    software_version: str = dataclasses.field(default_factory=_software_version)
    created: str = dataclasses.field(
        default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self):
        if self.method not in GATE_CHOICES:
            raise GatingError(f"unknown gate method {self.method!r}; expected one of "
                              f"{', '.join(GATE_CHOICES)}")
        if self.method == "manual" and (self.threshold_x is None) == (self.vertices is None):
            raise GatingError("a manual gate needs exactly one of threshold_x (a threshold "
                              "on hoechst_x) or vertices (a polygon in hoechst_x, "
                              "hoechst_red_x)")
        if self.vertices is not None and (np.ndim(self.vertices) != 2
                                          or np.shape(self.vertices)[1] != 2
                                          or len(self.vertices) < 3):
            raise GatingError("vertices must be at least 3 [hoechst_x, hoechst_red_x] pairs")

    @property
    def needs_red(self) -> bool:
        """Whether classifying needs ``hoechst_red_x``."""
        return self.method == "dual_emission" or self.vertices is not None

    def to_dict(self) -> dict:
        """The gate as plain JSON-compatible values."""
        return _plain(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, data: Mapping) -> Gate:
        """Build a gate from :meth:`to_dict` output (or a hand-written manual gate).

        Raises
        ------
        GatingError
            On a newer schema, an unknown key, or an invalid gate.
        """
        version = data.get("schema_version", SCHEMA_VERSION)
        if version > SCHEMA_VERSION:
            raise GatingError(f"gate schema version {version} is newer than this spmito "
                              f"understands ({SCHEMA_VERSION}); update spmito")
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise GatingError(f"unknown gate keys {unknown}; expected some of {sorted(known)}")
        return cls(**dict(data))

    def to_json(self) -> str:
        """The gate as a JSON string."""
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, text: str) -> Gate:
        """Build a gate from :meth:`to_json` output."""
        return cls.from_dict(json.loads(text))

    def save(self, path: str | PathLike) -> Path:
        """Write the gate as JSON to ``path`` and return the path."""
        path = Path(path)
        path.write_text(self.to_json() + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | PathLike) -> Gate:
        """Read a gate written by :meth:`save` (or by hand).

        Raises
        ------
        GatingError
            When the file is not valid JSON or not a valid gate (names the file).
        """
        try:
            return cls.from_json(Path(path).read_text(encoding="utf-8"))
        except (json.JSONDecodeError, TypeError, GatingError) as error:
            raise GatingError(f"{path}: not a valid gate file ({error}). Save the gate again "
                              "from the napari SP gating widget") from error

    def classify(self, x: np.ndarray, red_x: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
        """Classify cells; for the mixture gate ``x`` must be the cells of one well.

        Parameters
        ----------
        x : array of float
            ``hoechst_x`` of the cells.
        red_x : array of float, optional
            ``hoechst_red_x``; required by dual-emission and polygon gates.

        Returns
        -------
        is_sp : array of bool
            SP calls (False where ``x`` is NaN).
        sp_probability : array of float
            Posterior P(SP) for the mixture gate, NaN otherwise.
        """
        x = np.asarray(x, float)
        probability = np.full(x.shape, np.nan)
        if self.needs_red and red_x is None:
            raise GatingError(f"the {self.method} gate needs hoechst_red_x (a hoechst_red "
                              "channel); none was given")
        if self.method == "mixture":
            finite = np.isfinite(x)
            fit = fit_mixture_well(self, x[finite], n_bootstrap=0)
            probability = fit.probability(x)
            return probability > 0.5, probability
        if self.method == "dual_emission":
            return dual_emission_calls(self.params, x, np.asarray(red_x, float)), probability
        if self.vertices is not None:
            return _inside_polygon(self.vertices, x, np.asarray(red_x, float)), probability
        if self.threshold_x is None:
            raise GatingError(f"the {self.method} gate has no threshold to classify with")
        return x < self.threshold_x, probability


def save_gates(gates: Sequence[Gate], path: str | PathLike) -> Path:
    """Write gates as ``gating.json``: ``{"schema_version": 1, "gates": [...]}``."""
    path = Path(path)
    document = {"schema_version": SCHEMA_VERSION, "gates": [g.to_dict() for g in gates]}
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path


def load_gates(path: str | PathLike) -> list[Gate]:
    """Read a ``gating.json`` written by :func:`save_gates`.

    Raises
    ------
    GatingError
        When the file is not a valid gating file (names the file).
    """
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
        return [Gate.from_dict(gate) for gate in document["gates"]]
    except (json.JSONDecodeError, KeyError, TypeError, GatingError) as error:
        raise GatingError(f"{path}: not a valid gating.json ({error}). Re-run the gating "
                          "step (spmito report DIR) to write it again") from error


def _plain(value):
    """Turn numpy scalars and arrays inside nested containers into JSON values."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(item) for item in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _inside_polygon(vertices, x, red_x) -> np.ndarray:
    from matplotlib.path import Path as PolygonPath  # no backend, no pyplot

    points = np.column_stack([x, red_x])
    inside = PolygonPath(np.asarray(vertices, float)).contains_points(points)
    return inside & np.isfinite(points).all(axis=1)
