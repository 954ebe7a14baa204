"""Windows JSON layouts: evtx_dump documents, Winlogbeat 7/6, Mordor flat, Azure rows."""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import need_data

from mirrorguard.ingest.base import Origin, ParseContext, ParseResult
from mirrorguard.ingest.parsers.winjson import WinJsonParser
from mirrorguard.ingest.sources import GzipStream, iter_sources

MORDOR = "mordor_security_datasets"
GRIXBA = ("sigma", "regression_data", "rules-emerging-threats", "2025", "Malware", "Grixba",
          "proc_creation_win_malware_grixba_recon", "af688c76-4ce4-4309-bfdd-e896f01acf27.json")
SECURITY_4624 = {
    "Event": {"System": {"Provider": {"#attributes": {"Name": "Microsoft-Windows-Security-Auditing"}},
                         "EventID": 4624, "Channel": "Security", "Computer": "DC1",
                         "Keywords": "0x8020000000000000", "EventRecordID": 9,
                         "TimeCreated": {"#attributes": {"SystemTime": "2024-01-01T00:00:01Z"}}},
              "EventData": {"TargetUserName": "bob", "TargetDomainName": "CORP",
                            "LogonType": 3, "IpAddress": "10.0.0.9", "IpPort": "5050"}}}


def ctx() -> ParseContext:
    return ParseContext(origin=Origin("t.json", None, "0" * 64), ingested_at=datetime.now(UTC))


def run(data: bytes | io.BufferedIOBase) -> list[ParseResult]:
    stream = io.BytesIO(data) if isinstance(data, bytes) else data
    return list(WinJsonParser().parse(stream, ctx()))  # type: ignore[arg-type]


def totals(results: list[ParseResult]) -> tuple[int, int, int]:
    for r in results:
        assert r.accepted + r.rejected == r.offered
    return (sum(r.accepted for r in results), sum(r.rejected for r in results),
            sum(r.offered for r in results))


def events(results: list[ParseResult]) -> pl.DataFrame:
    frames = [r.events for r in results if r.events.height]
    return pl.concat(frames, how="diagonal_relaxed").sort("mirrorguard.record")


def rejects(results: list[ParseResult]) -> pl.DataFrame:
    return pl.concat([r.rejects for r in results])


def winlog(frame: pl.DataFrame) -> list[dict[str, Any]]:
    keep = [c for c in frame.columns if c.startswith("winlog.event_data.")
            or c in ("winlog.event_id", "winlog.channel", "winlog.computer_name",
                     "@timestamp", "event.category", "event.action", "user.name",
                     "source.ip", "source.port", "event.outcome")]
    return frame.select(sorted(keep)).to_dicts()


@cache
def grixba() -> bytes:
    return need_data(*GRIXBA).read_bytes()


def test_sniff_each_layout() -> None:
    assert WinJsonParser.sniff(json.dumps(SECURITY_4624).encode()) == 0.95
    assert WinJsonParser.sniff(b'{"winlog": {"event_id": 1}}') == 0.9
    assert WinJsonParser.sniff(b'{"winlog.event_id": 1}') == 0.9
    assert WinJsonParser.sniff(b'{"event_data": {}, "log_name": "Security"}') == 0.9
    assert WinJsonParser.sniff(b'[{"EventID": 1, "Channel": "Security"}]') == 0.85
    assert WinJsonParser.sniff(codecs.BOM_UTF16_LE + '{"EventID":1,"Channel":"x"}'
                               .encode("utf-16-le")) == 0.85
    assert WinJsonParser.sniff(b'{"ts": 1, "uid": "C1"}') == 0.0
    assert WinJsonParser.sniff(b"\x00\x01binary") == 0.0


def test_pretty_printed_document_array_lines_concatenation_and_utf16_agree() -> None:
    doc = json.loads(grixba())
    single = events(run(grixba()))
    assert single.height == 1 and single["mirrorguard.record"].to_list() == [1]
    assert single["process.executable"][0] == r"C:\Users\xodih\Downloads\GRB_NET.exe"
    assert single["event.category"][0] == "process"
    compact = json.dumps(doc).encode()
    shapes = {
        "array": json.dumps([doc, doc]).encode(),
        "lines": compact + b"\n" + compact + b"\n",
        "concatenated": grixba() + b"\n" + grixba(),
        "utf16": codecs.BOM_UTF16_LE + json.dumps([doc, doc], indent=1).encode("utf-16-le"),
    }
    for name, data in shapes.items():
        frame = events(run(data))
        assert frame["mirrorguard.record"].to_list() == [1, 2], name
        assert winlog(frame) == winlog(single) * 2, name


def _as_winlogbeat(doc: dict[str, Any], dotted: bool) -> dict[str, Any]:
    s, data = doc["Event"]["System"], doc["Event"]["EventData"]
    w = {"channel": s["Channel"], "event_id": str(s["EventID"]), "computer_name": s["Computer"],
         "provider_name": s["Provider"]["#attributes"]["Name"], "record_id": s["EventRecordID"],
         "event_data": {k: str(v) for k, v in data.items()}}
    ts = s["TimeCreated"]["#attributes"]["SystemTime"]
    if dotted:
        flat = {f"winlog.{k}": v for k, v in w.items() if k != "event_data"}
        flat.update({f"winlog.event_data.{k}": v for k, v in w["event_data"].items()})
        return {"@timestamp": ts, **flat}
    return {"@timestamp": ts, "winlog": w}


def test_winlogbeat_nested_and_dotted_match_the_evtx_layout() -> None:
    doc = json.loads(grixba())
    want = winlog(events(run(grixba())))
    for dotted in (False, True):
        frame = events(run(json.dumps(_as_winlogbeat(doc, dotted)).encode()))
        assert winlog(frame) == want


def test_security_logon_fields() -> None:
    frame = events(run(json.dumps(SECURITY_4624).encode()))
    row = frame.row(0, named=True)
    assert (row["user.name"], row["user.domain"], row["source.ip"], row["source.port"]) == (
        "bob", "CORP", "10.0.0.9", 5050)
    assert (row["event.category"], row["event.outcome"]) == ("authentication", "success")


@pytest.mark.data
def test_mordor_archives_all_records_land() -> None:
    root = need_data(MORDOR)
    with (root / "ARCHIVE_INDEX.csv").open(newline="") as f:
        lines = {(r["archive"], r["member"]): int(r["lines"] or 0) for r in csv.DictReader(f)}
    chosen = [
        "datasets/atomic/windows/credential_access/host/empire_mimikatz_logonpasswords.zip",
        "datasets/atomic/windows/credential_access/host/cmd_lsass_memory_dumpert_syscalls.zip",
        "datasets/atomic/windows/defense_evasion/host/empire_enable_rdp.tar.gz",
        "datasets/compound/Log4Shell/securityauditing_log4shell_cve2021_44228_java_serialized_object.zip",
    ]
    datasets: set[str] = set()
    for item in iter_sources([root / c for c in chosen]):
        if Path(item.member or "").name.startswith("._"):
            continue
        with item.open() as s:
            results = list(WinJsonParser().parse(s, ctx()))
        accepted, rejected, _ = totals(results)
        archive = str(Path(item.path).relative_to(root))
        assert (accepted, rejected) == (lines[(archive, item.member)], 0), archive
        frame = events(results)
        assert frame["@timestamp"].null_count() == 0
        datasets |= set(frame["event.dataset"])
        if "empire_enable_rdp" in archive:  # Winlogbeat 6: Sysmon 3 → network fields
            net = frame.filter(pl.col("winlog.event_id") == 3)
            assert net["source.ip"].null_count() == 0 and net["destination.port"].dtype == pl.Int32
        if "log4shell" in archive:  # Azure SecurityEvent: EventData XML parsed
            wfp = frame.filter(pl.col("winlog.event_id") == 5156)
            assert wfp.height and wfp["winlog.event_data.Application"].null_count() == 0
            assert wfp["destination.port"].null_count() == 0
    assert {"windows.sysmon", "windows.security", "windows.powershell"} <= datasets


def test_bad_lines_are_quarantined_with_line_numbers() -> None:
    good = json.dumps(SECURITY_4624).encode()
    data = b"\n".join([good, b"{not json", b"[1, 2]", b'{"foo": 1}', b"\xff\xfe\x00bad",
                       b"", good]) + b"\n"
    results = run(data)
    assert totals(results) == (2, 4, 6)
    bad = rejects(results).sort("line")
    assert bad["line"].to_list() == [2, 3, 4, 5]
    assert "invalid JSON" in bad["reason"][0] and "not an object" in bad["reason"][1]
    assert "known layout" in bad["reason"][2]
    assert events(results)["mirrorguard.record"].to_list() == [1, 7]


def test_huge_line_and_truncated_gzip() -> None:
    good = json.dumps(SECURITY_4624).encode()
    huge = b'{"EventID": 1, "Channel": "Security", "x": "' + b"a" * 10_000_000 + b'"}'
    assert totals(run(b"\n".join([good, huge, good]) + b"\n")) == (2, 1, 3)
    rows = [dict(SECURITY_4624["Event"]["EventData"], Nonce=f"{i * 2654435761 % 2**32:08x}")
            for i in range(5000)]
    packed = gzip.compress(b"".join(
        json.dumps({"Event": {"System": SECURITY_4624["Event"]["System"], "EventData": r}})
        .encode() + b"\n" for r in rows))
    stream = io.BufferedReader(GzipStream(io.BytesIO(packed[: len(packed) * 3 // 4])))
    accepted, rejected, offered = totals(run(stream))  # type: ignore[arg-type]
    assert 0 < accepted < 5000 and rejected == 1 and offered == accepted + 1


def test_broken_document_keeps_complete_ones() -> None:
    data = grixba() + b"\n" + grixba()[:-40]
    results = run(data)
    assert totals(results)[:2] == (1, 1)
    assert "invalid JSON at line" in rejects(results)["reason"][0]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
windowsish = st.fixed_dictionaries(
    {"EventID": st.integers(-5, 70000) | st.text(max_size=5), "Channel": st.text(max_size=12)},
    optional={"@timestamp": st.text(max_size=30), "Image": json_values,
              "Keywords": st.integers() | st.text(max_size=8), "RecordNumber": json_values},
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=windowsish,
       rest=st.lists(json_values | windowsish | st.binary(max_size=40), max_size=12))
def test_random_lines_never_raise_and_counts_add_up(first: Any, rest: list[Any]) -> None:
    lines = [i.replace(b"\n", b" ") if isinstance(i, bytes) else json.dumps(i).encode()
             for i in [first, *rest]]
    data = b"\n".join(lines) + b"\n"
    _, _, offered = totals(run(data))
    assert offered == sum(1 for ln in data.split(b"\n") if ln.strip())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=json_values, indent=st.sampled_from([None, 1]), tail=st.binary(max_size=20))
def test_random_documents_never_raise(value: Any, indent: int | None, tail: bytes) -> None:
    data = json.dumps(value, indent=indent).encode() + tail
    accepted, _, _ = totals(run(data))
    assert accepted == 0  # random values are not Windows events (no EventID/System)
