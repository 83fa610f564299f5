"""The TOML config: a mistyped [mito] key is refused when the file is read, naming key and file."""

from __future__ import annotations

import pytest

from spmito.imaging.errors import SpmitoInputError
from spmito.imaging.params import RunParams, resolve_params
from spmito.segment.mito import MitoParams


def test_a_mistyped_mito_key_is_refused_when_the_config_is_read(tmp_path):
    config = tmp_path / "run.toml"
    config.write_text("[mito]\nbackground_radius = 1.0\n", encoding="utf-8")
    with pytest.raises(SpmitoInputError) as caught:
        resolve_params({}, config)
    message = str(caught.value)
    assert "'background_radius'" in message and str(config) in message
    assert "background_radius_um" in message  # the fix lists the known keys


def test_a_mito_value_of_the_wrong_kind_is_refused_with_the_file(tmp_path):
    config = tmp_path / "run.toml"
    config.write_text('mito = "adaptive"\n', encoding="utf-8")
    with pytest.raises(SpmitoInputError, match="mito must be a table") as caught:
        resolve_params({}, config)
    assert str(config) in str(caught.value)


def test_the_mito_table_reaches_the_segmentation_typed(tmp_path):
    config = tmp_path / "run.toml"
    config.write_text("[mito]\nbackground_radius_um = 0.9\n", encoding="utf-8")
    params = resolve_params({}, config)
    assert params.mito == {"background_radius_um": 0.9}  # run.json keeps what was written
    assert params.mito_params == MitoParams(background_radius_um=0.9)
    assert RunParams().mito_params == MitoParams()


def test_the_doublet_solidity_bar_comes_from_the_flag_or_the_config_and_is_checked(tmp_path):
    config = tmp_path / "run.toml"
    config.write_text("doublet_min_solidity = 0\n", encoding="utf-8")
    assert resolve_params({}, config).doublet_min_solidity == 0.0
    assert resolve_params({"doublet_min_solidity": 0.8}, config).doublet_min_solidity == 0.8
    assert RunParams().doublet_min_solidity == 0.9  # domain.md's rule
    # a batch-level setting: changing it does not redo the per-image work
    assert RunParams(doublet_min_solidity=0).analysis_hash() == RunParams().analysis_hash()
    for wrong in (1.5, -0.1, "round", True):
        with pytest.raises(SpmitoInputError, match="doublet_min_solidity"):
            resolve_params({"doublet_min_solidity": wrong})


def test_the_nucleus_diameter_is_micrometres_or_auto(tmp_path):
    config = tmp_path / "run.toml"
    config.write_text('nucleus_diameter = "auto"\n', encoding="utf-8")
    assert resolve_params({}, config).nucleus_diameter_um == "auto"
    assert resolve_params({"nucleus_diameter": "AUTO"}).nucleus_diameter_um == "auto"
    assert resolve_params({"nucleus_diameter": "9.5"}).nucleus_diameter_um == 9.5
    for wrong in ("big", 0, -3, True):
        with pytest.raises(SpmitoInputError, match="nucleus_diameter"):
            resolve_params({"nucleus_diameter": wrong})
