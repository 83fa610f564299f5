"""Fixtures shared by the imaging tests: one synthetic plate run end to end per session."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace

import pytest

from spmito.imaging.batch import run_batch
from spmito.imaging.demo import demo_synth_params
from spmito.imaging.params import RunParams
from spmito.imaging.sheet import read_sample_sheet
from spmito.imaging.synthetic import write_synthetic_set


@pytest.fixture(scope="session")
def synthetic_plate_run(tmp_path_factory) -> SimpleNamespace:
    """The demo's 12-image plate (another seed, 20 % SP in test wells) run with the bundled
    models and default settings: ``plate`` (inputs and truth), ``sheet``, ``out`` and the
    ``outcome``. Shared by the accuracy test and the browser test of its report, so that
    the slow run happens once per session."""
    root = Path(tmp_path_factory.mktemp("demo_plate"))
    params = dataclasses.replace(demo_synth_params(2), sp_fraction=0.2)
    write_synthetic_set(root / "plate", params, n_fields=2, seed=5, mode="plate",
                        replicates=3, preview=False)
    sheet = read_sample_sheet(root / "plate" / "sheet.csv")
    outcome = run_batch(sheet, root / "out", RunParams(), progress=False)
    return SimpleNamespace(plate=root / "plate", sheet=sheet, out=root / "out",
                           outcome=outcome)
