"""Reader, writer, sample data and 3-D review on napari layers, without a viewer."""

from __future__ import annotations

import napari
import numpy as np
import pytest

import imaging.pipeline
from imaging.errors import SpmitoInputError
from imaging.io import read_labels
from plugins._reader import get_reader, read_image_file, read_output_folder
from plugins._sample_data import synthetic_stack
from plugins._writer import write_labels_layer
from plugins.analysis import analyse
from plugins.layers import image_layers, stack_from_channels
from plugins.review import ReviewSession
from tests.plugins.conftest import IMAGE_ID
from tests.plugins.fake_science import patch_pipeline


def test_reader_claims_image_folders_and_tiffs_only(output_folder, tmp_path):
    image_dir = output_folder / "images" / IMAGE_ID
    assert get_reader(str(image_dir)) is read_output_folder
    assert get_reader([str(image_dir)]) is read_output_folder
    assert get_reader(str(output_folder)) is None, "two images: the user picks one"
    assert get_reader(str(image_dir / "cells.ome.tif")) is read_image_file
    (tmp_path / "notes.txt").write_text("x")
    assert get_reader(str(tmp_path / "notes.txt")) is None


def test_output_folder_opens_as_channels_labels_and_features(output_folder):
    layers = read_output_folder(str(output_folder / "images" / IMAGE_ID))
    names = [kwargs["name"] for _, kwargs, _ in layers]
    assert names == [f"{IMAGE_ID} {n}" for n in ("hoechst", "cell", "mito", "nuclei",
                                                   "mitochondria", "cells")]
    kinds = [kind for _, _, kind in layers]
    assert kinds == ["image"] * 3 + ["labels"] * 3
    spacing = read_labels(output_folder / "images" / IMAGE_ID / "cells.ome.tif")[1]
    assert all(tuple(kwargs["scale"]) == spacing and kwargs["units"] == "µm"
               for _, kwargs, _ in layers)
    cells_data, cells_kwargs, _ = layers[-1]
    session = cells_kwargs["metadata"]["spmito"]
    assert isinstance(session, ReviewSession) and session.role == "test"
    features = cells_kwargs["features"]
    assert features["index"].tolist() == features["cell_id"].tolist()
    assert set(features["population"]) <= {"SP", "MP"} and "hoechst_x" in features
    assert layers[0][1]["colormap"] == "blue" and layers[2][1]["colormap"] == "magenta"


def test_writer_keeps_labels_and_pixel_size(tmp_path):
    labels = np.zeros((3, 8, 8), np.uint16)
    labels[1, 2:5, 2:5] = 7
    layer = napari.layers.Labels(labels, scale=(0.3, 0.1, 0.1), units="µm")
    [written] = write_labels_layer(str(tmp_path / "l.ome.tif"), labels, layer._get_state())
    back, spacing = read_labels(written)
    assert np.array_equal(back, labels) and spacing == pytest.approx((0.3, 0.1, 0.1))


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
    from imaging.synthetic import SynthParams, make_field

    return make_field(SynthParams.for_ndim(3, size_px=96, n_z=12, pixel_size_um=0.3), seed=2)


def test_3d_review_splits_through_every_plane_and_undoes(field_3d, monkeypatch):
    patch_pipeline(monkeypatch, field_3d)
    stack = synthetic_stack(3, seed=2, size_px=96, n_z=12, pixel_size_um=0.3)
    session = analyse(stack, imaging.pipeline.RunParams(), image_id="z")
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
