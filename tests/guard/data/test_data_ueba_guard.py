from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from tests.conftest import need_data

from mirrorguard.guard.data.frog import boiling_frog_scenario
from mirrorguard.guard.data.ueba_guard import GuardedUeba
from mirrorguard.guard.keys import Signer, Verifier, generate_keypair


def _frame(days: range, scale: dict[str, float], rng: np.random.Generator) -> pl.DataFrame:
    rows = []
    for d in days:
        for h in range(24):
            for host in ("ws1", "ws2"):
                for _ in range(3):
                    rows.append({"@timestamp": datetime(2024, 1, 1, tzinfo=UTC)
                                 + timedelta(days=d, hours=h), "host.name": host,
                                 "event.category": "network", "destination.ip": "192.0.2.1",
                                 "source.bytes": int(rng.lognormal(8, 0.3)
                                                     * scale.get(host, 1.0) ** d)})
    return pl.DataFrame(rows)


def test_guarded_ueba_holds_a_ramping_host() -> None:
    rng = np.random.default_rng(0)
    det = GuardedUeba(dimensions=("bytes_out",), rarity=("destination",), decay=0.9)
    det.fit(_frame(range(7), {}, rng))
    assert det.get_params()["decay"] == 0.9
    priv, pub = generate_keypair()
    signed = det.anchor(Signer(priv))
    for d in range(7, 30):
        det.learn(_frame(range(d, d + 1), {"ws1": 1.1}, rng))
    found = det.drift_findings()
    assert found.filter(pl.col("entity") == "ws1").height >= 1
    assert found.filter(pl.col("entity") == "ws2").height == 0
    assert det.held().tolist() == ["ws1|bytes_out"]
    other = GuardedUeba(dimensions=("bytes_out",), rarity=("destination",))
    other.fit(_frame(range(3), {}, rng))
    other.attach(signed, Verifier(pub))  # a stored anchor is re-attached after verification
    with pytest.raises(Exception, match="signature"):
        other.attach(signed, Verifier(generate_keypair()[1]))


def test_boiling_frog_scenario_on_real_sizes() -> None:
    folder = need_data("unsw_nb15")
    res = boiling_frog_scenario(folder, seed=1, windows=30, n_hosts=5, history_days=10)
    assert res["detected_guarded"] is True and res["detected_unguarded"] is False
    assert res["drift_flagged_window"] is not None and res["drift_flagged_window"] < 20


def test_a_restarted_guarded_ueba_keeps_its_budget() -> None:
    from mirrorguard.detect.registry import rebuild

    rng = np.random.default_rng(4)
    det = GuardedUeba(dimensions=("bytes_out",), rarity=("destination",), decay=0.9)
    det.fit(_frame(range(7), {}, rng))
    det.anchor(Signer(generate_keypair()[0]))
    for d in range(7, 12):
        det.learn(_frame(range(d, d + 1), {"ws1": 1.1}, rng))
    params = det.get_params()
    assert isinstance(params["budget"], dict | type(None))
    meta, arrays = det.get_state()
    again = rebuild("ueba_guarded", params, meta, arrays)
    assert isinstance(again, GuardedUeba) and again.updates_ == det.updates_
    for d in range(12, 30):
        day = _frame(range(d, d + 1), {"ws1": 1.1}, rng)
        det.learn(day)
        again.learn(day)
    assert again.held().tolist() == det.held().tolist() == ["ws1|bytes_out"]
    assert again.drift_findings().equals(det.drift_findings())
    tampered = {**meta, "budget": {**meta["budget"], "public_key": "00" * 32}}
    with pytest.raises(Exception, match=r"signature|key"):
        rebuild("ueba_guarded", params, tampered, arrays)
