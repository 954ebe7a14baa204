"""Reading text sources as blocks of whole lines, with bounded memory.

:class:`LineParser` does the reading; subclasses implement :meth:`LineParser.parse_block` over a
block of complete lines. Lines longer than ``max_record_bytes`` and truncated compressed streams
become rejects here, so every line parser gets them for free.
"""

from __future__ import annotations

import lzma
import zlib
from abc import abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np
import polars as pl

from mirrorguard.ingest.base import ParseContext, Parser, ParseResult, RejectRow, make_rejects
from mirrorguard.ingest.bytescan import count_byte

_READ = 1 << 20


def _read_safely(stream: BinaryIO, size: int) -> tuple[bytes, str | None]:
    """Read up to ``size`` bytes; ``read1`` where available so that a truncation reported by
    the next raw read does not discard bytes already decompressed."""
    read = getattr(stream, "read1", None) or stream.read
    try:
        return bytes(read(size)), None
    except (EOFError, zlib.error, lzma.LZMAError, OSError, ValueError) as exc:
        return b"", f"stream ended abnormally ({type(exc).__name__}: {exc})"


class LineParser(Parser):
    """Base for line-oriented formats (JSON lines, TSV, CSV, syslog, access logs)."""

    def parse(self, stream: BinaryIO, ctx: ParseContext) -> Iterator[ParseResult]:
        """One result per block of lines; overlong lines and truncation become rejects."""
        for block, first_line, bad in iter_line_blocks(stream, ctx):
            if bad is not None and bad.height:
                yield ParseResult(events=pl.DataFrame(), rejects=bad, offered=bad.height)
            if block:
                res = self._parse_block_safely(block, first_line, ctx)
                if ctx.keep_original and res.events.height:
                    res.events = attach_original(res.events, block, first_line)
                yield res

    def _parse_block_safely(self, block: bytes, first_line: int, ctx: ParseContext) -> (
        ParseResult
    ):
        """A parser bug must not lose a block silently or stop the run: reject its lines."""
        try:
            return self.parse_block(block, first_line, ctx)
        except (Exception, pl.exceptions.PanicException) as exc:  # quarantined with the reason
            reason = f"parser {self.name} failed on this block: {type(exc).__name__}: {exc}"
            return reject_lines(split_lines(block), first_line, ctx, reason[:500])

    @abstractmethod
    def parse_block(self, block: bytes, first_line: int, ctx: ParseContext) -> ParseResult:
        """Parse ``block`` (whole lines, each ending in ``\\n``; the first is ``first_line``)."""


def attach_original(events: pl.DataFrame, block: bytes, first_line: int) -> pl.DataFrame:
    """Add ``event.original`` (the record's line, decoded leniently) by record number."""
    lines = pl.Series(split_lines(block), dtype=pl.Binary).cast(pl.String, strict=False)
    idx = (events["mirrorguard.record"] - first_line).cast(pl.UInt32)
    return events.with_columns(lines.gather(idx).alias("event.original"))


@dataclass
class _Acc:
    """Complete lines gathered for the next block."""

    first_line: int = 1
    parts: list[bytes | memoryview] = field(default_factory=list)
    size: int = 0
    lines: int = 0
    #: whether a line over the record limit may be among the parts (else the scan is skipped)
    maybe_long: bool = False

    def add(self, data: bytes | memoryview, maybe_long: bool = True) -> None:
        """Keep ``data`` (complete lines, or the start of one with no newline yet)."""
        self.parts.append(data)
        self.size += len(data)
        self.lines += count_byte(data, 10)
        self.maybe_long = self.maybe_long or maybe_long

    def take(self, ctx: ParseContext) -> Iterator[tuple[bytes, int, pl.DataFrame | None]]:
        if self.parts:
            block = b"".join(self.parts)
            bad = None
            if self.maybe_long:
                block, bad = _blank_overlong(block, self.first_line, ctx)
            yield block, self.first_line, bad
        self.first_line += self.lines
        self.parts, self.size, self.lines, self.maybe_long = [], 0, 0, False


def iter_line_blocks(
    stream: BinaryIO, ctx: ParseContext
) -> Iterator[tuple[bytes, int, pl.DataFrame | None]]:
    """Yield ``(block, first_line, rejects_or_None)``; blocks hold whole lines only.

    Memory stays bounded by ``batch_bytes`` + ``max_record_bytes`` whatever the file size.
    """
    limit = ctx.max_record_bytes
    acc = _Acc()
    pending = b""
    skipping = False  # inside an overlong line: drop bytes until its newline
    while True:
        chunk, failure = _read_safely(stream, _READ)
        if not chunk:
            yield from _finish(acc, pending, failure, ctx)
            return
        if skipping:
            cut = chunk.find(b"\n")
            if cut < 0:
                continue
            chunk, skipping = chunk[cut + 1 :], False
        end = chunk.rfind(b"\n")
        if end < 0:
            pending += chunk
        else:
            # Lines wholly inside one read are shorter than the read; only the line that
            # carried ``pending`` over can be longer, so the block scan is needed only then.
            # The read is kept as a view: the block's join is its only copy.
            long = limit < _READ or len(pending) + chunk.find(b"\n") > limit
            if pending:
                acc.add(pending, False)
            acc.add(memoryview(chunk)[: end + 1], long)
            pending = chunk[end + 1 :]
        if len(pending) > limit:
            yield from _reject_overlong(acc, pending, ctx)
            pending, skipping = b"", True
        elif acc.size >= ctx.batch_bytes:
            yield from acc.take(ctx)


def _reject_overlong(
    acc: _Acc, pending: bytes, ctx: ParseContext
) -> Iterator[tuple[bytes, int, pl.DataFrame | None]]:
    yield from acc.take(ctx)
    reason = f"record longer than {ctx.max_record_bytes} bytes"
    yield b"", acc.first_line, make_rejects(ctx, [(acc.first_line, None, reason, pending[:4096])])
    acc.first_line += 1


def _finish(
    acc: _Acc, pending: bytes, failure: str | None, ctx: ParseContext
) -> Iterator[tuple[bytes, int, pl.DataFrame | None]]:
    if failure is None:
        if pending:
            acc.add(pending + b"\n")
        yield from acc.take(ctx)
        return
    # A truncated stream: complete lines before the damage land, the partial one is rejected.
    yield from acc.take(ctx)
    yield b"", acc.first_line, make_rejects(ctx, [(acc.first_line, None, failure, pending[:4096])])


def _blank_overlong(
    block: bytes, first_line: int, ctx: ParseContext
) -> tuple[bytes, pl.DataFrame | None]:
    """Replace lines over the limit by blank lines (keeping numbering) and reject them."""
    limit = ctx.max_record_bytes
    if len(block) <= limit or _longest_line(block) <= limit:
        return block, None
    lines = block.split(b"\n")
    rows: list[tuple[int | None, int | None, str, bytes]] = []
    for i, line in enumerate(lines):
        if len(line) > limit:
            rows.append((first_line + i, None, f"record longer than {limit} bytes", line[:4096]))
            lines[i] = b""
    return b"\n".join(lines), make_rejects(ctx, rows)


def _longest_line(block: bytes) -> int:
    """Length of the longest line, from newline positions (no copies of the lines)."""
    ends = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 10)
    if ends.size == 0:
        return len(block)
    starts = np.concatenate(([0], ends[:-1] + 1))
    return int(max(int((ends - starts).max()), len(block) - int(ends[-1]) - 1))


def reject_lines(
    lines: Iterable[bytes], first_line: int, ctx: ParseContext, reason: str,
    *, skip_blank: bool = True,
) -> ParseResult:
    """Every line (blank ones too unless ``skip_blank``) as a reject with ``reason``."""
    rows: list[RejectRow] = [
        (first_line + i, None, reason, ln) for i, ln in enumerate(lines)
        if ln.strip() or not skip_blank
    ]
    return ParseResult(events=pl.DataFrame(), rejects=make_rejects(ctx, rows), offered=len(rows))


def split_lines(block: bytes) -> list[bytes]:
    """Lines of a block without their terminators (a trailing ``\\r`` is removed too)."""
    lines = block.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return [ln[:-1] if ln.endswith(b"\r") else ln for ln in lines]


class LazyLines:
    """The lines of a block, split only when somebody needs them (rejects are rare)."""

    def __init__(self, block: bytes) -> None:
        self._block = block
        self._lines: list[bytes] | None = None

    def _get(self) -> list[bytes]:
        if self._lines is None:
            self._lines = split_lines(self._block)
        return self._lines

    def __getitem__(self, i: int) -> bytes:
        return self._get()[i]

    def __len__(self) -> int:
        return len(self._get())

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._get())
