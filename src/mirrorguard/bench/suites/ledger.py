"""Suite ``ledger``: append and verify speed of the decision ledger, and tamper detection.

Payloads are built from real data: alerts from the Zeek ``weird``/``notice`` logs of the
WRCCDC 2018 capture (entities, names, uids, a rarity score computed from the log itself),
ingest records with the real SHA-256 and size of every file in that folder, and verdicts,
incident changes, response actions and model registrations that refer to those alerts.

Steps: build an ``entries``-entry DuckDB ledger (1,000,000; quick: 20,000) sealed every
``seal_every`` entries and time the appends; time a full verify (twice: before and after the
trials, the second also proving every trial was rolled back); apply ``trials`` seeded random
tamperings (:mod:`mirrorguard.guard.ledger.tamper`), each inside a transaction that is rolled
back, verifying the seal ranges around the tampered place and checking the first bad entry it
names; re-run a sample of them through a full verify; repeat file-level tamperings (bit flips
in the bytes, line deletions, forged lines, swaps, cuts) on a JSON-lines ledger; export and
check inclusion proofs offline, and check that forged proofs fail.
"""

from __future__ import annotations

import bisect
import gzip
import math
import statistics
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from mirrorguard.bench.harness import BenchContext, SuiteResult
from mirrorguard.guard.keys import Signer, Verifier, generate_keypair
from mirrorguard.guard.ledger import (
    DuckDBLedgerBackend,
    JsonlLedgerBackend,
    Ledger,
    Record,
    export_proof,
    file_digest,
    verify_ledger,
    verify_proof,
)
from mirrorguard.guard.ledger.encoding import hash_column
from mirrorguard.guard.ledger.report import VerifyReport
from mirrorguard.guard.ledger.tamper import (
    DUCKDB_KINDS,
    JSONL_KINDS,
    DuckDBTamperer,
    JsonlTamperer,
    Tampering,
    is_located,
)

ZEEK = ("zeek_wrccdc2018", "zeek-default")


@dataclass(frozen=True)
class Config:
    entries: int
    seal_every: int
    trials: int
    full_sample_per_kind: int
    jsonl_entries: int
    jsonl_trials: int
    proofs: int
    flush_every: int = 10_000


def config_for(quick: bool) -> Config:
    if quick:
        return Config(20_000, 1_000, 1_000, 10, 5_000, 120, 50)
    return Config(1_000_000, 10_000, 1_200, 2, 50_000, 300, 200)


@dataclass
class Sources:
    alerts: list[dict[str, Any]]
    ingests: list[dict[str, Any]]
    t0: datetime


def _zeek_rows(path: Path) -> Iterator[dict[str, str]]:
    fields: list[str] = []
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as fh:
        for raw in fh:
            line = raw.rstrip("\n")
            if line.startswith("#fields"):
                fields = line.split("\t")[1:]
            elif line and not line.startswith("#"):
                yield dict(zip(fields, line.split("\t"), strict=False))


def load_sources(folder: Path) -> Sources:
    """Alert shapes from Zeek weird/notice logs and ingest records from real file digests."""
    weird = list(_zeek_rows(folder / "weird.log.gz"))
    notice = list(_zeek_rows(folder / "notice.log.gz"))
    freq = Counter(r["name"] for r in weird)
    alerts = []
    for r in weird + notice:
        title = r.get("name") or r.get("note") or "unknown"
        score = round(-math.log10(freq.get(title, 1) / len(weird)), 4) if "name" in r else 5.0
        alerts.append({
            "detector": "zeek.weird" if "name" in r else "zeek.notice",
            "title": title, "score": score,
            "severity": "high" if score > 3 else "medium" if score > 1.5 else "low",
            "entities": {"ip": [r.get("id.orig_h", "-"), r.get("id.resp_h", "-")]},
            "ports": [r.get("id.orig_p", "-"), r.get("id.resp_p", "-")],
            "evidence": [r.get("uid", "-")], "message": r.get("msg", r.get("addl", "-")),
            "event_time": r.get("ts", "-"),
        })
    ingests = [{"path": f"{ZEEK[0]}/{ZEEK[1]}/{p.name}", "sha256": file_digest(p),
                "bytes": p.stat().st_size, "format": "zeek-tsv"}
               for p in sorted(folder.glob("*.log.gz"))]
    t0 = datetime.fromtimestamp(float(weird[0]["ts"]), tz=UTC)
    return Sources(alerts, ingests, t0)


_MIX = ["alert"] * 72 + ["verdict"] * 10 + ["incident"] * 8 + ["action"] * 5 + \
       ["ingest"] * 4 + ["model"]
_LABELS = ["true_positive", "benign_true_positive", "false_positive"]
_STATUS = ["new", "triaged", "contained", "closed"]


def _record(i: int, src: Sources, rng: np.random.Generator) -> Record:
    kind = _MIX[i % len(_MIX)]
    when = src.t0 + timedelta(milliseconds=10 * i)
    a = src.alerts[i % len(src.alerts)]
    alert_id = f"al-{i // 100:07d}-{i % 100:02d}"
    if kind == "alert":
        return kind, "automation", {**a, "alert_id": alert_id}, when
    if kind == "verdict":
        label = _LABELS[int(rng.integers(0, 3))]
        return kind, f"analyst-{int(rng.integers(1, 9))}", {
            "alert_id": alert_id, "label": label, "scope": "alert",
            "reason": f"{a['title']} from {a['entities']['ip'][0]} reviewed"}, when
    if kind == "incident":
        return kind, "automation", {
            "incident_id": f"inc-{a['entities']['ip'][0]}", "status": _STATUS[i % 4],
            "alerts": [f"al-{i // 100:07d}-{k:02d}" for k in range(min(5, i % 100))],
            "risk": a["score"], "tactics": ["TA0007", "TA0011"][: 1 + i % 2]}, when
    if kind == "action":
        return kind, "automation", {
            "action": "block_ip", "target": a["entities"]["ip"][0], "dry_run": True,
            "ttl_s": 3600, "incident_id": f"inc-{a['entities']['ip'][0]}"}, when
    if kind == "ingest":
        return kind, "automation", src.ingests[i % len(src.ingests)], when
    return kind, "automation", {
        "model": "iforest-flows", "version": i // 1000, "stage": "registered",
        "sha256": src.ingests[(i // 7) % len(src.ingests)]["sha256"]}, when


def _append(ledger: Ledger, src: Sources, n: int, seed: int) -> float:
    """Append n records in chunks (generated untimed); returns timed seconds."""
    rng = np.random.default_rng(seed)
    spent = 0.0
    for lo in range(0, n, 50_000):
        chunk = [_record(i, src, rng) for i in range(lo, min(n, lo + 50_000))]
        t = time.perf_counter()
        ledger.append_many(chunk)
        spent += time.perf_counter() - t
    t = time.perf_counter()
    ledger.close()
    return spent + time.perf_counter() - t


def _window(seals_first: list[int], n_seals: int, t: Tampering, n: int) -> dict[str, Any]:
    if t.seal_no is not None and t.kind == "foreign_resign":
        return {"from_seal": t.seal_no, "to_seal": t.seal_no}
    lo = max(0, bisect.bisect_right(seals_first, t.span[0]) - 1)
    if t.span[1] is None:
        return {"from_seal": lo, "to_seal": None}
    hi = max(0, bisect.bisect_right(seals_first, min(t.span[1], n - 1)) - 1)
    return {"from_seal": lo, "to_seal": min(hi, n_seals - 1)}


def _tally(by_kind: dict[str, Counter[str]], kind: str, report: Any, t: Tampering) -> None:
    c = by_kind.setdefault(kind, Counter())
    c["trials"] += 1
    c["detected"] += int(not report.ok)
    c["located"] += int(is_located(report, t))


def _duckdb_trials(
    backend: DuckDBLedgerBackend, verifier: Verifier, cfg: Config, seed: int
) -> dict[str, Any]:
    seals, _ = backend.read_seals()
    firsts = [s.first_seq for s in seals]
    rng = np.random.default_rng(seed + 1)
    tamperer = DuckDBTamperer(backend, seals, Signer(generate_keypair()[0]), rng)
    by_kind: dict[str, Counter[str]] = {}
    full: dict[str, Counter[str]] = {}
    agree, window_ms = 0, []
    for k in range(cfg.trials):
        kind = DUCKDB_KINDS[k % len(DUCKDB_KINDS)]
        backend.con.execute("BEGIN TRANSACTION")
        try:
            t = tamperer.apply(kind)
            t0 = time.perf_counter()
            report = verify_ledger(backend, [verifier], **_window(firsts, len(seals), t,
                                                                   cfg.entries))
            window_ms.append(1000 * (time.perf_counter() - t0))
            _tally(by_kind, kind, report, t)
            if k // len(DUCKDB_KINDS) < cfg.full_sample_per_kind:
                whole = verify_ledger(backend, [verifier])
                _tally(full, kind, whole, t)
                agree += int(whole.first_bad_seq == report.first_bad_seq)
        finally:
            backend.con.execute("ROLLBACK")
    return {"by_kind": {k: dict(v) for k, v in by_kind.items()},
            "full": {k: dict(v) for k, v in full.items()}, "full_agree": agree,
            "window_ms_median": round(statistics.median(window_ms), 2)}


def _jsonl_part(src: Sources, work: Path, signer: Signer, verifier: Verifier, cfg: Config,
                seed: int) -> dict[str, Any]:
    backend = JsonlLedgerBackend(work / "decisions.ledger")
    ledger = Ledger(backend, signer=signer, seal_every=cfg.seal_every // 10,
                    flush_every=cfg.flush_every)
    append_s = _append(ledger, src, cfg.jsonl_entries, seed)
    t0 = time.perf_counter()
    clean = verify_ledger(backend, [verifier])
    verify_s = time.perf_counter() - t0
    tamperer = JsonlTamperer(backend.entries_file, backend.seals_file,
                             np.random.default_rng(seed + 2))
    by_kind: dict[str, Counter[str]] = {}
    for k in range(cfg.jsonl_trials):
        kind = JSONL_KINDS[k % len(JSONL_KINDS)]
        t = tamperer.apply(kind)
        report = verify_ledger(backend, [verifier])
        tamperer.restore()
        _tally(by_kind, kind, report, t)
    return {
        "entries": cfg.jsonl_entries, "clean_verify_ok": clean.ok,
        "append_per_s": round(cfg.jsonl_entries / append_s),
        "verify_per_s": round(cfg.jsonl_entries / verify_s),
        "file_bytes": backend.entries_file.stat().st_size,
        "by_kind": {k: dict(v) for k, v in by_kind.items()},
        **_totals(by_kind),
    }


def _totals(by_kind: dict[str, Counter[str]]) -> dict[str, int]:
    return {f"tamper_{k}": sum(c[k] for c in by_kind.values())
            for k in ("trials", "detected", "located")}


def _proofs(backend: DuckDBLedgerBackend, pub: Verifier, cfg: Config,
            seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed + 3)
    seqs = rng.integers(0, cfg.entries, cfg.proofs)
    docs = [export_proof(backend, int(s)) for s in seqs]
    t0 = time.perf_counter()
    valid = sum(verify_proof(d, pub).ok for d in docs)
    check_s = time.perf_counter() - t0
    sizes = [len(orjson.dumps(d)) for d in docs]
    rejected = 0
    for d in docs:
        d["entry"]["payload"] = d["entry"]["payload"].replace('"', "'", 1)
        rejected += int(not verify_proof(d, pub).ok)
    return {"exported": len(docs), "valid": valid, "forged_rejected": rejected,
            "check_per_s": round(len(docs) / check_s), "mean_bytes": round(np.mean(sizes))}


def _baselines(backend: DuckDBLedgerBackend, n: int) -> dict[str, Any]:
    """Raw SHA-256 over the same canonical bytes, and a bare DuckDB insert of the same rows."""
    table, _ = backend.read_entries(0, n - 1)
    t0 = time.perf_counter()
    hash_column(table)
    hash_s = time.perf_counter() - t0
    backend.con.execute("CREATE TEMP TABLE bare AS SELECT * FROM ledger_entries LIMIT 0")
    backend.con.register("_rows", table)
    t0 = time.perf_counter()
    backend.con.execute("INSERT INTO bare SELECT * FROM _rows")
    insert_s = time.perf_counter() - t0
    backend.con.execute("DROP TABLE bare")
    return {"encode_and_sha256_only_per_s": round(n / hash_s),
            "duckdb_bulk_insert_only_per_s": round(n / insert_s), "rows": n}


def run(ctx: BenchContext) -> SuiteResult:
    """The registered entry point: full size, or quick sizes with ``ctx.quick``."""
    return run_with(ctx, config_for(ctx.quick))


def run_with(ctx: BenchContext, cfg: Config) -> SuiteResult:
    """Run the suite with explicit sizes."""
    folder = ctx.data(*ZEEK)
    src = load_sources(folder)
    priv, pub = generate_keypair()
    signer, verifier = Signer(priv), Verifier(pub)
    path = ctx.work_dir / "ledger.duckdb"
    ctx.progress(f"ledger: appending {cfg.entries:,} entries")
    append_s = _append(Ledger(DuckDBLedgerBackend(path), signer=signer,
                              seal_every=cfg.seal_every, flush_every=cfg.flush_every),
                       src, cfg.entries, ctx.seed)
    backend = DuckDBLedgerBackend(path)
    first = verify_ledger(backend, [verifier])
    ctx.progress(f"ledger: {cfg.trials} tamper trials")
    trials = _duckdb_trials(backend, verifier, cfg, ctx.seed)
    second = verify_ledger(backend, [verifier])
    ctx.progress("ledger: JSON-lines ledger, proofs, baselines")
    jsonl = _jsonl_part(src, ctx.work_dir, signer, verifier, cfg, ctx.seed)
    proofs = _proofs(backend, verifier, cfg, ctx.seed)
    baselines = _baselines(backend, min(cfg.entries, 100_000))
    results = _assemble(cfg, append_s, (first, second), trials)
    results.update(db_bytes=path.stat().st_size, jsonl=jsonl, proofs=proofs)
    backend.close()
    datasets = [{"name": "zeek_wrccdc2018", "files": ["zeek-default/weird.log.gz",
                 "zeek-default/notice.log.gz", "zeek-default/*.log.gz (digests)"],
                 "split": "all rows", "seed": ctx.seed}]
    notes = [f"{len(src.alerts):,} real Zeek alerts and {len(src.ingests)} file digests "
             "cycled into payloads; times are the capture's start + 10 ms per entry",
             "tamper trials verify the seal ranges around the tampered place; "
             "full_verify_sample re-checks some with a full verify"]
    return SuiteResult(results=results, baselines=baselines, datasets=datasets, notes=notes)


def _assemble(cfg: Config, append_s: float, verifies: tuple[VerifyReport, VerifyReport],
              trials: dict[str, Any]) -> dict[str, Any]:
    by_kind = {k: Counter(v) for k, v in trials["by_kind"].items()}
    full = {k: Counter(v) for k, v in trials["full"].items()}
    verify_s = min(v.seconds for v in verifies)
    return {
        "entries": cfg.entries, "seal_every": cfg.seal_every, "flush_every": cfg.flush_every,
        "seals": verifies[0].seals_checked,
        "append_per_s": round(cfg.entries / append_s),
        "verify_per_s": round(cfg.entries / verify_s),
        "verify_seconds": [round(v.seconds, 3) for v in verifies],
        "verify_clean_before_and_after_trials": all(v.ok for v in verifies),
        **_totals(by_kind),
        "tamper_by_kind": trials["by_kind"],
        "window_verify_ms_median": trials["window_ms_median"],
        "full_verify_sample": {**_totals(full), "by_kind": trials["full"],
                               "same_first_bad_seq_as_window": trials["full_agree"]},
        "targets_met": {
            "append_per_s>=20000": cfg.entries / append_s >= 20_000,
            "verify_per_s>=200000": cfg.entries / verify_s >= 200_000,
            "all_detected_and_located": _all_found(by_kind) and _all_found(full),
        },
    }


def _all_found(by_kind: dict[str, Counter[str]]) -> bool:
    return all(c["trials"] == c["detected"] == c["located"] for c in by_kind.values())
