"""Parser conformance: run a parser over arbitrary bytes and check its accounting.

Every parser must (1) never let an exception escape on any input, (2) account for every record
it saw: ``accepted + rejected == offered``, (3) produce valid EventFrames (after stamping).

>>> from mirrorguard.ingest.parsers.zeek import ZeekJsonParser
>>> r = run_parser(ZeekJsonParser, b'{"ts": 1, "uid": "C1", "id.orig_h": "10.0.0.1"}\\nnot json\\n')
>>> (r.accepted, r.rejected, r.offered)
(1, 1, 2)
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime

import polars as pl

from mirrorguard.engine.ingest import stamp
from mirrorguard.ingest.base import Origin, ParseContext, Parser
from mirrorguard.schema.fields import FIELDS
from mirrorguard.schema.frame import conform, validate_frame


@dataclass
class ParserRun:
    accepted: int
    rejected: int
    offered: int
    events: pl.DataFrame
    rejects: pl.DataFrame


def run_parser(
    parser_cls: type[Parser], data: bytes, *, max_record_bytes: int = 1_048_576,
    batch_bytes: int = 16 << 20, keep_original: bool = False,
) -> ParserRun:
    """Parse ``data`` fully; stamp and validate the events like the engine would."""
    ctx = ParseContext(
        origin=Origin("mem", None, "0" * 64), ingested_at=datetime.now(UTC),
        max_record_bytes=max_record_bytes, batch_bytes=batch_bytes, keep_original=keep_original,
    )
    events, rejects = [], []
    acc = rej = off = 0
    for res in parser_cls().parse(io.BytesIO(data), ctx):
        acc += res.accepted
        rej += res.rejected
        off += res.offered
        if res.events.height:
            events.append(conform(stamp(res.events, ctx), {**FIELDS, **parser_cls.fields}))
        rejects.append(res.rejects)
    ev = pl.concat(events, how="diagonal_relaxed") if events else pl.DataFrame()
    rj = pl.concat(rejects) if rejects else pl.DataFrame()
    return ParserRun(acc, rej, off, ev, rj)


def check_parser(parser_cls: type[Parser], data: bytes, **kw: int) -> ParserRun:
    """:func:`run_parser` plus the conformance assertions."""
    run = run_parser(parser_cls, data, **kw)  # type: ignore[arg-type]
    assert run.accepted + run.rejected == run.offered, (
        f"{parser_cls.name}: accepted {run.accepted} + rejected {run.rejected} "
        f"!= offered {run.offered}"
    )
    assert run.events.height == run.accepted
    if run.events.height:
        problems = validate_frame(run.events, {**FIELDS, **parser_cls.fields})
        assert not problems, f"{parser_cls.name}: {problems}"
        assert run.events["event.id"].n_unique() == run.events.height, "event.id not unique"
    return run
