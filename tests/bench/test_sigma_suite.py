"""The sigma suite's pieces on small inputs: tactics, replication, reports, SQLite baseline."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from tests.detect.sigma.helpers import frame, proc_rule, sysmon

from mirrorguard.bench.harness import BenchContext
from mirrorguard.bench.suites import sigma as suite
from mirrorguard.detect.sigma import SigmaEngine, load_rules


def test_folder_tactics_follow_attack_v18_names() -> None:
    assert suite._folder_tactics("Credential Access/x.evtx.gz") == {"credential-access"}
    assert suite._folder_tactics("Defense Evasion/x.evtx.gz") == {
        "defense-evasion", "stealth", "defense-impairment"}
    assert suite._folder_tactics("Other/x.evtx.gz") == frozenset()
    assert suite._folder_tactics("root.evtx.gz") == frozenset()


def test_replicate_repeats_rows_to_the_requested_size() -> None:
    base = pl.DataFrame({"a": [1, 2, 3]})
    assert suite._replicate(base, 7)["a"].to_list() == [1, 2, 3, 1, 2, 3, 1]


def test_compile_report_counts_only_the_requested_folders(tmp_path: Path) -> None:
    good = ("title: t\nlogsource: {product: windows, category: process_creation}\n"
            "detection: {s: {Image: x}, condition: s}\n")
    for folder in ("rules/windows", "rules/cloud"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "ok.yml").write_text(good)
        (tmp_path / folder / "bad.yml").write_text("title: [\n")
    rep = suite._compile_report(load_rules([tmp_path]), tmp_path)
    assert (rep["compiled"], rep["total"]) == (1, 2)
    assert rep["failed_by_reason"] == {"invalid yaml": 1}
    assert rep["failures"][0]["file"] == "rules/windows/bad.yml"


def _events() -> pl.DataFrame:
    return frame([sysmon(Image="C:\\Windows\\cmd.exe", CommandLine="cmd /c whoami"),
                  sysmon(Image="C:\\Windows\\notepad.exe", CommandLine="notepad x.txt"),
                  {"winlog.channel": "Security", "winlog.event_id": 4688,
                   "winlog.event_data.NewProcessName": "C:\\Windows\\CMD.EXE"}])


def test_sqlite_baseline_agrees_and_extrapolates(tmp_path: Path) -> None:
    rules = [proc_rule("  s: {Image|endswith: '\\cmd.exe'}\n  condition: s"),
             proc_rule("  s: {CommandLine|re: 'who(ami)?'}\n  condition: s"),
             proc_rule("  keywords: ['notepad']\n  condition: keywords")]
    base = _events()
    big = suite._replicate(base, 10)
    matches = SigmaEngine(rules).match(big)
    ctx = BenchContext(data_dir=tmp_path, work_dir=tmp_path, seed=1)
    out = suite._sqlite_baseline(ctx, base, big, rules, matches)
    assert out["agreement"] == 1.0 and out["errors"] == 0
    assert out["sampled_rules"] == 3 and out["events_per_s"] > 0
    assert not (tmp_path / "sigma_baseline.sqlite").exists()


def test_attack_samples_counts_files_and_tactic_hits() -> None:
    rule = proc_rule("  s: {Image|endswith: '\\cmd.exe'}\n  condition: s",
                     tags="[attack.execution, attack.t1059]")
    events = _events().with_columns(pl.Series("bench.file", [
        "Execution/a.evtx.gz", "Execution/b.evtx.gz", "Discovery/c.evtx.gz"]))
    files = ["Execution/a.evtx.gz", "Execution/b.evtx.gz", "Discovery/c.evtx.gz",
             "Discovery/empty.evtx.gz"]
    out = suite._attack_samples(events, files, SigmaEngine([rule]))
    assert out["by_tactic"]["Execution"] == {"files": 2, "files_with_alert": 1,
                                             "files_with_tactic_alert": 1}
    assert out["by_tactic"]["Discovery"] == {"files": 2, "files_with_alert": 1,
                                             "files_with_tactic_alert": 0}
