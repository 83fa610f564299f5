"""Cell segmentation: a cell-stain image (and optionally a nuclear stain) to cell labels.

Arrays and a voxel size in µm go in; a label image on the same grid comes out, with the
provenance the batch records in ``run.json``. Cellpose and torch are imported on first use.
"""

from __future__ import annotations

import numpy as np

from spmito.segment.backends import Segmentation, get_backend, segment_objects


def segment_cells(cell_img: np.ndarray, nuclear_img: np.ndarray | None,
                  voxel_size_um: tuple[float, ...], diameter_um: float = 12.0,
                  model: str = "bundled", device: str = "auto", mode_3d: str = "stitch", *,
                  backend: str = "cellpose3", flow_threshold: float | None = None,
                  cellprob_threshold: float | None = None, stitch_threshold: float = 0.25
                  ) -> Segmentation:
    """Segment cells in a 2-D image or a 3-D stack.

    Parameters
    ----------
    cell_img : ndarray
        Cell stain (membrane/cytoplasm), ``(Y, X)`` or ``(Z, Y, X)``.
    nuclear_img : ndarray or None
        Nuclear stain (Hoechst) on the same grid; helps separate touching cells.
    voxel_size_um : tuple of float
        Voxel size ``(y, x)`` or ``(z, y, x)`` in µm.
    diameter_um : float
        Typical cell diameter in µm; the image is resampled so that cells are as wide as
        the network was trained on.
    model : str or path-like
        ``"bundled"`` (the spmito cell model), a cached Cellpose model name (``"cyto3"``)
        or a weights file. Never downloads (:func:`spmito.segment.weights.resolve_model`).
    device : str
        ``"auto"`` (a GPU when torch sees one), ``"cpu"``, ``"cuda"``.
    mode_3d : {"stitch", "do_3d"}
        3-D stacks: 2-D masks per plane stitched by overlap (default), or Cellpose's 3-D
        flows on a stack resampled to isotropic voxels.
    backend : str
        Segmentation backend (:data:`spmito.segment.backends.BACKENDS`).
    flow_threshold, cellprob_threshold, stitch_threshold : float
        Cellpose's thresholds; ``None`` takes the model's own
        (see :func:`spmito.segment.backends.segment_objects`).

    Returns
    -------
    Segmentation
        ``labels`` (int32, input grid) and ``provenance``.

    Raises
    ------
    spmito.segment.weights.ModelNotFoundError
        An unknown model, a missing file, or a Cellpose model that is not cached.
    """
    cell_img = np.asarray(cell_img)
    helper = np.zeros_like(cell_img) if nuclear_img is None else np.asarray(nuclear_img)
    if helper.shape != cell_img.shape:
        raise ValueError(f"nuclear_img has shape {helper.shape} but cell_img has "
                         f"{cell_img.shape}; give both channels of the same stack")
    loaded = get_backend(model, "cells", device, backend)
    return segment_objects(np.stack([cell_img, helper]), voxel_size_um, diameter_um, loaded,
                           mode_3d=mode_3d, flow_threshold=flow_threshold,
                           cellprob_threshold=cellprob_threshold,
                           stitch_threshold=stitch_threshold)
