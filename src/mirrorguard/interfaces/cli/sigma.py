"""``mirrorguard sigma check RULES…`` and ``mirrorguard sigma run RULES…``.

``check`` compiles rule files with the built-in field-mapping pipelines (plus any
``--pipeline`` files) and reports every rule that does not compile, with file, line and reason.
``run`` evaluates the rules over the events in the store and prints (or ``--out``: writes as
Parquet) the alerts.

Exit codes: 0 — everything compiled / no alert; 1 — some rules failed / alerts raised;
2 — error; 3 — no rule files found / no events.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from mirrorguard.detect.sigma import RuleSet, SigmaRunner, default_pipelines, load_rules
from mirrorguard.interfaces.cli.common import (
    EXIT_FINDINGS,
    EXIT_NOTHING,
    EXIT_OK,
    ConfigOpt,
    JsonOpt,
    StoreOpt,
    build_settings,
    console,
    emit_json,
    handle_errors,
    out,
)
from mirrorguard.store import DuckDBStore

app = typer.Typer(help="Sigma rules: compile reports and runs over stored events.",
                  no_args_is_help=True)

PipelineOpt = typer.Option([], "--pipeline", "-p", help="extra field-mapping YAML pipeline")


def _load(rules: list[Path], pipelines: list[Path]) -> RuleSet:
    return load_rules(rules, default_pipelines(pipelines))


@app.command("check")
def check(
    rules: list[Path] = typer.Argument(..., help="rule files or directories"),
    pipeline: list[Path] = PipelineOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Compile rules and report the ones that do not compile (file, line, reason)."""
    with handle_errors(as_json):
        rs = _load(rules, pipeline)
    report = rs.report()
    if as_json:
        emit_json(report)
    else:
        if rs.failures:
            table = Table("file:line", "reason", "detail")
            for f in rs.failures:
                table.add_row(f"{f.file}:{f.line or '?'}", f.kind, f.reason[:120])
            out.print(table)
        console.print(f"compiled {report['compiled']} of {report['total']} rules "
                      f"({report['correlations']} correlations); "
                      f"failed by reason: {report['failed_by_reason'] or 'none'}")
    if rs.total == 0:
        raise typer.Exit(EXIT_NOTHING)
    raise typer.Exit(EXIT_FINDINGS if rs.failures else EXIT_OK)


@app.command("run")
def run(
    rules: list[Path] = typer.Argument(..., help="rule files or directories"),
    pipeline: list[Path] = PipelineOpt,
    where: str | None = typer.Option(None, "--where", help="SQL filter on the events table"),
    out_file: Path | None = typer.Option(None, "--out", help="write alerts as Parquet here"),
    config: Path | None = ConfigOpt,
    store: Path | None = StoreOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Run rules over the events in the store and print or write the alerts."""
    with handle_errors(as_json):
        settings = build_settings(config, store)
        runner = SigmaRunner(_load(rules, pipeline))
        # the store is opened read-only; --where is the user's own SQL, as in `query`
        sql = "SELECT * FROM events" + (f" WHERE {where}" if where else "")  # noqa: S608
        with DuckDBStore.from_settings(settings.store, read_only=True) as st:
            events = st.query(sql)
        if events.height == 0:
            console.print("no events in the store")
            raise typer.Exit(EXIT_NOTHING)
        result = runner.run(events)
    alerts = result.alerts
    if out_file is not None:
        alerts.write_parquet(out_file)
    if as_json:
        emit_json({"events": events.height, "alerts": alerts.height,
                   "failures": len(runner.ruleset.failures),
                   "items": alerts.drop("explanation.json").to_dicts()})
    else:
        table = Table("time", "severity", "title", "evidence", "why")
        for row in alerts.head(200).iter_rows(named=True):
            table.add_row(str(row["@timestamp"]), row["severity"], row["title"],
                          ",".join(row["evidence.event_ids"])[:40],
                          row["explanation.text"][:100])
        out.print(table)
        console.print(f"{alerts.height:,} alerts from {len(runner.ruleset.rules)} rules over "
                      f"{events.height:,} events ({len(runner.ruleset.failures)} rules failed "
                      "to compile; see `mirrorguard sigma check`)")
    raise typer.Exit(EXIT_FINDINGS if alerts.height else EXIT_OK)
