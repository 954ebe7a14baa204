"""Windows event → ECS: declarative tables, applied with Polars over a whole batch.

Tables:

* :data:`DATASETS` — channel → ``event.dataset`` (``windows.sysmon``, ``windows.security``,
  ``windows.system``, ``windows.powershell``, else ``windows.<channel slug>``).
* :data:`EVENTS` — ``(dataset, event id)`` → ``(event.category, event.type, event.action,
  event.outcome)``. Categories and types follow ECS 8 allowed values; actions follow the
  kebab-case names of Elastic's Windows integrations.
* :data:`FIELD_RULES` — ECS field ← EventData/UserData names in priority order, optionally
  limited to some datasets or event ids.

``user.name`` / ``user.domain``, in order of precedence: Sysmon's ``User`` (``DOMAIN\\name``,
split at the last backslash); for authentication events (``event.category ==
"authentication"``) ``TargetUserName``/``TargetDomainName``; otherwise
``SubjectUserName``/``SubjectDomainName``; then ``TargetUserName``, ``AccountName``,
``UserData.SubjectUserName``. Placeholders ``-`` and empty strings count as missing.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from functools import lru_cache

import polars as pl
import polars.selectors as cs

from mirrorguard.ingest.base import ParseContext, ParseResult, make_rejects
from mirrorguard.ingest.normalize import (
    checked_cast,
    iso_to_ts,
    rejects_from_records,
)
from mirrorguard.ingest.parsers.windows_event import ED, UD, EventBatch
from mirrorguard.schema.fields import FIELDS

Cols = Collection[str]

SYSMON, SECURITY, SYSTEM, POWERSHELL = (
    "windows.sysmon", "windows.security", "windows.system", "windows.powershell",
)

DATASETS: dict[str, str] = {
    "microsoft-windows-sysmon/operational": SYSMON,
    "security": SECURITY,
    "system": SYSTEM,
    "windows powershell": POWERSHELL,
    "microsoft-windows-powershell/operational": POWERSHELL,
    "powershellcore/operational": POWERSHELL,
}

# (dataset, event id) -> (category, type, action, outcome)
EVENTS: dict[tuple[str, int], tuple[str, str, str, str | None]] = {
    (SYSMON, 1): ("process", "start", "process-created", None),
    (SYSMON, 2): ("file", "change", "file-creation-time-changed", None),
    (SYSMON, 3): ("network", "connection", "network-connection-detected", None),
    (SYSMON, 4): ("configuration", "change", "sysmon-service-state-changed", None),
    (SYSMON, 5): ("process", "end", "process-terminated", None),
    (SYSMON, 6): ("driver", "start", "driver-loaded", None),
    (SYSMON, 7): ("library", "start", "image-loaded", None),
    (SYSMON, 8): ("process", "access", "create-remote-thread", None),
    (SYSMON, 9): ("file", "access", "raw-access-read", None),
    (SYSMON, 10): ("process", "access", "process-accessed", None),
    (SYSMON, 11): ("file", "creation", "file-created", None),
    (SYSMON, 12): ("registry", "change", "registry-object-added-or-deleted", None),
    (SYSMON, 13): ("registry", "change", "registry-value-set", None),
    (SYSMON, 14): ("registry", "change", "registry-object-renamed", None),
    (SYSMON, 15): ("file", "creation", "file-stream-created", None),
    (SYSMON, 16): ("configuration", "change", "sysmon-config-state-changed", None),
    (SYSMON, 17): ("file", "creation", "pipe-created", None),
    (SYSMON, 18): ("file", "access", "pipe-connected", None),
    (SYSMON, 19): ("configuration", "creation", "wmi-event-filter", None),
    (SYSMON, 20): ("configuration", "creation", "wmi-event-consumer", None),
    (SYSMON, 21): ("configuration", "creation", "wmi-event-consumer-to-filter", None),
    (SYSMON, 22): ("network", "protocol", "dns-query", None),
    (SYSMON, 23): ("file", "deletion", "file-delete-archived", None),
    (SYSMON, 24): ("host", "info", "clipboard-changed", None),
    (SYSMON, 25): ("process", "change", "process-tampering", None),
    (SYSMON, 26): ("file", "deletion", "file-delete-detected", None),
    (SYSMON, 27): ("file", "denied", "file-block-executable", None),
    (SYSMON, 28): ("file", "denied", "file-block-shredding", None),
    (SYSMON, 29): ("file", "creation", "file-executable-detected", None),
    (SYSMON, 255): ("host", "error", "sysmon-error", None),
    (SECURITY, 1100): ("host", "end", "event-logging-service-shutdown", None),
    (SECURITY, 1102): ("iam", "admin", "audit-log-cleared", None),
    (SECURITY, 4624): ("authentication", "start", "logged-in", "success"),
    (SECURITY, 4625): ("authentication", "start", "logon-failed", "failure"),
    (SECURITY, 4634): ("authentication", "end", "logged-out", None),
    (SECURITY, 4647): ("authentication", "end", "logged-out", None),
    (SECURITY, 4648): ("authentication", "start", "logged-in-explicit", None),
    (SECURITY, 4656): ("file", "access", "object-handle-requested", None),
    (SECURITY, 4657): ("registry", "change", "registry-value-modified", None),
    (SECURITY, 4661): ("iam", "access", "object-handle-requested", None),
    (SECURITY, 4662): ("iam", "access", "object-operation-performed", None),
    (SECURITY, 4663): ("file", "access", "object-access-attempted", None),
    (SECURITY, 4672): ("iam", "admin", "logged-in-special", None),
    (SECURITY, 4673): ("iam", "admin", "privileged-service-called", None),
    (SECURITY, 4688): ("process", "start", "created-process", None),
    (SECURITY, 4689): ("process", "end", "exited-process", None),
    (SECURITY, 4697): ("configuration", "creation", "service-installed", None),
    (SECURITY, 4698): ("configuration", "creation", "scheduled-task-created", None),
    (SECURITY, 4699): ("configuration", "deletion", "scheduled-task-deleted", None),
    (SECURITY, 4700): ("configuration", "change", "scheduled-task-enabled", None),
    (SECURITY, 4701): ("configuration", "change", "scheduled-task-disabled", None),
    (SECURITY, 4702): ("configuration", "change", "scheduled-task-updated", None),
    (SECURITY, 4719): ("configuration", "change", "changed-audit-config", None),
    (SECURITY, 4720): ("iam", "creation", "added-user-account", None),
    (SECURITY, 4722): ("iam", "change", "enabled-user-account", None),
    (SECURITY, 4723): ("iam", "change", "changed-password", None),
    (SECURITY, 4724): ("iam", "change", "reset-password", None),
    (SECURITY, 4725): ("iam", "change", "disabled-user-account", None),
    (SECURITY, 4726): ("iam", "deletion", "deleted-user-account", None),
    (SECURITY, 4728): ("iam", "change", "added-member-to-group", None),
    (SECURITY, 4729): ("iam", "change", "removed-member-from-group", None),
    (SECURITY, 4732): ("iam", "change", "added-member-to-group", None),
    (SECURITY, 4733): ("iam", "change", "removed-member-from-group", None),
    (SECURITY, 4738): ("iam", "change", "modified-user-account", None),
    (SECURITY, 4740): ("iam", "change", "locked-out-user-account", None),
    (SECURITY, 4742): ("iam", "change", "changed-computer-account", None),
    (SECURITY, 4756): ("iam", "change", "added-member-to-group", None),
    (SECURITY, 4757): ("iam", "change", "removed-member-from-group", None),
    (SECURITY, 4768): ("authentication", "start", "kerberos-authentication-ticket-requested",
                       None),
    (SECURITY, 4769): ("authentication", "start", "kerberos-service-ticket-requested", None),
    (SECURITY, 4771): ("authentication", "start", "kerberos-preauth-failed", "failure"),
    (SECURITY, 4776): ("authentication", "start", "credential-validated", None),
    (SECURITY, 4778): ("authentication", "start", "session-reconnected", None),
    (SECURITY, 4779): ("authentication", "end", "session-disconnected", None),
    (SECURITY, 4798): ("iam", "info", "group-membership-enumerated", None),
    (SECURITY, 4799): ("iam", "info", "group-membership-enumerated", None),
    (SECURITY, 5140): ("network", "access", "network-share-object-accessed", None),
    (SECURITY, 5145): ("network", "access", "network-share-object-access-checked", None),
    (SECURITY, 5156): ("network", "connection", "network-connection-allowed", "success"),
    (SECURITY, 5157): ("network", "denied", "network-connection-blocked", "failure"),
    (SYSTEM, 104): ("iam", "admin", "audit-log-cleared", None),
    (SYSTEM, 7036): ("configuration", "change", "service-state-changed", None),
    (SYSTEM, 7040): ("configuration", "change", "service-start-type-changed", None),
    (SYSTEM, 7045): ("configuration", "creation", "service-installed", None),
    (POWERSHELL, 400): ("process", "start", "engine-started", None),
    (POWERSHELL, 403): ("process", "end", "engine-stopped", None),
    (POWERSHELL, 600): ("process", "info", "provider-started", None),
    (POWERSHELL, 800): ("process", "info", "pipeline-executed", None),
    (POWERSHELL, 4103): ("process", "info", "module-logged", None),
    (POWERSHELL, 4104): ("process", "info", "script-block-logged", None),
}


@dataclass(frozen=True)
class Rule:
    """``target`` ← the first present of ``sources`` (EventData names unless prefixed)."""

    target: str
    sources: tuple[str, ...]
    datasets: tuple[str, ...] = ()
    event_ids: tuple[int, ...] = ()


# Order matters: the first rule whose scope matches and whose source has a value wins.
FIELD_RULES: tuple[Rule, ...] = (
    Rule("process.pid", ("NewProcessId",), (SECURITY,), (4688,)),
    Rule("process.parent.pid", ("ProcessId",), (SECURITY,), (4688,)),
    Rule("process.pid", ("ProcessId", "SourceProcessId", "ProcessID")),
    Rule("process.parent.pid", ("ParentProcessId",)),
    Rule("process.executable", ("Image", "NewProcessName", "SourceImage", "ProcessName",
                                "ImagePath")),
    Rule("process.command_line", ("CommandLine",)),
    Rule("process.entity_id", ("ProcessGuid", "SourceProcessGUID", "SourceProcessGuid")),
    Rule("process.parent.executable", ("ParentImage", "ParentProcessName")),
    Rule("process.parent.command_line", ("ParentCommandLine",)),
    Rule("process.parent.entity_id", ("ParentProcessGuid",)),
    Rule("process.working_directory", ("CurrentDirectory",)),
    Rule("source.ip", ("SourceIp", "IpAddress", "SourceAddress", "ClientAddress")),
    Rule("source.port", ("SourcePort", "IpPort")),
    Rule("source.domain", ("SourceHostname", "WorkstationName", "Workstation")),
    Rule("destination.ip", ("DestinationIp", "DestAddress")),
    Rule("destination.port", ("DestinationPort", "DestPort")),
    Rule("destination.domain", ("DestinationHostname",)),
    Rule("network.transport", ("Protocol",), (SYSMON, SECURITY)),
    Rule("file.path", ("TargetFilename",)),
    Rule("file.path", ("ImageLoaded",), (SYSMON,), (6,)),
    Rule("file.path", ("PipeName",), (SYSMON,), (17, 18)),
    Rule("file.path", ("Path",), (POWERSHELL,), (4104,)),
    Rule("file.path", ("ShareLocalPath", "RelativeTargetName"), (SECURITY,), (5140, 5145)),
    Rule("registry.path", ("TargetObject",)),
    Rule("registry.path", ("ObjectName",), (SECURITY,), (4657,)),
    Rule("registry.data.strings", ("Details", "NewValue")),
    Rule("dll.path", ("ImageLoaded",), (SYSMON,), (7,)),
    Rule("dns.question.name", ("QueryName",)),
    Rule("user.target.name", ("TargetUserName",), (SECURITY,)),
    Rule("service.name", ("ServiceName",)),
    Rule("powershell.file.script_block_text", ("ScriptBlockText",)),
    Rule("powershell.file.script_block_id", ("ScriptBlockId",)),
    Rule("rule.name", ("RuleName",), (SYSMON,)),
)

_INT_TARGETS: dict[str, pl.DataType] = {
    "process.pid": pl.Int64(), "process.parent.pid": pl.Int64(),
    "source.port": pl.Int32(), "destination.port": pl.Int32(),
}
_TRANSPORT = {"6": "tcp", "17": "udp", "1": "icmp", "58": "ipv6-icmp"}
_HASH_TARGET: dict[tuple[str, int], str] = {
    **{(SYSMON, i): "process.hash" for i in (1, 5)},
    (SYSMON, 7): "dll.hash",
    **{(SYSMON, i): "file.hash" for i in (6, 15, 23, 26, 29)},
}


def dataset_expr(channel: pl.Expr) -> pl.Expr:
    """``event.dataset`` from the channel name (case-insensitive)."""
    low = channel.str.to_lowercase()
    slug = pl.concat_str(
        pl.lit("windows."),
        low.str.replace_all(r"[^a-z0-9]+", "_").str.strip_chars("_"),
    )
    known = low.replace_strict(DATASETS, default=None, return_dtype=pl.String)
    return pl.coalesce(known, slug, pl.lit("windows.unknown"))


def _present(cols: Cols, name: str) -> pl.Expr | None:
    col = name if name.startswith(("winlog.", "message")) else ED + name
    if col not in cols:
        return None
    e = pl.col(col)
    return pl.when(e.is_in(["-", ""]) | e.is_null()).then(None).otherwise(e)


def _scope(rule: Rule) -> pl.Expr | None:
    conds = []
    if rule.datasets:
        conds.append(pl.col("event.dataset").is_in(list(rule.datasets)))
    if rule.event_ids:
        conds.append(pl.col("winlog.event_id").is_in(list(rule.event_ids)))
    if not conds:
        return None
    return conds[0] if len(conds) == 1 else conds[0] & conds[1]


def to_int(e: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """Decimal or ``0x`` hex text → integer; anything else → null (raw text stays in winlog)."""
    s = e.cast(pl.String).str.strip_chars()
    hexv = s.str.strip_prefix("0x").str.to_integer(base=16, strict=False)
    dec = s.str.to_integer(base=10, strict=False)
    value = pl.when(s.str.starts_with("0x")).then(hexv).otherwise(dec)
    return value.cast(dtype, strict=False)


def _rule_exprs(cols: Cols) -> list[pl.Expr]:
    by_target: dict[str, list[pl.Expr]] = {}
    for rule in FIELD_RULES:
        srcs = [e for e in (_present(cols, s) for s in rule.sources) if e is not None]
        if not srcs:
            continue
        value = pl.coalesce(srcs) if len(srcs) > 1 else srcs[0]
        scope = _scope(rule)
        if scope is not None:
            value = pl.when(scope).then(value).otherwise(None)
        by_target.setdefault(rule.target, []).append(value)
    out: list[pl.Expr] = []
    for target, values in by_target.items():
        e = pl.coalesce(values) if len(values) > 1 else values[0]
        if target in _INT_TARGETS:
            e = to_int(e, _INT_TARGETS[target])
        elif target == "network.transport":
            e = e.str.to_lowercase().replace(_TRANSPORT)
        out.append(e.alias(target))
    return out


def _user_exprs(cols: Cols) -> list[pl.Expr]:
    """``user.name`` / ``user.domain`` by the precedence in the module docstring."""
    user = _present(cols, "User")
    names: list[pl.Expr] = []
    domains: list[pl.Expr] = []
    if user is not None:
        names.append(user.str.extract(r"([^\\]*)$"))
        domains.append(user.str.extract(r"^(.*)\\[^\\]*$"))
    auth = pl.col("event.category") == "authentication"
    tn, td = _present(cols, "TargetUserName"), _present(cols, "TargetDomainName")
    sn, sd = _present(cols, "SubjectUserName"), _present(cols, "SubjectDomainName")
    if tn is not None:
        names.append(pl.when(auth).then(tn).otherwise(None))
        if td is not None:
            domains.append(pl.when(auth & tn.is_not_null()).then(td).otherwise(None))
    if sn is not None:
        names.append(sn)
        if sd is not None:
            domains.append(pl.when(sn.is_not_null()).then(sd).otherwise(None))
    extra = [_present(cols, n) for n in ("TargetUserName", "AccountName",
                                           UD + "SubjectUserName")]
    names += [e for e in extra if e is not None]
    if UD + "SubjectDomainName" in cols:
        domains.append(pl.col(UD + "SubjectDomainName"))
    out = []
    if names:
        out.append((pl.coalesce(names) if len(names) > 1 else names[0]).alias("user.name"))
    if domains:
        out.append((pl.coalesce(domains) if len(domains) > 1 else domains[0]).alias("user.domain"))
    return out


_KEY = "__map.key"  # "<event.dataset>:<event id>", the lookup key of EVENTS and _HASH_TARGET
_HASH_TO = "__map.hash_target"
_ALGOS = ("md5", "sha1", "sha256", "imphash")


def _hash_source(cols: Cols) -> str | None:
    col = ED + "Hashes" if ED + "Hashes" in cols else ED + "Hash"
    return col if col in cols else None


def _hash_parts(cols: Cols) -> list[pl.Expr]:
    """One temporary column per algorithm (each regex runs once, not once per target)."""
    col = _hash_source(cols)
    if col is None:
        return []
    return [pl.col(col).str.extract(rf"(?i)(?:^|,)\s*{algo}=([0-9a-f]+)").str.to_lowercase()
            .alias(f"__map.{algo}") for algo in _ALGOS]


def _hash_target(cols: Cols) -> list[pl.Expr]:
    if _hash_source(cols) is None:
        return []
    table = {f"{d}:{i}": t for (d, i), t in _HASH_TARGET.items()}
    return [pl.col(_KEY).replace_strict(table, default="file.hash", return_dtype=pl.String)
            .alias(_HASH_TO)]


def _hash_exprs(cols: Cols) -> list[pl.Expr]:
    if _hash_source(cols) is None:
        return []
    target = pl.col(_HASH_TO)
    return [pl.when(target == prefix).then(pl.col(f"__map.{algo}")).otherwise(None)
            .alias(f"{prefix}.{algo}")
            for algo in _ALGOS for prefix in ("process.hash", "dll.hash", "file.hash")]


def _names(cols: Cols) -> list[pl.Expr]:
    out = []
    for path, name in (("process.executable", "process.name"),
                       ("process.parent.executable", "process.parent.name"),
                       ("file.path", "file.name")):
        if path in cols:
            out.append(pl.col(path).str.extract(r"([^\\/]+)$").alias(name))
    return out


_AUDIT_SUCCESS = 0x0020000000000000
_AUDIT_FAILURE = 0x0010000000000000


def _outcome_from_keywords() -> pl.Expr:
    kw = pl.col("winlog.keywords").str.strip_prefix("0x").str.to_integer(
        base=16, dtype=pl.UInt64, strict=False)
    hexed = pl.col("winlog.keywords").str.starts_with("0x")
    return (
        pl.when(hexed & ((kw & _AUDIT_FAILURE) != 0)).then(pl.lit("failure"))
        .when(hexed & ((kw & _AUDIT_SUCCESS) != 0)).then(pl.lit("success"))
        .otherwise(None)
    )


def _event_exprs(cols: Cols) -> list[pl.Expr]:
    key = pl.col(_KEY)
    out = []
    for i, name in enumerate(("event.category", "event.type", "event.action", "event.outcome")):
        table = {f"{d}:{e}": v[i] for (d, e), v in EVENTS.items() if v[i] is not None}
        out.append(key.replace_strict(table, default=None, return_dtype=pl.String).alias(name))
    if "winlog.keywords" in cols:
        out[3] = pl.coalesce(out[3], _outcome_from_keywords()).alias("event.outcome")
    return out


def parse_time(e: pl.Expr) -> pl.Expr:
    """SystemTime / ISO-8601 / ``YYYY-MM-DD HH:MM:SS[.f]`` (taken as UTC) → UTC timestamp."""
    return iso_to_ts(e.str.strip_chars().str.replace(r"\s*UTC$", "Z"))


_DERIVED_KEEP = ("winlog.", "@timestamp", "mirrorguard.record", "event.")
_INT32 = (-(2**31), 2**31 - 1)


@lru_cache(maxsize=512)
def _plan(columns: tuple[str, ...]) -> tuple[tuple[pl.Expr, ...], ...]:
    """The expression stages for a frame with ``columns`` (cached: files repeat schemas)."""
    cols = set(columns)
    stage0 = [pl.lit(None, dtype=dtype).alias(name) for name, dtype in (
        ("winlog.channel", pl.String()), ("winlog.event_id", pl.Int64()),
        ("winlog.time_created", pl.String())) if name not in cols]
    cols |= {"winlog.channel", "winlog.event_id", "winlog.time_created"}
    stage1 = [
        parse_time(pl.col("winlog.time_created")).alias("@timestamp"),
        dataset_expr(pl.col("winlog.channel")).alias("event.dataset"),
        pl.col("winlog.event_id").cast(pl.String).alias("event.code"),
        pl.lit("windows").alias("event.module"),
        pl.lit("event").alias("event.kind"),
    ]
    if "winlog.provider_name" in cols:
        stage1.append(pl.col("winlog.provider_name").alias("event.provider"))
    if "winlog.computer_name" in cols:
        stage1.append(pl.col("winlog.computer_name").alias("host.name"))
    cols |= {"event.dataset"}
    key = pl.concat_str(pl.col("event.dataset"), pl.lit(":"),
                        pl.col("winlog.event_id").cast(pl.String)).alias(_KEY)
    stage1b = [key, *_hash_parts(cols)]
    stage2 = _event_exprs(cols) + _hash_target(cols)
    cols |= {"event.category"}
    stage3 = _rule_exprs(cols) + _user_exprs(cols) + _hash_exprs(cols)
    cols |= {e.meta.output_name() for e in stage3}
    stage4 = _names(cols)
    eid = pl.col("winlog.event_id")
    reason = pl.coalesce(
        pl.when(pl.col("@timestamp").is_null())
        .then(pl.lit("missing or unparsable timestamp")),
        pl.when(eid.is_not_null() & ~eid.is_between(*_INT32))
        .then(pl.format("field winlog.event_id: cannot convert '{}' to Int32", eid)),
    ).alias("__reason")
    stage5 = [reason]
    stage6 = [eid.cast(pl.Int32, strict=False)]
    return tuple(tuple(x) for x in (stage0, stage1, stage1b, stage2, stage3, stage4, stage5,
                                    stage6) if x)


def _mapped(frame: pl.DataFrame) -> pl.DataFrame:
    # Eager stages: for the small frames of small files a lazy plan of this size costs more
    # to optimise than to run (measured ~3x slower per frame).
    # Values used by several expressions (the EVENTS key, one regex per hash algorithm) are
    # computed once as ``__map.*`` columns and dropped here (eager mode has no CSE).
    for stage in _plan(tuple(frame.columns)):
        frame = frame.with_columns(stage)
    return frame.drop(cs.starts_with("__map."))


def _drop_empty(frame: pl.DataFrame) -> pl.DataFrame:
    if not frame.height:
        return frame
    counts = frame.null_count().row(0)
    empty = [c for c, n in zip(frame.columns, counts, strict=True)
             if n == frame.height and not c.startswith(_DERIVED_KEEP)]
    return frame.drop(empty) if empty else frame


def map_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """Add ``@timestamp``, ``event.*``, ``host.name`` and the ECS fields of :data:`FIELD_RULES`.

    ``frame`` holds the columns built by :class:`~.windows_event.EventBatch`; nothing is
    removed from it, so every ``winlog.*`` value stays available. Derived ECS columns that
    are null in every row are left out. (Rows are not checked here; see :func:`finish_mapped`.)
    """
    return _drop_empty(_mapped(frame).drop("__reason"))


def finish_mapped(frame: pl.DataFrame, ctx: ParseContext, raw: Mapping[int, bytes]) -> ParseResult:
    """Map ``frame`` (cached expression stages), then split off rows that fail the checks.

    Rows without a usable time, or with an event id outside Int32, are quarantined with the
    reason and their raw record, looked up by record number in ``raw``. ``offered`` is the
    frame's height.
    """
    out = _mapped(frame)
    rejects = make_rejects(ctx, [])
    if out["__reason"].null_count() < out.height:
        bad = out.filter(pl.col("__reason").is_not_null()).select(
            pl.col("mirrorguard.record"), pl.col("__reason").alias("reason"))
        rejects = rejects_from_records(ctx, bad, raw)
        out = out.filter(pl.col("__reason").is_null())
    out = _drop_empty(out.drop("__reason"))
    if any(n in FIELDS and d != FIELDS[n] for n, d in out.schema.items()):
        out, bad_cast = checked_cast(out, FIELDS)  # general path: unexpected dtypes
        if bad_cast.height:
            rejects = pl.concat([rejects, rejects_from_records(ctx, bad_cast, raw)])
    return ParseResult(events=out, rejects=rejects, offered=frame.height)


def batch_results(batch: EventBatch, ctx: ParseContext,
                  raw: Mapping[int, bytes]) -> list[ParseResult]:
    """Map and check every channel frame of ``batch``: one :class:`ParseResult` per channel."""
    return [finish_mapped(frame, ctx, raw) for frame in batch.to_frames()]
