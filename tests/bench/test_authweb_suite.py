"""The authweb suite: per-file flagging helpers and a full run on the real data."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import need_data

from mirrorguard.bench.harness import BenchContext
from mirrorguard.bench.suites import authweb


def test_flag_file_routes_access_lines_to_web_layer() -> None:
    data = (b'1.2.3.4 - - [05/Mar/2007:14:39:21 +0100] "GET /phpmyadmin/ HTTP/1.0" 404 4 "-" '
            b'"-"\nJun  1 09:00:00 web sshd[7]: Invalid user x from 10.0.0.9\n')
    flags, _ = authweb.flag_file(data)
    rows = {r: (layer, f) for r, layer, f, _ in flags.rows()}
    assert rows == {1: ("web", True), 2: ("auth", True)}


def test_suite_meets_targets(tmp_path: Path) -> None:
    data_dir = need_data()
    need_data("auth_web_logs_fail2ban")
    res = authweb.run(BenchContext(data_dir=data_dir, work_dir=tmp_path)).results
    assert res["labelled_lines"] == 1190
    assert res["precision"] >= 0.95 and res["recall"] >= 0.95
    assert res["benign"]["lines"] == 10_000 and res["benign_alert_rate"] <= 0.005
    assert res["detectors"]["bruteforce"]["loghub_openssh"]["alerts"] > 0
