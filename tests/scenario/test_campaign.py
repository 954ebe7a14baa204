from __future__ import annotations

import polars as pl
import pytest

from mirrorguard.scenario.campaign import C2_IP, VICTIM, generate_campaign

STAGES = ["initial_access", "execution", "command_and_control", "credential_access",
          "lateral_movement", "exfiltration"]


@pytest.fixture(scope="module")
def camp():  # type: ignore[no-untyped-def]
    return generate_campaign(seed=3, days=4, per_host_day=40)


def test_seeded_and_deterministic(camp) -> None:  # type: ignore[no-untyped-def]
    again = generate_campaign(seed=3, days=4, per_host_day=40)
    assert camp.events.equals(again.events)
    assert not generate_campaign(seed=4, days=4, per_host_day=40).events.equals(camp.events)


def test_stages_follow_the_kill_chain_in_time(camp) -> None:  # type: ignore[no-untyped-def]
    ev = camp.events
    first = []
    for s in STAGES:
        ids = camp.truth["stages"][s]
        assert ids, s
        first.append(ev.filter(pl.col("event.id").is_in(ids))["@timestamp"].min())
    assert first == sorted(first)
    c2 = ev.filter(pl.col("event.id").is_in(camp.truth["stages"]["command_and_control"]))
    assert set(c2["destination.ip"]) == {C2_IP} and set(c2["host.name"]) == {VICTIM}


def test_campaign_is_hidden_in_benign_days(camp) -> None:  # type: ignore[no-untyped-def]
    ev = camp.events
    assert ev["event.id"].n_unique() == ev.height
    assert len(camp.campaign_event_ids()) < 0.1 * ev.height
    span = ev["@timestamp"].max() - ev["@timestamp"].min()
    assert span.days >= 3
    assert {"windows.sysmon", "windows.security", "zeek.conn", "zeek.dns"} <= set(
        ev["event.dataset"].unique())
    with pytest.raises(ValueError):
        generate_campaign(days=2)
