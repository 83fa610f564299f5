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
import inspect
import sys
from collections.abc import Iterator


def _is_cellpose_function(func: object) -> bool:
    """True for a Python function defined in a module of the ``cellpose`` package."""
    return (getattr(func, "__module__", None) or "").split(".")[0] == "cellpose"


@contextlib.contextmanager
def _njit_with_disk_cache() -> Iterator[None]:
    """Within the block, ``numba.njit`` caches Cellpose's compiled functions on disk.

    Only functions of the ``cellpose`` package get ``cache=True``: other libraries imported
    during the block may bind the patched ``njit`` for good (``from numba import njit``) and
    compile functions made with ``exec`` (numba's own jitclass constructors), which numba
    cannot cache; for those the patch passes the call through unchanged.
    """
    import numba

    original = numba.njit

    def with_cache_if_cellpose(func, kwargs):
        if _is_cellpose_function(func):
            return {"cache": True, **kwargs}
        return kwargs

    def cached_njit(*args, **kwargs):
        if args and inspect.isfunction(args[0]):
            return original(*args, **with_cache_if_cellpose(args[0], kwargs))

        def decorate(func):
            return original(*args, **with_cache_if_cellpose(func, kwargs))(func)

        return decorate

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
