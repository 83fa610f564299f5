"""Cellpose's numba kernels are cached on disk; nothing else imported alongside is touched."""

import subprocess
import sys
import textwrap
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_only_cellpose_kernels_are_cached_and_skan_still_compiles():
    """Regression: numba's jitclass, first imported while Cellpose was, bound the patched
    ``njit`` and every later skeleton measurement failed with "cannot cache function 'ctor'".
    A fresh interpreter is needed, since the patch only acts on a first import."""
    script = textwrap.dedent("""
        import numba
        import numpy as np
        from spmito.segment._numba_cache import import_cellpose
        import_cellpose()
        import cellpose.dynamics
        from spmito.measure.objects.skeleton import skeleton_metrics

        assert numba.njit.__module__.startswith("numba"), numba.njit
        print(type(cellpose.dynamics._extend_centers._cache).__name__)
        tube = np.zeros((20, 20), np.int32)
        tube[10, 3:15] = 1
        print(skeleton_metrics(tube, (0.1, 0.1)).loc[1, "branches"])
    """)
    completed = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT,
                               capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split() == ["FunctionCache", "1"]
