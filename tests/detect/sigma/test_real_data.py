"""Real SigmaHQ rules over real samples: regression pairs, and SQLite cross-check."""

from __future__ import annotations

import gzip
import sqlite3
from pathlib import Path

import polars as pl
import pytest
import yaml
from tests.conftest import need_data

from mirrorguard.detect.sigma import SigmaEngine, load_rules
from mirrorguard.detect.sigma.sql import register_functions, to_sql
from mirrorguard.ingest.parsers.evtx import EvtxParser
from mirrorguard.ingest.parsers.winjson import WinJsonParser
from mirrorguard.testing.parsers import run_parser

pytestmark = pytest.mark.data


def _rule_files_by_id(roots: list[Path], ids: set[str]) -> list[Path]:
    out = []
    for root in roots:
        for f in root.rglob("*.yml"):
            text = f.read_text(encoding="utf-8", errors="replace")
            if any(f"id: {i}" in text for i in ids):
                out.append(f)
    return out


def test_regression_samples_match_their_rules_from_evtx_and_json() -> None:
    root = need_data("sigma", "regression_data")
    infos = sorted(root.rglob("info.yml"))[::9]  # a spread of ~15 tests; the suite runs all
    cases = []
    for info in infos:
        meta = yaml.safe_load(info.read_text())
        if meta.get("regression_tests_info"):
            cases.append((info.parent, str(meta["rule_metadata"][0]["id"])))
    sigma = need_data("sigma")
    files = _rule_files_by_id([sigma / "rules", sigma / "rules-emerging-threats",
                               sigma / "rules-threat-hunting"], {i for _, i in cases})
    rs = load_rules(files)
    index = {r.id: k for k, r in enumerate(rs.rules)}
    engine = SigmaEngine(rs.rules)
    for folder, rid in cases:
        assert rid in index, (folder, rs.failures)
        evtx = run_parser(EvtxParser, gzip.decompress(next(folder.glob("*.evtx.gz"))
                                                      .read_bytes())).events
        js = run_parser(WinJsonParser, next(folder.glob("*.json")).read_bytes()).events
        for events in (evtx, js):
            hits = engine.match(events).filter(pl.col("rule") == index[rid])
            assert hits.height >= 1, (folder.name, events.height)


def test_sqlite_translation_agrees_with_the_engine_on_real_rules_and_events() -> None:
    sigma = need_data("sigma", "rules", "windows")
    samples = need_data("evtx_attack_samples")
    rule_files = sorted((sigma / "process_creation").glob("*.yml"))[::25]
    rule_files += sorted((sigma / "registry").rglob("*.yml"))[::20]
    rules = load_rules(rule_files).rules
    frames = [run_parser(EvtxParser, gzip.decompress(p.read_bytes())).events
              for p in sorted(samples.rglob("*.evtx.gz"))[::6]]
    events = pl.concat([f for f in frames if f.height], how="diagonal_relaxed")
    matches = SigmaEngine(rules).match(events)
    ours = dict(matches.group_by("rule").len().iter_rows())
    con = sqlite3.connect(":memory:")
    register_functions(con)
    cols = events.columns
    quote = {c: f"c{i}" for i, c in enumerate(cols)}
    con.execute("CREATE TABLE ev (" + ", ".join(quote.values()) + ")")
    table = events.select(pl.col(c) if events.schema[c] == pl.Int32 else
                          pl.col(c).cast(pl.String) for c in cols)
    con.executemany(f"INSERT INTO ev VALUES ({', '.join('?' * len(cols))})",
                    table.iter_rows())
    assert len(rules) > 40 and matches.height > 0
    for i, rule in enumerate(rules):
        where = f"{rule.mapping.filter_sql(quote)} AND {to_sql(rule.tree, quote)}"
        got = con.execute(f"SELECT count(*) FROM ev WHERE {where}").fetchone()[0]
        assert got == ours.get(i, 0), rule.file
