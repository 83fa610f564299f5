"""Simulated per-cell tables with known SP/MP labels, for tests and method checks.

The tables carry the columns of ``cells.csv`` (contract.md) that gating and statistics read,
the sample-sheet columns, and ground truth:

``true_population``
    The efflux phenotype: ``"SP"`` when the cell pumps Hoechst out in this well. Inhibitor
    blocks efflux, so every cell of an inhibitor-control well is ``"MP"`` here, even the
    biological SP cells it holds.
``true_sp_fraction``
    The probability with which a cell of this well was drawn with the SP phenotype
    (0 in inhibitor-control wells): the estimand of SP % and, as a difference, of ΔSP %.
``true_exclusion``
    The artefact a cell was made as (one exclusion code of domain.md §2), ``""`` for a
    clean cell.

DNA content follows a cycling population: G0/G1 (content 1), S (uniform 1-2), G2/M (2),
with multiplicative log-normal staining noise; SP cells are ``sp_dimming`` times dimmer in
blue and red emission; each plate has its own brightness, so normalisation matters.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

#: Cell-cycle phase fractions (G0/G1, S, G2/M) of a cycling myeloma line.
PHASE_FRACTIONS = (0.60, 0.15, 0.25)
#: Standard deviation of log2 staining noise per cell (about 6 % CV).
STAIN_NOISE_LOG2 = 0.085
#: Channel-specific detection noise (log2) on top of the shared staining noise.
DETECTION_NOISE_LOG2 = 0.03
#: Pixel area in µm² (2-D) or voxel volume in µm³ (3-D), to turn sums into means.
PIXEL_SIZE = {2: 0.01, 3: 0.0043}
ARTEFACT_CODES = ("dead", "pyknotic", "doublet", "no_nucleus", "border", "saturated")


def simulate_cells(
    *,
    n_replicates: int = 3,
    test_wells_per_replicate: int = 1,
    control_wells_per_replicate: int = 1,
    cells_per_well: int = 1500,
    fields_per_well: int = 1,
    sp_fraction: float | tuple[float, float] = (0.02, 0.05),
    sp_dimming: float = 3.0,
    sp_mito_ratio: float = 1.0,
    replicate_sd_log: float = 0.15,
    design: str = "gated",
    ndim: int = 2,
    dual_emission: bool = False,
    artefact_fraction: float = 0.0,
    cell_line: str = "RPMI-8226",
    seed: int = 0,
) -> pd.DataFrame:
    """Simulate the per-cell table of one batch with known SP/MP labels.

    Each biological replicate sits on its own plate (one imaging session), holding
    ``test_wells_per_replicate`` test wells and ``control_wells_per_replicate``
    inhibitor-control wells (``design="gated"``), or one sorted-SP and one sorted-MP well
    (``design="sorted"``).

    Parameters
    ----------
    n_replicates : int
        Biological replicates (= plates).
    test_wells_per_replicate, control_wells_per_replicate : int
        Wells per replicate in the gated design.
    cells_per_well : int
        Cells per well, split evenly over ``fields_per_well`` images.
    fields_per_well : int
        Images (fields) per well.
    sp_fraction : float or (float, float)
        SP fraction of test wells, or the range of a uniform draw per well.
    sp_dimming : float
        How many times dimmer SP cells are in Hoechst (blue and red emission).
    sp_mito_ratio : float
        Ratio of mean mitochondrial size per cell, SP over MP (1 = no difference).
    replicate_sd_log : float
        Standard deviation (natural log) of the replicate effect on mitochondrial endpoints.
    design : {"gated", "sorted"}
        Unsorted wells gated on Hoechst, or flow-sorted SP and MP wells.
    ndim : {2, 3}
        2 gives ``_area_um2`` columns, 3 gives ``_volume_um3`` columns and ``z_clipped``.
    dual_emission : bool
        Add ``hoechst_red_integrated`` (Hoechst red emission).
    artefact_fraction : float
        Fraction of cells made as artefacts (dead, pyknotic, doublet, no nucleus, border,
        saturated; equal shares), recorded in ``true_exclusion``.
    cell_line : str
        Value of the ``cell_line`` column.
    seed : int
        Seed of the random generator; the same arguments give the same table.

    Returns
    -------
    pandas.DataFrame
        One row per cell.
    """
    if design not in ("gated", "sorted"):
        raise ValueError(f"design must be 'gated' or 'sorted', got {design!r}")
    if ndim not in (2, 3):
        raise ValueError(f"ndim must be 2 or 3, got {ndim!r}")
    rng = np.random.default_rng(seed)
    wells = _well_layout(n_replicates, test_wells_per_replicate, control_wells_per_replicate,
                         design, sp_fraction, rng)
    cells = wells.loc[wells.index.repeat(cells_per_well)].reset_index(drop=True)
    cells["field"] = np.tile(np.arange(cells_per_well) % fields_per_well + 1, len(wells))
    cells["image_id"] = (cells["plate"] + "_" + cells["well"] + "_f"
                         + cells["field"].astype(str))
    cells["cell_id"] = cells.groupby("image_id").cumcount() + 1
    cells["cell_line"] = cell_line

    is_sp = rng.random(len(cells)) < cells["true_sp_fraction"].to_numpy()
    cells["true_population"] = np.where(is_sp, "SP", "MP")
    _add_hoechst(cells, is_sp, sp_dimming, ndim, dual_emission, rng)
    _add_mitochondria(cells, is_sp, sp_mito_ratio, replicate_sd_log, ndim, rng)
    _add_artefacts(cells, artefact_fraction, ndim, rng)
    return cells.drop(columns=["plate_brightness"])


def _well_layout(n_replicates, n_test, n_control, design, sp_fraction, rng) -> pd.DataFrame:
    rows = []
    for r in range(1, n_replicates + 1):
        plate = f"P{r}"
        brightness = 2.0e5 * 2.0 ** rng.uniform(-1, 1)
        if design == "sorted":
            kinds = [("test", "SP", 1.0), ("test", "MP", 0.0)]
        else:
            kinds = ([("inhibitor_control", "unsorted", 0.0)] * n_control
                     + [("test", "unsorted", None)] * n_test)
        for i, (role, population, fraction) in enumerate(kinds):
            if fraction is None:
                low, high = np.broadcast_to(np.asarray(sp_fraction, float), (2,))
                fraction = rng.uniform(low, high)
            rows.append({
                "plate": plate, "well": f"{'ABCDEFGH'[i // 12]}{i % 12 + 1:02d}",
                "replicate": r, "condition": "baseline", "role": role,
                "population": population,
                "inhibitor": "Ko143" if role == "inhibitor_control" else "",
                "true_sp_fraction": fraction,
                "plate_brightness": brightness,
            })
    return pd.DataFrame(rows)


def _add_hoechst(cells, is_sp, sp_dimming, ndim, dual_emission, rng) -> None:
    n = len(cells)
    phase = rng.choice(3, size=n, p=PHASE_FRACTIONS)
    dna = np.choose(phase, [np.ones(n), rng.uniform(1, 2, n), np.full(n, 2.0)])
    stain = rng.normal(0, STAIN_NOISE_LOG2, n)
    dimming = np.where(is_sp, sp_dimming, 1.0)
    brightness = cells["plate_brightness"].to_numpy() * dna / dimming * 2.0 ** stain
    cells["hoechst_integrated"] = brightness * 2.0 ** rng.normal(0, DETECTION_NOISE_LOG2, n)
    if dual_emission:
        cells["hoechst_red_integrated"] = (0.3 * brightness
                                           * 2.0 ** rng.normal(0, DETECTION_NOISE_LOG2, n))
    size_name = "area_um2" if ndim == 2 else "volume_um3"
    nucleus_g1 = 80.0 if ndim == 2 else 400.0
    nucleus = nucleus_g1 * dna ** (2 / 3 if ndim == 2 else 1.0) * rng.lognormal(0, 0.12, n)
    cells["n_nuclei"] = 1
    cells[f"nucleus_{size_name}"] = nucleus
    cells[f"cell_{size_name}"] = nucleus * rng.lognormal(np.log(2.5), 0.1, n)
    cells["cell_solidity"] = np.clip(rng.normal(0.96, 0.015, n), 0.85, 1.0)
    cells["hoechst_mean"] = cells["hoechst_integrated"] / (nucleus / PIXEL_SIZE[ndim])
    cells["viability_mean"] = rng.lognormal(np.log(40), 0.3, n)
    cells["touches_border"] = False
    cells["saturated"] = False
    if ndim == 3:
        cells["z_clipped"] = False


def _add_mitochondria(cells, is_sp, sp_mito_ratio, replicate_sd_log, ndim, rng) -> None:
    n = len(cells)
    replicates = cells["replicate"].to_numpy()
    levels = np.unique(replicates)
    effect = dict(zip(levels, rng.normal(0, replicate_sd_log, len(levels)), strict=True))
    replicate_effect = np.exp(np.array([effect[r] for r in replicates]))
    size_name = "area_um2" if ndim == 2 else "volume_um3"
    base = 20.0 if ndim == 2 else 40.0
    mean_object = 0.6 if ndim == 2 else 0.4
    total = (base * replicate_effect * np.where(is_sp, sp_mito_ratio, 1.0)
             * rng.lognormal(-0.5 * 0.4**2, 0.4, n))
    count = 1 + rng.poisson(total / mean_object)
    junctions = rng.poisson(0.3 * count)
    networks = rng.binomial(count, 0.2)
    cells["mito_count"] = count
    cells[f"mito_{size_name}"] = total
    cells["mito_fraction"] = total / cells[f"cell_{size_name}"]
    cells["mito_mean_size"] = total / count
    cells["fragmentation_index"] = count / total
    cells["mito_skeleton_length_um"] = total / 0.25 * rng.lognormal(0, 0.1, n)
    cells["mito_branches"] = count + 2 * junctions
    cells["mito_junctions"] = junctions
    cells["mito_endpoints"] = count + junctions
    cells["mito_networks"] = networks
    cells["mito_individuals"] = count - networks
    cells["mito_intensity_integrated"] = total * 500.0 * rng.lognormal(0, 0.2, n)
    cells["mito_intensity_mean"] = (cells["mito_intensity_integrated"]
                                    / (total / PIXEL_SIZE[ndim]))


def _add_artefacts(cells, fraction, ndim, rng) -> None:
    cells["true_exclusion"] = ""
    if fraction <= 0:
        return
    chosen = np.flatnonzero(rng.random(len(cells)) < fraction)
    codes = np.asarray(ARTEFACT_CODES)[rng.integers(len(ARTEFACT_CODES), size=chosen.size)]
    size_name = "area_um2" if ndim == 2 else "volume_um3"
    for code in ARTEFACT_CODES:
        rows = cells.index[chosen[codes == code]]
        cells.loc[rows, "true_exclusion"] = code
        _make_artefact(cells, rows, code, size_name)


def _make_artefact(cells: pd.DataFrame, rows: Sequence, code: str, size_name: str) -> None:
    if code == "dead":
        cells.loc[rows, "viability_mean"] *= 50.0
    elif code == "pyknotic":
        cells.loc[rows, f"nucleus_{size_name}"] *= 0.3
        cells.loc[rows, "hoechst_mean"] /= 0.3
    elif code == "doublet":
        cells.loc[rows, "n_nuclei"] = 2
        cells.loc[rows, f"cell_{size_name}"] *= 2.0
        cells.loc[rows, "hoechst_integrated"] *= 2.0
    elif code == "no_nucleus":
        cells.loc[rows, "n_nuclei"] = 0
        cells.loc[rows, ["hoechst_integrated", "hoechst_mean", f"nucleus_{size_name}"]] = np.nan
    elif code == "border":
        cells.loc[rows, "touches_border"] = True
    elif code == "saturated":
        cells.loc[rows, "saturated"] = True
