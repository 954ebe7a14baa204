"""Engine semantics: conditions, routing by logsource, keywords, explanations, dedupe."""

from __future__ import annotations

import numpy as np
import polars as pl
from tests.detect.sigma.helpers import compile_yaml, frame, matched_rows, proc_rule, sysmon

from mirrorguard.detect.sigma.engine import SigmaEngine
from mirrorguard.detect.sigma.rowsets import RowSet

ROWS = [
    sysmon(Image="C:\\Windows\\System32\\cmd.exe", CommandLine="cmd /c whoami",
           ParentImage="C:\\Windows\\explorer.exe"),                               # 0
    sysmon(Image="C:\\Windows\\System32\\cmd.exe", CommandLine="cmd /c dir",
           ParentImage="C:\\Program Files\\Office\\WINWORD.EXE"),                  # 1
    sysmon(Image="C:\\Tools\\psexec.exe", CommandLine="psexec \\\\host cmd"),      # 2
    {"winlog.channel": "Security", "winlog.event_id": 4688,
     "winlog.event_data.NewProcessName": "C:\\Windows\\System32\\cmd.exe",
     "winlog.event_data.CommandLine": "cmd /c whoami"},                            # 3
    sysmon(event_id=3, Image="C:\\Windows\\System32\\cmd.exe"),                    # 4
]


def test_conditions_one_of_all_of_not_parentheses() -> None:
    df = frame(ROWS)
    det = ("  sel_img: {Image|endswith: '\\cmd.exe'}\n"
           "  sel_cmd1: {CommandLine|contains: whoami}\n"
           "  sel_cmd2: {CommandLine|contains: ' dir'}\n"
           "  filter_word: {ParentImage|endswith: '\\winword.exe'}\n")
    assert matched_rows(proc_rule(det + "  condition: sel_img and 1 of sel_cmd*"), df) == [
        0, 1, 3]
    assert matched_rows(proc_rule(det + "  condition: all of sel_img* and not filter_word"),
                        df) == [0, 3]
    assert matched_rows(proc_rule(
        det + "  condition: (sel_cmd1 or sel_cmd2) and not (sel_cmd2 and filter_word)"),
        df) == [0, 3]
    assert matched_rows(proc_rule(det + "  condition: all of them"), df) == []
    assert matched_rows(proc_rule(det + "  condition: not sel_img"), df) == [2]


def test_lists_of_maps_are_or_and_maps_are_and() -> None:
    det = ("  s:\n    - Image|endswith: '\\psexec.exe'\n"
           "    - Image|endswith: '\\cmd.exe'\n      CommandLine|contains: dir\n"
           "  condition: s")
    assert matched_rows(proc_rule(det), frame(ROWS)) == [1, 2]


def test_rules_only_see_their_logsource() -> None:
    net = compile_yaml("title: n\nlogsource: {product: windows, category: network_connection}"
                       "\ndetection:\n  s: {Image|endswith: '\\cmd.exe'}\n  condition: s\n")
    proc = proc_rule("  s: {Image|endswith: '\\cmd.exe'}\n  condition: s")
    m = SigmaEngine([net, proc]).match(frame(ROWS))
    assert m.filter(pl.col("rule") == 0)["row"].to_list() == [4]
    assert m.filter(pl.col("rule") == 1)["row"].to_list() == [0, 1, 3]


def test_keywords_search_every_event_data_field() -> None:
    rule = compile_yaml("title: k\nlogsource: {product: windows, service: security}\n"
                        "detection:\n  keywords: ['WHOAMI', 'nothing-here']\n"
                        "  condition: keywords\n")
    assert matched_rows(rule, frame(ROWS)) == [3]


def test_explain_names_fields_patterns_and_values() -> None:
    df = frame(ROWS)
    rule = proc_rule("  s: {Image|endswith: '\\cmd.exe', CommandLine|contains: whoami}\n"
                     "  f: {ParentImage|endswith: '\\winword.exe'}\n  condition: s and not f")
    eng = SigmaEngine([rule])
    ex = eng.explain(df, eng.match(df))
    rows = ex.filter(pl.col("row") == 3).sort("field").rows()
    assert rows == [(0, 3, "CommandLine", "contains whoami", "cmd /c whoami"),
                    (0, 3, "Image", "suffix \\cmd.exe", "C:\\Windows\\System32\\cmd.exe")]


def test_dedupe_and_batching_do_not_change_results() -> None:
    rng = np.random.default_rng(0)
    base = [dict(r) for r in ROWS]
    rows = [base[i] for i in rng.integers(0, len(base), 9000)]
    df = frame(rows)
    rules = [proc_rule("  s: {Image|endswith: '\\cmd.exe'}\n  condition: s"),
             proc_rule("  s: {CommandLine|contains: [whoami, psexec]}\n  condition: s"),
             proc_rule("  s: {CommandLine: '*c*who*'}\n  condition: s")]
    ref = SigmaEngine(rules, dedupe=False, batch_rows=100_000).match(df)
    assert ref.height > 0
    assert SigmaEngine(rules, dedupe=True, batch_rows=1000).match(df).equals(ref)


def test_missing_columns_and_empty_frames() -> None:
    rule = proc_rule("  s: {OriginalFileName: 'x.exe'}\n  condition: s")
    assert matched_rows(rule, frame(ROWS)) == []
    empty = pl.DataFrame({"winlog.channel": [], "winlog.event_id": []},
                         schema={"winlog.channel": pl.String, "winlog.event_id": pl.Int32})
    assert SigmaEngine([rule]).match(empty).height == 0


def test_rowset_algebra() -> None:
    a, b = RowSet.of([1, 2, 3]), RowSet.of([3, 4])
    assert (a | ~b).materialize(6).tolist() == [0, 1, 2, 3, 5]
    assert (~a & ~b).materialize(6).tolist() == [0, 5]
    assert (a & RowSet.empty()).is_empty() and (RowSet.full() & a).rows.tolist() == [1, 2, 3]
    assert (~a).restrict(np.array([0, 1, 4])).tolist() == [0, 4]
