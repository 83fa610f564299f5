"""Real yeast stacks against MitoGraph's own numbers (a reference from another tool).

One budding-yeast cell per stack, voxel 0.056 x 0.056 x 0.2 µm (not in the files). The cell is
the whole stack and there is no nucleus, so K is the whole stack.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import tifffile

from measure.cells import measure_cells
from segment.mito import segment_mitochondria

SPACING_UM = (0.2, 0.056, 0.056)
FILES = [f"BuddingYeastGlucose0{i}" for i in range(1, 6)]


@pytest.mark.real_data
def test_volume_and_length_agree_with_mitograph_within_30_percent(real_data):
    folder = real_data / "mitograph_yeast"
    reference = pd.read_csv(folder / "reference_mitograph_outputs.csv").set_index("file")
    for name in FILES:
        image = tifffile.imread(folder / f"{name}.tif")
        labels = segment_mitochondria(image, SPACING_UM)
        whole_stack = np.ones(image.shape, np.int32)
        row = measure_cells(whole_stack, np.zeros_like(whole_stack), labels, SPACING_UM,
                            hoechst_img=np.zeros_like(image), mito_img=image).iloc[0]
        expected = reference.loc[name]
        assert row["mito_volume_um3"] == pytest.approx(expected["volume_from_voxels_um3"],
                                                       rel=0.3), name
        assert row["mito_skeleton_length_um"] == pytest.approx(expected["total_length_um"],
                                                               rel=0.3), name
