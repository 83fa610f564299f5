"""Fixtures of the plugin tests: small synthetic fields, the pipeline stand-in, and a batch
output folder made from them."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from imaging.batch import ImageTask, process_image
from imaging.channels import roles_from_channel_names
from imaging.params import RunParams
from imaging.stack import Stack
from imaging.synthetic import CHANNEL_NAMES, SynthParams, make_field, write_field
from tests.plugins.fake_science import patch_pipeline

IMAGE_ID = "field_a"
CONTROL_ID = "field_c"

_FIELD = dict(size_px=256, pixel_size_um=0.25, sp_fraction=0.1)


@pytest.fixture(scope="session")
def field_2d():
    """64 x 64 µm (256 px of 0.25 µm), about 20 cells, 10 % SP."""
    return make_field(SynthParams.for_ndim(2, **_FIELD), seed=3)


@pytest.fixture(scope="session")
def control_field_2d():
    """Like ``field_2d`` with the efflux blocked (an inhibitor-control well)."""
    return make_field(SynthParams.for_ndim(2, efflux_blocked=True, **_FIELD), seed=4)


@pytest.fixture
def stack_2d(field_2d):
    return Stack(field_2d.image, field_2d.axes, CHANNEL_NAMES,
                 roles_from_channel_names(CHANNEL_NAMES), field_2d.params.spacing_um)


@pytest.fixture
def fake_pipeline(monkeypatch, field_2d, control_field_2d):
    """imaging.pipeline segments with the fields' truth and measures with a stand-in."""
    patch_pipeline(monkeypatch, field_2d, control_field_2d)


@pytest.fixture(scope="session")
def _batch_folder(tmp_path_factory, field_2d, control_field_2d):
    """What ``spmito run`` + report leave: per-image outputs of a test and a control image,
    run.json, and DIR/cells.csv with hoechst_x (normalised on the control), population and
    role."""
    root = tmp_path_factory.mktemp("batch")
    out_dir = root / "out"
    params = RunParams()
    tables = []
    with pytest.MonkeyPatch.context() as monkeypatch:
        patch_pipeline(monkeypatch, field_2d, control_field_2d)
        for image_id, field, role in ((IMAGE_ID, field_2d, "test"),
                                      (CONTROL_ID, control_field_2d, "inhibitor_control")):
            path = write_field(field, root / "input", image_id, preview=False)
            status = process_image(ImageTask(image_id, str(path)), params, out_dir)
            assert status.status == "done", status.message
            cells = pd.read_csv(out_dir / "images" / image_id / "cells.csv")
            tables.append(cells.assign(role=role))
    (out_dir / "run.json").write_text(json.dumps({"parameters_um": params.to_dict()}))
    cells = pd.concat(tables, ignore_index=True)
    log2_intensity = np.log2(cells["hoechst_integrated"].clip(lower=1.0))
    control = cells["role"] == "inhibitor_control"
    cells["hoechst_x"] = log2_intensity - np.median(log2_intensity[control])
    cells["population"] = np.where(cells["hoechst_x"] < -1.0, "SP", "MP")
    cells["population_source"] = "gate"
    cells["excluded"] = False
    cells.to_csv(out_dir / "cells.csv", index=False)
    return root


@pytest.fixture
def output_folder(tmp_path, _batch_folder, fake_pipeline):
    """A fresh copy of the batch output folder (done.json still names the inputs)."""
    shutil.copytree(_batch_folder / "out", tmp_path / "out")
    return tmp_path / "out"


def two_neighbours(labels):
    """Two different cells that touch (horizontally adjacent pixels)."""
    left, right = labels[:, :-1], labels[:, 1:]
    touching = (left > 0) & (right > 0) & (left != right)
    y, x = np.argwhere(touching)[0]
    return int(labels[y, x]), int(labels[y, x + 1])
