"""Suite ``sigma``: rule compilation, regression samples, EVTX attack samples, throughput.

* ``results.rules`` — every rule file under ``rules/{windows,linux,network,web}`` and
  ``rules-emerging-threats`` compiled with the built-in pipelines; failures by reason.
* ``results.regression`` — every EVTX positive test in ``regression_data``: the rule named in
  ``info.yml`` must match its sample, read once from the ``.evtx.gz`` (EVTX parser) and once
  from the ``.json`` (Windows JSON parser), with all rules of ``rules*`` loaded together.
* ``results.evtx_attack_samples`` — all rules over each recording of ``evtx_attack_samples``;
  per tactic folder, the files with any alert and the files with an alert whose rule carries
  that folder's ATT&CK tactic tag.
* ``results.events_per_s`` — all compiled Windows rules over ≥ 1,000,000 events (100,000 with
  ``quick``) built by replicating the parsed attack recordings, timed on ``SigmaEngine.match``
  (routing, literal passes, rule trees; best of two runs; alert building excluded and
  timed apart as ``alerts_per_s`` on the first replica). ``events_per_s_without_dedupe``
  turns off the distinct-value literal pass, because replication repeats every value ~175
  times, more than real logs do; ``distinct_ratio`` reports how repetitive the replicated
  columns are.
* ``baselines.sqlite_per_rule`` — the same events in an SQLite table (the referenced columns,
  with an index on channel + event id, which helps the baseline) and one ``SELECT`` per rule
  (its logsource filter AND its tree as SQL, :mod:`mirrorguard.detect.sigma.sql`). Running all
  ~2,700 rules this way takes hours, so a seeded random sample of rules is run and the per-rule
  mean cost is extrapolated to all rules; ``agreement`` is the fraction of sampled rules whose
  SQLite match count equals the engine's.
"""

from __future__ import annotations

import gzip
import random
import sqlite3
import time
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from mirrorguard.bench.harness import BenchContext, SuiteResult
from mirrorguard.detect.sigma.alerts import alerts_from_matches
from mirrorguard.detect.sigma.compiler import CompiledRule
from mirrorguard.detect.sigma.engine import SigmaEngine
from mirrorguard.detect.sigma.ir import leaves
from mirrorguard.detect.sigma.loader import RuleSet, load_rules
from mirrorguard.detect.sigma.sql import register_functions, to_sql
from mirrorguard.ingest.base import Parser
from mirrorguard.ingest.parsers.evtx import EvtxParser
from mirrorguard.ingest.parsers.winjson import WinJsonParser
from mirrorguard.testing.parsers import run_parser

SIGMA = "sigma"
COMPILE_FOLDERS = ("rules/windows", "rules/linux", "rules/network", "rules/web",
                   "rules-emerging-threats")
RULE_ROOTS = ("rules", "rules-emerging-threats", "rules-threat-hunting")
SAMPLES = "evtx_attack_samples"
SQLITE_SAMPLE_RULES = 60
REPEATS = 2


def _parse(parser: type[Parser], data: bytes) -> pl.DataFrame:
    return run_parser(parser, data).events


def _compile_report(rs: RuleSet, root: Path) -> dict[str, Any]:
    prefixes = [str(root / f) + "/" for f in COMPILE_FOLDERS]
    ok = sum(1 for r in rs.rules if any(r.file.startswith(p) for p in prefixes))
    ok += sum(1 for c in rs.correlations if any(c.file.startswith(p) for p in prefixes))
    failed = [f for f in rs.failures if any(f.file.startswith(p) for p in prefixes)]
    by: dict[str, int] = {}
    for f in failed:
        by[f.kind] = by.get(f.kind, 0) + 1
    total = ok + len(failed)
    return {"compiled": ok, "total": total, "rate": round(ok / max(total, 1), 4),
            "failed_by_reason": by,
            "failures": [{"file": f.file.removeprefix(str(root) + "/"), "line": f.line,
                          "kind": f.kind, "reason": f.reason} for f in failed]}


def _regression_samples(root: Path) -> list[tuple[str, str, str, pl.DataFrame | None]]:
    """(test folder, source kind, rule id, parsed events or None when missing)."""
    out: list[tuple[str, str, str, pl.DataFrame | None]] = []
    for info in sorted(root.rglob("info.yml")):
        meta = yaml.safe_load(info.read_text(encoding="utf-8")) or {}
        tests = [t for t in meta.get("regression_tests_info") or [] if t.get("type") == "evtx"]
        if not tests:
            continue
        rid = str(meta["rule_metadata"][0]["id"])
        where = str(info.parent.relative_to(root))
        for kind, parser, pattern in (("evtx", EvtxParser, "*.evtx.gz"),
                                      ("json", WinJsonParser, "*.json")):
            files = sorted(info.parent.glob(pattern))
            if not files:
                out.append((where, kind, rid, None))
                continue
            raw = files[0].read_bytes()
            out.append((where, kind, rid,
                        _parse(parser, gzip.decompress(raw) if kind == "evtx" else raw)))
    return out


def _regression(ctx: BenchContext, rs: RuleSet, engine: SigmaEngine) -> dict[str, Any]:
    """All samples in one frame, one engine pass; each test passes when its rule matched
    one of its own sample's events."""
    samples = _regression_samples(ctx.data(SIGMA, "regression_data"))
    index = {r.id: i for i, r in enumerate(engine.rules)}
    failed_ids = {f.rule_id: f for f in rs.failures if f.rule_id}
    frames = [ev.with_columns(pl.lit(k, dtype=pl.Int64).alias("bench.sample"))
              for k, (_, _, _, ev) in enumerate(samples) if ev is not None and ev.height]
    events = pl.concat(frames, how="diagonal_relaxed")
    m = engine.match(events)
    hit = set(zip(events["bench.sample"].gather(m["row"]).to_list(), m["rule"].to_list(),
                  strict=True))
    passed = 0
    failures: list[dict[str, Any]] = []
    for k, (where, kind, rid, ev) in enumerate(samples):
        reason = None
        if rid not in index:
            why = failed_ids.get(rid)
            reason = f"rule not compiled: {why.reason}" if why else "rule not found"
        elif ev is None:
            reason = "sample missing"
        elif (k, index[rid]) not in hit:
            reason = f"rule did not match its sample ({ev.height} events)"
        if reason is None:
            passed += 1
        else:
            failures.append({"test": where, "source": kind, "reason": reason})
    return {"passed": passed, "total": len(samples), "failures": failures}


def _attack_frames(ctx: BenchContext) -> tuple[pl.DataFrame, list[str]]:
    root = ctx.data(SAMPLES)
    frames: list[pl.DataFrame] = []
    files: list[str] = []
    for path in sorted(root.rglob("*.evtx.gz")):
        rel = str(path.relative_to(root))
        events = _parse(EvtxParser, gzip.decompress(path.read_bytes()))
        files.append(rel)
        if events.height:
            frames.append(events.with_columns(pl.lit(rel).alias("bench.file")))
    return pl.concat(frames, how="diagonal_relaxed"), files


def _folder_tactics(rel: str) -> frozenset[str]:
    """ATT&CK tactic tags that count as matching a recording's folder.

    ATT&CK v18 split Defense Evasion (TA0005) into Stealth and Defense Impairment, and the
    SigmaHQ rules follow it, so the "Defense Evasion" folder accepts all three names.
    """
    parts = rel.split("/")
    if len(parts) < 2 or parts[0] in ("Other", "AutomatedTestingTools"):
        return frozenset()
    name = parts[0].lower().replace(" ", "-")
    if name == "defense-evasion":
        return frozenset({name, "stealth", "defense-impairment"})
    return frozenset({name})


def _attack_samples(events: pl.DataFrame, files: list[str],
                    engine: SigmaEngine) -> dict[str, Any]:
    matches = engine.match(events)
    tactics = pl.Series([list(r.tactics) for r in engine.rules], dtype=pl.List(pl.String))
    hits = matches.with_columns(
        events["bench.file"].gather(matches["row"]).alias("file"),
        tactics.gather(matches["rule"]).alias("tactics"))
    per_file = hits.group_by("file").agg(
        pl.col("tactics").list.explode(keep_nulls=False, empty_as_null=False).unique(),
                                         pl.col("rule").n_unique().alias("rules"))
    seen = {f: (set(t), n) for f, t, n in per_file.iter_rows()}
    by: dict[str, dict[str, int]] = {}
    for rel in files:
        folder = rel.split("/")[0] if "/" in rel else "(root)"
        accepted = _folder_tactics(rel)
        row = by.setdefault(folder, {"files": 0, "files_with_alert": 0,
                                     "files_with_tactic_alert": 0})
        row["files"] += 1
        got = seen.get(rel)
        if got:
            row["files_with_alert"] += 1
            row["files_with_tactic_alert"] += int(bool(accepted & got[0]))
    return {"files": len(files), "events": events.height,
            "files_with_alert": sum(v["files_with_alert"] for v in by.values()),
            "files_with_tactic_alert": sum(v["files_with_tactic_alert"] for v in by.values()),
            "alerts": matches.height, "by_tactic": by}


def _replicate(events: pl.DataFrame, n: int) -> pl.DataFrame:
    reps = -(-n // max(events.height, 1))
    return pl.concat([events] * reps).head(n)


def _throughput(ctx: BenchContext, events: pl.DataFrame,
                rules: list[CompiledRule]) -> tuple[dict[str, Any], pl.DataFrame, pl.DataFrame]:
    n = 100_000 if ctx.quick else 1_000_000
    big = _replicate(events.drop("bench.file"), n)
    engine = SigmaEngine(rules)
    plain = SigmaEngine(rules, dedupe=False)
    engine.match(events.drop("bench.file"))  # warm-up (regex/automaton code paths)
    dt = dt_plain = float("inf")
    for _ in range(REPEATS):  # best of REPEATS, alternating (the machine is shared)
        t0 = time.perf_counter()
        matches = engine.match(big)
        dt = min(dt, time.perf_counter() - t0)
        t1 = time.perf_counter()
        plain_matches = plain.match(big)
        dt_plain = min(dt_plain, time.perf_counter() - t1)
    first = matches.filter(pl.col("row") < events.height)
    t2 = time.perf_counter()
    explained = engine.explain(big, first)
    alerts = alerts_from_matches(engine.rules, big, first, explained)
    dt_alerts = time.perf_counter() - t2
    text_cols = ["winlog.event_data.CommandLine", "winlog.event_data.Image",
                 "winlog.event_data.TargetObject", "winlog.event_data.ImageLoaded"]
    ratio = {c: round(big[c].n_unique() / max(big[c].drop_nulls().len(), 1), 5)
             for c in text_cols if c in big.columns}
    out = {"events": big.height, "windows_rules": len(rules), "groups": len(engine.groups),
           "seconds": round(dt, 3), "events_per_s": round(big.height / dt),
           "matches": matches.height,
           "events_per_s_without_dedupe": round(big.height / dt_plain),
           "same_matches_without_dedupe": plain_matches.equals(matches),
           "alerts_per_s": round(len(alerts) / max(dt_alerts, 1e-9)),
           "distinct_ratio": ratio, "stats": vars(engine.stats)}
    return out, big, matches


def _sqlite_load(con: sqlite3.Connection, base: pl.DataFrame, cols: list[str],
                 quote: dict[str, str], n: int) -> None:
    """The replicated events as table ``ev``: the distinct base events inserted once, then
    copied inside SQLite (``INSERT … SELECT``) until ``n`` rows, like :func:`_replicate`."""
    con.execute("CREATE TABLE ev (" + ", ".join(quote[c] for c in cols) + ")")
    table = base.select(pl.col(c).cast(pl.String) if base.schema[c] != pl.Int32 else pl.col(c)
                        for c in cols)
    holes = ", ".join("?" * len(cols))
    con.executemany(f"INSERT INTO ev VALUES ({holes})",  # noqa: S608 (placeholders)
                    table.iter_rows())
    have = base.height
    while have < n:
        take = min(have, n - have)
        con.execute(f"INSERT INTO ev SELECT * FROM ev LIMIT {take}")  # noqa: S608 (int)
        have += take
    route = [quote[c] for c in ("winlog.channel", "winlog.event_id") if c in quote]
    if route:
        con.execute(f"CREATE INDEX ev_route ON ev ({', '.join(route)})")
    con.commit()


def _sqlite_baseline(ctx: BenchContext, base: pl.DataFrame, big: pl.DataFrame,
                     rules: list[CompiledRule], matches: pl.DataFrame) -> dict[str, Any]:
    needed = {c for r in rules for cond in r.mapping.conditions for c in cond}
    for r in rules:
        for leaf in leaves(r.tree):
            needed.update(c for c in leaf.column if not c.startswith("\x00"))
            if leaf.column and leaf.column[0].startswith("\x00"):
                needed.update(c for c in big.columns if any(
                    c.startswith(p[:-1]) if p.endswith("*") else c == p
                    for p in leaf.column[1:]))
    cols = [c for c in big.columns if c in needed]
    quote = {c: f"c{i}" for i, c in enumerate(cols)}  # SQLite names are case-insensitive
    path = ctx.work_dir / "sigma_baseline.sqlite"
    path.unlink(missing_ok=True)
    con = sqlite3.connect(path)
    register_functions(con)
    t0 = time.perf_counter()
    _sqlite_load(con, base, cols, quote, big.height)
    load_s = time.perf_counter() - t0
    rng = random.Random(ctx.seed)  # noqa: S311 (sampling rules, not cryptography)
    sample = rng.sample(range(len(rules)), min(SQLITE_SAMPLE_RULES, len(rules)))
    counts = matches.group_by("rule").len()
    ours = dict(zip(counts["rule"].to_list(), counts["len"].to_list(), strict=True))
    spent, agree, errors = 0.0, 0, 0
    for i in sample:
        rule = rules[i]
        # the WHERE clause is generated from compiled rules with quoted literals
        sql = (f"SELECT count(*) FROM ev WHERE {rule.mapping.filter_sql(quote)} "  # noqa: S608
               f"AND {to_sql(rule.tree, quote)}")
        t = time.perf_counter()
        try:
            got = con.execute(sql).fetchone()[0]
        except sqlite3.Error:
            errors += 1
            continue
        finally:
            spent += time.perf_counter() - t
        agree += int(got == ours.get(i, 0))
    con.close()
    path.unlink(missing_ok=True)
    per_rule = spent / max(len(sample), 1)
    total_s = per_rule * len(rules)
    return {"events": big.height, "rules": len(rules), "sampled_rules": len(sample),
            "seconds_per_rule": round(per_rule, 4), "extrapolated_seconds": round(total_s, 1),
            "events_per_s": round(big.height / total_s) if total_s else None,
            "load_seconds": round(load_s, 1), "agreement": round(agree / max(len(sample)
                                                                            - errors, 1), 4),
            "errors": errors, "method": "seeded sample of rules, mean cost x all rules; "
            "index on (channel, event id)"}


def run(ctx: BenchContext) -> SuiteResult:
    """Run the ``sigma`` suite (see the module docstring)."""
    root = ctx.data(SIGMA)
    t0 = time.perf_counter()
    rs = load_rules([ctx.data(SIGMA, d) for d in RULE_ROOTS])
    load_s = time.perf_counter() - t0
    ctx.progress(f"sigma: {len(rs.rules)} rules compiled in {load_s:.1f}s")
    rules_report = _compile_report(rs, root)
    rules_report["load_seconds"] = round(load_s, 1)
    engine = SigmaEngine(rs.rules)
    regression = _regression(ctx, rs, engine)
    ctx.progress(f"sigma: regression {regression['passed']}/{regression['total']}")
    events, files = _attack_frames(ctx)
    samples = _attack_samples(events, files, engine)
    windows = [r for r in rs.rules if r.mapping.id.startswith("windows/")]
    speed, big, matches = _throughput(ctx, events, windows)
    ctx.progress(f"sigma: {speed['events_per_s']} events/s")
    baseline = _sqlite_baseline(ctx, events.drop("bench.file"), big, windows, matches)
    ratio = (speed["events_per_s"] / baseline["events_per_s"]
             if baseline["events_per_s"] else None)
    return SuiteResult(
        results={"rules": rules_report, "regression": regression,
                 "evtx_attack_samples": samples, **speed,
                 "speedup_vs_sqlite": None if ratio is None else round(ratio, 1)},
        baselines={"sqlite_per_rule": baseline},
        datasets=[
            {"name": "sigma (SigmaHQ rules + regression_data)", "files": list(RULE_ROOTS),
             "split": "all", "seed": None},
            {"name": SAMPLES, "files": len(files), "split": "development (shared) files",
             "seed": ctx.seed},
        ],
        notes=[f"throughput events = {SAMPLES} replicated to {speed['events']} rows",
               "SQLite baseline extrapolated from a seeded sample of rules (see module doc)"],
    )
