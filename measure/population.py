"""SP/MP classification of cells: exclusions, Hoechst normalisation, gates (domain.md §2).

The batch calls :func:`assign_populations` once on the per-cell table of all images; the
napari gating widget calls :func:`fit_gate`, :meth:`Gate.classify` and :meth:`Gate.save`.

Decisions (the reference behaviour is domain.md §2; where this module adds to it):

Groups
    Exclusion medians (pyknotic, doublet, automatic viability threshold) are taken per
    ``exclusion_group_by`` = plate + cell line + sheet population: one plate is one
    imaging session, cell lines differ in size and ploidy, and sorted SP nuclei are dimmer
    by design, so sorted SP and MP images get their own medians. They are computed over
    complete single-nucleus cells (one nucleus, not touching the border, not z-clipped).
    Normalisation and gates are per ``group_by`` = plate + cell line (myeloma lines are
    aneuploid, so G1 DNA content differs between lines). Missing columns are skipped.
Reference cells for ``m_ref``
    Kept cells of inhibitor-control and gate-setting wells; when a group has none, its
    sorted-MP cells; when it has neither, all its kept cells (with a warning).
Non-positive Hoechst
    ``I <= 0`` (or missing with a nucleus present) means the background estimate failed for
    that nucleus: DNA content and efflux are unmeasurable. ``hoechst_x`` is NaN and, for
    every method but ``sheet``, the cell is excluded with code ``no_hoechst``. Flooring it
    instead would make it SP by construction and inflate SP % with artefacts. Sorted
    populations do not need Hoechst, so ``sheet`` keeps such cells.
Who is classified
    Every cell with a finite ``hoechst_x`` (or a sheet population) gets a population,
    excluded cells too (so a reviewer sees the call); statistics use kept cells only.
Gates never score the wells that set them
    Test wells are gated by the pooled controls of their group. Each control well is gated
    by the pool without it (leave-one-well-out); a group with a single control well is
    cross-fitted: its images (or, with one image, its cells at random) are split in two
    halves, each gated by the other half. Cross-fitted and leave-one-out gates use the
    method of the pooled gate. A manual gate is applied unchanged to every well.
``sp_probability``
    Filled by the mixture gate only (the posterior of the SP component); NaN for hard gates
    and sorted populations, where no probability model exists.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from importlib import metadata
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage, signal, stats

from measure._table import (
    first_present,
    group_label,
    is_control,
    present,
    well_labels,
)

SCHEMA_VERSION = 1
GATE_METHODS = ("control_quantile", "control_robust", "mixture", "dual_emission", "manual")
METHODS = ("auto", *GATE_METHODS, "sheet")
EXCLUSION_CODES = ("dead", "pyknotic", "doublet", "no_nucleus", "border", "z_clipped",
                   "saturated", "no_hoechst")
DEFAULT_GROUP_BY = ("plate", "cell_line")
DEFAULT_EXCLUSION_GROUP_BY = ("plate", "cell_line", "sheet_population")

#: Window of normalised Hoechst around the G1 peak used by robust and dual-emission gates.
G1_WINDOW = (-0.6, 0.35)
#: Fewest QC-passed control cells for ``control_quantile`` under ``auto``.
MIN_CONTROL_CELLS_QUANTILE = 1000
#: Fewest QC-passed control cells for any automatic gate (fewer: a manual gate is needed).
MIN_CONTROL_CELLS = 200
#: Fewest reference cells for a KDE mode of the G0/G1 peak.
MIN_REFERENCE_CELLS = 20
#: Sorted SP vs MP residual-Hoechst AUC under which the sort is flagged.
MIN_SORT_AUC = 0.8
#: Fewest expected SP cells for a trustworthy mixture fraction.
MIN_EXPECTED_SP_CELLS = 30
#: Automatic viability threshold: group median + this many robust SDs.
VIABILITY_ROBUST_SDS = 5.0
MAX_MIXTURE_COMPONENTS = 4


class GatingError(ValueError):
    """A gate cannot be set or applied (too few control cells, a bad gate file, ...)."""


class GatingWarning(UserWarning):
    """A gate was set but a reviewer should know something about it."""


def _software_version() -> str:
    try:
        return metadata.version("spmito")
    except metadata.PackageNotFoundError:
        return "unknown"


# --------------------------------------------------------------------------------------
# The gate object
# --------------------------------------------------------------------------------------


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
        One of :data:`GATE_METHODS` or ``"sheet"``.
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
        if self.method not in (*GATE_METHODS, "sheet"):
            raise GatingError(f"unknown gate method {self.method!r}; expected one of "
                              f"{', '.join((*GATE_METHODS, 'sheet'))}")
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
            return _dual_emission_calls(self.params, x, np.asarray(red_x, float)), probability
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


# --------------------------------------------------------------------------------------
# Exclusions
# --------------------------------------------------------------------------------------


def flag_exclusions(
    cells: pd.DataFrame,
    *,
    group_by: Sequence[str] = DEFAULT_EXCLUSION_GROUP_BY,
    viability_threshold: float | None = None,
    require_hoechst: bool = True,
) -> pd.DataFrame:
    """Add ``excluded`` and ``exclude_reason`` (``;``-joined codes, ``""`` when kept).

    Codes (domain.md §2): ``dead`` (viability above threshold), ``pyknotic`` (nucleus size
    < 0.5 x group median and mean Hoechst > 2 x median), ``doublet`` (cell size > 2 x
    median, solidity < 0.90, or more than one nucleus), ``no_nucleus``, ``border``,
    ``z_clipped``, ``saturated``, and ``no_hoechst`` (integrated Hoechst <= 0 or missing
    with a nucleus; only when ``require_hoechst``). A rule whose input columns are absent
    flags nothing.

    Parameters
    ----------
    cells : pandas.DataFrame
        Per-cell table (cells.csv columns).
    group_by : sequence of str
        Columns whose groups get their own medians (absent ones are skipped).
    viability_threshold : float, optional
        ``viability_mean`` above which a cell is dead. Default: group median + 5 robust
        SDs (1.4826 MAD) of the complete cells; give a threshold from a dead-cell control
        when one exists.
    require_hoechst : bool
        Exclude cells without a positive integrated Hoechst (all gates need it).

    Returns
    -------
    pandas.DataFrame
        A copy of ``cells`` with the two columns.
    """
    out = cells.copy()
    group_median = _GroupMedian(out, group_by)
    rules = {
        "dead": _dead(out, group_median, viability_threshold),
        "pyknotic": _pyknotic(out, group_median),
        "doublet": _doublet(out, group_median),
        "no_nucleus": _no_nucleus(out),
        "border": _flag(out, "touches_border"),
        "z_clipped": _flag(out, "z_clipped"),
        "saturated": _flag(out, "saturated"),
        "no_hoechst": (_no_hoechst(out) if require_hoechst else np.zeros(len(out), bool)),
    }
    flags = np.column_stack([rules[code] for code in EXCLUSION_CODES])
    excluded = flags.any(axis=1)
    codes = np.asarray(EXCLUSION_CODES, dtype=object)
    reason = np.full(len(out), "", dtype=object)
    reason[excluded] = [";".join(codes[row]) for row in flags[excluded]]
    out["exclude_reason"] = pd.Series(reason, index=out.index, dtype=object)
    out["excluded"] = excluded
    return out


def _flag(cells: pd.DataFrame, column: str) -> np.ndarray:
    if column not in cells.columns:
        return np.zeros(len(cells), bool)
    return cells[column].fillna(False).astype(bool).to_numpy()


def _no_nucleus(cells: pd.DataFrame) -> np.ndarray:
    if "n_nuclei" not in cells.columns:
        return np.zeros(len(cells), bool)
    return (cells["n_nuclei"].fillna(0) < 1).to_numpy()


def _no_hoechst(cells: pd.DataFrame) -> np.ndarray:
    intensity = cells["hoechst_integrated"].to_numpy(float)
    return ~(intensity > 0) & ~_no_nucleus(cells)


def _complete_cells(cells: pd.DataFrame) -> np.ndarray:
    """Single-nucleus cells wholly in the image: the ones group medians are taken over."""
    complete = ~_flag(cells, "touches_border") & ~_flag(cells, "z_clipped")
    if "n_nuclei" in cells.columns:
        complete &= (cells["n_nuclei"] == 1).to_numpy()
    return complete


class _GroupMedian:
    """Per-cell median of values over the complete cells of the cell's group."""

    def __init__(self, cells: pd.DataFrame, group_by: Sequence[str]):
        keys = present(cells, group_by)
        self.codes = (cells.groupby(keys, dropna=False, sort=False).ngroup().to_numpy()
                      if keys else np.zeros(len(cells), int))
        self.complete = _complete_cells(cells)

    def __call__(self, values: np.ndarray) -> np.ndarray:
        values = pd.Series(np.where(self.complete, np.asarray(values, float), np.nan))
        return values.groupby(self.codes).transform("median").to_numpy()


def _dead(cells, group_median: _GroupMedian, threshold) -> np.ndarray:
    if "viability_mean" not in cells.columns:
        return np.zeros(len(cells), bool)
    viability = cells["viability_mean"].to_numpy(float)
    if threshold is None:
        median = group_median(viability)
        threshold = median + VIABILITY_ROBUST_SDS * 1.4826 * group_median(
            np.abs(viability - median))
    return viability > threshold


def _pyknotic(cells, group_median: _GroupMedian) -> np.ndarray:
    nucleus = first_present(cells, ("nucleus_area_um2", "nucleus_volume_um3"))
    if nucleus is None or "hoechst_mean" not in cells.columns:
        return np.zeros(len(cells), bool)
    size = cells[nucleus].to_numpy(float)
    brightness = cells["hoechst_mean"].to_numpy(float)
    return (size < 0.5 * group_median(size)) & (brightness > 2.0 * group_median(brightness))


def _doublet(cells, group_median: _GroupMedian) -> np.ndarray:
    flagged = np.zeros(len(cells), bool)
    size = first_present(cells, ("cell_area_um2", "cell_volume_um3"))
    if size is not None:
        values = cells[size].to_numpy(float)
        flagged |= values > 2.0 * group_median(values)
    if "cell_solidity" in cells.columns:
        flagged |= cells["cell_solidity"].to_numpy(float) < 0.90
    if "n_nuclei" in cells.columns:
        flagged |= (cells["n_nuclei"].fillna(0) > 1).to_numpy()
    return flagged


# --------------------------------------------------------------------------------------
# Normalisation
# --------------------------------------------------------------------------------------


def g1_mode_log2(log2_intensity: np.ndarray) -> float:
    """Mode of the G0/G1 peak of log2 integrated Hoechst.

    A binned Gaussian KDE (Silverman's robust bandwidth) finds the peaks: those at least
    20 % as high as the tallest are candidates; the tallest is G0/G1 unless another
    candidate sits 0.75-1.25 log2 units below it, in which case the tallest was G2/M and
    that lower peak is G0/G1. The KDE's argmax is then refined to the median of the values
    within the peak's half width at half maximum (three passes, re-centred each time): for
    a near-Gaussian peak this is the mode with a far smaller variance than the argmax of a
    KDE whose bandwidth was chosen for the whole density.

    Parameters
    ----------
    log2_intensity : array of float
        log2 integrated Hoechst of the reference cells (non-finite values are dropped).

    Returns
    -------
    float
        log2 ``m_ref``.

    Raises
    ------
    GatingError
        With fewer than :data:`MIN_REFERENCE_CELLS` finite values.
    """
    values = np.asarray(log2_intensity, float)
    values = values[np.isfinite(values)]
    if values.size < MIN_REFERENCE_CELLS:
        raise GatingError(f"{values.size} reference cells; the G0/G1 peak needs at least "
                          f"{MIN_REFERENCE_CELLS}")
    centres, density = _binned_kde(values)
    peaks, _ = signal.find_peaks(density, height=0.2 * density.max())
    peaks = peaks if peaks.size else np.array([np.argmax(density)])
    g1 = peaks[np.argmax(density[peaks])]
    offset = centres[g1] - centres[peaks]
    lower = peaks[(offset > 0.75) & (offset < 1.25)]
    if lower.size:
        g1 = lower[np.argmax(density[lower])]
    width_bins = signal.peak_widths(density, [g1], rel_height=0.5)[0][0]
    half_width = max(width_bins * (centres[1] - centres[0]) / 2, 1e-6)
    mode = centres[g1]
    for _ in range(3):
        window = values[np.abs(values - mode) <= half_width]
        mode = np.median(window) if window.size else mode
    return float(mode)


def _binned_kde(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian KDE on bins a fifth of the bandwidth wide (Silverman's robust bandwidth)."""
    iqr = np.subtract(*np.percentile(values, [75, 25]))
    spread = min(values.std(), iqr / 1.349) or values.std() or 1.0
    bandwidth = max(0.9 * spread * values.size ** -0.2, 0.01)
    low, high = values.min() - 3 * bandwidth, values.max() + 3 * bandwidth
    n_bins = int(min(np.ceil((high - low) / (bandwidth / 5)), 2**16))
    counts, edges = np.histogram(values, bins=n_bins, range=(low, high))
    density = ndimage.gaussian_filter1d(counts.astype(float), bandwidth / (edges[1] - edges[0]),
                                        mode="constant")
    return (edges[:-1] + edges[1:]) / 2, density


# --------------------------------------------------------------------------------------
# Fitting gates on control cells
# --------------------------------------------------------------------------------------


def fit_gate(
    x: np.ndarray,
    method: str,
    *,
    alpha: float = 0.01,
    red_x: np.ndarray | None = None,
) -> Gate:
    """Fit a gate on control cells' normalised Hoechst.

    Parameters
    ----------
    x : array of float
        ``hoechst_x`` of QC-passed inhibitor-control cells (non-finite values dropped).
    method : {"control_quantile", "control_robust", "mixture", "dual_emission"}
        ``control_quantile``: t = alpha-quantile, with a distribution-free 95 % CI from
        order statistics. ``control_robust``: over -0.6 < x < 0.35, t = median -
        z(1-alpha) 1.4826 MAD. ``mixture``: a Gaussian mixture (k <= 4 by BIC), frozen for
        per-well fits. ``dual_emission``: robust MCD location/scatter of G1 cells in
        (x, red_x), SP outside the chi2_2(1 - 2 alpha) ellipse and below both G1 medians.
    alpha : float
        Fraction of control cells to call SP.
    red_x : array of float, optional
        ``hoechst_red_x`` of the same cells (``dual_emission``).

    Returns
    -------
    Gate
        With ``n_reference_cells`` set; the caller fills group and wells.
    """
    x = np.asarray(x, float)
    finite = np.isfinite(x) if red_x is None else np.isfinite(x) & np.isfinite(red_x)
    x = x[finite]
    if x.size == 0:
        raise GatingError(f"no finite control values to fit a {method} gate on")
    if method == "control_quantile":
        threshold, ci = quantile_threshold(x, alpha)
        gate = Gate(method, alpha, threshold_x=threshold, threshold_ci=list(ci))
    elif method == "control_robust":
        gate = Gate(method, alpha, threshold_x=robust_threshold(x, alpha))
    elif method == "mixture":
        gate = Gate(method, alpha, params=_control_mixture(x))
    elif method == "dual_emission":
        if red_x is None:
            raise GatingError("the dual_emission gate needs hoechst_red_x (a hoechst_red "
                              "channel); none was given")
        gate = Gate(method, alpha, params=_dual_emission_params(
            x, np.asarray(red_x, float)[finite], alpha))
    else:
        raise GatingError(f"cannot fit a {method!r} gate on controls; fit one of "
                          "control_quantile, control_robust, mixture, dual_emission")
    gate.n_reference_cells = int(x.size)
    return gate


def quantile_threshold(x: np.ndarray, alpha: float, confidence: float = 0.95
                       ) -> tuple[float, tuple[float, float]]:
    """The alpha-quantile of ``x`` with a distribution-free CI from order statistics.

    The quantile uses the Weibull plotting position (order statistic alpha (n + 1),
    interpolated): the expected control mass below it is then alpha whatever n, so a test
    well gated by all controls and a control well gated by half of them have the same
    expected false-positive rate and ΔSP % is not biased by their different n. The CI is
    [x_(l), x_(u)] with l, u the binomial(n, alpha) quantiles that give coverage
    P(l <= K <= u - 1) >= ``confidence`` (K = number of values below the true quantile).

    Returns
    -------
    threshold : float
    ci : (float, float)
    """
    ordered = np.sort(np.asarray(x, float))
    n = ordered.size
    tail = (1 - confidence) / 2
    lower, upper = stats.binom.ppf([tail, 1 - tail], n, alpha).astype(int)
    lower_rank, upper_rank = max(lower, 1), min(upper + 1, n)
    threshold = float(np.quantile(ordered, alpha, method="weibull"))
    return threshold, (float(ordered[lower_rank - 1]), float(ordered[upper_rank - 1]))


def _in_g1_window(x: np.ndarray) -> np.ndarray:
    return (x > G1_WINDOW[0]) & (x < G1_WINDOW[1])


def robust_threshold(x: np.ndarray, alpha: float) -> float:
    """Threshold median - z(1 - alpha) * 1.4826 MAD over the G1 window -0.6 < x < 0.35."""
    x = np.asarray(x, float)
    window = x[_in_g1_window(x)]
    if window.size == 0:
        raise GatingError(f"no control cells in the G1 window {G1_WINDOW} of hoechst_x")
    spread = stats.median_abs_deviation(window, scale="normal")
    return float(np.median(window) - stats.norm.ppf(1 - alpha) * spread)


# --- mixture ---------------------------------------------------------------------------


#: Bin width (log2 units) of the histogram the mixture EM runs on: a tenth of a typical
#: G1 peak SD, so binning moves estimates by far less than their standard error.
MIXTURE_BIN_WIDTH = 0.01


def _normal_pdf(x, mean, sd):
    return np.exp(-0.5 * ((x - mean) / sd) ** 2) / (sd * np.sqrt(2 * np.pi))


def _histogram(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centres and counts of the non-empty :data:`MIXTURE_BIN_WIDTH` bins of ``x``."""
    bins, counts = np.unique(np.floor(np.asarray(x, float) / MIXTURE_BIN_WIDTH),
                             return_counts=True)
    return (bins + 0.5) * MIXTURE_BIN_WIDTH, counts.astype(float)


def fit_gaussian_mixture_1d(x: np.ndarray, n_components: int, *, max_iter: int = 500,
                            tol: float = 1e-6, min_sd: float = 0.01) -> dict:
    """Maximum-likelihood 1-D Gaussian mixture by EM (quantile start, SD floor).

    EM runs on the :data:`MIXTURE_BIN_WIDTH` histogram of ``x`` (binned EM), so its cost
    does not grow with the number of cells.

    Parameters
    ----------
    x : array of float
        Values.
    n_components : int
        Number of Gaussian components.
    max_iter : int
        Most EM iterations.
    tol : float
        Stop when the log-likelihood per value improves by less than this.
    min_sd : float
        Floor of the component SDs (keeps a component from collapsing on one bin).

    Returns
    -------
    dict
        ``weights, means, sds`` (lists), ``log_likelihood``, ``bic``.
    """
    centres, counts = _histogram(x)
    n, k = counts.sum(), n_components
    means = np.quantile(np.asarray(x, float), (np.arange(k) + 0.5) / k)
    sds = np.full(k, max(np.std(x) / k, min_sd))
    weights = np.full(k, 1.0 / k)
    previous = -np.inf
    for _ in range(max_iter):
        joint = weights * _normal_pdf(centres[:, None], means, sds)
        density = np.maximum(joint.sum(axis=1), 1e-300)
        weighted = counts[:, None] * joint / density[:, None]
        mass = weighted.sum(axis=0) + 1e-12
        weights = mass / n
        means = weighted.T @ centres / mass
        variance = (weighted * (centres[:, None] - means) ** 2).sum(axis=0) / mass
        sds = np.sqrt(np.maximum(variance, min_sd**2))
        log_likelihood = float(counts @ np.log(density))
        if log_likelihood - previous < tol * n:
            break
        previous = log_likelihood
    return {"weights": weights.tolist(), "means": means.tolist(), "sds": sds.tolist(),
            "log_likelihood": log_likelihood,
            "bic": float(-2 * log_likelihood + (3 * k - 1) * np.log(n))}


def _control_mixture(x: np.ndarray) -> dict:
    """Mixture of control x with k <= 4 by BIC; names the G1 component and SP bound."""
    fits = [fit_gaussian_mixture_1d(x, k) for k in range(1, MAX_MIXTURE_COMPONENTS + 1)]
    best = min(fits, key=lambda fit: fit["bic"])
    weights, means, sds = (np.asarray(best[key]) for key in ("weights", "means", "sds"))
    candidates = np.flatnonzero(weights >= 0.1)
    g1 = candidates[np.argmin(np.abs(means[candidates]))]
    return {**best, "n_components": len(weights), "bic_by_k": [f["bic"] for f in fits],
            "g1_mean": float(means[g1]), "g1_sd": float(sds[g1]),
            "sp_mean_max": float(means[g1] - 2 * sds[g1])}


def mixture_density(params: dict, x: np.ndarray) -> np.ndarray:
    """Density at ``x`` of a mixture given as ``weights, means, sds`` (mixture gate params)."""
    return sum(w * _normal_pdf(x, m, s)
               for w, m, s in zip(params["weights"], params["means"], params["sds"],
                                  strict=True))


@dataclasses.dataclass
class MixtureWellFit:
    """The SP component fitted to one well under a frozen control mixture.

    Attributes
    ----------
    sp_fraction : float
        Fitted SP weight.
    ci_low, ci_high : float
        Bootstrap percentile CI (NaN without bootstrap).
    bootstrap_sd : float
        SD of the bootstrap weights (NaN without bootstrap).
    sp_mean, sp_sd : float
        The SP component.
    n_cells : int
        Cells fitted.
    control : dict
        The frozen control mixture (gate params).
    """

    sp_fraction: float
    ci_low: float
    ci_high: float
    bootstrap_sd: float
    sp_mean: float
    sp_sd: float
    n_cells: int
    control: dict

    def probability(self, x: np.ndarray) -> np.ndarray:
        """Posterior P(SP) of cells at ``x`` (NaN where ``x`` is NaN)."""
        x = np.asarray(x, float)
        sp = self.sp_fraction * _normal_pdf(x, self.sp_mean, self.sp_sd)
        total = (1 - self.sp_fraction) * mixture_density(self.control, x) + sp
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(np.isfinite(x), np.where(total > 0, sp / total, 1.0), np.nan)


def fit_mixture_well(gate: Gate, x: np.ndarray, *, n_bootstrap: int = 200,
                     rng: np.random.Generator | None = None, confidence: float = 0.95
                     ) -> MixtureWellFit:
    """Fit one extra SP component to a well's x under the gate's frozen control mixture.

    The SP component's mean is held below mu_G1 - 2 sigma_G1 and its SD at least sigma_G1;
    the control components keep their shapes and relative weights. The SP weight's CI is a
    bootstrap percentile interval over cells (multinomial resampling of the binned cells,
    which is resampling cells and binning them again).

    Parameters
    ----------
    gate : Gate
        A mixture gate from :func:`fit_gate`.
    x : array of float
        Finite ``hoechst_x`` of the well's QC-passed cells.
    n_bootstrap : int
        Bootstrap resamples (0: no CI).
    rng : numpy.random.Generator, optional
        Random source of the bootstrap.
    confidence : float
        Level of the CI.

    Returns
    -------
    MixtureWellFit
    """
    x = np.asarray(x, float)
    control = gate.params
    upper, min_sd = control["sp_mean_max"], control["g1_sd"]
    if x.size == 0:
        return MixtureWellFit(np.nan, np.nan, np.nan, np.nan, upper, min_sd, 0, control)
    centres, counts = _histogram(x)
    control_density = mixture_density(control, centres)
    below = x[x < upper]
    start = (max(below.size / x.size, 1e-3),
             below.mean() if below.size >= 3 else upper - 2 * min_sd,
             max(below.std() if below.size >= 3 else 0.0, min_sd))
    fraction, mean, sd = (v[0] for v in _fit_sp_component(
        centres, counts[None], control_density, upper, min_sd, start))
    ci_low = ci_high = bootstrap_sd = np.nan
    if n_bootstrap > 0:
        rng = rng if rng is not None else np.random.default_rng(0)
        resampled = rng.multinomial(x.size, counts / x.size, size=n_bootstrap)
        boot = _fit_sp_component(centres, resampled.astype(float), control_density, upper,
                                 min_sd, (fraction, mean, sd))[0]
        tail = 100 * (1 - confidence) / 2
        ci_low, ci_high = np.percentile(boot, [tail, 100 - tail])
        bootstrap_sd = boot.std(ddof=1)
    return MixtureWellFit(float(fraction), float(ci_low), float(ci_high), float(bootstrap_sd),
                          float(mean), float(sd), int(x.size), control)


def _fit_sp_component(centres, counts, control_density, upper, min_sd, start, *,
                      max_iter=2000, tol=1e-6):
    """EM for (1 - pi) f_control + pi N(mu, sd) on binned cells.

    ``counts`` has one row per sample (bootstrap resamples), one column per bin centre.
    """
    rows, n = counts.shape[0], counts.sum(axis=1)
    fraction, mean, sd = (np.full(rows, float(v)) for v in start)
    for _ in range(max_iter):
        sp = fraction[:, None] * _normal_pdf(centres, mean[:, None], sd[:, None])
        total = (1 - fraction[:, None]) * control_density + sp
        weighted = counts * np.divide(sp, total, out=np.ones_like(sp), where=total > 0)
        mass = weighted.sum(axis=1)
        safe = np.maximum(mass, 1e-12)
        mean = np.minimum(weighted @ centres / safe, upper)
        sd = np.maximum(np.sqrt((weighted * (centres - mean[:, None]) ** 2).sum(axis=1)
                                / safe), min_sd)
        converged = np.max(np.abs(mass / n - fraction)) < tol
        fraction = mass / n
        if converged:
            break
    return fraction, mean, sd


# --- dual emission ---------------------------------------------------------------------


def _dual_emission_params(x: np.ndarray, red_x: np.ndarray, alpha: float) -> dict:
    from statsmodels.robust.covariance import CovDetMCD

    in_window = _in_g1_window(x) & _in_g1_window(red_x)
    g1 = np.column_stack([x[in_window], red_x[in_window]])
    if len(g1) < MIN_REFERENCE_CELLS:
        raise GatingError(f"{len(g1)} control cells in the G1 window; the dual-emission gate "
                          f"needs at least {MIN_REFERENCE_CELLS}")
    fit = CovDetMCD(g1).fit(h=None)
    return {"location": fit.mean.tolist(), "scatter": fit.cov.tolist(),
            "g1_medians": np.median(g1, axis=0).tolist(),
            "chi2_cutoff": float(stats.chi2.ppf(1 - 2 * alpha, df=2)),
            "n_g1_cells": int(len(g1))}


def _dual_emission_calls(params: dict, x: np.ndarray, red_x: np.ndarray) -> np.ndarray:
    offset = np.column_stack([x, red_x]) - np.asarray(params["location"])
    distance2 = np.einsum("ij,jk,ik->i", offset, np.linalg.inv(params["scatter"]), offset)
    median_x, median_red = params["g1_medians"]
    with np.errstate(invalid="ignore"):
        return (distance2 > params["chi2_cutoff"]) & (x < median_x) & (red_x < median_red)


# --------------------------------------------------------------------------------------
# The batch entry point
# --------------------------------------------------------------------------------------


def assign_populations(
    cells: pd.DataFrame,
    method: str = "auto",
    gate: Gate | None = None,
    *,
    alpha: float = 0.01,
    overrides: Mapping[tuple[str, int], str] | None = None,
    group_by: Sequence[str] = DEFAULT_GROUP_BY,
    exclusion_group_by: Sequence[str] = DEFAULT_EXCLUSION_GROUP_BY,
    viability_threshold: float | None = None,
    n_bootstrap: int = 200,
    seed: int = 0,
) -> tuple[pd.DataFrame, list[Gate]]:
    """Exclude, normalise and classify every cell of a batch as SP or MP.

    Parameters
    ----------
    cells : pandas.DataFrame
        Per-cell table of all images with sample-sheet columns. The sheet's ``population``
        (unsorted | SP | MP) is kept as ``sheet_population`` (an existing
        ``sheet_population`` column wins, so re-running on an output table is safe).
    method : str
        ``auto``: sorted images by the sheet; unsorted ones by ``control_quantile``
        (>= 1000 QC-passed control cells in the group) or ``control_robust`` (200-999);
        fewer raises :class:`GatingError`. ``control_quantile``, ``control_robust``,
        ``mixture``, ``dual_emission``: that gate for every cell. ``manual``: ``gate``
        applied unchanged. ``sheet``: the sheet's sorted populations (every image must be
        sorted).
    gate : Gate, optional
        The manual gate (``method="manual"``; a manual gate given with ``auto`` also
        selects ``manual``).
    alpha : float
        Fraction of control cells a control-based gate calls SP.
    overrides : mapping of (image_id, cell_id) to "SP" or "MP", optional
        Per-cell corrections (napari); so does a ``population_override`` column. They
        set ``population_source = "manual"``.
    group_by : sequence of str
        Columns whose groups get their own ``m_ref`` and gates.
    exclusion_group_by : sequence of str
        Columns whose groups get their own exclusion medians.
    viability_threshold : float, optional
        See :func:`flag_exclusions`.
    n_bootstrap : int
        Bootstrap resamples of the mixture's SP weight.
    seed : int
        Seed for the bootstrap and for random cross-fitting halves.

    Returns
    -------
    cells : pandas.DataFrame
        A copy with ``sheet_population, excluded, exclude_reason, hoechst_x``
        (``hoechst_red_x`` with a red channel), ``population`` (SP | MP), ``population_source``
        (gate | sheet | manual), ``sp_probability`` and ``gate_id``.
    gates : list of Gate
        Every gate used (pooled, leave-one-well-out and cross-fitted ones), with the wells
        each one set and classified.

    Raises
    ------
    GatingError
        Too few control cells, a missing gate or channel, or unsorted images with ``sheet``.
    """
    if gate is not None and method == "auto":
        method = "manual"
    if method not in METHODS:
        raise GatingError(f"unknown gating method {method!r}; expected one of "
                          f"{', '.join(METHODS)}")
    if method == "manual" and gate is None:
        raise GatingError("method 'manual' needs a gate: draw one in the napari SP gating "
                          "widget and pass its JSON file (--gate-file)")
    missing = [c for c in ("image_id", "cell_id", "hoechst_integrated") if c not in cells]
    if missing:
        raise GatingError(f"the per-cell table lacks columns {missing}; gating needs "
                          "image_id, cell_id and hoechst_integrated")
    out = cells.copy()
    out["sheet_population"] = _sheet_population(out)
    out = flag_exclusions(out, group_by=exclusion_group_by,
                          viability_threshold=viability_threshold,
                          require_hoechst=method != "sheet")
    table = _Table.from_cells(out)
    rng = np.random.default_rng(seed)
    keys = present(out, group_by)
    groups = (out.groupby(keys, dropna=False, sort=True).indices if keys
              else {(): np.arange(len(out))})
    gates: list[Gate] = []
    for key, rows in groups.items():
        key = key if isinstance(key, tuple) else (key,)
        context = _GroupContext(dict(zip(keys, map(_plain_scalar, key), strict=True)),
                                group_label(key, keys), method, gate, alpha, n_bootstrap, rng)
        gates += _assign_group(table, np.asarray(rows), context)
    table.write(out)
    _apply_overrides(out, overrides)
    return out, gates


def _plain_scalar(value):
    return value.item() if isinstance(value, np.generic) else value


#: Hoechst channels: name -> (integrated column, normalised column).
CHANNELS = {"hoechst": ("hoechst_integrated", "hoechst_x"),
            "hoechst_red": ("hoechst_red_integrated", "hoechst_red_x")}


@dataclasses.dataclass
class _Table:
    """The columns gating reads and writes, as numpy arrays (cheap row subsets)."""

    image: np.ndarray
    well: np.ndarray
    control: np.ndarray
    sheet: np.ndarray
    kept: np.ndarray
    intensity: dict[str, np.ndarray]
    x: dict[str, np.ndarray]
    population: np.ndarray
    source: np.ndarray
    probability: np.ndarray
    gate_id: np.ndarray

    @classmethod
    def from_cells(cls, cells: pd.DataFrame) -> _Table:
        n = len(cells)
        intensity = {name: cells[column].to_numpy(float)
                     for name, (column, _) in CHANNELS.items() if column in cells.columns}
        return cls(image=cells["image_id"].to_numpy(object),
                   well=well_labels(cells).to_numpy(object),
                   control=is_control(cells), sheet=cells["sheet_population"].to_numpy(object),
                   kept=~cells["excluded"].to_numpy(bool), intensity=intensity,
                   x={name: np.full(n, np.nan) for name in intensity},
                   population=np.full(n, None, object), source=np.full(n, None, object),
                   probability=np.full(n, np.nan), gate_id=np.full(n, "", object))

    def write(self, cells: pd.DataFrame) -> None:
        for name, values in self.x.items():
            cells[CHANNELS[name][1]] = values
        cells["population"] = pd.Series(self.population, index=cells.index, dtype=object)
        cells["population_source"] = pd.Series(self.source, index=cells.index, dtype=object)
        cells["sp_probability"] = self.probability
        cells["gate_id"] = pd.Series(self.gate_id, index=cells.index, dtype=object)


@dataclasses.dataclass
class _GroupContext:
    group: dict
    label: str
    method: str
    manual_gate: Gate | None
    alpha: float
    n_bootstrap: int
    rng: np.random.Generator
    log2_reference: dict = dataclasses.field(default_factory=dict)


def _sheet_population(cells: pd.DataFrame) -> pd.Series:
    source = "sheet_population" if "sheet_population" in cells.columns else "population"
    if source not in cells.columns:
        return pd.Series("unsorted", index=cells.index, dtype=object)
    values = cells[source].astype(object).where(cells[source].notna(), "unsorted")
    values = values.replace({"": "unsorted"})
    unknown = sorted(set(values) - {"unsorted", "SP", "MP"})
    if unknown:
        raise GatingError(f"sample-sheet column {source!r} holds {unknown}; expected "
                          "unsorted, SP or MP")
    return values


def _assign_group(table: _Table, rows: np.ndarray, ctx: _GroupContext) -> list[Gate]:
    is_sorted = np.isin(table.sheet[rows], ["SP", "MP"])
    if ctx.method == "sheet" and not is_sorted.all():
        wells = sorted(set(table.well[rows[~is_sorted]]))
        raise GatingError(f"{ctx.label}: method 'sheet' needs the sample sheet's population "
                          f"to be SP or MP for every image; wells {wells[:5]} are unsorted. "
                          "Use --gate auto to gate them on Hoechst")
    _normalise_group(table, rows, ctx)
    by_sheet = ctx.method in ("sheet", "auto")
    gates = [_assign_sheet(table, rows[is_sorted], ctx)] if by_sheet and is_sorted.any() else []
    gated = rows[~is_sorted] if by_sheet else rows
    if gated.size == 0:
        return gates
    if ctx.method == "manual":
        return gates + [_apply_gate(table, gated, _with_context(ctx.manual_gate, ctx, "manual"),
                                    ctx)]
    return gates + _assign_by_controls(table, gated, ctx)


def _reference_rows(table: _Table, rows: np.ndarray, label: str) -> tuple[np.ndarray, str]:
    """Which rows of one group set ``m_ref``, and a word saying which kind they are."""
    kept = rows[table.kept[rows]]
    sheet = table.sheet[kept]
    controls = kept[table.control[kept] & (sheet == "unsorted")]
    if controls.size:
        return controls, "inhibitor-control"
    sorted_mp = kept[sheet == "MP"]
    if sorted_mp.size:
        return sorted_mp, "sorted-MP"
    _warn(None, f"{label}: no inhibitor-control or sorted-MP cells; hoechst_x is normalised "
                "on the G0/G1 peak of all its kept cells")
    return kept, "all"


def _normalise_group(table: _Table, rows: np.ndarray, ctx: _GroupContext) -> None:
    """hoechst_x = log2(I / m_ref) per channel; NaN where I <= 0."""
    reference, kind = _reference_rows(table, rows, ctx.label)
    ctx.log2_reference = {"reference_cells": kind}
    for name, intensity in table.intensity.items():
        with np.errstate(divide="ignore", invalid="ignore"):
            log2_intensity = np.where(intensity[rows] > 0, np.log2(intensity[rows]), np.nan)
            log2_reference = np.log2(intensity[reference])
        try:
            log2_ref = g1_mode_log2(log2_reference)
        except GatingError as error:
            raise GatingError(f"{ctx.label}: cannot normalise {CHANNELS[name][0]}: {error}. "
                              "Add inhibitor-control images for this plate and cell line"
                              ) from error
        table.x[name][rows] = log2_intensity - log2_ref
        ctx.log2_reference[name] = log2_ref


def _with_context(gate: Gate, ctx: _GroupContext, suffix: str) -> Gate:
    return dataclasses.replace(
        gate, group=dict(ctx.group), gate_id=f"{ctx.label}|{suffix}",
        reference_log2_intensity=dict(ctx.log2_reference),
        applies_to=[], well_estimates=[], warnings=list(gate.warnings))


def _assign_sheet(table: _Table, rows: np.ndarray, ctx: _GroupContext) -> Gate:
    table.population[rows] = table.sheet[rows]
    table.source[rows] = "sheet"
    gate = _with_context(Gate("sheet", ctx.alpha), ctx, "sheet")
    table.gate_id[rows] = gate.gate_id
    kept = rows[table.kept[rows]]
    intensity = table.intensity["hoechst"][kept]
    valid = np.isfinite(intensity)
    is_sp = table.sheet[kept] == "SP"
    sp, mp = intensity[valid & is_sp], intensity[valid & ~is_sp]
    auc = (stats.mannwhitneyu(mp, sp).statistic / (mp.size * sp.size)
           if sp.size and mp.size else np.nan)
    gate.params = {"residual_hoechst_auc": float(auc), "n_sp": int(sp.size),
                   "n_mp": int(mp.size)}
    gate.applies_to = gate.reference_wells = sorted(set(table.well[rows]))
    gate.n_reference_cells = int(sp.size + mp.size)
    if not auc >= MIN_SORT_AUC:
        _warn(gate, f"{ctx.label}: sorted SP vs MP residual Hoechst AUC is {auc:.2f} "
                    f"(< {MIN_SORT_AUC}); the sort may have failed or the populations "
                    "were swapped")
    return gate


def _warn(gate: Gate | None, message: str) -> None:
    if gate is not None:
        gate.warnings.append(message)
    warnings.warn(message, GatingWarning, stacklevel=3)


def _control_method(method: str, n_control: int, label: str) -> str:
    """The automatic method for ``n_control`` QC-passed control cells, or GatingError."""
    if n_control < MIN_CONTROL_CELLS:
        raise GatingError(
            f"{label}: {n_control} QC-passed inhibitor-control cells; automatic gating needs "
            f"at least {MIN_CONTROL_CELLS} (control_quantile >= "
            f"{MIN_CONTROL_CELLS_QUANTILE}, control_robust {MIN_CONTROL_CELLS}-"
            f"{MIN_CONTROL_CELLS_QUANTILE - 1}). A manual gate is required: draw one in the "
            "napari SP gating widget and run with --gate manual --gate-file gate.json")
    if method != "auto":
        return method
    return "control_quantile" if n_control >= MIN_CONTROL_CELLS_QUANTILE else "control_robust"


def _assign_by_controls(table: _Table, gated: np.ndarray, ctx: _GroupContext) -> list[Gate]:
    """Pooled controls gate the test wells; each control well is gated without itself."""
    control = table.control[gated]
    pool = control & table.kept[gated] & np.isfinite(table.x["hoechst"][gated])
    method = _control_method(ctx.method, int(pool.sum()), ctx.label)
    if method == "control_quantile" and pool.sum() < MIN_CONTROL_CELLS_QUANTILE:
        _warn(None, f"{ctx.label}: control_quantile with {pool.sum()} control cells; the "
                    f"{ctx.alpha}-quantile is imprecise below {MIN_CONTROL_CELLS_QUANTILE} "
                    "(control_robust is the default there)")
    wells = table.well[gated]
    gates = [_fit_and_apply(table, gated[~control], gated[pool], method, ctx, method)]
    for well in sorted(set(wells[control])):
        in_well = wells == well
        others = pool & ~in_well
        if others.any():
            gates.append(_fit_and_apply(table, gated[in_well], gated[others], method, ctx,
                                        f"{method}|leave-out {well}"))
            continue
        halves = _cross_fit_halves(table.image[gated[in_well]], ctx.rng)
        for half in (0, 1):
            target = gated[in_well][halves == half]
            reference = gated[in_well & pool][halves[pool[in_well]] != half]
            gates.append(_fit_and_apply(table, target, reference, method, ctx,
                                        f"{method}|cross-fit {well} half {half + 1}/2"))
    return [g for g in gates if g is not None]


def _cross_fit_halves(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Half (0 or 1) of each cell of one well: by image when it has two or more images."""
    names = sorted(set(images))
    if len(names) >= 2:
        half_of = {name: i % 2 for i, name in enumerate(names)}
        return np.array([half_of[name] for name in images])
    return rng.permutation(images.size) % 2


def _fit_and_apply(table: _Table, target: np.ndarray, reference: np.ndarray, method: str,
                   ctx: _GroupContext, suffix: str) -> Gate | None:
    if target.size == 0:
        return None
    if method == "dual_emission" and "hoechst_red" not in table.x:
        raise GatingError(f"{ctx.label}: the dual_emission gate needs a hoechst_red channel "
                          "(column hoechst_red_integrated); the table has none")
    if reference.size < MIN_CONTROL_CELLS:
        _warn(None, f"{ctx.label}: the {suffix} gate rests on {reference.size} control cells "
                    f"(< {MIN_CONTROL_CELLS})")
    red = table.x["hoechst_red"][reference] if method == "dual_emission" else None
    fitted = fit_gate(table.x["hoechst"][reference], method, alpha=ctx.alpha, red_x=red)
    gate = _with_context(fitted, ctx, suffix)
    gate.reference_wells = sorted(set(table.well[reference]))
    return _apply_gate(table, target, gate, ctx)


def _apply_gate(table: _Table, target: np.ndarray, gate: Gate, ctx: _GroupContext) -> Gate:
    """Classify the ``target`` rows with ``gate`` and record where it was applied."""
    x = table.x["hoechst"][target]
    red = table.x["hoechst_red"][target] if "hoechst_red" in table.x else None
    if gate.needs_red and red is None:
        raise GatingError(f"{ctx.label}: the {gate.method} gate needs hoechst_red_x; the "
                          "table has no hoechst_red_integrated column")
    if gate.method == "mixture":
        is_sp, probability = _apply_mixture(table, target, gate, ctx)
    else:
        is_sp, probability = gate.classify(x, red)
    classified = np.isfinite(x) & (np.isfinite(red) if gate.needs_red else True)
    table.population[target] = np.where(classified, np.where(is_sp, "SP", "MP"), None)
    table.source[target] = np.where(classified, "gate", None)
    table.probability[target] = probability
    table.gate_id[target] = gate.gate_id
    gate.applies_to = sorted(set(table.well[target]))
    return gate


def _apply_mixture(table: _Table, target: np.ndarray, gate: Gate, ctx: _GroupContext
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Fit each well's SP component on its kept cells; posterior for all of its cells."""
    x = table.x["hoechst"][target]
    fit_on = table.kept[target] & np.isfinite(x)
    wells = table.well[target]
    probability = np.full(target.size, np.nan)
    for well in sorted(set(wells)):
        in_well = wells == well
        fit = fit_mixture_well(gate, x[in_well & fit_on], n_bootstrap=ctx.n_bootstrap,
                               rng=ctx.rng)
        probability[in_well] = fit.probability(x[in_well])
        gate.well_estimates.append({
            "well": well, "n_cells": fit.n_cells, "sp_fraction": fit.sp_fraction,
            "ci_low": fit.ci_low, "ci_high": fit.ci_high, "bootstrap_sd": fit.bootstrap_sd,
            "sp_mean": fit.sp_mean, "sp_sd": fit.sp_sd})
        expected = fit.sp_fraction * fit.n_cells
        if not expected >= MIN_EXPECTED_SP_CELLS:
            _warn(gate, f"{ctx.label}, well {well}: about {expected:.0f} SP cells expected "
                        f"(< {MIN_EXPECTED_SP_CELLS}); the mixture SP fraction is unreliable")
    return probability > 0.5, probability


def _apply_overrides(out: pd.DataFrame, overrides) -> None:
    override = pd.Series(pd.NA, index=out.index, dtype=object)
    if "population_override" in out.columns:
        column = out["population_override"].astype(object)
        override = column.where(column.notna() & (column != ""), pd.NA)
    if overrides:
        keys = pd.MultiIndex.from_arrays([out["image_id"].astype(str),
                                          out["cell_id"].astype(int)])
        mapping = {(str(image), int(cell)): value for (image, cell), value in overrides.items()}
        mapped = pd.Series([mapping.get(key, pd.NA) for key in keys], index=out.index,
                           dtype=object)
        override = mapped.where(mapped.notna(), override)
    given = override.notna()
    bad = sorted(set(override[given]) - {"SP", "MP"})
    if bad:
        raise GatingError(f"manual population overrides must be SP or MP; found {bad}")
    out.loc[given, "population"] = override[given]
    out.loc[given, "population_source"] = "manual"
