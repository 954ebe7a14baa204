"""Load STIX 2.0/2.1 bundles: indicators (patterns → atoms) and sightings.

What is read from an ``indicator``: ``pattern`` (``pattern_type`` must be ``stix``; STIX 2.0
has no ``pattern_type`` and means STIX), ``valid_from``/``valid_until``, ``confidence``
(0–100), ``revoked``, ``labels``/``indicator_types``, ``name``, ``created_by_ref`` (the feed name
is the referenced ``identity``'s name), ``modified`` (decay reference time) and ATT&CK
techniques from ``indicates`` relationships to ``attack-pattern`` objects and from
``mitre-attack`` external references.

``sighting`` objects (``sighting_of_ref`` → indicator, ``count``, ``first_seen``,
``last_seen``, ``where_sighted_refs``) are kept. STIX has no standard false-positive flag; a
sighting is read as a *false-positive* report when it carries ``x_false_positive: true``
(our convention) or OpenCTI's ``x_opencti_negative: true``. False-positive sightings lower the
indicator's score (:mod:`.decay`).

Problems are findings with a location (file, line of the object's id, object id): invalid
patterns, unsupported patterns or pattern types, unknown object types, bad timestamps or
confidence values. Every other object still loads. Custom ``x-…`` objects and STIX objects
that carry no indicator (malware, reports, observables…) are counted and ignored.

>>> bundle = {"type": "bundle", "objects": [{"type": "indicator", "id": "indicator--1",
...     "pattern": "[domain-name:value = 'Evil.Example']", "valid_from": "2024-01-01T00:00:00Z",
...     "confidence": 80}, {"type": "bogus", "id": "bogus--1"}]}
>>> s = load_stix(bundle, source="demo.json")
>>> s.indicators.select("indicator.type", "indicator.value", "indicator.confidence").rows()
[('domain', 'evil.example', 80)]
>>> print(s.report.problems[0])
demo.json bogus--1: unknown_object_type: unknown STIX object type 'bogus'
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mirrorguard.detect.intel.model import IntelFormatError, IntelSet, LoadReport
from mirrorguard.detect.intel.prepare import finalize, parse_time
from mirrorguard.detect.intel.stix_pattern import PatternError, compile_pattern

STIX_TYPES = frozenset([
    "attack-pattern", "campaign", "course-of-action", "grouping", "identity", "incident",
    "indicator", "infrastructure", "intrusion-set", "location", "malware", "malware-analysis",
    "note", "observed-data", "opinion", "report", "threat-actor", "tool", "vulnerability",
    "relationship", "sighting", "marking-definition", "language-content",
    "extension-definition", "artifact", "autonomous-system", "directory", "domain-name",
    "email-addr", "email-message", "file", "ipv4-addr", "ipv6-addr", "mac-addr", "mutex",
    "network-traffic", "process", "software", "url", "user-account", "windows-registry-key",
    "x509-certificate",
])
FP_MARKERS = ("x_false_positive", "x_opencti_negative")


def _read(src: Path | bytes | str | Mapping[str, Any] | list[Any]) -> tuple[Any, str, str]:
    """(parsed JSON, its text or '', a source name)."""
    if isinstance(src, Mapping | list):
        return src, "", "<memory>"
    name = str(src) if isinstance(src, Path) else "<memory>"
    try:
        text = src.read_text("utf-8") if isinstance(src, Path) else (
            src.decode("utf-8") if isinstance(src, bytes) else src)
        return json.loads(text), text, name
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        line = getattr(exc, "lineno", None)
        raise IntelFormatError(f"cannot read STIX JSON: {exc}", file=name, line=line) from exc


class _Ctx:
    def __init__(self, text: str, source: str, feed: str | None, subdomains: bool) -> None:
        self.text, self.source, self.feed, self.subdomains = text, source, feed, subdomains
        self.report = LoadReport()
        self.identities: dict[str, str] = {}
        self.techniques: dict[str, list[str]] = {}
        self.lines = _line_index(text)

    def loc(self, obj_id: str | None, index: int) -> dict[str, Any]:
        where: dict[str, Any] = {"file": self.source, "record": obj_id or f"objects[{index}]"}
        if obj_id and obj_id in self.lines:
            where["line"] = self.lines[obj_id]
        return where

    def location(self, obj_id: str | None, index: int) -> str:
        w = self.loc(obj_id, index)
        return f"{w['file']}:{w['line']}" if "line" in w else str(w["file"])


_ID_RE = re.compile(r'"id"\s*:\s*"([^"\\]+)"')


def _line_index(text: str) -> dict[str, int]:
    """Line of the first ``"id": "…"`` of every object id, in one pass over the text."""
    out: dict[str, int] = {}
    line, pos = 1, 0
    for m in _ID_RE.finditer(text):
        line += text.count("\n", pos, m.start())
        pos = m.start()
        out.setdefault(m.group(1), line)
    return out


def _prescan(objs: list[Any], ctx: _Ctx) -> None:
    """Identities (feed names) and indicator → ATT&CK technique links."""
    patterns: dict[str, str] = {}
    for o in objs:
        if not isinstance(o, dict):
            continue
        if o.get("type") == "identity" and "id" in o:
            ctx.identities[o["id"]] = str(o.get("name", o["id"]))
        if o.get("type") == "attack-pattern":
            ext = _mitre_ids(o)
            if ext:
                patterns[o["id"]] = ext[0]
    for o in objs:
        if isinstance(o, dict) and o.get("type") == "relationship" and o.get(
                "relationship_type") == "indicates" and o.get("target_ref") in patterns:
            ctx.techniques.setdefault(str(o.get("source_ref")), []).append(
                patterns[o["target_ref"]])


def _mitre_ids(obj: Mapping[str, Any]) -> list[str]:
    return [str(r["external_id"]) for r in obj.get("external_references") or ()
            if isinstance(r, dict) and r.get("source_name") == "mitre-attack"
            and str(r.get("external_id", "")).upper().startswith("T")]


def _time(obj: Mapping[str, Any], key: str, ctx: _Ctx, where: dict[str, Any]) -> Any:
    try:
        return parse_time(obj.get(key))
    except (ValueError, TypeError, OverflowError):
        ctx.report.problem("invalid_value", f"{key} {obj.get(key)!r} is not a timestamp",
                           **where)
        return None


def _confidence(obj: Mapping[str, Any], ctx: _Ctx, where: dict[str, Any]) -> int | None:
    raw = obj.get("confidence")
    if raw is None:
        return None
    if isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw <= 100:
        return raw
    ctx.report.problem("invalid_value", f"confidence {raw!r} is not an integer 0-100", **where)
    return None


def _indicator_rows(obj: dict[str, Any], i: int, ctx: _Ctx) -> list[dict[str, Any]]:
    oid, where = obj.get("id"), ctx.loc(obj.get("id"), i)
    ptype = str(obj.get("pattern_type", "stix")).lower()
    if ptype != "stix":
        ctx.report.problem("unsupported_pattern", f"pattern_type {ptype!r}", **where)
        return []
    pattern = obj.get("pattern")
    if not isinstance(pattern, str) or not oid:
        ctx.report.problem("invalid_pattern", "indicator without id or pattern", **where)
        return []
    try:
        compiled = compile_pattern(pattern)
    except PatternError as exc:
        ctx.report.problem("invalid_pattern", f"{exc.message}: {pattern}", **where)
        return []
    if compiled.unsupported:
        reasons = "; ".join(dict.fromkeys(compiled.unsupported))
        kept = f" ({len(compiled.conjunctions)} alternatives kept)" if compiled.conjunctions else ""
        ctx.report.problem("unsupported_pattern", f"{reasons}{kept}: {pattern}", **where)
    base = {
        "indicator.id": oid, "indicator.name": obj.get("name"),
        "indicator.feed": ctx.identities.get(str(obj.get("created_by_ref")), ctx.feed),
        "indicator.format": "stix", "indicator.confidence": _confidence(obj, ctx, where),
        "indicator.valid_from": _time(obj, "valid_from", ctx, where),
        "indicator.valid_until": _time(obj, "valid_until", ctx, where),
        "indicator.last_seen": _time(obj, "modified", ctx, where),
        "indicator.revoked": bool(obj.get("revoked", False)),
        "indicator.labels": [str(x) for x in [*obj.get("labels", []),
                                              *obj.get("indicator_types", [])]],
        "indicator.techniques": sorted({*_mitre_ids(obj), *ctx.techniques.get(oid, [])}),
        "indicator.pattern": pattern, "indicator.location": ctx.location(oid, i),
    }
    rows = []
    for c, conj in enumerate(compiled.conjunctions):
        for atom in conj:
            typ = "ip" if atom.group == "ip" else atom.group
            if typ == "domain" and not ctx.subdomains:
                typ = "hostname"
            rows.append({**base, "indicator.conj": c, "indicator.atoms": len(conj),
                         "indicator.type": typ, "indicator.value": atom.value,
                         "indicator.fields": list(atom.fields)})
    return rows


def _sighting(obj: dict[str, Any], i: int, ctx: _Ctx) -> dict[str, Any] | None:
    where = ctx.loc(obj.get("id"), i)
    ref = obj.get("sighting_of_ref")
    if not isinstance(ref, str):
        ctx.report.problem("invalid_value", "sighting without sighting_of_ref", **where)
        return None
    count = obj.get("count", 1)
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        ctx.report.problem("invalid_value", f"sighting count {count!r}", **where)
        return None
    sources = [ctx.identities.get(r, r) for r in obj.get("where_sighted_refs", [])]
    return {
        "sighting.id": obj.get("id"), "indicator.id": ref, "sighting.count": count,
        "sighting.false_positive": any(obj.get(m) is True for m in FP_MARKERS),
        "sighting.first_seen": _time(obj, "first_seen", ctx, where),
        "sighting.last_seen": _time(obj, "last_seen", ctx, where),
        "sighting.source": ",".join(sources) or ctx.feed,
        "sighting.location": ctx.location(obj.get("id"), i),
    }


def _objects(data: Any, source: str) -> list[Any]:
    if isinstance(data, list):
        return data
    if isinstance(data, dict) and data.get("type") == "bundle":
        objs = data.get("objects", [])
        if not isinstance(objs, list):
            raise IntelFormatError("bundle 'objects' is not a list", file=source)
        return objs
    if isinstance(data, dict) and "type" in data:
        return [data]
    raise IntelFormatError("not a STIX bundle, object or list of objects", file=source)


def load_stix(
    src: Path | bytes | str | Mapping[str, Any] | list[Any], *, feed: str | None = None,
    source: str | None = None, subdomains: bool = True,
) -> IntelSet:
    """Load a STIX bundle (file, JSON text/bytes, or parsed). ``subdomains``: a
    ``domain-name`` indicator also matches its subdomains (type ``domain``; else ``hostname``)."""
    data, text, name = _read(src)
    name = source or name
    ctx = _Ctx(text, name, feed or (Path(name).stem if name != "<memory>" else None), subdomains)
    objs = _objects(data, name)
    _prescan(objs, ctx)
    rows: list[dict[str, Any]] = []
    sightings: list[dict[str, Any]] = []
    for i, obj in enumerate(objs):
        typ = obj.get("type") if isinstance(obj, dict) else None
        if not isinstance(typ, str):
            ctx.report.problem("invalid_object", "object without a type", **ctx.loc(None, i))
        elif typ == "indicator":
            rows.extend(_indicator_rows(obj, i, ctx))
        elif typ == "sighting":
            if (s := _sighting(obj, i, ctx)) is not None:
                sightings.append(s)
        elif typ in STIX_TYPES or typ.startswith("x-"):
            ctx.report.counts[f"ignored.{typ}"] += 1
        else:
            ctx.report.problem("unknown_object_type", f"unknown STIX object type {typ!r}",
                               **ctx.loc(obj.get("id"), i))
    ctx.report.counts["sightings"] += len(sightings)
    return finalize(rows, sightings, ctx.report)
