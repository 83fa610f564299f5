"""The Qt widgets of the spmito napari plugin: every Qt import of spmito lives here.

Widgets hold no logic of their own beyond layout and wiring: they call
:mod:`spmito.plugins.analysis`, :mod:`spmito.plugins.review` and :mod:`spmito.plugins.gating`.
"""
