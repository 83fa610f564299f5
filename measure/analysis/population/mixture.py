"""The mixture gate: a 1-D Gaussian mixture of control and test wells."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np

from spmito.measure.analysis.population.common import MAX_MIXTURE_COMPONENTS

if TYPE_CHECKING:  # gate.py imports this module to classify
    from spmito.measure.analysis.population.gate import Gate

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


def control_mixture(x: np.ndarray) -> dict:
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
