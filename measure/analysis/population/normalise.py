"""Hoechst normalisation: the G0/G1 mode of log2 integrated Hoechst."""

from __future__ import annotations

import numpy as np
from scipy import ndimage, signal

from spmito.measure.analysis.population.common import MIN_REFERENCE_CELLS, GatingError


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
