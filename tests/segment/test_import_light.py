"""Importing segment loads neither torch nor cellpose (they load on first segmentation)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_importing_segment_modules_does_not_import_torch():
    code = (
        "import json, sys\n"
        "import spmito.segment, spmito.segment.cells, spmito.segment.nuclei\n"
        "import spmito.segment.backends, spmito.segment.weights\n"
        "import spmito.segment.training, spmito.segment.evaluation\n"
        "print(json.dumps(sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('torch', 'cellpose'))))\n"
    )
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                            text=True, check=True, timeout=120)
    assert json.loads(result.stdout) == []
