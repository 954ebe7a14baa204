"""The ``{"Event": {"System": ..., "EventData": ...}}`` layout (evtx / evtx_dump JSON).

This is what the ``evtx`` package's ``records_json()`` and ``evtx_dump -o json`` emit: XML
turned into JSON, attributes under ``#attributes``, element text of attributed elements
under ``#text``. The fast path decodes it with a typed :mod:`msgspec` schema (the ``System``
block has a fixed shape); anything the schema does not accept goes through the generic path,
which reads the same fields from plain dicts.

>>> from mirrorguard.ingest.parsers.windows_event import EventBatch
>>> b = EventBatch()
>>> add_document(b, 1, b'{"Event": {"System": {"EventID": 4688, "Channel": "Security"},'
...                    b' "EventData": {"NewProcessName": "cmd.exe", "TokenElevationType": 1}}}')
>>> b.to_frame().select("winlog.event_id", "winlog.event_data.TokenElevationType").row(0)
(4688, '1')
"""

from __future__ import annotations

from typing import Any

import msgspec

from mirrorguard.ingest.parsers.windows_event import (
    EventBatch,
    SystemValues,
    as_int,
    flatten_event_data,
    flatten_user_data,
    keywords_text,
    opt_text,
    unwrap_text,
)

_Scalar = int | str | None


class _ProviderAttrs(msgspec.Struct, gc=False):
    Name: str | None = None
    Guid: str | None = None
    EventSourceName: str | None = None


class _Provider(msgspec.Struct, gc=False):
    attrs: _ProviderAttrs | None = msgspec.field(name="#attributes", default=None)


class _TimeAttrs(msgspec.Struct, gc=False):
    SystemTime: str | None = None


class _Time(msgspec.Struct, gc=False):
    attrs: _TimeAttrs | None = msgspec.field(name="#attributes", default=None)


class _ExecAttrs(msgspec.Struct, gc=False):
    ProcessID: int | str | None = None
    ThreadID: int | str | None = None


class _Exec(msgspec.Struct, gc=False):
    attrs: _ExecAttrs | None = msgspec.field(name="#attributes", default=None)


class _SecAttrs(msgspec.Struct, gc=False):
    UserID: str | None = None


class _Sec(msgspec.Struct, gc=False):
    attrs: _SecAttrs | None = msgspec.field(name="#attributes", default=None)


class _CorrAttrs(msgspec.Struct, gc=False):
    ActivityID: str | None = None


class _Corr(msgspec.Struct, gc=False):
    attrs: _CorrAttrs | None = msgspec.field(name="#attributes", default=None)


class _Qualified(msgspec.Struct, gc=False):
    text: int | str | None = msgspec.field(name="#text", default=None)


class _System(msgspec.Struct, gc=False):
    Provider: _Provider | None = None
    EventID: int | str | _Qualified | None = None
    Version: _Scalar = None
    Level: _Scalar = None
    Task: _Scalar = None
    Opcode: _Scalar = None
    Keywords: _Scalar = None
    TimeCreated: _Time | None = None
    EventRecordID: _Scalar = None
    Correlation: _Corr | None = None
    Execution: _Exec | None = None
    Channel: str | None = None
    Computer: str | None = None
    Security: _Sec | None = None


class _Rendering(msgspec.Struct, gc=False):
    Message: str | None = None


class _Event(msgspec.Struct, gc=False):
    System: _System
    EventData: Any = None
    UserData: Any = None
    ProcessingErrorData: Any = None
    RenderingInfo: _Rendering | None = None


class _Doc(msgspec.Struct, gc=False):
    Event: _Event


_DECODER = msgspec.json.Decoder(_Doc)


def _system_fast(s: _System, message: str | None) -> tuple[object, ...]:
    """System values in :class:`SystemValues` field order (raw; converted per column later)."""
    p = s.Provider.attrs if s.Provider is not None else None
    ex = s.Execution.attrs if s.Execution is not None else None
    t = s.TimeCreated.attrs if s.TimeCreated is not None else None
    eid = s.EventID.text if isinstance(s.EventID, _Qualified) else s.EventID
    sec = s.Security.attrs if s.Security is not None else None
    corr = s.Correlation.attrs if s.Correlation is not None else None
    kw = s.Keywords
    return (
        s.Channel,
        (p.Name or p.EventSourceName) if p is not None else None,
        p.Guid if p is not None else None,
        eid,
        s.Version,
        s.Level,
        s.Task,
        s.Opcode,
        kw if kw is None or isinstance(kw, str) else keywords_text(kw),
        t.SystemTime if t is not None else None,
        s.EventRecordID,
        ex.ProcessID if ex is not None else None,
        ex.ThreadID if ex is not None else None,
        s.Computer,
        sec.UserID if sec is not None else None,
        corr.ActivityID if corr is not None else None,
        message,
    )


def add_document(batch: EventBatch, record: int, raw: str | bytes) -> None:
    """Decode one evtx-JSON document and add it; raises ``ValueError`` when it is not one."""
    try:
        doc = _DECODER.decode(raw)
    except msgspec.ValidationError:
        obj = msgspec.json.decode(raw)
        if not is_event_document(obj):
            raise ValueError("JSON object has no Event.System block") from None
        add_object(batch, record, obj)
        return
    except msgspec.DecodeError as exc:
        raise ValueError(f"invalid JSON: {exc}") from None
    ev = doc.Event
    message = ev.RenderingInfo.Message if ev.RenderingInfo is not None else None
    data = flatten_event_data(ev.EventData)
    if ev.ProcessingErrorData is not None:
        data = {**data, **flatten_event_data(ev.ProcessingErrorData)}
    user = flatten_user_data(ev.UserData) if ev.UserData is not None else None
    batch.add_raw(record, _system_fast(ev.System, message), data, user)


def is_event_document(obj: object) -> bool:
    """Whether ``obj`` is an ``{"Event": {"System": {...}}}`` document."""
    if not isinstance(obj, dict):
        return False
    ev = obj.get("Event")
    return isinstance(ev, dict) and isinstance(ev.get("System"), dict)


def _attr(obj: object, key: str) -> Any:
    if isinstance(obj, dict):
        attrs = obj.get("#attributes")
        if isinstance(attrs, dict):
            return attrs.get(key)
    return None


def _str(value: object) -> str | None:
    value = unwrap_text(value)
    return None if isinstance(value, dict | list) else opt_text(value)


def system_from_dict(s: dict[str, Any], message: str | None = None) -> SystemValues:
    """:class:`SystemValues` from a plain-dict ``System`` block (the generic path)."""
    provider = s.get("Provider")
    return SystemValues(
        channel=_str(s.get("Channel")),
        provider_name=_str(_attr(provider, "Name") or _attr(provider, "EventSourceName")),
        provider_guid=_str(_attr(provider, "Guid")),
        event_id=as_int(unwrap_text(s.get("EventID"))),
        version=_str(s.get("Version")),
        level=_str(s.get("Level")),
        task=_str(s.get("Task")),
        opcode=_str(s.get("Opcode")),
        keywords=keywords_text(unwrap_text(s.get("Keywords"))),
        time=_str(_attr(s.get("TimeCreated"), "SystemTime")),
        record_id=as_int(unwrap_text(s.get("EventRecordID"))),
        pid=as_int(_attr(s.get("Execution"), "ProcessID")),
        thread_id=as_int(_attr(s.get("Execution"), "ThreadID")),
        computer_name=_str(s.get("Computer")),
        user_identifier=_str(_attr(s.get("Security"), "UserID")),
        activity_id=_str(_attr(s.get("Correlation"), "ActivityID")),
        message=message,
    )


def add_object(batch: EventBatch, record: int, obj: dict[str, Any]) -> None:
    """Add an already-decoded ``{"Event": ...}`` document (see :func:`is_event_document`)."""
    ev = obj["Event"]
    rendering = ev.get("RenderingInfo")
    message = _str(rendering.get("Message")) if isinstance(rendering, dict) else None
    data = flatten_event_data(ev.get("EventData"))
    if ev.get("ProcessingErrorData") is not None:
        data = {**data, **flatten_event_data(ev["ProcessingErrorData"])}
    user = flatten_user_data(ev["UserData"]) if ev.get("UserData") is not None else None
    batch.add(record, system_from_dict(ev["System"], message), data, user)
