"""The dual-emission gate: robust (MCD) distance in blue/red Hoechst."""

from __future__ import annotations

import numpy as np
from scipy import stats

from spmito.measure.analysis.population.common import MIN_REFERENCE_CELLS, GatingError, in_g1_window


def dual_emission_params(x: np.ndarray, red_x: np.ndarray, alpha: float) -> dict:
    """MCD location and scatter of control cells in the blue/red G1 window; chi2 cut-off."""
    from statsmodels.robust.covariance import CovDetMCD

    in_window = in_g1_window(x) & in_g1_window(red_x)
    g1 = np.column_stack([x[in_window], red_x[in_window]])
    if len(g1) < MIN_REFERENCE_CELLS:
        raise GatingError(f"{len(g1)} control cells in the G1 window; the dual-emission gate "
                          f"needs at least {MIN_REFERENCE_CELLS}")
    fit = CovDetMCD(g1).fit(h=None)
    return {"location": fit.mean.tolist(), "scatter": fit.cov.tolist(),
            "g1_medians": np.median(g1, axis=0).tolist(),
            "chi2_cutoff": float(stats.chi2.ppf(1 - 2 * alpha, df=2)),
            "n_g1_cells": int(len(g1))}


def dual_emission_calls(params: dict, x: np.ndarray, red_x: np.ndarray) -> np.ndarray:
    """SP calls: outside the MCD ellipse and below the G1 medians in both channels."""
    offset = np.column_stack([x, red_x]) - np.asarray(params["location"])
    distance2 = np.einsum("ij,jk,ik->i", offset, np.linalg.inv(params["scatter"]), offset)
    median_x, median_red = params["g1_medians"]
    with np.errstate(invalid="ignore"):
        return (distance2 > params["chi2_cutoff"]) & (x < median_x) & (red_x < median_red)
