"""The demo job: generate the seeded scenario, ingest it, run what detects, report findings.

``run_demo`` is the library entry point; ``mirrorguard demo`` only prints its report.
Each finding is checked against the scenario's ground truth, so the demo says plainly what
it caught and what it missed.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mirrorguard.bus import BusEvent
from mirrorguard.config.settings import Settings
from mirrorguard.engine.ingest import Ingestor, IngestSummary
from mirrorguard.engine.recording import recorded_bus
from mirrorguard.guard.data.fit_policy import training_screen
from mirrorguard.guard.keys import generate_keypair, private_pem, public_pem
from mirrorguard.scenario.generate import generate
from mirrorguard.scenario.hunts import Finding, run_hunts
from mirrorguard.store import DuckDBStore


@dataclass
class DemoReport:
    out_dir: Path
    store: Path
    ingest: IngestSummary
    findings: list[Finding] = field(default_factory=list)
    truth: dict[str, Any] = field(default_factory=dict)
    ledger_entries: int = 0
    public_key: Path | None = None

    def caught(self) -> dict[str, bool]:
        """Which injected attacks at least one finding points at."""
        return {name: any(f.scenario == name for f in self.findings)
                for name in ("brute_force", "exfiltration", "beacon")}

    def to_dict(self) -> dict[str, Any]:
        return {
            "out_dir": str(self.out_dir), "store": str(self.store),
            "ingest": self.ingest.totals(),
            "findings": [f.to_dict() for f in self.findings],
            "caught": self.caught(),
            "ledger_entries": self.ledger_entries,
        }


def run_demo(out_dir: Path, seed: int = 7, settings: Settings | None = None) -> DemoReport:
    """Generate, ingest into a fresh store under ``out_dir``, detect, and report."""
    settings = settings or Settings()
    if out_dir.exists():
        shutil.rmtree(out_dir)
    scenario = generate(out_dir / "logs", seed=seed, truth_dir=out_dir)
    store_path = out_dir / "mirrorguard.duckdb"
    private, public = _demo_keys(out_dir / "keys")
    settings = settings.with_overrides(store={"path": store_path},
                                       guard={"signing_key": f"file:{private}"})
    with DuckDBStore(store_path) as st:
        with recorded_bus(settings, st) as bus:
            summary = Ingestor(settings, st, bus=bus).ingest([out_dir / "logs"])
            with training_screen(bus=bus):  # every fit's screen result goes to the ledger
                findings = run_hunts(st)
            for f in findings:
                bus.publish(BusEvent(kind="alert", actor="automation", payload=f.to_dict()))
        ledger_entries = int(st.query("SELECT count(*) AS n FROM ledger_entries")["n"][0])
    truth = json.loads(scenario.truth.read_text())
    return DemoReport(out_dir, store_path, summary, findings, truth, ledger_entries, public)


def _demo_keys(key_dir: Path) -> tuple[Path, Path]:
    """A throwaway Ed25519 key pair for the demo's ledger seals (files, referenced by path)."""
    key_dir.mkdir(parents=True, exist_ok=True)
    priv, pub = generate_keypair()
    private, public = key_dir / "demo-signing.pem", key_dir / "demo-signing.pub.pem"
    private.write_bytes(private_pem(priv))
    private.chmod(0o600)
    public.write_bytes(public_pem(pub))
    return private, public
