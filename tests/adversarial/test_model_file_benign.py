"""Real models from real libraries (trained on ClaMP) must scan clean: no finding, no error."""

from __future__ import annotations

from corpus import Built

from mirrorguard.guard.artifacts.scan import scan_file


def test_benign_corpus_size(benign_corpus: list[Built]) -> None:
    assert len(benign_corpus) >= 30
    assert {b.sample.category for b in benign_corpus} >= {"sklearn_lightgbm", "numpy", "pytorch"}


def test_no_benign_file_is_flagged(benign_corpus: list[Built]) -> None:
    flagged = {}
    for item in benign_corpus:
        report = scan_file(item.path)
        if report.exit_code != 0:
            flagged[item.sample.name] = [f.detail for f in report.findings] + [
                e.message for e in report.errors]
    assert flagged == {}
