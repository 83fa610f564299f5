"""Label images and arrays in, tables out: per-cell and per-mitochondrion features,
SP/MP gating, statistics and figures.

Never imports :mod:`imaging` or :mod:`plugins`.
"""
