"""Importing the non-GUI packages loads neither Qt, napari nor torch (architecture.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HEAVY = ("PyQt5", "PyQt6", "PySide2", "PySide6", "qtpy", "napari", "torch", "cellpose")


def test_import_imaging_segment_measure_stays_light():
    code = (
        "import json, sys\n"
        "import spmito.imaging, spmito.segment, spmito.measure\n"
        "import spmito.imaging.io, spmito.imaging.sheet, spmito.imaging.channels\n"
        "import spmito.imaging.tiffmeta\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))\n"
    )
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                            text=True, check=True, timeout=120)
    assert json.loads(result.stdout) == []
