"""Review sessions on napari Labels layers without a viewer: edits, undo, re-measure, save."""

from __future__ import annotations

import napari
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgba

import spmito.imaging.pipeline
import spmito.plugins.review
from spmito.imaging import corrections
from spmito.plugins._reader import open_review
from spmito.plugins.analysis import AnalysisCancelled, analyse
from spmito.plugins.review_table import CLASS_COLOURS, review_features
from spmito.segment.edits import EditError
from tests.plugins.conftest import IMAGE_ID, two_neighbours


@pytest.fixture
def session(stack_2d, truth_segmentation):
    session = analyse(stack_2d, spmito.imaging.pipeline.RunParams(), image_id=IMAGE_ID)
    session.attach(napari.layers.Labels(session.result.cells))
    return session


def _measured_ids(monkeypatch):
    """Record the cell ids each re-measure is asked for.

    The crop around the edited cells holds neighbours too (they are not background of the
    Hoechst annulus), so the test checks which rows change, not which labels were seen.
    """
    calls = []
    remeasure = spmito.imaging.pipeline.remeasure_cells

    def spy(stack, result, cell_ids, params=None, **kwargs):
        calls.append(sorted(int(i) for i in cell_ids))
        return remeasure(stack, result, cell_ids, params, **kwargs)

    monkeypatch.setattr(spmito.imaging.pipeline, "remeasure_cells", spy)
    monkeypatch.setattr(spmito.plugins.review, "remeasure_cells", spy)
    return calls


def test_features_carry_the_label_index(session):
    features = session.layer.features
    assert features["index"].tolist() == session.result.cell_table["cell_id"].tolist()
    assert set(np.unique(session.cells)) - {0} == set(features["index"])


def test_merge_is_one_undo_step_and_remeasures_only_the_merged_cells(session, monkeypatch):
    a, b = two_neighbours(session.cells)
    area = session.result.cell_table.set_index("cell_id")["cell_area_um2"]
    n_cells = len(session.result.cell_table)
    measured = _measured_ids(monkeypatch)
    paints = []
    session.layer.events.paint.connect(paints.append)

    session.select(a)
    session.select(b)
    session.merge()

    assert measured == [sorted((a, b))]
    table = session.result.cell_table.set_index("cell_id")
    others = [c for c in area.index if c not in (a, b)]
    pd.testing.assert_series_equal(table.loc[others, "cell_area_um2"], area.loc[others])
    assert max(a, b) not in table.index and len(table) == n_cells - 1
    assert table.at[min(a, b), "cell_area_um2"] == pytest.approx(area[a] + area[b])
    assert len(paints) == 1 and len(session.layer._undo_history) == 1
    assert session.layer.features["index"].tolist() == table.index.tolist()

    session.undo()
    assert (session.cells == max(a, b)).any()
    pd.testing.assert_series_equal(
        session.result.cell_table.set_index("cell_id")["cell_area_um2"], area)
    assert measured == [sorted((a, b))], "undo restores rows without re-measuring"
    session.redo()
    assert not (session.cells == max(a, b)).any()


def test_split_by_line_adds_a_cell_with_the_next_free_id(session):
    cell_id = int(session.result.cell_table.sort_values("cell_area_um2")["cell_id"].iloc[-1])
    ys, xs = np.nonzero(session.cells == cell_id)
    new_id = session.next_free_id()
    x_mid = int(np.median(xs))
    line = [(ys.min() - 2, x_mid), (ys.max() + 2, x_mid)]
    assert session.split_by_line(np.array(line)) == (cell_id, new_id)
    assert set(session.result.cell_table["cell_id"]) >= {cell_id, new_id}


def test_split_by_seeds_and_delete(session):
    cell_id = int(session.result.cell_table["cell_id"].iloc[0])
    ys, xs = np.nonzero(session.cells == cell_id)
    left = (np.median(ys), xs.min() + 2)
    right = (np.median(ys), xs.max() - 2)
    changed = session.split_by_seeds(np.array([left, right]))
    assert len(changed) == 2
    session.delete(changed)
    assert not np.isin(session.cells, changed).any()
    assert not session.result.cell_table["cell_id"].isin(changed).any()


def test_a_hand_painted_cell_is_measured(session):
    new_id = session.next_free_id()
    session.layer.selected_label = new_id
    session.layer.preserve_labels = True
    background = np.argwhere(session.cells == 0)[0]
    session.layer.paint(background, new_id)
    assert new_id in set(session.result.cell_table["cell_id"])
    assert session.unsaved[-1].action == "paint"
    session.undo()
    assert new_id not in set(session.result.cell_table["cell_id"])


def test_flip_population_and_exclusion_are_overrides_with_undo(session):
    cell_id = int(session.result.cell_table["cell_id"].iloc[0])
    assert session.toggle_population(cell_id) == "SP"
    features = session.layer.features.set_index("index")
    assert features.at[cell_id, "population"] == "SP"
    assert session.shown_features.set_index("index").at[cell_id,
                                                         "population_source"] == "manual"
    assert session.toggle_population(cell_id) == "MP"
    assert session.toggle_excluded(cell_id) is True
    assert session.layer.features.set_index("index").at[cell_id, "excluded"]
    session.undo()
    session.undo()
    assert session.overrides == {cell_id: ("SP", None)}
    colours = session.layer.colormap.color_dict
    np.testing.assert_allclose(colours[cell_id], [*to_rgba(CLASS_COLOURS["SP"])], atol=0.01)


def test_live_gate_calls_cells_and_overrides_win(session):
    ids = session.result.cell_table["cell_id"]
    x = pd.Series(np.linspace(-2, 1, len(ids)), index=ids.to_numpy())
    session.set_hoechst_x(x)
    session.toggle_population(int(ids.iloc[-1]))  # unclassified -> SP; the gate would say MP
    session.set_gate(-1.0)
    features = session.layer.features.set_index("index")
    expected = np.where(x < -1.0, "SP", "MP")
    expected[-1] = "SP"
    assert features["population"].tolist() == expected.tolist()


def test_edit_errors_leave_everything_unchanged(session):
    before = session.cells.copy()
    with pytest.raises(EditError, match="select cells first"):
        session.merge()
    with pytest.raises(EditError, match="crosses no cell"):
        session.split_by_line(np.array([[0, 0], [0, 1]]))
    assert np.array_equal(session.cells, before) and not session.can_undo


def test_cancel_stops_the_analysis(stack_2d, truth_segmentation):
    with pytest.raises(AnalysisCancelled):
        analyse(stack_2d, spmito.imaging.pipeline.RunParams(), image_id="x", cancelled=lambda: True)


def test_save_writes_the_corrections_and_reopening_shows_them(output_folder):
    session = open_review(output_folder, IMAGE_ID)
    session.attach(napari.layers.Labels(session.cells))
    a, b = two_neighbours(session.cells)
    session.merge([a, b])
    kept = int(session.result.cell_table["cell_id"].iloc[-1])
    session.toggle_population(kept)
    session.save()

    assert corrections.corrected_images(output_folder) == [IMAGE_ID]
    overrides = corrections.read_review(output_folder, IMAGE_ID)
    assert overrides["cell_id"].tolist() == [kept]
    assert [r.action for r in corrections.read_edits(output_folder)] == ["merge", "population",
                                                                          "save"]
    reopened = open_review(output_folder, IMAGE_ID)
    assert np.array_equal(reopened.cells, session.cells)
    pd.testing.assert_frame_equal(reopened.features(), session.features(), check_dtype=False)


def test_review_features_fill_hoechst_x_of_remeasured_cells_with_the_image_offset():
    cells = pd.DataFrame({"cell_id": [1, 2, 3], "hoechst_integrated": [100.0, 200.0, 400.0]})
    calls = pd.DataFrame({"hoechst_x": [0.0, 1.0]}, index=[1, 2])
    features = review_features(cells, calls.reindex(columns=["hoechst_x", "population",
                                                              "population_source",
                                                              "sp_probability", "excluded",
                                                              "exclude_reason"]),
                               corrections.empty_overrides(), threshold_x=0.5)
    assert features["hoechst_x"].tolist() == pytest.approx([0.0, 1.0, 2.0])
    assert features["population"].tolist() == ["SP", "MP", "MP"]


def test_merged_and_split_cells_look_edited_and_the_selection_ends(output_folder,
                                                                   truth_segmentation):
    from spmito.plugins._reader import open_review
    from spmito.plugins.review_table import DELETED_MARK, SELECTED_MARK

    session = open_review(output_folder, IMAGE_ID)
    session.attach(napari.layers.Labels(session.cells))
    a, b = two_neighbours(session.cells)
    unclassified = CLASS_COLOURS[None]
    assert CLASS_COLOURS["edited"] not in (unclassified, CLASS_COLOURS["excluded"])
    session.select(a)
    session.select(b)
    assert set(np.unique(session.cells[session.marks == SELECTED_MARK])) == {a, b}
    session.merge()
    assert session.selected == [] and not (session.marks == SELECTED_MARK).any()
    colours = session.layer.colormap.color_dict
    np.testing.assert_allclose(colours[min(a, b)], to_rgba(CLASS_COLOURS["edited"]))
    other = next(int(i) for i in session.result.cell_table["cell_id"] if i != min(a, b))
    pixels = session.cells == other
    session.select(other)
    session.delete()
    deleted = session.marks == DELETED_MARK
    assert deleted.any() and (deleted <= pixels).all(), "deleted: an outline, not a fill"
    session.undo()
    assert not (session.marks == DELETED_MARK).any()
