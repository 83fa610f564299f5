"""The cell method (Cellpose, or cells grown from nuclei) from flag/config to the labels."""

from __future__ import annotations

import pytest

from spmito.imaging.cli import _RUN_FLAGS, build_parser
from spmito.imaging.errors import SpmitoInputError
from spmito.imaging.params import RunParams, resolve_params
from spmito.imaging.pipeline import segment_stack
from spmito.imaging.stack import Stack
from spmito.imaging.synthetic import CHANNEL_NAMES, SynthParams, make_field
from spmito.segment.evaluation import average_precision_50
from spmito.segment.nuclei import nucleus_cell_agreement


def test_flags_and_config_choose_the_cell_method_and_its_reach(tmp_path):
    args = build_parser().parse_args(["run", "in.tif", "--out", "o", "--cell-method",
                                      "nuclei", "--cell-max-distance", "15"])
    params = resolve_params({name: getattr(args, name) for name in _RUN_FLAGS})
    assert (params.cell_method, params.cell_max_distance_um) == ("nuclei", 15.0)
    config = tmp_path / "run.toml"
    config.write_text('cell-method = "nuclei"\ncell_max_distance = 9\n', encoding="utf-8")
    from_config = resolve_params({"cell_method": None}, config)
    assert (from_config.cell_method, from_config.cell_max_distance_um) == ("nuclei", 9)
    assert resolve_params({"cell_method": "cellpose"}, config).cell_method == "cellpose"
    assert RunParams().cell_method == "cellpose"


def test_flags_and_config_turn_the_division_of_multinucleate_cells_off():
    assert RunParams().divide_multinucleate_cells is True
    args = build_parser().parse_args(["run", "in.tif", "--out", "o",
                                      "--no-divide-multinucleate-cells"])
    params = resolve_params({name: getattr(args, name) for name in _RUN_FLAGS})
    assert params.divide_multinucleate_cells is False


def test_a_switch_given_as_a_string_in_the_config_is_refused(tmp_path):
    config = tmp_path / "run.toml"
    config.write_text('divide_multinucleate_cells = "no"\n', encoding="utf-8")
    with pytest.raises(SpmitoInputError, match="divide_multinucleate_cells must be true or "
                                               "false, not 'no'"):
        resolve_params({}, config)
    config.write_text("divide_multinucleate_cells = false\n", encoding="utf-8")
    assert resolve_params({}, config).divide_multinucleate_cells is False


def test_an_unknown_cell_method_or_a_non_positive_reach_is_refused():
    with pytest.raises(SpmitoInputError, match="unknown cell method 'watershed'"):
        resolve_params({"cell_method": "watershed"})
    with pytest.raises(SpmitoInputError, match="positive"):
        resolve_params({"cell_max_distance": 0})
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "in.tif", "--out", "o", "--cell-method", "otsu"])


@pytest.fixture(scope="module")
def field():
    return make_field(SynthParams.for_ndim(2, size_px=256), 9003)


def _stack(field, roles):
    return Stack(field.image, "CYX", CHANNEL_NAMES, roles, field.params.voxel_size_um)


@pytest.mark.parametrize(("roles", "grown_over"), [
    ({"hoechst": 0, "cell": 1, "mito": 2}, "cell"),
    ({"hoechst": 0, "mito": 2}, "mito+hoechst"),
])
def test_the_pipeline_grows_one_cell_per_nucleus(field, roles, grown_over):
    params = RunParams(cell_method="nuclei", cell_diameter_um=12.0)
    cells, nuclei, _, provenance = segment_stack(_stack(field, roles), params)
    assert provenance["backend"] == "cells from nuclei"
    assert provenance["grown_over"] == grown_over and provenance["max_distance_um"] == 12.0
    agreement = nucleus_cell_agreement(cells, nuclei)
    assert agreement["n_cells"] == agreement["n_nuclei"] >= int(field.cells.max()) - 1
    assert agreement["cells_one_nucleus_fraction"] == 1.0
    assert average_precision_50(field.cells, cells) >= 0.9


def test_without_a_cell_channel_the_default_grows_cells_from_nuclei(field):
    """Hoechst and MitoTracker only, the cell model asked for (the default): the cells are
    grown from the nuclei, as large as the true cells. The cell model on the Hoechst alone
    drew nucleus-sized cells here (AP@0.5 0.0, median area 0.40x the truth; median 7.1 µm
    for 12 µm cells on a demo field, which halved every cell's mitochondria count)."""
    import numpy as np

    from spmito.imaging.pipeline import CELL_METHOD_WITHOUT_STAIN

    stack = _stack(field, {"hoechst": 0, "mito": 2})
    cells, nuclei, _, provenance = segment_stack(stack, RunParams(cell_diameter_um=12.0))
    assert provenance["backend"] == "cells from nuclei"
    assert provenance["grown_over"] == "mito+hoechst"
    assert provenance["cell_method"] == CELL_METHOD_WITHOUT_STAIN
    assert nucleus_cell_agreement(cells, nuclei)["cells_one_nucleus_fraction"] == 1.0
    assert average_precision_50(field.cells, cells) >= 0.9
    true_area, area = (np.bincount(labels.ravel())[1:] for labels in (field.cells, cells))
    assert np.median(area[area > 0]) >= 0.8 * np.median(true_area[true_area > 0])
    with_stain = segment_stack(_stack(field, {"hoechst": 0, "cell": 1, "mito": 2}),
                               RunParams(cell_diameter_um=12.0))[3]
    assert "cell_method" not in with_stain and with_stain["backend"] != "cells from nuclei"


def test_an_estimated_nucleus_diameter_finds_the_nuclei_the_given_one_does(field):
    """``nucleus_diameter = "auto"``: the size comes from the Hoechst channel (the truth's
    median is 7 µm here, the default 8 µm); the same nuclei are found."""
    stack = _stack(field, {"hoechst": 0, "cell": 1, "mito": 2})
    params = RunParams(cell_method="nuclei")
    _, given, _, _ = segment_stack(stack, params)
    _, estimated, _, provenance = segment_stack(
        stack, RunParams(cell_method="nuclei", nucleus_diameter_um="auto"))
    assert provenance["nuclei"]["diameter_estimated"] is True
    assert provenance["nuclei"]["diameter_um"] == pytest.approx(7.0, rel=0.2)
    assert average_precision_50(field.nuclei, estimated) >= average_precision_50(
        field.nuclei, given) - 0.05 >= 0.85


def test_an_implausible_estimate_fails_the_image_with_the_way_out(field):
    from spmito.imaging.pipeline import nucleus_diameter_um

    hoechst = field.channel("hoechst")
    auto = RunParams(nucleus_diameter_um="auto")
    assert nucleus_diameter_um(RunParams(), hoechst, (0.1, 0.1)) == (8.0, False)
    estimate, estimated = nucleus_diameter_um(auto, hoechst, (0.1, 0.1))
    assert estimated and 5 < estimate < 10
    # a pixel size ten times too small makes 0.7 µm nuclei
    with pytest.raises(SpmitoInputError, match="outside 3-40 µm") as caught:
        nucleus_diameter_um(auto, hoechst, (0.01, 0.01), "field.tif")
    assert "field.tif" in str(caught.value) and "--nucleus-diameter" in str(caught.value)


def test_nuclei_the_cell_model_leaves_out_get_cells_grown_for_them(field, monkeypatch):
    """A cell model that misses two cells: their nuclei still end up in cells of their own."""
    import numpy as np

    from spmito.imaging import pipeline
    from spmito.segment.backends import Segmentation

    missed = np.isin(field.cells, (1, 3))  # of the three cells of the field
    monkeypatch.setattr(pipeline, "segment_cells", lambda *args, **kwargs: Segmentation(
        labels=np.where(missed, 0, field.cells), provenance={"backend": "cellpose3"}))
    stack = _stack(field, {"hoechst": 0, "cell": 1, "mito": 2})
    cells, nuclei, _, provenance = segment_stack(stack, RunParams(cell_diameter_um=12.0))
    assert provenance["cells_grown_for_nuclei_outside_cells"] == 2
    assert provenance["grown_over"] == "cell"
    kept = ~missed & (field.cells > 0)
    assert np.array_equal(cells[kept], field.cells[kept])
    assert nucleus_cell_agreement(cells, nuclei)["nuclei_in_cell_fraction"] == 1.0
    assert average_precision_50(field.cells, cells) >= 0.9


@pytest.fixture(scope="module")
def neighbours_field():
    """A field whose cells 1 and 2 touch."""
    return make_field(SynthParams.for_ndim(2, size_px=256), 9005)


def _merged_cell_model(field, monkeypatch):
    """A cell model that draws the field's cells 1 and 2 (neighbours) as one cell."""
    import numpy as np

    from spmito.imaging import pipeline
    from spmito.segment.backends import Segmentation

    merged = np.where(field.cells == 2, 1, field.cells)
    monkeypatch.setattr(pipeline, "segment_cells", lambda *args, **kwargs: Segmentation(
        labels=merged, provenance={"backend": "cellpose3"}))
    return merged


def test_a_model_cell_with_two_nuclei_is_divided_between_them(neighbours_field, monkeypatch):
    import numpy as np
    from scipy import ndimage as ndi

    field = neighbours_field
    merged = _merged_cell_model(field, monkeypatch)
    assert np.any(ndi.binary_dilation(field.cells == 1) & (field.cells == 2))  # neighbours
    stack = _stack(field, {"hoechst": 0, "cell": 1, "mito": 2})
    cells, nuclei, _, provenance = segment_stack(stack, RunParams(cell_diameter_um=12.0))
    assert provenance["cells_divided_between_nuclei"] == 1
    assert provenance["cells_grown_for_nuclei_outside_cells"] == 0
    assert nucleus_cell_agreement(cells, nuclei)["cells_one_nucleus_fraction"] == 1.0
    assert average_precision_50(field.cells, cells) >= 0.9

    kept, *_, kept_provenance = segment_stack(
        stack, RunParams(cell_diameter_um=12.0, divide_multinucleate_cells=False))
    assert kept_provenance["cells_divided_between_nuclei"] == 0
    assert np.array_equal(kept, merged)
    assert nucleus_cell_agreement(kept, nuclei)["cells_one_nucleus_fraction"] < 1.0
