"""Shared helpers of the mitochondria accuracy scripts: per-cell errors against synthetic truth.

Counts and sizes are measured inside the TRUE cell and nucleus masks (segmentation of cells is
not under test here), with the same calls the pipeline makes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from imaging.synthetic import SynthParams, make_field
from measure.cells import measure_cells
from segment.mito import MitoParams, segment_mitochondria

#: The global-Otsu + connected-components baseline.
BASELINE = MitoParams(method="otsu")

#: Lateral and axial FWHM (µm) of the synthetic PSF for mitochondria (NA 1.3, 600 nm).
SYNTH_FWHM_UM = {"lateral": 2.355 * 0.21 * 0.6 / 1.3, "axial": 2.355 * 0.66 * 0.6 * 1.518 / 1.69}


def synthetic_fields(ndim: int, n_fields: int, seed: int, **overrides):
    """Synthetic fields ``SeedSequence([seed, i])``, i < n_fields."""
    params = SynthParams.for_ndim(ndim, **overrides)
    for index in range(n_fields):
        yield make_field(params, np.random.SeedSequence([seed, index]))


def per_cell_errors(field, params: MitoParams) -> pd.DataFrame:
    """One row per true cell: true and measured count and total size."""
    spacing = field.params.spacing_um
    mito = field.channel("mito")
    labels = segment_mitochondria(mito, spacing, params, mask=field.cells > 0)
    table = measure_cells(field.cells, field.nuclei, labels, spacing,
                          hoechst_img=field.channel("hoechst"), mito_img=mito)
    size = "mito_area_um2" if field.params.ndim == 2 else "mito_volume_um3"
    merged = table.merge(field.truth, on="cell_id", suffixes=("", "_true"))
    return pd.DataFrame({
        "cell_id": merged["cell_id"],
        "count_true": merged["mito_count_true"],
        "count": merged["mito_count"],
        "size_true": merged["mito_size"],
        "size": merged[size],
    })


def summarise(errors: pd.DataFrame) -> dict:
    """Acceptance figures of a set of cells."""
    relative = errors["count"] / errors["count_true"] - 1
    return {
        "cells": len(errors),
        "within_15_percent": float((relative.abs() <= 0.15).mean()),
        "count_mape": float(relative.abs().median()),
        "count_bias": float(relative.median()),
        "size_ratio": float((errors["size"] / errors["size_true"]).median()),
    }
