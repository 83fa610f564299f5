"""Running the batch's per-image analysis from napari, with progress and cancel (no Qt).

The Segment & measure widget runs :func:`analyse` in a thread worker; it calls
:func:`spmito.imaging.pipeline.analyse_stack`, the function the batch calls, so the labels and
tables equal the headless ones for the same stack and parameters.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np

from spmito.imaging.errors import SpmitoInputError
from spmito.imaging.params import RunParams
from spmito.imaging.pipeline import analyse_stack
from spmito.imaging.qc import SIZE_FACTOR
from spmito.imaging.stack import Stack
from spmito.plugins.review import ReviewSession


class AnalysisCancelled(Exception):  # noqa: N818 - a request, not an error
    """The user cancelled the analysis (raised at the next progress report)."""


def analyse(stack: Stack, params: RunParams, *, image_id: str,
            given_cells: np.ndarray | None = None,
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
    given_cells : ndarray, optional
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

    result = analyse_stack(stack, params, given_cells=given_cells, progress=report)
    return ReviewSession(image_id, stack, result, params)


def parse_pixel_size(text: str, ndim: int) -> tuple[float, ...]:
    """The voxel size typed in the widget, in µm: ``(y, x)`` or ``(z, y, x)``.

    Accepts a decimal point or a decimal comma: ``"0.65"`` and ``"0,65"`` are one pixel
    size (y = x); ``"0.3, 0.65, 0.65"`` and ``"0,3; 0,65; 0,65"`` give z, y, x. A comma
    separates values only when the text has a decimal point; otherwise values are
    separated by ``;``, spaces or ``x``.

    Parameters
    ----------
    text : str
        What the user typed.
    ndim : int
        2 or 3: the image's spatial dimensions.

    Raises
    ------
    SpmitoInputError
        When the text is not 1 to ``ndim`` positive numbers (a 3-D image needs its z step).
    """
    fix = "Type the pixel size in µm, e.g. 0.65 or 0,65" + (
        "; for a 3-D stack also the z step first, e.g. 0,3; 0,65" if ndim == 3 else "")
    separators = r"[;\sx×,]+" if "." in text else r"[;\sx×]+"
    parts = [p.replace(",", ".") for p in re.split(separators, text.strip()) if p]
    try:
        sizes = tuple(float(p) for p in parts)
    except ValueError:
        raise SpmitoInputError(None, f"cannot read the pixel size {text!r}", fix) from None
    if len(sizes) == 1 and ndim == 2:
        sizes = sizes * 2
    elif len(sizes) == 2 and ndim == 3:
        sizes = (sizes[0], sizes[1], sizes[1])
    if len(sizes) != ndim or not all(np.isfinite(s) and s > 0 for s in sizes):
        raise SpmitoInputError(None, f"the pixel size {text!r} is not {ndim - 1} positive "
                               f"number(s) for this {ndim}-D image", fix)
    return sizes


def result_warnings(session: ReviewSession) -> list[str]:
    """Plain-words warnings about a fresh result that would otherwise fail quietly.

    Few cells for the image's area, or cells far larger or smaller than the cell diameter
    the analysis assumed, mean the diameter (or the pixel size) is off.
    """
    params, table = session.params, session.result.cell_table
    diameter = params.cell_diameter_um
    size_column = "cell_area_um2" if "cell_area_um2" in table else "cell_volume_um3"
    warnings = []
    if len(table) <= 2:
        warnings.append(f"Only {len(table)} cell(s) found. Is the cell diameter "
                        f"({diameter:g} µm) near your cells' size? Measure one with napari's "
                        "ruler and try again; check the pixel size too")
    elif size_column == "cell_area_um2":
        found_um = float(np.median(2 * np.sqrt(table[size_column] / np.pi)))
        if not 1 / SIZE_FACTOR <= found_um / diameter <= SIZE_FACTOR:
            warnings.append(f"The cells found are about {found_um:.0f} µm across, the cell "
                            f"diameter given is {diameter:g} µm: set it near their size and "
                            "run again")
    warnings.append("SP/MP is called by a gate on inhibitor-control cells: open SP gating, "
                    "choose the control images (for a single image, choose it as control "
                    "too) and click 'Normalise on controls'")
    return warnings
