"""MISP events and feed directories."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mirrorguard.detect.intel import IntelFormatError, load_misp


def _event(uuid: str, attrs: list[dict[str, object]], **kw: object) -> dict[str, object]:
    return {"Event": {"uuid": uuid, "info": f"event {uuid}", "Orgc": {"name": "CIRCL"},
                      "timestamp": "1700000000", "Attribute": attrs, **kw}}


def test_attribute_types_composites_and_objects() -> None:
    attrs = [
        {"uuid": "a", "type": "domain|ip", "value": "evil.example|198.51.100.4"},
        {"uuid": "b", "type": "filename|sha256", "value": "x.exe|" + "AB" * 32},
        {"uuid": "c", "type": "hostname", "value": "c2.evil.example"},
        {"uuid": "d", "type": "email-src", "value": "Bad@Evil.Example"},
        {"uuid": "e", "type": "url", "value": "HTTP://Evil.Example:80/x"},
        {"uuid": "f", "type": "comment", "value": "hello"},
        {"uuid": "g", "type": "mutex", "value": "Global\\x"},
        {"uuid": "h", "type": "md5", "value": "abc", "to_ids": True},
        {"uuid": "i", "type": "ip-dst", "value": "198.51.100.9", "deleted": True},
    ]
    objects = [{"name": "file", "Attribute": [{"uuid": "o1", "type": "md5", "value": "a" * 32}]}]
    s = load_misp(_event("e1", attrs, Object=objects))
    got = sorted(s.indicators.select("indicator.id", "indicator.type", "indicator.value").rows())
    assert got == [("a", "domain", "evil.example"), ("a", "ipv4", "198.51.100.4"),
                   ("b", "sha256", "ab" * 32), ("c", "hostname", "c2.evil.example"),
                   ("d", "email", "bad@evil.example"), ("e", "url", "http://evil.example/x"),
                   ("o1", "md5", "a" * 32)]
    # domain|ip is "either part": two conjunctions of one atom each
    assert s.indicators.filter(pl_id("a"))["indicator.conj"].to_list() == [0, 1]
    kinds = {(p.kind, p.record) for p in s.report.problems}
    assert ("invalid_value", "h") in kinds
    assert any(p.kind == "unsupported_type" and "mutex" in p.reason for p in s.report.problems)
    assert s.report.counts["skipped.comment"] == 1 and s.report.counts["skipped.deleted"] == 1
    assert set(s.indicators["indicator.feed"].to_list()) == {"CIRCL"}


def pl_id(value: str) -> object:
    import polars as pl
    return pl.col("indicator.id") == value


def test_to_ids_sightings_tags_and_expiration() -> None:
    tag_conf = [{"name": 'admiralty-scale:source-reliability="b"'},
                {"name": 'misp-galaxy:mitre-attack-pattern="PowerShell - T1059.001"'}]
    attrs = [{"uuid": "a", "type": "ip-dst", "value": "198.51.100.4", "to_ids": False,
              "Tag": tag_conf, "Sighting": [
                  {"type": "0", "date_sighting": "1700000500"},
                  {"type": "1", "date_sighting": "1700000600", "Organisation": {"name": "X"}},
                  {"type": "2", "date_sighting": "1700900000"}]},
             {"uuid": "b", "type": "sha1", "value": "b" * 40}]
    s = load_misp(_event("e", attrs, Tag=[{"name": 'estimative-language:confidence-in-'
                                                   'analytic-judgment="low"'}]))
    a = s.indicators.filter(pl_id("a")).row(0, named=True)
    assert a["indicator.to_ids"] is False and a["indicator.confidence"] == 80
    assert a["indicator.techniques"] == ["T1059.001"]
    assert a["indicator.valid_until"].timestamp() == 1700900000
    b = s.indicators.filter(pl_id("b")).row(0, named=True)
    assert b["indicator.confidence"] == 30 and b["indicator.last_seen"].timestamp() == 1700000000
    assert s.sightings.select("sighting.false_positive", "sighting.source").rows() == [
        (False, None), (True, "X")]


def test_feed_directory_with_manifest(tmp_path: Path) -> None:
    for uuid, value in (("u1", "198.51.100.1"), ("u2", "198.51.100.2")):
        (tmp_path / f"{uuid}.json").write_text(json.dumps(_event(uuid, [
            {"uuid": f"a-{uuid}", "type": "ip-src", "value": value}])))
    manifest = {"u1": {"info": "one"}, "u2": {"info": "two"}, "u3": {"info": "missing"}}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    s = load_misp(tmp_path)
    assert sorted(s.indicators["indicator.value"].to_list()) == ["198.51.100.1", "198.51.100.2"]
    assert [(p.kind, p.record) for p in s.report.problems] == [("missing_event", "u3")]
    assert load_misp(tmp_path / "manifest.json").indicators.height == 2


def test_rest_response_and_bad_documents(tmp_path: Path) -> None:
    resp = {"response": [_event("e1", [{"uuid": "a", "type": "md5", "value": "c" * 32}])]}
    assert load_misp(resp).indicators.height == 1
    with pytest.raises(IntelFormatError, match="not a MISP event"):
        load_misp({"foo": 1})
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(IntelFormatError) as err:
        load_misp(bad)
    assert err.value.file == str(bad)
