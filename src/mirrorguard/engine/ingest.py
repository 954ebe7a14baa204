"""Ingest: walk sources, detect formats, parse in micro-batches, stamp, store, quarantine.

Each source (file or archive member) is written in one store transaction together with its
manifest row: a killed run leaves nothing half-written, and the next run redoes that source.
Re-ingesting content already recorded as complete (same sha256) is a no-op.

A source larger than ``ingest.commit_records`` commits in steps, because DuckDB holds a
transaction's appended rows in memory until it commits (memory would otherwise grow with the
file). Each step also writes the manifest row with status ``partial``; rows are tagged with
``mirrorguard.ingest_id``. A run killed between steps leaves a ``partial`` manifest row and the
rows committed so far; the next run deletes those rows (:meth:`DuckDBStore.discard_ingest`) and
redoes the source, so the end state never holds duplicates. Queries made meanwhile can exclude
unfinished ingests by joining ``ingest_manifest`` on ``status = 'complete'``.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import BinaryIO

import polars as pl

from mirrorguard.bus import BusEvent, EventBus
from mirrorguard.config.settings import Settings
from mirrorguard.engine.pipeline import pipelined
from mirrorguard.errors import FormatError, MirrorguardError
from mirrorguard.ingest.base import Origin, ParseContext, Parser, ParseResult, make_rejects
from mirrorguard.ingest.privacy import Pseudonymizer, build_pseudonymizer
from mirrorguard.ingest.registry import detect_format, get_parser, with_field_maps
from mirrorguard.ingest.sources import SourceItem, iter_sources, read_head
from mirrorguard.schema.fields import FIELDS, SCHEMA_VERSION
from mirrorguard.schema.frame import conform
from mirrorguard.store.compact import AUTO_FILES
from mirrorguard.store.duckdb_store import DuckDBStore

Progress = Callable[[str, int], None]  # (source display name, records offered so far)


@dataclass
class SourceSummary:
    path: str
    member: str | None
    sha256: str
    format: str | None
    status: str  # ingested | skipped | failed
    offered: int = 0
    accepted: int = 0
    rejected: int = 0
    reason: str | None = None


@dataclass
class IngestSummary:
    sources: list[SourceSummary] = field(default_factory=list)

    def total(self, key: str) -> int:
        return sum(int(getattr(s, key)) for s in self.sources)

    def count(self, status: str) -> int:
        return sum(1 for s in self.sources if s.status == status)

    def totals(self) -> dict[str, int]:
        return {
            "sources": len(self.sources), "ingested": self.count("ingested"),
            "skipped": self.count("skipped"), "failed": self.count("failed"),
            "offered": self.total("offered"), "accepted": self.total("accepted"),
            "rejected": self.total("rejected"),
        }

    def to_dict(self) -> dict[str, object]:
        return {"sources": [asdict(s) for s in self.sources], "totals": self.totals()}


@dataclass
class Ingestor:
    """Ingests paths into a store with given settings."""

    settings: Settings
    store: DuckDBStore
    force_format: str | None = None
    bus: EventBus | None = None
    progress: Progress | None = None
    _pseudo: Pseudonymizer | None = field(init=False, default=None)
    _parsers: tuple[type[Parser], ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        self._pseudo = build_pseudonymizer(self.settings.privacy)
        self._parsers = with_field_maps(self.settings.ingest.field_maps)

    def ingest(self, paths: list[object]) -> IngestSummary:
        from pathlib import Path

        summary = IngestSummary()
        for item in iter_sources([Path(str(p)) for p in paths]):
            summary.sources.append(self.ingest_item(item))
        self.store.compact(min_files=AUTO_FILES)  # bounds the files every query scans
        return summary

    def ingest_item(self, item: SourceItem) -> SourceSummary:
        origin = Origin(item.path, item.member, item.sha256)
        if self.store.is_ingested(origin.ingest_id):
            return SourceSummary(item.path, item.member, item.sha256, None, "skipped",
                                 reason="already ingested (same content)")
        try:
            parser_cls = (get_parser(self.force_format, self._parsers) if self.force_format
                          else detect_format(read_head(item), item.display, self._parsers))
        except FormatError as exc:
            return self._failed(item, origin, None, exc)
        started = datetime.now(UTC)
        try:
            self.store.discard_partial(origin.ingest_id)  # a killed run's committed steps
            with self.store.transaction():
                s = self._write_source(item, origin, parser_cls, started)
        except MirrorguardError as exc:
            self.store.discard_partial(origin.ingest_id)  # its committed steps go too
            return self._failed(item, origin, parser_cls.name, exc)
        self._publish(s)
        return s

    def _write_source(
        self, item: SourceItem, origin: Origin, parser_cls: type[Parser], started: datetime
    ) -> SourceSummary:
        ing = self.settings.ingest
        ctx = ParseContext(
            origin=origin, ingested_at=started, batch_records=ing.batch_records,
            batch_bytes=ing.batch_bytes,
            max_record_bytes=ing.max_record_bytes, keep_original=ing.keep_original,
            quarantine_raw_bytes=ing.quarantine_raw_bytes, workers=ing.workers,
        )
        s = SourceSummary(item.path, item.member, item.sha256, parser_cls.name, "ingested")
        dtypes = {**FIELDS, **parser_cls.fields}
        opener = _open_for(item, parser_cls)
        since_commit = 0
        with opener as stream:
            batches = pipelined(lambda: parser_cls().parse(stream, ctx),
                                lambda res: self._prepare(res, ctx, dtypes))
            for res in batches:
                self._store_batch(res, ctx, s)
                since_commit += res.offered
                if since_commit >= ing.commit_records:
                    self._record(item, origin, parser_cls.name, s, started, "partial")
                    self.store.checkpoint()
                    since_commit = 0
        if opener.damage:
            bad = make_rejects(ctx, [(None, None, opener.damage, b"")])
            self._store_batch(ParseResult(pl.DataFrame(), bad, offered=1), ctx, s)
        self._record(item, origin, parser_cls.name, s, started, "complete")
        return s

    def _record(self, item: SourceItem, origin: Origin, fmt: str, s: SourceSummary,
                started: datetime, status: str) -> None:
        self.store.record_manifest(
            ingest_id=origin.ingest_id, path=item.path, member=item.member, sha256=item.sha256,
            format=fmt, status=status, offered=s.offered, accepted=s.accepted,
            rejected=s.rejected, reason=None, started_at=started, finished_at=datetime.now(UTC),
        )

    def _prepare(
        self, res: ParseResult, ctx: ParseContext, dtypes: Mapping[str, pl.DataType]
    ) -> ParseResult:
        """Stamp, pseudonymise and conform a batch (runs on the parse thread)."""
        if res.events.height:
            frame = stamp(res.events, ctx)
            if self._pseudo is not None:
                p = self.settings.privacy
                frame = self._pseudo.apply(frame, p.fields, p.ip_fields)
            res.events = conform(frame, dtypes)
        return res

    def _store_batch(self, res: ParseResult, ctx: ParseContext, s: SourceSummary) -> None:
        """Write a prepared batch and its rejects (runs on the caller's thread)."""
        self.store.append_events(res.events)
        self.store.quarantine(res.rejects, ctx.origin.ingest_id)
        s.offered += res.offered
        s.accepted += res.accepted
        s.rejected += res.rejected
        if self.progress is not None:
            self.progress(item_name(s), s.offered)

    def _failed(
        self, item: SourceItem, origin: Origin, fmt: str | None, exc: MirrorguardError
    ) -> SourceSummary:
        reason = exc.message
        self.store.record_manifest(
            ingest_id=origin.ingest_id, path=item.path, member=item.member, sha256=item.sha256,
            format=fmt, status="failed", offered=0, accepted=0, rejected=0, reason=reason,
            started_at=datetime.now(UTC), finished_at=datetime.now(UTC),
        )
        s = SourceSummary(item.path, item.member, item.sha256, fmt, "failed", reason=reason)
        self._publish(s)
        return s

    def _publish(self, s: SourceSummary) -> None:
        if self.bus is not None:
            self.bus.publish(BusEvent(kind="ingest", actor="automation", payload=asdict(s)))


def item_name(s: SourceSummary) -> str:
    return f"{s.path}!{s.member}" if s.member else s.path


def stamp(frame: pl.DataFrame, ctx: ParseContext) -> pl.DataFrame:
    """Add ``event.id`` (ingest id + record ordinal), ingest time and provenance columns."""
    iid = ctx.origin.ingest_id
    return frame.with_columns(
        pl.format("{}:{}", pl.lit(iid), pl.col("mirrorguard.record")).alias("event.id"),
        pl.lit(ctx.ingested_at).cast(pl.Datetime("us", "UTC")).alias("event.ingested"),
        pl.lit(iid).alias("mirrorguard.ingest_id"),
        pl.lit(ctx.origin.display).alias("log.file.path"),
        pl.lit(SCHEMA_VERSION, dtype=pl.Int32).alias("mirrorguard.schema_version"),
    )


class _open_for:
    """Open a source; binary parsers get a seekable stream (spooled to a temp file if needed)."""

    def __init__(self, item: SourceItem, parser_cls: type[Parser]) -> None:
        self._item = item
        self._binary = parser_cls.binary
        self._streams: list[BinaryIO] = []
        self.damage: str | None = None

    def __enter__(self) -> BinaryIO:
        stream = self._item.open()
        self._streams.append(stream)
        if self._binary and not _really_seekable(stream):
            spool = tempfile.SpooledTemporaryFile(max_size=64 << 20)
            try:
                shutil.copyfileobj(stream, spool, 1 << 20)
            except (EOFError, OSError) as exc:  # truncated: parse what was recovered
                self.damage = f"compressed stream is damaged ({type(exc).__name__}: {exc})"
            spool.seek(0)
            self._streams.append(spool)  # type: ignore[arg-type]
            return spool  # type: ignore[return-value]
        return stream

    def __exit__(self, *exc: object) -> None:
        for s in self._streams:
            s.close()


def _really_seekable(stream: BinaryIO) -> bool:
    try:
        if not stream.seekable():
            return False
        stream.seek(0)
    except (OSError, ValueError):
        return False
    return True
