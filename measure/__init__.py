"""Label images and arrays in, tables out: per-cell features, SP/MP gating, statistics, figures.

Never imports :mod:`imaging` or :mod:`plugins`.
"""
