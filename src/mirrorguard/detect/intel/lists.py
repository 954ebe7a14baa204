"""Load plain IOC lists: CSV with a type column (or a declared type) and one-value-per-line text.

CSV: a header row; the value column is the first of ``value``, ``indicator``, ``ioc``,
``observable``; the type column the first of ``type``, ``indicator_type``, ``ioc_type``.
Optional columns: ``id``, ``name``/``description``, ``confidence`` (0–100), ``valid_from``,
``valid_until``, ``last_seen``, ``tags`` (``;``-separated). Type names may be ours (``ipv4``,
``domain``…), MISP's (``ip-dst``, ``filename|sha256`` is not), STIX object names
(``ipv4-addr``, ``domain-name``) or common feed spellings (``IPv4``, ``FileHash-SHA256``, ``URL``);
``auto`` infers the type from the value (IP/CIDR, hash by length, e-mail, URL, else domain).

Text: one value per line, ``#`` at the start or after a space starts a comment; the type is
declared (default ``auto``).

>>> s = load_text("# bad hosts\\n203.0.113.0/24\\nEvil.Example\\n" + "a" * 64 + "\\n",
...               source="list.txt")
>>> s.indicators.select("indicator.type", "indicator.value", "indicator.location").rows()
[('ipv4', '203.0.113.0/24', 'list.txt:2'), ('domain', 'evil.example', 'list.txt:3'), \
('sha256', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 'list.txt:4')]
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import polars as pl

from mirrorguard.detect.intel.model import IntelFormatError, IntelSet, LoadReport
from mirrorguard.detect.intel.prepare import finalize, parse_time

SYNONYMS: dict[str, str] = {
    "ip": "ip", "ipv4": "ip", "ipv6": "ip", "ip-src": "ip", "ip-dst": "ip", "ipv4-addr": "ip",
    "ipv6-addr": "ip", "cidr": "ip", "ip-address": "ip", "ipaddress": "ip",
    "domain": "domain", "domain-name": "domain", "hostname": "hostname", "fqdn": "hostname",
    "host": "hostname", "url": "url", "uri": "url", "md5": "md5", "filehash-md5": "md5",
    "sha1": "sha1", "sha-1": "sha1", "filehash-sha1": "sha1", "sha256": "sha256",
    "sha-256": "sha256", "filehash-sha256": "sha256", "email": "email", "email-src": "email",
    "email-dst": "email", "email-addr": "email", "auto": "auto",
}
_VALUE_COLS = ("value", "indicator", "ioc", "observable")
_TYPE_COLS = ("type", "indicator_type", "ioc_type")


def infer_type(e: pl.Expr) -> pl.Expr:
    """Guess an indicator type group from a value (vectorised)."""
    v = e.str.strip_chars()
    return (
        pl.when(v.str.contains(r"^[0-9.]+(/\d+)?$")
                | v.str.contains(r"^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*(/\d+)?$"))
        .then(pl.lit("ip"))
        .when(v.str.contains(r"^[0-9A-Fa-f]{32}$")).then(pl.lit("md5"))
        .when(v.str.contains(r"^[0-9A-Fa-f]{40}$")).then(pl.lit("sha1"))
        .when(v.str.contains(r"^[0-9A-Fa-f]{64}$")).then(pl.lit("sha256"))
        .when(v.str.contains(r"^[^@\s]+@[^@\s]+$")).then(pl.lit("email"))
        .when(v.str.contains(r"://") | v.str.contains(r"/")).then(pl.lit("url"))
        .otherwise(pl.lit("domain"))
    )


def _types(frame: pl.DataFrame, report: LoadReport, source: str) -> pl.DataFrame:
    """Map declared type names to groups (``auto`` inferred); report unknown names."""
    mapped = frame.with_columns(
        pl.col("_type").str.strip_chars().str.to_lowercase()
        .replace_strict(SYNONYMS, default=None).alias("_group"))
    for line, typ in mapped.filter(pl.col("_group").is_null()).select("_line", "_type").rows():
        report.problem("unsupported_type", f"unknown indicator type {typ!r}", file=source,
                       line=line)
    return mapped.filter(pl.col("_group").is_not_null()).with_columns(
        pl.when(pl.col("_group") == "auto").then(infer_type(pl.col("_value")))
        .otherwise(pl.col("_group")).alias("_group"))


def _rows(frame: pl.DataFrame, source: str, feed: str, fmt: str,
          report: LoadReport) -> list[dict[str, Any]]:
    rows = []
    for rec in frame.iter_rows(named=True):
        where = {"file": source, "line": rec["_line"]}
        times: dict[str, Any] = {}
        for key in ("valid_from", "valid_until", "last_seen"):
            try:
                times[key] = parse_time(rec.get(key))
            except (ValueError, TypeError, OverflowError):
                report.problem("invalid_value", f"{key} {rec.get(key)!r}", **where)
                times[key] = None
        conf = rec.get("confidence")
        if conf is not None and not (str(conf).isdigit() and 0 <= int(conf) <= 100):
            report.problem("invalid_value", f"confidence {conf!r} is not 0-100", **where)
            conf = None
        rows.append({
            "indicator.id": rec.get("id") or f"{fmt}:{feed}:{rec['_line']}",
            "indicator.type": rec["_group"], "indicator.value": rec["_value"],
            "indicator.name": rec.get("name") or rec.get("description"),
            "indicator.feed": feed, "indicator.format": fmt,
            "indicator.confidence": None if conf is None else int(conf),
            "indicator.valid_from": times["valid_from"],
            "indicator.valid_until": times["valid_until"],
            "indicator.last_seen": times["last_seen"],
            "indicator.labels": [t for t in str(rec.get("tags") or "").split(";") if t],
            "indicator.pattern": rec["_value"], "indicator.location": f"{source}:{rec['_line']}",
        })
    return rows


def load_csv(src: Path | str, *, type: str | None = None, feed: str | None = None,
             source: str | None = None) -> IntelSet:
    """Load a CSV list (file path, or CSV text with ``source`` naming it)."""
    name = source or (str(src) if isinstance(src, Path) else "<memory>")
    try:
        text = src.read_text("utf-8") if isinstance(src, Path) else src
        frame = pl.read_csv(io.StringIO(text), infer_schema=False, comment_prefix="#")
    except (OSError, UnicodeDecodeError, pl.exceptions.PolarsError) as exc:
        raise IntelFormatError(f"cannot read CSV: {exc}", file=name) from exc
    cols = {c.strip().lower(): c for c in frame.columns}
    vcol = next((cols[c] for c in _VALUE_COLS if c in cols), None)
    tcol = next((cols[c] for c in _TYPE_COLS if c in cols), None)
    if vcol is None:
        raise IntelFormatError(f"no value column (one of {', '.join(_VALUE_COLS)})", file=name,
                               line=1)
    if tcol is None and type is None:
        raise IntelFormatError("no type column; declare the type (e.g. type='ipv4' or 'auto')",
                               file=name, line=1)
    report = LoadReport()
    frame = frame.rename({c: c.strip().lower() for c in frame.columns}).with_columns(
        pl.col(vcol.strip().lower()).alias("_value"),
        (pl.col(tcol.strip().lower()) if tcol else pl.lit(type)).alias("_type"),
        (pl.int_range(pl.len()) + 2).alias("_line"),  # line 1 is the header
    ).filter(pl.col("_value").str.strip_chars().str.len_bytes() > 0)
    typed = _types(frame, report, name)
    feed_name = feed or Path(name).stem
    return finalize(_rows(typed, name, feed_name, "csv", report), [], report)


def load_text(src: Path | str, *, type: str = "auto", feed: str | None = None,
              source: str | None = None) -> IntelSet:
    """Load a one-value-per-line list (``#`` comments) of a declared type (or ``auto``)."""
    name = source or (str(src) if isinstance(src, Path) else "<memory>")
    try:
        text = src.read_text("utf-8") if isinstance(src, Path) else src
    except (OSError, UnicodeDecodeError) as exc:
        raise IntelFormatError(f"cannot read list: {exc}", file=name) from exc
    lines = pl.DataFrame({"_raw": text.splitlines()}).with_columns(
        (pl.int_range(pl.len()) + 1).alias("_line"))
    frame = lines.with_columns(
        pl.col("_raw").str.replace(r"(^|\s)#.*$", "").str.strip_chars().alias("_value"),
        pl.lit(type).alias("_type"),
    ).filter(pl.col("_value").str.len_bytes() > 0)
    report = LoadReport()
    typed = _types(frame, report, name)
    feed_name = feed or Path(name).stem
    return finalize(_rows(typed, name, feed_name, "text", report), [], report)
