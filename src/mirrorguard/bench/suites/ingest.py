"""Suite ``ingest``: parse → normalise → store throughput, against raw parsing and a naive loop.

For each format (Zeek JSON, Zeek TSV, EVTX, syslog) on generated files of ≥ 1,000,000 records
shaped like the real samples (``--quick``: 100,000), and on the real samples themselves:
``events_per_s`` end to end into a fresh DuckDB store, the same file's raw parse in the same run
(``ratio_vs_raw_parse``), a naive per-record Python loop (``ratio_vs_naive``), and peak memory
above the process baseline. Zeek JSON memory is also measured on one file of a quarter and of
four times the size, to show it is bounded by the batch size (and the source's commit step,
``ingest.commit_records``) rather than the file size.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import shutil
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from mirrorguard.bench.gen_evtx import sample_chunks, write_evtx
from mirrorguard.bench.gen_syslog import write_auth_log
from mirrorguard.bench.gen_zeek import write_conn_json, write_conn_tsv
from mirrorguard.bench.harness import BenchContext, SuiteResult
from mirrorguard.bench.ingest_baselines import NAIVE, RAW, naive_evtx, raw_evtx
from mirrorguard.bench.measure import measure
from mirrorguard.config import Settings
from mirrorguard.engine.ingest import Ingestor
from mirrorguard.ingest.sources import SourceItem, open_decompressed
from mirrorguard.store import DuckDBStore

_GEN: dict[str, tuple[Callable[[Path, int, int], int], str]] = {
    "zeek_json": (write_conn_json, "conn.json"),
    "zeek_tsv": (write_conn_tsv, "conn.log"),
    "syslog": (write_auth_log, "auth.log"),
}


def _child_ingest(sources: list[tuple[str, int]], db: str) -> dict[str, Any]:
    """Runs in a fresh process: ingest ``(path, copy)`` sources, report time and peak memory."""
    base_rss = _vm_hwm_mib()
    items = [_item(Path(p), c) for p, c in sources]
    with DuckDBStore(Path(db), memory_limit=_DUCKDB_MEMORY) as st, measure() as m:
        ing = Ingestor(Settings(), st)
        accepted = rejected = 0
        for item in items:
            s = ing.ingest_item(item)
            accepted, rejected = accepted + s.accepted, rejected + s.rejected
    peak = _vm_hwm_mib()
    return {"events": accepted, "rejected": rejected, "seconds": round(m.seconds, 3),
            "events_per_s": round(accepted / m.seconds), "peak_rss_mib": round(peak),
            "peak_mem_mib": round(peak - base_rss)}


# DuckDB keeps written blocks in its buffer pool (up to 80 % of RAM by default), which would make
# the process's memory grow with the data stored rather than with the batch size; the suite caps
# it so that what is measured is the pipeline. ``[store] memory_limit`` does the same for users.
_DUCKDB_MEMORY = "512MB"


def _vm_hwm_mib() -> float:
    """Peak resident memory of this process (VmHWM; unlike ru_maxrss it resets on exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _ingest_items(sources: list[tuple[Path, int]], db: Path) -> dict[str, Any]:
    """Ingest in a spawned child process, so peak memory is this run's alone."""
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        return pool.submit(_child_ingest, [(str(p), c) for p, c in sources], str(db)).result()


def _item(path: Path, copy: int = 0) -> SourceItem:
    """A source for ``path`` with a distinct content id per ``copy`` (replicated inputs)."""
    digest = hashlib.sha256(f"{path}#{copy}".encode()).hexdigest()
    return SourceItem(str(path), None, digest, lambda: open_decompressed(path.open("rb")))


def _vs_baselines(ours_eps: float, raw_eps: float, naive_eps: float) -> dict[str, Any]:
    """Baseline rates and our ratios against them."""
    return {"raw_parse_events_per_s": round(raw_eps), "naive_events_per_s": round(naive_eps),
            "ratio_vs_raw_parse": round(ours_eps / raw_eps, 3),
            "ratio_vs_naive": round(ours_eps / naive_eps, 2)}


def _timed(fn: Callable[[], int]) -> tuple[int, float]:
    with measure() as m:
        n = fn()
    return n, m.seconds


def _format_figures(fmt: str, path: Path, work: Path) -> dict[str, Any]:
    ours = _ingest_items([(path, 0)], work / f"{fmt}.duckdb")
    n_raw, t_raw = _timed(lambda: RAW[fmt](path))
    n_naive, t_naive = _timed(lambda: NAIVE[fmt](path, work / f"{fmt}-naive.duckdb"))
    return {**ours, **_vs_baselines(ours["events_per_s"], n_raw / t_raw, n_naive / t_naive)}


def _evtx_figures(ctx: BenchContext, n_target: int) -> dict[str, Any]:
    work = ctx.work_dir / "evtx"
    work.mkdir()
    header, chunks = sample_chunks(ctx.data("evtx_attack_samples"))
    big = work / "replicated.evtx"
    per_file = min(n_target, 100_000)
    per_pass = raw_evtx_count(ctx, chunks, header, work)
    write_evtx(big, header, chunks, max(1, -(-per_file // per_pass)))
    n_file = raw_evtx([big])
    copies = max(1, -(-n_target // n_file))
    ours = _ingest_items([(big, c) for c in range(copies)], work / "evtx.duckdb")
    n_raw, t_raw = _timed(lambda: raw_evtx([big] * copies))
    n_naive, t_naive = _timed(lambda: naive_evtx([big], work / "naive.duckdb"))
    return {**ours, "file_records": n_file, "file_mib": round(big.stat().st_size / 2**20),
            "copies": copies,
            **_vs_baselines(ours["events_per_s"], n_raw / t_raw, n_naive / t_naive)}


def raw_evtx_count(ctx: BenchContext, chunks: list[bytes], header: bytes, work: Path) -> int:
    """Records in one pass over the sample chunks."""
    one = work / "one.evtx"
    write_evtx(one, header, chunks, 1)
    n = raw_evtx([one])
    one.unlink()
    return n


def _real_samples(ctx: BenchContext) -> dict[str, Any]:
    out: dict[str, Any] = {}
    zeek = sorted(ctx.data("zeek_wrccdc2018", "zeek-default").glob("*.log.gz"))
    out["zeek_wrccdc2018"] = _ingest_items([(p, 0) for p in zeek], ctx.work_dir / "r1.duckdb")
    suri = ctx.data("suricata_eve_surevego", "testdata", "eve.json")
    out["suricata_eve"] = _ingest_items([(suri, 0)], ctx.work_dir / "r2.duckdb")
    evtx_files = sorted(ctx.data("evtx_attack_samples").rglob("*.evtx.gz"))
    out["evtx_attack_samples"] = _ingest_items([(p, 0) for p in evtx_files],
                                               ctx.work_dir / "r3.duckdb")
    auth = [ctx.data("loghub_2k", "OpenSSH", "OpenSSH_2k.log.gz"),
            ctx.data("loghub_2k", "Linux", "Linux_2k.log.gz")]
    if auth:
        out["loghub_auth_syslog"] = _ingest_items([(p, 0) for p in auth],
                                                  ctx.work_dir / "r4.duckdb")
    return out


def _memory_scaling(ctx: BenchContext, gen: Callable[[Path, int, int], int],
                    n: int) -> dict[str, Any]:
    """Peak memory of one source of a quarter and of four times the size (one file each)."""
    out: dict[str, Any] = {}
    for label, size in (("quarter", n // 4), ("4x", 4 * n)):
        ctx.progress(f"ingest: memory at {size:,} zeek_json records")
        path = ctx.work_dir / f"mem-{label}.json"
        gen(path, size, ctx.seed)
        r = _ingest_items([(path, 0)], ctx.work_dir / f"mem-{label}.duckdb")
        out[f"peak_mem_mib_at_{label}_size"] = r["peak_mem_mib"]
        out[f"events_per_s_at_{label}_size"] = r["events_per_s"]
        path.unlink()
    return out


def run(ctx: BenchContext) -> SuiteResult:
    n = 100_000 if ctx.quick else 1_000_000
    results: dict[str, Any] = {}
    for fmt, (gen, name) in _GEN.items():
        ctx.progress(f"ingest: generating {n:,} {fmt} records")
        path = ctx.work_dir / name
        gen(path, n, ctx.seed)
        results[fmt] = _format_figures(fmt, path, ctx.work_dir)
        results[fmt]["file_mib"] = round(path.stat().st_size / 2**20, 1)
        path.unlink()
        if fmt == "zeek_json":
            results[fmt].update(_memory_scaling(ctx, gen, n))
    ctx.progress("ingest: EVTX")
    results["evtx"] = _evtx_figures(ctx, n)
    ctx.progress("ingest: real samples")
    results["real_samples"] = _real_samples(ctx)
    shutil.rmtree(ctx.work_dir, ignore_errors=True)
    ctx.work_dir.mkdir(exist_ok=True)
    datasets: list[dict[str, Any]] = [
        {"name": "generated zeek conn / auth.log", "records": n, "seed": ctx.seed,
         "split": "none (throughput)"},
        {"name": "evtx_attack_samples", "files": "all *.evtx, replicated to ≥ records",
         "split": "none"},
        {"name": "zeek_wrccdc2018", "files": "zeek-default/*.log.gz", "split": "none"},
        {"name": "suricata_eve_surevego", "files": "testdata/eve.json", "split": "none"},
    ]
    results["duckdb_memory_limit"] = _DUCKDB_MEMORY
    return SuiteResult(results=results, baselines={
        f: {"raw_parse_events_per_s": r.get("raw_parse_events_per_s"),
            "naive_events_per_s": r.get("naive_events_per_s")}
        for f, r in results.items() if isinstance(r, dict) and "raw_parse_events_per_s" in r
    }, datasets=datasets)
