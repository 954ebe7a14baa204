"""ECS field names (flattened with dots) and the Arrow/Polars dtypes mirrorguard uses for them.

Fields a source has and ECS lacks keep a namespaced name (``zeek.conn.history``,
``winlog.event_data.Image``). Namespaced fields without a declared dtype are stored as strings.

Deviations from ECS, on purpose: ``event.category`` and ``event.type`` hold one value (the
primary one) instead of an array, which keeps them filterable with plain equality everywhere.
"""

from __future__ import annotations

import polars as pl

SCHEMA_VERSION = 1
TIMESTAMP = pl.Datetime("us", "UTC")

_S = pl.String()
_I32 = pl.Int32()
_I64 = pl.Int64()
_F64 = pl.Float64()
_B = pl.Boolean()
_LS = pl.List(pl.String())

FIELDS: dict[str, pl.DataType] = {
    # event
    "@timestamp": TIMESTAMP,
    "event.id": _S,
    "event.dataset": _S,
    "event.module": _S,
    "event.kind": _S,
    "event.category": _S,
    "event.type": _S,
    "event.action": _S,
    "event.outcome": _S,
    "event.code": _S,
    "event.provider": _S,
    "event.severity": _I64,
    "event.duration": _I64,  # nanoseconds, as in ECS
    "event.ingested": TIMESTAMP,
    "event.original": _S,
    "message": _S,
    "log.level": _S,
    "log.file.path": _S,
    "log.syslog.appname": _S,
    "log.syslog.procid": _S,
    "log.syslog.facility.code": _I32,
    "log.syslog.severity.code": _I32,
    "log.syslog.hostname": _S,
    "log.syslog.msgid": _S,
    "log.syslog.structured_data": _S,
    "log.syslog.priority": _I32,
    "log.syslog.version": _I32,
    "event.start": TIMESTAMP,
    "event.end": TIMESTAMP,
    "event.reason": _S,
    "error.code": _S,
    "error.message": _S,
    "group.name": _S,
    "service.name": _S,
    "cloud.provider": _S,
    "cloud.region": _S,
    "cloud.account.id": _S,
    # our own provenance fields
    "mirrorguard.ingest_id": _S,
    "mirrorguard.record": _I64,
    "mirrorguard.schema_version": _I32,
    # network
    "source.ip": _S,
    "source.port": _I32,
    "source.bytes": _I64,
    "source.packets": _I64,
    "source.domain": _S,
    "source.mac": _S,
    "source.user.name": _S,
    "destination.ip": _S,
    "destination.port": _I32,
    "destination.bytes": _I64,
    "destination.packets": _I64,
    "destination.domain": _S,
    "destination.mac": _S,
    "destination.user.name": _S,
    "client.ip": _S,
    "source.address": _S,
    "network.iana_number": _S,
    "observer.ingress.interface.name": _S,
    "network.transport": _S,
    "network.protocol": _S,
    "network.direction": _S,
    "network.bytes": _I64,
    "network.packets": _I64,
    "network.community_id": _S,
    "observer.name": _S,
    "observer.type": _S,
    # identity and host
    "user.name": _S,
    "user.domain": _S,
    "user.id": _S,
    "user.email": _S,
    "user.target.name": _S,
    "user.effective.name": _S,
    "host.name": _S,
    "host.ip": _S,
    "host.os.type": _S,
    # process and file
    "process.pid": _I64,
    "process.name": _S,
    "process.executable": _S,
    "process.command_line": _S,
    "process.working_directory": _S,
    "process.entity_id": _S,
    "process.parent.pid": _I64,
    "process.parent.name": _S,
    "process.parent.executable": _S,
    "process.parent.command_line": _S,
    "process.parent.entity_id": _S,
    "process.hash.md5": _S,
    "process.hash.sha1": _S,
    "process.hash.sha256": _S,
    "file.path": _S,
    "file.name": _S,
    "file.size": _I64,
    "file.mime_type": _S,
    "file.hash.md5": _S,
    "file.hash.sha1": _S,
    "file.hash.sha256": _S,
    "registry.path": _S,
    "registry.value": _S,
    "registry.data.strings": _S,
    "dll.path": _S,
    # application protocols
    "dns.question.name": _S,
    "dns.question.type": _S,
    "dns.question.class": _S,
    "dns.response_code": _S,
    "dns.id": _S,
    "dns.resolved_ip": _LS,
    "dns.answers.data": _LS,
    "url.original": _S,
    "url.domain": _S,
    "url.path": _S,
    "url.query": _S,
    "url.scheme": _S,
    "http.response.mime_type": _S,
    "dns.type": _S,
    "rule.version": _S,
    "tls.version_protocol": _S,
    "http.request.method": _S,
    "http.request.referrer": _S,
    "http.request.body.bytes": _I64,
    "http.response.status_code": _I32,
    "http.response.body.bytes": _I64,
    "http.version": _S,
    "user_agent.original": _S,
    "tls.server.name": _S,
    "tls.version": _S,
    "tls.cipher": _S,
    "tls.server.subject": _S,
    "tls.server.issuer": _S,
    "tls.server.ja3s": _S,
    "tls.client.ja3": _S,
    "tls.established": _B,
    "email.from.address": _S,
    "email.to.address": _S,
    "email.subject": _S,
    # rules (IDS alerts)
    "rule.id": _S,
    "rule.name": _S,
    "rule.category": _S,
    "rule.ruleset": _S,
    # windows
    "winlog.event_id": _I32,
    "winlog.channel": _S,
    "winlog.provider_name": _S,
    "winlog.computer_name": _S,
    "winlog.record_id": _I64,
    "winlog.task": _S,
    "winlog.opcode": _S,
    "winlog.level": _S,
    "winlog.keywords": _S,
    "winlog.user.identifier": _S,
    "winlog.process.pid": _I64,
    "winlog.process.thread.id": _I64,
    # flows (CICFlowMeter and NetFlow-like numeric features live under flow.*)
    "flow.duration_s": _F64,
}


def field_dtype(name: str) -> pl.DataType:
    """The declared dtype of a field; undeclared (namespaced) fields are strings."""
    return FIELDS.get(name, _S)
