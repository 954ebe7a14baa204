"""Windows EVTX files, through the Rust-backed ``evtx`` package (``PyEvtxParser``).

Records come out of ``records_json()`` (compact JSON), are gathered into batches bounded by
``ctx.batch_records`` and ``ctx.batch_bytes``, decoded with a typed schema
(:mod:`.windows_evtxjson`) and mapped to ECS over the whole batch (:mod:`.windows_map`).

Damage is quarantined, never raised:

* a record or chunk the ``evtx`` package cannot parse (it raises ``RuntimeError`` and then
  carries on with the next one) → one reject, with the record number as ``line`` or the chunk's
  byte offset as ``offset``;
* a file cut inside a chunk → the partial chunk is zero-padded to full size so that its
  complete records still land, and one reject says where the file was cut;
* whole chunks missing at the end (fewer chunks than the file header announces) → one reject;
* a file whose header cannot be read → one reject for the file.

``offered`` = records the ``evtx`` package returned + one per damage reject above, so that
``accepted + rejected == offered`` for every batch (records that parse but fail ECS
normalisation, e.g. without a time, are rejected by :func:`~mirrorguard.ingest.normalize.finish`).
``mirrorguard.record`` is the EVTX record number (``EventRecordID`` of the record header).
"""

from __future__ import annotations

import io
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, ClassVar

import evtx as _evtx
import polars as pl

from mirrorguard.ingest.base import ParseContext, Parser, ParseResult, make_rejects
from mirrorguard.ingest.parsers.windows_event import EventBatch
from mirrorguard.ingest.parsers.windows_evtxjson import add_document
from mirrorguard.ingest.parsers.windows_map import batch_results

MAGIC = b"ElfFile\x00"
HEADER_BYTES = 4096
CHUNK_BYTES = 65536
_RECORD_NO = re.compile(r"record number (\d+)")
_CHUNK_NO = re.compile(r"chunk number (\d+)")
_MAX_CONSECUTIVE_ERRORS = 100_000

Reject = tuple[int | None, int | None, str, bytes]


class _ZeroPadded(io.RawIOBase):
    """``inner`` (``size`` bytes) followed by zeros up to ``padded`` bytes; seekable."""

    def __init__(self, inner: BinaryIO, size: int, padded: int) -> None:
        self._inner, self._size, self._padded, self._pos = inner, size, padded, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._padded}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        want = min(len(b), max(0, self._padded - self._pos))
        got = b""
        if self._pos < self._size:
            self._inner.seek(self._pos)
            got = self._inner.read(min(want, self._size - self._pos))
        data = got + bytes(want - len(got))
        b[: len(data)] = data
        self._pos += len(data)
        return len(data)


@dataclass
class _Layout:
    """What the file's size and header say before the ``evtx`` package reads it."""

    size: int
    damage: list[Reject] = field(default_factory=list)
    pad_to: int | None = None


def _inspect(stream: BinaryIO) -> _Layout:
    size = stream.seek(0, io.SEEK_END)
    stream.seek(0)
    header = stream.read(HEADER_BYTES)
    stream.seek(0)
    layout = _Layout(size)
    if size <= HEADER_BYTES or not header.startswith(MAGIC):
        return layout
    body = size - HEADER_BYTES
    full, partial = divmod(body, CHUNK_BYTES)
    if partial:
        layout.pad_to = size + CHUNK_BYTES - partial
        layout.damage.append((None, HEADER_BYTES + full * CHUNK_BYTES,
                              f"file truncated inside chunk {full} ({partial} of "
                              f"{CHUNK_BYTES} bytes present); records after the cut are lost",
                              b""))
    announced = struct.unpack_from("<H", header, 42)[0] if len(header) >= 44 else 0
    present = full + (1 if partial else 0)
    if announced > present:
        layout.damage.append((None, size, f"file ends after {present} of {announced} chunks "
                              "announced in its header", b""))
    return layout


def _error_row(exc: Exception) -> Reject:
    text = str(exc)
    rec = _RECORD_NO.search(text)
    chunk = _CHUNK_NO.search(text)
    offset = HEADER_BYTES + int(chunk.group(1)) * CHUNK_BYTES if chunk else None
    return (int(rec.group(1)) if rec else None, offset,
            f"EVTX damage: {type(exc).__name__}: {text[:500]}", b"")


class EvtxParser(Parser):
    """Windows event log files (``.evtx``), Security/System/Sysmon/any channel."""

    name: ClassVar[str] = "evtx"
    binary: ClassVar[bool] = True

    def __init__(self, threads: int = 0) -> None:
        self.threads = threads

    @classmethod
    def sniff(cls, head: bytes) -> float:
        return 1.0 if head.startswith(MAGIC) else 0.0

    def parse(self, stream: BinaryIO, ctx: ParseContext) -> Iterator[ParseResult]:
        try:
            layout = _inspect(stream)
        except (OSError, ValueError) as exc:
            yield _only_rejects(ctx, [(None, None, f"unreadable stream: {exc}", b"")])
            return
        source: BinaryIO = stream
        if layout.pad_to is not None:
            source = io.BufferedReader(_ZeroPadded(stream, layout.size, layout.pad_to))
        try:
            records = _evtx.PyEvtxParser(source, number_of_threads=self.threads,
                                         indent=False).records_json()
        except (OSError, RuntimeError, ValueError) as exc:
            yield _only_rejects(ctx, [(None, 0, f"not a readable EVTX file: {exc}", b"")])
            return
        yield from self._batches(records, ctx)
        if layout.damage:
            yield _only_rejects(ctx, layout.damage)

    def _batches(self, records: Iterator[Any], ctx: ParseContext) -> Iterator[ParseResult]:
        pending: list[tuple[int, str]] = []
        damage: list[Reject] = []
        size = 0
        for item in _iter_safely(records):
            if isinstance(item, tuple):
                damage.append(item)
                continue
            rid = item.get("event_record_id")
            data = item.get("data")
            pending.append((rid if isinstance(rid, int) else len(pending) + 1,
                            data if isinstance(data, str) else ""))
            size += len(pending[-1][1])
            if len(pending) >= ctx.batch_records or size >= ctx.batch_bytes:
                yield from build_results(pending, damage, ctx)
                pending, damage, size = [], [], 0
        if pending or damage:
            yield from build_results(pending, damage, ctx)


def _iter_safely(records: Iterator[Any]) -> Iterator[dict[str, object] | Reject]:
    """Records, with each ``evtx`` error turned into a reject row and iteration resumed."""
    errors = 0
    while True:
        try:
            for rec in records:
                errors = 0
                if isinstance(rec, dict):
                    yield rec
            return
        except (RuntimeError, OSError, ValueError, UnicodeError) as exc:
            errors += 1
            yield _error_row(exc)
            if errors >= _MAX_CONSECUTIVE_ERRORS:
                yield (None, None, "too many consecutive EVTX errors; rest of file skipped", b"")
                return


def build_results(pending: list[tuple[int, str]], damage: list[Reject],
                  ctx: ParseContext) -> list[ParseResult]:
    """One batch of ``(record number, evtx JSON)`` pairs → results (damage, then per channel)."""
    batch = EventBatch()
    bad: list[Reject] = list(damage)
    raw: dict[int, bytes] = {}
    for rid, data in pending:
        try:
            add_document(batch, rid, data)
        except ValueError as exc:
            bad.append((rid, None, str(exc), data.encode("utf-8", "replace")))
            continue
        raw[rid] = data.encode("utf-8", "replace")
    out = [_only_rejects(ctx, bad)] if bad else []
    return out + batch_results(batch, ctx, raw)


def _only_rejects(ctx: ParseContext, rows: list[Reject]) -> ParseResult:
    return ParseResult(events=pl.DataFrame(), rejects=make_rejects(ctx, rows), offered=len(rows))
