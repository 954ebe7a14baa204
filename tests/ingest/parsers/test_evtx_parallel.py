"""Large EVTX files as chunk ranges: serial vs worker processes vs the whole file, and damage."""

from __future__ import annotations

import io
import struct
from collections.abc import Generator
from concurrent.futures import Future
from datetime import UTC, datetime
from functools import cache

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from tests.conftest import need_data

from mirrorguard.bench.gen_evtx import sample_chunks
from mirrorguard.ingest.base import Origin, ParseContext, ParseResult
from mirrorguard.ingest.parsers.evtx import CHUNK_BYTES, HEADER_BYTES, EvtxParser, _inspect
from mirrorguard.ingest.parsers.evtx_batches import only_rejects
from mirrorguard.ingest.parsers.evtx_parallel import (
    Packed,
    RangeJob,
    _collect,
    read_ranges,
    serial_results,
)

pytestmark = pytest.mark.data
CHUNKS = 40


def ctx(batch_records: int = 200_000) -> ParseContext:
    return ParseContext(origin=Origin("big.evtx", None, "0" * 64),
                        ingested_at=datetime(2024, 1, 1, tzinfo=UTC), batch_records=batch_records)


@cache
def big_file() -> bytes:
    """``CHUNKS`` well-filled chunks of the real attack samples under one header."""
    header, chunks = sample_chunks(need_data("evtx_attack_samples"))
    dense = [c for c in chunks if _announced(c) >= 20][:CHUNKS]
    assert len(dense) == CHUNKS
    head = bytearray(header[:HEADER_BYTES])
    struct.pack_into("<H", head, 42, CHUNKS)  # chunk count: no "missing chunks" reject
    return bytes(head) + b"".join(dense)


def _announced(chunk: bytes) -> int:
    first, last = struct.unpack_from("<QQ", chunk, 8)
    return int(last - first + 1)


def run(data: bytes, c: ParseContext | None = None, **kw: int) -> list[ParseResult]:
    return list(EvtxParser(**kw).parse(io.BytesIO(data), c or ctx()))


def serial(data: bytes, c: ParseContext | None = None) -> list[ParseResult]:
    """The ranges :func:`parallel` uses, parsed one after the other in this process."""
    c = c or ctx()
    layout = _inspect(io.BytesIO(data))
    spans = read_ranges(io.BytesIO(data), layout.header, layout.size, layout.chunks,
                        records=300, max_chunks=6)
    out = list(serial_results(RangeJob(d, s, c, 1) for s, d in spans))
    return out + ([only_rejects(c, layout.damage)] if layout.damage else [])


def parallel(data: bytes, c: ParseContext | None = None) -> list[ParseResult]:
    return run(data, c, workers=2, parallel_min_bytes=0, chunks_per_task=6,
               records_per_task=300)


def assert_same(a: list[ParseResult], b: list[ParseResult]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.offered == y.offered
        assert_frame_equal(x.events, y.events)
        assert_frame_equal(x.rejects, y.rejects)


def canonical(results: list[ParseResult], part: str) -> pl.DataFrame:
    """All rows of one part, columns and rows in a fixed order (batch boundaries ignored)."""
    frames = [getattr(r, part) for r in results if getattr(r, part).height]
    f = pl.concat(frames, how="diagonal_relaxed")
    out: pl.DataFrame = f.select(sorted(f.columns)).sort(pl.all(), nulls_last=True)
    return out


def counts(results: list[ParseResult]) -> tuple[int, int, int]:
    for r in results:
        assert r.accepted + r.rejected == r.offered
    return (sum(r.accepted for r in results), sum(r.rejected for r in results),
            sum(r.offered for r in results))


def test_parallel_gives_the_same_results_as_serial_ranges() -> None:
    a, b = serial(big_file()), parallel(big_file())
    assert len(a) >= 8 and counts(a)[0] > 1000  # several ranges, many records
    assert_same(a, b)


def test_parallel_gives_the_same_rows_as_the_whole_file() -> None:
    whole = run(big_file(), workers=1)
    ranged = parallel(big_file())
    assert counts(whole) == counts(ranged)
    for part in ("events", "rejects") if counts(whole)[1] else ("events",):
        assert_frame_equal(canonical(whole, part), canonical(ranged, part))


def test_small_batches_stay_bounded_in_workers() -> None:
    results = parallel(big_file(), ctx(batch_records=50))
    assert max(r.events.height for r in results) <= 50
    assert counts(results)[0] == counts(serial(big_file()))[0]


def test_damaged_chunk_in_a_worker_range_is_quarantined_at_its_own_offset() -> None:
    data = bytearray(big_file())
    at = HEADER_BYTES + 10 * CHUNK_BYTES  # chunk 10: the 5th chunk of the range starting at 6
    data[at: at + 8] = b"XXXXXXXX"
    results = parallel(bytes(data))
    accepted = counts(results)[0]
    rej = canonical(results, "rejects")
    bad = rej.filter(pl.col("reason").str.contains("chunk number 10:"))
    assert bad.height == 1 and bad["offset"][0] == at
    assert accepted == counts(serial(big_file()))[0] - _announced(big_file()[at: at + 24])
    assert_same(results, serial(bytes(data)))


def test_cut_file_in_parallel_keeps_records_and_reports_the_cut() -> None:
    data = big_file()[: HEADER_BYTES + 25 * CHUNK_BYTES + 30_000]
    results = parallel(data)
    reasons = canonical(results, "rejects")["reason"].to_list()
    assert any("truncated inside chunk 25" in r for r in reasons)
    assert any(f"of {CHUNKS} chunks announced" in r for r in reasons)
    assert_same(results, serial(data))
    assert counts(results)[0] >= counts(serial(big_file()[: HEADER_BYTES + 25 * CHUNK_BYTES]))[0]


def test_unreadable_header_is_one_reject_in_parallel() -> None:
    data = bytearray(big_file())
    data[8:40] = b"\xff" * 32
    data[40:42] = struct.pack("<H", HEADER_BYTES)
    results = parallel(bytes(data))
    accepted, rejected, offered = counts(results)
    assert accepted + rejected == offered  # either readable (header fields unused) or 1 reject
    if accepted == 0:
        assert rejected == 1


def test_record_number_beyond_int64_is_quarantined_not_raised() -> None:
    data = bytearray(big_file()[: HEADER_BYTES + CHUNK_BYTES])
    rec = HEADER_BYTES + 512  # the first record of chunk 0
    assert data[rec: rec + 4] == b"\x2a\x2a\x00\x00"
    struct.pack_into("<Q", data, rec + 8, 2**64 - 5)
    _, rejected, offered = counts(run(bytes(data), workers=1))
    whole = counts(run(big_file()[: HEADER_BYTES + CHUNK_BYTES], workers=1))
    assert rejected >= 1 and offered == whole[2]
    reasons = canonical(run(bytes(data), workers=1), "rejects")["reason"].to_list()
    assert any(f"record number {2**64 - 5} is out of range" in r for r in reasons)


def test_closing_early_stops_the_pool() -> None:
    gen = EvtxParser(workers=2, parallel_min_bytes=0, chunks_per_task=4,
                     records_per_task=100).parse(io.BytesIO(big_file()), ctx())
    assert isinstance(gen, Generator)
    first = next(gen)
    gen.close()
    assert first.offered >= 1


def test_failed_worker_range_is_parsed_in_process() -> None:
    starts = [s for s, _ in read_ranges(io.BytesIO(big_file()), big_file()[:HEADER_BYTES],
                                        len(big_file()), CHUNKS, records=10**9, max_chunks=3)]
    assert starts == list(range(0, CHUNKS, 3))
    start, data = next(read_ranges(io.BytesIO(big_file()), big_file()[:HEADER_BYTES],
                                   len(big_file()), CHUNKS, records=10**9, max_chunks=3))
    job = RangeJob(data, start, ctx(), 1)
    fut: Future[list[Packed]] = Future()
    fut.set_exception(RuntimeError("worker died"))
    results = _collect(job, fut)
    assert counts(results)[0] > 0


def test_read_ranges_pads_a_cut_chunk_and_splits_by_announced_records() -> None:
    data = big_file()[: HEADER_BYTES + 2 * CHUNK_BYTES + 100]
    spans = list(read_ranges(io.BytesIO(data), data[:HEADER_BYTES], len(data), 3,
                             records=1, max_chunks=10))
    assert [s for s, _ in spans] == [0, 1, 2]  # one chunk holds at least one record
    assert all(len(d) == HEADER_BYTES + CHUNK_BYTES for _, d in spans)
    assert spans[2][1][HEADER_BYTES + 100:] == bytes(CHUNK_BYTES - 100)


def test_the_pool_is_off_unless_the_context_or_the_parser_asks(monkeypatch) -> None:
    import mirrorguard.ingest.parsers.evtx as evtx_mod

    pools: list[int] = []

    def spy(jobs, workers):  # type: ignore[no-untyped-def]
        pools.append(workers)
        return serial_results(jobs)

    monkeypatch.setattr(evtx_mod, "parallel_results", spy)
    data = big_file()
    kw = {"parallel_min_bytes": 0, "chunks_per_task": 6, "records_per_task": 300}
    run(data, **kw)
    assert pools == []  # [ingest] workers defaults to 1
    with_two = ParseContext(origin=Origin("big.evtx", None, "0" * 64),
                            ingested_at=datetime(2024, 1, 1, tzinfo=UTC), workers=2)
    run(data, with_two, **kw)
    run(data, with_two, workers=1, **kw)  # the parser's own setting wins
    assert pools == [2]
