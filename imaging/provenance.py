"""Provenance: what ran, on what, with which software, for ``run.json`` and ``done.json``."""

from __future__ import annotations

import hashlib
import os
import platform
import socket
import sys
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

#: Packages whose versions change results; recorded in run.json.
TRACKED_PACKAGES = ("spmito", "numpy", "scipy", "scikit-image", "tifffile", "pandas", "cellpose",
                    "torch", "skan", "statsmodels", "dask", "distributed", "napari")


def sha256_file(path: str | os.PathLike, chunk_bytes: int = 1 << 22) -> str:
    """sha256 of a file's bytes, read in chunks (large stacks never sit in memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk_bytes), b""):
            digest.update(block)
    return digest.hexdigest()


def package_versions() -> dict[str, str]:
    """Installed versions of :data:`TRACKED_PACKAGES` (``"absent"`` when missing)."""
    versions = {"python": sys.version.split()[0]}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "absent"
    return versions


def host_info() -> dict[str, str | int]:
    """Host name, OS and CPU count."""
    return {"host": socket.gethostname(), "platform": platform.platform(),
            "cpus": os.cpu_count() or 0}


def now_iso() -> str:
    """The current UTC time as ISO 8601."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def relative_or_absolute(path: str | os.PathLike, base: Path) -> str:
    """``path`` relative to ``base`` when inside it, else absolute."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(base.resolve()))
    except ValueError:
        return str(path)
