"""Small helpers suites share: timing and peak-memory measurement."""

from __future__ import annotations

import resource
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def _rss_bytes() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@dataclass
class Measurement:
    seconds: float = 0.0
    peak_rss_mib: float = 0.0
    start_rss_mib: float = 0.0

    @property
    def peak_delta_mib(self) -> float:
        """Peak resident memory above what the process held when measuring began."""
        return max(0.0, self.peak_rss_mib - self.start_rss_mib)


@contextmanager
def measure(sample_s: float = 0.02) -> Iterator[Measurement]:
    """Time a block and sample its resident memory in a background thread."""
    m = Measurement(start_rss_mib=_rss_bytes() / 2**20)
    m.peak_rss_mib = m.start_rss_mib
    stop = threading.Event()

    def sampler() -> None:
        while not stop.is_set():
            m.peak_rss_mib = max(m.peak_rss_mib, _rss_bytes() / 2**20)
            stop.wait(sample_s)

    thread = threading.Thread(target=sampler, daemon=True)
    thread.start()
    t0 = time.perf_counter()
    try:
        yield m
    finally:
        m.seconds = time.perf_counter() - t0
        stop.set()
        thread.join()
        m.peak_rss_mib = max(m.peak_rss_mib, _rss_bytes() / 2**20)


def best_of(fn: Callable[[], T], repeat: int = 3) -> tuple[float, T]:
    """Minimum wall time of ``repeat`` runs, and the last result."""
    best = float("inf")
    out: T | None = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    assert out is not None
    return best, out
