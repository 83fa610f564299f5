"""Shared by the speed benchmarks: best-of-N timing and the torch thread option."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable


def speed_parser(description: str, threads: int | None = None) -> argparse.ArgumentParser:
    """A parser with ``--repeats`` and ``--threads`` (torch CPU threads, default ``threads``)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=threads,
                        help=f"torch CPU threads (default: {threads or 'torch decides'})")
    return parser


def start_torch(threads: int | None) -> str:
    """Set torch's CPU threads (when given); a line naming torch's version and threads."""
    import torch  # heavy: only the benchmarks that time a network load it

    if threads:
        torch.set_num_threads(threads)
    return f"torch {torch.__version__}, {torch.get_num_threads()} CPU thread(s)"


def best_seconds(call: Callable[[], object], repeats: int, warm_up: bool = True) -> float:
    """The fastest of ``repeats`` timed calls, after one untimed warm-up call (``warm_up``)."""
    if warm_up:
        call()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return min(times)
