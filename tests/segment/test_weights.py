"""Model resolution never downloads, says what to do, and never executes pickled code."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from spmito.segment.cells import segment_cells
from spmito.segment.weights import (
    BUNDLED_MODELS,
    ModelFormatError,
    ModelNotFoundError,
    file_sha256,
    inference_settings,
    load_state_dict,
    resolve_model,
)


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    cache = tmp_path / "cellpose-cache"
    cache.mkdir()
    monkeypatch.setenv("CELLPOSE_LOCAL_MODELS_PATH", str(cache))
    return cache


def test_a_missing_model_file_is_named_in_the_error(tmp_path):
    missing = tmp_path / "models" / "my_cells.pt"
    with pytest.raises(ModelNotFoundError, match="does not exist") as error:
        resolve_model(missing)
    assert str(missing) in str(error.value)


def test_an_uncached_cellpose_name_says_where_it_looked_and_how_to_fetch_it(empty_cache):
    with pytest.raises(ModelNotFoundError) as error:
        resolve_model("cyto3")
    message = str(error.value)
    for expected in ("'cyto3'", str(empty_cache), "CELLPOSE_LOCAL_MODELS_PATH",
                     "never downloads", "CellposeModel(model_type='cyto3')"):
        assert expected in message
    assert list(empty_cache.iterdir()) == []  # nothing was downloaded


def test_segmenting_with_an_uncached_name_fails_before_any_download(empty_cache):
    image = np.zeros((64, 64), np.uint16)
    with pytest.raises(ModelNotFoundError, match="nuclei"):
        segment_cells(image, None, (0.5, 0.5), model="nuclei", device="cpu")
    assert list(empty_cache.iterdir()) == []


def test_a_misspelt_name_is_refused_instead_of_falling_back(empty_cache):
    with pytest.raises(ModelNotFoundError, match="neither a model file nor a Cellpose model"):
        resolve_model("cyto33")


def test_a_cached_cellpose_name_resolves_to_the_cache_file(empty_cache):
    (empty_cache / "nucleitorch_0").write_bytes(b"weights")
    ref = resolve_model("nuclei")
    assert ref.path == empty_cache / "nucleitorch_0"
    assert ref.pretrained and ref.sha256 == file_sha256(ref.path)


class _Payload:
    """Unpickling this would create a file: the loader must refuse it."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_weights_that_would_execute_code_are_refused_and_not_run(tmp_path):
    torch = pytest.importorskip("torch")
    marker = tmp_path / "pwned"
    weights = tmp_path / "evil.pt"
    torch.save({"output.2.weight": _Payload(marker)}, weights)
    with pytest.raises(ModelFormatError, match="without executing code"):
        load_state_dict(resolve_model(weights))
    assert not marker.exists()


def test_cellpose_sam_weights_are_recognised(tmp_path):
    torch = pytest.importorskip("torch")
    weights = tmp_path / "cpsam.pt"
    torch.save({"W2": torch.zeros(2), "encoder.patch_embed.proj.weight": torch.zeros(1)},
               weights)
    with pytest.raises(ModelFormatError, match="Cellpose-SAM"):
        load_state_dict(resolve_model(weights))


def test_bundled_models_are_half_precision_and_small():
    torch = pytest.importorskip("torch")
    total_bytes = 0
    for kind, path in BUNDLED_MODELS.items():
        ref = resolve_model("bundled", kind)
        assert ref.path == path and ref.sha256 == file_sha256(path)
        state = torch.load(path, map_location="cpu", weights_only=True)
        floats = [v for v in state.values() if v.is_floating_point()]
        assert all(v.dtype == torch.float16 for v in floats)
        total_bytes += path.stat().st_size
        assert path.with_suffix(".json").is_file()  # the training recipe
    assert total_bytes <= 15 * 2**20


def _copy_nucleus_model(folder, name, inference=None):
    weights = folder / f"{name}.pt"
    shutil.copyfile(BUNDLED_MODELS["nuclei"], weights)
    if inference is not None:
        weights.with_suffix(".json").write_text(json.dumps({"inference": inference}))
    return weights


def test_a_model_runs_at_the_diameter_and_thresholds_its_recipe_gives(tmp_path):
    from spmito.segment.backends import get_backend
    from spmito.segment.nuclei import segment_nuclei

    plain = _copy_nucleus_model(tmp_path, "plain")
    tuned = _copy_nucleus_model(tmp_path, "tuned", {"diameter_px": 25.5,
                                                    "cellprob_threshold": -0.75,
                                                    "flow_threshold": 0.6})
    without = get_backend(str(plain), "nuclei", "cpu")
    # the weights' training diameter and Cellpose's defaults
    assert (without.diameter_px, without.cellprob_threshold, without.flow_threshold) == (
        17.0, 0.0, 0.4)
    image = np.zeros((64, 64), np.float32)
    image[20:40, 20:40] = 1.0
    run = segment_nuclei(image, (1.0, 1.0), 20.0, model=str(tuned), device="cpu").provenance
    assert run["network_diameter_px"] == 25.5 and run["cellprob_threshold"] == -0.75
    assert run["flow_threshold"] == 0.6
    assert run["network_zoom"] == [25.5 / 20.0, 25.5 / 20.0]
    given = segment_nuclei(image, (1.0, 1.0), 20.0, model=str(tuned), device="cpu",
                           cellprob_threshold=0.0, flow_threshold=0.4).provenance
    # the caller's values win
    assert (given["cellprob_threshold"], given["flow_threshold"]) == (0.0, 0.4)


def test_a_broken_recipe_beside_the_weights_is_named(tmp_path):
    weights = _copy_nucleus_model(tmp_path, "broken")
    weights.with_suffix(".json").write_text("{not json")
    with pytest.raises(ModelFormatError, match="broken.json"):
        inference_settings(resolve_model(weights))
