"""Running the batch's per-image analysis from napari, with progress and cancel (no Qt).

The Segment & measure widget runs :func:`analyse` in a thread worker; it calls
:func:`imaging.pipeline.analyse_stack`, the function the batch calls, so the labels and
tables equal the headless ones for the same stack and parameters.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from imaging.params import RunParams
from imaging.pipeline import analyse_stack
from imaging.stack import Stack
from plugins.review import ReviewSession


class AnalysisCancelled(Exception):  # noqa: N818 - a request, not an error
    """The user cancelled the analysis (raised at the next progress report)."""


def analyse(stack: Stack, params: RunParams, *, image_id: str,
            cells_mask: np.ndarray | None = None,
            progress: Callable[[str, float], None] | None = None,
            cancelled: Callable[[], bool] = lambda: False) -> ReviewSession:
    """Segment and measure a stack; return a review session of the result.

    Parameters
    ----------
    stack : Stack
        The image (built from the chosen layers, or read from a file).
    params : RunParams
        The analysis parameters (the widget's form).
    image_id : str
        The id the image will have in an output folder.
    cells_mask : ndarray, optional
        A cell label image to use instead of segmenting cells.
    progress : callable, optional
        ``progress(step, fraction)``, called from the worker thread.
    cancelled : callable
        Polled at each progress report; when it returns True the analysis stops.

    Raises
    ------
    AnalysisCancelled
        When ``cancelled()`` became true.
    """
    def report(step: str, fraction: float) -> None:
        if cancelled():
            raise AnalysisCancelled(f"{image_id}: cancelled during {step}")
        if progress is not None:
            progress(step, fraction)

    result = analyse_stack(stack, params, cells_mask=cells_mask, progress=report)
    return ReviewSession(image_id, stack, result, params)
