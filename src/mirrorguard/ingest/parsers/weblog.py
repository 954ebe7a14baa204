"""Apache / nginx access logs: common, combined, vhost_combined and nginx ``main``.

One regular expression over a block's lines splits each entry (Polars ``str.extract_groups``);
a second splits the request line, a third the URL. Formats (Apache ``mod_log_config`` names):

* common: ``%h %l %u %t "%r" %>s %b``
* combined: common + ``"%{Referer}i" "%{User-agent}i"`` (nginx's ``combined`` is the same)
* vhost_combined: ``%v:%p`` (or ``%v``) + combined → ``apache.access`` (an Apache format)
* nginx ``main`` (the stock ``nginx.conf``): combined + ``"$http_x_forwarded_for"`` →
  ``nginx.access``; anything else is ``web.access`` (the two servers write identical lines, so
  the dataset is named only when the content tells). Further trailing fields are kept as text
  in ``web.access.extra``.

``-`` is "absent": a ``-`` size gives a null ``http.response.body.bytes``, not a reject. A
request line that is not ``METHOD TARGET [PROTOCOL]`` (an empty request, TLS bytes sent to a
plain-HTTP port) still lands, with the text in ``web.access.request``. Timestamps without a
zone (``[27/Jun/2013:11:55:44]``) are read in ``timezone`` (default UTC). Lines that do not
match are rejected with a reason; access logs have no comment syntax, so ``#`` lines are
rejected unless ``skip_comments=True``.

>>> import io
>>> from datetime import UTC, datetime
>>> from mirrorguard.ingest.base import Origin, ParseContext
>>> ctx = ParseContext(origin=Origin("access.log", None, "0" * 64),
...                    ingested_at=datetime(2024, 6, 1, tzinfo=UTC))
>>> line = (b'10.0.0.5 - bob [17/May/2015:10:05:03 +0200] "GET /a/b.php?id=1 HTTP/1.1" 404 - '
...         b'"-" "curl/8.0"\\n')
>>> row = next(WebAccessParser().parse(io.BytesIO(line), ctx)).events.row(0, named=True)
>>> row["url.path"], row["url.query"], row["http.response.status_code"], str(row["@timestamp"])
('/a/b.php', 'id=1', 404, '2015-05-17 08:05:03+00:00')
"""

from __future__ import annotations

import re
from typing import ClassVar

import polars as pl

from mirrorguard.ingest.base import ParseContext, ParseResult, make_rejects
from mirrorguard.ingest.lines import LazyLines, LineParser
from mirrorguard.ingest.normalize import RECORD, finish, rejects_from_records
from mirrorguard.ingest.textlines import reject_where, text_lines
from mirrorguard.schema.fields import FIELDS

ACCESS = (
    r"^(?:(?P<vhost>[^\s:\[\]]+)(?::(?P<vport>\d+))? )?(?P<ip>\S+) (?P<ident>\S+) "
    r'(?P<user>"[^"]*"|\S+) \[(?P<ts>[^\]]+)\] "(?P<req>(?:[^"\\]|\\.)*)" '
    r"(?P<status>\d{3}|-) (?P<bytes>\d+|-)"
    r'(?: "(?P<ref>(?:[^"\\]|\\.)*)" "(?P<ua>(?:[^"\\]|\\.)*)")?(?P<extra>.*)$'
)
REQUEST = (r"^(?P<method>[A-Za-z][A-Za-z0-9_-]*) (?P<target>\S+)"
           r"(?: (?P<proto>[A-Za-z]+)/(?P<ver>[\d.]+))?$")
URL = (r"^(?:(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<domain>[^/?#]*))?(?P<path>[^?#]*)"
       r"(?:\?(?P<query>[^#]*))?")
_SNIFF = re.compile(ACCESS)
_NGINX_MAIN = r'^ "[^"]*"$'


def _dash(e: pl.Expr) -> pl.Expr:
    return pl.when(e.is_in(["-", ""])).then(None).otherwise(e)


def _unescape(e: pl.Expr) -> pl.Expr:
    """Apache escapes ``"`` and ``\\`` inside quoted fields as ``\\"`` and ``\\\\``."""
    return e.str.replace_all('\\"', '"', literal=True).str.replace_all("\\\\", "\\",
                                                                        literal=True)


class WebAccessParser(LineParser):
    """Apache and nginx access logs (common / combined and the variants above)."""

    name: ClassVar[str] = "web_access"

    def __init__(self, timezone: str = "UTC", skip_comments: bool = False) -> None:
        self.timezone = timezone
        self.skip_comments = skip_comments

    @classmethod
    def sniff(cls, head: bytes) -> float:
        text = head[:16384].decode("utf-8", errors="replace").lstrip("\ufeff")
        lines = text.split("\n")[:-1] or text.split("\n")
        sample = [ln.rstrip("\r") for ln in lines if ln.strip() and not ln.startswith("#")][:50]
        if not sample:
            return 0.0
        score = sum(1 for ln in sample if _SNIFF.match(ln)) / len(sample)
        return 0.0 if score < 0.5 else round(0.5 + 0.45 * score, 3)

    def parse_block(self, block: bytes, first_line: int, ctx: ParseContext) -> ParseResult:
        tl = text_lines(block, first_line, "#", self.skip_comments)
        early = make_rejects(ctx, tl.rejects)
        if tl.frame.height == 0:
            return ParseResult(events=pl.DataFrame(), rejects=early, offered=tl.offered)
        g = tl.frame.select(pl.col(RECORD), pl.col("line"),
                            pl.col("line").str.extract_groups(ACCESS).alias("g")).unnest("g")
        good, bad = reject_where(g, pl.col("ts").is_null(), "not an access-log line "
                                 "(expected Apache/nginx common or combined format)")
        raw = LazyLines(block)
        if bad.height:
            early = pl.concat([early, rejects_from_records(ctx, bad, raw, first_line)])
        events = self._to_ecs(good)
        return finish(events, ctx, offered=tl.offered, dtypes=FIELDS, raw=raw,
                      first_record=first_line, early_rejects=early)

    def _timestamps(self, ts: pl.Expr, frame: pl.DataFrame) -> pl.Expr:
        zoned = ts.str.to_datetime("%d/%b/%Y:%H:%M:%S%.f %z", time_unit="us", time_zone="UTC",
                                   strict=False)
        if frame.select(ts.str.contains(r"[+-]\d{4}\s*$").all()).item():
            return zoned
        local = (ts.str.strip_chars().str.to_datetime("%d/%b/%Y:%H:%M:%S%.f", time_unit="us",
                                                      strict=False)
                 .dt.replace_time_zone(self.timezone, ambiguous="earliest", non_existent="null")
                 .dt.convert_time_zone("UTC"))
        return pl.coalesce(zoned, local)

    def _to_ecs(self, g: pl.DataFrame) -> pl.DataFrame:
        req = pl.col("req").str.extract_groups(REQUEST)
        g = g.with_columns(req.alias("r")).unnest("r")
        g = g.with_columns(pl.col("target").str.extract_groups(URL).alias("u")).unnest("u")
        g = g.with_columns(pl.col("status").cast(pl.Int32, strict=False).alias("__status"),
                           pl.col("extra").str.contains(_NGINX_MAIN).alias("__nginx"))
        user = _dash(pl.col("user").str.strip_chars('"'))
        status, nginx_main = pl.col("__status"), pl.col("__nginx")
        dataset = (pl.when(pl.col("vhost").is_not_null()).then(pl.lit("apache.access"))
                   .when(nginx_main).then(pl.lit("nginx.access"))
                   .otherwise(pl.lit("web.access")))
        cols = [
            pl.col(RECORD),
            self._timestamps(pl.col("ts"), g).alias("@timestamp"),
            dataset.alias("event.dataset"),
            pl.lit("event").alias("event.kind"),
            pl.lit("web").alias("event.category"),
            pl.lit("access").alias("event.type"),
            pl.when(status.is_null()).then(None).when(status < 400).then(pl.lit("success"))
            .otherwise(pl.lit("failure")).alias("event.outcome"),
            pl.col("ip").alias("source.address"),
            pl.when(pl.col("ip").str.contains(r"^[0-9a-fA-F.:]+$")).then(pl.col("ip"))
            .alias("source.ip"),
            user.alias("user.name"),
            pl.col("method").alias("http.request.method"),
            pl.col("target").alias("url.original"),
            _dash(pl.col("path")).alias("url.path"),
            pl.col("query").alias("url.query"),
            pl.col("scheme").alias("url.scheme"),
            pl.col("domain").alias("url.domain"),
            pl.col("ver").alias("http.version"),
            pl.when(pl.col("method").is_null()).then(pl.col("req")).alias("web.access.request"),
            status.alias("http.response.status_code"),
            _dash(pl.col("bytes")).alias("http.response.body.bytes"),
            _dash(_unescape(pl.col("ref"))).alias("http.request.referrer"),
            _dash(_unescape(pl.col("ua"))).alias("user_agent.original"),
            pl.col("vhost").alias("destination.domain"),
            pl.col("vport").alias("destination.port"),
            pl.when(nginx_main).then(_dash(pl.col("extra").str.slice(2).str.strip_suffix('"')))
            .alias("nginx.access.forwarded_for"),
            pl.when(~nginx_main).then(_dash(pl.col("extra").str.strip_chars()))
            .alias("web.access.extra"),
        ]
        return g.select(cols)
