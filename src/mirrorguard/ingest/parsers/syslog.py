"""Syslog: RFC 3164 (BSD) and RFC 5424 lines, with auth events extracted (see ``syslog_auth``).

A block of lines becomes one Polars column; one regular expression per RFC splits the header
(``str.extract_groups``), so the cost per line is a regex scan in Rust, not Python.

* RFC 3164 (``<PRI>`` optional): ``Mmm dd hh:mm:ss host tag[pid]: message``. The timestamp has
  no year and no zone: the year is the ``year`` given, else the ingest year — and a time more
  than a day after the ingest time is moved back one year (a December file read in January);
  the zone is ``timezone`` (default UTC). ``Mmm dd yyyy hh:mm:ss`` (macOS) and RFC 3339
  timestamps as rsyslog writes them (``2024-05-01T10:00:00.123+02:00``) are read too. The
  host name may be absent (``Mar 11 22:52:12 lighttpd[53690]: …``).
* RFC 5424: ``<PRI>VERSION TIMESTAMP HOST APP PROCID MSGID [SD…] MSG`` (``-`` = absent);
  structured data is kept as text in ``log.syslog.structured_data``.

Lines matching neither header are rejected with a reason; blank lines are not records.
Syslog has no comment syntax, so a line starting with ``#`` is rejected as not a syslog record
unless the parser is built with ``skip_comments=True`` (useful for annotated corpora such as
fail2ban's test logs, whose ``# failJSON:`` lines then are skipped, not counted). Lines that are
not valid UTF-8 are rejected (syslog payloads are stored as text; nothing is replaced silently).

ECS: ``host.name`` (and ``log.syslog.hostname``), ``log.syslog.appname``/``procid``/``msgid``/
``facility.code``/``severity.code``/``priority``, ``process.name``, ``process.pid`` (numeric
PROCIDs only), ``message``; ``event.dataset`` is ``system.auth`` for auth programs and lines an
auth rule matched, else ``system.syslog``.

>>> import io
>>> from datetime import UTC, datetime
>>> from mirrorguard.ingest.base import Origin, ParseContext
>>> ctx = ParseContext(origin=Origin("auth.log", None, "0" * 64),
...                    ingested_at=datetime(2024, 6, 1, tzinfo=UTC))
>>> data = b"Jun  1 09:00:00 web sshd[7]: Accepted publickey for ann from 10.1.1.1 port 5 ssh2\\n"
>>> res = next(SyslogParser().parse(io.BytesIO(data), ctx))
>>> row = res.events.row(0, named=True)
>>> row["host.name"], row["event.action"], row["event.outcome"], str(row["@timestamp"])
('web', 'ssh_login', 'success', '2024-06-01 09:00:00+00:00')
"""

from __future__ import annotations

import re
from datetime import UTC, timedelta
from typing import ClassVar

import polars as pl

from mirrorguard.ingest.base import ParseContext, ParseResult, make_rejects
from mirrorguard.ingest.lines import LazyLines, LineParser
from mirrorguard.ingest.normalize import RECORD, finish, iso_to_ts, rejects_from_records
from mirrorguard.ingest.parsers.syslog_auth import auth_fields, is_auth_row
from mirrorguard.ingest.textlines import reject_where, text_lines
from mirrorguard.schema.fields import FIELDS, TIMESTAMP

_BSD_TS = r"[A-Za-z]{3} +\d{1,2}(?: +\d{4})? +\d{1,2}:\d\d:\d\d(?:\.\d+)?"
_ISO_TS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?"
# The header only: the message is the rest of the line (a regex need not scan it).
RFC3164 = (
    r"^(?P<head>(?:<(?P<pri>\d{1,3})>)?(?P<ts>" + _BSD_TS + "|" + _ISO_TS + r")\s+"
    r"(?:(?P<host>[^\s\[:]+)\s+)?"
    r"(?:(?P<app>[^\s\[:]+)\s?(?:\[(?P<pid>[^\]\s]*)\])?:(?:\s+|$))?)"
)
# an SD-ELEMENT; quoted values may hold unescaped "]" (seen in the wild, fail2ban gh-2309)
_SD_ELEMENT = r'(?:\[[^\]"]*(?:"(?:[^"\\]|\\.)*"[^\]"]*)*\])'
RFC5424 = (
    r"^<(?P<pri>\d{1,3})>(?P<ver>\d{1,2}) (?P<ts>\S+) (?P<host>\S+) (?P<app>\S+) (?P<pid>\S+) "
    r"(?P<msgid>\S+) (?P<sd>-|" + _SD_ELEMENT + r"+)(?: (?P<msg>.*))?$"
)
_SNIFF = (re.compile(RFC3164), re.compile(RFC5424))
_SNIFF_TAG = re.compile(r"^(?:<\d{1,3}>)?(?:" + _BSD_TS + "|" + _ISO_TS + r")\s+"
                        r"(?:[^\s\[:]+\s+)?[^\s\[:]+\s?(?:\[[^\]\s]*\])?:")
_GROUPS = ("pri", "ver", "ts", "host", "app", "pid", "msgid", "sd", "msg")
# The layout nearly every Linux syslog daemon writes: a 15-character time, host, tag, ": ".
_CANONICAL = r"^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d [^ \[:]+ [^ \[:]+(?:\[\d+\])?: "


def _split_canonical(rows: pl.DataFrame) -> pl.DataFrame:
    """Header fields of lines matching :data:`_CANONICAL`, by slicing and splitting."""
    line = pl.col("line")
    a = rows.with_columns(line.str.slice(16).str.splitn(" ", 2).alias("__hr")).unnest("__hr")
    b = a.with_columns(pl.col("field_1").str.splitn(": ", 2).alias("__tm")).drop("field_1")
    b = b.rename({"field_0": "host"}).unnest("__tm").rename({"field_0": "tag", "field_1": "msg"})
    c = b.with_columns(pl.col("tag").str.strip_suffix("]").str.splitn("[", 2).alias("__ap"))
    c = c.unnest("__ap").rename({"field_0": "app", "field_1": "pid"})
    nil = pl.lit(None, dtype=pl.String)
    return c.select(pl.col(RECORD), line, nil.alias("pri"), nil.alias("ver"),
                    line.str.slice(0, 15).alias("ts"), "host", "app", "pid",
                    nil.alias("msgid"), nil.alias("sd"), "msg")


def _bsd_to_ts(ts: pl.Series, year: int) -> pl.Series:
    """``Mmm dd [yyyy] hh:mm:ss[.f]`` → naive datetime (the year prepended when absent)."""
    frac = "%.f" if ts.str.contains(".", literal=True).any() else ""  # %.f costs twice as much
    with_year = pl.concat_str([pl.lit(str(year)), pl.col(ts.name)], separator=" ")
    fmt = f"%Y %b %d %H:%M:%S{frac}"
    parsed = ts.to_frame().select(with_year.str.to_datetime(fmt, time_unit="us", strict=False)
                                  ).to_series()
    missing = parsed.is_null() & ts.is_not_null()
    if missing.any():  # "Mmm dd yyyy hh:mm:ss" (macOS) only then
        own = ts.str.to_datetime(f"%b %d %Y %H:%M:%S{frac}", time_unit="us", strict=False)
        parsed = parsed.zip_with(~missing, own)
    return parsed


class SyslogParser(LineParser):
    """RFC 3164 / RFC 5424 syslog text, one message per line."""

    name: ClassVar[str] = "syslog"
    fields: ClassVar[dict[str, pl.DataType]] = {
        "log.syslog.priority": pl.Int32(),
        "log.syslog.version": pl.Int32(),
    }

    def __init__(self, year: int | None = None, timezone: str = "UTC",
                 skip_comments: bool = False) -> None:
        self.year = year
        self.timezone = timezone
        self.skip_comments = skip_comments

    @classmethod
    def sniff(cls, head: bytes) -> float:
        text = head[:16384].decode("utf-8", errors="replace").lstrip("\ufeff")
        lines = [ln.rstrip("\r") for ln in text.split("\n")[:-1] or text.split("\n")]
        sample = [ln for ln in lines if ln.strip() and not ln.startswith("#")][:50]
        if not sample:
            return 0.0
        tagged = sum(1 for ln in sample if _SNIFF_TAG.match(ln) or _SNIFF[1].match(ln))
        headed = sum(1 for ln in sample if any(r.match(ln) for r in _SNIFF))
        score = (tagged + 0.5 * (headed - tagged)) / len(sample)
        return 0.0 if score < 0.5 else round(0.5 + 0.4 * score, 3)

    def parse_block(self, block: bytes, first_line: int, ctx: ParseContext) -> ParseResult:
        tl = text_lines(block, first_line, "#", self.skip_comments)
        early = make_rejects(ctx, tl.rejects)
        if tl.frame.height == 0:
            return ParseResult(events=pl.DataFrame(), rejects=early, offered=tl.offered)
        hdr = self._headers(tl.frame)
        good, bad = reject_where(hdr, pl.col("ts").is_null(),
                                 "not a syslog line (no RFC 3164 or RFC 5424 header)")
        events = self._to_ecs(good, ctx)
        raw = LazyLines(block)
        if bad.height:
            early = pl.concat([early, rejects_from_records(ctx, bad, raw, first_line)])
        return finish(events, ctx, offered=tl.offered, dtypes={**FIELDS, **self.fields},
                      raw=raw, first_record=first_line, early_rejects=early)

    def _headers(self, lines: pl.DataFrame) -> pl.DataFrame:
        """One row per line: the header groups of whichever RFC matches (nulls if neither).

        Lines in the canonical ``Mmm dd hh:mm:ss host app[pid]: msg`` layout (almost all, in
        practice) are split with plain string operations; only the others pay for a regex
        with capture groups.
        """
        line = pl.col("line")
        kind = (pl.when(line.str.contains(_CANONICAL)).then(pl.lit(0))
                .when(line.str.contains(r"^<\d{1,3}>\d{1,2} ")).then(pl.lit(1)).otherwise(2))
        lines = lines.with_columns(kind.alias("__kind"))
        parts: list[pl.DataFrame] = []
        canonical = lines.filter(pl.col("__kind") == 0)
        if canonical.height:
            parts.append(_split_canonical(canonical))
        for pattern, k in ((RFC5424, 1), (RFC3164, 2)):
            rows = lines.filter(pl.col("__kind") == k)
            if rows.height == 0:
                continue
            g = rows.select(pl.col(RECORD), line, line.str.extract_groups(pattern).alias("g"))
            cols = g["g"].struct.unnest()
            if "head" in cols.columns:
                cols = cols.with_columns(g["line"].str.strip_prefix(cols["head"]).alias("msg"))
            missing = [pl.lit(None, dtype=pl.String).alias(c) for c in _GROUPS
                       if c not in cols.columns]
            parts.append(g.select(RECORD, "line").hstack(cols.with_columns(missing)
                                                         .select(_GROUPS)))
        return pl.concat(parts).sort(RECORD) if len(parts) > 1 else parts[0]

    def _bsd(self, ts: pl.Series, year: int) -> pl.Series:
        local = _bsd_to_ts(ts, year).dt.replace_time_zone(
            self.timezone, ambiguous="earliest", non_existent="null")
        return local.dt.convert_time_zone("UTC").cast(TIMESTAMP)

    def _timestamps(self, ts: pl.Series, ctx: ParseContext) -> pl.Series:
        frame = ts.to_frame("ts")
        iso = frame.select(pl.col("ts").str.contains(r"^\d")).to_series()
        iso_ts = frame.select(iso_to_ts("ts")).to_series() if iso.any() else None
        if iso.all() and iso_ts is not None:
            return iso_ts.alias("@timestamp")
        now = ctx.ingested_at if ctx.ingested_at.tzinfo else ctx.ingested_at.replace(tzinfo=UTC)
        bsd_ts = self._bsd(ts, self.year or now.year)
        late = bsd_ts > now.astimezone(UTC) + timedelta(days=1)
        if self.year is None and late.any():  # no year in the line: not after ingest + 1 day
            idx = late.arg_true()
            bsd_ts = bsd_ts.scatter(idx, self._bsd(ts.gather(idx), now.year - 1))
        out = bsd_ts if iso_ts is None else iso_ts.zip_with(iso, bsd_ts)
        return out.alias("@timestamp")

    def _to_ecs(self, hdr: pl.DataFrame, ctx: ParseContext) -> pl.DataFrame:
        dash = ("-", "")
        nil = {c: pl.when(pl.col(c).is_in(dash)).then(None).otherwise(pl.col(c))
               for c in ("host", "app", "pid", "msgid", "sd")}
        pri = pl.col("pri").cast(pl.Int32, strict=False)
        base = hdr.select(
            pl.col(RECORD),
            nil["host"].alias("host.name"),
            nil["host"].alias("log.syslog.hostname"),
            nil["app"].alias("log.syslog.appname"),
            nil["app"].str.replace(r"\(.*$", "").alias("process.name"),  # sshd(pam_unix)
            nil["pid"].alias("log.syslog.procid"),
            pl.when(nil["pid"].str.contains(r"^\d{1,18}$")).then(nil["pid"]).alias("process.pid"),
            nil["msgid"].alias("log.syslog.msgid"),
            nil["sd"].alias("log.syslog.structured_data"),
            pri.alias("log.syslog.priority"),
            (pri // 8).alias("log.syslog.facility.code"),
            (pri % 8).alias("log.syslog.severity.code"),
            pl.col("ver").cast(pl.Int32, strict=False).alias("log.syslog.version"),
            pl.col("msg").str.strip_prefix("\ufeff").alias("message"),
            pl.lit("system").alias("event.module"),
            pl.lit("event").alias("event.kind"),
        )
        base = base.with_columns(self._timestamps(hdr["ts"], ctx))
        auth = auth_fields(base)
        if auth.width > 1:
            base = base.join(auth, on=RECORD, how="left", maintain_order="left")
        matched = pl.col("event.action").is_not_null() if "event.action" in base.columns else (
            pl.lit(False))
        auth_row = is_auth_row(pl.col("log.syslog.appname"), pl.col("message")) | matched
        dataset = pl.when(auth_row).then(pl.lit("system.auth")).otherwise(pl.lit("system.syslog"))
        return base.with_columns(dataset.alias("event.dataset"))
