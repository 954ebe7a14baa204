"""Auth detectors: windows, policy floors, explanations, alerts, saved state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from mirrorguard.detect.auth import BruteForce, PasswordSpray, SuccessAfterFailures, SudoSuAbuse
from mirrorguard.detect.auth_common import windowed
from mirrorguard.detect.auth_newsource import NewSourceForUser, network
from mirrorguard.features.transforms import NotFittedError

T0 = datetime(2024, 5, 1, 3, 0, tzinfo=UTC)


def frame(msgs: list[str], step_s: float = 10.0, **extra: list[object]) -> pl.DataFrame:
    times = [T0 + timedelta(seconds=step_s * i) for i in range(len(msgs))]
    return pl.DataFrame({"@timestamp": times, "message": msgs,
                         "event.id": [f"e{i}" for i in range(len(msgs))], **extra})


def fails(src: str, users: list[str]) -> list[str]:
    return [f"Failed password for {u} from {src} port 22 ssh2" for u in users]


def test_windowed_aligns_rows_across_entities_and_ties() -> None:
    f = pl.DataFrame({"__row": [0, 1, 2, 3], "k": ["b", "a", "b", "a"],
                      "@timestamp": [T0, T0, T0, T0 + timedelta(minutes=20)]})
    out = windowed(f, "k", "10m", [pl.len().alias("n")]).sort("__row")
    assert out["n"].to_list() == [1, 1, 2, 1]


def test_bruteforce_counts_failures_per_source_in_window() -> None:
    X = frame(fails("203.0.113.66", ["root"] * 6) + fails("198.51.100.1", ["ann"]))
    det = BruteForce().fit(X.head(0))
    assert det.threshold_ == 4.0 and det.policy_ is None
    s = det.score(X)
    assert s.tolist() == [1, 2, 3, 4, 5, 6, 1]
    alerts = det.alerts(X)
    assert len(alerts) == 1 and alerts[0].entities == {"ip": ("203.0.113.66",)}
    assert alerts[0].explanation.text.startswith("6 failed logons (ssh) for 1 users from 203.0")
    assert set(alerts[0].evidence) == {"e4", "e5"}


def test_bruteforce_window_expires() -> None:
    X = frame(fails("203.0.113.66", ["root"] * 6), step_s=300)
    assert BruteForce(window="10m").fit(X.head(0)).score(X).max() == 2


def test_policy_can_only_raise_the_floor() -> None:
    noisy = frame(fails("192.0.2.9", ["svc"] * 60), step_s=1)
    det = BruteForce(target_fpr=0.01).fit(noisy)
    assert det.policy_ is not None and det.threshold_ >= 59
    assert BruteForce(floor=4).fit(frame(["ok"] * 60)).threshold_ == 4.0


def test_password_spray_counts_distinct_users() -> None:
    X = frame([*fails("203.0.113.7", [f"user{i}" for i in range(8)]), *fails("192.0.2.2", ["a"] * 8)])
    det = PasswordSpray().fit(X.head(0))
    s = det.score(X)
    assert s[:8].tolist() == list(range(1, 9)) and s[8:].max() == 1
    text = det.alerts(X)[0].explanation.text
    assert "8 distinct users (user0, user1" in text and "203.0.113.7" in text


def test_success_after_failures_names_the_account() -> None:
    msgs = fails("203.0.113.66", [f"u{i}" for i in range(5)])
    msgs.append("Accepted password for oracle from 203.0.113.66 port 22 ssh2")
    msgs.append("Accepted password for ann from 10.1.1.1 port 22 ssh2")
    X = frame(msgs)
    det = SuccessAfterFailures().fit(X.head(0))
    s = det.score(X)
    assert s[5] == 5 and s[6] == 0 and s[:5].sum() == 0
    (alert,) = det.alerts(X)
    assert alert.explanation.text.endswith("then success for oracle")


def test_sudo_su_abuse_uses_parsed_sudo_events() -> None:
    n = 4
    X = pl.DataFrame({
        "@timestamp": [T0 + timedelta(seconds=i) for i in range(n)],
        "event.action": ["sudo_command", "sudo_command", "su", "sudo_command"],
        "event.outcome": ["failure", "failure", "failure", "success"],
        "user.name": ["mallory"] * 3 + ["bob"],
        "process.command_line": ["/bin/ls", "/bin/ls", None, "/bin/bash -i"],
        "message": [""] * n})
    det = SudoSuAbuse().fit(X.head(0))
    assert det.score(X).tolist() == [1.0, 2.0, 3.0, 3.0]
    texts = {a.entities["user"][0]: a.explanation.text for a in det.alerts(X)}
    assert "3 failed sudo/su by mallory" in texts["mallory"]
    assert "'/bin/bash -i'" in texts["bob"]


def test_new_source_for_user_learns_networks_and_round_trips() -> None:
    hist = frame([f"Accepted password for ann from 10.0.0.{i} port 22 ssh2" for i in range(9)]
                 + ["Accepted password for bob from 10.9.9.9 port 22 ssh2"])
    det = NewSourceForUser().fit(hist)
    new = frame(["Accepted password for ann from 198.51.100.9 port 22 ssh2",
                 "Accepted password for ann from 10.0.0.200 port 22 ssh2",
                 "Accepted password for eve from 198.51.100.9 port 22 ssh2",
                 "Failed password for ann from 198.51.100.9 port 22 ssh2"])
    s = det.score(new)
    assert s[0] == pytest.approx(0.9) and s[1:].tolist() == [0.0, 0.0, 0.0]
    params, (meta, arrays) = det.get_params(), det.get_state()
    assert all(a.dtype != object for a in arrays.values())
    again = NewSourceForUser.from_state(params, meta, arrays)
    np.testing.assert_array_equal(again.score(new), s)
    assert "never seen in 9 earlier logons" in det.alerts(new)[0].explanation.text


def test_network_prefixes() -> None:
    s = pl.Series(["10.1.2.3", "2001:db8:1:2:3::1", "host.example"])
    assert pl.select(network(pl.lit(s))).to_series().to_list() == [
        "10.1.2", "2001:db8:1:2:", "host.example"]


def test_unfitted_and_inputs_untouched_and_state() -> None:
    X = frame(fails("203.0.113.66", ["root"] * 3))
    before = X.clone()
    with pytest.raises(NotFittedError):
        BruteForce().predict(X)
    det = BruteForce().fit(X)
    assert X.equals(before)
    params, (meta, arrays) = det.get_params(), det.get_state()
    again = BruteForce.from_state(params, meta, arrays)
    assert again.threshold_ == det.threshold_
    np.testing.assert_array_equal(again.score(X), det.score(X))


def test_rows_without_time_or_source_score_zero() -> None:
    X = pl.DataFrame({"message": [*fails("203.0.113.66", ["root"] * 3), "Failed password"]})
    assert BruteForce().fit(X.head(0)).score(X).tolist() == [0, 0, 0, 0]
