"""The headless batch: many images -> per-image outputs -> batch-level summaries.

Per image (possibly on Dask workers): read, analyse with :mod:`spmito.imaging.pipeline`, write
label images and tables atomically, then ``done.json`` last. ``done.json`` records the
input's sha256 and the analysis-parameter hash; ``--resume`` skips an image whose
``done.json`` matches both. A failing image is recorded (``failures.csv``) and the batch goes
on; so is a bad sample-sheet row, and a path that is missing or no file. Image ids are made
safe and unique where the tasks are made (:func:`run_batch`). An error in the batch-level
steps is logged and reported (exit status 1) after every per-image output is written. The
batch-level steps (gating, summaries, statistics, figures, report) run from the files
on disk, so ``spmito report DIR`` redoes exactly them.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from spmito.imaging import summary
from spmito.imaging.atomic import write_text_atomic
from spmito.imaging.errors import SpmitoError, SpmitoInputError
from spmito.imaging.io import read_labels
from spmito.imaging.outputs import (
    done_record,
    read_done,
    read_input_stack,
    write_done,
    write_image_outputs,
    write_table_csv,
)
from spmito.imaging.params import RunParams
from spmito.imaging.pipeline import analyse_stack
from spmito.imaging.provenance import host_info, now_iso, package_versions, sha256_file
from spmito.imaging.sheet import read_sample_sheet, sheet_from_paths, unique_image_ids
from spmito.segment._numba_cache import import_cellpose
from spmito.segment.weights import ModelNotFoundError, resolve_model

log = logging.getLogger("spmito")

FAILURE_COLUMNS = ["path", "image_id", "error", "message"]


@dataclass(frozen=True)
class ImageTask:
    """One image to analyse: where it is, its id, an optional given cell mask.

    ``problem`` is the error of a bad sample-sheet row: the image fails with it, unread.
    """

    image_id: str
    path: str
    cells_mask: str | None = None
    problem: SpmitoError | None = None


@dataclass
class ImageStatus:
    """What became of one image."""

    image_id: str
    path: str
    status: str  # done | skipped | failed
    seconds: float = 0.0
    error: str = ""
    message: str = ""
    provenance: dict = field(default_factory=dict)
    files_sha256: dict = field(default_factory=dict)


def is_done(task: ImageTask, params: RunParams, out_dir: Path) -> bool:
    """Whether ``done.json`` of the image matches its input and parameters."""
    try:
        done = read_done(out_dir, task.image_id)
        expected = _task_record(task, params)
    except (OSError, ValueError):  # no done.json yet, or the input is gone
        return False
    return all(done.get(key) == value for key, value in expected.items())


def process_image(task: ImageTask, params: RunParams, out_dir: str | Path) -> ImageStatus:
    """Analyse one image and write its outputs; never raises for a bad image.

    Parameters
    ----------
    task : ImageTask
        The image.
    params : RunParams
        Analysis parameters.
    out_dir : path-like
        The batch output folder.

    Returns
    -------
    ImageStatus
        ``done`` (outputs written), ``skipped`` (``--resume`` found them current) or
        ``failed`` (with the error type and message; the traceback goes to the log).
    """
    out_dir = Path(out_dir)
    start = time.perf_counter()
    try:
        if task.problem is not None:
            raise task.problem
        if params.resume and is_done(task, params, out_dir):
            return ImageStatus(task.image_id, task.path, "skipped")
        provenance, files_sha256 = _analyse_and_write(task, params, out_dir)
    except Exception as error:  # noqa: BLE001 - one bad image must not stop the batch
        expected = isinstance(error, SpmitoError)
        if not expected:
            log.error("image %s (%s) failed:\n%s", task.image_id, task.path,
                      traceback.format_exc())
        message = str(error) if expected else f"{task.path}: {error}"
        return ImageStatus(task.image_id, task.path, "failed", time.perf_counter() - start,
                           type(error).__name__, message)
    return ImageStatus(task.image_id, task.path, "done", time.perf_counter() - start,
                       provenance=provenance, files_sha256=files_sha256)


def _task_record(task: ImageTask, params: RunParams) -> dict:
    """The ``done.json`` fingerprint of a task (:func:`spmito.imaging.outputs.done_record`)."""
    return done_record(task.image_id, task.path, params, task.cells_mask)


def _analyse_and_write(task: ImageTask, params: RunParams, out_dir: Path
                       ) -> tuple[dict, dict]:
    """Analyse and write one image; its provenance and the sha256 of files read besides it."""
    stack = read_input_stack(task.path, params)
    given_cells = read_labels(task.cells_mask)[0] if task.cells_mask else None
    result = analyse_stack(stack, params, given_cells=given_cells)
    write_image_outputs(out_dir, task.image_id, result)
    record = _task_record(task, params)
    # pixels from other files (an allowed multi-file OME-TIFF): every one is fingerprinted
    files_sha256 = {path: sha256_file(path) for path in stack.metadata.get("files", [])[1:]}
    if files_sha256:
        record["files_sha256"] = files_sha256
    write_done(out_dir, task.image_id, record, len(result.cell_table), result.provenance)
    return result.provenance, files_sha256


# ------------------------------------------------------------------------- execution


def _progress_bar(total: int):
    return tqdm(total=total, desc="images", unit="image", dynamic_ncols=True)


def run_serial(tasks: list[ImageTask], params: RunParams, out_dir: Path,
               on_status: Callable[[ImageStatus], None]) -> None:
    """Process images one after another in this process."""
    for task in tasks:
        on_status(process_image(task, params, out_dir))


def run_on_dask(tasks: list[ImageTask], params: RunParams, out_dir: Path,
                on_status: Callable[[ImageStatus], None]) -> None:
    """Process images on a Dask cluster.

    A LocalCluster of ``params.workers`` processes, or the scheduler at ``params.scheduler``.
    Each worker process loads the model once and keeps it; Dask's nanny limits each worker to
    one BLAS/OpenMP thread and its memory share. A worker that dies (e.g. out of memory)
    fails its image, not the batch.
    """
    from dask.distributed import Client, LocalCluster, as_completed

    if params.scheduler:
        client = Client(params.scheduler)
        cluster = None
    else:
        cluster = LocalCluster(n_workers=params.workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    try:
        futures = {client.submit(process_image, task, params, str(out_dir), pure=False): task
                   for task in tasks}
        for future in as_completed(futures):
            task = futures[future]
            try:
                status = future.result()
            except Exception as error:  # noqa: BLE001 - a killed worker fails one image
                status = ImageStatus(task.image_id, task.path, "failed", 0.0,
                                     type(error).__name__, f"{task.path}: worker failed: {error}")
            on_status(status)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def execute(tasks: list[ImageTask], params: RunParams, out_dir: Path,
            progress: bool = True) -> list[ImageStatus]:
    """Run every task (serially or on Dask) with a progress bar; return their statuses."""
    statuses: list[ImageStatus] = []
    bar = _progress_bar(len(tasks)) if progress else None

    def on_status(status: ImageStatus) -> None:
        statuses.append(status)
        log.info("%s %s (%.1f s)%s", status.status, status.image_id, status.seconds,
                 f": {status.message}" if status.message else "")
        if bar is not None:
            failed = sum(s.status == "failed" for s in statuses)
            skipped = sum(s.status == "skipped" for s in statuses)
            bar.set_postfix(failed=failed, skipped=skipped)
            bar.update(1)

    runner = run_on_dask if (params.workers and params.workers > 1) or params.scheduler \
        else run_serial
    try:
        runner(tasks, params, out_dir, on_status)
    finally:
        if bar is not None:
            bar.close()
    order = {task.image_id: i for i, task in enumerate(tasks)}
    return sorted(statuses, key=lambda s: order[s.image_id])


def write_failures(out_dir: Path, statuses: Iterable[ImageStatus]) -> pd.DataFrame:
    """``failures.csv``: one row per failed image (a header only when none failed)."""
    failed = pd.DataFrame([{"path": s.path, "image_id": s.image_id, "error": s.error,
                            "message": s.message} for s in statuses if s.status == "failed"],
                          columns=FAILURE_COLUMNS)
    write_table_csv(out_dir / "failures.csv", failed.drop(columns=[]))
    return failed


def add_log_file(out_dir: Path) -> logging.Handler:
    """Log to ``DIR/spmito.log`` (appending) for the duration of a run."""
    out_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(out_dir / "spmito.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    return handler


def remove_stale_temporaries(out_dir: Path) -> int:
    """Delete temporary files a killed run left behind (``.<name>.<random>.tmp...``).

    Final outputs are only ever renamed into place, so these are the only partial files a
    crash can leave; they are never read.
    """
    stale = [p for p in out_dir.rglob(".*.tmp*") if p.is_file()]
    for path in stale:
        path.unlink(missing_ok=True)
    return len(stale)


def tasks_from_sheet(sheet: pd.DataFrame,
                     problems: list[SpmitoError | None] | None = None) -> list[ImageTask]:
    """One task per sample-sheet row.

    ``problems`` (one per row) default to the sheet's ``attrs["row_errors"]``
    (:func:`spmito.imaging.sheet.read_sample_sheet` with ``bad_rows="keep"``).
    """
    if problems is None:
        row_errors = sheet.attrs.get("row_errors", {})
        problems = [row_errors.get(str(image_id)) for image_id in sheet["image_id"]]
    masks = sheet["cells_mask"] if "cells_mask" in sheet.columns else [None] * len(sheet)
    return [ImageTask(str(row.image_id), str(row.path),
                      None if pd.isna(mask) or not str(mask) else str(mask), problem)
            for row, mask, problem in zip(sheet.itertuples(index=False), masks, problems,
                                          strict=True)]


def write_run_json(out_dir: Path, params: RunParams, sheet: pd.DataFrame,
                   statuses: list[ImageStatus], started: str, extra: dict | None = None
                   ) -> None:
    """``run.json``: software, parameters in µm, inputs with sha256, model, times, host."""
    done = [s for s in statuses if s.status == "done"]
    provenance = done[0].provenance if done else {}
    files_read = {s.image_id: s.files_sha256 for s in statuses}
    inputs = []
    for row in sheet.itertuples(index=False):
        record = {"image_id": row.image_id, "path": row.path, "sha256": None}
        try:
            if Path(row.path).is_file():  # never open a FIFO or a device: it may block
                record["sha256"] = sha256_file(row.path)
        except OSError:
            pass
        if files_read.get(row.image_id):
            record["files_sha256"] = files_read[row.image_id]
        inputs.append(record)
    run = {
        "software": package_versions(),
        "host": host_info(),
        "started": started,
        "finished": now_iso(),
        "parameters_um": params.to_dict(),
        "analysis_params_sha256": params.analysis_hash(),
        "segmentation": provenance,
        "inputs": inputs,
        "images": {s.image_id: {"status": s.status, "seconds": round(s.seconds, 3)}
                   for s in statuses},
        **(extra or {}),
    }
    write_text_atomic(out_dir / "run.json", json.dumps(run, indent=2, default=str) + "\n")


def check_models(params: RunParams) -> None:
    """Resolve the cell and nucleus models once, before any image is touched.

    A missing model is a usage error of the whole run, not a failure of each image.
    """
    import_cellpose()
    try:
        resolve_model(params.model, "cells")
        resolve_model(params.nucleus_model, "nuclei")
    except ModelNotFoundError as error:
        raise SpmitoError(str(error)) from error


def check_usage(params: RunParams, tasks: list[ImageTask]) -> None:
    """Refuse option combinations that cannot work, before any image is touched."""
    if params.cells_mask and len(tasks) != 1:
        raise SpmitoInputError(params.cells_mask, f"--cells-mask gives one mask but there "
                               f"are {len(tasks)} images",
                               "Use the sample sheet column cells_mask for several images.")
    if not tasks:
        raise SpmitoInputError(None, "no images found in the inputs",
                               "Give image files, folders holding .tif/.ome.tif files, or a "
                               "sample sheet (.csv).")


# --------------------------------------------------------------------------- the run


@dataclass
class BatchOutcome:
    """What a batch run produced: per-image statuses and the batch-level summary notes."""

    statuses: list[ImageStatus]
    notes: list[str] = field(default_factory=list)
    summary_failed: bool = False

    @property
    def n_failed(self) -> int:
        """Number of images that failed."""
        return sum(s.status == "failed" for s in self.statuses)

    @property
    def exit_code(self) -> int:
        """0 when every image is done, 1 when some failed or the summary did (contract.md)."""
        return 1 if self.n_failed or self.summary_failed else 0


def inputs_to_sheet(inputs: list[str]) -> pd.DataFrame:
    """A sample sheet from ``spmito run`` inputs: one ``.csv`` sheet, or files and folders."""
    sheets = [p for p in inputs if str(p).lower().endswith(".csv")]
    if sheets and len(inputs) > 1:
        raise SpmitoInputError(sheets[0], "a sample sheet must be the only input",
                               "Put every image in the sheet, or give images/folders only.")
    return read_sample_sheet(sheets[0], bad_rows="keep") if sheets else \
        sheet_from_paths(inputs)


def _summarise_safely(out_dir: Path, params: RunParams) -> tuple[list[str], bool]:
    """The batch-level steps; an unexpected error there is logged, not raised.

    Every per-image output is on disk by then; a crash here must not hide them behind a
    traceback and a run.json stuck at "running".
    """
    try:
        return summary.summarise(out_dir, params, gate_file=params.gate_file), False
    except Exception as error:  # noqa: BLE001 - reported in run.json, the log and the exit status
        log.error("the batch-level summary failed:\n%s", traceback.format_exc())
        return [f"the batch-level summary failed ({type(error).__name__}: {error}); the "
                f"per-image outputs are complete, see {out_dir / 'spmito.log'}"], True


def run_batch(sheet: pd.DataFrame, out_dir: str | Path, params: RunParams,
              progress: bool = True) -> BatchOutcome:
    """Analyse every image of ``sheet`` into ``out_dir``, then the batch-level steps.

    Parameters
    ----------
    sheet : DataFrame
        Sample sheet (:mod:`spmito.imaging.sheet`), absolute paths.
    out_dir : path-like
        Output folder (contract.md layout).
    params : RunParams
        Run parameters.
    progress : bool
        Show a progress bar (done, failed, ETA).

    Returns
    -------
    BatchOutcome
    """
    out_dir = Path(out_dir)
    handler = add_log_file(out_dir)
    try:
        started = now_iso()
        row_errors = sheet.attrs.get("row_errors", {})
        problems = [row_errors.get(str(image_id)) for image_id in sheet["image_id"]]
        sheet = sheet.assign(image_id=unique_image_ids(sheet["image_id"].astype(str)))
        if params.cells_mask:
            sheet = sheet.assign(cells_mask=str(Path(params.cells_mask).resolve()))
        remove_stale_temporaries(out_dir)
        tasks = tasks_from_sheet(sheet, problems)
        check_usage(params, tasks)
        if any(not task.cells_mask for task in tasks):
            check_models(params)
        write_table_csv(out_dir / "sheet.csv", sheet)
        write_run_json(out_dir, params, sheet, [], started, {"status": "running"})
        log.info("run: %d image(s) into %s", len(tasks), out_dir)
        statuses = execute(tasks, params, out_dir, progress)
        write_failures(out_dir, statuses)
        notes, summary_failed = _summarise_safely(out_dir, params)
        write_run_json(out_dir, params, sheet, statuses, started, {
            "status": "summary failed" if summary_failed else "finished", "notes": notes})
        return BatchOutcome(statuses, notes, summary_failed)
    finally:
        log.removeHandler(handler)
        handler.close()
