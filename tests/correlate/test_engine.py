from __future__ import annotations

from datetime import timedelta

import pytest
from tests.correlate.conftest import frame, make_alert

from mirrorguard.bus import BusEvent, EventBus
from mirrorguard.correlate import CorrelationParams, EntityCorrelator
from mirrorguard.errors import ConfigError, MirrorguardError, SchemaError


def test_shared_host_links_and_other_host_does_not() -> None:
    c = EntityCorrelator()
    c.add(frame(make_alert(0, host="ws1", user="bob"), make_alert(5, host="ws1"),
                make_alert(6, host="ws2", user="eve")))
    sizes = sorted(i.size for i in c.incidents())
    assert sizes == [1, 2]


def test_window_is_sliding_per_entity() -> None:
    c = EntityCorrelator(CorrelationParams(window=timedelta(hours=2)))
    # hop every 90 minutes: each within the window of the previous sighting
    c.add(frame(*[make_alert(90 * i, host="ws1", title=f"a{i}") for i in range(5)]))
    assert [i.size for i in c.incidents()] == [5]
    c.add(frame(make_alert(90 * 4 + 200, host="ws1", title="late")))
    assert sorted(i.size for i in c.incidents()) == [1, 5]


def test_bridge_alert_merges_and_both_keep_history() -> None:
    c = EntityCorrelator()
    c.add(frame(make_alert(0, host="ws1"), make_alert(1, host="srv9")))
    first_ids = {i.id for i in c.incidents()}
    changes = c.add(frame(make_alert(2, host=("ws1", "srv9"), title="lateral")))
    assert [i.size for i in c.incidents()] == [3]
    survivor = c.incidents()[0]
    assert survivor.id in first_ids
    loser = (first_ids - {survivor.id}).pop()
    assert c.find(loser) == survivor.id
    assert c.incident(loser).id == survivor.id
    assert any(h.action == "merged" and h.detail["from"] == loser for h in survivor.history)
    assert any(ch.kind == "merged" for ch in changes)


def test_stop_listed_and_process_keys_do_not_link() -> None:
    c = EntityCorrelator()
    c.add(frame(make_alert(0, host="ws1", user="SYSTEM", process="powershell.exe"),
                make_alert(1, host="ws2", user="NT AUTHORITY\\SYSTEM",
                           process="powershell.exe")))
    assert len(c.incidents()) == 2


def test_hub_resolver_does_not_fuse_unrelated_hosts() -> None:
    c = EntityCorrelator(CorrelationParams(max_degree=5))
    alerts = [make_alert(i, detector="dns", ip=(f"10.0.0.{i}", "10.0.0.53"), title=f"q{i}")
              for i in range(1, 30)]
    c.add(frame(*alerts))
    assert "ip:10.0.0.53" in c.hubs_.hubs
    # the first few alerts were linked through the resolver before it was a hub: now split
    assert max(i.size for i in c.incidents()) == 1
    assert len(c.incidents()) == 29


def test_split_keeps_history_on_both_sides() -> None:
    c = EntityCorrelator(CorrelationParams(max_degree=3))
    c.add(frame(make_alert(0, ip=("10.0.0.1", "10.0.0.53")),
                make_alert(1, ip=("10.0.0.2", "10.0.0.53"))))
    assert len(c.incidents()) == 1
    c.add(frame(*[make_alert(2 + i, ip=(f"10.0.1.{i}", "10.0.0.53")) for i in range(4)]))
    incs = c.incidents()
    assert len(incs) == 6
    histories = [h.action for i in incs for h in i.history]
    assert "split" in histories and "split_from" in histories


def test_repeats_deduplicate_and_do_not_add_risk() -> None:
    once = EntityCorrelator()
    once.add(frame(make_alert(0, host="ws1", title="same")))
    many = EntityCorrelator()
    many.add(frame(*[make_alert(i, host="ws1", title="same") for i in range(20)]))
    inc = many.incidents()[0]
    assert inc.size == 20 and inc.distinct_alerts == 1
    assert inc.risk == pytest.approx(once.incidents()[0].risk)


def test_same_alert_twice_is_ignored_and_ids_are_deterministic() -> None:
    f = frame(make_alert(0, host="ws1"), make_alert(3, host="ws1", user="bob"))
    a, b = EntityCorrelator(), EntityCorrelator()
    a.add(f)
    a.add(f)
    b.add(f)
    assert [i.size for i in a.incidents()] == [2]
    assert [i.id for i in a.incidents()] == [i.id for i in b.incidents()]


def test_kill_chain_progression_raises_risk() -> None:
    ordered = EntityCorrelator()
    ordered.add(frame(make_alert(0, host="ws1", techniques=("T1566.001",)),
                      make_alert(10, host="ws1", techniques=("T1059.001",)),
                      make_alert(20, host="ws1", techniques=("T1003.001",)),
                      make_alert(30, host="ws1", techniques=("T1021.002",))))
    backwards = EntityCorrelator()
    backwards.add(frame(make_alert(0, host="ws1", techniques=("T1021.002",)),
                        make_alert(10, host="ws1", techniques=("T1003.001",)),
                        make_alert(20, host="ws1", techniques=("T1059.001",)),
                        make_alert(30, host="ws1", techniques=("T1566.001",))))
    inc_o, inc_b = ordered.incidents()[0], backwards.incidents()[0]
    assert inc_o.chain == 4 and inc_b.chain == 1
    assert inc_o.risk > inc_b.risk
    assert inc_o.tactics == ("initial-access", "execution", "credential-access",
                             "lateral-movement")


def test_changes_are_published_with_actor() -> None:
    bus = EventBus()
    seen: list[BusEvent] = []
    bus.subscribe(seen.append)
    c = EntityCorrelator(bus=bus)
    c.add(frame(make_alert(0, host="ws1"), make_alert(1, host="ws1")))
    assert [(e.kind, e.actor, e.payload["change"]) for e in seen] == [
        ("incident", "automation", "created")]
    inc = c.incidents()[0]
    c.set_status(inc.id, "closed", actor="alice", reason="handled")
    assert seen[-1].actor == "alice" and seen[-1].payload["to"] == "closed"
    assert c.incident(inc.id).history[-1].actor == "alice"
    with pytest.raises(MirrorguardError):
        c.set_status(inc.id, "merged", actor="alice")


def test_bad_input_raises() -> None:
    with pytest.raises(SchemaError):
        EntityCorrelator().add(frame(make_alert(0, host="a")).drop("detector"))
    with pytest.raises(ConfigError):
        CorrelationParams(window=timedelta(0))
