"""Warning-lists (built-in and MISP format) and the decay model."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from mirrorguard.detect.intel import DecayModel, IntelFormatError, WarningList, WarningLists
from mirrorguard.detect.intel.decay import sighting_summary
from mirrorguard.detect.intel.model import sighting_frame
from mirrorguard.detect.intel.warninglists import builtin_lists


def _check(wl: WarningLists, pairs: list[tuple[str, str]]) -> list[str | None]:
    frame = pl.DataFrame(pairs, schema=["g", "v"], orient="row")
    return wl.check(frame, "g", "v").to_list()


def test_builtin_lists() -> None:
    names = {w.name for w in builtin_lists()}
    assert len(names) == 4
    wl = WarningLists(builtin_lists())
    got = _check(wl, [("ip", "8.8.8.8"), ("ip", "10.20.30.40"), ("ip", "2606:4700:4700::1111"),
                      ("ip", "198.51.100.1"), ("domain", "e123.a.akamaiedge.net"),
                      ("domain", "notakamaiedge.net"), ("email", "x@example.com"),
                      ("url", "http://printer.local/x"), ("md5", "8.8.8.8")])
    assert [g is not None for g in got] == [True, True, True, False, True, False, True, True,
                                            False]


def test_misp_warninglist_types(tmp_path: Path) -> None:
    path = tmp_path / "wl.json"
    path.write_text(json.dumps({"name": "corp", "type": "string", "list": ["Good.Example"],
                                "matching_attributes": ["hostname", "domain"]}))
    lists = [WarningList.from_file(path),
             WarningList.from_dict({"name": "sub", "type": "substring", "list": ["windowsupdate"]}),
             WarningList.from_dict({"name": "re", "type": "regex", "list": [r"^[0-9a-f]{4}$"]})]
    wl = WarningLists(lists)
    assert _check(wl, [("domain", "good.example"), ("url", "good.example"),
                       ("url", "http://x.windowsupdate.com/"), ("md5", "abcd"),
                       ("md5", "abcde")]) == ["corp", None, "sub", "re", None]
    with pytest.raises(IntelFormatError):
        WarningList.from_dict({"name": "x", "type": "fuzzy", "list": []})
    with pytest.raises(IntelFormatError):
        WarningList.from_dict({"type": "string"})


T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _hits(**cols: list[object]) -> pl.DataFrame:
    n = len(next(iter(cols.values())))
    base: dict[str, list[object]] = {
        "@timestamp": [T0] * n, "indicator.type": ["domain"] * n,
        "indicator.confidence": [100] * n, "indicator.last_seen": [T0] * n,
        "indicator.valid_from": [None] * n, "indicator.decay_lifetime_days": [None] * n,
        "indicator.decay_speed": [None] * n, "_last_pos": [None] * n, "_pos": [0] * n,
        "_fp": [0] * n}
    base.update(cols)
    ts = pl.Datetime("us", "UTC")
    return pl.DataFrame(base, schema_overrides={"@timestamp": ts, "indicator.last_seen": ts,
                                                "indicator.valid_from": ts, "_last_pos": ts,
                                                "indicator.decay_lifetime_days": pl.Float64,
                                                "indicator.decay_speed": pl.Float64})


def test_decay_formula_follows_misp_polynomial() -> None:
    days = [0, 45, 90, 200, -5]
    h = _hits(**{"@timestamp": [T0 + timedelta(days=d) for d in days]})
    got = h.select(DecayModel(speed=1.0).score_expr()).to_series().to_list()
    tau = 90.0  # default lifetime of domains; δ=1 is linear
    want = [100 * (1 - min(max(d, 0) / tau, 1.0)) for d in days]
    assert got == pytest.approx(want)
    h = _hits(**{"@timestamp": [T0 + timedelta(days=45)], "indicator.decay_speed": [0.5],
                 "indicator.decay_lifetime_days": [180.0], "indicator.confidence": [None]})
    assert h.select(DecayModel().score_expr()).item() == pytest.approx(50 * (1 - 0.25 ** 2))


def test_sightings_reset_the_clock_and_false_positives_lower_the_score() -> None:
    sig = sighting_frame([
        {"indicator.id": "a", "sighting.count": 3, "sighting.last_seen": T0 + timedelta(days=60)},
        {"indicator.id": "a", "sighting.false_positive": True},
        {"indicator.id": "b", "sighting.false_positive": True, "sighting.count": 2}])
    summary = {r["indicator.id"]: r for r in sighting_summary(sig).iter_rows(named=True)}
    assert summary["a"]["_pos"] == 3 and summary["a"]["_fp"] == 1
    assert summary["b"]["_pos"] == 0 and summary["b"]["_fp"] == 2
    at = T0 + timedelta(days=60)
    h = _hits(**{"@timestamp": [at, at, at], "_last_pos": [summary["a"]["_last_pos"], None, None],
                 "_pos": [3, 0, 0], "_fp": [1, 0, 2]})
    a, plain, b = h.select(DecayModel(speed=1.0).score_expr()).to_series().to_list()
    assert a == pytest.approx(100 * (1 - 1 / 5))  # clock reset by the sighting; 1 FP of 4
    assert plain == pytest.approx(100 * (1 - 60 / 90))
    assert b == pytest.approx(plain / 3)  # two FP reports and no sighting: 1 - 2/3
