"""Windows EVTX files, through the Rust-backed ``evtx`` package (``PyEvtxParser``).

Records come out of ``records_json()`` (compact JSON), are gathered into batches bounded by
``ctx.batch_records`` and ``ctx.batch_bytes``, decoded with a typed schema
(:mod:`.windows_evtxjson`) and mapped to ECS over the whole batch (:mod:`.windows_map`); see
:mod:`.evtx_batches`. A file of at least ``parallel_min_bytes`` is cut into chunk ranges parsed
in ``workers`` processes (:mod:`.evtx_parallel`), so that all cores share the record-level
work; results still come in file order.

Damage is quarantined, never raised:

* a record or chunk the ``evtx`` package cannot parse (it raises ``RuntimeError`` and then
  carries on with the next one) → one reject, with the record number as ``line`` or the chunk's
  byte offset as ``offset`` (the same offset whether or not the file was cut into ranges);
* a record whose header number does not fit ``mirrorguard.record`` (Int64) → one reject;
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
import itertools
import os
import struct
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, ClassVar

import evtx as _evtx

from mirrorguard.ingest.base import ParseContext, Parser, ParseResult
from mirrorguard.ingest.parsers.evtx_batches import (
    CHUNK_BYTES,
    HEADER_BYTES,
    Reject,
    only_rejects,
    record_batches,
)
from mirrorguard.ingest.parsers.evtx_parallel import (
    RangeJob,
    open_range,
    parallel_results,
    read_ranges,
)

__all__ = ["CHUNK_BYTES", "HEADER_BYTES", "EvtxParser"]

MAGIC = b"ElfFile\x00"


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
    header: bytes = b""
    damage: list[Reject] = field(default_factory=list)
    pad_to: int | None = None
    chunks: int = 0  # chunks present, a cut last one included

    @property
    def rangeable(self) -> bool:
        """Whether chunk ranges behave as the whole file does (the usual 4 KiB header block).

        The ``evtx`` package counts chunks from the header's block size; only with the usual
        size does a range file (header + some chunks) see its chunks where the file has them.
        """
        return self.chunks > 0 and len(self.header) == HEADER_BYTES and \
            struct.unpack_from("<H", self.header, 40)[0] == HEADER_BYTES


def _inspect(stream: BinaryIO) -> _Layout:
    size = stream.seek(0, io.SEEK_END)
    stream.seek(0)
    header = stream.read(HEADER_BYTES)
    stream.seek(0)
    layout = _Layout(size, header)
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
    layout.chunks = full + (1 if partial else 0)
    if announced > layout.chunks:
        layout.damage.append((None, size, f"file ends after {layout.chunks} of {announced} "
                              "chunks announced in its header", b""))
    return layout


class EvtxParser(Parser):
    """Windows event log files (``.evtx``), Security/System/Sysmon/any channel.

    ``threads``: the ``evtx`` package's own threads for in-process parsing (0: its default).
    ``workers``: processes for large files (default: the context's ``workers``, which is
    ``[ingest] workers``, 1 unless set; 0: one per core; 1: never a pool). On this project's
    2-core benchmark machine a pool did not pay: the frames' trip between processes doubles the
    CPU per record (BENCHMARKS.md), so it is for machines with cores to spare.
    ``parallel_min_bytes``: smaller files are parsed in this process, whole (a pool costs
    about a second to start, and ranges add frames: see :mod:`.evtx_parallel`). In parallel
    a range holds about ``records_per_task`` records (counted from the chunk headers) and at
    most ``chunks_per_task`` chunks of 64 KiB. Parallel and in-process parsing give the same
    rows and rejects; only the batch boundaries differ.
    """

    name: ClassVar[str] = "evtx"
    binary: ClassVar[bool] = True

    def __init__(self, threads: int = 0, workers: int | None = None, *,
                 parallel_min_bytes: int = 48 * 1024 * 1024, chunks_per_task: int = 1024,
                 records_per_task: int = 12_288) -> None:
        self.threads = threads
        self.workers = workers
        self.parallel_min_bytes = parallel_min_bytes
        self.chunks_per_task = max(1, chunks_per_task)
        self.records_per_task = max(1, records_per_task)

    @classmethod
    def sniff(cls, head: bytes) -> float:
        return 1.0 if head.startswith(MAGIC) else 0.0

    def _workers(self, ctx: ParseContext) -> int:
        want = ctx.workers if self.workers is None else self.workers
        return want if want >= 1 else (os.cpu_count() or 1)

    def parse(self, stream: BinaryIO, ctx: ParseContext) -> Iterator[ParseResult]:
        try:
            layout = _inspect(stream)
        except (OSError, ValueError) as exc:
            yield only_rejects(ctx, [(None, None, f"unreadable stream: {exc}", b"")])
            return
        workers = self._workers(ctx)
        if workers > 1 and layout.size >= self.parallel_min_bytes and layout.rangeable:
            results = self._ranged(stream, layout, ctx, workers)
        else:
            results = self._whole(stream, layout, ctx)
        if not (yield from results):
            return
        if layout.damage:
            yield only_rejects(ctx, layout.damage)

    def _whole(self, stream: BinaryIO, layout: _Layout,
               ctx: ParseContext) -> Generator[ParseResult, None, bool]:
        """The file in one ``PyEvtxParser``; returns ``False`` when its header is unreadable."""
        source: BinaryIO = stream
        if layout.pad_to is not None:
            source = io.BufferedReader(_ZeroPadded(stream, layout.size, layout.pad_to))
        try:
            records = _evtx.PyEvtxParser(source, number_of_threads=self.threads,
                                         indent=False).records_json()
        except (OSError, RuntimeError, ValueError) as exc:
            yield only_rejects(ctx, [(None, 0, f"not a readable EVTX file: {exc}", b"")])
            return False
        yield from record_batches(records, ctx)
        return True

    def _ranged(self, stream: BinaryIO, layout: _Layout, ctx: ParseContext,
                workers: int) -> Generator[ParseResult, None, bool]:
        """The file as chunk ranges parsed in worker processes (one ``evtx`` thread each)."""
        spans = read_ranges(stream, layout.header, layout.size, layout.chunks,
                            records=min(self.records_per_task, ctx.batch_records),
                            max_chunks=self.chunks_per_task)
        jobs = (RangeJob(data, start, ctx, 1) for start, data in spans)
        first = next(jobs)
        try:  # the header is checked once, as for the whole file
            open_range(first)
        except (OSError, RuntimeError, ValueError) as exc:
            yield only_rejects(ctx, [(None, 0, f"not a readable EVTX file: {exc}", b"")])
            return False
        yield from parallel_results(itertools.chain([first], jobs), workers)
        return True
