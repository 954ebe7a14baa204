"""CSV and text lists; format detection."""

from __future__ import annotations

from pathlib import Path

import pytest

from mirrorguard.detect.intel import IntelFormatError, detect_format, load_csv, load_feed, load_text

CSV = """id,type,value,confidence,valid_until,tags
x1,ip-dst,198.51.100.7,90,2024-06-01T00:00:00Z,c2;apt
x2,FileHash-SHA256,{sha},,,
x3,domain-name,Evil.Example,,,
x4,mutex,Global\\\\x,,,
x5,ipv4,999.0.0.1,,,
x6,url,evil.example/gate.php,150,,
""".format(sha="A" * 64)


def test_csv_with_type_column(tmp_path: Path) -> None:
    path = tmp_path / "iocs.csv"
    path.write_text(CSV)
    s = load_csv(path)
    rows = s.indicators.select("indicator.id", "indicator.type", "indicator.value").rows()
    assert rows == [("x1", "ipv4", "198.51.100.7"), ("x2", "sha256", "a" * 64),
                    ("x3", "domain", "evil.example"), ("x6", "url", "http://evil.example/gate.php")]
    first = s.indicators.row(0, named=True)
    assert first["indicator.confidence"] == 90 and first["indicator.labels"] == ["c2", "apt"]
    assert first["indicator.location"] == f"{path}:2" and first["indicator.feed"] == "iocs"
    problems = {(p.kind, p.line) for p in s.report.problems}
    assert problems == {("unsupported_type", 5), ("invalid_value", 6), ("invalid_value", 7)}


def test_csv_needs_value_and_type(tmp_path: Path) -> None:
    with pytest.raises(IntelFormatError, match="no value column"):
        load_csv("a,b\n1,2\n", source="x.csv")
    with pytest.raises(IntelFormatError, match="no type column"):
        load_csv("value\n1.2.3.4\n", source="x.csv")
    s = load_csv("value\n198.51.100.1\nevil.example\n", type="auto", source="x.csv")
    assert s.indicators["indicator.type"].to_list() == ["ipv4", "domain"]


def test_text_list_with_comments_and_declared_type() -> None:
    text = "# header\n198.51.100.1  # trailing comment\n\n2001:db8::/32\nhttp://x.example/#frag\n"
    s = load_text(text, source="l.txt")
    assert s.indicators.select("indicator.type", "indicator.value").rows() == [
        ("ipv4", "198.51.100.1"), ("ipv6", "2001:db8::/32"), ("url", "http://x.example/")]
    s = load_text("evil.example\nwww.evil.example\n", type="hostname", source="h.txt")
    assert set(s.indicators["indicator.type"].to_list()) == {"hostname"}
    s = load_text("thing\n", type="bogus", source="b.txt")
    assert s.report.problems[0].kind == "unsupported_type" and s.report.problems[0].line == 1


def test_format_detection(tmp_path: Path) -> None:
    stix = tmp_path / "a.json"
    stix.write_text('{"type": "bundle", "objects": []}')
    misp = tmp_path / "b.json"
    misp.write_text('{"Event": {"Attribute": []}}')
    other = tmp_path / "c.json"
    other.write_text('{"foo": 1}')
    (tmp_path / "d.csv").write_text("value,type\n1.2.3.4,ip\n")
    (tmp_path / "e.txt").write_text("1.2.3.4\n")
    assert detect_format(stix) == "stix" and detect_format(misp) == "misp"
    assert detect_format(tmp_path / "d.csv") == "csv" and detect_format(tmp_path) == "misp"
    assert detect_format(tmp_path / "e.txt") == "text"
    with pytest.raises(IntelFormatError):
        detect_format(other)
    with pytest.raises(IntelFormatError, match="not found"):
        load_feed(tmp_path / "missing.txt")
    with pytest.raises(IntelFormatError, match="unknown feed format"):
        load_feed(stix, fmt="yaml")
    assert load_feed(tmp_path / "e.txt").indicators.height == 1
