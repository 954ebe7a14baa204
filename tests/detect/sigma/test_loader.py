"""Loading rule trees: bad files are reported with location and reason; the rest loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from mirrorguard.detect.sigma import SigmaRuleError, load_rules

GOOD = """title: Good
logsource: {product: windows, category: process_creation}
detection: {s: {Image|endswith: '\\\\a.exe'}, condition: s}
"""


def test_bad_files_fail_with_location_and_the_rest_loads(tmp_path: Path) -> None:
    (tmp_path / "good.yml").write_text(GOOD)
    (tmp_path / "broken.yml").write_text("title: x\ndetection: [unclosed\n")
    (tmp_path / "binary.yml").write_bytes(b"\xff\xfe\x00bad")
    (tmp_path / "unmapped.yml").write_text(
        "title: Unmapped\nlogsource: {product: linux, category: process_creation}\n"
        "detection:\n  s:\n    NotAField: x\n  condition: s\n")
    (tmp_path / "nolog.yml").write_text(
        "title: NoPipe\nlogsource: {category: quantum}\n"
        "detection: {s: {a: b}, condition: s}\n")
    rs = load_rules([tmp_path])
    assert [r.title for r in rs.rules] == ["Good"]
    by = {Path(f.file).name: f for f in rs.failures}
    assert by["broken.yml"].kind == "invalid yaml" and by["broken.yml"].line == 3
    assert by["binary.yml"].kind == "unreadable file"
    assert by["unmapped.yml"].kind == "field not mapped" and by["unmapped.yml"].line == 5
    assert "NotAField" in by["unmapped.yml"].reason
    assert by["nolog.yml"].kind == "no pipeline for logsource"
    report = rs.report()
    assert report["compiled"] == 1 and report["total"] == 5
    assert sum(report["failed_by_reason"].values()) == 4


def test_multi_document_files_and_missing_paths(tmp_path: Path) -> None:
    (tmp_path / "two.yml").write_text(GOOD + "---\n" + GOOD.replace("Good", "Second"))
    assert [r.title for r in load_rules([tmp_path]).rules] == ["Good", "Second"]
    with pytest.raises(SigmaRuleError):
        load_rules([tmp_path / "missing"])
