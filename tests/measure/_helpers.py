"""Helpers shared by the measure tests."""

from __future__ import annotations

import warnings

from spmito.measure.analysis.population import assign_populations


def assign_quietly(cells, **kwargs):
    """assign_populations with its reviewer warnings silenced (tests check them elsewhere)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return assign_populations(cells, **kwargs)
