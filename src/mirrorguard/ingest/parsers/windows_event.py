"""Windows events in every layout → one columnar batch with the same ``winlog.*`` columns.

Every Windows layout (EVTX through the ``evtx`` package, evtx_dump JSON, Winlogbeat, OTRF/Mordor
flat JSON) is reduced to the same pieces per record: the ``System`` values, the ``EventData``
(name → value), the ``UserData`` (name → value) and an optional rendered message.
:class:`EventBatch` gathers those pieces and builds one Polars frame per batch.

Value rules (the same for every layout, so that the same event gives the same columns):

* ``winlog.event_data.<Name>`` / ``winlog.user_data.<Name>`` are strings: text as is, integers
  in decimal, booleans ``true``/``false``, floats as Python's ``repr``, nested values as
  compact JSON; unnamed ``<Data>`` items become ``param1``..``paramN``.
* ``winlog.level``, ``winlog.task``, ``winlog.opcode`` are strings; ``winlog.keywords`` is the
  ``0x``-prefixed 16-digit hex form (integers from NXLog are converted).

Building the frame groups records by their EventData key sequence (records of one event
template share it), transposes each group with ``zip`` and lets Polars build and cast whole
columns, so Python touches each record once and each column once per group.

>>> b = EventBatch()
>>> b.add(7, SystemValues(channel="Security", event_id=4624, time="2024-01-02T03:04:05Z"),
...       {"TargetUserName": "bob", "LogonType": 3}, None)
>>> f = b.to_frame()
>>> f["winlog.event_data.LogonType"].to_list(), f["mirrorguard.record"].to_list()
(['3'], [7])
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import orjson
import polars as pl

from mirrorguard.ingest.normalize import RECORD

ED = "winlog.event_data."
UD = "winlog.user_data."


@dataclass(slots=True)
class SystemValues:
    """The ``System`` part of one event, already unwrapped from its layout."""

    channel: str | None = None
    provider_name: str | None = None
    provider_guid: str | None = None
    event_id: int | None = None
    version: str | None = None
    level: str | None = None
    task: str | None = None
    opcode: str | None = None
    keywords: str | None = None
    time: str | None = None
    record_id: int | None = None
    pid: int | None = None
    thread_id: int | None = None
    computer_name: str | None = None
    user_identifier: str | None = None
    activity_id: str | None = None
    message: str | None = None


# SystemValues attribute -> (column name, dtype)
SYSTEM_COLUMNS: dict[str, tuple[str, pl.DataType]] = {
    "channel": ("winlog.channel", pl.String()),
    "provider_name": ("winlog.provider_name", pl.String()),
    "provider_guid": ("winlog.provider_guid", pl.String()),
    "event_id": ("winlog.event_id", pl.Int64()),
    "version": ("winlog.version", pl.String()),
    "level": ("winlog.level", pl.String()),
    "task": ("winlog.task", pl.String()),
    "opcode": ("winlog.opcode", pl.String()),
    "keywords": ("winlog.keywords", pl.String()),
    "time": ("winlog.time_created", pl.String()),
    "record_id": ("winlog.record_id", pl.Int64()),
    "pid": ("winlog.process.pid", pl.Int64()),
    "thread_id": ("winlog.process.thread.id", pl.Int64()),
    "computer_name": ("winlog.computer_name", pl.String()),
    "user_identifier": ("winlog.user.identifier", pl.String()),
    "activity_id": ("winlog.activity_id", pl.String()),
    "message": ("message", pl.String()),
}
_ATTRS = tuple(f.name for f in fields(SystemValues))


def text(value: object) -> str | None:
    """The string form of one EventData value (see the module docstring)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json_text(value)


def json_text(value: object) -> str:
    """Compact JSON text of any decoded value (integers beyond 64 bits included)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def as_int(value: object) -> int | None:
    """An integer from an int, a decimal string or a ``0x`` hex string; else ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**63 else None
    if isinstance(value, str):
        v = value.strip()
        try:
            n = int(v, 16) if v[:2].lower() == "0x" else int(v)
        except ValueError:
            return None
        return n if -(2**63) <= n < 2**63 else None
    return None


def opt_text(value: object) -> str | None:
    """:func:`text` for scalars; ``None`` stays ``None``."""
    return None if value is None else text(value)


def keywords_text(value: object) -> str | None:
    """Keywords as ``0x`` + 16 hex digits (NXLog exports them as signed 64-bit integers)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"0x{value & 0xFFFFFFFFFFFFFFFF:016x}"
    return opt_text(value)


def unwrap_text(value: object) -> object:
    """``{"#text": v, "#attributes": ...}`` → ``v`` (XML elements with attributes)."""
    if isinstance(value, dict) and "#text" in value:
        return value["#text"]
    return value


def flatten_event_data(data: object) -> dict[str, Any]:
    """EventData / ProcessingErrorData as name → value, unnamed ``Data`` items as ``paramN``."""
    if not isinstance(data, dict):
        if data is None:
            return {}
        return {"param1": data}
    if "Data" not in data and "#attributes" not in data and "#text" not in data:
        return data
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key == "#attributes":
            continue
        if key in ("Data", "#text"):
            items = unwrap_text(value)
            if not isinstance(items, list):
                items = [items]
            for item in items:
                out[f"param{len(out) + 1}"] = unwrap_text(item)
        else:
            out[key] = unwrap_text(value)
    return out


def flatten_user_data(data: object) -> dict[str, Any]:
    """UserData: the fields of its child element(s); ``#attributes``/``xml_name`` dropped."""
    if not isinstance(data, dict):
        return {} if data is None else {"param1": data}
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key in ("#attributes", "xml_name"):
            continue
        if isinstance(value, dict) and "#text" not in value:
            for k2, v2 in value.items():
                if k2 not in ("#attributes", "xml_name"):
                    out[k2] = unwrap_text(v2)
        else:
            out[key] = unwrap_text(value)
    return out


class _Part:
    """The events of one channel (their columns are built together)."""

    def __init__(self) -> None:
        self.records: list[int] = []
        self.system: list[Sequence[object]] = []
        self.event_data: list[Mapping[str, Any]] = []
        self.user_data: list[Mapping[str, Any] | None] = []

    def to_frame(self) -> pl.DataFrame:
        n = len(self.records)
        cols: dict[str, pl.Series] = {RECORD: pl.Series(RECORD, self.records, dtype=pl.Int64)}
        for attr, values in zip(_ATTRS, zip(*self.system, strict=True), strict=True):
            name, dtype = SYSTEM_COLUMNS[attr]
            if any(v is not None for v in values):
                cols[name] = _system_series(name, list(values), dtype)
        base = pl.DataFrame(cols, height=n)
        parts = [_data_columns(self.event_data, ED, n)]
        if any(u is not None for u in self.user_data):
            parts.append(_data_columns([u or {} for u in self.user_data], UD, n))
        for part in parts:
            if part.width:
                base = base.hstack(part)
        return base


class EventBatch:
    """Accumulates events of any Windows layout and builds their frames, one per channel.

    One frame per channel keeps frames narrow: a Sysmon frame does not carry the hundreds of
    null columns of every other provider's EventData. System values are kept as raw column
    lists (ints and strings as the layout gave them) and converted per column.
    """

    def __init__(self) -> None:
        self._parts: dict[object, _Part] = {}
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def add(
        self,
        record: int,
        system: SystemValues,
        event_data: Mapping[str, Any],
        user_data: Mapping[str, Any] | None,
    ) -> None:
        """Add one event (``event_data`` already flattened by :func:`flatten_event_data`)."""
        self.add_raw(record, tuple(getattr(system, a) for a in _ATTRS), event_data, user_data)

    def add_raw(
        self,
        record: int,
        system: Sequence[object],
        event_data: Mapping[str, Any],
        user_data: Mapping[str, Any] | None,
    ) -> None:
        """Like :meth:`add`, with system values in :class:`SystemValues` field order."""
        part = self._parts.get(system[0])
        if part is None:
            part = self._parts[system[0]] = _Part()
        part.records.append(record)
        part.system.append(system)
        part.event_data.append(event_data)
        part.user_data.append(user_data or None)
        self._n += 1

    def to_frames(self) -> list[pl.DataFrame]:
        """One frame per channel, each in the order its records were added."""
        return [part.to_frame() for part in self._parts.values()]

    def to_frame(self) -> pl.DataFrame:
        """All events in one frame (channels one after the other)."""
        frames = self.to_frames()
        if not frames:
            return pl.DataFrame()
        return frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")


def _system_series(name: str, values: list[object], dtype: pl.DataType) -> pl.Series:
    if dtype == pl.String:
        return _string_series(name, values)
    try:
        return pl.Series(name, values, dtype=dtype, strict=True)
    except (TypeError, OverflowError, pl.exceptions.PolarsError):
        return pl.Series(name, [as_int(v) for v in values], dtype=dtype)


def _data_columns(rows: list[Mapping[str, Any]], prefix: str, n: int) -> pl.DataFrame:
    """Name → value mappings (one per row) as string columns ``prefix + name``, in row order."""
    groups: dict[tuple[str, ...], list[int]] = {}
    for i, row in enumerate(rows):
        groups.setdefault(tuple(row), []).append(i)
    groups.pop((), None)
    if not groups:
        return pl.DataFrame(height=n)
    frames = []
    for keys, idx in groups.items():
        columns = zip(*(rows[i].values() for i in idx), strict=True)
        data = {prefix + k: _string_series(prefix + k, list(v)) for k, v in zip(keys, columns,
                                                                              strict=True)}
        data["__row"] = pl.Series("__row", idx, dtype=pl.Int64)
        frames.append(pl.DataFrame(data))
    if len(frames) == 1 and frames[0].height == n:
        return frames[0].drop("__row")
    wide = pl.concat(frames, how="diagonal")
    if wide.height < n:  # rows without any data: add them as all-null rows
        missing = sorted(set(range(n)).difference(wide["__row"].to_list()))
        wide = pl.concat([wide, pl.DataFrame({"__row": pl.Series(missing, dtype=pl.Int64)})],
                         how="diagonal")
    return wide.sort("__row").drop("__row")


_FAST = (pl.String, pl.Int64, pl.Boolean, pl.Null)


def _string_series(name: str, values: list[Any]) -> pl.Series:
    """A String series from one column of values, by the rules of :func:`text`."""
    try:
        s = pl.Series(name, values, strict=True)
    except (TypeError, OverflowError, pl.exceptions.PolarsError):
        return pl.Series(name, [text(v) for v in values], dtype=pl.String)
    if isinstance(s.dtype, _FAST):
        return s.cast(pl.String)
    return pl.Series(name, [text(v) for v in values], dtype=pl.String)
