"""The headless batch: failures, atomic outputs, resume after SIGKILL, determinism, Dask."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from spmito.imaging.batch import inputs_to_sheet, run_batch
from spmito.imaging.params import RunParams
from spmito.imaging.synthetic import SynthParams, write_synthetic_set

ROOT = Path(__file__).resolve().parents[2]
TABLES = ("cells.csv", "wells.csv", "replicates.csv", "stats.csv")


@pytest.fixture(scope="module")
def small_plate(tmp_path_factory) -> Path:
    """Four small synthetic fields (controls and test wells) and a corrupt fifth file."""
    folder = tmp_path_factory.mktemp("plate")
    params = SynthParams.for_ndim(2, size_px=256)
    sheet = write_synthetic_set(folder, params, n_fields=2, seed=21, mode="plate",
                                replicates=1, preview=False)
    corrupt = folder / "P1_B01_f99.ome.tif"
    data = (folder / sheet["path"].iloc[0]).read_bytes()
    corrupt.write_bytes(data[: len(data) // 3])
    extra = sheet.iloc[[-1]].assign(path=corrupt.name, image_id="P1_B01_f99", field=99)
    pd.concat([sheet, extra]).to_csv(folder / "sheet.csv", index=False)
    return folder


def _run(plate: Path, out: Path, **overrides) -> object:
    params = RunParams(device="cpu", **overrides)
    return run_batch(inputs_to_sheet([str(plate / "sheet.csv")]), out, params, progress=False)


def _tables(out: Path) -> dict[str, str]:
    texts = {name: (out / name).read_text() for name in TABLES}
    for folder in sorted((out / "images").iterdir()):
        for name in ("cells.csv", "mito.csv"):
            if (folder / name).is_file():
                texts[f"{folder.name}/{name}"] = (folder / name).read_text()
    return texts


@pytest.fixture(scope="module")
def reference_run(small_plate, tmp_path_factory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("reference")
    return out, _run(small_plate, out)


def test_corrupt_file_is_listed_and_the_rest_completes(reference_run):
    out, outcome = reference_run
    assert outcome.exit_code == 1
    failures = pd.read_csv(out / "failures.csv")
    assert list(failures["image_id"]) == ["P1_B01_f99"]
    assert "P1_B01_f99.ome.tif" in failures["message"].iloc[0]
    done = sorted(p.parent.name for p in (out / "images").glob("*/done.json"))
    assert done == ["P1_A01_f00", "P1_A01_f01", "P1_B01_f00", "P1_B01_f01"]
    cells = pd.read_csv(out / "cells.csv")
    assert cells["image_id"].nunique() == 4 and len(cells) > 8
    assert not list(out.rglob(".*.tmp*"))


def test_two_runs_give_identical_tables(small_plate, reference_run, tmp_path):
    _run(small_plate, tmp_path)
    assert _tables(tmp_path) == _tables(reference_run[0])


def test_resume_skips_done_images_and_redoes_changed_parameters(small_plate, reference_run,
                                                                tmp_path):
    out = tmp_path / "out"
    shutil.copytree(reference_run[0], out)
    again = _run(small_plate, out)
    assert {s.status for s in again.statuses if s.image_id != "P1_B01_f99"} == {"skipped"}
    changed = _run(small_plate, out, cell_diameter_um=13.0)
    assert {s.status for s in changed.statuses if s.image_id != "P1_B01_f99"} == {"done"}


def test_sigkill_mid_batch_then_restart_gives_the_same_tables(small_plate, reference_run,
                                                             tmp_path):
    command = [sys.executable, "-m", "spmito.imaging.cli", "run", str(small_plate / "sheet.csv"),
               "--out", str(tmp_path), "--device", "cpu"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not list(tmp_path.glob("images/*/done.json")) and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished = len(list(tmp_path.glob("images/*/done.json")))
    assert 1 <= finished < 4, "the kill should land mid-batch"
    restarted = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    assert restarted.returncode == 1, restarted.stderr[-2000:]
    assert "already done" in restarted.stdout
    assert _tables(tmp_path) == _tables(reference_run[0])
    assert not list(tmp_path.rglob(".*.tmp*"))


def test_two_dask_workers_give_the_serial_tables(small_plate, reference_run, tmp_path):
    outcome = _run(small_plate, tmp_path, workers=2)
    assert outcome.n_failed == 1
    assert _tables(tmp_path) == _tables(reference_run[0])
