"""The model registry: lineage, stages, gated promotion, rollback, pinning, events."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import polars as pl
import pytest

from mirrorguard.bus import BusEvent, EventBus
from mirrorguard.detect.base import Detector
from mirrorguard.errors import StoreError, UnsafeArtifactError
from mirrorguard.guard.artifacts.canonical import fingerprint_frame
from mirrorguard.guard.artifacts.detector_io import save_detector
from mirrorguard.guard.artifacts.manifest import Lineage
from mirrorguard.guard.artifacts.registry import (
    GateResult,
    ModelRegistry,
    PromotionRequest,
)
from mirrorguard.guard.keys import Signer, Verifier


@pytest.fixture
def versions(tmp_path: Path, keys: tuple[Signer, Verifier], detector_cls: type[Detector],
             table: tuple[pl.DataFrame, np.ndarray]) -> list[Path]:
    """Three versions of one detector, each the child of the previous one."""
    df = table[0]
    paths, parent = [], None
    for i, clip in enumerate((5.0, 10.0, 20.0)):
        det = detector_cls(clip=clip).fit(df)  # type: ignore[call-arg]
        lineage = Lineage(fingerprint_frame(df, "synthetic"), (f"ingest-{i}",), parent)
        m = save_detector(det, tmp_path / f"v{i}", keys[0], lineage, name="flows",
                          metrics={"auc": 0.8 + i / 100})
        paths.append(tmp_path / f"v{i}")
        parent = m.model_id
    return paths


@pytest.fixture
def bus_events() -> tuple[EventBus, list[BusEvent]]:
    bus, seen = EventBus(), list[BusEvent]()
    bus.subscribe(seen.append)
    return bus, seen


def test_register_records_lineage_and_versions(
    versions: list[Path], keys: tuple[Signer, Verifier],
    bus_events: tuple[EventBus, list[BusEvent]],
) -> None:
    reg = ModelRegistry(duckdb.connect(), keys[1], bus=bus_events[0])
    recs = [reg.register(p, "ci", "nightly") for p in versions]
    assert [r.version for r in recs] == [1, 2, 3]
    assert all(r.stage == "candidate" for r in recs)
    assert recs[2].manifest.lineage.parent_model_id == recs[1].model_id
    assert recs[1].to_json()["metrics"] == {"auc": 0.81}
    assert [e.payload["event"] for e in bus_events[1]] == ["register"] * 3
    assert bus_events[1][0].kind == "model" and bus_events[1][0].actor == "ci"
    with pytest.raises(StoreError, match="already registered"):
        reg.register(versions[0])


def test_register_refuses_unverifiable_models(
    versions: list[Path], other_keys: tuple[Signer, Verifier],
) -> None:
    reg = ModelRegistry(duckdb.connect(), other_keys[1])
    with pytest.raises(UnsafeArtifactError, match="not trusted"):
        reg.register(versions[0])
    assert reg.versions() == []


def test_promote_then_rollback_walks_production_history(
    versions: list[Path], keys: tuple[Signer, Verifier],
    bus_events: tuple[EventBus, list[BusEvent]],
) -> None:
    reg = ModelRegistry(duckdb.connect(), keys[1], bus=bus_events[0])
    a, b, c = (reg.register(p) for p in versions)
    for rec in (a, b, c):
        assert reg.promote(rec.model_id, "alice", "better").promoted
    assert reg.get(b.model_id).stage == "retired"
    assert reg.rollback("flows", "bob", "c misbehaves").model_id == b.model_id
    assert reg.get(c.model_id).stage == "retired"
    assert reg.rollback("flows", "bob", "b too").model_id == a.model_id
    with pytest.raises(StoreError, match="no earlier production version"):
        reg.rollback("flows", "bob", "nothing left")
    assert [r.model_id for r in reg.versions("flows", "production")] == [a.model_id]
    kinds = [e.payload["event"] for e in bus_events[1]]
    assert kinds.count("rollback") == 2 and kinds.count("promote") == 3
    with pytest.raises(StoreError, match="already in production"):
        reg.promote(a.model_id, "alice", "again")


def test_failing_or_crashing_gate_blocks_promotion(
    versions: list[Path], keys: tuple[Signer, Verifier],
    bus_events: tuple[EventBus, list[BusEvent]],
) -> None:
    seen: list[PromotionRequest] = []

    def robustness(req: PromotionRequest) -> GateResult:
        seen.append(req)
        ok = req.candidate.manifest.metrics["auc"] >= 0.81
        return GateResult("robustness", ok, "auc below 0.81" if not ok else "")

    def crashing(_req: PromotionRequest) -> GateResult:
        raise RuntimeError("attack harness unavailable")

    reg = ModelRegistry(duckdb.connect(), keys[1], bus=bus_events[0], hooks=[robustness])
    a, b, c = (reg.register(p) for p in versions)
    blocked = reg.promote(a.model_id, "alice", "first")
    assert not blocked.promoted and blocked.gates[0].detail == "auc below 0.81"
    assert reg.get(a.model_id).stage == "candidate"
    assert reg.promote(b.model_id, "alice", "ok").promoted
    assert seen[-1].current is None and seen[-1].actor == "alice"
    reg.add_hook(crashing)
    result = reg.promote(c.model_id, "alice", "newer")
    assert not result.promoted
    assert "RuntimeError: attack harness unavailable" in result.gates[1].detail
    assert reg.production("flows") is not None
    assert reg.production("flows").model_id == b.model_id  # type: ignore[union-attr]
    events = [e["event"] for e in reg.events("flows")]
    assert events.count("promotion_blocked") == 2
    assert [e.payload["event"] for e in bus_events[1]].count("promotion_blocked") == 2


def test_verify_detects_tampering_and_substitution(
    versions: list[Path], keys: tuple[Signer, Verifier], tmp_path: Path,
) -> None:
    reg = ModelRegistry(duckdb.connect(), keys[1])
    a = reg.register(versions[0])
    assert reg.verify(a.model_id).manifest.model_id == a.model_id
    # substitution: another validly signed model placed at the registered path
    backup = tmp_path / "backup"
    shutil.move(versions[0], backup)
    shutil.copytree(versions[1], versions[0])
    with pytest.raises(UnsafeArtifactError, match="not the registered"):
        reg.verify(a.model_id)
    with pytest.raises(UnsafeArtifactError, match="not the registered"):
        reg.promote(a.model_id, "alice", "swap")
    shutil.rmtree(versions[0])
    shutil.move(backup, versions[0])
    arrays = versions[0] / "arrays.npz"
    data = bytearray(arrays.read_bytes())
    data[-1] ^= 0xFF
    arrays.write_bytes(bytes(data))
    with pytest.raises(UnsafeArtifactError, match=r"arrays.npz"):
        reg.load(a.model_id)
    assert [e["event"] for e in reg.events("flows")].count("verify_failed") == 3


def test_load_and_retire(
    versions: list[Path], keys: tuple[Signer, Verifier], classes: dict[str, type[Detector]],
    table: tuple[pl.DataFrame, np.ndarray],
) -> None:
    reg = ModelRegistry(duckdb.connect(), keys[1])
    a, b = reg.register(versions[0]), reg.register(versions[1])
    det = reg.load(a.model_id, classes)
    assert isinstance(det, Detector) and det.score(table[0]).shape == (400,)
    reg.promote(a.model_id, "alice", "one")
    reg.promote(b.model_id, "alice", "two")
    reg.retire(a.model_id, "alice", "data leak found")
    with pytest.raises(StoreError, match="no earlier production version"):
        reg.rollback("flows", "bob", "would resurrect a retired model")


def test_registry_persists_in_a_duckdb_file(
    versions: list[Path], keys: tuple[Signer, Verifier], tmp_path: Path,
) -> None:
    db = tmp_path / "mirrorguard.duckdb"
    reg = ModelRegistry(db, keys[1])
    a = reg.register(versions[0], "ci")
    reg.promote(a.model_id, "alice", "go")
    del reg
    again = ModelRegistry(db, keys[1])
    assert again.production("flows") is not None
    rows = duckdb.connect(str(tmp_path / "x.duckdb"))  # an unrelated store stays empty
    assert ModelRegistry(rows, keys[1]).versions() == []
    hist = again.events("flows")
    assert [e["event"] for e in hist] == ["register", "promote"]
    assert hist[1]["actor"] == "alice" and hist[1]["details"]["previous_model_id"] is None


def test_failed_transaction_publishes_nothing(
    versions: list[Path], keys: tuple[Signer, Verifier],
    bus_events: tuple[EventBus, list[BusEvent]], monkeypatch: pytest.MonkeyPatch,
) -> None:
    reg = ModelRegistry(duckdb.connect(), keys[1], bus=bus_events[0])
    a = reg.register(versions[0])
    before = len(bus_events[1])
    original: Callable[..., Any] = reg._set_stage

    def broken(model_id: str, stage: Any) -> None:
        original(model_id, stage)
        raise RuntimeError("disk full")

    monkeypatch.setattr(reg, "_set_stage", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        reg.promote(a.model_id, "alice", "go")
    assert len(bus_events[1]) == before
    assert reg.get(a.model_id).stage == "candidate"
