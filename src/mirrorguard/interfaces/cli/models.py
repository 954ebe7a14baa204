"""``mirrorguard models …``: the signed-model registry from the command line.

Commands only parse arguments and call :mod:`mirrorguard.guard.artifacts`. Public keys are
given by reference (``--trust-key env:NAME`` or ``--trust-key file:PATH``), never inline.
Exit codes: 0 ok, 1 promotion blocked by a gate, 2 error (including a model that fails
verification), 3 nothing registered.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import typer
from rich.table import Table

from mirrorguard.engine.recording import ledger_bus
from mirrorguard.guard.artifacts.bom import model_bom
from mirrorguard.guard.artifacts.openssf import export_openssf_bundle, verify_openssf_bundle
from mirrorguard.guard.artifacts.registry import STAGES, ModelRegistry
from mirrorguard.guard.artifacts.seal import TrustStore, open_model_dir
from mirrorguard.guard.keys import Signer, Verifier, load_private_key, load_public_key
from mirrorguard.interfaces.cli.common import (
    EXIT_FINDINGS,
    EXIT_NOTHING,
    ConfigOpt,
    JsonOpt,
    StoreOpt,
    build_settings,
    console,
    emit_json,
    handle_errors,
    out,
)

app = typer.Typer(
    help="Signed models: list, show, promote, rollback, verify, ML-BOM.",
    no_args_is_help=True,
)

TrustOpt = typer.Option(
    None, "--trust-key", "-k", help="trusted public key reference (env:NAME or file:PATH); repeat"
)
ActorOpt = typer.Option(..., "--actor", help="who does this (recorded in the registry)")
ReasonOpt = typer.Option("", "--reason", help="why (recorded in the registry)")


def _trust(refs: list[str] | None) -> TrustStore:
    return TrustStore([Verifier(load_public_key(r)) for r in refs or []])


def _registry(config: Path | None, store: Path | None, refs: list[str] | None) -> ModelRegistry:
    settings = build_settings(config, store)
    con = duckdb.connect(str(settings.store.path))
    return ModelRegistry(con, _trust(refs), bus=ledger_bus(settings, con))


@app.command("list")
def list_models(
    name: str | None = typer.Option(None, "--name", help="only this model name"),
    stage: str | None = typer.Option(None, "--stage", help=f"one of {', '.join(STAGES)}"),
    config: Path | None = ConfigOpt, store: Path | None = StoreOpt, as_json: bool = JsonOpt,
) -> None:
    """List registered model versions."""
    with handle_errors(as_json):
        if stage is not None and stage not in STAGES:
            raise typer.BadParameter(f"stage must be one of {', '.join(STAGES)}")
        records = _registry(config, store, None).versions(name, stage)
    if as_json:
        emit_json([r.to_json() for r in records])
    else:
        table = Table("model_id", "name", "version", "kind", "stage", "created", "metrics")
        for r in records:
            table.add_row(r.model_id, r.name, str(r.version), r.kind, r.stage,
                          r.created_at[:19], json.dumps(r.manifest.metrics)[:60])
        out.print(table)
    if not records:
        raise typer.Exit(EXIT_NOTHING)


@app.command("show")
def show(
    model_id: str = typer.Argument(..., help="registered model id"),
    config: Path | None = ConfigOpt, store: Path | None = StoreOpt, as_json: bool = JsonOpt,
) -> None:
    """Show one model version: lineage, parameters, metrics, files and its history."""
    with handle_errors(as_json):
        reg = _registry(config, store, None)
        rec = reg.get(model_id)
        events = [e for e in reg.events(rec.name) if e["model_id"] == model_id]
    data: dict[str, Any] = {**rec.to_json(), "events": events}
    if as_json:
        emit_json(data)
        return
    for key in ("model_id", "name", "version", "kind", "detector", "stage", "path",
                "created_at", "signer_key_id"):
        out.print(f"[bold]{key}[/]: {data[key]}")
    for key in ("lineage", "code", "params", "metrics"):
        out.print(f"[bold]{key}[/]: {json.dumps(data[key], sort_keys=True)}")
    for ev in events:
        out.print(f"  {ev['time']} {ev['event']} by {ev['actor']}: {ev['reason']}")


@app.command("register")
def register(
    path: Path = typer.Argument(..., help="signed model directory"),
    actor: str = typer.Option("automation", "--actor"), reason: str = ReasonOpt,
    trust_key: list[str] | None = TrustOpt,
    config: Path | None = ConfigOpt, store: Path | None = StoreOpt, as_json: bool = JsonOpt,
) -> None:
    """Verify a signed model directory and register it as a candidate."""
    with handle_errors(as_json):
        rec = _registry(config, store, trust_key).register(path, actor, reason)
    emit_json(rec.to_json()) if as_json else out.print(
        f"registered {rec.name} v{rec.version} as {rec.model_id} (candidate)")


@app.command("promote")
def promote(
    model_id: str = typer.Argument(...), actor: str = ActorOpt, reason: str = ReasonOpt,
    trust_key: list[str] | None = TrustOpt,
    config: Path | None = ConfigOpt, store: Path | None = StoreOpt, as_json: bool = JsonOpt,
) -> None:
    """Verify a model, run the promotion gates, and make it the production version."""
    with handle_errors(as_json):
        result = _registry(config, store, trust_key).promote(model_id, actor, reason)
    if as_json:
        emit_json(result.to_json())
    else:
        for g in result.gates:
            out.print(f"gate {g.gate}: {'pass' if g.passed else 'FAIL'} {g.detail}")
        out.print(f"{model_id}: {'promoted to production' if result.promoted else 'BLOCKED'}")
    if not result.promoted:
        raise typer.Exit(EXIT_FINDINGS)


@app.command("rollback")
def rollback(
    name: str = typer.Argument(..., help="model name"), actor: str = ActorOpt,
    reason: str = ReasonOpt, trust_key: list[str] | None = TrustOpt,
    config: Path | None = ConfigOpt, store: Path | None = StoreOpt, as_json: bool = JsonOpt,
) -> None:
    """Put the previous production version of NAME back into production."""
    with handle_errors(as_json):
        rec = _registry(config, store, trust_key).rollback(name, actor, reason)
    emit_json(rec.to_json()) if as_json else out.print(
        f"{name}: rolled back to v{rec.version} ({rec.model_id})")


@app.command("verify")
def verify(
    target: str = typer.Argument(..., help="registered model id, or a model directory"),
    trust_key: list[str] | None = TrustOpt,
    config: Path | None = ConfigOpt, store: Path | None = StoreOpt, as_json: bool = JsonOpt,
) -> None:
    """Check the signature and every file of a model (exit 2 when anything does not match)."""
    with handle_errors(as_json):
        if Path(target).is_dir():
            vm = open_model_dir(Path(target), _trust(trust_key))
        else:
            vm = _registry(config, store, trust_key).verify(target)
    m = vm.manifest
    report = {"model_id": m.model_id, "name": m.name, "verified": True,
              "signer_key_id": vm.signer_key_id, "files": len(m.files)}
    emit_json(report) if as_json else out.print(
        f"{m.model_id} ({m.name}): signature and {len(m.files)} file(s) verified "
        f"with key {vm.signer_key_id[:16]}…")


@app.command("bom")
def bom(
    model_id: str = typer.Argument(...), out_file: Path | None = typer.Option(None, "--out"),
    trust_key: list[str] | None = TrustOpt,
    config: Path | None = ConfigOpt, store: Path | None = StoreOpt,
) -> None:
    """Write the CycloneDX 1.6 ML-BOM of a registered (and re-verified) model."""
    with handle_errors(False):
        reg = _registry(config, store, trust_key)
        rec = reg.get(model_id)
        reg.verify(model_id)
        doc = model_bom(rec.manifest, stage=rec.stage, version=rec.version)
    if out_file is None:
        emit_json(doc)
    else:
        out_file.write_text(json.dumps(doc, indent=2) + "\n")
        console.print(f"wrote {out_file}")


@app.command("openssf-export")
def openssf_export(
    path: Path = typer.Argument(..., help="model directory"),
    key: str = typer.Option(..., "--key", help="Ed25519 private key reference (env:/file:)"),
    out_file: Path = typer.Option(..., "--out", help="bundle path, outside the directory"),
) -> None:
    """Sign a model directory in the OpenSSF model-signing (Sigstore bundle) format."""
    with handle_errors(False):
        export_openssf_bundle(path, Signer(load_private_key(key)), out_file)
    console.print(f"wrote {out_file}")


@app.command("openssf-verify")
def openssf_verify(
    path: Path = typer.Argument(..., help="model directory"),
    bundle_file: Path = typer.Argument(..., help="OpenSSF bundle (model.sig)"),
    pub: str = typer.Option(..., "--pub", help="Ed25519 public key reference (env:/file:)"),
    as_json: bool = JsonOpt,
) -> None:
    """Verify an OpenSSF model-signing bundle offline against a model directory."""
    with handle_errors(as_json):
        res = verify_openssf_bundle(path, bundle_file, load_public_key(pub))
    emit_json(res.__dict__) if as_json else out.print(
        f"{res.model_name}: {res.files} file(s) match the bundle (root {res.root_digest[:16]}…)")
