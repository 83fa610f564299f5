"""Arrays in, label images out: cells and nuclei (Cellpose), mitochondria.

Never imports :mod:`imaging` or :mod:`plugins`; Cellpose/torch are imported lazily.
"""
