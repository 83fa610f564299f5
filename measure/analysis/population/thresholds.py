"""Fitting a gate on control cells: quantile and robust thresholds."""

from __future__ import annotations

import numpy as np
from scipy import stats

from spmito.measure.analysis.population.common import G1_WINDOW, GatingError, in_g1_window
from spmito.measure.analysis.population.dual_emission import dual_emission_params
from spmito.measure.analysis.population.gate import Gate
from spmito.measure.analysis.population.mixture import control_mixture


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
        gate = Gate(method, alpha, params=control_mixture(x))
    elif method == "dual_emission":
        if red_x is None:
            raise GatingError("the dual_emission gate needs hoechst_red_x (a hoechst_red "
                              "channel); none was given")
        gate = Gate(method, alpha, params=dual_emission_params(
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



def robust_threshold(x: np.ndarray, alpha: float) -> float:
    """Threshold median - z(1 - alpha) * 1.4826 MAD over the G1 window -0.6 < x < 0.35."""
    x = np.asarray(x, float)
    window = x[in_g1_window(x)]
    if window.size == 0:
        raise GatingError(f"no control cells in the G1 window {G1_WINDOW} of hoechst_x")
    spread = stats.median_abs_deviation(window, scale="normal")
    return float(np.median(window) - stats.norm.ppf(1 - alpha) * spread)
