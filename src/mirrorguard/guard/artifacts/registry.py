"""The model registry: versions with lineage, metrics and stage; gated promotion; rollback.

Stored in the DuckDB store (tables ``models`` and ``model_events``). A model is registered from
a signed model directory, which is verified first; the registry pins the manifest digest, so a
directory later replaced by another (even validly signed) model fails :meth:`verify`.

Stages are ``candidate`` -> ``production`` -> ``retired``. :meth:`ModelRegistry.promote` runs
every promotion hook (a callable returning a :class:`GateResult`; the red-team gate plugs in
here); one failing or raising hook blocks the promotion, which is recorded and returned as data.
:meth:`ModelRegistry.rollback` re-promotes the version that was in production before the
current one. Every registration, promotion, blocked promotion, rollback, retirement and failed
verification is recorded in ``model_events`` and published on the event bus, if one is given.

>>> import tempfile, duckdb
>>> from mirrorguard.guard.keys import Signer, Verifier, generate_keypair
>>> from mirrorguard.guard.artifacts.seal import seal_model_dir
>>> priv, pub = generate_keypair()
>>> root = Path(tempfile.mkdtemp())
>>> for v in ("a", "b"):
...     _ = seal_model_dir(root / v, {"model.txt": ("lightgbm-text", v.encode())},
...                        name="gbm", kind="lightgbm", detector=None, params={},
...                        signer=Signer(priv))
>>> reg = ModelRegistry(duckdb.connect(), Verifier(pub))
>>> a, b = reg.register(root / "a"), reg.register(root / "b")
>>> reg.promote(a.model_id, "alice", "first").promoted
True
>>> _ = reg.promote(b.model_id, "alice", "better")
>>> reg.rollback("gbm", "bob", "b misbehaves").model_id == a.model_id
True
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import duckdb

from mirrorguard.bus import BusEvent, EventBus
from mirrorguard.errors import MirrorguardError, StoreError, UnsafeArtifactError
from mirrorguard.guard.artifacts.canonical import sha256_hex
from mirrorguard.guard.artifacts.detector_io import DetectorClasses
from mirrorguard.guard.artifacts.loader import LoadedModel, model_from_verified
from mirrorguard.guard.artifacts.manifest import ModelManifest
from mirrorguard.guard.artifacts.seal import Trusted, TrustStore, VerifiedModel, open_model_dir

Stage = Literal["candidate", "production", "retired"]
STAGES: tuple[Stage, ...] = ("candidate", "production", "retired")
SCHEMA_VERSION = 1

_DDL = """
CREATE TABLE IF NOT EXISTS models (
  model_id VARCHAR PRIMARY KEY, name VARCHAR NOT NULL, version INTEGER NOT NULL,
  kind VARCHAR NOT NULL, detector VARCHAR, path VARCHAR NOT NULL, stage VARCHAR NOT NULL,
  created_at VARCHAR NOT NULL, registered_at TIMESTAMPTZ NOT NULL, parent_model_id VARCHAR,
  data_sha256 VARCHAR, code_version VARCHAR, git_rev VARCHAR, signer_key_id VARCHAR NOT NULL,
  manifest_sha256 VARCHAR NOT NULL, manifest VARCHAR NOT NULL, schema_version INTEGER NOT NULL,
  UNIQUE (name, version)
);
CREATE SEQUENCE IF NOT EXISTS model_events_seq;
CREATE TABLE IF NOT EXISTS model_events (
  seq BIGINT PRIMARY KEY DEFAULT nextval('model_events_seq'), time TIMESTAMPTZ NOT NULL,
  model_id VARCHAR, name VARCHAR NOT NULL, event VARCHAR NOT NULL, from_stage VARCHAR,
  to_stage VARCHAR, actor VARCHAR NOT NULL, reason VARCHAR, details VARCHAR,
  schema_version INTEGER NOT NULL
);
"""
_COLUMNS = ("model_id", "name", "version", "kind", "detector", "path", "stage", "created_at",
            "registered_at", "manifest_sha256", "manifest")


@dataclass(frozen=True)
class ModelRecord:
    """One registered model version (the manifest holds lineage, params and metrics)."""

    model_id: str
    name: str
    version: int
    kind: str
    detector: str | None
    path: Path
    stage: Stage
    created_at: str
    registered_at: datetime
    manifest_sha256: str
    manifest: ModelManifest

    def to_json(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id, "name": self.name, "version": self.version,
            "kind": self.kind, "detector": self.detector, "path": str(self.path),
            "stage": self.stage, "created_at": self.created_at,
            "registered_at": self.registered_at.isoformat(),
            "manifest_sha256": self.manifest_sha256,
            "lineage": self.manifest.lineage.to_json(), "code": self.manifest.code.to_json(),
            "params": self.manifest.params, "metrics": self.manifest.metrics,
            "files": [f.to_json() for f in self.manifest.files],
            "signer_key_id": self.manifest.signer_key_id,
        }


@dataclass(frozen=True)
class GateResult:
    """What a promotion hook decided. ``passed=False`` blocks the promotion."""

    gate: str
    passed: bool
    detail: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PromotionRequest:
    """What a hook sees: the candidate, the current production version, who and why."""

    candidate: ModelRecord
    current: ModelRecord | None
    actor: str
    reason: str
    rollback: bool = False


PromotionHook = Callable[[PromotionRequest], GateResult]


@dataclass(frozen=True)
class PromotionResult:
    """Outcome of :meth:`ModelRegistry.promote` (a blocked promotion is data, not an error)."""

    model_id: str
    promoted: bool
    gates: tuple[GateResult, ...]
    previous_model_id: str | None

    def to_json(self) -> dict[str, Any]:
        return {"model_id": self.model_id, "promoted": self.promoted,
                "previous_model_id": self.previous_model_id,
                "gates": [asdict(g) for g in self.gates]}


class ModelRegistry:
    """Registered model versions in DuckDB, with gated promotion and rollback."""

    def __init__(
        self, store: duckdb.DuckDBPyConnection | Path | str, trusted: Trusted, *,
        bus: EventBus | None = None, hooks: Sequence[PromotionHook] = (),
    ) -> None:
        self._con = store if isinstance(store, duckdb.DuckDBPyConnection) else (
            duckdb.connect(str(store)))
        self._trust = TrustStore.of(trusted)
        self._bus = bus
        self._hooks: list[PromotionHook] = list(hooks)
        self._pending: list[BusEvent] = []
        self._in_tx = False
        try:
            self._con.execute(_DDL)
        except duckdb.Error as exc:
            raise StoreError(f"cannot create the model registry tables: {exc}") from exc

    def add_hook(self, hook: PromotionHook) -> None:
        """Add a promotion gate (run in the order added)."""
        self._hooks.append(hook)

    # ---- reading -------------------------------------------------------------------------
    def _rows(self, where: str = "", args: Sequence[Any] = ()) -> list[ModelRecord]:
        sql = f"SELECT {', '.join(_COLUMNS)} FROM models {where} ORDER BY name, version"  # noqa: S608
        return [self._record(row) for row in self._con.execute(sql, list(args)).fetchall()]

    @staticmethod
    def _record(row: tuple[Any, ...]) -> ModelRecord:
        d = dict(zip(_COLUMNS, row, strict=True))
        return ModelRecord(
            model_id=d["model_id"], name=d["name"], version=int(d["version"]), kind=d["kind"],
            detector=d["detector"], path=Path(d["path"]), stage=d["stage"],
            created_at=d["created_at"], registered_at=d["registered_at"],
            manifest_sha256=d["manifest_sha256"],
            manifest=ModelManifest.from_json(json.loads(d["manifest"]), "registry"),
        )

    def get(self, model_id: str) -> ModelRecord:
        rows = self._rows("WHERE model_id = ?", [model_id])
        if not rows:
            raise StoreError(f"no registered model {model_id!r}")
        return rows[0]

    def versions(self, name: str | None = None, stage: Stage | None = None
                 ) -> list[ModelRecord]:
        """Registered versions, optionally of one name and/or one stage."""
        conds = [c for c, v in (("name = ?", name), ("stage = ?", stage)) if v is not None]
        args = [v for v in (name, stage) if v is not None]
        return self._rows(("WHERE " + " AND ".join(conds)) if conds else "", args)

    def production(self, name: str) -> ModelRecord | None:
        rows = self.versions(name, "production")
        return rows[0] if rows else None

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        """The recorded events, oldest first."""
        cur = self._con.execute(
            "SELECT seq, time, model_id, name, event, from_stage, to_stage, actor, reason, "
            "details FROM model_events WHERE ? IS NULL OR name = ? ORDER BY seq", [name, name])
        cols = [c[0] for c in cur.description or []]
        out = [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]
        for ev in out:
            ev["details"] = json.loads(ev["details"]) if ev["details"] else {}
        return out

    # ---- writing -------------------------------------------------------------------------
    def _event(self, rec_name: str, model_id: str | None, event: str, actor: str, reason: str,
               from_stage: str | None = None, to_stage: str | None = None,
               details: dict[str, Any] | None = None) -> None:
        now = datetime.now(UTC)
        self._con.execute(
            "INSERT INTO model_events (time, model_id, name, event, from_stage, to_stage, actor,"
            " reason, details, schema_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [now, model_id, rec_name, event, from_stage, to_stage, actor, reason,
             json.dumps(details or {}, sort_keys=True, default=str), SCHEMA_VERSION])
        self._pending.append(BusEvent(kind="model", actor=actor, time=now, payload={
            "event": event, "model_id": model_id, "name": rec_name, "from_stage": from_stage,
            "to_stage": to_stage, "reason": reason, "details": details or {},
            "schema_version": SCHEMA_VERSION}))
        if not self._in_tx:
            self._flush()

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        if self._bus is not None:
            for ev in pending:
                self._bus.publish(ev)

    def _set_stage(self, model_id: str, stage: Stage) -> None:
        self._con.execute("UPDATE models SET stage = ? WHERE model_id = ?", [stage, model_id])

    def _transaction(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` in one DuckDB transaction; publish its events only after COMMIT."""
        self._con.execute("BEGIN TRANSACTION")
        self._in_tx = True
        try:
            fn()
            self._con.execute("COMMIT")
        except BaseException:
            self._pending.clear()
            self._con.execute("ROLLBACK")
            raise
        finally:
            self._in_tx = False
        self._flush()

    def register(self, path: Path, actor: str = "automation", reason: str = "") -> ModelRecord:
        """Verify a signed model directory and add it as a new ``candidate`` version."""
        vm = open_model_dir(Path(path), self._trust)
        m = vm.manifest
        if self._rows("WHERE model_id = ?", [m.model_id]):
            raise StoreError(f"model {m.model_id} is already registered", file=str(path))

        def insert() -> None:
            (version,) = self._con.execute(
                "SELECT coalesce(max(version), 0) + 1 FROM models WHERE name = ?", [m.name]
            ).fetchone() or (1,)
            td = m.lineage.training_data
            self._con.execute(
                "INSERT INTO models VALUES (?, ?, ?, ?, ?, ?, 'candidate', ?, ?, ?, ?, ?, ?, ?,"
                " ?, ?, ?)",
                [m.model_id, m.name, version, m.kind, m.detector, str(Path(path).resolve()),
                 m.created_at, datetime.now(UTC), m.lineage.parent_model_id,
                 None if td is None else td.sha256, m.code.mirrorguard, m.code.git_rev,
                 m.signer_key_id, sha256_hex(m.canonical_bytes()),
                 m.canonical_bytes().decode("ascii"), SCHEMA_VERSION])
            self._event(m.name, m.model_id, "register", actor, reason, None, "candidate",
                        {"version": version, "path": str(path)})

        self._transaction(insert)
        return self.get(m.model_id)

    def verify(self, model_id: str, actor: str = "automation") -> VerifiedModel:
        """Re-check signature, every file, and that the directory still holds this model."""
        rec = self.get(model_id)
        try:
            vm = open_model_dir(rec.path, self._trust)
            if sha256_hex(vm.manifest.canonical_bytes()) != rec.manifest_sha256:
                raise UnsafeArtifactError(
                    f"directory now holds model {vm.manifest.model_id}, not the registered "
                    f"{model_id}", file=str(rec.path))
        except MirrorguardError as exc:
            self._event(rec.name, model_id, "verify_failed", actor, str(exc))
            raise
        return vm

    def load(self, model_id: str, classes: DetectorClasses | None = None) -> LoadedModel:
        """Verify (see :meth:`verify`), then deserialise the model."""
        return model_from_verified(self.verify(model_id), classes)

    def _run_hooks(self, request: PromotionRequest) -> tuple[GateResult, ...]:
        results = []
        for hook in self._hooks:
            try:
                result = hook(request)
            except Exception as exc:  # a crashing gate fails closed
                result = GateResult(getattr(hook, "__name__", "hook"), False,
                                    f"gate raised {type(exc).__name__}: {exc}")
            if not isinstance(result, GateResult):
                result = GateResult(getattr(hook, "__name__", "hook"), False,
                                    "gate did not return a GateResult")
            results.append(result)
        return tuple(results)

    def promote(self, model_id: str, actor: str, reason: str) -> PromotionResult:
        """Verify the model, run every promotion gate, and make it the production version."""
        rec = self.get(model_id)
        if rec.stage == "production":
            raise StoreError(f"model {model_id} is already in production")
        self.verify(model_id, actor)
        current = self.production(rec.name)
        gates = self._run_hooks(PromotionRequest(rec, current, actor, reason))
        previous = None if current is None else current.model_id
        gate_json = [asdict(g) for g in gates]
        if not all(g.passed for g in gates):
            self._event(rec.name, model_id, "promotion_blocked", actor, reason, rec.stage,
                        rec.stage, {"gates": gate_json})
            return PromotionResult(model_id, False, gates, previous)

        def switch() -> None:
            if current is not None:
                self._set_stage(current.model_id, "retired")
                self._event(rec.name, current.model_id, "retire", actor,
                            f"replaced by {model_id}", "production", "retired")
            self._set_stage(model_id, "production")
            self._event(rec.name, model_id, "promote", actor, reason, rec.stage, "production",
                        {"gates": gate_json, "previous_model_id": previous})

        self._transaction(switch)
        return PromotionResult(model_id, True, gates, previous)

    def _production_stack(self, name: str) -> list[str]:
        """Production history as a stack: promote pushes, rollback pops, retire removes."""
        stack: list[str] = []
        for ev in self.events(name):
            if ev["event"] == "promote":
                stack.append(ev["model_id"])
            elif ev["event"] == "rollback" and stack:
                stack.pop()
            elif ev["event"] == "retire" and ev["details"].get("explicit"):
                stack = [m for m in stack if m != ev["model_id"]]
        return stack

    def rollback(self, name: str, actor: str, reason: str, *, run_hooks: bool = False
                 ) -> ModelRecord:
        """Put the previous production version of ``name`` back into production."""
        current = self.production(name)
        stack = self._production_stack(name)
        if current is None or len(stack) < 2 or stack[-1] != current.model_id:
            raise StoreError(f"no earlier production version of {name!r} to roll back to")
        target = self.get(stack[-2])
        self.verify(target.model_id, actor)
        if run_hooks:
            gates = self._run_hooks(PromotionRequest(target, current, actor, reason, True))
            if not all(g.passed for g in gates):
                self._event(name, target.model_id, "promotion_blocked", actor, reason,
                            target.stage, target.stage, {"gates": [asdict(g) for g in gates]})
                raise StoreError(f"rollback to {target.model_id} blocked by a promotion gate")

        def switch() -> None:
            self._set_stage(current.model_id, "retired")
            self._set_stage(target.model_id, "production")
            self._event(name, target.model_id, "rollback", actor, reason, target.stage,
                        "production", {"rolled_back_model_id": current.model_id})

        self._transaction(switch)
        return self.get(target.model_id)

    def retire(self, model_id: str, actor: str, reason: str) -> ModelRecord:
        """Take a version out of use (it will not be a rollback target any more)."""
        rec = self.get(model_id)

        def switch() -> None:
            self._set_stage(model_id, "retired")
            self._event(rec.name, model_id, "retire", actor, reason, rec.stage, "retired",
                        {"explicit": True})

        self._transaction(switch)
        return self.get(model_id)
