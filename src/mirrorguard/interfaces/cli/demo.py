"""``mirrorguard demo``: the main job on the embedded default."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from mirrorguard.guard.data.fit_policy import (
    TrainingPolicy,
    policy_from_settings,
    training_screen,
)
from mirrorguard.interfaces.cli.common import (
    EXIT_OK,
    ConfigOpt,
    JsonOpt,
    ScreenPolicyOpt,
    build_settings,
    console,
    emit_json,
    handle_errors,
    out,
)
from mirrorguard.scenario.demo import DemoReport, run_demo


def demo(
    out_dir: Path = typer.Option(Path("demo-out"), "--out", help="where files and store go"),
    seed: int = typer.Option(7, "--seed"),
    screen_policy: TrainingPolicy | None = ScreenPolicyOpt,
    config: Path | None = ConfigOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Generate a seeded day of office telemetry with attacks, ingest it, and detect."""
    with handle_errors(as_json):
        settings = build_settings(config)
        policy = policy_from_settings(settings.guard, screen_policy)
        with console.status("generating, ingesting and detecting…"), training_screen(policy):
            report = run_demo(out_dir, seed=seed, settings=settings)
    if as_json:
        emit_json(report.to_dict())
    else:
        _print(report)
    raise typer.Exit(EXIT_OK)


def _print(report: DemoReport) -> None:
    t = report.ingest.totals()
    out.print(f"[bold]ingested[/] {t['accepted']:,} events from {t['sources']} sources "
              f"({t['rejected']} quarantined, {t['failed']} failed) into {report.store}")
    for s in report.ingest.sources:
        if s.status == "failed":
            out.print(f"  [yellow]{Path(s.path).name}[/]: {s.reason}")
    table = Table("detector", "entity", "score", "explanation", "matches")
    for f in report.findings:
        table.add_row(f.detector, f.entity, f"{f.score:,.1f}", f.explanation,
                      f.scenario or "[dim]-[/]")
    out.print(table)
    for name, hit in report.caught().items():
        mark = "[green]caught[/]" if hit else "[red]missed[/]"
        out.print(f"  {name:<13} {mark}")
    out.print(f"ledger: {report.ledger_entries} decisions recorded (ingests, training screens, "
              f"alerts) and sealed; verify with: mirrorguard ledger verify {report.store} "
              f"-k file:{report.public_key}")
    example = "'SELECT * FROM events LIMIT 5'"
    out.print(f"explore: mirrorguard query {example} -s {report.store}")
