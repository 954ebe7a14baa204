"""Shared CLI plumbing: settings from flags, JSON output, errors and exit codes.

Exit codes (documented in the README):

* 0 — success, nothing noteworthy
* 1 — success with findings (rejected records, alerts, scan findings)
* 2 — error (bad arguments, bad settings, unreadable input, tampered artifact)
* 3 — nothing to do (no input found, nothing scanned)
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from mirrorguard.config import Settings, load_settings
from mirrorguard.errors import MirrorguardError

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_ERROR = 2
EXIT_NOTHING = 3

console = Console(stderr=True)
out = Console()

ConfigOpt = typer.Option(None, "--config", "-c", help="explicit mirrorguard.toml")
StoreOpt = typer.Option(None, "--store", "-s", help="DuckDB store file (overrides config)")
JsonOpt = typer.Option(False, "--json", help="machine-readable JSON on stdout")
ScreenPolicyOpt = typer.Option(
    None, "--screen-policy",
    help="training-data poisoning screen in every detector fit (default: guard.training_policy, "
    "quarantine)",
)


def build_settings(config: Path | None, store: Path | None = None) -> Settings:
    """Settings from an explicit file plus flag overrides."""
    settings = load_settings(config)
    if store is not None:
        settings = settings.with_overrides(store={"path": store})
    return settings


def emit_json(data: Any) -> None:
    """Write one JSON document to stdout."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


@contextmanager
def handle_errors(as_json: bool = False) -> Iterator[None]:
    """Turn :class:`MirrorguardError` into a clear message and exit code 2."""
    try:
        yield
    except MirrorguardError as exc:
        if as_json:
            emit_json(exc.to_dict())
        else:
            console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(exc.exit_code) from exc
