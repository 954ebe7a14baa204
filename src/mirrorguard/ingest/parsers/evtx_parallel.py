"""Large EVTX files parsed as independent chunk ranges, optionally in worker processes.

An EVTX file is a 4 KiB header followed by self-contained 64 KiB chunks (each carries its own
string and template tables), so a run of chunks behind the original header is a valid EVTX
file of its own. A large file is cut into ranges of about ``records`` records (the chunk headers
give each chunk's first and last record number); each range is parsed, decoded and mapped to
ECS by :func:`iter_range` (the same code as a small file: :mod:`.evtx_batches`) in a ``spawn``
process pool (or, for tests and after a worker failure, in this process), and the results come
back in file order.

Why processes: the record-level work (the ``evtx`` package's JSON, msgspec decoding, column
building) holds the GIL, so threads cannot share it. The price, measured: the frames are wide
and mostly null, and moving them back as Arrow IPC costs about 5-8 µs per record, and every
range adds one frame per channel (the ECS mapping has a fixed cost per frame), so a range
should hold thousands of records and only large files should go this way.

Memory stays bounded: at most ``2 * workers`` ranges are in flight (each at most
``max_chunks`` × 64 KiB of input plus its frames). A worker that dies or fails is not fatal:
its range (and every later one, if the pool is broken) is parsed in this process instead.
"""

from __future__ import annotations

import io
import multiprocessing
import struct
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO

import evtx as _evtx
import polars as pl

from mirrorguard.ingest.base import ParseContext, ParseResult
from mirrorguard.ingest.parsers.evtx_batches import (
    CHUNK_BYTES,
    HEADER_BYTES,
    only_rejects,
    record_batches,
)

CHUNK_MAGIC = b"ElfChnk\x00"
_MAX_CHUNK_RECORDS = 4096  # a 64 KiB chunk cannot hold more (a record takes at least 24 bytes)


@dataclass(frozen=True)
class RangeJob:
    """One chunk range as a file of its own: the file header, then chunks ``first_chunk``…"""

    data: bytes
    first_chunk: int
    ctx: ParseContext
    threads: int


def _chunk_records(chunk: bytes) -> int:
    """Records a chunk header announces (first/last record number), clamped for damage."""
    if len(chunk) < 24 or not chunk.startswith(CHUNK_MAGIC):
        return 1
    first, last = struct.unpack_from("<QQ", chunk, 8)
    return int(min(max(last - first + 1, 1), _MAX_CHUNK_RECORDS))


def read_ranges(stream: BinaryIO, header: bytes, size: int, chunks: int, *,
                records: int, max_chunks: int) -> Iterator[tuple[int, bytes]]:
    """``(first chunk, header + chunks)`` for consecutive ranges covering ``chunks`` chunks.

    A range ends once its chunk headers announce ``records`` records or it holds
    ``max_chunks`` chunks (a range should be big enough to amortise the per-frame cost of
    mapping, small enough to bound memory). A cut last chunk is zero-padded to full size.
    """
    start = 0
    while start < chunks:
        body = bytearray(header)
        count = n = 0
        stream.seek(HEADER_BYTES + start * CHUNK_BYTES)
        while start + n < chunks and n < max_chunks and count < records:
            chunk = stream.read(CHUNK_BYTES)
            body += chunk
            body += bytes(CHUNK_BYTES - len(chunk))
            count += _chunk_records(chunk)
            n += 1
        yield start, bytes(body)
        start += n


def open_range(job: RangeJob) -> Iterator[object]:
    """The ``records_json()`` iterator of one range (raises what ``PyEvtxParser`` raises)."""
    parser = _evtx.PyEvtxParser(io.BytesIO(job.data), number_of_threads=job.threads,
                                indent=False)
    return iter(parser.records_json())


def iter_range(job: RangeJob) -> Iterator[ParseResult]:
    """Results of one range, in record order (lazily: for the in-process path)."""
    try:
        records = open_range(job)
    except (OSError, RuntimeError, ValueError) as exc:
        offset = HEADER_BYTES + job.first_chunk * CHUNK_BYTES
        yield only_rejects(job.ctx, [(None, offset, f"not a readable EVTX chunk range: {exc}",
                                      b"")])
        return
    yield from record_batches(records, job.ctx, job.first_chunk)


def parse_range(job: RangeJob) -> list[ParseResult]:
    """Every result of one range."""
    return list(iter_range(job))


Packed = tuple[bytes, bytes, int]


def _to_ipc(frame: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.write_ipc(buf, compression="uncompressed", compat_level=pl.CompatLevel.oldest())
    return buf.getvalue()


def parse_range_packed(job: RangeJob) -> list[Packed]:
    """The worker-process entry point: every result of one range as Arrow IPC bytes.

    Frames are wide and mostly null (one column per EventData name of the channel); Arrow IPC
    in the oldest compatibility level (plain offsets, no string views) is the cheapest way
    measured to move them between processes (pickling costs about twice as much).
    """
    return [(_to_ipc(r.events), _to_ipc(r.rejects), r.offered) for r in iter_range(job)]


def unpack(packed: list[Packed]) -> list[ParseResult]:
    """Results from :func:`parse_range_packed`."""
    return [ParseResult(events=pl.read_ipc(io.BytesIO(e)), rejects=pl.read_ipc(io.BytesIO(r)),
                        offered=n) for e, r, n in packed]


def serial_results(jobs: Iterator[RangeJob]) -> Iterator[ParseResult]:
    """Ranges parsed one after the other in this process."""
    for job in jobs:
        yield from iter_range(job)


def parallel_results(jobs: Iterator[RangeJob], workers: int) -> Iterator[ParseResult]:
    """Ranges parsed in ``workers`` spawned processes; results yielded in range order."""
    pool = ProcessPoolExecutor(max_workers=workers,
                               mp_context=multiprocessing.get_context("spawn"))
    pending: deque[tuple[RangeJob, Future[list[Packed]] | None]] = deque()
    broken = False
    try:
        for job in jobs:
            fut = None
            if not broken:
                try:
                    fut = pool.submit(parse_range_packed, job)
                except RuntimeError:  # BrokenProcessPool, or shut down underneath us
                    broken = True
            pending.append((job, fut))
            while len(pending) >= 2 * workers:
                yield from _collect(*pending.popleft())
        while pending:
            yield from _collect(*pending.popleft())
    finally:
        for _, fut in pending:
            if fut is not None:
                fut.cancel()
        pool.shutdown(wait=True, cancel_futures=True)


def _collect(job: RangeJob, fut: Future[list[Packed]] | None) -> list[ParseResult]:
    """The worker's results, or the range parsed here when the worker died or failed."""
    if fut is None:
        return parse_range(job)
    try:
        return unpack(fut.result())
    except Exception:  # any worker failure: the range is parsed here instead
        return parse_range(job)
