"""The napari plugin of spmito: manifest, widgets, reader, writer, sample data.

Holds no science: every widget calls the functions the batch calls.

Layout (as napari-animation): logic without Qt in this package (:mod:`spmito.plugins.review`,
:mod:`spmito.plugins.gating`, :mod:`spmito.plugins.analysis`, :mod:`spmito.plugins.layers`,
the reader, writer
and sample data), every Qt widget in :mod:`spmito.plugins._qt`.

How a reviewer uses it
    Open an output folder (``napari DIR``: its first test image, with the Measurements
    widget's image picker for the others, opened side by side), one of its images
    (``DIR/images/<image_id>``) or a TIFF, or run *Segment & measure* on open channel
    layers. Cells are coloured by class from the start; the marks layer outlines the
    selected (green) and deleted (red) cells. In *Review cells*, click cells to select
    them, or to flip SP/MP or exclude/include them (the click action is chosen in the
    widget); merge (Shift+M), split along a drawn cut line or at seed
    points (Shift+S), delete (Shift+D), paint a new cell with the next free id (Shift+N),
    flip (Shift+T) or exclude (Shift+E) the selected cells; Ctrl+Z / Ctrl+Shift+Z undo and
    redo. Each action re-measures only the changed cells and a label edit ends the
    selection. *SP gating* opens on the batch's gate (``gating.json``) and sets the manual
    gate on the ``hoechst_x`` histograms of test and control images; *Measurements* lists
    the cells (sort, filter, export; a row centres its cell, a click selects its row) and
    the ``qc.csv`` warnings. "Save" writes the corrections into the output folder
    (:mod:`spmito.imaging.corrections`), where ``spmito report DIR`` applies them.
"""
