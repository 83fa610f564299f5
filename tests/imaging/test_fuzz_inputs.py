"""Property-based fuzzing (hypothesis): a damaged TIFF or sample sheet never escapes spmito's
error family.

Quick in CI (a fixed, derandomised set of examples). For a long run with fresh random
examples set ``SPMITO_FUZZ_EXAMPLES``, e.g. ``SPMITO_FUZZ_EXAMPLES=5000 pytest
tests/imaging/test_fuzz_inputs.py``. ``benchmarks/fuzz_inputs.py`` runs each case in its own
process and also measures hangs and peak memory.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import tifffile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spmito.imaging.batch import inputs_to_sheet, tasks_from_sheet
from spmito.imaging.errors import SampleSheetError, SpmitoError
from spmito.imaging.io import read_stack
from spmito.imaging.sheet import safe_image_id
from tests.imaging.bad_inputs import (
    BASES,
    NASTY_CELLS,
    SHEET_HEADER,
    SPECIAL_VALUES,
    mutate_tiff,
    write_good_ome,
)

_LONG_RUN = "SPMITO_FUZZ_EXAMPLES" in os.environ
FUZZ = settings(max_examples=int(os.environ.get("SPMITO_FUZZ_EXAMPLES", "60")), deadline=None,
                derandomize=not _LONG_RUN, database=None,
                suppress_health_check=[HealthCheck.too_slow])

#: Byte positions: mostly in the header and first IFDs, where the structure lives.
_POSITIONS = st.one_of(st.integers(0, 400), st.integers(0, 1 << 16))

_TAG_EDIT = st.tuples(st.integers(0, 30), st.sampled_from(SPECIAL_VALUES))


def _overwrite_tag(path: Path, index: int, value: int) -> None:
    try:
        with tifffile.TiffFile(path, mode="r+b") as tif:
            tags = [t for t in tif.pages.first.tags.values() if t.count == 1 and t.dtype in
                    (3, 4, 16)]  # one SHORT, LONG or LONG8 value
            if tags:
                tags[index % len(tags)].overwrite(value)
    except Exception:  # noqa: BLE001, S110 - an edit that cannot apply is no test case
        pass


def _read_everything(path: Path, lazy: bool) -> None:
    """Read like spmito does; succeed or raise spmito's error naming ``path``."""
    try:
        stack = read_stack(path, lazy=lazy)
        for index in range(stack.n_channels):
            channel = stack.with_roles({"probe": index}).channel("probe")
            assert channel.shape == stack.spatial_shape
    except SpmitoError as error:
        assert getattr(error, "path", None) == str(path), error


@FUZZ
@given(base=st.integers(0, len(BASES) - 1), tag_edits=st.lists(_TAG_EDIT, max_size=3),
       flips=st.lists(st.tuples(_POSITIONS, st.integers(0, 255)), max_size=8),
       keep_fraction=st.none() | st.floats(0.0, 1.0), lazy=st.booleans())
def test_damaged_tiff_reads_or_gets_spmitos_error(base, tag_edits, flips, keep_fraction, lazy):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / ("case.ome.tif" if base < 4 else "case.tif")
        BASES[base](path, 0)
        for index, value in tag_edits:
            _overwrite_tag(path, index, value)
        data = bytearray(path.read_bytes())
        for position, value in flips:
            data[position % len(data)] = value
        if keep_fraction is not None:
            data = data[: int(len(data) * keep_fraction)]
        path.write_bytes(bytes(data))
        _read_everything(path, lazy)


@FUZZ
@given(seed=st.integers(0, 2**32 - 1), lazy=st.booleans())
def test_mutated_tiff_reads_or_gets_spmitos_error(seed, lazy):
    with tempfile.TemporaryDirectory() as folder:
        path = mutate_tiff(Path(folder) / "case.ome.tif", seed)
        _read_everything(path, lazy)


_CELLS = st.one_of(st.sampled_from(NASTY_CELLS), st.sampled_from(("a.ome.tif", "b.ome.tif")),
                   st.text(max_size=12))
_HEADER = st.lists(st.one_of(st.sampled_from(SHEET_HEADER), st.sampled_from(NASTY_CELLS)),
                   min_size=1, max_size=10)


@FUZZ
@given(header=_HEADER, rows=st.lists(st.lists(_CELLS, max_size=11), max_size=6),
       separator=st.sampled_from(("\n", "\r\n")))
def test_damaged_sheet_gives_tasks_or_the_sheets_error(header, rows, separator):
    with tempfile.TemporaryDirectory() as folder:
        write_good_ome(Path(folder) / "a.ome.tif")
        sheet = Path(folder) / "sheet.csv"
        text = separator.join(",".join(cells) for cells in [header, *rows]) + separator
        sheet.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            frame = inputs_to_sheet([str(sheet)])
        except SampleSheetError as error:
            assert error.path == str(sheet)
            return
        tasks = tasks_from_sheet(frame)
        ids = [task.image_id for task in tasks]
        assert len(set(ids)) == len(ids)
        assert all(safe_image_id(image_id) == image_id for image_id in ids)
        assert all(task.problem is None or isinstance(task.problem, SampleSheetError)
                   for task in tasks)
