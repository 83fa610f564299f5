"""Fixtures of the plugin tests: a small synthetic field, the pipeline stand-in, a batch
output folder made from it."""

from __future__ import annotations

import json

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


@pytest.fixture(scope="session")
def field_2d():
    """64 x 64 µm (256 px of 0.25 µm), about 20 cells, 10 % SP."""
    return make_field(SynthParams.for_ndim(2, size_px=256, pixel_size_um=0.25,
                                           sp_fraction=0.1), seed=3)


@pytest.fixture
def stack_2d(field_2d):
    return Stack(field_2d.image, field_2d.axes, CHANNEL_NAMES,
                 roles_from_channel_names(CHANNEL_NAMES), field_2d.params.spacing_um)


@pytest.fixture
def fake_pipeline(monkeypatch, field_2d):
    """imaging.pipeline segments with the field's truth and measures with a stand-in."""
    patch_pipeline(monkeypatch, field_2d)


@pytest.fixture
def output_folder(tmp_path, field_2d, fake_pipeline):
    """``DIR`` after ``spmito run`` + report on the field: per-image outputs, run.json and a
    DIR/cells.csv with the batch's hoechst_x, population and role columns."""
    image_path = write_field(field_2d, tmp_path / "input", IMAGE_ID, preview=False)
    out_dir = tmp_path / "out"
    params = RunParams()
    status = process_image(ImageTask(IMAGE_ID, str(image_path)), params, out_dir)
    assert status.status == "done", status.message
    (out_dir / "run.json").write_text(json.dumps({"parameters_um": params.to_dict()}))
    cells = pd.read_csv(out_dir / "images" / IMAGE_ID / "cells.csv")
    log2_intensity = np.log2(cells["hoechst_integrated"].clip(lower=1.0))
    cells["hoechst_x"] = log2_intensity - np.median(log2_intensity)
    cells["population"] = np.where(cells["hoechst_x"] < -1.0, "SP", "MP")
    cells["population_source"] = "gate"
    cells["excluded"] = False
    cells["role"] = "test"
    cells.to_csv(out_dir / "cells.csv", index=False)
    return out_dir
