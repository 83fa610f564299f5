"""Synthetic adherent cells with exact labels: the variety the bundled cell model trains on.

:mod:`spmito.imaging.synthetic` renders round myeloma-like cells with a membrane stain. Real cell
stains look different, and a model that saw only rings misses real cells. This module
renders 2-D fields of irregular, spread cells, from scattered cells to confluent sheets,
8–60 µm across, with a nucleus each and one of these cell stains:

``membrane``
    a bright ring at the cell edge over a weak cytoplasm (CellMask plasma membrane, WGA);
``er``
    endoplasmic reticulum / concanavalin A: bright and reticular around the nucleus, fading
    towards the cell edge;
``cytoplasm``
    an even, finely textured cytoplasm (CellMask, CellTracker, a cytosolic FP);
``actin``
    phalloidin: a bright cortex and stress fibres along one direction per cell.

Brightness varies between cells (log-normal, and a share of dim cells) and within them (a
smooth random field); fields may be out of focus. Labels are exact: a cell is the set of
pixels nearest its nucleus in a distance scaled by the cell's irregular radius, so
neighbours in a sheet share a boundary and the nucleus lies inside its cell.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi
from skimage.segmentation import find_boundaries

from spmito.imaging.camera import camera_counts, smooth_field

CELL_STAINS = ("membrane", "er", "cytoplasm", "actin")


@dataclass(frozen=True)
class CellSheetParams:
    """Knobs of a synthetic adherent-cell field (lengths in µm).

    Parameters
    ----------
    size_px : int
        Field width and height in pixels.
    pixel_size_um : float
        Pixel size.
    cell_diameter_um : (float, float)
        Range of cell diameters.
    spacing_factor : float
        Distance between neighbouring nuclei over the mean cell diameter: below 1 the cells
        press against each other into a confluent sheet, above 1 they are scattered.
    irregularity : float
        Relative amplitude of the random radius changes along a cell's outline.
    nucleus_fraction : (float, float)
        Range of nucleus radius over cell radius.
    stain : str
        One of :data:`CELL_STAINS`.
    brightness_cv : float
        Cell-to-cell variability of the stain (log-normal sigma).
    dim_fraction : float
        Share of cells 4–10x dimmer than the rest.
    unevenness : float
        Relative amplitude of the smooth brightness field within cells.
    defocus_um : float
        Extra Gaussian blur (sigma, µm) of an out-of-focus field; 0 in focus.
    peak_photons : float
        Typical stain level of a bright cell (photons per pixel).
    background_photons : float
        Background per pixel (photons).
    read_noise : float
        Camera read noise (electrons).
    daughter_fraction : float
        Share of cells that have just divided: two smaller daughter cells side by side, each
        with its own nucleus, touching along the line between them (in a cytoplasm stain
        they look like one cell with two nuclei).
    """

    size_px: int = 256
    pixel_size_um: float = 0.65
    cell_diameter_um: tuple[float, float] = (25.0, 45.0)
    spacing_factor: float = 0.8
    irregularity: float = 0.25
    nucleus_fraction: tuple[float, float] = (0.3, 0.5)
    stain: str = "er"
    brightness_cv: float = 0.35
    dim_fraction: float = 0.15
    unevenness: float = 0.3
    defocus_um: float = 0.0
    peak_photons: float = 400.0
    background_photons: float = 30.0
    read_noise: float = 3.0
    daughter_fraction: float = 0.0


@dataclass
class CellSheet:
    """A rendered field: ``cell`` and ``hoechst`` (uint16), ``cells`` and ``nuclei`` labels.

    Nucleus ``k`` lies in cell ``k``.
    """

    cell: np.ndarray
    hoechst: np.ndarray
    cells: np.ndarray
    nuclei: np.ndarray
    params: CellSheetParams


def varied_sheet_params(rng: np.random.Generator) -> CellSheetParams:
    """Random :class:`CellSheetParams` for training.

    Every stain, cells 8–60 µm and 20–90 px across, confluent to scattered, even to patchy,
    in and out of focus, with up to a quarter of just-divided pairs.
    """
    centre_um = float(np.exp(rng.uniform(np.log(8.0), np.log(60.0))))
    spread = rng.uniform(0.1, 0.3)
    pixel_um = centre_um / rng.uniform(20.0, 90.0)
    nucleus_low = rng.uniform(0.25, 0.5)
    return CellSheetParams(
        size_px=int(rng.choice([192, 256, 320])),
        pixel_size_um=pixel_um,
        cell_diameter_um=(centre_um * (1 - spread), centre_um * (1 + spread)),
        spacing_factor=rng.uniform(0.55, 1.3),
        irregularity=rng.uniform(0.1, 0.5),
        nucleus_fraction=(nucleus_low, nucleus_low + rng.uniform(0.05, 0.2)),
        stain=str(rng.choice(CELL_STAINS)),
        brightness_cv=rng.uniform(0.1, 0.6),
        dim_fraction=rng.uniform(0.0, 0.3),
        unevenness=rng.uniform(0.0, 0.5),
        defocus_um=float(rng.choice([0.0, 0.0, rng.uniform(0.2, 0.08 * centre_um)])),
        peak_photons=float(np.exp(rng.uniform(np.log(60.0), np.log(2000.0)))),
        background_photons=float(np.exp(rng.uniform(np.log(5.0), np.log(200.0)))),
        read_noise=rng.uniform(1.0, 6.0),
        daughter_fraction=float(rng.choice([0.0, rng.uniform(0.05, 0.25)])),
    )


def make_cell_sheet(params: CellSheetParams, seed: int | np.random.SeedSequence) -> CellSheet:
    """Render one field of adherent cells with exact cell and nucleus labels.

    Parameters
    ----------
    params : CellSheetParams
        Geometry, stain, brightness, optics and noise.
    seed : int or SeedSequence
        The same seed gives the same field.

    Returns
    -------
    CellSheet
    """
    if params.stain not in CELL_STAINS:
        raise ValueError(f"unknown stain {params.stain!r}; use one of {CELL_STAINS}")
    rng = np.random.default_rng(seed)
    shape = (params.size_px, params.size_px)
    centres, radii_px = _nucleus_positions(rng, params)
    cells, scaled_distance = _territories(rng, params, shape, centres, radii_px)
    nuclei = _nuclei(rng, params, shape, centres, radii_px, cells)
    has_nucleus = np.bincount(nuclei.ravel(), minlength=int(cells.max()) + 1) > 4
    has_nucleus[0] = False
    cells, nuclei = (np.where(has_nucleus[labels], labels, 0) for labels in (cells, nuclei))
    stain = _stain(rng, params, cells, nuclei, scaled_distance)
    hoechst = _hoechst(rng, params, cells, nuclei)
    blur_px = np.hypot(0.25, params.defocus_um) / params.pixel_size_um
    return CellSheet(cell=_camera(rng, params, ndi.gaussian_filter(stain, blur_px)),
                     hoechst=_camera(rng, params, ndi.gaussian_filter(hoechst, blur_px)),
                     cells=cells, nuclei=nuclei, params=params)


def _nucleus_positions(rng: np.random.Generator, params: CellSheetParams
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Cell centres and radii in pixels.

    Dart throwing with a minimum gap, in one to three colonies (sparse elsewhere).
    """
    size = params.size_px
    mean_radius_px = np.mean(params.cell_diameter_um) / 2 / params.pixel_size_um
    gap = 2 * mean_radius_px * params.spacing_factor
    colonies = rng.uniform(-0.2, 1.2, size=(rng.integers(1, 4), 2)) * size
    colony_radius = rng.uniform(0.3, 0.8) * size
    centres: list[np.ndarray] = []
    for _ in range(40 * int((size / gap) ** 2 + 4)):
        point = rng.uniform(-mean_radius_px, size + mean_radius_px, size=2)
        in_colony = np.min(np.hypot(*(colonies - point).T)) < colony_radius
        if not in_colony and rng.random() < 0.85:
            continue
        if all(np.hypot(*(point - c)) >= gap for c in centres):
            centres.append(point)
    centres_px = np.array(centres).reshape(-1, 2)
    low, high = (d / 2 / params.pixel_size_um for d in params.cell_diameter_um)
    radii_px = rng.uniform(low, high, size=len(centres_px))
    if params.daughter_fraction > 0:
        return _split_into_daughters(rng, centres_px, radii_px, params.daughter_fraction)
    return centres_px, radii_px


#: A daughter cell's radius over its mother's, and its centre's distance from the mother's
#: centre over the daughter radius (just under 1: the two touch along a shared edge).
_DAUGHTER_RADIUS = 0.65
_DAUGHTER_OFFSET = 0.9


def _split_into_daughters(rng: np.random.Generator, centres_px: np.ndarray,
                          radii_px: np.ndarray, fraction: float
                          ) -> tuple[np.ndarray, np.ndarray]:
    """Replace a random ``fraction`` of the cells by two touching daughter cells each."""
    split = rng.random(len(centres_px)) < fraction
    angle = rng.uniform(0, 2 * np.pi, size=int(split.sum()))
    daughter_radii = radii_px[split] * _DAUGHTER_RADIUS
    offset = (daughter_radii * _DAUGHTER_OFFSET)[:, None] * np.stack(
        [np.sin(angle), np.cos(angle)], axis=1)
    centres = np.concatenate([centres_px[~split], centres_px[split] + offset,
                              centres_px[split] - offset])
    return centres, np.concatenate([radii_px[~split], daughter_radii, daughter_radii])


def _territories(rng: np.random.Generator, params: CellSheetParams, shape: tuple[int, int],
                 centres: np.ndarray, radii_px: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cell labels, and each pixel's distance over its cell's radius (0 at the centre).

    A pixel goes to the cell with the smallest distance over that cell's irregular radius,
    when that is below 1.
    """
    best = np.full(shape, np.inf, np.float32)
    labels = np.zeros(shape, np.int32)
    for index, (centre, radius) in enumerate(zip(centres, radii_px), start=1):
        reach = radius * (1 + 2 * params.irregularity) + 1
        box = tuple(slice(max(int(c - reach), 0), min(int(c + reach) + 1, n))
                    for c, n in zip(centre, shape))
        if any(s.start >= s.stop for s in box):
            continue
        yy, xx = np.ogrid[box]
        dy, dx = yy - centre[0], xx - centre[1]
        distance = np.hypot(dy, dx) / (radius * _outline(rng, params, np.arctan2(dy, dx)))
        closer = distance < best[box]
        best[box] = np.where(closer, distance, best[box])
        labels[box] = np.where(closer, index, labels[box])
    labels[best >= 1.0] = 0
    labels = _keep_largest_piece(labels)
    return labels, np.where(labels > 0, best, 1.0).astype(np.float32)


def _outline(rng: np.random.Generator, params: CellSheetParams, angle: np.ndarray
             ) -> np.ndarray:
    """Radius factor along the outline: an ellipse plus random harmonics (protrusions)."""
    factor = np.ones_like(angle, dtype=np.float64)
    for order in (2, 3, 4, 5):
        amplitude = params.irregularity * rng.uniform(0, 1) / (order - 1) ** 0.5
        factor += amplitude * np.cos(order * angle + rng.uniform(0, 2 * np.pi))
    return np.clip(factor, 0.4, None)


def _keep_largest_piece(labels: np.ndarray) -> np.ndarray:
    """Per label, only its largest connected piece (an outline can cut off islands)."""
    out = np.zeros_like(labels)
    for index, box in enumerate(ndi.find_objects(labels), start=1):
        if box is None:
            continue
        pieces, n = ndi.label(labels[box] == index)
        if n:
            largest = np.argmax(np.bincount(pieces.ravel())[1:]) + 1
            out[box][pieces == largest] = index
    return out


def _nuclei(rng: np.random.Generator, params: CellSheetParams, shape: tuple[int, int],
            centres: np.ndarray, radii_px: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """An ellipse near each cell centre, cut to its cell."""
    nuclei = np.zeros(shape, np.int32)
    yy, xx = np.ogrid[: shape[0], : shape[1]]
    for index, (centre, radius) in enumerate(zip(centres, radii_px), start=1):
        r = radius * rng.uniform(*params.nucleus_fraction)
        long, short = r * rng.uniform(1.0, 1.4), r * rng.uniform(0.7, 1.0)
        centre = centre + rng.normal(0, 0.15 * radius, size=2)
        angle = rng.uniform(0, np.pi)
        dy, dx = yy - centre[0], xx - centre[1]
        along = (dx * np.cos(angle) + dy * np.sin(angle)) / long
        across = (-dx * np.sin(angle) + dy * np.cos(angle)) / short
        nuclei[(along**2 + across**2 < 1) & (cells == index)] = index
    return nuclei


def _stain(rng: np.random.Generator, params: CellSheetParams, cells: np.ndarray,
           nuclei: np.ndarray, scaled_distance: np.ndarray) -> np.ndarray:
    """The cell stain in photons, before optics and noise."""
    px = params.pixel_size_um
    inside = cells > 0
    fine = smooth_field(rng, cells.shape, 0.6 / px, 0.5, floor=0.1)
    if params.stain == "membrane":
        ring = find_boundaries(cells, mode="inner")
        ring = ndi.binary_dilation(ring, iterations=max(1, round(0.4 / px))) & inside
        pattern = np.where(ring, 1.0, 0.2) * inside
    elif params.stain == "er":
        pattern = inside * np.clip(1.15 - scaled_distance, 0.1, None) ** 1.5 * fine
        pattern[nuclei > 0] *= 0.35
    elif params.stain == "cytoplasm":
        pattern = inside * smooth_field(rng, cells.shape, 0.4 / px, 0.15, floor=0.1)
        pattern[nuclei > 0] *= 0.6
    else:
        pattern = _actin(rng, params, cells)
    n_cells = int(cells.max())
    per_cell = np.exp(rng.normal(0, params.brightness_cv, size=n_cells + 1))
    per_cell[1:][rng.random(n_cells) < params.dim_fraction] *= rng.uniform(0.1, 0.25)
    uneven = smooth_field(rng, cells.shape, 4.0 / px, params.unevenness, floor=0.1)
    return (params.peak_photons * pattern * per_cell[cells] * uneven).astype(np.float32)


def _actin(rng: np.random.Generator, params: CellSheetParams, cells: np.ndarray) -> np.ndarray:
    """Phalloidin: a bright 1 µm cortex and stress fibres along one angle per cell."""
    px = params.pixel_size_um
    inside = cells > 0
    cortex = ndi.binary_dilation(find_boundaries(cells, mode="inner"),
                                 iterations=max(1, round(0.8 / px))) & inside
    angles = np.linspace(0, 180, 4, endpoint=False)
    fibres = []
    for angle in angles:
        noise = rng.normal(size=cells.shape).astype(np.float32)
        streaks = ndi.gaussian_filter(ndi.rotate(noise, angle, reshape=False, order=1),
                                      (0.3 / px, 4.0 / px))
        fibres.append(np.clip(ndi.rotate(streaks, -angle, reshape=False, order=1), 0, None))
    stack = np.stack(fibres) / (np.stack(fibres).std() + 1e-12)
    choice = rng.integers(0, len(angles), size=int(cells.max()) + 1)
    fibre = np.take_along_axis(stack, choice[cells][None], axis=0)[0]
    return inside * (0.25 + 0.35 * fibre) + cortex * 0.8


def _hoechst(rng: np.random.Generator, params: CellSheetParams, cells: np.ndarray,
             nuclei: np.ndarray) -> np.ndarray:
    """Nuclei of varied brightness with chromatin texture, and a faint haze over the cell."""
    n_cells = int(cells.max())
    per_nucleus = np.exp(rng.normal(0, 0.35, size=n_cells + 1))
    texture = smooth_field(rng, cells.shape, 0.5 / params.pixel_size_um, 0.25, floor=0.1)
    nuclear = 800.0 * per_nucleus[nuclei] * texture * (nuclei > 0)
    return (nuclear + 800.0 * rng.uniform(0.0, 0.05) * (cells > 0)).astype(np.float32)


def _camera(rng: np.random.Generator, params: CellSheetParams, photons: np.ndarray
            ) -> np.ndarray:
    """Poisson shot noise, read noise, an offset of 100, uint16."""
    return camera_counts(rng, photons, params.background_photons, params.read_noise)
