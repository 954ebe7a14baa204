"""Indicators, sightings and load reports: the data every intel loader produces.

An indicator is stored as one or more *atoms* (rows). A STIX pattern is turned into disjunctive
normal form: each conjunction (``indicator.conj``) holds ``indicator.atoms`` atoms, all of which
must match the same event; a plain IOC (MISP attribute, CSV line) is one atom in one conjunction.

Indicator types (``indicator.type``):

============ ===================================================== =======================
type         value (normalised)                                    matched against
============ ===================================================== =======================
``ipv4``     ``203.0.113.7`` or a CIDR ``203.0.113.0/24``           IP fields
``ipv6``     ``2001:db8::1`` or a CIDR ``2001:db8::/32``            IP fields
``domain``   ``evil.example`` — the domain *and its subdomains*     domain fields
``hostname`` ``c2.evil.example`` — exactly this name                domain fields
``url``      ``http://evil.example/x`` (scheme/host lower-cased,    URL fields
             default port dropped, no fragment)
``md5``/``sha1``/``sha256`` lower-case hex                         file/process hashes
``email``    ``user@evil.example`` (lower-cased)                   email fields
============ ===================================================== =======================
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from mirrorguard.errors import FormatError
from mirrorguard.schema.fields import TIMESTAMP

INDICATOR_TYPES = ("ipv4", "ipv6", "domain", "hostname", "url", "md5", "sha1", "sha256", "email")

_LS = pl.List(pl.String())
INDICATOR_SCHEMA: dict[str, pl.DataType] = {
    "indicator.id": pl.String(),
    "indicator.conj": pl.Int32(),
    "indicator.atoms": pl.Int32(),
    "indicator.type": pl.String(),
    "indicator.value": pl.String(),
    "indicator.fields": _LS,
    "indicator.name": pl.String(),
    "indicator.feed": pl.String(),
    "indicator.format": pl.String(),
    "indicator.confidence": pl.Int32(),
    "indicator.valid_from": TIMESTAMP,
    "indicator.valid_until": TIMESTAMP,
    "indicator.last_seen": TIMESTAMP,
    "indicator.revoked": pl.Boolean(),
    "indicator.to_ids": pl.Boolean(),
    "indicator.labels": _LS,
    "indicator.techniques": _LS,
    "indicator.decay_lifetime_days": pl.Float64(),
    "indicator.decay_speed": pl.Float64(),
    "indicator.pattern": pl.String(),
    "indicator.location": pl.String(),
}

SIGHTING_SCHEMA: dict[str, pl.DataType] = {
    "sighting.id": pl.String(),
    "indicator.id": pl.String(),
    "sighting.count": pl.Int64(),
    "sighting.false_positive": pl.Boolean(),
    "sighting.first_seen": TIMESTAMP,
    "sighting.last_seen": TIMESTAMP,
    "sighting.source": pl.String(),
    "sighting.location": pl.String(),
}


class IntelFormatError(FormatError):
    """A feed file cannot be read at all (bad JSON, not a bundle, unknown layout)."""


@dataclass(frozen=True)
class LoadProblem:
    """One thing a loader could not use, and where it was (findings, not exceptions)."""

    kind: str  # invalid_pattern, unsupported_pattern, unknown_object_type, invalid_value, ...
    reason: str
    file: str | None = None
    line: int | None = None
    record: str | None = None

    def __str__(self) -> str:
        where = self.file or ""
        if self.line is not None:
            where = f"{where}:{self.line}"
        if self.record:
            where = f"{where} {self.record}".strip()
        return f"{where}: {self.kind}: {self.reason}" if where else f"{self.kind}: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "reason": self.reason, "file": self.file, "line": self.line,
                "record": self.record}


@dataclass
class LoadReport:
    """What a load did: counts by outcome and the problems with their locations."""

    counts: Counter[str] = field(default_factory=Counter)
    problems: list[LoadProblem] = field(default_factory=list)

    def problem(self, kind: str, reason: str, **where: Any) -> None:
        self.problems.append(LoadProblem(kind, reason, **where))
        self.counts[f"problem.{kind}"] += 1

    def merge(self, other: LoadReport) -> LoadReport:
        return LoadReport(self.counts + other.counts, [*self.problems, *other.problems])

    def to_dict(self) -> dict[str, Any]:
        return {"counts": dict(sorted(self.counts.items())),
                "problems": [p.to_dict() for p in self.problems]}


@dataclass
class IntelSet:
    """Indicators (atoms), sightings and the report of loading them."""

    indicators: pl.DataFrame
    sightings: pl.DataFrame
    report: LoadReport = field(default_factory=LoadReport)

    @classmethod
    def empty(cls) -> IntelSet:
        return cls(pl.DataFrame(schema=INDICATOR_SCHEMA), pl.DataFrame(schema=SIGHTING_SCHEMA))

    @classmethod
    def concat(cls, sets: Iterable[IntelSet]) -> IntelSet:
        """Several feeds as one set (reports merged)."""
        items = list(sets)
        if not items:
            return cls.empty()
        report = LoadReport()
        for s in items:
            report = report.merge(s.report)
        return cls(pl.concat([s.indicators for s in items], how="vertical"),
                   pl.concat([s.sightings for s in items], how="vertical"), report)

    def with_report(self, extra: LoadReport) -> IntelSet:
        """The same set with ``extra`` merged into its report."""
        return IntelSet(self.indicators, self.sightings, self.report.merge(extra))

    def indicator_count(self) -> int:
        """Distinct indicators (not atoms)."""
        return int(self.indicators["indicator.id"].n_unique()) if self.indicators.height else 0


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_SEP = "\x1f"


def _column(name: str, values: list[Any], dtype: pl.DataType) -> pl.Series:
    """A typed column from Python values; lists and datetimes take fast vectorised paths."""
    if isinstance(dtype, pl.List):
        joined = [None if not v else _SEP.join(str(x) for x in v) for v in values]
        return pl.Series(name, joined, dtype=pl.String).str.split(_SEP)
    if isinstance(dtype, pl.Datetime):
        micros = [None if v is None else (v - _EPOCH) // _US for v in values]
        return pl.Series(name, micros, dtype=pl.Int64).cast(dtype)
    return pl.Series(name, values, dtype=dtype)


def _frame(rows: Sequence[Mapping[str, Any]], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame([_column(n, [r.get(n) for r in rows], t) for n, t in schema.items()])


def indicator_frame(rows: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    """Rows (dicts with some :data:`INDICATOR_SCHEMA` keys) as an indicator frame."""
    frame = _frame(rows, INDICATOR_SCHEMA)
    return frame.with_columns(
        pl.col("indicator.conj").fill_null(0), pl.col("indicator.atoms").fill_null(1),
        pl.col("indicator.revoked").fill_null(False), pl.col("indicator.to_ids").fill_null(True),
        pl.col("indicator.fields").fill_null([]), pl.col("indicator.labels").fill_null([]),
        pl.col("indicator.techniques").fill_null([]),
    )


def sighting_frame(rows: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    """Rows (dicts with some :data:`SIGHTING_SCHEMA` keys) as a sightings frame."""
    return _frame(rows, SIGHTING_SCHEMA).with_columns(
        pl.col("sighting.count").fill_null(1), pl.col("sighting.false_positive").fill_null(False)
    )
