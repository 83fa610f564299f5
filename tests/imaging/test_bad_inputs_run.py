"""Issue #11 acceptance: a run over a folder mixing good images with every reproducer.

The good images are synthetic fields segmented by their truth (``fake_science``), so the
test checks the batch, not Cellpose; reading, measuring, the batch tables and the report are
the real code.
"""

from __future__ import annotations

import json
import os
import shutil

import pandas as pd
import pytest

from spmito.imaging.batch import inputs_to_sheet, run_batch
from spmito.imaging.errors import SpmitoError
from spmito.imaging.params import RunParams
from spmito.imaging.synthetic import SynthParams, make_field, write_field
from tests.imaging.bad_inputs import BAD_IMAGES
from tests.plugins.fake_science import patch_pipeline

TABLES = ("cells.csv", "wells.csv", "replicates.csv", "stats.csv", "failures.csv")


def _spmito_error_names() -> set[str]:
    names, todo = set(), [SpmitoError]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return names


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory):
    """``spmito run`` on a folder: 2 good fields, every reproducer and special entries."""
    root = tmp_path_factory.mktemp("mixed")
    folder = root / "in"
    fields = [make_field(SynthParams.for_ndim(2, size_px=160, pixel_size_um=0.3), seed=s)
              for s in (5, 6)]
    good = [write_field(f, folder, f"good_{i}", preview=False) for i, f in enumerate(fields)]
    for truth in folder.glob("*.truth"):
        shutil.rmtree(truth)
    long_name = folder / ("g" * 240 + ".ome.tif")  # a good image with a 240-character name
    shutil.copy(good[0], long_name)
    shutil.copy(good[1], folder / ".ome.tif")  # an empty image_id, given by name below
    bad = {}
    for name, build in BAD_IMAGES.items():
        (root / name).mkdir()
        path = build(root / name / (f"{name}.ome.tif" if "ome" in name else f"{name}.tif"))
        bad[name] = folder / path.name
        shutil.move(path, bad[name])
    (folder / "dangling.tif").symlink_to(root / "nowhere.tif")
    os.mkfifo(folder / "fifo.tif")
    (folder / "folder.tif").mkdir()
    bad.update(dangling=folder / "dangling.tif", fifo=folder / "fifo.tif",
               folder=folder / "folder.tif", missing=root / "missing.ome.tif")
    out = root / "out"
    with pytest.MonkeyPatch.context() as monkeypatch:
        patch_pipeline(monkeypatch, *fields)
        sheet = inputs_to_sheet([str(folder), str(folder / ".ome.tif"),
                                 str(root / "missing.ome.tif")])
        outcome = run_batch(sheet, out, RunParams(device="cpu"), progress=False)
    return out, outcome, bad


def test_the_run_exits_1_and_the_good_images_are_done(mixed_run):
    out, outcome, bad = mixed_run
    assert outcome.exit_code == 1 and not outcome.summary_failed
    done = sorted(s.image_id for s in outcome.statuses if s.status == "done")
    assert done[:2] == ["g" * 111 + "-" + done[0][-8:], "good_0"]
    assert done[2:] == ["good_1", "image"]  # ".ome.tif" has an empty stem
    assert json.loads((out / "run.json").read_text())["status"] == "finished"


def test_every_table_and_the_report_are_written(mixed_run):
    out, _, _ = mixed_run
    for name in TABLES:
        pd.read_csv(out / name)  # readable, with a header, even when empty
    cells = pd.read_csv(out / "cells.csv")
    assert cells["image_id"].nunique() == 4
    assert (out / "report.html").stat().st_size > 1000


def test_failures_csv_has_a_helpful_message_for_each_bad_file(mixed_run):
    out, outcome, bad = mixed_run
    failures = pd.read_csv(out / "failures.csv")
    by_path = dict(zip(failures["path"], failures.to_dict("records"), strict=True))
    for path in bad.values():
        row = by_path.pop(str(path))
        assert row["error"] in _spmito_error_names(), row
        assert row["message"].startswith(str(path)), row
        assert len(row["message"]) > len(str(path)) + 40, row
    assert not by_path, f"unexpected failures: {by_path}"


def test_a_crash_in_the_batch_level_steps_is_reported_not_raised(tmp_path, monkeypatch):
    def broken_summary(*args, **kwargs):
        raise KeyError("a bug after every image was done")

    monkeypatch.setattr("spmito.imaging.summary.summarise", broken_summary)
    monkeypatch.setattr("spmito.imaging.batch.check_models", lambda params: None)
    sheet = inputs_to_sheet([str(tmp_path / "missing.tif")])
    outcome = run_batch(sheet, tmp_path / "out", RunParams(device="cpu"), progress=False)
    assert outcome.summary_failed and outcome.exit_code == 1
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run["status"] == "summary failed"
    assert "KeyError" in run["notes"][0] and "spmito.log" in run["notes"][0]
    assert "a bug after every image was done" in (tmp_path / "out" / "spmito.log").read_text()
    assert pd.read_csv(tmp_path / "out" / "failures.csv")["image_id"].tolist() == ["missing"]
