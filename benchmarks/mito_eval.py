"""Shared helpers of the mitochondria accuracy scripts: per-cell errors against synthetic truth.

Counts and sizes are measured inside the TRUE cell and nucleus masks (cell segmentation is not
under test here), counted as ``spmito.measure.objects.cells.measure_cells`` counts them
(:func:`spmito.measure.objects.mito.count_per_cell`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from spmito.imaging.synthetic import SynthParams, make_field
from spmito.measure.objects.mito import count_per_cell
from spmito.segment.mito import MitoParams, segment_mitochondria

#: The global-Otsu + connected-components baseline.
BASELINE = MitoParams(method="otsu")

#: FWHM (µm) of the synthetic widefield PSF of the mito channel (NA 1.3, 600 nm, oil).
SYNTH_FWHM_UM = {"lateral": 2.355 * 0.21 * 0.6 / 1.3,
                 "axial": 2.355 * 0.66 * 0.6 * 1.518 / 1.3**2}


def synthetic_fields(ndim: int, n_fields: int, seed: int, **overrides):
    """Synthetic fields seeded ``SeedSequence([seed, i])`` for i < n_fields."""
    params = SynthParams.for_ndim(ndim, **overrides)
    for index in range(n_fields):
        yield make_field(params, np.random.SeedSequence([seed, index]))


def per_cell_errors(field, params: MitoParams) -> pd.DataFrame:
    """One row per true cell: true and measured count and total size."""
    voxel_size_um = field.params.voxel_size_um
    labels = segment_mitochondria(field.channel("mito"), voxel_size_um, params,
                                  mask=field.cells > 0)
    counted = count_per_cell(labels, field.cells, field.nuclei, voxel_size_um)
    size = "mito_area_um2" if field.params.ndim == 2 else "mito_volume_um3"
    merged = counted.merge(field.truth, on="cell_id", suffixes=("", "_true"))
    return pd.DataFrame({"count_true": merged["mito_count_true"], "count": merged["mito_count"],
                         "size_true": merged["mito_size"], "size": merged[size]})


def axial_over_lateral_thickness(mask: np.ndarray, voxel_size_um) -> float:
    """Mean chord of ``mask`` along z over the mean of its chords along y and x.

    A chord is the run of object voxels crossed by a line of voxels along one axis (µm). Round
    tubules in every direction give about 1; the axial blur raises it.
    """
    def mean_chord_um(axis: int) -> float:
        crossed = mask.sum(axis=axis)
        return float(crossed[crossed > 0].mean()) * float(voxel_size_um[axis])

    return mean_chord_um(0) / ((mean_chord_um(1) + mean_chord_um(2)) / 2)


def summarise(errors: pd.DataFrame) -> dict:
    """The acceptance figures of a set of cells."""
    relative = errors["count"] / errors["count_true"] - 1
    return {
        "cells": len(errors),
        "within_15": float((relative.abs() <= 0.15).mean()),
        "mape": float(relative.abs().median()),
        "bias": float(relative.median()),
        "size_ratio": float((errors["size"] / errors["size_true"]).median()),
    }


def meets_acceptance(summary: dict, size_tolerance: float | None = 0.2) -> bool:
    """≥ 85 % of cells within ±15 %, median absolute error ≤ 10 % (and median size ±20 %)."""
    counts_ok = summary["within_15"] >= 0.85 and summary["mape"] <= 0.10
    if size_tolerance is None:
        return counts_ok
    return counts_ok and abs(summary["size_ratio"] - 1) <= size_tolerance
