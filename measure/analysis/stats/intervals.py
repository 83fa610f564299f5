"""Confidence intervals of proportions: Wilson, and Newcombe's for a difference."""

from __future__ import annotations

import numpy as np
from statsmodels.stats.proportion import proportion_confint


def wilson_interval(successes, trials, confidence: float = 0.95
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a proportion (NaN where ``trials`` is 0).

    Parameters
    ----------
    successes, trials : int or array of int
        Counts.
    confidence : float
        Confidence level.

    Returns
    -------
    low, high : array of float
        Limits as proportions.
    """
    successes = np.asarray(successes, float)
    trials = np.asarray(trials, float)
    safe = np.where(trials > 0, trials, 1.0)
    low, high = proportion_confint(successes, safe, alpha=1 - confidence, method="wilson")
    empty = trials <= 0
    return np.where(empty, np.nan, low), np.where(empty, np.nan, high)


def difference_interval(p1, low1, high1, p2, low2, high2) -> tuple[np.ndarray, np.ndarray]:
    """CI of p1 - p2 from CIs of two independent proportions (MOVER, Newcombe's method).

    With Wilson intervals as inputs this is Newcombe's hybrid score interval (method 10 of
    Newcombe 1998, Stat Med 17:873-890); with bootstrap intervals (mixture gate) it is the
    same square-and-add recovery of variance estimates.

    Returns
    -------
    low, high : array of float
    """
    p1, low1, high1, p2, low2, high2 = (np.asarray(v, float)
                                        for v in (p1, low1, high1, p2, low2, high2))
    difference = p1 - p2
    low = difference - np.sqrt((p1 - low1) ** 2 + (high2 - p2) ** 2)
    high = difference + np.sqrt((high1 - p1) ** 2 + (p2 - low2) ** 2)
    return low, high


def newcombe_interval(successes1, trials1, successes2, trials2, confidence: float = 0.95
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Difference of two independent proportions with Newcombe's hybrid score CI.

    Returns
    -------
    difference, low, high : array of float
        As proportions.
    """
    p1 = np.asarray(successes1, float) / np.asarray(trials1, float)
    p2 = np.asarray(successes2, float) / np.asarray(trials2, float)
    low, high = difference_interval(p1, *wilson_interval(successes1, trials1, confidence),
                                    p2, *wilson_interval(successes2, trials2, confidence))
    return p1 - p2, low, high
