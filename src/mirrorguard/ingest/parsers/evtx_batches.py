"""``evtx`` package records → batches of :class:`ParseResult` (shared by serial and parallel).

Everything here runs where the records are produced: in the parsing process for a small file,
in a worker process for one chunk range of a large one (:mod:`.evtx_parallel`). A chunk range
is handed to ``PyEvtxParser`` as a file of its own (the original header followed by the
range's chunks), so the chunk numbers in the package's error messages count from the range's
first chunk: :func:`error_row` adds ``first_chunk`` back, so a reject names the same chunk and
byte offset whichever way the file was cut.

Records are gathered into batches bounded by ``ctx.batch_records`` and ``ctx.batch_bytes``;
each batch is decoded (:mod:`.windows_evtxjson`) and mapped to ECS (:mod:`.windows_map`).
The raw JSON of a record is kept as the ``str`` the package returned and encoded only when
the record is rejected (the usual batch rejects nothing).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

import polars as pl

from mirrorguard.ingest.base import ParseContext, ParseResult, make_rejects
from mirrorguard.ingest.parsers.windows_event import EventBatch
from mirrorguard.ingest.parsers.windows_evtxjson import add_document
from mirrorguard.ingest.parsers.windows_map import batch_results

HEADER_BYTES = 4096
CHUNK_BYTES = 65536
_RECORD_NO = re.compile(r"record number (\d+)")
_CHUNK_NO = re.compile(r"chunk number (\d+)")
_MAX_CONSECUTIVE_ERRORS = 100_000
_MAX_RECORD_NO = 2**63 - 1  # mirrorguard.record is Int64; a larger number is header damage

Reject = tuple[int | None, int | None, str, bytes]


def error_row(exc: Exception, first_chunk: int = 0) -> Reject:
    """One reject for an ``evtx`` error; chunk numbers are made absolute with ``first_chunk``."""
    text = str(exc)
    if first_chunk:
        text = _CHUNK_NO.sub(lambda m: f"chunk number {int(m.group(1)) + first_chunk}", text)
    rec = _RECORD_NO.search(text)
    chunk = _CHUNK_NO.search(text)
    offset = HEADER_BYTES + int(chunk.group(1)) * CHUNK_BYTES if chunk else None
    return (int(rec.group(1)) if rec else None, offset,
            f"EVTX damage: {type(exc).__name__}: {text[:500]}", b"")


def only_rejects(ctx: ParseContext, rows: list[Reject]) -> ParseResult:
    """A result holding damage rejects only (each one offered record)."""
    return ParseResult(events=pl.DataFrame(), rejects=make_rejects(ctx, rows), offered=len(rows))


def record_batches(records: Iterator[Any], ctx: ParseContext,
                   first_chunk: int = 0) -> Iterator[ParseResult]:
    """Results for every record (and error) of one ``records_json()`` iterator, in order.

    The per-record loop is flat (no generator in between: it runs for every record); the
    ``try`` covers only the iteration, so only the ``evtx`` package's errors become damage.
    """
    rids: list[int] = []
    datas: list[str] = []
    damage: list[Reject] = []
    size = errors = 0
    max_n, max_bytes = ctx.batch_records, ctx.batch_bytes
    done = False
    while not done:
        full = False
        try:
            for rec in records:
                errors = 0
                if not isinstance(rec, dict):
                    continue
                rid, data = rec.get("event_record_id"), rec.get("data")
                if not isinstance(data, str):
                    data = ""
                if not isinstance(rid, int):
                    rid = len(rids) + 1
                elif not 0 <= rid <= _MAX_RECORD_NO:
                    damage.append((None, None, f"EVTX damage: record number {rid} is out of "
                                   "range", data.encode("utf-8", "replace")))
                    continue
                rids.append(rid)
                datas.append(data)
                size += len(data)
                if len(rids) >= max_n or size >= max_bytes:
                    full = True
                    break
            else:
                done = True
        except (RuntimeError, OSError, ValueError, UnicodeError) as exc:
            errors += 1
            damage.append(error_row(exc, first_chunk))
            if errors >= _MAX_CONSECUTIVE_ERRORS:
                damage.append((None, None, "too many consecutive EVTX errors; rest of file "
                               "skipped", b""))
                done = True
        if full:
            yield from build_results(rids, datas, damage, ctx)
            rids, datas, damage, size = [], [], [], 0
    if rids or damage:
        yield from build_results(rids, datas, damage, ctx)


class _RawJson(Mapping[int, bytes]):
    """Raw JSON of the added records by record number, encoded only when looked up.

    Built on first use (rejects are rare); a repeated record number maps to its last record.
    """

    def __init__(self, rids: list[int], datas: list[str], added: list[bool]) -> None:
        self._rids, self._datas, self._added = rids, datas, added
        self._index: dict[int, int] | None = None

    def _lookup(self) -> dict[int, int]:
        if self._index is None:
            self._index = {r: i for i, r in enumerate(self._rids) if self._added[i]}
        return self._index

    def __getitem__(self, key: int) -> bytes:
        return self._datas[self._lookup()[key]].encode("utf-8", "replace")

    def __iter__(self) -> Iterator[int]:
        return iter(self._lookup())

    def __len__(self) -> int:
        return len(self._lookup())


def build_results(rids: list[int], datas: list[str], damage: list[Reject],
                  ctx: ParseContext) -> list[ParseResult]:
    """One batch of records (numbers and evtx JSON) → results (damage, then per channel)."""
    batch = EventBatch()
    bad: list[Reject] = list(damage)
    added = [True] * len(rids)
    for i, (rid, data) in enumerate(zip(rids, datas, strict=True)):
        try:
            add_document(batch, rid, data)
        except ValueError as exc:
            bad.append((rid, None, str(exc), data.encode("utf-8", "replace")))
            added[i] = False
    out = [only_rejects(ctx, bad)] if bad else []
    return out + batch_results(batch, ctx, _RawJson(rids, datas, added))
