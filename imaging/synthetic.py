"""Synthetic fluorescence fields with exact ground truth.

Myeloma-like cells (10–15 µm, round to ovoid, large eccentric nucleus, scant cytoplasm)
packed so that neighbours touch, imaged in three channels:

``hoechst``
    nuclear stain whose integrated intensity is proportional to DNA content (G1 = 1,
    G2 = 2, S in between), divided by 3–10 in side-population (SP) cells that efflux the dye
    (unless an inhibitor blocks the efflux).
``cell``
    membrane ring plus a weaker cytoplasm stain (CellMask-like), dim over the nucleus.
``mito``
    a known number of mitochondria per cell: puncta, tubules and branched networks,
    0.2–0.5 µm wide, never closer than ``mito_gap_um`` to each other; SP cells carry
    ``sp_mito_ratio`` times more than main-population (MP) cells.

Every channel is blurred with a Gaussian approximation of the widefield PSF (from the
emission wavelength and NA, anisotropic in z), sits on a background, and gets Poisson and
camera read noise, gain and offset; images are uint16 or uint8 (``bit_depth``), optionally
with saturated mitochondria (``mito_saturation``). Everything is rendered on a canvas larger
than the field and cropped, so cells cut by the field edge are physical.

The truth is exact by construction: each mitochondrion is one connected component
(8-connectivity in 2-D, 26 in 3-D) lying inside its cell's analysis region, so the
per-cell connected components of the truth mitochondria labels equal ``mito_count``.
The same seed gives byte-identical files.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage as ndi
from skimage.segmentation import find_boundaries

from spmito.imaging.atomic import atomic_path, write_text_atomic
from spmito.imaging.camera import camera_counts, smooth_field
from spmito.imaging.io import write_labels, write_ome_tiff

CHANNEL_NAMES = ("hoechst", "cell", "mito")

#: Emission wavelengths (µm) used for the PSF of each channel.
EMISSION_UM = {"hoechst": 0.461, "cell": 0.520, "mito": 0.600}

#: Relative frequencies of (puncta, tubules, networks) per ``SynthParams.mito_layout``;
#: None: ``SynthParams.mito_kind_weights``.
MITO_LAYOUT_WEIGHTS = {"mixed": None, "fragmented": (0.8, 0.2, 0.0),
                       "networked": (0.05, 0.35, 0.6)}


@dataclass(frozen=True)
class SynthParams:
    """Knobs of a synthetic field. Lengths in µm; defaults give a moderate difficulty.

    Parameters
    ----------
    ndim : {2, 3}
        2-D (YX) field or 3-D (ZYX) stack.
    size_px : int
        Field width and height in pixels.
    n_z : int
        Number of planes (3-D only).
    pixel_size_um : float
        Lateral pixel size.
    z_step_um : float
        Plane spacing (3-D only).
    cell_diameter_um : (float, float)
        Range of cell diameters.
    cell_aspect : (float, float)
        Range of long/short axis ratios (1 = round).
    density : float
        Target fraction of the field covered by cells.
    nucleus_fraction : (float, float)
        Range of nucleus radius / cell radius.
    sp_fraction : float
        Probability that a cell is SP (unsorted populations).
    population : {"unsorted", "SP", "MP"}
        Sorted fields hold one population only.
    efflux_blocked : bool
        An efflux inhibitor (e.g. verapamil) is present: SP cells keep their Hoechst.
    sp_hoechst_dimming : (float, float)
        Range (log-uniform) of the factor by which SP cells are dimmer in Hoechst.
    g2_fraction, s_fraction : float
        Fractions of cells in G2 (DNA = 2) and S phase (DNA uniform in 1–2).
    hoechst_cv : float
        Cell-to-cell staining variability (log-normal sigma).
    mito_count_mp : float
        Mean number of mitochondria per MP cell.
    sp_mito_ratio : float
        Mean count of SP cells / MP cells.
    mito_kind_weights : (float, float, float)
        Relative frequencies of puncta, tubules and branched networks.
    mito_width_um : (float, float)
        Range of tubule widths.
    mito_gap_um : float
        Smallest distance between two mitochondria (raised to a voxel diagonal when
        smaller, so that two objects never touch on the grid).
    numerical_aperture : float
        Objective NA (sets the PSF width).
    snr : float
        Median mitochondrial signal above background over the background noise std.
    background_photons : float
        Background level per pixel (photons) in each channel.
    read_noise : float
        Camera read noise (electrons, gain 1).
    camera_offset : int
        Camera offset (ADU).
    vignetting : float
        Fractional illumination fall-off at the field corner (0 = flat field).
    mito_layout : {"mixed", "fragmented", "networked"}
        ``"mixed"`` draws the kinds with ``mito_kind_weights``; ``"fragmented"`` gives mostly
        puncta and short rods, ``"networked"`` mostly branched networks and long tubules
        (``MITO_LAYOUT_WEIGHTS``).
    mito_wavelength_um : float
        Emission wavelength of the mito channel; with ``numerical_aperture`` it sets the PSF.
    mito_haze : float
        Diffuse cytosolic mito-channel signal, relative to a mitochondrion's brightness.
    mito_saturation : float
        Fraction of the mitochondria's pixels clipped at the camera's top (0: none).
    camera_gain : float
        ADU per photo-electron.
    bit_depth : {8, 16}
        Image dtype (uint8 or uint16); values are clipped to its range.
    """

    ndim: int = 2
    size_px: int = 512
    n_z: int = 48
    pixel_size_um: float = 0.1
    z_step_um: float = 0.3
    cell_diameter_um: tuple[float, float] = (10.0, 15.0)
    cell_aspect: tuple[float, float] = (1.0, 1.3)
    density: float = 0.6
    nucleus_fraction: tuple[float, float] = (0.55, 0.68)
    sp_fraction: float = 0.05
    population: str = "unsorted"
    efflux_blocked: bool = False
    sp_hoechst_dimming: tuple[float, float] = (3.0, 10.0)
    g2_fraction: float = 0.2
    s_fraction: float = 0.15
    hoechst_cv: float = 0.08
    mito_count_mp: float = 15.0
    sp_mito_ratio: float = 1.5
    mito_kind_weights: tuple[float, float, float] = (0.35, 0.5, 0.15)
    mito_width_um: tuple[float, float] = (0.2, 0.5)
    mito_gap_um: float = 0.35
    numerical_aperture: float = 1.3
    snr: float = 8.0
    background_photons: float = 30.0
    read_noise: float = 2.0
    camera_offset: int = 100
    vignetting: float = 0.0
    mito_layout: str = "mixed"
    mito_wavelength_um: float = EMISSION_UM["mito"]
    mito_haze: float = 0.04
    mito_saturation: float = 0.0
    camera_gain: float = 1.0
    bit_depth: int = 16

    def __post_init__(self) -> None:
        if self.mito_layout not in MITO_LAYOUT_WEIGHTS:
            raise ValueError(f"mito_layout must be one of {', '.join(MITO_LAYOUT_WEIGHTS)}, "
                             f"got {self.mito_layout!r}")
        if self.bit_depth not in (8, 16):
            raise ValueError(f"bit_depth must be 8 or 16, got {self.bit_depth}")
        if not 0.0 <= self.mito_saturation < 1.0:
            raise ValueError(f"mito_saturation must be in [0, 1), got {self.mito_saturation}")

    @classmethod
    def for_ndim(cls, ndim: int, **overrides) -> SynthParams:
        """Defaults suited to 2-D or 3-D fields, with ``overrides`` applied."""
        base = cls() if ndim == 2 else cls(
            ndim=3, size_px=320, pixel_size_um=0.12, mito_count_mp=30.0,
        )
        return replace(base, **{k: v for k, v in overrides.items() if v is not None})

    @property
    def voxel_size_um(self) -> tuple[float, ...]:
        """Voxel size ``(y, x)`` or ``(z, y, x)`` in µm."""
        lateral = (self.pixel_size_um, self.pixel_size_um)
        return (self.z_step_um, *lateral) if self.ndim == 3 else lateral


@dataclass
class SyntheticField:
    """One synthetic image with its ground truth.

    Attributes
    ----------
    image : ndarray of uint16 (uint8 with ``bit_depth=8``)
        ``(C, Y, X)`` or ``(Z, C, Y, X)`` with channels ``CHANNEL_NAMES``.
    cells, nuclei, mito : ndarray
        Truth label images; a nucleus has the id of its cell.
    truth : DataFrame
        One row per cell (see :func:`make_field`).
    mito_truth : DataFrame
        One row per mitochondrion.
    params : SynthParams
        The parameters used.
    """

    image: np.ndarray
    cells: np.ndarray
    nuclei: np.ndarray
    mito: np.ndarray
    truth: pd.DataFrame
    mito_truth: pd.DataFrame
    params: SynthParams = field(default_factory=SynthParams)

    @property
    def axes(self) -> str:
        """Axes of :attr:`image`."""
        return "ZCYX" if self.params.ndim == 3 else "CYX"

    def channel(self, name: str) -> np.ndarray:
        """One channel of :attr:`image`, ``(Z,)Y,X``."""
        return np.take(self.image, CHANNEL_NAMES.index(name), axis=self.axes.index("C"))


# --------------------------------------------------------------------------- geometry


@dataclass
class _Cell:
    center_um: np.ndarray  # (z,) y, x on the canvas
    semi_axes_um: np.ndarray  # (z,) long, short
    angle: float
    nucleus_center_um: np.ndarray = None
    nucleus_semi_axes_um: np.ndarray = None
    population: str = "MP"
    efflux: bool = False
    cell_cycle: str = "G1"
    dna_content: float = 1.0
    hoechst_dimming: float = 1.0
    stain: float = 1.0
    mito_target: int = 0


def _ellipsoid_distance(coords_um: list[np.ndarray], center: np.ndarray, semi_axes: np.ndarray,
                        angle: float) -> np.ndarray:
    """Normalised ellipsoid distance (1 on the surface) on a grid given as open coordinates."""
    y = coords_um[-2] - center[-2]
    x = coords_um[-1] - center[-1]
    cos, sin = np.cos(angle), np.sin(angle)
    along = (x * cos + y * sin) / semi_axes[-2]
    across = (-x * sin + y * cos) / semi_axes[-1]
    d2 = along**2 + across**2
    if len(coords_um) == 3:
        d2 = d2 + ((coords_um[0] - center[0]) / semi_axes[0]) ** 2
    return np.sqrt(d2)


class _Canvas:
    """The padded rendering grid: shape, voxel size and the crop back to the field."""

    def __init__(self, params: SynthParams):
        self.voxel_size_um = np.asarray(params.voxel_size_um)
        self.pad_px = int(np.ceil(0.5 * params.cell_diameter_um[1] / params.pixel_size_um))
        lateral = params.size_px + 2 * self.pad_px
        self.shape = (params.n_z, lateral, lateral) if params.ndim == 3 else (lateral, lateral)
        field_slices = [slice(self.pad_px, self.pad_px + params.size_px)] * 2
        self.crop = (slice(None), *field_slices) if params.ndim == 3 else tuple(field_slices)
        self.in_field = np.zeros(self.shape, bool)
        self.in_field[self.crop] = True

    def box(self, center_um: np.ndarray, radius_um: np.ndarray) -> tuple[slice, ...]:
        """Grid slices of the box ``center ± radius`` clipped to the canvas."""
        low = np.floor((center_um - radius_um) / self.voxel_size_um).astype(int)
        high = np.ceil((center_um + radius_um) / self.voxel_size_um).astype(int) + 1
        return tuple(slice(max(lo, 0), min(hi, n)) for lo, hi, n in zip(low, high, self.shape))

    def coords(self, box: tuple[slice, ...]) -> list[np.ndarray]:
        """Open (broadcastable) µm coordinates of the voxel centres in ``box``."""
        grids = np.ogrid[box]
        return [g * s for g, s in zip(grids, self.voxel_size_um)]


def _place_cells(rng: np.random.Generator, params: SynthParams, canvas: _Canvas) -> list[_Cell]:
    """Random sequential packing of ellipses that may overlap a little (they then touch).

    Most new cells are put against an existing one, as cells settle in clusters on a slide,
    so that touching neighbours (the hard case for segmentation) are common.
    """
    field_um = params.size_px * params.pixel_size_um
    pad_um = canvas.pad_px * params.pixel_size_um
    target_area = params.density * field_um**2
    cells: list[_Cell] = []
    covered = 0.0
    for _ in range(6000):
        if covered >= target_area:
            break
        radius = rng.uniform(*params.cell_diameter_um) / 2
        aspect = rng.uniform(*params.cell_aspect)
        semi = np.array([radius * np.sqrt(aspect), radius / np.sqrt(aspect)])
        if cells and rng.random() < 0.7:
            neighbour = cells[rng.integers(len(cells))]
            reach = (radius + neighbour.semi_axes_um[-2:].mean()) * rng.uniform(0.82, 0.95)
            direction = rng.uniform(0, 2 * np.pi)
            yx = neighbour.center_um[-2:] + reach * np.array([np.sin(direction),
                                                              np.cos(direction)])
        else:
            yx = rng.uniform(pad_um, pad_um + field_um, size=2)
        # centres may sit outside the field by up to 0.4 radius: cut cells stay substantial
        if np.any(yx < pad_um - 0.4 * radius) or np.any(yx > pad_um + field_um + 0.4 * radius):
            continue
        if any(np.hypot(*(yx - c.center_um[-2:])) < 0.8 * (radius + c.semi_axes_um[-2:].mean())
               for c in cells):
            continue
        if params.ndim == 3:
            depth_um = params.n_z * params.z_step_um
            z = depth_um / 2 + rng.uniform(-0.05, 0.05) * depth_um
            semi = np.array([min(0.8 * radius, depth_um / 2 - 0.6), *semi])
            center = np.array([z, *yx])
        else:
            center = yx
        cells.append(_Cell(center_um=center, semi_axes_um=semi, angle=rng.uniform(0, np.pi)))
        covered += np.pi * semi[-1] * semi[-2]
    return cells


def _rasterize_ellipsoids(canvas: _Canvas, shapes: list[tuple[np.ndarray, np.ndarray, float]]
                          ) -> np.ndarray:
    """Label image where each voxel belongs to the ellipsoid it is deepest inside."""
    labels = np.zeros(canvas.shape, np.int32)
    best = np.full(canvas.shape, np.inf, np.float32)
    for index, (center, semi, angle) in enumerate(shapes, start=1):
        box = canvas.box(center, np.full(len(center), semi.max()))
        distance = _ellipsoid_distance(canvas.coords(box), center, semi, angle)
        inside = (distance < 1.0) & (distance < best[box])
        best[box][inside] = distance[inside]
        labels[box][inside] = index
    return labels


def _add_nuclei(rng: np.random.Generator, params: SynthParams, cells: list[_Cell]) -> None:
    """An eccentric nucleus per cell, fully inside it."""
    for cell in cells:
        fraction = rng.uniform(*params.nucleus_fraction)
        offset = rng.uniform(0.15, max(0.16, 0.86 - fraction))
        direction = rng.uniform(0, 2 * np.pi)
        lateral = cell.semi_axes_um[-2:].mean()
        shift = offset * lateral * np.array([np.sin(direction), np.cos(direction)])
        cell.nucleus_center_um = cell.center_um.copy()
        cell.nucleus_center_um[-2:] += shift
        cell.nucleus_semi_axes_um = fraction * np.r_[
            cell.semi_axes_um[:-2], np.full(2, lateral * rng.uniform(0.95, 1.05))]


def _assign_states(rng: np.random.Generator, params: SynthParams, cells: list[_Cell]) -> None:
    """Population, cell cycle, Hoechst efflux and the planned mitochondria count."""
    for cell in cells:
        if params.population in ("SP", "MP"):
            cell.population = params.population
        else:
            cell.population = "SP" if rng.random() < params.sp_fraction else "MP"
        cell.efflux = cell.population == "SP" and not params.efflux_blocked
        phase = rng.random()
        if phase < params.g2_fraction:
            cell.cell_cycle, cell.dna_content = "G2", 2.0
        elif phase < params.g2_fraction + params.s_fraction:
            cell.cell_cycle, cell.dna_content = "S", float(rng.uniform(1.1, 1.9))
        else:
            cell.cell_cycle, cell.dna_content = "G1", 1.0
        if cell.efflux:
            low, high = np.log(params.sp_hoechst_dimming)
            cell.hoechst_dimming = float(np.exp(rng.uniform(low, high)))
        cell.stain = float(np.exp(rng.normal(0.0, params.hoechst_cv)))
        mean = params.mito_count_mp * (params.sp_mito_ratio if cell.population == "SP" else 1.0)
        cell.mito_target = max(2, int(round(rng.gamma(16.0, mean / 16.0))))


# ------------------------------------------------------------------------ mitochondria


@dataclass
class _MitoShape:
    kind: str
    paths_um: list[np.ndarray]  # centre lines, each (n_points, ndim)
    radius_um: float
    branches: int
    junctions: int

    @property
    def length_um(self) -> float:
        return float(sum(np.linalg.norm(np.diff(p, axis=0), axis=1).sum() for p in self.paths_um))


def _random_direction(rng: np.random.Generator, ndim: int) -> np.ndarray:
    vector = rng.normal(size=ndim)
    if ndim == 3:
        vector[0] *= 0.5  # cells are flat-ish: tubules run mostly in the plane
    return vector / np.linalg.norm(vector)


def _curve(rng: np.random.Generator, start: np.ndarray, heading: np.ndarray, length_um: float,
           step_um: float) -> np.ndarray:
    """A smooth random centre line: a heading that wanders ~0.8 rad per µm."""
    n_steps = max(2, int(np.ceil(length_um / step_um)))
    points = [start]
    direction = heading.copy()
    for _ in range(n_steps):
        direction = direction + rng.normal(0, 0.8 * np.sqrt(step_um), size=len(direction))
        direction /= np.linalg.norm(direction)
        points.append(points[-1] + direction * step_um)
    return np.array(points)


MITO_KINDS = ("punctum", "tubule", "network")


def _mito_shape(rng: np.random.Generator, params: SynthParams, kind: str, anchor: np.ndarray
                ) -> _MitoShape:
    """A punctum, a tubule or a branched network anchored at ``anchor`` (µm)."""
    ndim = len(anchor)
    step = 0.3 * min(params.voxel_size_um)
    if kind == "punctum":
        radius = rng.uniform(0.16, 0.25)
        path = _curve(rng, anchor, _random_direction(rng, ndim), rng.uniform(0.0, 0.15), step)
        return _MitoShape("punctum", [path], radius, branches=1, junctions=0)
    radius = rng.uniform(*params.mito_width_um) / 2
    if kind == "tubule":
        path = _curve(rng, anchor, _random_direction(rng, ndim), rng.uniform(0.6, 2.5), step)
        return _MitoShape("tubule", [path], radius, branches=1, junctions=0)
    main = _curve(rng, anchor, _random_direction(rng, ndim), rng.uniform(1.8, 3.5), step)
    n_side = int(rng.integers(1, 3))
    positions = np.sort(rng.choice(np.arange(int(0.3 * len(main)), int(0.7 * len(main))),
                                   size=n_side, replace=False))
    if n_side == 2 and positions[1] - positions[0] < int(0.8 / step):
        positions = positions[:1]  # junctions closer than ~0.8 µm would merge on the skeleton
    paths = [main]
    for position in positions:
        tangent = main[position + 1] - main[position - 1]
        tangent /= np.linalg.norm(tangent)
        side = _random_direction(rng, ndim)
        side -= side.dot(tangent) * tangent  # leave roughly perpendicular
        side /= np.linalg.norm(side)
        paths.append(_curve(rng, main[position], side, rng.uniform(0.7, 1.5), step))
    n_junctions = len(positions)
    return _MitoShape("network", paths, radius, branches=2 * n_junctions + 1,
                      junctions=n_junctions)


def _mito_kind_weights(params: SynthParams) -> np.ndarray:
    """Probabilities of (puncta, tubules, networks) for the field's layout."""
    weights = MITO_LAYOUT_WEIGHTS[params.mito_layout] or params.mito_kind_weights
    return np.asarray(weights, float) / np.sum(weights)


def _rasterize_shape(shape: _MitoShape, canvas: _Canvas) -> tuple[tuple[slice, ...], np.ndarray]:
    """Voxels within the tube radius of the centre lines.

    The radius is floored to half a voxel per axis, so that a thin tube stays connected on
    the grid.
    """
    points = np.concatenate(shape.paths_um)
    radius_axes = np.maximum(shape.radius_um, 0.55 * canvas.voxel_size_um)
    low = np.floor((points.min(0) - radius_axes) / canvas.voxel_size_um).astype(int) - 1
    high = np.ceil((points.max(0) + radius_axes) / canvas.voxel_size_um).astype(int) + 2
    if np.any(low < 0) or np.any(high > canvas.shape):
        return (), np.zeros(0, bool)
    box = tuple(slice(lo, hi) for lo, hi in zip(low, high))
    seeds = np.ones(tuple(high - low), bool)
    index = np.rint(points / canvas.voxel_size_um).astype(int) - low
    seeds[tuple(index.T)] = False
    distance = ndi.distance_transform_edt(seeds, sampling=canvas.voxel_size_um / radius_axes)
    return box, distance <= 1.0


def _ellipsoid_footprint(radius_um: float, voxel_size_um: np.ndarray) -> np.ndarray:
    """Boolean ball of ``radius_um`` on a grid of the given voxel size."""
    half = np.floor(radius_um / voxel_size_um).astype(int)
    grids = np.ogrid[tuple(slice(-h, h + 1) for h in half)]
    return sum((g * s / radius_um) ** 2 for g, s in zip(grids, voxel_size_um)) <= 1.0


def _deep_inside(labels: np.ndarray, margin_um: float, voxel_size_um: np.ndarray) -> np.ndarray:
    """Voxels whose whole ``±margin_um`` box neighbourhood carries their own non-zero label.

    A box, not a ball: separable filters keep 3-D synthesis fast.
    """
    size = tuple(2 * int(np.floor(margin_um / s)) + 1 for s in voxel_size_um)
    same = ndi.minimum_filter(labels, size=size) == ndi.maximum_filter(labels, size=size)
    return same & (labels > 0)


def _analysis_regions(params: SynthParams, canvas: _Canvas, cells: np.ndarray,
                      nuclei: np.ndarray) -> np.ndarray:
    """Where each cell's mitochondria may lie.

    Inside the cell, 0.3 µm off its edge, inside the field; in 3-D also outside the nucleus
    (the analysis region of domain.md §3).
    """
    margin_um = 0.3
    field_cells = np.where(canvas.in_field, cells, 0)
    inner = np.where(_deep_inside(field_cells, margin_um, canvas.voxel_size_um), cells, 0)
    if params.ndim == 3:
        near_nucleus = ndi.binary_dilation(nuclei > 0, _ellipsoid_footprint(margin_um,
                                                                             canvas.voxel_size_um))
        inner[near_nucleus] = 0
    return inner


def _place_mitochondria(rng: np.random.Generator, params: SynthParams, canvas: _Canvas,
                        cells: list[_Cell], regions: np.ndarray, nuclei: np.ndarray
                        ) -> tuple[np.ndarray, list[dict]]:
    """Place each cell's mitochondria without contact; return labels and per-object truth."""
    voxel_size_um = canvas.voxel_size_um
    gap = max(params.mito_gap_um, 1.01 * float(np.linalg.norm(voxel_size_um)))
    mito = np.zeros(canvas.shape, np.uint32)
    forbidden = np.zeros(canvas.shape, bool)
    records: list[dict] = []
    objects = ndi.find_objects(regions)
    for cell_id, cell in enumerate(cells, start=1):
        box = objects[cell_id - 1] if cell_id <= len(objects) else None
        if box is None:
            continue
        local = regions[box] == cell_id
        over_nucleus = local & (nuclei[box] == cell_id)
        pools = [np.argwhere(local & ~over_nucleus), np.argwhere(over_nucleus)]
        if not len(pools[0]) and not len(pools[1]):
            continue
        offset = np.array([s.start for s in box])
        kind_weights = _mito_kind_weights(params)
        for _ in range(cell.mito_target):
            # the kind is drawn once per mitochondrion and kept through retries, so that
            # large networks are not under-represented by rejections
            kind = MITO_KINDS[rng.choice(len(MITO_KINDS), p=kind_weights)]
            for _attempt in range(40):
                pool = pools[1] if (len(pools[1]) and rng.random() < 0.25) or not len(pools[0]) \
                    else pools[0]
                anchor = (pool[rng.integers(len(pool))] + offset) * voxel_size_um
                shape = _mito_shape(rng, params, kind, anchor)
                mbox, mask = _rasterize_shape(shape, canvas)
                if not _fits(mask, mbox, regions, forbidden, cell_id):
                    continue
                mito_id = len(records) + 1
                mito[mbox][mask] = mito_id
                _forbid_around(forbidden, mbox, mask, gap, voxel_size_um)
                records.append({
                    "mito_id": mito_id, "cell_id": cell_id, "kind": shape.kind,
                    "length_um": shape.length_um, "width_um": 2 * shape.radius_um,
                    "branches": shape.branches, "junctions": shape.junctions,
                    "voxels": int(mask.sum()),
                })
                break
    return mito, records


def _fits(mask: np.ndarray, box: tuple[slice, ...], regions: np.ndarray, forbidden: np.ndarray,
          cell_id: int) -> bool:
    """A candidate lies in its cell's region, keeps its distance, and is one component."""
    if not mask.any() or not np.all(regions[box][mask] == cell_id):
        return False
    if forbidden[box][mask].any():
        return False
    return ndi.label(mask, structure=np.ones((3,) * mask.ndim))[1] == 1


def _forbid_around(forbidden: np.ndarray, box: tuple[slice, ...], mask: np.ndarray,
                   gap_um: float, voxel_size_um: np.ndarray) -> None:
    """Mark every voxel closer than ``gap_um`` to ``mask`` as forbidden."""
    pad = np.ceil(gap_um / voxel_size_um).astype(int) + 1
    grown = tuple(slice(max(s.start - p, 0), min(s.stop + p, n))
                  for s, p, n in zip(box, pad, forbidden.shape))
    local = np.zeros(tuple(s.stop - s.start for s in grown), bool)
    inner = tuple(slice(s.start - g.start, s.stop - g.start) for s, g in zip(box, grown))
    local[inner] = mask
    near = ndi.distance_transform_edt(~local, sampling=voxel_size_um) <= gap_um
    forbidden[grown] |= near


# --------------------------------------------------------------------------- rendering


def _psf_sigma_px(params: SynthParams, wavelength_um: float) -> tuple[float, ...]:
    """Gaussian PSF sigma per axis in pixels (widefield approximation, oil n=1.518)."""
    lateral = 0.21 * wavelength_um / params.numerical_aperture
    axial = 0.66 * wavelength_um * 1.518 / params.numerical_aperture**2
    sigmas_um = (axial, lateral, lateral) if params.ndim == 3 else (lateral, lateral)
    return tuple(s / p for s, p in zip(sigmas_um, params.voxel_size_um))


def _hoechst_signal(rng, params, canvas, cells: list[_Cell], nuclei: np.ndarray):
    """Nuclear stain whose integral per nucleus is DNA content x stain / dimming."""
    unit_photons = 300.0 * _typical_nucleus_size(params) / float(np.prod(params.voxel_size_um))
    texture = smooth_field(rng, canvas.shape, 0.5 / params.pixel_size_um, 0.25, floor=0.2)
    n_cells = len(cells)
    texture_sum = ndi.sum_labels(texture, nuclei, index=np.arange(1, n_cells + 1))
    integral = np.array([unit_photons * c.dna_content * c.stain / c.hoechst_dimming
                         for c in cells])
    per_label = np.zeros(n_cells + 1)
    per_label[1:] = integral / np.maximum(texture_sum, 1e-12)
    return (texture * per_label[nuclei]).astype(np.float32), integral


def _typical_nucleus_size(params: SynthParams) -> float:
    """Area (µm², 2-D) or volume (µm³, 3-D) of an average nucleus.

    G1 MP nuclei then average ~300 photons per voxel.
    """
    radius = np.mean(params.nucleus_fraction) * np.mean(params.cell_diameter_um) / 2
    if params.ndim == 2:
        return float(np.pi * radius**2)
    return float(4 / 3 * np.pi * radius**3 * 0.8)


def _cell_signal(params: SynthParams, canvas: _Canvas, cells: np.ndarray,
                 nuclei: np.ndarray) -> np.ndarray:
    """Membrane ring (0.5 µm) plus cytoplasm stain, dim over the nucleus."""
    ring = (cells > 0) & ~_deep_inside(cells, 0.5, canvas.voxel_size_um)
    signal = np.where(cells > 0, 60.0, 0.0)
    signal[nuclei > 0] = 15.0
    signal[ring] = 250.0
    return signal.astype(np.float32)


def _mito_signal(rng: np.random.Generator, params: SynthParams, mito: np.ndarray,
                 cells: np.ndarray, n_mito: int) -> np.ndarray:
    """Per-object brightness (log-normal, CV ~20 %) plus a faint cytosolic haze."""
    brightness = np.zeros(n_mito + 1, np.float32)
    brightness[1:] = np.exp(rng.normal(0.0, 0.2, size=n_mito))
    return brightness[mito] + np.where(cells > 0, params.mito_haze, 0.0).astype(np.float32)


def _illumination(params: SynthParams, canvas: _Canvas) -> np.ndarray | float:
    """Vignetting: illumination falling off quadratically towards the field corners."""
    if params.vignetting <= 0:
        return 1.0
    center = (np.array(canvas.shape[-2:]) - 1) / 2
    yy, xx = np.ogrid[: canvas.shape[-2], : canvas.shape[-1]]
    corner = np.hypot(params.size_px / 2, params.size_px / 2)
    r2 = ((yy - center[0]) ** 2 + (xx - center[1]) ** 2) / corner**2
    return (1.0 - params.vignetting * np.minimum(r2, 1.5)).astype(np.float32)


def _camera(rng: np.random.Generator, params: SynthParams, photons: np.ndarray) -> np.ndarray:
    """Counts of the field's camera (:func:`spmito.imaging.camera.camera_counts`)."""
    return camera_counts(rng, photons, params.background_photons, params.read_noise,
                         params.camera_gain, params.camera_offset, params.bit_depth)


def _saturated(params: SynthParams, adu: np.ndarray, mito: np.ndarray) -> np.ndarray:
    """Clip the brightest ``mito_saturation`` of the mitochondria's pixels to one top level."""
    if params.mito_saturation <= 0 or not np.any(mito):
        return adu
    top = np.quantile(adu[mito > 0], 1.0 - params.mito_saturation, method="higher")
    return np.minimum(adu, top.astype(adu.dtype))


def _emission_um(params: SynthParams, channel: str) -> float:
    """Emission wavelength of a channel (the mito channel's is a parameter)."""
    return params.mito_wavelength_um if channel == "mito" else EMISSION_UM[channel]


def _noise_std(params: SynthParams) -> float:
    return float(np.sqrt(params.background_photons + params.read_noise**2))


# ------------------------------------------------------------------------- assembling


def make_field(params: SynthParams, seed: int | np.random.SeedSequence) -> SyntheticField:
    """Render one synthetic field with its ground truth.

    Parameters
    ----------
    params : SynthParams
        Geometry, populations, optics and noise.
    seed : int or SeedSequence
        Seed of the field's random generator; the same seed gives the same field.

    Returns
    -------
    SyntheticField
        Image, truth label images (cells, nuclei, mito) and truth tables. ``truth`` has one
        row per cell: ``cell_id, population, efflux, cell_cycle, dna_content,
        hoechst_dimming, hoechst_integrated_true, mito_count, mito_count_target, mito_size,
        mito_length_um, mito_branches, mito_junctions, n_puncta, n_tubules, n_networks,
        cell_size, nucleus_size, centroid_(z,)y,x, touches_border``; sizes are µm² (2-D) or
        µm³ (3-D). ``mito_truth`` has one row per mitochondrion.
    """
    rng = np.random.default_rng(seed)
    canvas = _Canvas(params)
    cells = _place_cells(rng, params, canvas)
    cells = _drop_slivers(canvas, cells)
    _add_nuclei(rng, params, cells)
    _assign_states(rng, params, cells)
    cell_labels = _rasterize_ellipsoids(canvas, [(c.center_um, c.semi_axes_um, c.angle)
                                                 for c in cells])
    nuclei = _nuclei_inside_cells(canvas, cells, cell_labels)
    regions = _analysis_regions(params, canvas, cell_labels, nuclei)
    mito, mito_records = _place_mitochondria(rng, params, canvas, cells, regions, nuclei)

    illumination = _illumination(params, canvas)
    hoechst, integral = _hoechst_signal(rng, params, canvas, cells, nuclei)
    cell_stain = _cell_signal(params, canvas, cell_labels, nuclei)
    mito_stain = _mito_signal(rng, params, mito, cell_labels, len(mito_records))
    channels = []
    for name, signal in zip(CHANNEL_NAMES, (hoechst, cell_stain, mito_stain)):
        blurred = ndi.gaussian_filter(signal, _psf_sigma_px(params, _emission_um(params, name)))
        if name == "mito":
            blurred *= _mito_scale(params, blurred, mito)
        adu = _camera(rng, params, (blurred * illumination)[canvas.crop])
        channels.append(_saturated(params, adu, mito[canvas.crop]) if name == "mito" else adu)
    image = np.stack(channels, axis=1 if params.ndim == 3 else 0)

    crop = canvas.crop
    cell_crop, nuclei_crop, mito_crop = cell_labels[crop], nuclei[crop], mito[crop]
    truth = _cell_truth(params, cells, cell_crop, nuclei_crop, integral, mito_records)
    mito_truth = pd.DataFrame(mito_records, columns=[
        "mito_id", "cell_id", "kind", "length_um", "width_um", "branches", "junctions", "voxels"])
    keep = truth["cell_id"].to_numpy()
    cell_out, nuclei_out, mito_out, truth, mito_truth = _relabel(
        cell_crop, nuclei_crop, mito_crop, truth, mito_truth, keep)
    voxel = float(np.prod(params.voxel_size_um))
    mito_truth["size"] = mito_truth.pop("voxels") * voxel
    return SyntheticField(image=image, cells=cell_out, nuclei=nuclei_out, mito=mito_out,
                          truth=truth, mito_truth=mito_truth, params=params)


def _drop_slivers(canvas: _Canvas, cells: list[_Cell]) -> list[_Cell]:
    """Remove cells of which less than a third would be visible in the field."""
    labels = _rasterize_ellipsoids(canvas, [(c.center_um, c.semi_axes_um, c.angle)
                                            for c in cells])
    total = np.bincount(labels.ravel(), minlength=len(cells) + 1)
    visible = np.bincount(labels[canvas.crop].ravel(), minlength=len(cells) + 1)
    return [c for i, c in enumerate(cells, start=1) if visible[i] >= total[i] / 3]


def _nuclei_inside_cells(canvas: _Canvas, cells: list[_Cell], cell_labels: np.ndarray
                         ) -> np.ndarray:
    """Nucleus ellipsoids clipped to 0.4 µm inside their own cell."""
    nuclei = _rasterize_ellipsoids(canvas, [(c.nucleus_center_um, c.nucleus_semi_axes_um,
                                             c.angle) for c in cells])
    deep = _deep_inside(cell_labels, 0.4, canvas.voxel_size_um)
    nuclei[(nuclei != cell_labels) | ~deep] = 0
    return nuclei


def _mito_scale(params: SynthParams, blurred: np.ndarray, mito: np.ndarray) -> float:
    """Factor that sets the median object signal to ``snr`` background noise std."""
    inside = blurred[mito > 0]
    if inside.size == 0:
        return 1.0
    return params.snr * _noise_std(params) / float(np.median(inside))


def _cell_truth(params: SynthParams, cells: list[_Cell], cell_crop: np.ndarray,
                nuclei_crop: np.ndarray, integral: np.ndarray, mito_records: list[dict]
                ) -> pd.DataFrame:
    """One row per cell visible in the field."""
    voxel = float(np.prod(params.voxel_size_um))
    n = len(cells)
    ids = np.arange(1, n + 1)
    cell_voxels = np.bincount(cell_crop.ravel(), minlength=n + 1)[1:]
    nucleus_voxels = np.bincount(nuclei_crop.ravel(), minlength=n + 1)[1:]
    centroids = np.array(ndi.center_of_mass(np.ones_like(cell_crop), cell_crop, ids)) \
        if n else np.zeros((0, params.ndim))
    border = _touches_border(cell_crop, n)
    mito = pd.DataFrame(mito_records, columns=["mito_id", "cell_id", "kind", "length_um",
                                               "branches", "junctions", "voxels"])
    per_cell = mito.groupby("cell_id").agg(
        mito_count=("mito_id", "size"), mito_voxels=("voxels", "sum"),
        mito_length_um=("length_um", "sum"), mito_branches=("branches", "sum"),
        mito_junctions=("junctions", "sum"),
        n_puncta=("kind", lambda k: int((k == "punctum").sum())),
        n_tubules=("kind", lambda k: int((k == "tubule").sum())),
        n_networks=("kind", lambda k: int((k == "network").sum())),
    ).reindex(ids, fill_value=0)
    size = "area_um2" if params.ndim == 2 else "volume_um3"
    table = pd.DataFrame({
        "cell_id": ids,
        "population": [c.population for c in cells],
        "efflux": [c.efflux for c in cells],
        "cell_cycle": [c.cell_cycle for c in cells],
        "dna_content": [c.dna_content for c in cells],
        "hoechst_dimming": [c.hoechst_dimming for c in cells],
        "hoechst_integrated_true": integral[:n] if n else [],
        "mito_count": per_cell["mito_count"].to_numpy(int),
        "mito_count_target": [c.mito_target for c in cells],
        "mito_size": per_cell["mito_voxels"].to_numpy() * voxel,
        "mito_length_um": per_cell["mito_length_um"].to_numpy(float),
        "mito_branches": per_cell["mito_branches"].to_numpy(int),
        "mito_junctions": per_cell["mito_junctions"].to_numpy(int),
        "n_puncta": per_cell["n_puncta"].to_numpy(int),
        "n_tubules": per_cell["n_tubules"].to_numpy(int),
        "n_networks": per_cell["n_networks"].to_numpy(int),
        f"cell_{size}": cell_voxels * voxel,
        f"nucleus_{size}": nucleus_voxels * voxel,
        "touches_border": border,
    })
    for axis, name in enumerate("zyx"[-params.ndim:]):
        table[f"centroid_{name}"] = centroids[:, axis] if n else []
    return table[table[f"cell_{size}"] > 0].reset_index(drop=True)


def _touches_border(labels: np.ndarray, n: int) -> np.ndarray:
    """Whether each label 1..n touches the lateral field edge."""
    edge = np.zeros(n + 1, bool)
    for axis in (-2, -1):
        for index in (0, -1):
            edge[np.unique(np.take(labels, index, axis=axis))] = True
    return edge[1:]


def _relabel(cells, nuclei, mito, truth, mito_truth, keep):
    """Renumber visible cells 1..N (nuclei share their cell's id) and mitochondria 1..M."""
    cell_map = np.zeros(int(cells.max(initial=0)) + 1, np.uint16)
    cell_map[keep] = np.arange(1, len(keep) + 1)
    mito_map = np.zeros(int(mito.max(initial=0)) + 1, np.uint32)
    mito_map[mito_truth["mito_id"].to_numpy(dtype=np.int64)] = np.arange(1, len(mito_truth) + 1)
    truth = truth.assign(cell_id=cell_map[truth["cell_id"].to_numpy(dtype=np.int64)])
    mito_truth = mito_truth.assign(
        mito_id=np.arange(1, len(mito_truth) + 1),
        cell_id=cell_map[mito_truth["cell_id"].to_numpy(dtype=np.int64)])
    return cell_map[cells], cell_map[nuclei], mito_map[mito], truth, mito_truth


# ---------------------------------------------------------------------------- writing


def write_field(synthetic: SyntheticField, out_dir: str | Path, name: str,
                preview: bool = True) -> Path:
    """Write ``<name>.ome.tif`` and ``<name>.truth/`` (labels, truth.csv, mito.csv).

    Parameters
    ----------
    synthetic : SyntheticField
        The field to write.
    out_dir : path-like
        Output folder.
    name : str
        Field name (file stem).
    preview : bool
        Also write ``<name>.preview.png``.

    Returns
    -------
    Path
        The image file written.
    """
    out_dir = Path(out_dir)
    voxel_size_um = synthetic.params.voxel_size_um
    image_path = out_dir / f"{name}.ome.tif"
    write_ome_tiff(image_path, synthetic.image, synthetic.axes, voxel_size_um, CHANNEL_NAMES,
                   uuid_key=f"{name}/image")
    truth_dir = out_dir / f"{name}.truth"
    for label_name in ("cells", "nuclei", "mito"):
        write_labels(truth_dir / f"{label_name}.ome.tif", getattr(synthetic, label_name),
                     voxel_size_um, uuid_key=f"{name}/{label_name}")
    _write_csv(truth_dir / "truth.csv", synthetic.truth)
    _write_csv(truth_dir / "mito.csv", synthetic.mito_truth)
    if preview:
        write_preview(synthetic, out_dir / f"{name}.preview.png")
    return image_path


def _write_csv(path: Path, table: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")


def preview_rgb(synthetic: SyntheticField) -> np.ndarray:
    """An RGB uint8 composite with the truth cell outlines in white.

    Mito magenta, cell green, hoechst blue. 3-D: hoechst, cell and outlines from the middle
    plane, mitochondria as a maximum projection.
    """

    def plane(channel: np.ndarray, project: bool) -> np.ndarray:
        if channel.ndim == 3:
            channel = channel.max(axis=0) if project else channel[channel.shape[0] // 2]
        return channel

    def norm(image: np.ndarray) -> np.ndarray:
        low, high = np.percentile(image, (1, 99.7))
        return np.clip((image - low) / max(high - low, 1e-9), 0, 1)

    hoechst = norm(plane(synthetic.channel("hoechst"), project=False))
    cell = norm(plane(synthetic.channel("cell"), project=False))
    mito = norm(plane(synthetic.channel("mito"), project=True))
    rgb = np.stack([mito, cell * 0.8, np.clip(hoechst + 0.6 * mito, 0, 1)], axis=-1)
    rgb[find_boundaries(plane(synthetic.cells, project=False), mode="inner")] = 1.0
    return (rgb * 255).astype(np.uint8)


def write_preview(synthetic: SyntheticField, path: str | Path) -> None:
    """Write :func:`preview_rgb` as a PNG."""
    from PIL import Image

    with atomic_path(path) as tmp:
        Image.fromarray(preview_rgb(synthetic)).save(tmp, format="PNG")


# ------------------------------------------------------------------- sets and plates

SHEET_COLUMNS = ["path", "image_id", "plate", "well", "field", "replicate", "condition", "role",
                 "population", "inhibitor", "cell_line"]


@dataclass(frozen=True)
class _FieldPlan:
    name: str
    params: SynthParams
    sheet: dict


def _plan_fields(mode: str, n_fields: int, replicates: int, params: SynthParams
                 ) -> list[_FieldPlan]:
    """The fields of a set: independent fields, a plate, or sorted SP/MP images."""
    plans: list[_FieldPlan] = []
    if mode == "fields":
        for f in range(n_fields):
            plans.append(_FieldPlan(f"field_{f:03d}", params, {
                "image_id": f"field_{f:03d}", "field": f, "replicate": 1, "role": "test",
                "population": "unsorted", "condition": "untreated"}))
        return plans
    for rep in range(1, replicates + 1):
        if mode == "plate":
            wells = [("A", "inhibitor_control", "verapamil", replace(params, efflux_blocked=True),
                      "unsorted"),
                     ("B", "test", "", params, "unsorted")]
        elif mode == "sorted":
            wells = [("A", "test", "", replace(params, population="SP"), "SP"),
                     ("B", "test", "", replace(params, population="MP"), "MP")]
        else:
            raise ValueError(f"unknown synthetic mode {mode!r} (fields, plate, sorted)")
        for row, role, inhibitor, well_params, population in wells:
            well = f"{row}{rep:02d}"
            for f in range(n_fields):
                name = f"P1_{well}_f{f:02d}"
                plans.append(_FieldPlan(name, well_params, {
                    "image_id": name, "plate": "P1", "well": well, "field": f,
                    "replicate": rep, "condition": "untreated", "role": role,
                    "population": population, "inhibitor": inhibitor,
                    "cell_line": "synthetic_myeloma"}))
    return plans


def write_synthetic_set(out_dir: str | Path, params: SynthParams, n_fields: int, seed: int,
                        mode: str = "fields", replicates: int = 3, preview: bool = True,
                        progress: bool = False) -> pd.DataFrame:
    """Write a set of synthetic fields, their truth and ``sheet.csv``.

    Parameters
    ----------
    out_dir : path-like
        Output folder (created).
    params : SynthParams
        Base parameters; plate and sorted modes change the population and inhibitor per well.
    n_fields : int
        Fields (``mode="fields"``) or fields per well (plate and sorted modes).
    seed : int
        Seed of the set; field ``i`` uses ``SeedSequence([seed, i])``.
    mode : {"fields", "plate", "sorted"}
        Independent fields; a plate with inhibitor-control (row A) and test (row B) wells per
        replicate; or sorted SP (row A) and MP (row B) wells per replicate.
    replicates : int
        Biological replicates (plate and sorted modes).
    preview : bool
        Write a preview PNG per field.
    progress : bool
        Show a progress bar.

    Returns
    -------
    DataFrame
        The sample sheet written to ``out_dir/sheet.csv`` (paths relative to it).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plans = _plan_fields(mode, n_fields, replicates, params)
    rows = []
    iterator = plans
    if progress:
        from tqdm import tqdm

        iterator = tqdm(plans, desc="synthesising", unit="field")
    for index, plan in enumerate(iterator):
        synthetic = make_field(plan.params, np.random.SeedSequence([seed, index]))
        path = write_field(synthetic, out_dir, plan.name, preview=preview)
        rows.append({"path": path.name, **plan.sheet})
    sheet = pd.DataFrame(rows).reindex(columns=SHEET_COLUMNS)
    _write_csv(out_dir / "sheet.csv", sheet)
    write_text_atomic(out_dir / "synth_params.json", _params_json(params, seed, mode))
    return sheet


def _params_json(params: SynthParams, seed: int, mode: str) -> str:
    import json

    return json.dumps({"seed": seed, "mode": mode, **asdict(params)}, indent=2) + "\n"


def synth_command(args: argparse.Namespace) -> int:
    """``spmito synth``: write a synthetic set and say what was written."""
    params = SynthParams.for_ndim(
        args.ndim, size_px=args.size_px, pixel_size_um=args.pixel_size, z_step_um=args.z_step,
        sp_fraction=args.sp_fraction, sp_mito_ratio=args.sp_mito_ratio, snr=args.snr,
        mito_gap_um=args.mito_gap, density=args.density, mito_layout=args.mito_layout,
        numerical_aperture=args.na, mito_haze=args.mito_haze,
        mito_saturation=args.mito_saturation, camera_gain=args.camera_gain,
        camera_offset=args.camera_offset, bit_depth=args.bit_depth)
    sheet = write_synthetic_set(args.out, params, args.fields, args.seed, mode=args.mode,
                                replicates=args.replicates, preview=args.preview, progress=True)
    out = Path(args.out)
    print(f"wrote {len(sheet)} {args.ndim}-D field(s) to {out}/ "
          f"(voxel size {params.voxel_size_um} µm):")
    print(f"  <field>.ome.tif           channels {', '.join(CHANNEL_NAMES)}")
    print("  <field>.truth/            cells/nuclei/mito.ome.tif, truth.csv, mito.csv")
    if args.preview:
        print("  <field>.preview.png       colour preview with truth cell outlines")
    print(f"  sheet.csv                 sample sheet ({args.mode} mode)")
    return 0
