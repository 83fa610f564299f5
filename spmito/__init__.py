"""spmito: side-population vs main-population mitochondria analysis of microscopy stacks.

The repository keeps its top-level folders ``imaging/``, ``segment/``, ``measure/`` and
``plugins/``; setuptools' ``package-dir`` installs them as ``spmito.imaging``,
``spmito.segment``, ``spmito.measure`` and ``spmito.plugins`` (pyproject.toml), so that only
``spmito`` lands at the top of site-packages.

In a source checkout used without installing (pytest's ``pythonpath = ["."]``, or
``python -c`` from the repository root) this folder holds only this file and the
subpackages are its siblings: the package's search path then includes the repository root,
so ``spmito.imaging`` is ``<root>/imaging``, the same files an editable install maps.
"""

from pathlib import Path

_HERE = Path(__file__).resolve().parent
if not (_HERE / "imaging").is_dir() and (_HERE.parent / "imaging" / "cli.py").is_file():
    __path__.append(str(_HERE.parent))  # noqa: F821 - the package's own search path
