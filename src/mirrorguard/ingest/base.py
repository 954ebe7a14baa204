"""The parser contract.

A parser turns one source stream into a sequence of :class:`ParseResult` batches. It never
raises on bad records: each bad record becomes a row of ``rejects`` (file, line/offset, reason),
and ``offered`` counts every record it saw, so that ``accepted + rejected == offered``.

Parsers produce mapped fields plus ``@timestamp``, ``event.dataset`` and
``mirrorguard.record`` (the record's ordinal in its source: the 1-based line number for text
formats, the record number for binary ones). The engine stamps the rest (``event.id``,
``event.ingested``, provenance) so parsers stay small.

Adding a format is adding one module with a :class:`Parser` subclass and listing it in
:mod:`mirrorguard.ingest.registry`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import BinaryIO, ClassVar

import polars as pl

from mirrorguard.schema.frame import REJECT_SCHEMA, empty_rejects


@dataclass(frozen=True)
class Origin:
    """Where records come from: a file, or a member of an archive."""

    path: str
    member: str | None
    sha256: str

    @property
    def ingest_id(self) -> str:
        """Short stable id of this source's content (first 16 hex digits of its digest)."""
        return self.sha256[:16]

    @property
    def display(self) -> str:
        return f"{self.path}!{self.member}" if self.member else self.path


@dataclass(frozen=True)
class ParseContext:
    """Everything a parser may need besides the stream."""

    origin: Origin
    ingested_at: datetime
    batch_records: int = 200_000
    batch_bytes: int = 16 * 1024 * 1024
    max_record_bytes: int = 1_048_576
    keep_original: bool = False
    quarantine_raw_bytes: int = 65_536
    workers: int = 1  # processes a parser may use for one large source (0: one per core)


@dataclass
class ParseResult:
    """One batch: accepted events, rejected records, and how many records were offered."""

    events: pl.DataFrame
    rejects: pl.DataFrame = field(default_factory=empty_rejects)
    offered: int = 0

    @property
    def accepted(self) -> int:
        return self.events.height

    @property
    def rejected(self) -> int:
        return self.rejects.height


#: one rejected record: (line or record number, byte offset, reason, raw bytes)
RejectRow = tuple[int | None, int | None, str, bytes]


def make_rejects(ctx: ParseContext, rows: list[RejectRow]) -> pl.DataFrame:
    """Rejects frame from ``(line, offset, reason, raw)`` tuples; raw is truncated per settings."""
    if not rows:
        return empty_rejects()
    cap = ctx.quarantine_raw_bytes
    return pl.DataFrame(
        {
            "file": [ctx.origin.path] * len(rows),
            "member": [ctx.origin.member] * len(rows),
            "line": [r[0] for r in rows],
            "offset": [r[1] for r in rows],
            "reason": [r[2] for r in rows],
            "raw": [r[3][:cap] for r in rows],
        },
        schema=REJECT_SCHEMA,
    )


class Parser(ABC):
    """One input format. Subclasses set ``name`` and implement ``sniff`` and ``parse``."""

    name: ClassVar[str]
    #: dtypes of namespaced fields this parser produces (beyond the ECS table)
    fields: ClassVar[Mapping[str, pl.DataType]] = {}
    #: binary parsers receive a seekable stream; text parsers a plain one
    binary: ClassVar[bool] = False

    @classmethod
    @abstractmethod
    def sniff(cls, head: bytes) -> float:
        """Confidence in [0, 1] that content starting with ``head`` is this format."""

    @abstractmethod
    def parse(self, stream: BinaryIO, ctx: ParseContext) -> Iterator[ParseResult]:
        """Parse a whole source, yielding batches whose size is bounded by the context."""
