"""Import Cellpose with its numba kernels cached on disk.

Cellpose 3 compiles its typed numba kernels (``cellpose.dynamics``) eagerly at import and
asks numba not to cache most of them, so every new process (each CLI call, each Dask
worker) spends 10–25 s compiling the same code on a 2-core machine. Importing it once with
``cache=True`` added to its ``njit`` decorators lets the next processes load the compiled
kernels from numba's cache (cellpose's ``__pycache__``, or numba's user-wide cache when that
is read-only); measured here: 25.6 s -> 8.3 s per process import, most of the rest being torch.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def _njit_with_disk_cache() -> Iterator[None]:
    """Within the block, ``numba.njit`` caches compiled functions on disk by default."""
    import numba

    original = numba.njit

    def cached_njit(*args, **kwargs):
        kwargs.setdefault("cache", True)
        return original(*args, **kwargs)

    numba.njit = cached_njit
    try:
        yield
    finally:
        numba.njit = original


def import_cellpose() -> None:
    """Import ``cellpose.models`` and ``cellpose.dynamics`` with their kernels cached on disk.

    A no-op when Cellpose is already imported.
    """
    if "cellpose.dynamics" in sys.modules:
        return
    with _njit_with_disk_cache():
        import cellpose.dynamics  # noqa: F401
        import cellpose.models  # noqa: F401
