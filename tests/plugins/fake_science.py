"""A stand-in for segmentation and measurement, for plugin tests that test plumbing.

Segmentation returns the synthetic field's truth; measurement computes a few contract
columns in one ``bincount`` pass. The plugin calls :mod:`imaging.pipeline`, which is
patched to use these, so the widgets' path to the pipeline is the real one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import ndimage as ndi

from imaging.synthetic import SyntheticField


def fake_segment_stack(*fields: SyntheticField):
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


def fake_measure_labels(stack, cells, nuclei, mito, params):
    """Cell and mitochondrion tables of a few contract columns, one pass over the image."""
    spacing = stack.voxel_size_um
    size = "area_um2" if cells.ndim == 2 else "volume_um3"
    voxel = float(np.prod(spacing))
    n = int(cells.max(initial=0)) + 1
    ids = np.flatnonzero(np.bincount(cells.ravel(), minlength=n))
    ids = ids[ids > 0]
    hoechst = stack.channel("hoechst").astype(float)
    in_nucleus = nuclei > 0
    cell_voxels = np.bincount(cells.ravel(), minlength=n)
    nucleus_voxels = np.bincount(cells[in_nucleus], minlength=n)
    background = float(np.median(hoechst[cells == 0])) if (cells == 0).any() else 0.0
    hoechst_sum = np.bincount(cells[in_nucleus], weights=hoechst[in_nucleus] - background,
                              minlength=n)
    in_mito = mito > 0
    pairs = np.unique(np.stack([cells[in_mito], mito[in_mito]]), axis=1)
    mito_count = np.bincount(pairs[0], minlength=n)
    centroids = np.array(ndi.center_of_mass(np.ones(cells.shape), cells, ids)).reshape(
        -1, cells.ndim)
    table = pd.DataFrame({"cell_id": ids, f"cell_{size}": cell_voxels[ids] * voxel,
                          f"nucleus_{size}": nucleus_voxels[ids] * voxel,
                          "hoechst_integrated": hoechst_sum[ids],
                          "mito_count": mito_count[ids],
                          f"mito_{size}": np.bincount(cells[in_mito], minlength=n)[ids] * voxel})
    for axis, name in enumerate("zyx"[-cells.ndim:]):
        table[f"centroid_{name}"] = centroids[:, axis]
    table["touches_border"] = False
    mito_table = pd.DataFrame({"mito_id": pairs[1], "cell_id": pairs[0],
                               size: np.bincount(mito.ravel())[pairs[1]] * voxel})
    mito_table = mito_table[mito_table["cell_id"] > 0].drop_duplicates("mito_id")
    return table, mito_table.reset_index(drop=True)


def patch_pipeline(monkeypatch, *fields: SyntheticField) -> None:
    """Make :mod:`imaging.pipeline` segment with the truth and measure with the stand-in."""
    import imaging.pipeline

    monkeypatch.setattr(imaging.pipeline, "segment_stack", fake_segment_stack(*fields))
    monkeypatch.setattr(imaging.pipeline, "measure_labels", fake_measure_labels)
