from __future__ import annotations

from datetime import timedelta

from tests.correlate.conftest import T0, frame, make_alert

from mirrorguard.correlate.entities import HubTracker, alert_keys, is_stopped, normalise


def test_normalise_kinds() -> None:
    assert normalise("host", "WORKSTATION5.theshire.local") == "workstation5"
    assert normalise("host", "10.0.0.5") == "10.0.0.5"
    assert normalise("user", "pgustavo@theshire.local") == "pgustavo"
    assert normalise("domain", "Evil.Example.") == "evil.example"


def test_alert_keys_vectorised_matches_normalise() -> None:
    f = frame(make_alert(0, host="WS1.corp.local", user="CORP\\Bob", ip="10.0.0.1"),
              make_alert(1, domain="C2.example.", hash="ABCDEF"), make_alert(2))
    keys = alert_keys(f)
    assert keys[0] == ("host:ws1", "ip:10.0.0.1", "user:bob")
    assert keys[1] == ("domain:c2.example", "hash:abcdef")
    assert keys[2] == ()


def test_stop_list() -> None:
    assert is_stopped("user:local service")
    assert is_stopped("ip:::1") and is_stopped("ip:224.0.0.251") and is_stopped("ip:bogus")
    assert is_stopped("process:c:\\windows\\system32\\cmd.exe")
    assert not is_stopped("host:ws1") and not is_stopped("hash:abc")


def test_hub_degree_counts_only_anchor_partners_within_window() -> None:
    h = HubTracker(window=timedelta(hours=1), max_degree=3)
    for i in range(10):  # many processes on one host: not a hub
        assert h.observe(("host:ws1", f"process:p{i}"), T0) == []
    for i in range(3):
        h.observe(("ip:10.0.0.53", f"host:h{i}"), T0 + timedelta(hours=3 * i))
    assert h.links("ip:10.0.0.53")  # old partners fell out of the window
    new = []
    for i in range(4):
        new += h.observe(("ip:10.0.0.53", f"host:x{i}"), T0 + timedelta(hours=20))
    assert new == ["ip:10.0.0.53"] and not h.links("ip:10.0.0.53")
