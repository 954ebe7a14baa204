"""End-to-end matching semantics: types, subdomains, CIDRs, AND, fields, validity, suppression."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from mirrorguard.detect.intel import IntelMatcher, IntelSet, WarningLists, load_stix, load_text
from mirrorguard.schema.fields import FIELDS

T0 = datetime(2024, 5, 1, tzinfo=UTC)


def _events(rows: list[dict[str, object]]) -> pl.DataFrame:
    cols = sorted({k for r in rows for k in r} | {"@timestamp"})
    data = {c: [r.get(c, T0 if c == "@timestamp" else None) for r in rows] for c in cols}
    schema = {c: FIELDS.get(c, pl.String()) for c in cols}
    return pl.DataFrame(data, schema=schema).with_columns(
        pl.Series("event.id", [f"e{i}" for i in range(len(rows))]))


def _pairs(m: IntelMatcher, ev: pl.DataFrame, status: str | None = "alert") -> set[tuple[str, str]]:
    hits = m.match(ev)
    if status:
        hits = hits.filter(pl.col("status") == status)
    return set(hits.select("event.id", "indicator.value").rows())


NONE = WarningLists([])


def test_types_and_fields() -> None:
    intel = load_text("\n".join([
        "198.51.100.0/24", "203.0.113.9", "2001:db8::/32", "evil.example", "a" * 32, "b" * 40,
        "c" * 64, "bad@evil.example", "http://evil.example/gate.php"]), source="l.txt")
    intel = IntelSet.concat([intel, load_text("exact.example", type="hostname", source="h")])
    ev = _events([
        {"source.ip": "198.51.100.77"}, {"destination.ip": "203.0.113.9"},
        {"client.ip": "2001:DB8::abcd"}, {"dns.question.name": "x.y.EVIL.example."},
        {"tls.server.name": "notevil.example"}, {"file.hash.md5": "A" * 32},
        {"process.hash.sha1": "b" * 40}, {"file.hash.sha256": "c" * 64},
        {"email.to.address": "ok@x.example, <BAD@evil.example>"},
        {"url.original": "HTTP://EVIL.EXAMPLE:80/gate.php#x"},
        {"url.domain": "exact.example"}, {"url.domain": "sub.exact.example"},
        {"dns.resolved_ip": ["192.0.2.1", "198.51.100.1"]}, {"destination.ip": "not-an-ip"}])
    got = _pairs(IntelMatcher(intel, warninglists=NONE), ev)
    assert got == {("e0", "198.51.100.0/24"), ("e1", "203.0.113.9"), ("e2", "2001:db8::/32"),
                   ("e3", "evil.example"), ("e5", "a" * 32), ("e6", "b" * 40),
                   ("e7", "c" * 64), ("e8", "bad@evil.example"),
                   ("e9", "http://evil.example/gate.php"), ("e10", "exact.example"),
                   ("e12", "198.51.100.0/24")}


def test_nested_cidrs_and_one_row_per_event_and_indicator() -> None:
    intel = load_text("10.0.0.0/8\n10.1.0.0/16\n10.1.2.3\n", source="l")
    ev = _events([{"source.ip": "10.1.2.3", "destination.ip": "10.1.2.3"}])
    hits = IntelMatcher(intel, warninglists=NONE).match(ev)
    assert sorted(hits["indicator.value"].to_list()) == ["10.0.0.0/8", "10.1.0.0/16", "10.1.2.3"]
    assert set(hits["field"].to_list()) == {"destination.ip,source.ip"}


def _bundle(*patterns: str, **extra: object) -> dict[str, object]:
    return {"type": "bundle", "objects": [
        {"type": "indicator", "id": f"indicator--{i}", "pattern": p,
         "valid_from": "2024-01-01T00:00:00Z", **extra} for i, p in enumerate(patterns)]}


def test_and_patterns_need_all_atoms_in_one_event() -> None:
    md5, sha = "1" * 32, "2" * 64
    intel = load_stix(_bundle(f"[file:hashes.MD5 = '{md5}' AND file:hashes.'SHA-256' = '{sha}']"))
    ev = _events([{"file.hash.md5": md5, "file.hash.sha256": sha}, {"file.hash.md5": md5},
                  {"file.hash.md5": md5, "file.hash.sha256": "3" * 64}])
    hits = IntelMatcher(intel, warninglists=NONE).match(ev)
    assert hits["event.id"].to_list() == ["e0"]
    assert hits["field"].to_list() == ["file.hash.md5,file.hash.sha256"]


def test_field_restrictions_from_object_paths() -> None:
    intel = load_stix(_bundle("[network-traffic:dst_ref.value = '198.51.100.5']",
                              "[email-message:from_ref.value = 'x@evil.example']"))
    ev = _events([{"source.ip": "198.51.100.5"}, {"destination.ip": "198.51.100.5"},
                  {"email.to.address": "x@evil.example"},
                  {"email.from.address": "x@evil.example"}])
    got = _pairs(IntelMatcher(intel, warninglists=NONE), ev, status=None)  # IPs decayed by May
    assert {e for e, _ in got} == {"e1", "e3"}


def test_validity_revocation_and_to_ids() -> None:
    b = _bundle("[ipv4-addr:value = '198.51.100.1']", valid_until="2024-05-02T00:00:00Z",
                confidence=90, modified="2024-05-01T00:00:00Z")
    b["objects"].append({"type": "indicator", "id": "indicator--r", "revoked": True,  # type: ignore[union-attr]
                         "pattern": "[ipv4-addr:value = '198.51.100.2']",
                         "valid_from": "2024-01-01T00:00:00Z"})
    m = IntelMatcher(load_stix(b), warninglists=NONE)
    ev = _events([{"source.ip": "198.51.100.1", "@timestamp": T0},
                  {"source.ip": "198.51.100.1", "@timestamp": T0 + timedelta(days=3)},
                  {"source.ip": "198.51.100.1", "@timestamp": datetime(2023, 1, 1, tzinfo=UTC)},
                  {"source.ip": "198.51.100.2"}])
    hits = m.match(ev)
    assert hits.select("event.id", "status").rows() == [
        ("e0", "alert"), ("e1", "outside_validity"), ("e2", "outside_validity")]
    assert m.compile_counts["revoked"] == 1
    assert m.stats.hits["outside_validity"] == 2


def test_warninglists_suppress_and_decay_filters() -> None:
    intel = load_text("8.8.8.8\n8.0.0.0/8\n198.51.100.0/24\n", source="l")
    m = IntelMatcher(intel)  # built-in warning-lists
    assert m.compile_counts["warninglisted"] == 1  # 8.8.8.8 itself never enters the index
    ev = _events([{"destination.ip": "8.8.8.8"}, {"destination.ip": "8.1.2.3"}])
    hits = m.match(ev)
    assert hits.select("event.id", "status", "warninglist").rows() == [
        ("e0", "warninglist", "mirrorguard: public DNS resolvers"), ("e1", "alert", None)]
    old = _events([{"destination.ip": "198.51.100.9", "@timestamp": T0}])
    intel = load_text("198.51.100.0/24", source="l")
    intel.indicators = intel.indicators.with_columns(
        pl.lit(T0 - timedelta(days=29), dtype=pl.Datetime("us", "UTC")).alias(
            "indicator.last_seen"))
    assert IntelMatcher(intel).match(old)["status"].to_list() == ["decayed"]


def test_inputs_untouched_missing_fields_and_empty_intel() -> None:
    ev = _events([{"source.ip": "198.51.100.1"}])
    before = ev.clone()
    m = IntelMatcher(load_text("198.51.100.1\nevil.example", source="l"))
    m.match(ev)
    assert ev.equals(before)
    assert m.match(ev.select("@timestamp")).height == 0
    empty = IntelMatcher(IntelSet.empty())
    assert empty.match(ev).height == 0 and empty.compile_counts["atoms_indexed"] == 0
