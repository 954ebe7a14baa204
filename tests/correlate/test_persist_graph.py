from __future__ import annotations

import duckdb
from tests.correlate.conftest import frame, make_alert

from mirrorguard.correlate import CorrelationStore, EntityCorrelator, entity_graph, timeline


def _alerts():
    return frame(make_alert(0, host="ws1", user="bob", techniques=("T1059.001",)),
                 make_alert(5, host="ws1", ip="10.0.0.9", techniques=("T1003.001",)),
                 make_alert(6, host="ws1", ip="10.0.0.9", techniques=("T1003.001",)),
                 make_alert(9, host="ws7"))


def test_store_roundtrip_and_replay_gives_same_incidents(tmp_path) -> None:
    con = duckdb.connect(str(tmp_path / "s.duckdb"))
    cs = CorrelationStore(con)
    f = _alerts()
    assert cs.append_alerts(f) == 4
    assert cs.append_alerts(f) == 0
    live = EntityCorrelator()
    live.add(f)
    cs.save_incidents(live.incidents())
    stored = cs.incidents()
    assert stored["incident_id"].to_list() == [i.id for i in live.incidents()]
    assert stored["n_alerts"].sum() == 4
    again = cs.replay(EntityCorrelator())
    assert [i.id for i in again.incidents()] == [i.id for i in live.incidents()]
    top = live.incidents()[0]
    assert cs.incident_alerts(top.id).height == top.size


def test_timeline_and_graph() -> None:
    c = EntityCorrelator()
    c.add(_alerts())
    top = max(c.incidents(), key=lambda i: i.size)
    tl = timeline(c, top.id)
    assert [r["tactics"] for r in tl] == [["execution"], ["credential-access"],
                                          ["credential-access"]]
    g = entity_graph(c, top.id)
    ids = {n["id"] for n in g["nodes"]}
    assert ids == {"host:ws1", "user:bob", "ip:10.0.0.9"}
    w = {(e["source"], e["target"]): e["weight"] for e in g["edges"]}
    assert w[("host:ws1", "ip:10.0.0.9")] == 2
