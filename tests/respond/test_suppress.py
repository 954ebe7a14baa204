from __future__ import annotations

from datetime import timedelta

import duckdb
import pytest
from tests.correlate.conftest import T0, frame, make_alert

from mirrorguard.bus import BusEvent, EventBus
from mirrorguard.correlate import CorrelationStore, EntityCorrelator
from mirrorguard.errors import ConfigError, MirrorguardError, StoreError
from mirrorguard.respond import AlertBudget, Suppression, SuppressionBook, build_queue
from mirrorguard.respond.suppress import matches

NOW = T0 + timedelta(days=1)


def _alerts():
    return frame(
        make_alert(0, detector="ueba", host="backup01", title="volume"),
        make_alert(1, detector="ueba", host="backup01", user="svc_bk", title="volume2"),
        make_alert(2, detector="sigma", host="backup01", title="rule-x",
                   techniques=("T1059.001",)),
        make_alert(3, detector="ueba", host="ws7", title="volume"),
    )


def test_scope_is_a_conjunction_and_empty_scope_refused() -> None:
    r = Suppression.create(reason="backups", created_by="alice", now=T0, detector="ueba",
                           entities=("host:BACKUP01.corp.local",))
    hits = matches([r], _alerts(), NOW)
    assert hits.is_not_null().to_list() == [True, True, False, False]
    tech = Suppression.create(reason="x", created_by="a", now=T0,
                              fields={"attack.techniques": "T1059.001"})
    assert matches([tech], _alerts(), NOW).is_not_null().to_list() == [False, False, True, False]
    with pytest.raises(ConfigError):
        Suppression.create(reason="everything", created_by="a", now=T0)
    with pytest.raises(ConfigError):
        Suppression.create(reason="x", created_by="a", now=T0, fields={"nope": "1"})
    with pytest.raises(ConfigError):
        Suppression.create(reason="x", created_by="a", now=T0, entities=("ws1",))


def test_expiry() -> None:
    r = Suppression.create(reason="maint", created_by="a", now=T0, detector="ueba",
                           ttl=timedelta(hours=2))
    assert matches([r], _alerts(), T0 + timedelta(hours=1)).is_not_null().sum() == 3
    assert matches([r], _alerts(), T0 + timedelta(hours=3)).is_not_null().sum() == 0


def _stored_book(bus: EventBus | None = None) -> tuple[SuppressionBook, EntityCorrelator]:
    con = duckdb.connect()
    cs = CorrelationStore(con)
    cs.append_alerts(_alerts())
    c = EntityCorrelator()
    c.add(_alerts())
    cs.save_incidents(c.incidents())
    con.execute("CREATE TABLE verdicts (target_id VARCHAR, label VARCHAR, accepted BOOLEAN)")
    tp_inc = c.incident_of(_alerts()["alert.id"][0])
    con.execute("INSERT INTO verdicts VALUES (?, 'true_positive', true)", [tp_inc])
    return SuppressionBook(con, bus), c


def test_preview_counts_hidden_and_true_positive_alerts() -> None:
    book, _ = _stored_book()
    r = Suppression.create(reason="noisy", created_by="alice", now=NOW, detector="ueba")
    p = book.preview(r, days=30, now=NOW)
    assert (p.alerts, p.incidents, p.true_positive_alerts) == (3, 2, 2)
    assert p.by_detector == {"ueba": 3}
    assert "3 alerts in 30 days" in p.text() and "2 of them" in p.text()
    old = book.preview(r, days=30, now=NOW + timedelta(days=60))
    assert old.alerts == 0
    with pytest.raises(StoreError):
        SuppressionBook().preview(r, days=30, now=NOW)


def test_rules_apply_to_stored_alerts_persist_and_publish() -> None:
    bus = EventBus()
    seen: list[BusEvent] = []
    bus.subscribe(seen.append)
    book, c = _stored_book(bus)
    r = Suppression.create(reason="noisy", created_by="alice", now=NOW, detector="ueba")
    assert book.add(r, actor="alice", now=NOW) == 0  # a whole detector: held (two-person rule)
    assert book.is_pending(r.id) and book.rules(NOW) == [] and book.pending() == [r]
    assert book.approve(r.id, approver="bob", now=NOW) == 3
    assert book.add(r, actor="alice", now=NOW) == 3  # idempotent by scope, stays in force
    assert book.con is not None
    rows = book.con.execute("SELECT count(*) FROM suppressed_alerts").fetchall()[0][0]
    assert rows == 3
    reopened = SuppressionBook(book.con)
    assert [x.id for x in reopened.rules(NOW)] == [r.id]
    q = build_queue(c, _alerts(), now=NOW, book=reopened)
    assert q.hidden_incidents == 1  # the ws7 incident held only a ueba alert
    assert [i.incident.size for i in q.items] == [1] and q.items[0].suppressed == 2
    reopened.remove(r.id, actor="bob", now=NOW)
    assert len(build_queue(c, _alerts(), now=NOW, book=reopened).items) == 2
    assert [(e.kind, e.actor, e.payload["change"]) for e in seen] == [
        ("suppression", "alice", "held"), ("suppression", "bob", "approved"),
        ("suppression", "alice", "added")]


def test_two_person_rule_for_detector_wide_and_large_suppressions() -> None:
    book, _ = _stored_book()
    r = Suppression.create(reason="noisy", created_by="alice", now=NOW, detector="ueba")
    book.add(r, actor="alice", now=NOW)
    for who in ("alice", "automation", " "):
        with pytest.raises(ConfigError):
            book.approve(r.id, approver=who, now=NOW)
    assert book.is_pending(r.id)
    reopened = SuppressionBook(book.con)  # pending survives a restart
    assert reopened.is_pending(r.id) and reopened.rules(NOW) == []
    scoped = Suppression.create(reason="backup box", created_by="alice", now=NOW,
                                detector="ueba", entities=("host:backup01",))
    assert not reopened.needs_second_person(scoped, NOW)  # narrow: one person is enough
    strict = SuppressionBook(book.con, two_person_hidden=2)
    assert strict.needs_second_person(scoped, NOW)  # ...unless it hides many stored alerts
    with pytest.raises(MirrorguardError):
        reopened.approve("sup-unknown", approver="bob", now=NOW)


def test_budget_keeps_top_scored_per_detector_and_day() -> None:
    f = frame(*[make_alert(i, detector="ueba", score=i / 10, host=f"h{i}") for i in range(5)],
              make_alert(6, detector="sigma", host="h9"))
    over = AlertBudget({"ueba": 2}).over_budget(f).to_list()
    assert over == [True, True, True, False, False, False]
    c = EntityCorrelator()
    c.add(f)
    q = build_queue(c, f, now=NOW, budget=AlertBudget({"ueba": 2}))
    assert len(q.items) == 3 and q.hidden_incidents == 3
    with pytest.raises(ConfigError):
        AlertBudget({"x": -1})
