"""Running a suite and writing its JSON record.

Every record has ``suite``, ``git_rev``, ``machine`` (cpu model, cores, memory), ``datasets``
(name, files, split, seed), ``results`` and ``baselines``. Speed figures are ratios against a
baseline run in the same process where the suite defines one.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mirrorguard import __version__
from mirrorguard.bench.registry import get_suite
from mirrorguard.errors import DataMissingError


@dataclass
class BenchContext:
    """What a suite gets: where data lives, where to put scratch files, a seed, a size knob."""

    data_dir: Path
    work_dir: Path
    seed: int = 0
    quick: bool = False
    progress: Callable[[str], None] = field(default=lambda _msg: None)

    def data(self, *parts: str) -> Path:
        """A path under the data directory; raises :class:`DataMissingError` if absent."""
        path = self.data_dir.joinpath(*parts)
        if not path.exists():
            raise DataMissingError(
                "dataset not found", file=str(path), hint="pass --data-dir ../shared/data"
            )
        return path


@dataclass
class SuiteResult:
    """What a suite returns: figures, baseline figures, and the datasets used."""

    results: dict[str, Any]
    baselines: dict[str, Any] = field(default_factory=dict)
    datasets: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def git_rev(cwd: Path | None = None) -> str:
    """The current commit (with ``-dirty`` when the tree has changes), or ``unknown``."""
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, cwd=cwd
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, check=True, cwd=cwd,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{rev}-dirty" if dirty else rev


def machine_info() -> dict[str, Any]:
    """CPU model, core count, memory and library versions of this machine."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = None
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        mem_gib = round(pages / 2**30, 1)
    except (ValueError, OSError):
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": mem_gib,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def run_suite(name: str, ctx: BenchContext) -> dict[str, Any]:
    """Run one suite and return its full JSON-ready record."""
    fn = get_suite(name)
    started = time.perf_counter()
    res = fn(ctx)
    return {
        "suite": name,
        "mirrorguard_version": __version__,
        "git_rev": git_rev(),
        "started_at": datetime.now(UTC).isoformat(),
        "wall_s": round(time.perf_counter() - started, 3),
        "machine": machine_info(),
        "seed": ctx.seed,
        "quick": ctx.quick,
        "datasets": res.datasets,
        "results": res.results,
        "baselines": res.baselines,
        "notes": res.notes,
    }


def write_record(record: dict[str, Any], out: Path) -> None:
    """Write a suite record as pretty JSON."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2, sort_keys=False, default=str) + "\n")
