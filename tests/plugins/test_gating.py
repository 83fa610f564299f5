"""The gating model on review sessions without Qt: pooled hoechst_x, live gate, gate file."""

from __future__ import annotations

import napari
import numpy as np
import pytest

from spmito.imaging import corrections
from spmito.plugins._reader import open_review
from spmito.plugins.gating import GatingModel, default_roles, normalise_on_controls
from tests.plugins.conftest import CONTROL_ID, IMAGE_ID


@pytest.fixture
def sessions(output_folder):
    opened = [open_review(output_folder, image_id) for image_id in (IMAGE_ID, CONTROL_ID)]
    for session in opened:
        session.attach(napari.layers.Labels(session.cells))
    return opened


def test_roles_split_test_from_control(sessions):
    test, control = default_roles(sessions)
    assert [s.image_id for s in test] == [IMAGE_ID]
    assert [s.image_id for s in control] == [CONTROL_ID]


def test_threshold_calls_kept_cells_of_every_image(sessions):
    model = GatingModel(*default_roles(sessions))
    x_test = model.hoechst_x("test")
    model.set_threshold(float(np.median(x_test)))
    assert model.sp_percent("test") == pytest.approx(100 * np.mean(x_test < np.median(x_test)))
    for session in sessions:
        features = session.layer.features
        expected = np.where(features["hoechst_x"] < model.threshold_x, "SP", "MP")
        assert features["population"].tolist() == expected.tolist()
        assert set(session.shown_features["population_source"]) == {"gate"}


def test_excluded_cells_are_not_pooled(sessions):
    model = GatingModel(*default_roles(sessions))
    n = model.hoechst_x("test").size
    test = model.test[0]
    test.toggle_excluded(int(test.result.cell_table["cell_id"].iloc[0]))
    assert model.hoechst_x("test").size == n - 1


def test_saved_gate_records_the_controls(sessions, output_folder):
    model = GatingModel(*default_roles(sessions))
    with pytest.raises(ValueError, match="threshold"):
        model.save(output_folder)
    model.set_threshold(-0.5)
    model.save(output_folder)
    gate = corrections.read_manual_gate(output_folder)
    control_x = model.hoechst_x("control")
    assert gate["alpha"] == pytest.approx(np.mean(control_x < -0.5))
    assert gate["reference_wells"] == [CONTROL_ID]
    assert corrections.read_edits(output_folder)[-1].detail["threshold_x"] == -0.5


def test_normalising_on_controls_uses_the_batch_g1_peak(sessions):
    population = pytest.importorskip("spmito.measure.analysis.population")
    test, control = default_roles(sessions)
    log2_ref = normalise_on_controls(sessions, control)
    features = control[0].features()
    expected = np.log2(features["hoechst_integrated"]) - log2_ref
    np.testing.assert_allclose(features["hoechst_x"], expected)
    kept = features[~features["excluded"].to_numpy(bool)]
    assert log2_ref == pytest.approx(population.g1_mode_log2(
        np.log2(kept["hoechst_integrated"])))
