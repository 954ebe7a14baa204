"""The ``mirrorguard`` Typer application: registers one module per command."""

from __future__ import annotations

import typer

from mirrorguard.interfaces.cli import attack as attack_cmd
from mirrorguard.interfaces.cli import bench as bench_cmd
from mirrorguard.interfaces.cli import demo as demo_cmd
from mirrorguard.interfaces.cli import guard_data, guard_scan
from mirrorguard.interfaces.cli import incidents as incidents_cmd
from mirrorguard.interfaces.cli import ingest as ingest_cmd
from mirrorguard.interfaces.cli import intel as intel_cmd
from mirrorguard.interfaces.cli import ledger as ledger_cmd
from mirrorguard.interfaces.cli import models as models_cmd
from mirrorguard.interfaces.cli import query as query_cmd
from mirrorguard.interfaces.cli import sigma as sigma_cmd
from mirrorguard.interfaces.cli import suppressions as suppressions_cmd

app = typer.Typer(
    name="mirrorguard",
    help="mirrorguard — AI for security, and security for AI.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """mirrorguard — AI for security, and security for AI."""


app.command("demo")(demo_cmd.demo)
app.command("ingest")(ingest_cmd.ingest)
app.command("query")(query_cmd.query)
app.command("stats")(query_cmd.stats)
app.command("export")(query_cmd.export)
app.command("compact")(query_cmd.compact)
app.command("bench")(bench_cmd.bench)
app.command("incidents")(incidents_cmd.incidents)
app.command("incident")(incidents_cmd.incident)
app.command("verdict")(incidents_cmd.verdict)
app.add_typer(incidents_cmd.verdicts_app, name="verdicts",
              help="Verdicts held for a second analyst: pending, approve.")
app.command("suppress")(incidents_cmd.suppress)
app.add_typer(suppressions_cmd.app, name="suppressions")
app.add_typer(incidents_cmd.playbook_app, name="playbook", help="Response playbooks.")

guard_app = typer.Typer(help="Security for AI: model files, training data, the ledger.",
                        no_args_is_help=True)
guard_app.command("scan")(guard_scan.scan)
guard_app.command("data")(guard_data.data)
app.add_typer(guard_app, name="guard")
app.add_typer(models_cmd.app, name="models", help="Signed models: registry, promotion, ML-BOM.")
app.add_typer(intel_cmd.app, name="intel", help="Threat intelligence: load feeds, match events.")
app.add_typer(attack_cmd.app, name="attack", help="MITRE ATT&CK table: show, refresh.")
app.add_typer(ledger_cmd.app, name="ledger", help="Tamper-evident decision ledger.")
app.add_typer(sigma_cmd.app, name="sigma", help="Sigma rules: check, run.")


def main() -> None:
    """Console-script entry point."""
    app()
