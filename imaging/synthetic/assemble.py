"""Assembling one synthetic field and its truth tables (:func:`make_field`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import ndimage as ndi

from spmito.imaging.synthetic.geometry import (
    _add_nuclei,
    _assign_states,
    _Canvas,
    _Cell,
    _deep_inside,
    _place_cells,
    _rasterize_ellipsoids,
)
from spmito.imaging.synthetic.mitochondria import _analysis_regions, _place_mitochondria
from spmito.imaging.synthetic.params import CHANNEL_NAMES, SyntheticField, SynthParams
from spmito.imaging.synthetic.render import (
    _camera,
    _cell_signal,
    _emission_um,
    _hoechst_signal,
    _illumination,
    _mito_signal,
    _noise_std,
    _psf_sigma_px,
    _saturated,
)
from spmito.measure.objects.labelstats import labels_on_lateral_edge


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
    border = labels_on_lateral_edge(cell_crop, ids)
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
