"""Windows → ECS mapping tables and the shared batch builder (no shared data needed)."""

from __future__ import annotations

import polars as pl
import pytest

from mirrorguard.ingest.parsers.windows_event import (
    EventBatch,
    SystemValues,
    flatten_event_data,
    flatten_user_data,
    keywords_text,
    text,
)
from mirrorguard.ingest.parsers.windows_map import EVENTS, SYSMON, dataset_expr, map_frame
from mirrorguard.schema.frame import validate_frame

SYSMON_CH = "Microsoft-Windows-Sysmon/Operational"


def _frame(*events: tuple[SystemValues, dict[str, object]]) -> pl.DataFrame:
    batch = EventBatch()
    for i, (system, data) in enumerate(events, start=1):
        batch.add(i, system, data, None)
    return map_frame(batch.to_frame()).sort("mirrorguard.record")


def _sys(channel: str, event_id: int, **kw: object) -> SystemValues:
    return SystemValues(channel=channel, event_id=event_id, time="2024-05-01T10:00:00.123456Z",
                        computer_name="WS1", provider_name="P", **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(("channel", "dataset"), [
    ("Microsoft-Windows-Sysmon/Operational", "windows.sysmon"),
    ("Security", "windows.security"),
    ("SYSTEM", "windows.system"),
    ("Windows PowerShell", "windows.powershell"),
    ("Microsoft-Windows-PowerShell/Operational", "windows.powershell"),
    ("Microsoft-Windows-Bits-Client/Operational", "windows.microsoft_windows_bits_client_operational"),
    (None, "windows.unknown"),
])
def test_dataset_from_channel(channel: str | None, dataset: str) -> None:
    out = pl.select(dataset_expr(pl.lit(channel, dtype=pl.String))).item()
    assert out == dataset


def test_sysmon_process_creation_maps_process_user_and_hashes() -> None:
    f = _frame((_sys(SYSMON_CH, 1), {
        "Image": r"C:\Windows\System32\cmd.exe", "CommandLine": "cmd /c whoami",
        "ProcessId": 4242, "ParentImage": r"C:\Windows\explorer.exe", "ParentProcessId": "77",
        "User": r"CORP\alice", "Hashes": "SHA1=AA11,MD5=BB22,SHA256=CC33DD,IMPHASH=EE",
    }))
    row = f.row(0, named=True)
    assert (row["event.category"], row["event.type"], row["event.action"]) == (
        "process", "start", "process-created")
    assert row["process.executable"] == r"C:\Windows\System32\cmd.exe"
    assert row["process.name"] == "cmd.exe"
    assert row["process.pid"] == 4242 and row["process.parent.pid"] == 77
    assert (row["user.name"], row["user.domain"]) == ("alice", "CORP")
    assert (row["process.hash.sha256"], row["process.hash.md5"]) == ("cc33dd", "bb22")
    assert row["winlog.event_data.ProcessId"] == "4242"  # raw value kept as text
    assert row["event.code"] == "1" and row["host.name"] == "WS1"
    assert row["@timestamp"].isoformat() == "2024-05-01T10:00:00.123456+00:00"
    assert "dll.hash.sha256" not in f.columns  # all-null derived columns are dropped


def test_sysmon_network_dns_file_registry_and_dll() -> None:
    f = _frame(
        (_sys(SYSMON_CH, 3), {"SourceIp": "10.0.0.5", "SourcePort": "51000",
                              "DestinationIp": "8.8.8.8", "DestinationPort": 53,
                              "Protocol": "udp", "Image": "C:\\a.exe"}),
        (_sys(SYSMON_CH, 22), {"QueryName": "evil.example", "Image": "C:\\a.exe"}),
        (_sys(SYSMON_CH, 11), {"TargetFilename": "C:\\t\\x.ps1"}),
        (_sys(SYSMON_CH, 13), {"TargetObject": "HKLM\\Run\\x", "Details": "c:\\x.exe"}),
        (_sys(SYSMON_CH, 7), {"ImageLoaded": "C:\\x.dll", "Hashes": "SHA256=AB"}),
    )
    assert f["source.port"].dtype == pl.Int32 and f["source.port"][0] == 51000
    assert f["destination.ip"][0] == "8.8.8.8" and f["network.transport"][0] == "udp"
    assert f["dns.question.name"][1] == "evil.example"
    assert f["event.category"].to_list() == ["network", "network", "file", "registry", "library"]
    assert f["file.path"][2] == "C:\\t\\x.ps1" and f["file.name"][2] == "x.ps1"
    assert f["registry.path"][3] == "HKLM\\Run\\x"
    assert f["dll.path"][4] == "C:\\x.dll" and f["dll.hash.sha256"][4] == "ab"
    assert "process.hash.sha256" not in f.columns


def test_security_logons_process_creation_and_outcomes() -> None:
    f = _frame(
        (_sys("Security", 4624, keywords="0x8020000000000000"),
         {"SubjectUserName": "DC$", "TargetUserName": "bob", "TargetDomainName": "CORP",
          "IpAddress": "10.1.1.1", "IpPort": "-", "LogonType": 3}),
        (_sys("Security", 4625, keywords="0x8010000000000000"),
         {"TargetUserName": "eve", "IpAddress": "-"}),
        (_sys("Security", 4688), {"NewProcessName": "C:\\w.exe", "NewProcessId": "0x1128",
                                  "ProcessId": "0x31c", "ParentProcessName": "C:\\p.exe",
                                  "SubjectUserName": "carol", "SubjectDomainName": "CORP"}),
        (_sys("Security", 4673, keywords="0x8010000000000000"), {"SubjectUserName": "dan"}),
    )
    assert f["user.name"].to_list() == ["bob", "eve", "carol", "dan"]
    assert f["user.domain"].to_list() == ["CORP", None, "CORP", None]
    assert f["event.outcome"].to_list() == ["success", "failure", None, "failure"]
    assert f["source.ip"].to_list() == ["10.1.1.1", None, None, None]  # "-" is missing
    assert "source.port" not in f.columns  # IpPort "-" only: nothing to keep
    assert f["process.pid"][2] == 0x1128 and f["process.parent.pid"][2] == 0x31C
    assert f["process.parent.executable"][2] == "C:\\p.exe"
    assert f["event.action"][2] == "created-process"


def test_events_table_covers_issue_examples() -> None:
    for key in [(SYSMON, 1), (SYSMON, 3), (SYSMON, 22), ("windows.security", 4624),
                ("windows.security", 4720), ("windows.security", 4732),
                ("windows.security", 1102), ("windows.system", 7045),
                ("windows.powershell", 4104)]:
        assert key in EVENTS
    categories = {v[0] for v in EVENTS.values()}
    assert categories <= {"process", "network", "file", "registry", "library", "driver",
                          "configuration", "authentication", "iam", "host"}


def test_mapped_frame_is_a_valid_event_frame_after_id_stamp() -> None:
    f = _frame((_sys("Security", 4624), {"TargetUserName": "bob"}))
    f = f.with_columns(pl.lit("x").alias("event.id"),
                       pl.col("winlog.event_id").cast(pl.Int32))
    assert validate_frame(f) == []


def test_flatten_unnamed_data_and_user_data() -> None:
    assert flatten_event_data({"Data": {"#text": ["a", "b"]}, "Binary": "00"}) == {
        "param1": "a", "param2": "b", "Binary": "00"}
    assert flatten_event_data({"Data": "only"}) == {"param1": "only"}
    assert flatten_event_data({"#attributes": {"Name": "X"}, "param1": "p"}) == {"param1": "p"}
    assert flatten_event_data(None) == {}
    ud = {"LogFileCleared": {"#attributes": {"xmlns": "u"}, "SubjectUserName": "bob"}}
    assert flatten_user_data(ud) == {"SubjectUserName": "bob"}
    assert flatten_user_data({"ListenerName": "RDP", "xml_name": "EventXML"}) == {
        "ListenerName": "RDP"}


def test_text_rules_and_keywords() -> None:
    assert [text(v) for v in ("s", 5, True, False, 1.5, None, {"a": 1}, [1, 2])] == [
        "s", "5", "true", "false", "1.5", None, '{"a":1}', "[1,2]"]
    assert keywords_text(-9223372036854775808) == "0x8000000000000000"
    assert keywords_text("0x8020000000000000") == "0x8020000000000000"


def test_mixed_value_types_in_one_column_become_text() -> None:
    batch = EventBatch()
    for i, v in enumerate([1, "x", True, None, 2.5, {"k": [1]}], start=1):
        batch.add(i, _sys("Security", 4624), {"V": v}, {"U": v})
    f = batch.to_frame()
    assert f["winlog.event_data.V"].to_list() == ["1", "x", "true", None, "2.5", '{"k":[1]}']
    assert f["winlog.user_data.U"].to_list() == ["1", "x", "true", None, "2.5", '{"k":[1]}']


def test_rows_with_different_keys_keep_their_order() -> None:
    batch = EventBatch()
    rows: list[dict[str, object]] = [{"A": 1}, {}, {"B": 2}, {"A": 3, "B": 4}, {"A": 5}]
    for i, data in enumerate(rows, start=1):
        batch.add(i, _sys("Security", 1), data, None)
    f = batch.to_frame()
    assert f["mirrorguard.record"].to_list() == [1, 2, 3, 4, 5]
    assert f["winlog.event_data.A"].to_list() == ["1", None, None, "3", "5"]
    assert f["winlog.event_data.B"].to_list() == [None, None, "2", "4", None]


def test_one_frame_per_channel() -> None:
    batch = EventBatch()
    batch.add(1, _sys("Security", 4624), {"TargetUserName": "a"}, None)
    batch.add(2, _sys(SYSMON_CH, 1), {"Image": "x"}, None)
    batch.add(3, _sys("Security", 4625), {"TargetUserName": "b"}, None)
    frames = batch.to_frames()
    assert [f.height for f in frames] == [2, 1]
    assert "winlog.event_data.Image" not in frames[0].columns
