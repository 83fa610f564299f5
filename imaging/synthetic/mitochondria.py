"""Mitochondria of a synthetic field: shapes and their placement in each cell.

Puncta, tubules and branched networks, placed inside each cell's analysis region and kept
``mito_gap_um`` apart, so that each is one connected component of the truth labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from spmito.imaging.synthetic.geometry import _Canvas, _Cell, _deep_inside, _ellipsoid_footprint
from spmito.imaging.synthetic.params import MITO_LAYOUT_WEIGHTS, SynthParams


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
