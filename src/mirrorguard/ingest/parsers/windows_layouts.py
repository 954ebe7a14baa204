"""The JSON layouts Windows events are exported in, each reduced to the same batch columns.

* ``evtx``: ``{"Event": {"System": ..., "EventData": ...}}`` (evtx_dump, the ``evtx``
  package) — see :mod:`.windows_evtxjson`.
* ``winlogbeat``: Winlogbeat 7+/ECS (``winlog.*``, nested or dotted keys) and the legacy
  Winlogbeat 6 layout (``event_data``, ``log_name``, ``source_name``, ``record_number``).
* ``flat``: OTRF/Mordor exports (NXLog ``im_msvistalog`` through Logstash, or similar):
  ``EventID``, ``Channel``, ``SourceName``, ``Hostname``, time in ``@timestamp`` /
  ``TimeCreated`` / ``EventTime``, ``Message``, and the EventData fields at the top level.
  Every key that is not one of the exporter's own (:data:`FLAT_META`) is EventData.
  NXLog adds ``AccountName``/``Domain``/``AccountType`` with ``UserID``, and an ``EventType``
  of its own (``INFO``, ``AUDIT_SUCCESS``…): those are dropped only in that case, so that a
  service's ``AccountName`` or Sysmon's ``EventType`` (``SetValue``) stay EventData.
* ``azure``: Azure Monitor / Sentinel ``SecurityEvent`` rows (``EventData`` as XML text).

:func:`detect` names the layout of one decoded object; :func:`add_object` adds it to a batch.
Time: ``@timestamp`` when present (UTC), else ``TimeCreated``/``TimeGenerated``, else NXLog's
``EventTime``; values without an offset are taken as UTC.
"""

from __future__ import annotations

import html
import re
from typing import Any

from mirrorguard.ingest.parsers import windows_evtxjson
from mirrorguard.ingest.parsers.windows_event import (
    EventBatch,
    SystemValues,
    as_int,
    flatten_user_data,
    keywords_text,
    opt_text,
)

FLAT_META = frozenset({
    "@timestamp", "@version", "@metadata", "tags", "host", "port", "EventTime",
    "EventReceivedTime", "Hostname", "Keywords", "SeverityValue", "Severity", "SourceName",
    "ProviderGuid", "EventID", "Version", "Task", "OpcodeValue", "Opcode", "RecordNumber",
    "ActivityID", "RelatedActivityID", "ExecutionProcessID", "ThreadID", "Channel", "UserID",
    "Category", "Message", "SourceModuleName", "SourceModuleType", "Level", "TimeCreated",
    "ERROR_EVT_UNRESOLVED", "EventTypeOrignal", "EventTypeOriginal", "Qualifiers",
})
_NXLOG_ACCOUNT = ("AccountName", "Domain", "AccountType")
_NXLOG_EVENT_TYPES = frozenset({
    "INFO", "AUDIT_SUCCESS", "AUDIT_FAILURE", "WARNING", "ERROR", "CRITICAL", "VERBOSE",
})
_AZURE_META = frozenset({
    "TenantId", "TimeGenerated", "SourceSystem", "Computer", "EventSourceName", "Channel",
    "Task", "Level", "EventData", "EventID", "Activity", "SourceComputerId", "EventOriginId",
    "MG", "TimeCollected", "ManagementGroupName", "Type", "_ResourceId",
})
_XML_DATA = re.compile(r'<Data(?:\s+Name="([^"]*)")?\s*(?:/>|>(.*?)</Data>)', re.S)


def detect(obj: dict[str, Any]) -> str | None:
    """``evtx``, ``winlogbeat``, ``winlogbeat6``, ``azure``, ``flat`` or ``None``."""
    if windows_evtxjson.is_event_document(obj):
        return "evtx"
    if isinstance(obj.get("winlog"), dict) or any(k.startswith("winlog.") for k in obj):
        return "winlogbeat"
    if "event_data" in obj or ("log_name" in obj and "event_id" in obj):
        return "winlogbeat6"
    if "EventID" in obj:
        if obj.get("Type") == "SecurityEvent" or isinstance(obj.get("EventSourceName"), str):
            return "azure"
        if "Channel" in obj or "SourceName" in obj:
            return "flat"
    return None


def add_object(batch: EventBatch, record: int, obj: dict[str, Any], layout: str) -> None:
    """Add one decoded object of a layout named by :func:`detect`."""
    if layout == "evtx":
        windows_evtxjson.add_object(batch, record, obj)
    elif layout == "winlogbeat":
        _add_winlogbeat(batch, record, obj)
    elif layout == "winlogbeat6":
        _add_winlogbeat6(batch, record, obj)
    elif layout == "azure":
        _add_azure(batch, record, obj)
    else:
        _add_flat(batch, record, obj)


def _nest_dotted(obj: dict[str, Any], prefix: str) -> dict[str, Any]:
    """``{"winlog": {...}, "winlog.a.b": 1}`` → one nested dict for ``prefix``."""
    out: dict[str, Any] = dict(obj.get(prefix) or {})
    for key, value in obj.items():
        if not key.startswith(prefix + "."):
            continue
        node = out
        parts = key[len(prefix) + 1:].split(".")
        if parts[0] in ("event_data", "user_data") and len(parts) > 2:
            parts = [parts[0], ".".join(parts[1:])]
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                break
        else:
            node[parts[-1]] = value
    return out


def _get(obj: object, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _text_or_none(value: object) -> str | None:
    return None if isinstance(value, dict) else opt_text(value)


def _add_winlogbeat(batch: EventBatch, record: int, obj: dict[str, Any]) -> None:
    w = _nest_dotted(obj, "winlog")
    message = obj.get("message")
    system = SystemValues(
        channel=_text_or_none(w.get("channel")),
        provider_name=_text_or_none(w.get("provider_name")),
        provider_guid=_text_or_none(w.get("provider_guid")),
        event_id=as_int(w.get("event_id")),
        version=_text_or_none(w.get("version")),
        level=_text_or_none(w.get("level") or _get(obj, "log", "level")),
        task=_text_or_none(w.get("task")),
        opcode=_text_or_none(w.get("opcode")),
        keywords=keywords_text(w.get("keywords")),
        time=_text_or_none(obj.get("@timestamp")),
        record_id=as_int(w.get("record_id")),
        pid=as_int(_get(w, "process", "pid")),
        thread_id=as_int(_get(w, "process", "thread", "id")),
        computer_name=_text_or_none(w.get("computer_name")),
        user_identifier=_text_or_none(_get(w, "user", "identifier")),
        activity_id=_text_or_none(w.get("activity_id")),
        message=message if isinstance(message, str) else None,
    )
    data = w.get("event_data")
    user = w.get("user_data")
    batch.add(record, system, data if isinstance(data, dict) else {},
              flatten_user_data(user) if user is not None else None)


def _add_winlogbeat6(batch: EventBatch, record: int, obj: dict[str, Any]) -> None:
    message = obj.get("message")
    system = SystemValues(
        channel=_text_or_none(obj.get("log_name")),
        provider_name=_text_or_none(obj.get("source_name")),
        provider_guid=_text_or_none(obj.get("provider_guid")),
        event_id=as_int(obj.get("event_id")),
        version=_text_or_none(obj.get("version")),
        level=_text_or_none(obj.get("level")),
        task=_text_or_none(obj.get("task")),
        opcode=_text_or_none(obj.get("opcode")),
        keywords=keywords_text(obj.get("keywords")),
        time=_text_or_none(obj.get("@timestamp")),
        record_id=as_int(obj.get("record_number")),
        pid=as_int(obj.get("process_id")),
        thread_id=as_int(obj.get("thread_id")),
        computer_name=_text_or_none(obj.get("computer_name")),
        user_identifier=_text_or_none(_get(obj, "user", "identifier")),
        activity_id=_text_or_none(obj.get("activity_id")),
        message=message if isinstance(message, str) else None,
    )
    data = obj.get("event_data")
    user = obj.get("user_data")
    batch.add(record, system, data if isinstance(data, dict) else {},
              flatten_user_data(user) if user is not None else None)


def _flat_event_data(obj: dict[str, Any]) -> dict[str, Any]:
    drop = set(FLAT_META)
    if "UserID" in obj or "SourceModuleName" in obj:
        drop.update(_NXLOG_ACCOUNT)
    if obj.get("EventType") in _NXLOG_EVENT_TYPES:
        drop.add("EventType")
    return {k: v for k, v in obj.items() if k not in drop}


def _add_flat(batch: EventBatch, record: int, obj: dict[str, Any]) -> None:
    time = obj.get("@timestamp") or obj.get("TimeCreated") or obj.get("EventTime")
    message = obj.get("Message")
    system = SystemValues(
        channel=_text_or_none(obj.get("Channel")),
        provider_name=_text_or_none(obj.get("SourceName")),
        provider_guid=_text_or_none(obj.get("ProviderGuid")),
        event_id=as_int(obj.get("EventID")),
        version=_text_or_none(obj.get("Version")),
        level=_text_or_none(obj.get("Level", obj.get("SeverityValue"))),
        task=_text_or_none(obj.get("Task")),
        opcode=_text_or_none(obj.get("OpcodeValue", obj.get("Opcode"))),
        keywords=keywords_text(obj.get("Keywords")),
        time=_text_or_none(time),
        record_id=as_int(obj.get("RecordNumber")),
        pid=as_int(obj.get("ExecutionProcessID")),
        thread_id=as_int(obj.get("ThreadID")),
        computer_name=_text_or_none(obj.get("Hostname")),
        user_identifier=_text_or_none(obj.get("UserID")),
        activity_id=_text_or_none(obj.get("ActivityID")),
        message=message if isinstance(message, str) else None,
    )
    batch.add(record, system, _flat_event_data(obj), None)


def parse_xml_event_data(text: str) -> dict[str, str | None]:
    """``<EventData><Data Name="X">v</Data>…`` text → name → value (unnamed → ``paramN``).

    A regular expression over the ``<Data>`` elements (no XML parser, so no entity
    expansion); the five predefined XML entities and character references are decoded.
    """
    out: dict[str, str | None] = {}
    for m in _XML_DATA.finditer(text):
        name = m.group(1) or f"param{len(out) + 1}"
        value = m.group(2)
        out[html.unescape(name)] = html.unescape(value) if value is not None else None
    return out


def _add_azure(batch: EventBatch, record: int, obj: dict[str, Any]) -> None:
    raw = obj.get("EventData")
    data: dict[str, Any] = parse_xml_event_data(raw) if isinstance(raw, str) else {}
    data.update({k: v for k, v in obj.items() if k not in _AZURE_META})
    system = SystemValues(
        channel=_text_or_none(obj.get("Channel")),
        provider_name=_text_or_none(obj.get("EventSourceName")),
        event_id=as_int(obj.get("EventID")),
        level=_text_or_none(obj.get("Level")),
        task=_text_or_none(obj.get("Task")),
        time=_text_or_none(obj.get("TimeGenerated")),
        computer_name=_text_or_none(obj.get("Computer")),
        message=_text_or_none(obj.get("Activity")),
    )
    batch.add(record, system, data, None)
