from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Self

import numpy as np
import polars as pl
import pytest
from pydantic import ValidationError

from mirrorguard.bus import BusEvent, EventBus
from mirrorguard.config.settings import GuardSettings
from mirrorguard.detect.base import Detector
from mirrorguard.detect.ensemble import FlowAnomalyEnsemble
from mirrorguard.errors import ConfigError
from mirrorguard.guard.data import (
    FitScreenPolicy,
    PoisoningBlocked,
    active_policy,
    screen_for_fit,
    training_screen,
)
from mirrorguard.guard.data.fit_policy import policy_from_settings
from mirrorguard.guard.data.fit_screen import stratified_chunks
from mirrorguard.guard.data.labels import LabelParams
from mirrorguard.guard.data.screen import ScreenConfig
from mirrorguard.guard.ledger.duckdb_backend import DuckDBLedgerBackend
from mirrorguard.guard.ledger.ledger import Ledger
from mirrorguard.guard.ledger.subscriber import LedgerSubscriber
from mirrorguard.testing.detectors import round_trip

from .conftest import blobs

FAST = ScreenConfig(labels=LabelParams(n_estimators=30, folds=3), backdoor=False)


class Recorder(Detector):
    """Keeps what ``fit`` was given; ``id`` is excluded (the screen must not see it)."""

    name = "recorder"

    def __init__(self, exclude: Sequence[str] = ("id",)) -> None:
        self.exclude = exclude

    def fit(self, X: pl.DataFrame, y: np.ndarray | None = None) -> Self:
        self.seen_X_ = X
        self.seen_y_ = y
        return self

    def score(self, X: pl.DataFrame) -> np.ndarray:
        return np.zeros(X.height)


class Outer(Detector):
    """A detector whose fit fits another detector (as the hybrid fits its parts)."""

    name = "outer"

    def __init__(self) -> None:
        pass

    def fit(self, X: pl.DataFrame, y: np.ndarray | None = None) -> Self:
        self.inner_ = Recorder().fit(X, y)
        return self

    def score(self, X: pl.DataFrame) -> np.ndarray:
        return np.zeros(X.height)


class Compiled(Recorder):
    name = "compiled"
    fit_screen_exempt = "rules are compiled; nothing is learned from X"

    def fit(self, X: pl.DataFrame, y: np.ndarray | None = None) -> Self:
        return super().fit(X, y)


def _flipped(n: int = 400, k: int = 20, seed: int = 4) -> tuple[pl.DataFrame, np.ndarray,
                                                                 np.ndarray]:
    X, y = blobs(n, seed=seed)
    rows = np.random.default_rng(seed).choice(n, k, replace=False)
    y[rows] = 1 - y[rows]
    return X.with_row_index("id"), y, rows


def _events(bus: EventBus) -> list[BusEvent]:
    seen: list[BusEvent] = []
    bus.subscribe(seen.append)
    return seen


def _pol(policy: str, **kw: object) -> FitScreenPolicy:
    return FitScreenPolicy(policy=policy, config=FAST, **kw)  # type: ignore[arg-type]


def test_quarantine_removes_flipped_rows_before_the_detector_sees_them() -> None:
    X, y, rows = _flipped()
    with training_screen(_pol("quarantine")):
        det = Recorder().fit(X, y)
    seen = det.seen_X_["id"].to_numpy()
    assert det.seen_X_.height < 400 and len(det.seen_y_) == det.seen_X_.height
    assert np.isin(rows, seen).mean() <= 0.1  # the flipped rows were not given to the detector
    assert det.seen_X_.columns == X.columns  # the whole frame, excluded columns included
    kept = np.isin(np.arange(400), seen)
    assert np.array_equal(det.seen_y_, y[kept])  # labels stay aligned with their rows
    rep = det.screen_report_
    assert rep is not None and rep["mode"] == "labelled" and rep["rows_kept"] == kept.sum()
    assert rep["screen"]["findings"][0]["kind"] == "label_flip"
    json.dumps(rep)


def test_findings_below_quarantine_at_keep_their_rows() -> None:
    X, y, _ = _flipped()
    with training_screen(_pol("quarantine", quarantine_at="critical")):
        det = Recorder().fit(X, y)
    assert det.seen_X_ is X
    rep = det.screen_report_
    assert rep is not None and rep["screen"]["quarantined_rows"] == 0
    assert rep["screen"]["findings"][0]["kind"] == "label_flip"
    assert FitScreenPolicy().screen_config().backdoor is False  # nothing to drop without a ref
    assert FitScreenPolicy().screen_config(X).backdoor is True


def test_block_raises_and_leaves_the_detector_unfitted() -> None:
    X, y, _ = _flipped()
    det = Recorder()
    with training_screen(_pol("block")), pytest.raises(PoisoningBlocked) as info:
        det.fit(X, y)
    assert not det.is_fitted() and not hasattr(det, "screen_report_")
    assert "recorder" in info.value.message and info.value.report.n_rows == 400


def test_warn_keeps_every_row_and_records_the_findings() -> None:
    X, y, rows = _flipped()
    with training_screen(_pol("warn")):
        det = Recorder().fit(X, y)
    assert det.seen_X_ is X and det.seen_y_ is y
    rep = det.screen_report_
    assert rep is not None and rep["rows_kept"] == 400
    flip = next(f for f in rep["screen"]["findings"] if f["kind"] == "label_flip")
    assert np.isin(rows, flip["rows"]).mean() >= 0.9


def test_off_does_nothing_and_says_so() -> None:
    X, y, _ = _flipped()
    bus = EventBus()
    seen = _events(bus)
    with training_screen(_pol("off"), bus=bus):
        det = Recorder().fit(X, y)
    assert det.seen_X_ is X and det.screen_report_ is None
    assert [e.payload["status"] for e in seen] == ["off"]


def test_nested_fits_are_screened_once() -> None:
    X, y, _ = _flipped()
    bus = EventBus()
    seen = _events(bus)
    with training_screen(_pol("quarantine"), bus=bus):
        outer = Outer().fit(X, y)
    assert len(seen) == 1 and seen[0].payload["detector"] == "outer"
    assert seen[0].kind == "model" and seen[0].payload["screen"]["findings"]
    assert outer.screen_report_ is not None and not hasattr(outer.inner_, "screen_report_")
    assert outer.inner_.seen_X_.height == outer.screen_report_["rows_kept"] < 400


def test_exempt_detectors_are_not_screened() -> None:
    X, y, _ = _flipped()
    with training_screen(_pol("block")):
        det = Compiled().fit(X, y)
    assert det.seen_X_ is X and not hasattr(det, "screen_report_")


def test_small_frames_are_skipped_untouched() -> None:
    X, y, _ = _flipped()
    small, ys = X.head(150), y[:150]
    det = Recorder().fit(small, ys)  # default policy: quarantine, min_rows 200
    assert det.seen_X_ is small and det.seen_y_ is ys
    rep = det.screen_report_
    assert rep is not None and rep["status"] == "skipped"
    assert any("min_rows" in note for note in rep["notes"])


def _flooded(n: int = 400, copies: int = 150) -> pl.DataFrame:
    rng = np.random.default_rng(0)
    return pl.DataFrame({
        "@timestamp": np.r_[rng.integers(0, 10**12, n), np.full(copies, 10**11)],
        "bytes": np.r_[rng.lognormal(8, 1, n), np.full(copies, 1234.0)],
        "proto": rng.choice(["tcp", "udp"], n).tolist() + ["tcp"] * copies,
        # free text: never hashed into the pattern, so distinct messages do not hide the flood
        "message": [f"login {i} from {rng.integers(1 << 30)}" for i in range(n + copies)],
    }).with_columns(pl.from_epoch("@timestamp", time_unit="ms"))


def test_replayed_timestamped_records_are_found_and_trimmed() -> None:
    X = _flooded()
    bus = EventBus()
    seen = _events(bus)
    with training_screen(bus=bus):
        det = Recorder().fit(X)
    rep = det.screen_report_
    assert rep is not None and rep["mode"] == "unlabelled" and det.seen_y_ is None
    (flood,) = rep["screen"]["findings"]
    assert flood["kind"] == "duplicate_flood" and flood["severity"] == "high"
    assert flood["quarantine"] and flood["evidence"]["timestamped"]
    cap = flood["evidence"]["cap"]
    assert flood["n_rows"] == 150 - cap and det.seen_X_.height == 400 + cap
    assert flood["evidence"]["example"]["bytes"] == 1234.0
    assert any("message" in note for note in rep["notes"])
    assert seen[0].payload["screen"]["findings"][0]["rows"] == []  # the bus gets no row lists


def test_untimed_floods_are_reported_for_review_not_dropped() -> None:
    X = _flooded().drop("@timestamp")
    det = Recorder().fit(X)
    (flood,) = det.screen_report_["screen"]["findings"]  # type: ignore[index]
    assert flood["kind"] == "duplicate_flood" and flood["severity"] == "medium"
    assert not flood["quarantine"] and det.seen_X_ is X


def test_natural_repetition_is_not_a_flood() -> None:
    rng = np.random.default_rng(1)
    # low variety: three ports, two protocols
    X = pl.DataFrame({"port": rng.choice([22, 80, 443], 1000, p=[0.1, 0.3, 0.6]),
                      "proto": rng.choice(["tcp", "udp"], 1000).tolist()})
    # coarse columns only: most HDFS sessions have 19 events
    hdfs = pl.DataFrame({"n_events": np.r_[np.full(550, 19), rng.integers(2, 30, 450)],
                         "Label": ["Normal"] * 1000})
    for frame in (X, hdfs):
        det = Recorder().fit(frame)
        assert det.seen_X_ is frame
        assert det.screen_report_ is not None and det.screen_report_["screen"]["findings"] == []
        assert any("no flood check" in n for n in det.screen_report_["notes"])


def test_infinite_values_are_quarantined_nan_and_null_are_not() -> None:
    rng = np.random.default_rng(2)
    a = rng.normal(size=300)
    a[[3, 7]] = [np.inf, -np.inf]
    a[10] = np.nan
    X = pl.DataFrame({"a": a, "b": [None, *rng.normal(size=299).tolist()]})
    det = Recorder().fit(X)
    assert det.seen_X_.height == 298 and not np.isinf(det.seen_X_["a"].to_numpy()).any()
    (f,) = det.screen_report_["screen"]["findings"]  # type: ignore[index]
    assert f["kind"] == "non_finite" and f["rows"] == [3, 7]


def test_stratified_chunks_partition_rows_and_keep_the_class_mix() -> None:
    y = np.r_[np.zeros(900, dtype=int), np.ones(100, dtype=int)]
    chunks = stratified_chunks(y, 300, seed=0)
    assert len(chunks) == 4 and all(c.size <= 300 for c in chunks)
    assert np.array_equal(np.sort(np.concatenate(chunks)), np.arange(1000))
    assert all(y[c].sum() == 25 for c in chunks)
    assert [c.tolist() for c in stratified_chunks(y, 300, seed=0)] == [c.tolist() for c in chunks]
    assert len(stratified_chunks(y, 1000)) == 1


def test_chunked_screen_catches_flips_in_every_chunk() -> None:
    X, y, rows = _flipped(n=600, k=30, seed=5)
    pol = _pol("warn", min_rows=100, chunk_rows=200)
    _, _, rep = screen_for_fit(Recorder(), X, y, pol)
    assert rep is not None and rep.chunks == 3 and rep.report is not None
    assert rep.report.quarantined.shape == (600,)
    flips = [f for f in rep.report.findings if f.kind == "label_flip"]
    assert len(flips) == 3  # one per chunk, rows mapped back to positions in the whole frame
    for i, f in enumerate(flips):
        assert f.evidence["chunk"] == i and f.title.startswith(f"[chunk {i + 1}/3]")
    assert rep.report.quarantined[rows].mean() >= 0.9
    assert rep.report.quarantined.sum() <= 45


def test_results_reach_the_ledger() -> None:
    X, y, _ = _flipped()
    ledger = Ledger(DuckDBLedgerBackend(":memory:"), flush_every=1)
    bus = EventBus()
    LedgerSubscriber(ledger).attach(bus)
    with training_screen(_pol("quarantine"), bus=bus, actor="ci"):
        Recorder().fit(X, y)
    assert ledger.next_seq == 1


def test_reference_shift_for_unlabelled_fits() -> None:
    rng = np.random.default_rng(3)
    ref = pl.DataFrame({"a": rng.normal(0, 1, 500), "b": rng.normal(0, 1, 500)})
    X = pl.DataFrame({"a": rng.normal(3, 1, 500), "b": rng.normal(0, 1, 500)})
    with training_screen(FitScreenPolicy(policy="warn", reference=ref)):
        det = Recorder().fit(X)
        other = Recorder().fit(X.rename({"b": "c"}))
    (f,) = det.screen_report_["screen"]["findings"]  # type: ignore[index]
    assert f["kind"] == "shift" and f["severity"] == "medium"
    assert f["evidence"]["columns"][0]["column"] == "a"
    assert any("reference lacks" in n for n in other.screen_report_["notes"])  # type: ignore[index]


def test_real_detector_state_round_trip_and_identical_refits() -> None:
    rng = np.random.default_rng(4)
    X = pl.DataFrame({"a": rng.normal(size=400), "b": rng.exponential(size=400)})
    y = (X["a"].to_numpy() > 1.0).astype(int)

    def make() -> FlowAnomalyEnsemble:
        return FlowAnomalyEnsemble(members=("hbos", "ecod"), seed=0)

    with training_screen(_pol("quarantine")):
        det, again = make().fit(X, y), make().fit(X, y)
    assert det.screen_report_ is not None and det.screen_report_["status"] == "screened"
    assert np.array_equal(det.score(X), again.score(X))
    assert np.array_equal(round_trip(det).score(X), det.score(X))


def test_context_nesting_and_settings() -> None:
    assert active_policy().policy == "quarantine"
    with training_screen(FitScreenPolicy(chunk_rows=5000)):
        with training_screen("warn") as inner:
            assert inner.policy == "warn" and inner.chunk_rows == 5000
        assert active_policy().policy == "quarantine"
    assert active_policy().chunk_rows == 20_000
    with pytest.raises(ConfigError):
        FitScreenPolicy(policy="delete")
    with pytest.raises(ValidationError):
        GuardSettings(training_policy="delete")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        GuardSettings(training_chunk_rows=10)
    pol = policy_from_settings(GuardSettings(training_policy="block", training_chunk_rows=5000))
    assert (pol.policy, pol.chunk_rows) == ("block", 5000)
    assert policy_from_settings(GuardSettings(), override="warn").policy == "warn"
