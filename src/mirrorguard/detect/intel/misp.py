"""Load MISP events: event JSON (one, a list, a REST ``response``) or a feed directory.

A MISP feed directory holds ``manifest.json`` (event uuid → metadata) and one
``<uuid>.json`` per event. Every ``Attribute`` of an event and of its ``Object``s is read:

* types ``ip-src``/``ip-dst`` (and ``|port``), ``domain``, ``hostname`` (and ``|port``),
  ``domain|ip`` (either part), ``url``, ``md5``/``sha1``/``sha256`` (and ``filename|…``),
  ``email``/``email-src``/``email-dst``. A ``domain`` matches subdomains, a ``hostname`` only
  itself. Other IOC types are reported per type; descriptive types (``text``, ``comment``,
  ``link``, …) are counted only;
* ``to_ids`` (false = not for detection: kept, never alerted on), ``deleted`` (skipped),
  ``timestamp``/``last_seen`` (decay reference time);
* sightings: type 0 = seen (resets decay), 1 = false positive (lowers the score), 2 =
  expiration (the attribute is not valid after that date);
* confidence from tags: ``admiralty-scale:source-reliability`` (a=100 … e=20, f unknown) or
  ``estimative-language:confidence-in-analytic-judgment`` (high=90, moderate=60, low=30), on
  the attribute or else the event; ATT&CK technique ids from ``misp-galaxy:mitre-attack-pattern``
  tags.

>>> ev = {"Event": {"uuid": "e1", "info": "demo", "Orgc": {"name": "CIRCL"}, "Attribute": [
...     {"uuid": "a1", "type": "ip-dst|port", "value": "198.51.100.9|443", "to_ids": True,
...      "timestamp": "1700000000", "Sighting": [{"type": "1", "date_sighting": "1700000100"}]},
...     {"uuid": "a2", "type": "regkey", "value": "HKLM\\\\x", "to_ids": True}]}}
>>> s = load_misp(ev)
>>> s.indicators.select("indicator.type", "indicator.value", "indicator.feed").rows()
[('ipv4', '198.51.100.9', 'CIRCL')]
>>> s.sightings["sighting.false_positive"].to_list(), s.report.counts["problem.unsupported_type"]
([True], 1)
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from mirrorguard.detect.intel.model import IntelFormatError, IntelSet, LoadReport
from mirrorguard.detect.intel.prepare import finalize, parse_time

# MISP attribute type -> one (group, part index of a "|" composite) per alternative
TYPES: dict[str, tuple[tuple[str, int], ...]] = {
    "ip-src": (("ip", 0),), "ip-dst": (("ip", 0),),
    "ip-src|port": (("ip", 0),), "ip-dst|port": (("ip", 0),),
    "domain": (("domain", 0),), "hostname": (("hostname", 0),),
    "hostname|port": (("hostname", 0),), "domain|ip": (("domain", 0), ("ip", 1)),
    "url": (("url", 0),),
    "md5": (("md5", 0),), "sha1": (("sha1", 0),), "sha256": (("sha256", 0),),
    "filename|md5": (("md5", 1),), "filename|sha1": (("sha1", 1),),
    "filename|sha256": (("sha256", 1),),
    "email": (("email", 0),), "email-src": (("email", 0),), "email-dst": (("email", 0),),
}
DESCRIPTIVE = frozenset({"text", "comment", "link", "other", "attachment", "datetime",
                         "counter", "boolean", "float", "size-in-bytes", "port", "hex"})
ADMIRALTY = {"a": 100, "b": 80, "c": 60, "d": 40, "e": 20}
ESTIMATIVE = {"high": 90, "moderate": 60, "low": 30}
_TECH = re.compile(r"\b(T\d{4}(?:\.\d{3})?)\b")
_TAG_VALUE = re.compile(r'^([^:]+:[^=]+)="?([^"]*)"?$')


def _tags(obj: Mapping[str, Any]) -> list[str]:
    return [str(t.get("name", "")) for t in obj.get("Tag") or () if isinstance(t, dict)]


def _confidence(tags: list[str]) -> int | None:
    for tag in tags:
        m = _TAG_VALUE.match(tag.strip().lower())
        if m is None:
            continue
        key, val = m.groups()
        if key == "admiralty-scale:source-reliability" and val in ADMIRALTY:
            return ADMIRALTY[val]
        if key == "estimative-language:confidence-in-analytic-judgment" and val in ESTIMATIVE:
            return ESTIMATIVE[val]
    return None


def _techniques(tags: list[str]) -> list[str]:
    return sorted({m for t in tags if t.lower().startswith(("misp-galaxy:mitre", "mitre-attack"))
                   for m in _TECH.findall(t)})


def _truthy(v: Any) -> bool:
    return v is True or (isinstance(v, str) and v.lower() in ("1", "true")) or v == 1


class _EventReader:
    def __init__(self, source: str, feed: str | None, report: LoadReport) -> None:
        self.source, self.feed, self.report = source, feed, report
        self.rows: list[dict[str, Any]] = []
        self.sightings: list[dict[str, Any]] = []
        self.unsupported: Counter[str] = Counter()

    def time(self, value: Any, what: str, record: str) -> datetime | None:
        try:
            return parse_time(value)
        except (ValueError, TypeError, OverflowError):
            self.report.problem("invalid_value", f"{what} {value!r} is not a timestamp",
                                file=self.source, record=record)
            return None

    def event(self, ev: Mapping[str, Any]) -> None:
        etags = _tags(ev)
        orgc = ev.get("Orgc")
        orgc = orgc if isinstance(orgc, dict) else {}
        base = {"indicator.feed": self.feed or str(orgc.get("name") or "misp"),
                "indicator.name": ev.get("info"), "indicator.format": "misp",
                "indicator.location": self.source}
        attrs = [a for a in ev.get("Attribute") or () if isinstance(a, dict)]
        for obj in ev.get("Object") or ():
            if isinstance(obj, dict):
                attrs.extend(a for a in obj.get("Attribute") or () if isinstance(a, dict))
        for attr in attrs:
            self.attribute(attr, base, etags, ev.get("timestamp"))

    def attribute(self, a: Mapping[str, Any], base: Mapping[str, Any], etags: list[str],
                  event_ts: Any) -> None:
        rid = str(a.get("uuid") or a.get("id") or "")
        typ = str(a.get("type", ""))
        if _truthy(a.get("deleted")):
            self.report.counts["skipped.deleted"] += 1
            return
        if typ not in TYPES:
            if typ in DESCRIPTIVE:
                self.report.counts[f"skipped.{typ}"] += 1
            else:
                self.unsupported[typ] += 1
            return
        tags = _tags(a)
        expires = self.read_sightings(a, rid)
        parts = str(a.get("value", "")).split("|")
        common = {
            **base, "indicator.id": rid,
            "indicator.confidence": _confidence(tags) or _confidence(etags),
            "indicator.to_ids": _truthy(a.get("to_ids", True)),
            "indicator.last_seen": self.time(a.get("last_seen") or a.get("timestamp")
                                             or event_ts, "timestamp", rid),
            "indicator.valid_until": expires,
            "indicator.labels": [str(a.get("category", ""))] if a.get("category") else [],
            "indicator.techniques": _techniques(tags + etags),
            "indicator.pattern": f"{typ}:{a.get('value', '')}",
        }
        for conj, (group, part) in enumerate(TYPES[typ]):
            if part >= len(parts):
                self.report.problem("invalid_value", f"{typ} value {a.get('value')!r}",
                                    file=self.source, record=rid)
                return
            self.rows.append({**common, "indicator.conj": conj, "indicator.atoms": 1,
                              "indicator.type": group, "indicator.value": parts[part]})

    def read_sightings(self, a: Mapping[str, Any], rid: str) -> datetime | None:
        """Keep type 0/1 sightings; return the earliest expiration (type 2), if any."""
        expires: datetime | None = None
        for s in a.get("Sighting") or ():
            if not isinstance(s, dict):
                continue
            when = self.time(s.get("date_sighting"), "date_sighting", rid)
            kind = str(s.get("type", "0"))
            if kind == "2":
                expires = when if expires is None or (when and when < expires) else expires
                continue
            org = s.get("Organisation")
            org = org if isinstance(org, dict) else {}
            self.sightings.append({
                "sighting.id": s.get("uuid"), "indicator.id": rid, "sighting.count": 1,
                "sighting.false_positive": kind == "1", "sighting.first_seen": when,
                "sighting.last_seen": when, "sighting.source": org.get("name"),
                "sighting.location": self.source})
        return expires

    def finish(self) -> IntelSet:
        for typ, n in sorted(self.unsupported.items()):
            self.report.problem("unsupported_type",
                                f"{n} attribute(s) of MISP type {typ!r} (no event field)",
                                file=self.source)
        self.report.counts["sightings"] += len(self.sightings)
        return finalize(self.rows, self.sightings, self.report)


def _events(data: Any, source: str) -> list[Mapping[str, Any]]:
    if isinstance(data, dict) and "response" in data:
        data = data["response"]
    items = data if isinstance(data, list) else [data]
    out: list[Mapping[str, Any]] = []
    for i, item in enumerate(items):
        ev = item.get("Event") if isinstance(item, dict) else None
        if not isinstance(ev, dict):
            raise IntelFormatError("not a MISP event (no 'Event' object)", file=source,
                                   record=f"[{i}]")
        out.append(ev)
    return out


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IntelFormatError(f"cannot read MISP JSON: {exc}", file=str(path),
                               line=getattr(exc, "lineno", None)) from exc


def load_misp(src: Path | Mapping[str, Any] | list[Any], *, feed: str | None = None) -> IntelSet:
    """Load a MISP event file, a feed directory (``manifest.json``) or parsed event JSON."""
    report = LoadReport()
    if isinstance(src, Path) and (src.is_dir() or src.name == "manifest.json"):
        root = src if src.is_dir() else src.parent
        manifest = _read_json(root / "manifest.json")
        if not isinstance(manifest, dict):
            raise IntelFormatError("manifest.json is not an object", file=str(root))
        sets = []
        for uuid in sorted(manifest):
            path = root / f"{uuid}.json"
            if not path.exists():
                report.problem("missing_event", "event listed in manifest.json is missing",
                               file=str(path), record=uuid)
                continue
            sets.append(load_misp(path, feed=feed))
        return IntelSet.concat([IntelSet.empty(), *sets]).with_report(report)
    source = str(src) if isinstance(src, Path) else "<memory>"
    data = _read_json(src) if isinstance(src, Path) else src
    reader = _EventReader(source, feed, report)
    for ev in _events(data, source):
        reader.event(ev)
    return reader.finish()
