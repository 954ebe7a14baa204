"""STIX bundles: indicators, sightings, ATT&CK links, and problems with locations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mirrorguard.detect.intel import IntelFormatError, load_stix


def _bundle(*objs: dict[str, object]) -> dict[str, object]:
    return {"type": "bundle", "id": "bundle--1", "objects": list(objs)}


IND = {"type": "indicator", "spec_version": "2.1", "id": "indicator--a", "name": "c2",
       "pattern": "[ipv4-addr:value = '198.51.100.7']", "pattern_type": "stix",
       "valid_from": "2024-01-01T00:00:00Z", "valid_until": "2024-06-01T00:00:00.000Z",
       "confidence": 85, "labels": ["malicious-activity"], "created_by_ref": "identity--o",
       "modified": "2024-02-01T00:00:00Z"}


def test_indicator_fields_are_read(tmp_path: Path) -> None:
    objs = [IND, {"type": "identity", "id": "identity--o", "name": "ACME CERT"},
            {"type": "attack-pattern", "id": "attack-pattern--x", "name": "App Layer",
             "external_references": [{"source_name": "mitre-attack", "external_id": "T1071"}]},
            {"type": "relationship", "id": "relationship--r", "relationship_type": "indicates",
             "source_ref": "indicator--a", "target_ref": "attack-pattern--x"}]
    s = load_stix(_bundle(*objs))
    row = s.indicators.row(0, named=True)
    assert row["indicator.type"] == "ipv4" and row["indicator.value"] == "198.51.100.7"
    assert row["indicator.feed"] == "ACME CERT" and row["indicator.confidence"] == 85
    assert row["indicator.techniques"] == ["T1071"]
    assert row["indicator.valid_until"].month == 6 and row["indicator.last_seen"].month == 2
    assert s.report.problems == [] and s.report.counts["ignored.attack-pattern"] == 1


def test_stix20_bundle_without_pattern_type_and_hostname_mode() -> None:
    ind = {"type": "indicator", "id": "indicator--b", "labels": ["malicious-activity"],
           "pattern": "[domain-name:value = 'Evil.Example']", "valid_from": "2017-01-01T00:00:00Z"}
    assert load_stix(_bundle(ind)).indicators["indicator.type"].to_list() == ["domain"]
    exact = load_stix(_bundle(ind), subdomains=False)
    assert exact.indicators["indicator.type"].to_list() == ["hostname"]


def test_sightings_and_false_positive_markers() -> None:
    objs = [IND,
            {"type": "sighting", "id": "sighting--1", "sighting_of_ref": "indicator--a",
             "count": 3, "last_seen": "2024-03-01T00:00:00Z"},
            {"type": "sighting", "id": "sighting--2", "sighting_of_ref": "indicator--a",
             "x_false_positive": True},
            {"type": "sighting", "id": "sighting--3", "sighting_of_ref": "indicator--a",
             "x_opencti_negative": True},
            {"type": "sighting", "id": "sighting--4"}]
    s = load_stix(_bundle(*objs))
    assert s.sightings["sighting.count"].to_list() == [3, 1, 1]
    assert s.sightings["sighting.false_positive"].to_list() == [False, True, True]
    assert [p.record for p in s.report.problems] == ["sighting--4"]


def test_bad_objects_are_reported_with_location_and_the_rest_loads(tmp_path: Path) -> None:
    objs = [IND,
            {**IND, "id": "indicator--bad", "pattern": "[ipv4-addr:value = "},
            {**IND, "id": "indicator--sigma", "pattern_type": "sigma", "pattern": "title: x"},
            {**IND, "id": "indicator--unsup", "pattern": "[process:name = 'evil.exe']"},
            {**IND, "id": "indicator--conf", "confidence": 900},
            {**IND, "id": "indicator--time", "valid_until": "yesterday"},
            {**IND, "id": "indicator--value", "pattern": "[ipv4-addr:value = '999.1.1.1']"},
            {"type": "thing-we-do-not-know", "id": "thing--1"},
            {"type": "x-acme-custom", "id": "x-acme-custom--1"},
            {"id": "no-type"}]
    path = tmp_path / "feed.json"
    path.write_text(json.dumps(_bundle(*objs), indent=2))
    s = load_stix(path)
    kinds = {p.record: p.kind for p in s.report.problems}
    assert kinds == {
        "indicator--bad": "invalid_pattern", "indicator--sigma": "unsupported_pattern",
        "indicator--unsup": "unsupported_pattern", "indicator--conf": "invalid_value",
        "indicator--time": "invalid_value", "indicator--value": "invalid_value",
        "thing--1": "unknown_object_type", "objects[9]": "invalid_object"}
    bad = next(p for p in s.report.problems if p.record == "indicator--bad")
    text = path.read_text().splitlines()
    assert bad.file == str(path) and bad.line is not None and '"indicator--bad"' in text[
        bad.line - 1]
    assert str(bad).startswith(f"{path}:{bad.line} indicator--bad: invalid_pattern")
    loaded = set(s.indicators["indicator.id"].to_list())
    assert loaded == {"indicator--a", "indicator--conf", "indicator--time"}
    assert s.report.counts["ignored.x-acme-custom"] == 1


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '{"objects": 3, "type": "bundle"}',
                                  '"just a string"'])
def test_unreadable_documents_raise(tmp_path: Path, text: str) -> None:
    path = tmp_path / "x.json"
    path.write_text(text)
    with pytest.raises(IntelFormatError) as err:
        s = load_stix(path)
        if not s.report.problems:  # a list of non-objects: every item is a problem
            raise AssertionError("no error and no problem")
        raise IntelFormatError("reported", file=str(path))
    assert err.value.file == str(path)
