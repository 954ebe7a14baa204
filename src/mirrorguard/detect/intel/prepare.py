"""Turning loaders' raw indicator rows into a validated, normalised :class:`IntelSet`.

Loaders emit atoms with a type *group* (``ip``, ``domain``, …) and the value as written. Here
all values are normalised in one vectorised pass per group (:mod:`.normalize`), IPs get their
exact type (``ipv4``/``ipv6``, CIDR or single address), and values that are not what their type
says (a 31-character "MD5", ``999.1.1.1``, an e-mail without ``@``) are reported with their
location and dropped — together with the rest of their conjunction, so that an ``AND`` pattern
is never silently widened.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import polars as pl

from mirrorguard.detect.intel.model import (
    IntelSet,
    LoadReport,
    indicator_frame,
    sighting_frame,
)
from mirrorguard.detect.intel.normalize import (
    HASH_LENGTHS,
    TYPE_GROUP,
    ip_text,
    normalize,
    parse_ips,
)

_DOMAIN_RE = r"^[^\s/:@\\]+$"
_EMAIL_RE = r"^[^\s@<>]+@[^\s@<>]+$"


def parse_time(value: Any) -> datetime | None:
    """An ISO-8601 timestamp or UNIX epoch (int/str) as an aware UTC datetime; ``None`` if empty.

    Raises ``ValueError`` for text that is neither.

    >>> parse_time("2024-01-02T03:04:05.123456789Z").isoformat()
    '2024-01-02T03:04:05.123456+00:00'
    >>> parse_time("1700000000").isoformat()
    '2023-11-14T22:13:20+00:00'
    """
    if value is None or value == "":
        return None
    if isinstance(value, int | float) or (isinstance(value, str) and value.strip().isdigit()):
        return datetime.fromtimestamp(int(value), UTC)
    if not isinstance(value, str):
        raise ValueError(f"not a timestamp: {value!r}")
    dt = datetime.fromisoformat(value.strip())
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def where(location: str | None) -> dict[str, Any]:
    """``file``/``line`` keyword arguments from a ``path:line`` location string."""
    if not location:
        return {}
    path, sep, line = location.rpartition(":")
    if sep and line.isdigit():
        return {"file": path, "line": int(line)}
    return {"file": location}


def _normalised(frame: pl.DataFrame) -> pl.DataFrame:
    """Add ``_norm`` (normalised value, null when invalid) and the final ``_type``."""
    parts = []
    for group, sub in frame.group_by("_group", maintain_order=True):
        g = str(group[0])
        if g == "ip":
            ips = parse_ips(sub["indicator.value"])
            parts.append(sub.with_columns(
                ip_text(ips).alias("_norm"),
                pl.Series("_type", ["ipv4" if v == 4 else "ipv6" if v == 6 else None
                                    for v in ips["v"].to_list()], dtype=pl.String),
            ))
            continue
        normed = sub.with_columns(normalize(g, sub["indicator.value"]).alias("_n"))
        norm = pl.col("_n")
        if g in HASH_LENGTHS:
            ok = norm.str.contains(f"^[0-9a-f]{{{HASH_LENGTHS[g]}}}$")
        elif g == "domain":
            ok = norm.str.contains(_DOMAIN_RE) & norm.str.contains(r"[^.]")
        elif g == "email":
            ok = norm.str.contains(_EMAIL_RE)
        else:
            ok = norm.is_not_null()
        parts.append(normed.with_columns(
            pl.when(ok).then(norm).alias("_norm"), pl.col("indicator.type").alias("_type")
        ).drop("_n"))
    return pl.concat(parts) if parts else frame.with_columns(
        pl.lit(None, pl.String).alias("_norm"), pl.lit(None, pl.String).alias("_type"))


def finalize(
    rows: Sequence[Mapping[str, Any]], sightings: Sequence[Mapping[str, Any]], report: LoadReport,
) -> IntelSet:
    """Validate and normalise raw atom rows (``indicator.type`` holds the group for IPs)."""
    if not rows:
        return IntelSet(indicator_frame([]), sighting_frame(sightings), report)
    raw = indicator_frame(rows).with_columns(
        pl.col("indicator.type").replace_strict(
            {**TYPE_GROUP, "ip": "ip"}, default=None).alias("_group"))
    unknown = raw.filter(pl.col("_group").is_null())
    for rec in unknown.select("indicator.id", "indicator.type", "indicator.location").rows():
        report.problem("unsupported_type", f"unknown indicator type {rec[1]!r}",
                       record=rec[0], **where(rec[2]))
    frame = _normalised(raw.filter(pl.col("_group").is_not_null()))
    bad = frame.filter(pl.col("_norm").is_null() | pl.col("_type").is_null())
    for rid, typ, val, loc in bad.select("indicator.id", "_group", "indicator.value",
                                         "indicator.location").rows():
        report.problem("invalid_value", f"{val!r} is not a valid {typ}", record=rid, **where(loc))
    key = ["indicator.id", "indicator.conj"]
    dropped = pl.concat([bad.select(key), unknown.select(key)]).unique()
    good = (frame.join(dropped, on=key, how="anti")
            .with_columns(pl.col("_norm").alias("indicator.value"),
                          pl.col("_type").alias("indicator.type"))
            .drop("_norm", "_type", "_group"))
    report.counts["atoms"] += good.height
    report.counts["indicators"] += int(good["indicator.id"].n_unique()) if good.height else 0
    return IntelSet(good, sighting_frame(sightings), report)
