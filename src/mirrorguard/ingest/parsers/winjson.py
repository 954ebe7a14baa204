"""Windows events as JSON: evtx_dump, Winlogbeat (7+ and 6), OTRF/Mordor flat, Azure rows.

One parser for every layout in :mod:`.windows_layouts`, detected per record, in three file
shapes:

* JSON lines (one event per line; ``mirrorguard.record`` = 1-based line number);
* one JSON document, possibly pretty-printed over many lines, or several concatenated
  (``mirrorguard.record`` = 1-based ordinal of the document);
* a JSON array of events (``mirrorguard.record`` = 1-based position in the array).

Documents and arrays are read whole, up to :attr:`WinJsonParser.max_document_bytes`; UTF-8
(with or without BOM) and UTF-16 with BOM (PowerShell's ``Out-File``) are accepted. Every
event lands in the same columns as the EVTX parser gives for the same event. A line or
element that is not JSON, not an object, or not a Windows event is quarantined with its line
(or ordinal) and the reason; ``accepted + rejected == offered`` for every batch.
"""

from __future__ import annotations

import codecs
import io
import json
from collections.abc import Iterator, Mapping
from typing import Any, BinaryIO, ClassVar

import orjson
import polars as pl

from mirrorguard.ingest.base import ParseContext, Parser, ParseResult, make_rejects
from mirrorguard.ingest.lines import LazyLines, iter_line_blocks
from mirrorguard.ingest.parsers import windows_evtxjson, windows_layouts
from mirrorguard.ingest.parsers.windows_event import EventBatch, json_text
from mirrorguard.ingest.parsers.windows_map import batch_results

_HEAD = 65_536
_UTF16 = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_MARKERS: tuple[tuple[tuple[bytes, ...], float], ...] = (
    ((b'"Event"', b'"System"'), 0.95),
    ((b'"winlog"',), 0.9),
    ((b'"winlog.',), 0.9),
    ((b'"event_data"', b'"log_name"'), 0.9),
    ((b'"EventID"', b'"Channel"'), 0.85),
    ((b'"EventID"', b'"SourceName"'), 0.85),
    ((b'"EventID"', b'"EventSourceName"'), 0.85),
)

Reject = tuple[int | None, int | None, str, bytes]


class _Chain(io.RawIOBase):
    """``head`` followed by the rest of ``rest`` (for re-reading what sniffing consumed)."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head, self._rest = head, rest

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(b), len(self._head))
            b[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = _read_some(self._rest, len(b))
        b[: len(data)] = data
        return len(data)


def _read_some(stream: BinaryIO, size: int) -> bytes:
    """At most one underlying read (``read1``): a buffered ``read`` that meets a truncated
    compressed stream raises and drops the bytes it had already gathered."""
    read1 = getattr(stream, "read1", None)
    data = read1(size) if read1 is not None else stream.read(size)
    return bytes(data)


def _decode_text(data: bytes) -> str:
    if data.startswith(_UTF16):
        return data.decode("utf-16")
    return data.decode("utf-8-sig")


class _LineMap(Mapping[int, bytes]):
    """Raw lines of a block by line number (looked up only for rejects)."""

    def __init__(self, lines: LazyLines, first_line: int) -> None:
        self._lines, self._first = lines, first_line

    def __getitem__(self, key: int) -> bytes:
        i = key - self._first
        if not 0 <= i < len(self._lines):
            raise KeyError(key)
        return self._lines[i]

    def __iter__(self) -> Iterator[int]:
        return iter(range(self._first, self._first + len(self._lines)))

    def __len__(self) -> int:
        return len(self._lines)


def _add(batch: EventBatch, record: int, obj: object) -> str | None:
    """Add a decoded value; the reason it was not added, or ``None``."""
    if not isinstance(obj, dict):
        return "JSON value is not an object"
    layout = windows_layouts.detect(obj)
    if layout is None:
        return "JSON object is not a Windows event of a known layout"
    windows_layouts.add_object(batch, record, obj, layout)
    return None


def _add_line(batch: EventBatch, record: int, line: bytes) -> str | None:
    if line.startswith(b'{"Event":{'):
        try:
            windows_evtxjson.add_document(batch, record, line)
            return None
        except ValueError:
            pass
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        try:  # orjson refuses integers beyond 64 bits; the standard library does not
            obj = json.loads(line)
        except (ValueError, RecursionError):
            return f"invalid JSON: {exc}"
    return _add(batch, record, obj)


class WinJsonParser(Parser):
    """Windows event JSON in any of the layouts of :mod:`.windows_layouts`."""

    name: ClassVar[str] = "winjson"
    max_document_bytes: ClassVar[int] = 256 * 1024 * 1024

    @classmethod
    def sniff(cls, head: bytes) -> float:
        if head.startswith(_UTF16):
            try:
                head = head.decode("utf-16", errors="ignore").encode("utf-8")
            except UnicodeError:
                return 0.0
        text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
        if not text.startswith((b"{", b"[")):
            return 0.0
        window = text[:16_384]
        for markers, score in _MARKERS:
            if all(m in window for m in markers):
                return score
        return 0.0

    def parse(self, stream: BinaryIO, ctx: ParseContext) -> Iterator[ParseResult]:
        head, failure = _read_head(stream)
        if failure is not None:  # damaged within the first bytes: parse what came through
            cut = head.rfind(b"\n") + 1
            yield from self.parse(io.BytesIO(head[:cut]), ctx)
            line = head.count(b"\n", 0, cut) + 1
            yield _only_rejects(ctx, [(line, cut, failure, head[cut:cut + 4096])])
            return
        chained: BinaryIO = _Chain(head, stream)  # type: ignore[assignment]
        if _document_mode(head):
            yield from self._parse_document(chained, ctx)
        else:
            yield from self._parse_lines(chained, ctx)

    def _parse_lines(self, stream: BinaryIO, ctx: ParseContext) -> Iterator[ParseResult]:
        for block, first_line, bad in iter_line_blocks(stream, ctx):
            if bad is not None and bad.height:
                yield ParseResult(events=pl.DataFrame(), rejects=bad, offered=bad.height)
            if block:
                yield from _parse_block(block, first_line, ctx)

    def _parse_document(self, stream: BinaryIO, ctx: ParseContext) -> Iterator[ParseResult]:
        data, problem = _read_all(stream, self.max_document_bytes)
        if problem is not None and len(data) > self.max_document_bytes:
            yield _only_rejects(ctx, [(1, None, problem, data[:4096])])
            return
        bad: list[Reject] = []
        if problem is not None:  # truncated: what came before the damage is still parsed
            bad.append((None, len(data), problem, b""))
        try:
            text = _decode_text(data)
        except UnicodeDecodeError as exc:
            bad.append((1, exc.start, f"invalid text encoding: {exc.reason}", data[:4096]))
            yield _only_rejects(ctx, bad)
            return
        batch = EventBatch()
        for record, value, issue in _iter_documents(text):
            reason = issue or _add(batch, record, value)
            if reason is not None:
                raw = value if isinstance(value, bytes) else json_text(value).encode()
                bad.append((record, None, reason, raw))
            if len(batch) >= ctx.batch_records:
                yield from _results(batch, bad, ctx)
                batch, bad = EventBatch(), []
        yield from _results(batch, bad, ctx)


def _read_all(stream: BinaryIO, limit: int) -> tuple[bytes, str | None]:
    """Up to ``limit + 1`` bytes, and why reading stopped early (``None`` at a clean end)."""
    parts: list[bytes] = []
    size = 0
    while size <= limit:
        try:
            chunk = _read_some(stream, 1 << 20)
        except (OSError, EOFError, ValueError) as exc:
            return b"".join(parts), f"stream ended abnormally ({type(exc).__name__}: {exc})"
        if not chunk:
            return b"".join(parts), None
        parts.append(chunk)
        size += len(chunk)
    return b"".join(parts), f"JSON document larger than {limit} bytes; convert it to JSON lines"


def _read_head(stream: BinaryIO) -> tuple[bytes, str | None]:
    """The first bytes for sniffing, read in small steps so a failure keeps what came."""
    parts: list[bytes] = []
    size = 0
    while size < _HEAD:
        try:
            chunk = _read_some(stream, 8192)
        except (OSError, EOFError, ValueError) as exc:
            return b"".join(parts), f"stream ended abnormally ({type(exc).__name__}: {exc})"
        if not chunk:
            break
        parts.append(chunk)
        size += len(chunk)
    return b"".join(parts), None


def _document_mode(head: bytes) -> bool:
    """Whether the stream is one JSON document / array / pretty-printed docs, not JSON lines.

    JSON lines: the first or the second non-blank line is a complete JSON object (so one
    damaged first line does not turn a JSON-lines file into one broken document).
    """
    if head.startswith(_UTF16):
        return True
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"["):
        return True
    if not text.startswith(b"{"):
        return False
    lines = [ln.strip() for ln in text.split(b"\n", 8)[:8] if ln.strip()]
    return not any(_is_object(ln) for ln in lines[:2])


def _is_object(line: bytes) -> bool:
    try:
        return isinstance(orjson.loads(line), dict)
    except orjson.JSONDecodeError:
        return False


def _iter_documents(text: str) -> Iterator[tuple[int, Any, str | None]]:
    """``(ordinal, value, problem)`` for each event in a document, array or concatenation."""
    try:
        whole = orjson.loads(text)
    except orjson.JSONDecodeError:
        yield from _iter_concatenated(text)
        return
    items = whole if isinstance(whole, list) else [whole]
    for i, item in enumerate(items, start=1):
        yield i, item, None


def _iter_concatenated(text: str) -> Iterator[tuple[int, Any, str | None]]:
    decoder = json.JSONDecoder()
    pos, n, record = 0, len(text), 0
    while True:
        while pos < n and text[pos] in " \t\r\n\ufeff":
            pos += 1
        if pos >= n:
            return
        record += 1
        try:
            value, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            line = text.count("\n", 0, pos) + 1
            rest = text[pos: pos + 4096].encode("utf-8", "replace")
            yield record, rest, f"invalid JSON at line {line}: {exc.msg}; rest of document skipped"
            return
        if isinstance(value, list):
            for item in value:
                yield record, item, None
                record += 1
            record -= 1
        else:
            yield record, value, None


def _parse_block(block: bytes, first_line: int, ctx: ParseContext) -> list[ParseResult]:
    lines = LazyLines(block)
    batch = EventBatch()
    bad: list[Reject] = []
    offered = 0
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped:
            continue
        offered += 1
        reason = _add_line(batch, first_line + i, stripped)
        if reason is not None:
            bad.append((first_line + i, None, reason, line))
    out = [_only_rejects(ctx, bad)] if bad else []
    return out + batch_results(batch, ctx, _LineMap(lines, first_line))


def _results(batch: EventBatch, bad: list[Reject], ctx: ParseContext) -> list[ParseResult]:
    out = [_only_rejects(ctx, bad)] if bad else []
    if not len(batch):
        return out
    raw: dict[int, bytes] = {}
    return out + batch_results(batch, ctx, raw)


def _only_rejects(ctx: ParseContext, rows: list[Reject]) -> ParseResult:
    return ParseResult(events=pl.DataFrame(), rejects=make_rejects(ctx, rows), offered=len(rows))
