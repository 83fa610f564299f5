"""Fixtures of the plugin tests: small synthetic fields segmented by their truth (the
measurement and the batch are the real ones), and a batch output folder made from them."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from spmito.imaging.batch import run_batch
from spmito.imaging.channels import roles_from_channel_names
from spmito.imaging.corrections import write_manual_gate
from spmito.imaging.params import RunParams
from spmito.imaging.stack import Stack
from spmito.imaging.synthetic import CHANNEL_NAMES, SynthParams, make_field, write_field
from tests.plugins.fake_science import patch_pipeline

IMAGE_ID = "field_a"
CONTROL_ID = "field_c"

#: The gate the batch fixture applies (a manual gate: the fields have too few control cells
#: for an automatic one).
BATCH_THRESHOLD_X = -0.1

_FIELD = dict(size_px=256, pixel_size_um=0.3, sp_fraction=0.1)


@pytest.fixture(scope="session")
def field_2d():
    """77 x 77 µm (256 px of 0.3 µm), about 30 cells, 10 % SP."""
    return make_field(SynthParams.for_ndim(2, **_FIELD), seed=3)


@pytest.fixture(scope="session")
def control_field_2d():
    """Like ``field_2d`` with the efflux blocked (an inhibitor-control well)."""
    return make_field(SynthParams.for_ndim(2, efflux_blocked=True, **_FIELD), seed=4)


@pytest.fixture
def stack_2d(field_2d):
    return Stack(field_2d.image, field_2d.axes, CHANNEL_NAMES,
                 roles_from_channel_names(CHANNEL_NAMES), field_2d.params.voxel_size_um)


@pytest.fixture
def truth_segmentation(monkeypatch, field_2d, control_field_2d):
    """spmito.imaging.pipeline segments the fields with their truth; no HTML report is built (the
    tests read the tables; the report needs Cellpose model files this checkout lacks)."""
    patch_pipeline(monkeypatch, field_2d, control_field_2d)
    monkeypatch.setattr("spmito.imaging.report_content.build_report", lambda *args, **kwargs: None)


@pytest.fixture(scope="session")
def _batch_folder(tmp_path_factory, field_2d, control_field_2d):
    """``spmito run`` on a test and an inhibitor-control image: ``root/out`` with per-image
    outputs and the batch tables (DIR/cells.csv with hoechst_x, population, role)."""
    root = tmp_path_factory.mktemp("batch")
    rows = []
    for image_id, field, role, well in ((IMAGE_ID, field_2d, "test", "B01"),
                                        (CONTROL_ID, control_field_2d, "inhibitor_control",
                                         "A01")):
        path = write_field(field, root / "input", image_id, preview=False)
        rows.append({"path": str(path), "image_id": image_id, "plate": "P1", "well": well,
                     "replicate": 1, "role": role, "population": "unsorted"})
    write_manual_gate(root / "out", BATCH_THRESHOLD_X)  # as if set in napari before
    with pytest.MonkeyPatch.context() as monkeypatch:
        patch_pipeline(monkeypatch, field_2d, control_field_2d)
        monkeypatch.setattr("spmito.imaging.report_content.build_report", lambda *a, **k: None)
        outcome = run_batch(pd.DataFrame(rows), root / "out", RunParams(), progress=False)
    assert [s.status for s in outcome.statuses] == ["done", "done"], outcome
    return root


@pytest.fixture
def output_folder(tmp_path, _batch_folder, truth_segmentation):
    """A fresh copy of the batch output folder (done.json still names the inputs)."""
    shutil.copytree(_batch_folder / "out", tmp_path / "out")
    return tmp_path / "out"


def two_neighbours(labels):
    """Two different cells that touch (horizontally adjacent pixels)."""
    left, right = labels[:, :-1], labels[:, 1:]
    touching = (left > 0) & (right > 0) & (left != right)
    y, x = np.argwhere(touching)[0]
    return int(labels[y, x]), int(labels[y, x + 1])
