"""Segmentation by the synthetic truth, for plugin tests that test the plugin, not Cellpose.

:func:`patch_pipeline` makes :func:`spmito.imaging.pipeline.segment_stack` return the truth labels
of the synthetic field a stack shows; everything else (measurement, re-measurement, the
batch) is the real code. Cellpose runs in the Segment & measure test that compares the
widget with the batch.
"""

from __future__ import annotations

import numpy as np

from spmito.imaging.synthetic import SyntheticField


def truth_segment_stack(*fields: SyntheticField):
    """A ``segment_stack`` replacement returning the truth of the field a stack shows."""

    def segment_stack(stack, params, cells_mask=None, progress=None):
        report = progress or (lambda step, fraction: None)
        hoechst = stack.channel("hoechst", validate=False)
        matches = [f for f in fields if f.cells.shape == hoechst.shape
                   and np.array_equal(f.channel("hoechst"), hoechst)]
        assert matches, "the stack is none of the synthetic test fields"
        field = matches[0]
        report("cells", 0.0)
        cells = field.cells.copy() if cells_mask is None else cells_mask
        report("nuclei", 0.3)
        report("mitochondria", 0.55)
        return cells, field.nuclei.copy(), field.mito.copy(), {"backend": "truth (test)"}

    return segment_stack


def patch_pipeline(monkeypatch, *fields: SyntheticField) -> None:
    """Make :mod:`spmito.imaging.pipeline` segment ``fields`` with their truth (no model needed)."""
    import spmito.imaging.batch
    import spmito.imaging.pipeline

    monkeypatch.setattr(spmito.imaging.pipeline, "segment_stack", truth_segment_stack(*fields))
    monkeypatch.setattr(spmito.imaging.batch, "check_models", lambda params: None)
