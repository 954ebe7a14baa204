"""EVTX parser on the real attack samples, the Sigma regression pairs, and damaged files."""

from __future__ import annotations

import csv
import gzip
import io
import struct
from collections import Counter
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import need_data

from mirrorguard.ingest.base import Origin, ParseContext, ParseResult
from mirrorguard.ingest.parsers.evtx import CHUNK_BYTES, HEADER_BYTES, EvtxParser
from mirrorguard.ingest.parsers.winjson import WinJsonParser

pytestmark = pytest.mark.data
SAMPLES = "evtx_attack_samples"
SYSMON_FILE = "AutomatedTestingTools/Malware/rundll32_cmd_schtask.evtx.gz"
MULTI_CHUNK = "Defense Evasion/Sysmon 7  Update Session Orchestrator Dll Hijack.evtx.gz"
# Hand-edited JSON twin (ParentCommandLine case and a 7-digit fraction differ from its EVTX).
EDITED_PAIRS = {"ad691d92-15f2-4181-9aa4-723c74f9ddc3"}


def ctx(batch_records: int = 200_000) -> ParseContext:
    return ParseContext(origin=Origin("t.evtx", None, "0" * 64),
                        ingested_at=datetime.now(UTC), batch_records=batch_records)


def run(data: bytes, c: ParseContext | None = None) -> list[ParseResult]:
    return list(EvtxParser().parse(io.BytesIO(data), c or ctx()))


def events(results: list[ParseResult]) -> pl.DataFrame:
    frames = [r.events for r in results if r.events.height]
    return pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()


def rejects(results: list[ParseResult]) -> pl.DataFrame:
    return pl.concat([r.rejects for r in results])


def check_counts(results: list[ParseResult]) -> tuple[int, int, int]:
    for r in results:
        assert r.accepted + r.rejected == r.offered
    return (sum(r.accepted for r in results), sum(r.rejected for r in results),
            sum(r.offered for r in results))


@cache
def sample(rel: str) -> bytes:
    return gzip.decompress(need_data(SAMPLES, rel).read_bytes())


def test_sniff() -> None:
    assert EvtxParser.sniff(b"ElfFile\x00" + bytes(100)) == 1.0
    assert EvtxParser.sniff(b'{"Event": {}}') == 0.0


def test_every_attack_sample_matches_index_counts_and_event_ids() -> None:
    index = need_data(SAMPLES, "INDEX.csv")
    with index.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 184
    for row in rows:
        results = run(sample(row["path"] + ".gz"))
        accepted, rejected, _ = check_counts(results)
        assert (accepted, rejected) == (int(row["records"]), int(row["parse_errors"])), row["path"]
        frame = events(results)
        got = Counter(f"{c}:{e}" for c, e in frame.select("winlog.channel", "winlog.event_id")
                      .iter_rows())
        want = Counter({k: int(v) for k, v in
                        (item.rsplit("=", 1) for item in row["event_ids"].split(";"))})
        assert got == want, row["path"]


def test_sysmon_record_mapped_to_ecs() -> None:
    frame = events(run(sample(SYSMON_FILE))).sort("mirrorguard.record")
    first = frame.row(0, named=True)
    # mirrorguard.record is the record header's number (what evtx errors name);
    # this file was re-saved, so it differs from the event's own EventRecordID.
    assert (first["mirrorguard.record"], first["winlog.record_id"]) == (1, 423991)
    assert first["event.dataset"] == "windows.sysmon" and first["event.code"] == "1"
    assert first["process.executable"] == r"C:\Windows\System32\wbem\WmiPrvSE.exe"
    assert first["process.pid"] == 8796 and first["winlog.process.pid"] == 3208
    assert first["process.hash.sha256"] == (
        "b5c78bef3883e3099f7ef844da1446db29107e5c0223b97f29e7fafab5527f15")
    assert (first["user.domain"], first["user.name"]) == ("NT AUTHORITY", "NETWORK SERVICE")
    assert first["winlog.event_data.TerminalSessionId"] == "0"
    assert first["@timestamp"] == datetime(2020, 10, 23, 21, 57, 29, 217562, tzinfo=UTC)
    assert set(frame["event.category"].drop_nulls()) <= {"process", "registry", "file"}


def _pairs() -> list[tuple[Path, Path]]:
    root = need_data("sigma", "regression_data")
    out = []
    for j in sorted(root.rglob("*.json")):
        e = j.with_name(j.name[: -len(".json")] + ".evtx.gz")
        if e.exists() and j.stem not in EDITED_PAIRS:
            out.append((e, j))
    assert len(out) > 100
    return out


def _comparable(frame: pl.DataFrame) -> list[dict[str, object]]:
    """winlog.* and ECS values; text stripped (the JSON exporter trimmed trailing blanks)."""
    rows = frame.sort("mirrorguard.record").to_dicts()
    return [{k: v.strip() if isinstance(v, str) else v for k, v in r.items()
             if v is not None} for r in rows]


def test_sigma_pairs_evtx_and_json_give_the_same_columns() -> None:
    for evtx_path, json_path in _pairs():
        a = run(gzip.decompress(evtx_path.read_bytes()))
        b = list(WinJsonParser().parse(io.BytesIO(json_path.read_bytes()), ctx()))
        assert check_counts(a)[1] == check_counts(b)[1] == 0
        assert _comparable(events(a)) == _comparable(events(b)), json_path


def _cut_inside_chunk(data: bytes, chunk: int, keep: int) -> bytes:
    return data[: HEADER_BYTES + chunk * CHUNK_BYTES + keep]


def test_truncated_chunk_keeps_earlier_records_and_quarantines_the_cut() -> None:
    data = sample(MULTI_CHUNK)
    full, _, _ = check_counts(run(data))
    results = run(_cut_inside_chunk(data, 1, 20_000))
    accepted, rejected, offered = check_counts(results)
    first_chunk = check_counts(run(data[: HEADER_BYTES + CHUNK_BYTES]))[0]
    assert first_chunk <= accepted < full  # complete records of the cut chunk land too
    reasons = rejects(results)
    cut = reasons.filter(pl.col("reason").str.contains("truncated inside chunk 1"))
    assert cut.height == 1 and cut["offset"][0] == HEADER_BYTES + CHUNK_BYTES
    assert rejected >= 1 and offered == accepted + rejected


def test_missing_chunks_announced_by_header_are_reported() -> None:
    data = bytearray(sample(MULTI_CHUNK))
    struct.pack_into("<H", data, 42, 40)
    results = run(bytes(data[: HEADER_BYTES + 2 * CHUNK_BYTES]))
    reasons = rejects(results)["reason"].to_list()
    assert any("of 40 chunks announced" in r for r in reasons)


@pytest.mark.parametrize("data", [
    b"ElfFile\x00" + bytes(range(256)) * 40,
    b"ElfFile\x00",
    b"not an evtx file at all",
    b"",
])
def test_garbage_is_one_reject_not_an_exception(data: bytes) -> None:
    accepted, rejected, offered = check_counts(run(data))
    assert accepted == 0 and rejected == offered >= 1


def test_batches_are_bounded() -> None:
    results = run(sample(SYSMON_FILE), ctx(batch_records=7))
    assert max(r.events.height for r in results) <= 7
    assert check_counts(results)[0] == 50


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cut=st.integers(min_value=0, max_value=3 * CHUNK_BYTES + HEADER_BYTES),
       flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(1, 255)), max_size=40))
def test_damaged_files_never_raise_and_counts_add_up(
    cut: int, flips: list[tuple[int, int]]
) -> None:
    data = bytearray(sample(MULTI_CHUNK)[:cut])
    for pos, mask in flips:
        if data:
            data[pos % len(data)] ^= mask
    accepted, rejected, offered = check_counts(run(bytes(data)))
    assert accepted + rejected == offered
    assert accepted <= 64
