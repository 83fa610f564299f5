"""Cells and nuclei of a synthetic field: placement, rasterising, cell states."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from spmito.imaging.synthetic.params import SynthParams


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
