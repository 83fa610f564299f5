"""Fuzz the reader and the sample sheet with mutated inputs, each case in its own process.

Every case is a forked child: it reads one mutated TIFF (eagerly or lazily, then every
channel) or one mutated sample sheet (then builds the batch's tasks and reads every image a
good row names). The parent counts, per case, the outcome (accepted, spmito's own error, or
any other exception: a "raw" failure), hangs (no answer within ``--timeout`` s: killed) and
the child's peak resident memory (``ru_maxrss``, including the pages it shares with the
parent). Inputs of raw failures and hangs are kept under ``--out`` to reproduce them.

    python benchmarks/fuzz_inputs.py --images 1000 --sheets 200 --out test-artifacts/fuzz

``--pixels N`` also reads the first N mutated images that spmito accepts next to the good
file they were made from, and counts those whose pixels differ ("accepted but wrong"; a
byte flipped inside uncompressed pixel data is, by nature, such a case).

The mutators are those of the property-based test (``tests/imaging/bad_inputs.py``).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import select
import shutil
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import dask.array  # noqa: E402, F401 - imported once here, not in every child
import zarr  # noqa: E402, F401

from spmito.imaging.batch import inputs_to_sheet, tasks_from_sheet  # noqa: E402
from spmito.imaging.errors import SpmitoError  # noqa: E402
from spmito.imaging.io import read_stack  # noqa: E402
from spmito.imaging.outputs import read_input_stack  # noqa: E402
from spmito.imaging.params import RunParams  # noqa: E402
from spmito.imaging.sheet import safe_image_id  # noqa: E402
from tests.imaging.bad_inputs import (  # noqa: E402
    mutate_sheet,
    mutate_tiff,
    write_good_ome,
    write_unmutated,
)


def read_image_case(path: Path, seed: int) -> str:
    """Read a mutated image the ways spmito does; returns ``accepted`` or raises."""
    voxel = (0.2, 0.2) if seed % 4 == 0 else None
    stack = read_stack(path, lazy=seed % 2 == 1, voxel_size_um=voxel)
    for index in range(stack.n_channels):
        stack.with_roles({"probe": index}).channel("probe")
    return "accepted"


def sheet_case(sheet: Path, seed: int) -> str:
    """Read a mutated sheet, build the tasks, read each good row's image."""
    frame = inputs_to_sheet([str(sheet)])
    tasks = tasks_from_sheet(frame)
    ids = [task.image_id for task in tasks]
    assert len(set(ids)) == len(ids), f"image ids not unique: {ids}"
    assert all(safe_image_id(i) == i for i in ids), f"unsafe image ids: {ids}"
    for task in tasks:
        if task.problem is None:
            read_input_stack(task.path, RunParams())
    return "accepted"


def _child(case, path: Path, seed: int, write_fd: int) -> None:
    try:
        outcome = {"outcome": case(path, seed)}
    except SpmitoError as error:
        outcome = {"outcome": "spmito", "type": type(error).__name__,
                   "names_file": getattr(error, "path", None) is not None}
    except BaseException as error:  # noqa: BLE001 - this is what the fuzzing looks for
        outcome = {"outcome": "raw", "type": type(error).__name__,
                   "message": str(error)[:300], "traceback": traceback.format_exc()[-2000:]}
    os.write(write_fd, json.dumps(outcome).encode())
    os._exit(0)


def run_case(case, path: Path, seed: int, timeout_s: float) -> dict:
    """Run ``case(path, seed)`` in a forked child; outcome, seconds and peak memory."""
    read_fd, write_fd = os.pipe()
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        _child(case, path, seed, write_fd)
    os.close(write_fd)
    chunks = []
    deadline = start + timeout_s
    while True:
        ready, _, _ = select.select([read_fd], [], [], max(0.0, deadline - time.perf_counter()))
        if not ready:
            os.kill(pid, signal.SIGKILL)
            result = {"outcome": "hang"}
            break
        chunk = os.read(read_fd, 65536)
        if not chunk:
            text = b"".join(chunks).decode()
            result = json.loads(text) if text else {"outcome": "raw", "type": "child died"}
            break
        chunks.append(chunk)
    os.close(read_fd)
    _, status, usage = os.wait4(pid, 0)
    if result["outcome"] != "hang" and os.WIFSIGNALED(status):
        result = {"outcome": "raw", "type": f"killed by signal {os.WTERMSIG(status)}"}
    result["seconds"] = time.perf_counter() - start
    result["peak_rss_mib"] = usage.ru_maxrss / 1024
    return result


def _keep(path: Path, out: Path, name: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, out / name)


def _run_and_keep(case, path: Path, seed: int, timeout_s: float, out: Path, kind: str) -> dict:
    """Run one case; keep its input in ``out`` when it escaped as a raw error or hung."""
    result = run_case(case, path, seed, timeout_s)
    result["seed"] = seed
    if result["outcome"] in ("raw", "hang"):
        _keep(path, out, path.name)
        print(f"{kind} seed {seed}: {result}", flush=True)
    return result


def fuzz_images(n: int, first_seed: int, work: Path, out: Path, timeout_s: float) -> list:
    results = []
    for seed in range(first_seed, first_seed + n):
        path = work / f"case_{seed}{'.ome.tif' if seed % 3 else '.tif'}"
        mutate_tiff(path, seed)
        results.append(_run_and_keep(read_image_case, path, seed, timeout_s, out, "image"))
        path.unlink(missing_ok=True)
    return results


def fuzz_sheets(n: int, first_seed: int, work: Path, out: Path, timeout_s: float) -> list:
    images = []
    for index in range(3):
        write_good_ome(work / f"good_{index}.ome.tif", seed=index)
        images.append(f"good_{index}.ome.tif")
    images.append("missing.ome.tif")
    results = []
    for seed in range(first_seed, first_seed + n):
        sheet = work / f"sheet_{seed}.csv"
        sheet.write_text(mutate_sheet(images, seed), encoding="utf-8", errors="surrogatepass")
        results.append(_run_and_keep(sheet_case, sheet, seed, timeout_s, out, "sheet"))
    return results


def accepted_pixels(n: int, work: Path) -> dict:
    """Of ``n`` mutated images, how many are accepted, and how many of those read other
    pixels (or another shape) than the good file they were made from."""
    import numpy as np

    accepted = changed = reshaped = 0
    for seed in range(n):
        mutated = mutate_tiff(work / f"m_{seed}.ome.tif", seed)
        try:
            data = np.asarray(read_stack(mutated, voxel_size_um=(0.2, 0.2), lazy=False).data)
        except SpmitoError:
            continue
        accepted += 1
        good = write_unmutated(work / f"g_{seed}.ome.tif", seed)
        original = np.asarray(read_stack(good, voxel_size_um=(0.2, 0.2)).data)
        reshaped += data.shape != original.shape
        changed += data.shape != original.shape or not np.array_equal(data, original)
    return {"cases": n, "accepted": accepted, "accepted_other_pixels": changed,
            "accepted_other_shape": reshaped}


def summary(results: list) -> dict:
    outcomes = collections.Counter(r["outcome"] for r in results)
    refused = collections.Counter(r.get("type") for r in results if r["outcome"] == "spmito")
    return {"cases": len(results), "outcomes": dict(outcomes), "spmito_errors": dict(refused),
            "refusals_naming_the_file": sum(r.get("names_file", False) for r in results),
            "peak_rss_mib_max": round(max((r["peak_rss_mib"] for r in results), default=0), 1),
            "seconds_max": round(max((r["seconds"] for r in results), default=0), 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--sheets", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0, help="first seed")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per case")
    parser.add_argument("--pixels", type=int, default=0,
                        help="compare the pixels of the first N accepted mutants")
    parser.add_argument("--out", default="test-artifacts/fuzz")
    args = parser.parse_args()
    out = Path(args.out)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        images = fuzz_images(args.images, args.seed, work, out, args.timeout)
        sheets = fuzz_sheets(args.sheets, args.seed, work, out, args.timeout)
        pixels = accepted_pixels(args.pixels, work) if args.pixels else None
    report = {"images": summary(images), "sheets": summary(sheets),
              "parent_rss_mib": round(_own_rss_mib(), 1), "accepted_pixels": pixels}
    print(json.dumps(report, indent=2))
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(report, indent=2) + "\n")
    bad = sum(s["outcomes"].get(k, 0) for s in (report["images"], report["sheets"])
              for k in ("raw", "hang"))
    return 1 if bad else 0


def _own_rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    sys.exit(main())
