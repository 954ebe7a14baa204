"""Suricata EVE JSON (``eve.json``): alert, flow, dns, http, tls, fileinfo, anomaly, stats, ….

Lines are read in bulk (``read_json_block``, shared with the Zeek JSON parser), nested objects
are flattened to dotted paths (``alert.signature_id``), and mapped to ECS following the field
choices of Elastic's Suricata integration. Anything without an ECS home keeps its path under
``suricata.eve.`` (``suricata.eve.alert.gid``, ``suricata.eve.stats.decoder.pkts``).

* common: ``timestamp`` (ISO 8601 with ``+0100`` offsets) → ``@timestamp``; ``src_ip``/
  ``src_port``/``dest_ip``/``dest_port``; ``proto`` → ``network.transport`` (lower case);
  ``app_proto`` → ``network.protocol``; ``community_id`` → ``network.community_id``;
  ``flow_id`` (Suricata's own flow key, not a Community ID) → ``suricata.eve.flow_id``.
* alert: ``rule.id`` (signature_id), ``rule.name``, ``rule.category``, ``rule.version``,
  ``event.severity``, ``event.action`` (allowed/blocked), ``event.kind`` = alert.
* flow: bytes/packets to server/client → ``source``/``destination`` ``bytes``/``packets``;
  ``event.start``/``event.end`` and ``event.duration`` (ns).
* dns: ``dns.question.name``/``type``, ``dns.response_code``, ``dns.id``, ``dns.type``;
  answers (EVE v1 one per event, v2 ``answers``/``grouped``, v3 ``queries``) →
  ``dns.answers.data`` and ``dns.resolved_ip``.
* http: ``url.domain``/``original``/``path``/``query``, ``user_agent.original``,
  ``http.request.method``, ``http.response.status_code``/``body.bytes``/``mime_type``,
  ``http.version``, ``http.request.referrer``.
* tls: ``tls.server.name`` (SNI), ``tls.version`` (``1.2``) + ``tls.version_protocol``,
  ``tls.server.subject``/``issuer``, ``tls.client.ja3``, ``tls.server.ja3s``.
* fileinfo: ``file.path`` (+ ``file.name``), ``file.size``, ``file.hash.md5/sha1/sha256``.
* anomaly: ``event.action`` = the anomaly event; stats: ``event.kind`` = metric.

>>> import io
>>> from datetime import UTC, datetime
>>> from mirrorguard.ingest.base import Origin, ParseContext
>>> ctx = ParseContext(origin=Origin("eve.json", None, "0" * 64), ingested_at=datetime.now(UTC))
>>> line = (b'{"timestamp":"2017-01-30T16:12:36.066011+0100","event_type":"alert",'
...         b'"src_ip":"10.0.0.1","proto":"TCP",'
...         b'"alert":{"signature_id":2013504,"signature":"ET POLICY x","severity":3}}\\n')
>>> row = next(SuricataEveParser().parse(io.BytesIO(line), ctx)).events.row(0, named=True)
>>> row["rule.id"], row["event.kind"], row["network.transport"], str(row["@timestamp"])
('2013504', 'alert', 'tcp', '2017-01-30 15:12:36.066011+00:00')
"""

from __future__ import annotations

from typing import ClassVar

import polars as pl

from mirrorguard.ingest.base import ParseContext, ParseResult
from mirrorguard.ingest.lines import LazyLines, LineParser
from mirrorguard.ingest.normalize import RECORD, finish, iso_to_ts
from mirrorguard.ingest.parsers.fieldmap import flatten, storable
from mirrorguard.ingest.parsers.zeek import read_json_block
from mirrorguard.schema.fields import FIELDS, TIMESTAMP

PREFIX = "suricata.eve."

MAPPING: dict[str, str] = {
    "src_ip": "source.ip", "src_port": "source.port", "dest_ip": "destination.ip",
    "dest_port": "destination.port", "app_proto": "network.protocol",
    "community_id": "network.community_id", "in_iface": "observer.ingress.interface.name",
    "host": "observer.name",
    "alert.signature_id": "rule.id", "alert.signature": "rule.name",
    "alert.category": "rule.category", "alert.rev": "rule.version",
    "alert.severity": "event.severity", "alert.action": "event.action",
    "anomaly.event": "event.action",
    "flow.bytes_toserver": "source.bytes", "flow.bytes_toclient": "destination.bytes",
    "flow.pkts_toserver": "source.packets", "flow.pkts_toclient": "destination.packets",
    "dns.rrname": "dns.question.name", "dns.rrtype": "dns.question.type",
    "dns.rcode": "dns.response_code", "dns.id": "dns.id", "dns.type": "dns.type",
    "http.hostname": "url.domain", "http.url": "url.original",
    "http.http_user_agent": "user_agent.original", "http.http_method": "http.request.method",
    "http.status": "http.response.status_code", "http.length": "http.response.body.bytes",
    "http.http_refer": "http.request.referrer",
    "http.http_content_type": "http.response.mime_type",
    "tls.sni": "tls.server.name", "tls.subject": "tls.server.subject",
    "tls.issuerdn": "tls.server.issuer", "tls.ja3.hash": "tls.client.ja3",
    "tls.ja3s.hash": "tls.server.ja3s", "tls.notbefore": "tls.server.not_before",
    "tls.notafter": "tls.server.not_after",
    "fileinfo.filename": "file.path", "fileinfo.size": "file.size",
    "fileinfo.md5": "file.hash.md5", "fileinfo.sha1": "file.hash.sha1",
    "fileinfo.sha256": "file.hash.sha256",
}
# Columns read by the derived fields below (kept under their suricata.eve. name as well).
_DERIVED_FROM = ("proto", "timestamp", "flow.start", "flow.end", "tls.version", "http.protocol",
                 "dns.answers", "dns.rdata", "dns.grouped.A", "dns.grouped.AAAA", "dns.queries",
                 "event_type", "flow_id")

# event_type -> (event.category, event.type, event.kind)
CATEGORY: dict[str, tuple[str | None, str, str]] = {
    "alert": ("intrusion_detection", "info", "alert"),
    "flow": ("network", "connection", "event"),
    "netflow": ("network", "connection", "event"),
    "dns": ("network", "protocol", "event"),
    "http": ("network", "protocol", "event"),
    "tls": ("network", "protocol", "event"),
    "fileinfo": ("file", "info", "event"),
    "anomaly": ("network", "info", "event"),
    "drop": ("network", "denied", "event"),
    "stats": (None, "info", "metric"),
}


def _lists_of(frame: pl.DataFrame, name: str, field: str) -> pl.Expr | None:
    """``[obj.field for obj in frame[name]]`` as List(String), when that shape is there."""
    dtype = frame.schema.get(name)
    if not (isinstance(dtype, pl.List) and isinstance(dtype.inner, pl.Struct)):
        return None
    if field not in {f.name for f in dtype.inner.fields}:
        return None
    return pl.col(name).list.eval(pl.element().struct.field(field).cast(pl.String))


def _dns(frame: pl.DataFrame) -> list[pl.Expr]:
    cols = set(frame.columns)
    data = [e for e in (_lists_of(frame, "dns.answers", "rdata"),) if e is not None]
    v1 = None
    if "dns.rdata" in cols:  # EVE v1: one answer per event
        rdata = pl.col("dns.rdata").cast(pl.String)
        v1 = pl.when(rdata.is_not_null()).then(pl.concat_list(rdata))
        data.append(v1)
    out: list[pl.Expr] = []
    if data:
        out.append(pl.coalesce(data).alias("dns.answers.data"))
    ips: list[pl.Expr] = []
    types = _lists_of(frame, "dns.answers", "rrtype")
    if types is not None and data:
        ips.append(pl.col("dns.answers").list.eval(
            pl.when(pl.element().struct.field("rrtype").is_in(["A", "AAAA"]))
            .then(pl.element().struct.field("rdata").cast(pl.String))).list.drop_nulls())
    if v1 is not None and "dns.rrtype" in cols:
        ips.append(pl.when(pl.col("dns.rrtype").is_in(["A", "AAAA"])).then(v1))
    grouped = [g for g in ("dns.grouped.A", "dns.grouped.AAAA") if g in cols]
    if grouped:
        ips.append(pl.concat_list([pl.col(g).cast(pl.List(pl.String)).fill_null([])
                                   for g in grouped]))
    if ips:
        out.append(pl.coalesce(ips).alias("dns.resolved_ip"))
    question = _lists_of(frame, "dns.queries", "rrname")  # EVE v3 (Suricata 8)
    if question is not None:
        out.append(question.list.first().alias("__dns_q"))
    return out


def _derived(frame: pl.DataFrame) -> list[pl.Expr]:
    cols = set(frame.columns)
    out: list[pl.Expr] = [iso_to_ts(pl.col("timestamp").cast(pl.String)).alias("@timestamp")]
    if "proto" in cols:
        out.append(pl.col("proto").cast(pl.String).str.to_lowercase().alias("network.transport"))
    if "flow.start" in cols and "flow.end" in cols:
        start, end = iso_to_ts(pl.col("flow.start")), iso_to_ts(pl.col("flow.end"))
        out += [start.alias("event.start"), end.alias("event.end"),
                (end - start).dt.total_nanoseconds().alias("event.duration")]
    if "tls.version" in cols:
        version = pl.col("tls.version").cast(pl.String)
        out += [version.str.extract(r"(\d+(?:\.\d+)?)").alias("tls.version"),
                version.str.extract(r"^([A-Za-z]+)").str.to_lowercase()
                .alias("tls.version_protocol")]
    if "http.protocol" in cols:
        out.append(pl.col("http.protocol").cast(pl.String).str.extract(r"/([\d.]+)$")
                   .alias("http.version"))
    if "http.url" in cols:  # two cheap regexes: struct.field on one extract would run it twice
        url = pl.col("http.url").cast(pl.String)
        out += [url.str.extract(r"^(?:[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*)?([^?#]*)", 1)
                .alias("url.path"), url.str.extract(r"\?([^#]*)", 1).alias("url.query")]
    if "fileinfo.filename" in cols:
        out.append(pl.col("fileinfo.filename").cast(pl.String).str.extract(r"([^/\\]*)$")
                   .alias("file.name"))
    if "flow_id" in cols:
        out.append(pl.col("flow_id").cast(pl.String).alias(PREFIX + "flow_id"))
    return out + _dns(frame)


def _categories(frame: pl.DataFrame) -> list[pl.Expr]:
    etype = pl.col("event_type").cast(pl.String) if "event_type" in frame.columns else pl.lit(None)
    out: list[pl.Expr] = []
    for i, name in enumerate(("event.category", "event.type", "event.kind")):
        table = {k: v[i] for k, v in CATEGORY.items()}
        default = ("network", "protocol", "event")[i]
        out.append(etype.replace_strict(table, default=default, return_dtype=pl.String)
                   .alias(name))
    out.append(etype.alias(PREFIX + "event_type"))
    return out


def map_eve(frame: pl.DataFrame) -> pl.DataFrame:
    """A flat frame of EVE paths → ECS + ``suricata.eve.*`` columns."""
    targets: dict[str, list[str]] = {}
    for col in frame.columns:
        if col == RECORD or col in _DERIVED_FROM:
            continue
        targets.setdefault(MAPPING.get(col, PREFIX + col), []).append(col)
    exprs = [pl.col(RECORD)]
    for target, srcs in targets.items():
        e = pl.col(srcs[0]) if len(srcs) == 1 else pl.coalesce(srcs)
        exprs.append(e.alias(target))
    derived = _derived(frame)
    out = frame.select(exprs + derived + _categories(frame) + [
        pl.lit("suricata.eve").alias("event.dataset"), pl.lit("suricata").alias("event.module")])
    if "__dns_q" in out.columns:
        q = pl.col("__dns_q")
        fill = pl.coalesce("dns.question.name", q) if "dns.question.name" in out.columns else q
        out = out.with_columns(fill.alias("dns.question.name")).drop("__dns_q")
    keep = [c for c in ("dns.answers", "dns.queries", "tls.version", "http.protocol",
                        "proto", "flow.start", "flow.end") if c in frame.columns]
    return storable(out.hstack(frame.select([pl.col(c).alias(PREFIX + c) for c in keep])))


class SuricataEveParser(LineParser):
    """Suricata's EVE JSON output, one event per line (any mix of event types)."""

    name: ClassVar[str] = "suricata_eve"
    fields: ClassVar[dict[str, pl.DataType]] = {
        "event.start": TIMESTAMP, "event.end": TIMESTAMP,
        "observer.ingress.interface.name": pl.String(), "dns.type": pl.String(),
        "rule.version": pl.String(), "http.response.mime_type": pl.String(),
        "tls.version_protocol": pl.String(), "file.path": pl.String(),
    }

    @classmethod
    def sniff(cls, head: bytes) -> float:
        first = head.lstrip()[:8192].split(b"\n", 1)[0]
        if not first.startswith(b"{"):
            return 0.0
        if b'"event_type"' in first and b'"timestamp"' in first:
            return 0.97
        return 0.0

    def parse_block(self, block: bytes, first_line: int, ctx: ParseContext) -> ParseResult:
        lines = LazyLines(block)
        # Stateless on purpose: JsonBlockReader's known-key check costs ~3x the read itself
        # on EVE's ~150 distinct keys (measured; reported to the ingest owner).
        frame, early, offered = read_json_block(block, first_line, lines, ctx)
        if frame.height == 0:
            return ParseResult(events=pl.DataFrame(), rejects=early, offered=offered)
        flat = flatten(frame)
        if "timestamp" not in flat.columns:
            flat = flat.with_columns(pl.lit(None, dtype=pl.String).alias("timestamp"))
        out = map_eve(flat)
        return finish(out, ctx, offered=offered, dtypes={**FIELDS, **self.fields}, raw=lines,
                      first_record=first_line, early_rejects=early)
