"""Zeek log fields → ECS. Common connection fields, per-log mappings, categories.

Fields without a mapping keep a namespaced name ``zeek.<log>.<field>`` (``zeek.conn.history``).
Unknown log types load the same way. Mapping follows Elastic's Zeek integration conventions
where they exist (``zeek.session_id`` for ``uid``).
"""

from __future__ import annotations

import polars as pl

from mirrorguard.ingest.normalize import epoch_seconds_to_ts, iso_to_ts

COMMON: dict[str, str] = {
    "uid": "zeek.session_id",
    "id.orig_h": "source.ip",
    "id.orig_p": "source.port",
    "id.resp_h": "destination.ip",
    "id.resp_p": "destination.port",
    "proto": "network.transport",
    "community_id": "network.community_id",
}

PER_LOG: dict[str, dict[str, str]] = {
    "conn": {
        "service": "network.protocol",
        "orig_bytes": "source.bytes",
        "resp_bytes": "destination.bytes",
        "orig_pkts": "source.packets",
        "resp_pkts": "destination.packets",
        "orig_l2_addr": "source.mac",
        "resp_l2_addr": "destination.mac",
    },
    "dns": {
        "query": "dns.question.name",
        "qtype_name": "dns.question.type",
        "qclass_name": "dns.question.class",
        "rcode_name": "dns.response_code",
        "trans_id": "dns.id",
        "answers": "dns.answers.data",
    },
    "http": {
        "method": "http.request.method",
        "host": "url.domain",
        "uri": "url.original",
        "referrer": "http.request.referrer",
        "user_agent": "user_agent.original",
        "status_code": "http.response.status_code",
        "request_body_len": "http.request.body.bytes",
        "response_body_len": "http.response.body.bytes",
        "version": "http.version",
        "username": "user.name",
    },
    "ssl": {
        "server_name": "tls.server.name",
        "version": "tls.version",
        "cipher": "tls.cipher",
        "established": "tls.established",
        "subject": "tls.server.subject",
        "issuer": "tls.server.issuer",
        "ja3": "tls.client.ja3",
        "ja3s": "tls.server.ja3s",
    },
    "files": {
        "mime_type": "file.mime_type",
        "filename": "file.name",
        "total_bytes": "file.size",
        "md5": "file.hash.md5",
        "sha1": "file.hash.sha1",
        "sha256": "file.hash.sha256",
    },
    "notice": {
        "note": "rule.name",
        "msg": "message",
        "src": "source.ip",
        "dst": "destination.ip",
        "p": "destination.port",
    },
    "weird": {"name": "event.action"},
    "smtp": {
        "mailfrom": "email.from.address",
        "subject": "email.subject",
        "user_agent": "user_agent.original",
    },
    "rdp": {"cookie": "user.name"},
    "ntlm": {"username": "user.name", "domainname": "user.domain", "hostname": "source.domain"},
    "kerberos": {"client": "user.name"},
    "ftp": {"user": "user.name", "command": "event.action"},
    "syslog": {"message": "message", "severity": "log.level"},
}

# log -> (event.category, event.type, event.kind)
CATEGORY: dict[str, tuple[str, str, str]] = {
    "conn": ("network", "connection", "event"),
    "dns": ("network", "protocol", "event"),
    "http": ("web", "access", "event"),
    "ssl": ("network", "protocol", "event"),
    "x509": ("network", "info", "event"),
    "files": ("file", "info", "event"),
    "notice": ("intrusion_detection", "info", "alert"),
    "weird": ("network", "info", "event"),
    "ssh": ("authentication", "info", "event"),
    "rdp": ("network", "protocol", "event"),
    "smtp": ("email", "info", "event"),
    "ntlm": ("authentication", "info", "event"),
    "kerberos": ("authentication", "info", "event"),
}

# Field sets that identify a log type in JSON without a ``_path`` key (checked in order).
SIGNATURES: list[tuple[str, tuple[str, ...]]] = [
    ("conn", ("conn_state",)),
    ("dns", ("query", "qtype_name")),
    ("dns", ("trans_id", "rcode")),
    ("http", ("method", "uri")),
    ("ssl", ("server_name", "cipher")),
    ("ssl", ("version", "established")),
    ("x509", ("certificate.subject",)),
    ("x509", ("fingerprint", "certificate.version")),
    ("files", ("fuid", "mime_type")),
    ("files", ("fuid", "source")),
    ("notice", ("note",)),
    ("weird", ("name", "addl")),
    ("ssh", ("auth_success",)),
    ("smtp", ("mailfrom",)),
    ("smtp", ("helo",)),
    ("rdp", ("cookie",)),
    ("rdp", ("security_protocol",)),
    ("ntlm", ("domainname",)),
    ("kerberos", ("request_type",)),
    ("ftp", ("command", "reply_code")),
    ("dhcp", ("assigned_addr",)),
]


def infer_log(columns: list[str]) -> str:
    """Zeek log type from a frame's column names (``unknown`` when nothing fits)."""
    have = set(columns)
    for log, keys in SIGNATURES:
        if all(k in have for k in keys):
            return log
    return "unknown"


def _ts_expr(dtype: pl.DataType) -> pl.Expr:
    if dtype == pl.String:  # ISO-8601 text, or numbers that arrived as text in a mixed column
        return pl.coalesce(iso_to_ts("ts"),
                           epoch_seconds_to_ts(pl.col("ts").cast(pl.Float64, strict=False)))
    return epoch_seconds_to_ts("ts")


def map_frame(frame: pl.DataFrame, log: str, default_time: str | None = None) -> pl.DataFrame:
    """Rename a frame of raw Zeek columns (one log type) to ECS + namespaced names.

    Logs without ``ts`` (``loaded_scripts``) take ``default_time``, the file's ``#open`` time.
    """
    mapping = {**COMMON, **PER_LOG.get(log, {})}
    targets: dict[str, list[str]] = {}
    exprs: list[pl.Expr] = []
    for col in frame.columns:
        if col in ("ts", "_path", "_write_ts", "mirrorguard.record"):
            continue
        target = mapping.get(col, f"zeek.{log}.{col}")
        targets.setdefault(target, []).append(col)
    for target, cols in targets.items():
        e = pl.col(cols[0]) if len(cols) == 1 else pl.coalesce([pl.col(c) for c in cols])
        exprs.append(_to_storable(e, frame.schema[cols[0]]).alias(target))
    cat, typ, kind = CATEGORY.get(log, ("network", "info", "event"))
    exprs += [
        _ts_expr(frame.schema["ts"]).alias("@timestamp") if "ts" in frame.columns
        else _open_time(default_time).alias("@timestamp"),
        pl.col("mirrorguard.record"),
        pl.lit(f"zeek.{log}").alias("event.dataset"),
        pl.lit("zeek").alias("event.module"),
        pl.lit(cat).alias("event.category"),
        pl.lit(typ).alias("event.type"),
        pl.lit(kind).alias("event.kind"),
    ]
    exprs += _derived(frame, log)
    return frame.select(exprs)


def _open_time(value: str | None) -> pl.Expr:
    if value is None:
        return pl.lit(None, dtype=pl.Datetime("us", "UTC"))
    return pl.lit(value).str.to_datetime("%Y-%m-%d-%H-%M-%S", time_unit="us", time_zone="UTC",
                                         strict=False)


def _to_storable(e: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    if isinstance(dtype, pl.List) and not isinstance(dtype.inner, pl.String):
        return e.cast(pl.List(pl.String))
    if isinstance(dtype, pl.Struct):
        return e.struct.json_encode()
    return e


def _derived(frame: pl.DataFrame, log: str) -> list[pl.Expr]:
    out: list[pl.Expr] = []
    cols = set(frame.columns)
    if "duration" in cols:
        out.append(
            (pl.col("duration").cast(pl.Float64, strict=False) * 1e9)
            .round(0).cast(pl.Int64).alias("event.duration")
        )
    if log == "ssh" and "auth_success" in cols:
        out.append(_outcome(pl.col("auth_success")))
    if log == "rdp" and "result" in cols:
        out.append(
            pl.when(pl.col("result") == "Success").then(pl.lit("success"))
            .when(pl.col("result").is_null()).then(None)
            .otherwise(pl.lit("failure")).alias("event.outcome")
        )
    if log == "smtp" and "rcptto" in cols:
        rcpt = pl.col("rcptto")
        if isinstance(frame.schema["rcptto"], pl.List):
            rcpt = rcpt.cast(pl.List(pl.String)).list.join(",")
        out.append(rcpt.alias("email.to.address"))
    return out


def _outcome(e: pl.Expr) -> pl.Expr:
    as_bool = e.cast(pl.String).str.to_lowercase().is_in(["true", "t"])
    return (
        pl.when(e.is_null()).then(None)
        .when(as_bool).then(pl.lit("success"))
        .otherwise(pl.lit("failure")).alias("event.outcome")
    )
