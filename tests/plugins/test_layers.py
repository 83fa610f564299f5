"""Reader, writer, sample data and 3-D review on napari layers, without a viewer."""

from __future__ import annotations

import napari
import numpy as np
import pytest
from matplotlib.colors import to_rgb

import spmito.imaging.pipeline
from spmito.imaging.errors import SpmitoInputError
from spmito.imaging.io import read_labels
from spmito.plugins._reader import (
    get_reader,
    open_output_folder,
    plate_images,
    read_image_file,
    read_output_folder,
)
from spmito.plugins._sample_data import synthetic_stack
from spmito.plugins._writer import write_labels_layer
from spmito.plugins.analysis import analyse, parse_pixel_size
from spmito.plugins.layers import image_layers, stack_from_channels
from spmito.plugins.plate import QC_COLUMNS, qc_warnings
from spmito.plugins.review import ReviewSession
from spmito.plugins.review_table import CLASS_COLOURS
from tests.plugins.conftest import CONTROL_ID, IMAGE_ID
from tests.plugins.fake_science import patch_pipeline


def test_reader_claims_image_folders_and_tiffs_only(output_folder, tmp_path):
    image_dir = output_folder / "images" / IMAGE_ID
    assert get_reader(str(image_dir)) is open_output_folder
    assert get_reader([str(image_dir)]) is open_output_folder
    assert get_reader(str(output_folder)) is open_output_folder, "napari DIR on a plate"
    assert get_reader(str(image_dir / "cells.ome.tif")) is read_image_file
    (tmp_path / "notes.txt").write_text("x")
    assert get_reader(str(tmp_path / "notes.txt")) is None


def test_output_folder_opens_as_channels_labels_and_features(output_folder):
    layers = read_output_folder(str(output_folder / "images" / IMAGE_ID))
    names = [kwargs["name"] for _, kwargs, _ in layers]
    assert names == [f"{IMAGE_ID} {n}" for n in ("hoechst", "cell", "mito", "nuclei",
                                                   "mitochondria", "cells", "selection")]
    kinds = [kind for _, _, kind in layers]
    assert kinds == ["image"] * 3 + ["labels"] * 4
    voxel_size_um = read_labels(output_folder / "images" / IMAGE_ID / "cells.ome.tif")[1]
    assert all(tuple(kwargs["scale"]) == voxel_size_um and kwargs["units"] == "µm"
               for _, kwargs, _ in layers)
    cells_data, cells_kwargs, _ = layers[-2]
    session = cells_kwargs["metadata"]["spmito"]
    assert isinstance(session, ReviewSession) and session.role == "test"
    features = cells_kwargs["features"]
    assert features["index"].tolist() == features["cell_id"].tolist()
    assert set(features["population"]) <= {"SP", "MP"} and "hoechst_x" in features
    assert layers[0][1]["colormap"] == "blue" and layers[2][1]["colormap"] == "magenta"
    colours = cells_kwargs["colormap"].color_dict  # coloured by class from the start
    sp = features.loc[features["population"] == "SP", "index"].iloc[0]
    np.testing.assert_allclose(colours[int(sp)][:3], to_rgb(CLASS_COLOURS["SP"]), atol=0.01)


def test_a_plate_folder_opens_on_its_test_image(output_folder):
    layers = read_output_folder(str(output_folder))
    assert {kwargs["metadata"]["spmito_image"] for _, kwargs, _ in layers} == {IMAGE_ID}
    assert plate_images(output_folder) == [IMAGE_ID, CONTROL_ID]


def test_a_tiff_without_pixel_size_opens_in_pixels_and_says_where_to_type_it(tmp_path):
    import tifffile

    path = tmp_path / "no_size.tif"
    tifffile.imwrite(path, np.zeros((3, 32, 32), np.uint16), metadata={"axes": "CYX"})
    with pytest.warns(UserWarning, match="records no pixel size.*Segment & measure.*0,65"):
        layers = read_image_file(str(path))
    assert len(layers) == 3
    assert all(kwargs["units"] == "pixel" and tuple(kwargs["scale"]) == (1.0, 1.0)
               for _, kwargs, _ in layers)


@pytest.mark.parametrize(("text", "ndim", "expected"), [
    ("0.65", 2, (0.65, 0.65)), ("0,65", 2, (0.65, 0.65)), (" 0,65 ; 0,7 ", 2, (0.65, 0.7)),
    ("0.3, 0.1, 0.1", 3, (0.3, 0.1, 0.1)), ("0,3; 0,65", 3, (0.3, 0.65, 0.65)),
    ("0.1x0.1", 2, (0.1, 0.1))])
def test_pixel_size_takes_a_decimal_point_or_comma(text, ndim, expected):
    assert parse_pixel_size(text, ndim) == pytest.approx(expected)


@pytest.mark.parametrize(("text", "ndim"), [("abc", 2), ("0", 2), ("0,65", 3), ("1;2;3", 2)])
def test_a_bad_pixel_size_says_how_to_type_it(text, ndim):
    with pytest.raises(SpmitoInputError, match="e.g. 0.65 or 0,65"):
        parse_pixel_size(text, ndim)


def test_qc_warnings_without_a_qc_csv_are_none(tmp_path):
    assert qc_warnings(tmp_path).empty and list(qc_warnings(tmp_path)) == list(QC_COLUMNS)


def test_writer_keeps_labels_and_pixel_size(tmp_path):
    labels = np.zeros((3, 8, 8), np.uint16)
    labels[1, 2:5, 2:5] = 7
    layer = napari.layers.Labels(labels, scale=(0.3, 0.1, 0.1), units="µm")
    [written] = write_labels_layer(str(tmp_path / "l.ome.tif"), labels, layer._get_state())
    back, voxel_size_um = read_labels(written)
    assert np.array_equal(back, labels) and voxel_size_um == pytest.approx((0.3, 0.1, 0.1))


def test_writer_refuses_a_layer_without_physical_units(tmp_path):
    layer = napari.layers.Labels(np.zeros((4, 4), np.uint16))
    with pytest.raises(SpmitoInputError, match="pixel size is unknown"):
        write_labels_layer(str(tmp_path / "l.ome.tif"), layer.data, layer._get_state())


def test_sample_stack_layers_carry_roles_and_scale():
    layers = image_layers(synthetic_stack(3, size_px=64, n_z=8, pixel_size_um=0.3), "s")
    assert [kwargs["metadata"]["spmito_role"] for _, kwargs, _ in layers] == [
        "hoechst", "cell", "mito"]
    assert layers[0][0].shape == (8, 64, 64) and layers[0][1]["scale"] == (0.3, 0.3, 0.3)


def test_channels_of_different_shapes_are_refused():
    with pytest.raises(SpmitoInputError, match="one shape"):
        stack_from_channels({"hoechst": np.zeros((4, 4)), "mito": np.zeros((4, 5))},
                            (0.1, 0.1))


@pytest.fixture(scope="module")
def field_3d():
    from spmito.imaging.synthetic import SynthParams, make_field

    return make_field(SynthParams.for_ndim(3, size_px=96, n_z=12, pixel_size_um=0.3), seed=2)


def test_3d_review_splits_through_every_plane_and_undoes(field_3d, monkeypatch):
    patch_pipeline(monkeypatch, field_3d)
    stack = synthetic_stack(3, seed=2, size_px=96, n_z=12, pixel_size_um=0.3)
    session = analyse(stack, spmito.imaging.pipeline.RunParams(), image_id="z")
    session.attach(napari.layers.Labels(session.result.cells, scale=stack.voxel_size_um))
    cell_id = int(session.result.cell_table.sort_values("cell_volume_um3")["cell_id"].iloc[-1])
    zs, ys, xs = np.nonzero(session.cells == cell_id)
    z, x = int(np.median(zs)), float(np.median(xs))
    new_id = session.next_free_id()
    changed = session.split_by_line(np.array([[z, ys.min() - 2, x], [z, ys.max() + 2, x]]))
    assert changed == (cell_id, new_id)
    planes = np.unique(np.nonzero(session.cells == new_id)[0])
    assert planes.size > 1, "the cut runs through every plane of the cell"
    assert "centroid_z" in session.shown_features
    session.undo()
    assert not (session.cells == new_id).any()
