"""The file walker: exit codes, containers, skipped files, errors kept apart."""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path

import joblib
import numpy as np

from mirrorguard.guard.artifacts.scan import (
    EXIT_CLEAN,
    EXIT_ERRORS,
    EXIT_FINDINGS,
    EXIT_NOTHING,
    ScanOptions,
    scan_paths,
)

PAYLOAD = b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00id\x85R."


def test_exit_codes(tmp_path: Path) -> None:
    (tmp_path / "ok.pkl").write_bytes(pickle.dumps({"w": np.zeros(3)}))
    assert scan_paths([tmp_path / "ok.pkl"]).exit_code == EXIT_CLEAN
    (tmp_path / "bad.pkl").write_bytes(PAYLOAD)
    assert scan_paths([tmp_path]).exit_code == EXIT_FINDINGS
    (tmp_path / "notes.txt").write_text("hello")
    assert scan_paths([tmp_path / "notes.txt"]).exit_code == EXIT_NOTHING
    assert scan_paths([]).exit_code == EXIT_NOTHING
    (tmp_path / "weird.pt").write_bytes(b"\x00\x01garbage")
    assert scan_paths([tmp_path / "weird.pt"]).exit_code == EXIT_ERRORS
    assert scan_paths([tmp_path / "missing.pkl"]).exit_code == EXIT_ERRORS


def test_directory_report_keeps_kinds_apart(tmp_path: Path) -> None:
    (tmp_path / "bad.pkl").write_bytes(PAYLOAD)
    (tmp_path / "readme.md").write_text("# model")
    report = scan_paths([tmp_path])
    assert report.scanned == [str(tmp_path / "bad.pkl")]
    assert [s.path for s in report.skipped] == [str(tmp_path / "readme.md")]
    doc = report.to_dict()
    assert doc["summary"] == {"scanned": 1, "findings": 2, "errors": 0, "skipped": 1,
                              "max_severity": "CRITICAL"}


def test_size_limit_skips(tmp_path: Path) -> None:
    (tmp_path / "big.pkl").write_bytes(pickle.dumps(list(range(1000))))
    report = scan_paths([tmp_path], ScanOptions(max_file_bytes=10))
    assert report.exit_code == EXIT_NOTHING and report.skipped


def test_symlinks_not_followed_by_default(tmp_path: Path) -> None:
    (tmp_path / "bad.pkl").write_bytes(PAYLOAD)
    (tmp_path / "link.pkl").symlink_to(tmp_path / "bad.pkl")
    report = scan_paths([tmp_path / "link.pkl"])
    assert report.exit_code == EXIT_NOTHING
    assert scan_paths([tmp_path / "link.pkl"], ScanOptions(follow_symlinks=True)).findings


def test_zip_slip_member_names(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("../../etc/cron.d/x.npy", b"\x93NUMPY")
    (tmp_path / "a.zip").write_bytes(buf.getvalue())
    kinds = {f.kind for f in scan_paths([tmp_path / "a.zip"]).findings}
    assert "path_traversal" in kinds


def test_joblib_real_files_clean(tmp_path: Path) -> None:
    obj = {"a": np.arange(10.0), "b": np.array(["x", None], dtype=object), "c": [np.ones(3)]}
    for compress in (0, ("zlib", 3), ("gzip", 3), ("bz2", 3), ("xz", 3), ("lzma", 3)):
        path = tmp_path / f"m{len(list(tmp_path.iterdir()))}.joblib"
        joblib.dump(obj, path, compress=compress)
        report = scan_paths([path])
        assert report.exit_code == EXIT_CLEAN, (compress, report.findings)


def test_npy_trailing_data_is_reported(tmp_path: Path) -> None:
    buf = io.BytesIO()
    np.save(buf, np.zeros(4))
    (tmp_path / "a.npy").write_bytes(buf.getvalue() + PAYLOAD)
    kinds = {f.kind for f in scan_paths([tmp_path / "a.npy"]).findings}
    assert kinds == {"trailing_data"}
