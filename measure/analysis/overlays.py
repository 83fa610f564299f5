"""Per-image QC overlays: what was segmented, at a glance, as RGB arrays and JPEG files.

A mosaic of the channels with the outlines of the cells, nuclei and mitochondria drawn on
them (:func:`overlay_mosaic`), written by :func:`save_rgb` under a byte cap; used by the
QC report. No matplotlib: the panels are NumPy arrays.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path

import numpy as np

#: Outline colours of the QC overlay (RGB): cells, nuclei, mitochondria.
CELL_RGB, NUCLEUS_RGB, MITO_RGB = (255, 221, 0), (0, 220, 255), (255, 0, 200)
#: Channel colours of the composite panel (RGB weights): hoechst, cell, mito.
_COMPOSITE_RGB = {"hoechst": (0.2, 0.35, 1.0), "cell": (0.0, 0.55, 0.0), "mito": (1.0, 0.0, 0.6)}


def overlay_mosaic(planes: Mapping[str, np.ndarray], cells: np.ndarray, nuclei: np.ndarray,
                   mito: np.ndarray, *, panel_px: int = 240) -> tuple[np.ndarray, list[str]]:
    """A QC mosaic of one field: what was segmented, side by side with the channels.

    Panels, left to right: a composite of the channels with cell (yellow) and nucleus (cyan)
    outlines; the mitochondria channel with the segmented mitochondria tinted magenta; a
    detail at full resolution (``panel_px`` pixels around the cell nearest the centre) with
    mitochondria and cell outlines; then each channel in grey with its own outlines. Fields
    are downsampled (block mean; labels by block maximum so that small objects stay visible)
    to at most ``panel_px`` on their long side. A 3-D field gives two rows: the maximum
    projection and the middle plane.

    Parameters
    ----------
    planes : mapping of str to ndarray
        Channel role (``hoechst``, ``cell``, ``mito``) to a ``(Y, X)`` or ``(Z, Y, X)`` array;
        missing roles are left out.
    cells, nuclei, mito : ndarray of int
        Label images on the same grid as the channels.
    panel_px : int
        Long side of each panel in pixels.

    Returns
    -------
    mosaic : ndarray of uint8
        ``(rows * panel_px', n_panels * panel_px', 3)`` RGB image.
    titles : list of str
        The panel titles, left to right (the same for every row).
    """
    if cells.ndim == 3:
        middle = cells.shape[0] // 2
        rows = [_overlay_row({k: v.max(axis=0) for k, v in planes.items()}, cells.max(axis=0),
                             nuclei.max(axis=0), mito.max(axis=0), panel_px),
                _overlay_row({k: v[middle] for k, v in planes.items()}, cells[middle],
                             nuclei[middle], mito[middle], panel_px)]
        width = max(r[0].shape[1] for r in rows)
        top, bottom = (np.pad(r[0], ((0, 0), (0, width - r[0].shape[1]), (0, 0)))
                       for r in rows)
        gap = np.zeros((4, width, 3), np.uint8)
        return np.concatenate([top, gap, bottom]), rows[0][1]
    return _overlay_row(planes, cells, nuclei, mito, panel_px)


def _overlay_row(planes, cells, nuclei, mito, panel_px) -> tuple[np.ndarray, list[str]]:
    from skimage.measure import block_reduce

    factor = max(1, int(np.ceil(max(cells.shape) / panel_px)))
    grey = {role: _normalise(block_reduce(np.asarray(p, np.float32), factor, np.mean))
            for role, p in planes.items()}
    small = {name: block_reduce(np.asarray(labels), factor, np.max)
             for name, labels in (("cells", cells), ("nuclei", nuclei), ("mito", mito))}
    panels, titles = [], []
    composite = sum(grey[role][..., None] * np.asarray(rgb, np.float32)
                    for role, rgb in _COMPOSITE_RGB.items() if role in grey)
    if isinstance(composite, np.ndarray):
        panels.append(_outlined(np.clip(composite, 0, 1), [(small["cells"], CELL_RGB),
                                                           (small["nuclei"], NUCLEUS_RGB)]))
        titles.append("composite, cells and nuclei")
    if "mito" in grey:
        panels.append(_tinted(grey["mito"], small["mito"] > 0, MITO_RGB))
        titles.append("mitochondria found")
        panels.append(_detail(planes["mito"], cells, mito, panel_px))
        titles.append(f"detail {panel_px} px")
    for role, labels, colour in (("hoechst", small["nuclei"], NUCLEUS_RGB),
                                 ("cell", small["cells"], CELL_RGB)):
        if role in grey:
            panels.append(_outlined(np.repeat(grey[role][..., None], 3, axis=2),
                                    [(labels, colour)]))
            titles.append(role)
    height = max(p.shape[0] for p in panels)
    padded = [np.pad(p, ((0, height - p.shape[0]), (0, 4), (0, 0))) for p in panels]
    return np.concatenate(padded, axis=1), titles


def _normalise(plane: np.ndarray) -> np.ndarray:
    """Grey values to 0–1 between the 1st and 99.8th percentile."""
    sample = plane[:: max(1, plane.shape[0] // 256), :: max(1, plane.shape[1] // 256)]
    low, high = np.percentile(sample, (1, 99.8))
    return np.clip((plane - low) / max(float(high - low), 1e-12), 0, 1).astype(np.float32)


def _outlined(rgb: np.ndarray, outlines: Sequence[tuple[np.ndarray, tuple]]) -> np.ndarray:
    from skimage.segmentation import find_boundaries

    out = (rgb * 255).astype(np.uint8)
    for labels, colour in outlines:
        out[find_boundaries(labels, mode="inner")] = colour
    return out


def _tinted(grey: np.ndarray, mask: np.ndarray, colour: tuple) -> np.ndarray:
    rgb = np.repeat(grey[..., None], 3, axis=2)
    rgb[mask] = 0.35 * rgb[mask] + 0.65 * np.asarray(colour, np.float32) / 255
    return (rgb * 255).astype(np.uint8)


def _detail(mito_plane: np.ndarray, cells: np.ndarray, mito: np.ndarray,
            size_px: int) -> np.ndarray:
    """A full-resolution crop of the mitochondria channel around the cell nearest the centre."""
    centre = np.asarray(cells.shape) / 2
    ys, xs = np.nonzero(cells)
    if ys.size:
        nearest = np.argmin((ys - centre[0]) ** 2 + (xs - centre[1]) ** 2)
        centre = np.asarray([ys[nearest], xs[nearest]], float)
    start = [int(np.clip(c - size_px / 2, 0, max(n - size_px, 0)))
             for c, n in zip(centre, cells.shape)]
    crop = tuple(slice(s, s + size_px) for s in start)
    grey = _normalise(np.asarray(mito_plane[crop], np.float32))
    return _outlined(np.repeat(grey[..., None], 3, axis=2),
                     [(cells[crop], CELL_RGB), (mito[crop], MITO_RGB)])


def save_rgb(rgb: np.ndarray, path: str | PathLike, max_bytes: int | None = None) -> Path:
    """Write an RGB uint8 array as JPEG (PNG when ``path`` ends in .png); returns the path.

    With ``max_bytes``, the JPEG quality is lowered (85 down to 45) and then the image
    shrunk by steps of 3/4 until the file fits: a cap on the size of a report that embeds
    one such image per field.
    """
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(np.ascontiguousarray(rgb))
    if path.suffix.lower() == ".png":
        image.save(path, format="png", optimize=True)
        return path
    while True:
        for quality in (85, 75, 65, 55, 45):
            buffer = io.BytesIO()
            image.save(buffer, format="jpeg", quality=quality, optimize=True)
            if max_bytes is None or buffer.tell() <= max_bytes or min(image.size) < 64:
                path.write_bytes(buffer.getvalue())
                return path
        image = image.resize((image.width * 3 // 4, image.height * 3 // 4),
                             Image.Resampling.LANCZOS)
